//! Benchmark: the firmware profiles' memory ceilings (issue 6, "proof of the ceilings").
//!
//! Usage: `bench-ceiling [--add-mib 256] [--fetch-mib 64] [--small-mib 16] [--peers 50]
//!         [--profiles pi-zero,vps-256m,...] [--acorn PATH] [--dir DIR]`
//!
//! For each firmware profile (`firmware-profiles/*.toml`, all of them by default) it
//! starts daemon D with `acorn init --profile <name>,test` and runs one workload:
//! 1. idle: 2 s after start, D's OS threads (`/proc/PID/task`) and RSS;
//! 2. a fresh helper daemon adds a `--fetch-mib` file and dials D;
//! 3. `--peers` light daemons (`test` profile, started once and reused for every
//!    profile) dial D and stay connected;
//! 4. `acorn add` of a `--add-mib` file through D's API;
//! 5. serve: the helper fetches that file from D (`cat`);
//! 6. fetch: D fetches the helper's file (`cat` through D);
//! 7. small blocks, all at once through D: two adds of a `--small-mib` file with
//!    4 KiB chunks (dag-pb leaves, then raw leaves: no block in common), a
//!    `dag import` of a CAR of 2 KiB blocks (made once, offline, from another
//!    `--small-mib` file), and `repo gc` in a loop until they end. Small blocks are
//!    stored inside the database, where write batches and dirty pages cost most.
//!
//! The helper connects before the light peers on purpose: the `test` profile has no
//! DHT, and a bitswap session asks at most `bitswap::Config::max_broadcast_peers`
//! (32) connected peers for its first block, in connection order, so with 50 peers a
//! provider that connected last may never be asked (on the real network the DHT
//! names it). Connected first, it is among the first three asked.
//!
//! A thread samples D's thread count every [`SAMPLE_EVERY`] throughout. At the end it
//! reads D's peak RSS (`VmHWM`) and prints one table row per profile: ceiling
//! (`memory_ceiling_mib` of the profile file), VmHWM, their ratio, idle and peak
//! threads, peers D had connected after step 2 (the profile's connection limits may
//! refuse some), and the step times.
//!
//! Threads are counted and named from `/proc/PID/task/*/comm`: the names idle and
//! at the peak count are printed. Each row also shows the profile's
//! `worst_case_bytes` (the `total` of `acorn config profile show NAME`) and
//! VmHWM against it.
//!
//! Exit status: non-zero when any profile's VmHWM exceeds its ceiling, or its
//! daemon runs more OS threads idle than the profile's `idle_threads` or at any
//! time more than its `max_threads`.
//!
//! Limits: D's repo grows by `add-mib + fetch-mib`; the helper's likewise; both are
//! deleted after each profile. The light peers cost about 7 MiB RSS each.

use acorn_tools::{
    proc_figures, profile_ceiling_mib, profile_number, thread_names, write_pseudo_random_file,
    Daemon,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the sampler counts D's threads.
const SAMPLE_EVERY: Duration = Duration::from_millis(20);
/// How long D idles before the idle figures are read.
const IDLE_SETTLE: Duration = Duration::from_secs(2);

/// One profile's figures.
struct Row {
    profile: String,
    ceiling_mib: u64,
    idle_rss_kib: u64,
    hwm_kib: u64,
    idle_threads: usize,
    peak_threads: usize,
    /// The profile's `idle_threads` and `max_threads`.
    thread_budget: (usize, usize),
    /// Thread names idle and at the peak count.
    idle_names: Vec<String>,
    peak_names: Vec<String>,
    /// `worst_case_bytes` of the profile (`acorn config profile show`), in KiB.
    worst_case_kib: u64,
    peers: usize,
    add_secs: f64,
    serve_secs: f64,
    fetch_secs: f64,
    small_secs: f64,
}

impl Row {
    fn over_ceiling(&self) -> bool {
        self.hwm_kib > self.ceiling_mib * 1024
    }

    fn too_many_idle_threads(&self) -> bool {
        self.idle_threads > self.thread_budget.0
    }

    fn too_many_threads(&self) -> bool {
        self.peak_threads > self.thread_budget.1
    }
}

/// Reads `pid`'s thread names every [`SAMPLE_EVERY`] until dropped; keeps the
/// names of the sample with the most threads.
struct ThreadSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<Mutex<Vec<String>>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl ThreadSampler {
    fn start(pid: u32) -> ThreadSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(Mutex::new(Vec::new()));
        let (s, p) = (stop.clone(), peak.clone());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Ok(names) = thread_names(pid) {
                    let mut peak = p.lock().unwrap_or_else(|e| e.into_inner());
                    if names.len() > peak.len() {
                        *peak = names;
                    }
                }
                std::thread::sleep(SAMPLE_EVERY);
            }
        });
        ThreadSampler {
            stop,
            peak,
            handle: Some(handle),
        }
    }

    /// The names at the most threads seen so far.
    fn peak(&self) -> Vec<String> {
        self.peak.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// `worst_case_bytes` of `profile` in KiB: the `total` line of `acorn config
/// profile show`.
fn worst_case_kib(d: &Daemon, profile: &str) -> anyhow::Result<u64> {
    let out = d.cli(&["config", "profile", "show", profile])?;
    out.lines()
        .find_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some("total")).then(|| words.next()?.parse::<u64>().ok())?
        })
        .map(|bytes| bytes / 1024)
        .ok_or_else(|| anyhow::anyhow!("no total in `config profile show {profile}`: {out}"))
}

