//! Benchmark: `repo stat` and `repo gc` against the number of blocks.
//!
//! Usage: `cargo run --release -p acorn-tools --bin bench-repo -- [--blocks 100000] [--acorn PATH] [--dir DIR]`
//!
//! Makes two repos: one of 10 blocks and one of `--blocks` (default 100,000)
//! unpinned 1 KiB raw blocks (`acorn add --pin=false --raw-leaves
//! --chunker=size-1024` of a pseudo-random file, plus its few internal nodes).
//! Times `acorn repo stat` in each (best of 5 fresh processes), and as the baseline
//! `acorn pin ls` (no pins: the same process start and repo open, which grow with
//! the database file, and no work): the stat's own cost is the difference, which
//! should not grow with the blocks. Then `acorn repo gc` of the large repo,
//! printed with its ratio to the `add` that stored the same blocks, and the
//! bytes each wrote (`ru_oublock`). Figures are printed, not asserted.

use acorn_tools::{measure, measure_main, parse_flags, write_pseudo_random_file, RunFlags};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const BLOCK_BYTES: u64 = 1024;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--measure") {
        return measure_main(&args[1..]);
    }
    let mut flags = RunFlags::new()?;
    let mut blocks: u64 = 100_000;
    parse_flags(args, |flag, value| {
        if flag == "--blocks" {
            blocks = value()?.parse()?;
            return Ok(true);
        }
        flags.take(flag, value)
    })?;
    let (acorn, dir) = flags.finish("bench-repo")?;
    std::fs::create_dir_all(&dir)?;
    let me = std::env::current_exe()?;

    let small = make_repo(&me, &acorn, &dir.join("small"), 10)?;
    let large = make_repo(&me, &acorn, &dir.join("large"), blocks)?;
    let stat_small = best_of_5(&me, &acorn, &dir.join("small"), &["repo", "stat"])?;
    let stat_large = best_of_5(&me, &acorn, &dir.join("large"), &["repo", "stat"])?;
    let base_small = best_of_5(&me, &acorn, &dir.join("small"), &["pin", "ls"])?;
    let base_large = best_of_5(&me, &acorn, &dir.join("large"), &["pin", "ls"])?;
    let gc = measure(
        &me,
        &acorn,
        &["repo", "gc", "-q"],
        &[("ACORN_PATH", &dir.join("large"))],
    )?;
    let removed = gc.stdout.lines().filter(|l| !l.trim().is_empty()).count();
    for (made, stat, base) in [
        (&small, stat_small, base_small),
        (&large, stat_large, base_large),
    ] {
        println!(
            "{} blocks: repo stat {:.1} ms, pin ls (baseline) {:.1} ms, stat - baseline {:.1} ms (best of 5 each)",
            made.objects,
            ms(stat),
            ms(base),
            ms(stat.saturating_sub(base))
        );
    }
    println!(
        "repo stat / pin ls: {:.2} at {} blocks, {:.2} at {} blocks",
        stat_small.as_secs_f64() / base_small.as_secs_f64(),
        small.objects,
        stat_large.as_secs_f64() / base_large.as_secs_f64(),
        large.objects
    );
    println!(
        "add of {} blocks: {:.2} s, wrote {} bytes",
        large.objects,
        large.add.as_secs_f64(),
        large.add_written
    );
    println!(
        "repo gc of {} unpinned blocks ({removed} removed): {:.2} s, {:.1} µs/block, \
         wrote {} bytes; ratio to the add: {:.2}",
        large.objects,
        gc.wall.as_secs_f64(),
        gc.wall.as_secs_f64() * 1e6 / removed.max(1) as f64,
        gc.written_bytes,
        gc.wall.as_secs_f64() / large.add.as_secs_f64()
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

struct Made {
    objects: u64,
    add: Duration,
    add_written: u64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A fresh repo holding about `blocks` unpinned raw blocks of [`BLOCK_BYTES`].
fn make_repo(me: &Path, acorn: &Path, repo: &Path, blocks: u64) -> anyhow::Result<Made> {
    let status = Command::new(acorn)
        .args(["init", "--profile", "test"])
        .env("ACORN_PATH", repo)
        .stdout(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "acorn init failed");
    let file = repo.with_extension("data");
    write_pseudo_random_file(&file, blocks * BLOCK_BYTES, blocks)?;
    let f = file.to_str().ok_or_else(|| anyhow::anyhow!("path"))?;
    let add = measure(
        me,
        acorn,
        &[
            "add",
            "-Q",
            "--pin=false",
            "--raw-leaves",
            "--chunker=size-1024",
            f,
        ],
        &[("ACORN_PATH", repo)],
    )?;
    std::fs::remove_file(&file)?;
    let stat = measure(me, acorn, &["repo", "stat"], &[("ACORN_PATH", repo)])?;
    let objects = stat
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("NumObjects:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("repo stat printed no NumObjects: {}", stat.stdout))?;
    Ok(Made {
        objects,
        add: add.wall,
        add_written: add.written_bytes,
    })
}

/// The fastest of five runs of `acorn args…`.
fn best_of_5(me: &Path, acorn: &Path, repo: &Path, args: &[&str]) -> anyhow::Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..5 {
        best = best.min(measure(me, acorn, args, &[("ACORN_PATH", repo)])?.wall);
    }
    Ok(best)
}
