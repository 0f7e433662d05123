//! Crash soak, in two modes.
//!
//! The bare mode: adds (copied and `--nocopy`), pins, unpins and GCs in child
//! `acorn` processes that are killed with SIGKILL at random moments; after every
//! cycle the repo must verify clean (filestore references included) and every
//! pinned DAG must be complete. At the end the source files, which nocopy adds
//! reference, must be byte-for-byte and mtime-for-mtime as they were: Acorn never
//! writes them.
//!
//! The daemon mode (`--daemon`, in [`daemon`]): a daemon under RPC load and
//! serving fetches to a second daemon, killed with SIGKILL at random moments;
//! every acknowledged add and pin must survive.
//!
//! Usage: `soak [--daemon] [--cycles N] [--seed S] [--acorn PATH] [--dir DIR]`
//! (defaults: 50 cycles, seed 1, `acorn` next to this binary, a temp dir).
//! Prints its counts (`cycles=… kills=… failures=… blocks_lost=…`) and exits
//! non-zero on any failure. Reproducible for a seed, up to the timing of the kills.

use acorn_tools::write_pseudo_random_file;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use acorn_tools::rng::Rng;

mod daemon;
mod http;

fn acorn_cmd(acorn: &Path, repo: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(acorn);
    c.args(args).env("ACORN_PATH", repo).stdin(Stdio::null());
    c
}

/// Runs to completion; returns (success, stdout, stderr).
fn run(acorn: &Path, repo: &Path, args: &[&str]) -> anyhow::Result<(bool, String, String)> {
    let out = acorn_cmd(acorn, repo, args).output()?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

fn main() -> anyhow::Result<()> {
    let mut cycles = 50u64;
    let mut seed = 1u64;
    let mut daemon_mode = false;
    let mut flags = acorn_tools::RunFlags::new()?;
    acorn_tools::parse_flags(std::env::args().skip(1), |a, val| {
        match a {
            "--cycles" => cycles = val()?.parse()?,
            "--seed" => seed = val()?.parse()?,
            "--daemon" => daemon_mode = true,
            _ => return flags.take(a, val),
        }
        Ok(true)
    })?;
    let (acorn, base) = flags.finish("soak")?;
    std::fs::create_dir_all(&base)?;
    if daemon_mode {
        let failures = daemon::run(&acorn, &base, cycles, seed)?;
        if failures == 0 {
            std::fs::remove_dir_all(&base)?;
        } else {
            eprintln!("kept {} for inspection", base.display());
        }
        anyhow::ensure!(failures == 0, "{failures} failures");
        return Ok(());
    }
    let repo = base.join("repo");
    let _ = std::fs::remove_dir_all(&repo);
    let (ok, _, err) = run(&acorn, &repo, &["init", "--profile", "test"])?;
    anyhow::ensure!(ok, "init failed: {err}");

    let mut rng = Rng::new(seed);
    let files: Vec<PathBuf> = (0..4)
        .map(|i| {
            let p = base.join(format!("file-{i}"));
            write_pseudo_random_file(&p, (1 + rng.below(6)) << 20, seed * 10 + i).map(|()| p)
        })
        .collect::<Result<_, _>>()?;

    let stamp = |p: &PathBuf| -> anyhow::Result<(Vec<u8>, std::time::SystemTime)> {
        Ok((std::fs::read(p)?, std::fs::metadata(p)?.modified()?))
    };
    let before: Vec<_> = files.iter().map(stamp).collect::<Result<_, _>>()?;
    let (mut kills, mut failures, mut blocks_lost) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    for cycle in 0..cycles {
        // Pick an operation; pins are read back from the repo itself.
        let (_, pinned, _) = run(&acorn, &repo, &["pin", "ls", "--type=recursive", "-q"])?;
        let pinned: Vec<String> = pinned.lines().map(str::to_string).collect();
        let file = files[rng.below(files.len() as u64) as usize]
            .to_string_lossy()
            .into_owned();
        let op: Vec<String> = match rng.below(6) {
            4 => vec!["add".into(), "-Q".into(), "--nocopy".into(), file],
            0 | 1 => vec![
                "add".into(),
                "-Q".into(),
                "--chunker=size-65536".into(),
                file,
            ],
            2 if !pinned.is_empty() => {
                vec![
                    "pin".into(),
                    "rm".into(),
                    pinned[rng.below(pinned.len() as u64) as usize].clone(),
                ]
            }
            3 => vec![
                "add".into(),
                "-Q".into(),
                "--pin=false".into(),
                "--cid-version=1".into(),
                file,
            ],
            _ => vec!["repo".into(), "gc".into(), "-q".into()],
        };
        let op_args: Vec<&str> = op.iter().map(String::as_str).collect();
        let mut child = acorn_cmd(&acorn, &repo, &op_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let delay = Duration::from_micros(rng.below(60_000));
        std::thread::sleep(delay);
        if child.try_wait()?.is_none() {
            child.kill()?; // SIGKILL
            kills += 1;
        }
        child.wait()?;

        // After every cycle the repo opens, verifies clean and every pin is complete.
        let (vok, vout, verr) = run(&acorn, &repo, &["repo", "verify"])?;
        let (pok, pout, perr) = run(&acorn, &repo, &["pin", "verify", "-q"])?;
        if !vok || !pok {
            failures += 1;
            blocks_lost += pout.lines().count() as u64;
            eprintln!("cycle {cycle} after {op:?}: verify {vout}{verr} pin verify {pout}{perr}");
        }
    }
    let after: Vec<_> = files.iter().map(stamp).collect::<Result<_, _>>()?;
    if after != before {
        failures += 1;
        eprintln!("a source file referenced by --nocopy adds was modified");
    }
    println!(
        "soak: cycles={cycles} kills={kills} failures={failures} blocks_lost={blocks_lost} seed={seed} secs={:.1}",
        start.elapsed().as_secs_f64()
    );
    std::fs::remove_dir_all(&base)?;
    anyhow::ensure!(failures == 0, "{failures} cycles left a broken repo");
    Ok(())
}