impl Drop for ThreadSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Removes a directory tree when dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the workload against a fresh daemon with `profile`.
fn run_profile(
    acorn: &Path,
    base: &Path,
    profile: &str,
    ceiling_mib: u64,
    peers: &[Daemon],
    (add_file, fetch_file): (&str, &str),
    small: &SmallWork,
) -> anyhow::Result<Row> {
    let thread_budget = (
        usize::try_from(profile_number(profile, "idle_threads")?)?,
        usize::try_from(profile_number(profile, "max_threads")?)?,
    );
    let d_repo = base.join(format!("d-{profile}"));
    let h_repo = base.join(format!("helper-{profile}"));
    let d = Daemon::start(acorn, &d_repo, &format!("{profile},test"))?;
    let sampler = ThreadSampler::start(d.pid());
    std::thread::sleep(IDLE_SETTLE);
    let (idle_rss_kib, _, _) = proc_figures(d.pid())?;
    let idle_names = thread_names(d.pid())?;
    let idle_threads = idle_names.len();
    let worst_case_kib = worst_case_kib(&d, profile)?;

    let d_addr = d.addr()?;
    let helper = Daemon::start(acorn, &h_repo, "test")?;
    let helper_cid = helper.cli(&["add", "-Q", fetch_file])?.trim().to_string();
    helper.cli(&["swarm", "connect", &d_addr])?;
    for p in peers {
        // A refused connection (the profile's limits) is a figure, not an error.
        let _ = p.cli(&["swarm", "connect", &d_addr]);
    }
    // Light peers only (the helper is the one extra line).
    let connected = d
        .cli(&["swarm", "peers"])?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
        .saturating_sub(1);

    let t = Instant::now();
    let cid = d.cli(&["add", "-Q", add_file])?.trim().to_string();
    let add_secs = t.elapsed().as_secs_f64();

    let serve_secs = helper.timed_cat(&cid)?;
    let fetch_secs = d.timed_cat(&helper_cid)?;
    let small_secs = small_blocks(&d, small)?;

    let (_, hwm_kib, _) = proc_figures(d.pid())?;
    let mut peak_names = sampler.peak();
    drop(sampler);
    for names in [thread_names(d.pid())?, idle_names.clone()] {
        if names.len() > peak_names.len() {
            peak_names = names;
        }
    }
    let peak_threads = peak_names.len();
    drop(helper);
    drop(d);
    let _ = std::fs::remove_dir_all(&d_repo);
    let _ = std::fs::remove_dir_all(&h_repo);
    Ok(Row {
        profile: profile.to_string(),
        ceiling_mib,
        idle_rss_kib,
        hwm_kib,
        idle_threads,
        peak_threads,
        thread_budget,
        idle_names,
        peak_names,
        worst_case_kib,
        peers: connected,
        add_secs,
        serve_secs,
        fetch_secs,
        small_secs,
    })
}

/// The inputs of step 7: a file to add with small chunks and a CAR of 2 KiB blocks.
struct SmallWork {
    file: String,
    car: String,
}

impl SmallWork {
    /// Writes the file and makes the CAR (in an offline repo under `base`).
    fn prepare(acorn: &Path, base: &Path, mib: u64) -> anyhow::Result<SmallWork> {
        let file = base.join("small-data");
        let car_src = base.join("small-car-data");
        write_pseudo_random_file(&file, mib << 20, 0x5a11)?;
        write_pseudo_random_file(&car_src, mib << 20, 0xca25)?;
        let repo = base.join("car-maker");
        let run = |args: &[&str], stdout: Stdio| -> anyhow::Result<String> {
            let out = Command::new(acorn)
                .args(args)
                .env("ACORN_PATH", &repo)
                .stdout(stdout)
                .output()?;
            anyhow::ensure!(
                out.status.success(),
                "acorn {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        };
        let utf8 = |p: &Path| p.to_str().map(str::to_string).unwrap_or_default();
        run(&["init", "--profile", "test"], Stdio::piped())?;
        let root = run(
            &[
                "add",
                "-Q",
                "--raw-leaves",
                "--chunker",
                "size-2048",
                &utf8(&car_src),
            ],
            Stdio::piped(),
        )?;
        let car = base.join("small.car");
        run(
            &["dag", "export", root.trim()],
            Stdio::from(std::fs::File::create(&car)?),
        )?;
        let _ = std::fs::remove_dir_all(&repo);
        let _ = std::fs::remove_file(&car_src);
        Ok(SmallWork {
            file: utf8(&file),
            car: utf8(&car),
        })
    }
}

/// Step 7: small-block work on `d`, all at once; returns its seconds.
fn small_blocks(d: &Daemon, w: &SmallWork) -> anyhow::Result<f64> {
    let t = Instant::now();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let gc = s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                d.cli(&["repo", "gc", "--quiet"])?;
                std::thread::sleep(Duration::from_millis(200));
            }
            anyhow::Ok(())
        });
        let work = [
            s.spawn(|| d.cli(&["add", "-Q", "--chunker", "size-4096", &w.file])),
            s.spawn(|| {
                d.cli(&[
                    "add",
                    "-Q",
                    "--raw-leaves",
                    "--chunker",
                    "size-4096",
                    &w.file,
                ])
            }),
            s.spawn(|| d.cli(&["dag", "import", &w.car])),
        ];
        let results: Vec<_> = work.into_iter().map(|h| h.join()).collect();
        stop.store(true, Ordering::Relaxed);
        let gc = gc.join();
        for r in results {
            r.map_err(|_| anyhow::anyhow!("small-block worker panicked"))??;
        }
        gc.map_err(|_| anyhow::anyhow!("gc loop panicked"))??;
        anyhow::Ok(())
    })?;
    Ok(t.elapsed().as_secs_f64())
}

fn main() -> anyhow::Result<()> {
    let mut add_mib = 256u64;
    let mut fetch_mib = 64u64;
    let mut small_mib = 16u64;
    let mut n_peers = 50usize;
    let mut only: Option<Vec<String>> = None;
    let profiles_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware-profiles");
    let mut flags = acorn_tools::RunFlags::new()?;
    acorn_tools::parse_flags(std::env::args().skip(1), |a, val| {
        match a {
            "--add-mib" => add_mib = val()?.parse()?,
            "--fetch-mib" => fetch_mib = val()?.parse()?,
            "--small-mib" => small_mib = val()?.parse()?,
            "--peers" => n_peers = val()?.parse()?,
            "--profiles" => only = Some(val()?.split(',').map(str::to_string).collect()),
            _ => return flags.take(a, val),
        }
        Ok(true)
    })?;
    let (acorn, base) = flags.finish("bench-ceiling")?;

    // (name, ceiling) sorted by ceiling, then name.
    let mut profiles = Vec::new();
    for entry in std::fs::read_dir(&profiles_dir)? {
        let path = entry?.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".toml"))
        else {
            continue;
        };
        if only.as_ref().is_some_and(|o| !o.iter().any(|p| p == name)) {
            continue;
        }
        profiles.push((name.to_string(), profile_ceiling_mib(name)?));
    }
    profiles.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    if let Some(o) = &only {
        for p in o {
            anyhow::ensure!(
                profiles.iter().any(|(n, _)| n == p),
                "no profile {p} in {}",
                profiles_dir.display()
            );
        }
    }
    anyhow::ensure!(!profiles.is_empty(), "no profiles to run");

    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base)?;
    // Declared before the daemons, so dropped after them: also on an error return.
    let _cleanup = RemoveOnDrop(base.clone());
    println!(
        "bench-ceiling: acorn={} add_mib={add_mib} fetch_mib={fetch_mib} small_mib={small_mib} peers={n_peers} profiles={}",
        acorn.display(),
        profiles
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(",")
    );
    let add_path = base.join("add-data");
    let fetch_path = base.join("fetch-data");
    write_pseudo_random_file(&add_path, add_mib << 20, 0xce11)?;
    write_pseudo_random_file(&fetch_path, fetch_mib << 20, 0xf37c)?;
    let utf8 = |p: &Path| {
        p.to_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("non-UTF-8 path {}", p.display()))
    };
    let (add_file, fetch_file) = (utf8(&add_path)?, utf8(&fetch_path)?);
    let small = SmallWork::prepare(&acorn, &base, small_mib)?;

    let t = Instant::now();
    let mut peers = Vec::with_capacity(n_peers);
    for i in 0..n_peers {
        peers.push(Daemon::start(
            &acorn,
            &base.join(format!("peer-{i}")),
            "test",
        )?);
    }
    println!(
        "started {n_peers} light peers in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let mut rows = Vec::new();
    for (name, ceiling) in &profiles {
        let row = run_profile(
            &acorn,
            &base,
            name,
            *ceiling,
            &peers,
            (&add_file, &fetch_file),
            &small,
        )?;
        println!(
            "{name}: VmHWM {:.1} MiB of {ceiling} MiB (worst case {:.1} MiB), threads idle {} [{}] peak {} [{}] of {}/{}",
            row.hwm_kib as f64 / 1024.0,
            row.worst_case_kib as f64 / 1024.0,
            row.idle_threads,
            row.idle_names.join(", "),
            row.peak_threads,
            row.peak_names.join(", "),
            row.thread_budget.0,
            row.thread_budget.1
        );
        rows.push(row);
    }
    drop(peers);

    println!();
    println!(
        "| profile | ceiling | VmHWM | VmHWM / ceiling | worst case | VmHWM / worst case | idle RSS | idle threads | peak threads | peers connected | add {add_mib} MiB | serve {add_mib} MiB | fetch {fetch_mib} MiB | small blocks |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} MiB | {:.1} MiB | {:.2} | {:.1} MiB | {:.2} | {:.1} MiB | {}/{} | {}/{} | {}/{n_peers} | {:.1} s | {:.1} s | {:.1} s | {:.1} s |",
            r.profile,
            r.ceiling_mib,
            r.hwm_kib as f64 / 1024.0,
            r.hwm_kib as f64 / (r.ceiling_mib * 1024) as f64,
            r.worst_case_kib as f64 / 1024.0,
            r.hwm_kib as f64 / r.worst_case_kib.max(1) as f64,
            r.idle_rss_kib as f64 / 1024.0,
            r.idle_threads,
            r.thread_budget.0,
            r.peak_threads,
            r.thread_budget.1,
            r.peers,
            r.add_secs,
            r.serve_secs,
            r.fetch_secs,
            r.small_secs
        );
    }

    let mut failures = Vec::new();
    for r in &rows {
        if r.over_ceiling() {
            failures.push(format!(
                "{}: VmHWM {} KiB is over the {} MiB ceiling",
                r.profile, r.hwm_kib, r.ceiling_mib
            ));
        }
        if r.too_many_idle_threads() {
            failures.push(format!(
                "{}: {} OS threads idle ({}), more than its idle_threads {}",
                r.profile,
                r.idle_threads,
                r.idle_names.join(", "),
                r.thread_budget.0
            ));
        }
        if r.too_many_threads() {
            failures.push(format!(
                "{}: {} OS threads at the peak ({}), more than its max_threads {}",
                r.profile,
                r.peak_threads,
                r.peak_names.join(", "),
                r.thread_budget.1
            ));
        }
    }
    anyhow::ensure!(failures.is_empty(), "{}", failures.join("; "));
    println!("\nall profiles under their ceilings");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_file_names_its_ceiling() {
        assert_eq!(profile_ceiling_mib("pi-zero").unwrap(), 32);
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware-profiles");
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if let Some(name) = p
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .strip_suffix(".toml")
            {
                assert!(profile_ceiling_mib(name).unwrap() > 0, "{name}");
            }
        }
    }

    #[test]
    fn rows_fail_over_the_ceiling_and_past_the_thread_budget() {
        let row = |profile: &str, hwm_kib, idle_threads| Row {
            profile: profile.into(),
            ceiling_mib: 32,
            idle_rss_kib: 0,
            hwm_kib,
            idle_threads,
            peak_threads: idle_threads + 1,
            thread_budget: (3, 4),
            idle_names: Vec::new(),
            peak_names: Vec::new(),
            worst_case_kib: 0,
            peers: 0,
            add_secs: 0.0,
            serve_secs: 0.0,
            fetch_secs: 0.0,
            small_secs: 0.0,
        };
        assert!(!row("pi-zero", 32 * 1024, 3).over_ceiling());
        assert!(row("pi-zero", 32 * 1024 + 1, 3).over_ceiling());
        assert!(row("pi-zero", 1, 4).too_many_idle_threads());
        assert!(!row("pi-zero", 1, 3).too_many_idle_threads());
        assert!(!row("pi-zero", 1, 3).too_many_threads());
        assert!(row("pi-zero", 1, 4).too_many_threads());
    }

    #[test]
    fn every_profile_file_names_its_thread_budget() {
        for name in ["pi-zero", "vps-256m", "pi3", "pi4"] {
            let idle = profile_number(name, "idle_threads").unwrap();
            let max = profile_number(name, "max_threads").unwrap();
            assert!(2 <= idle && idle <= max, "{name}");
        }
        assert_eq!(profile_number("pi-zero", "max_threads").unwrap(), 4);
    }
}
