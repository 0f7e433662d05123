//! The daemon mode (`soak --daemon`): a daemon under load, killed with SIGKILL at
//! a random moment of each cycle.
//!
//! Each cycle starts `acorn daemon` on repo A and puts it under load over its RPC
//! API from [`WORKERS`] threads (adds with and without pins, over the chunkers and
//! CID versions, `pin add`, `pin rm`, `repo gc`) while a second daemon, B (started
//! once, never killed), connects to A over loopback and fetches A's pinned files
//! over bitswap, byte-checking what it receives. After a random delay A is killed
//! with SIGKILL. Then, offline on A's repo:
//!
//! - `repo verify` and `pin verify` pass;
//! - every add the API acknowledged with `pin=true` (and every acknowledged
//!   `pin add`) is still pinned, unless a `pin rm` of it was sent since;
//! - the files acknowledged in this cycle read back byte for byte (`cat`);
//! - every add acknowledged with `pin=false` still reads back, unless a `repo gc`
//!   ran since it was sent.
//!
//! Where requests overlap, only what must hold whatever their order is checked:
//! a pin acknowledged while a `pin rm` of the same root ran may be undone by it.
//!
//! A daemon that does not start again, exits before it is killed, or refuses an
//! add of a good file while it runs, is a failure too. Seeded: the operations, the
//! files and the kill delays follow from the seed; the interleaving of the
//! threads and where exactly the kill lands do not.

use crate::http::{post, post_until, Answer};
use acorn_tools::rng::Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Threads sending adds, pins and GCs to daemon A.
const WORKERS: u64 = 2;
/// Longest wait for a daemon's API to answer after its start.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on one RPC request of the load (a request cut by the kill ends sooner).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// A's run time before the kill, picked in this range each cycle (milliseconds).
const KILL_AFTER_MS: std::ops::Range<u64> = 150..1500;
/// The chunkers adds pick from (Kubo's spellings).
const CHUNKERS: &[&str] = &[
    "size-262144",
    "size-65536",
    "buzhash",
    "rabin-16384-65536-131072",
];

/// What the daemon acknowledged, to be checked after each kill. Requests are
/// numbered in the order they are sent (`seq`), so that an acknowledgement can be
/// set against the requests that overlapped it.
#[derive(Default)]
struct Ledger {
    /// Requests sent so far.
    seq: u64,
    /// Roots that must be pinned, with their file: acknowledged `add pin=true` or
    /// `pin add` that no `pin rm` of the same root overlapped, minus those a
    /// `pin rm` was sent for since.
    pinned: BTreeMap<String, usize>,
    /// Acknowledged `add pin=false` sent while no GC ran: (root, file, `seq`
    /// when sent); each holds until a GC is sent.
    unpinned: Vec<(String, usize, u64)>,
    /// Pinned roots acknowledged in this cycle (read back in full after the kill).
    fresh: Vec<(String, usize)>,
    /// Every `pin rm` sent: (root, `seq` when sent, `seq` when answered or cut).
    rms: Vec<(String, u64, Option<u64>)>,
    /// `seq` of the last `repo gc` sent, and how many are running.
    gc_sent: u64,
    gcs_running: u32,
}

impl Ledger {
    fn next(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// A pin of `root` acknowledged for a request sent at `sent`: it must hold
    /// unless a `pin rm` of the same root was running at some point since.
    fn pin_acked(&mut self, root: String, file: usize, sent: u64) {
        let overlapped = self
            .rms
            .iter()
            .any(|(r, _, done)| *r == root && done.is_none_or(|d| d > sent));
        if !overlapped {
            self.pinned.insert(root.clone(), file);
            self.fresh.push((root, file));
        }
    }
}

/// Counters printed at the end.
#[derive(Default)]
struct Counts {
    kills: AtomicU64,
    adds_acked: AtomicU64,
    pins_acked: AtomicU64,
    gcs_acked: AtomicU64,
    fetches_ok: AtomicU64,
    failures: AtomicU64,
    blocks_lost: AtomicU64,
}

struct Shared {
    acorn: PathBuf,
    files: Vec<(PathBuf, Vec<u8>)>,
    ledger: Mutex<Ledger>,
    counts: Counts,
}

impl Shared {
    fn fail(&self, what: String) {
        self.counts.failures.fetch_add(1, Ordering::Relaxed);
        eprintln!("FAIL: {what}");
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        // A worker that panicked is a soak bug; its ledger is still the best record.
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A daemon process and its API port.
struct Running {
    child: Child,
    port: u16,
}

fn api_port(repo: &Path) -> Option<u16> {
    let api = std::fs::read_to_string(repo.join("api")).ok()?;
    api.trim().rsplit('/').next()?.parse().ok()
}

/// Starts `acorn daemon` on `repo` and waits until its API answers `id`.
fn start(acorn: &Path, repo: &Path, log: &Path) -> anyhow::Result<Running> {
    // A killed daemon leaves its `api` file; wait for the new one, not the old.
    let _ = std::fs::remove_file(repo.join("api"));
    let child = Command::new(acorn)
        .arg("daemon")
        .env("ACORN_PATH", repo)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log)?)
        .spawn()?;
    let mut r = Running { child, port: 0 };
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = r.child.try_wait()? {
            anyhow::bail!(
                "daemon exited at start ({status}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        if let Some(port) = api_port(repo) {
            if post(port, "id", None, REQUEST_TIMEOUT).is_ok_and(|a| a.ok()) {
                r.port = port;
                return Ok(r);
            }
        }
        if Instant::now() > deadline {
            let _ = r.child.kill();
            let _ = r.child.wait();
            anyhow::bail!("daemon did not answer within {START_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `acorn args…` offline on `repo`: (success, stdout, stderr).
fn cli(acorn: &Path, repo: &Path, args: &[&str]) -> anyhow::Result<(bool, Vec<u8>, String)> {
    let out = Command::new(acorn)
        .args(args)
        .env("ACORN_PATH", repo)
        .stdin(Stdio::null())
        .output()?;
    Ok((
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// A multipart body holding one file, as `acorn add` sends it.
fn multipart(name: &str, data: &[u8]) -> (String, Vec<u8>) {
    const BOUNDARY: &str = "acorn-soak-boundary-7d1c";
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

/// The root `Hash` of an add answer (the line named after the file).
fn added_root(a: &Answer, name: &str) -> Option<String> {
    a.json_lines()
        .into_iter()
        .filter(|l| l["Name"] == name)
        .find_map(|l| l["Hash"].as_str().map(str::to_string))
}

/// One load thread against daemon A until `stop`.
fn worker(sh: &Shared, port: u16, stop: &AtomicBool, mut rng: Rng) {
    while !stop.load(Ordering::Relaxed) {
        let file = rng.below(sh.files.len() as u64) as usize;
        let (path, data) = &sh.files[file];
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let name = name.unwrap_or_default();
        match rng.below(20) {
            0..=9 => {
                let pin = rng.below(4) != 0;
                let chunker = CHUNKERS[rng.below(CHUNKERS.len() as u64) as usize];
                let q = format!(
                    "add?pin={pin}&chunker={chunker}&cid-version={}",
                    rng.below(2)
                );
                let (ctype, body) = multipart(&name, data);
                let (sent, gc_running) = {
                    let mut l = sh.ledger();
                    (l.next(), l.gcs_running > 0)
                };
                let a = post(port, &q, Some((&ctype, &body)), REQUEST_TIMEOUT);
                match a
                    .as_ref()
                    .ok()
                    .filter(|a| a.ok())
                    .and_then(|a| added_root(a, &name))
                {
                    Some(root) => {
                        sh.counts.adds_acked.fetch_add(1, Ordering::Relaxed);
                        let mut l = sh.ledger();
                        if pin {
                            l.pin_acked(root, file, sent);
                        } else if !gc_running {
                            l.unpinned.push((root, file, sent));
                        }
                    }
                    None if !stop.load(Ordering::Relaxed) => {
                        let why = match a {
                            Ok(a) => String::from_utf8_lossy(&a.body).into_owned(),
                            Err(e) => e.to_string(),
                        };
                        sh.fail(format!("{q} of {name} failed while the daemon ran: {why}"));
                    }
                    None => {}
                }
            }
            10..=12 => {
                // Pin an unpinned add (its blocks may be gone after a GC: then A
                // looks for them on the network, and B may have them).
                let pick = {
                    let l = sh.ledger();
                    let n = l.unpinned.len() as u64;
                    (n > 0).then(|| l.unpinned[rng.below(n) as usize].clone())
                };
                if let Some((root, file, _)) = pick {
                    let q = format!("pin/add?arg={root}&timeout=5s");
                    let sent = sh.ledger().next();
                    if post(port, &q, None, REQUEST_TIMEOUT).is_ok_and(|a| a.ok()) {
                        sh.counts.pins_acked.fetch_add(1, Ordering::Relaxed);
                        sh.ledger().pin_acked(root, file, sent);
                    }
                }
            }
            13..=15 => {
                let pick = {
                    let mut l = sh.ledger();
                    let n = l.pinned.len() as u64;
                    let root = (n > 0)
                        .then(|| l.pinned.keys().nth(rng.below(n) as usize).cloned())
                        .flatten();
                    // From now on either outcome is right.
                    root.map(|r| {
                        l.pinned.remove(&r);
                        l.fresh.retain(|(f, _)| *f != r);
                        let sent = l.next();
                        l.rms.push((r.clone(), sent, None));
                        (r, l.rms.len() - 1)
                    })
                };
                if let Some((root, at)) = pick {
                    let _ = post(port, &format!("pin/rm?arg={root}"), None, REQUEST_TIMEOUT);
                    let mut l = sh.ledger();
                    let done = l.next();
                    l.rms[at].2 = Some(done);
                }
            }
            _ => {
                {
                    let mut l = sh.ledger();
                    l.gc_sent = l.next();
                    l.gcs_running += 1;
                }
                if post(port, "repo/gc", None, REQUEST_TIMEOUT).is_ok_and(|a| a.ok()) {
                    sh.counts.gcs_acked.fetch_add(1, Ordering::Relaxed);
                }
                sh.ledger().gcs_running -= 1;
            }
        }
    }
}

/// Daemon B fetching A's pinned files over bitswap until `stop`; what arrives
/// must be the file's bytes.
fn fetcher(sh: &Shared, b_port: u16, a_addr: &str, stop: &AtomicBool, mut rng: Rng) {
    let q = format!("swarm/connect?arg={a_addr}");
    let connected = post_until(b_port, &q, None, REQUEST_TIMEOUT, stop).is_ok_and(|a| a.ok());
    if !connected {
        if !stop.load(Ordering::Relaxed) {
            sh.fail(format!("B could not connect to A at {a_addr}"));
        }
        return;
    }
    while !stop.load(Ordering::Relaxed) {
        let pick = {
            let l = sh.ledger();
            let n = l.pinned.len() as u64;
            (n > 0)
                .then(|| {
                    l.pinned
                        .iter()
                        .nth(rng.below(n) as usize)
                        .map(|(r, f)| (r.clone(), *f))
                })
                .flatten()
        };
        let Some((root, file)) = pick else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        // B keeps nothing pinned: a GC first makes it fetch the whole file again.
        let _ = post_until(b_port, "repo/gc", None, REQUEST_TIMEOUT, stop);
        let q = format!("cat?arg={root}&timeout=10s");
        if let Ok(a) = post_until(b_port, &q, None, REQUEST_TIMEOUT, stop) {
            if a.ok() {
                if a.body != sh.files[file].1 {
                    sh.fail(format!("B fetched {root} from A with the wrong bytes"));
                }
                sh.counts.fetches_ok.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// After a kill: the offline checks on A's repo.
fn check(sh: &Shared, repo: &Path, cycle: u64) -> anyhow::Result<()> {
    let acorn = &sh.acorn;
    let (vok, vout, verr) = cli(acorn, repo, &["repo", "verify"])?;
    if !vok {
        sh.fail(format!(
            "cycle {cycle}: repo verify: {}{verr}",
            String::from_utf8_lossy(&vout)
        ));
    }
    let (pok, pout, perr) = cli(acorn, repo, &["pin", "verify", "-q"])?;
    if !pok {
        let lost = String::from_utf8_lossy(&pout).lines().count() as u64;
        sh.counts.blocks_lost.fetch_add(lost, Ordering::Relaxed);
        sh.fail(format!(
            "cycle {cycle}: pin verify: {}{perr}",
            String::from_utf8_lossy(&pout)
        ));
    }
    let (lok, lout, lerr) = cli(acorn, repo, &["pin", "ls", "--type=recursive", "-q"])?;
    anyhow::ensure!(lok, "cycle {cycle}: pin ls: {lerr}");
    let pins: BTreeSet<String> = String::from_utf8_lossy(&lout)
        .lines()
        .map(str::to_string)
        .collect();
    let mut l = sh.ledger();
    for root in l.pinned.keys() {
        if !pins.contains(root) {
            sh.fail(format!("cycle {cycle}: acknowledged pin {root} is gone"));
        }
    }
    // Read back in full what this cycle acknowledged, and what no GC may have taken.
    let gc_sent = l.gc_sent;
    let mut reads: Vec<(String, usize)> = std::mem::take(&mut l.fresh);
    l.unpinned.retain(|(_, _, sent)| *sent > gc_sent);
    reads.extend(l.unpinned.iter().map(|(r, f, _)| (r.clone(), *f)));
    drop(l);
    reads.sort();
    reads.dedup();
    // One `cat` of them all (one process); root by root only to name a failure.
    let mut args = vec!["cat"];
    args.extend(reads.iter().map(|(r, _)| r.as_str()));
    let want: Vec<u8> = reads
        .iter()
        .flat_map(|(_, f)| sh.files[*f].1.iter().copied())
        .collect();
    let (ok, out, _) = cli(acorn, repo, &args)?;
    if ok && out == want {
        return Ok(());
    }
    for (root, file) in reads {
        let (ok, out, err) = cli(acorn, repo, &["cat", &root])?;
        if !ok || out != sh.files[file].1 {
            sh.counts.blocks_lost.fetch_add(1, Ordering::Relaxed);
            sh.fail(format!(
                "cycle {cycle}: acknowledged add {root} does not read back: {err}"
            ));
        }
    }
    Ok(())
}

/// Runs the daemon mode; returns the number of failures.
pub(crate) fn run(acorn: &Path, base: &Path, cycles: u64, seed: u64) -> anyhow::Result<u64> {
    let (repo_a, repo_b) = (base.join("repo-a"), base.join("repo-b"));
    for repo in [&repo_a, &repo_b] {
        let _ = std::fs::remove_dir_all(repo);
        let (ok, _, err) = cli(acorn, repo, &["init", "--profile", "test"])?;
        anyhow::ensure!(ok, "init failed: {err}");
    }
    let mut rng = Rng::new(seed);
    // Small and mid-sized files: one chunk, a few chunks, a two-level DAG.
    let files = [3_000u64, 200_000, 700_000, 1_500_000, 2_600_000]
        .iter()
        .enumerate()
        .map(|(i, &len)| {
            let p = base.join(format!("file-{i}"));
            let data = Rng::new(seed.wrapping_mul(31).wrapping_add(i as u64)).bytes(len as usize);
            std::fs::write(&p, &data).map(|()| (p, data))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let sh = Arc::new(Shared {
        acorn: acorn.to_path_buf(),
        files,
        ledger: Mutex::default(),
        counts: Counts::default(),
    });
    let mut b = start(acorn, &repo_b, &base.join("daemon-b.log"))?;
    let a_log = base.join("daemon-a.log");
    let started = Instant::now();
    let (mut start_secs, mut check_secs) = (0.0, 0.0);
    for cycle in 0..cycles {
        let t0 = Instant::now();
        let mut a = match start(acorn, &repo_a, &a_log) {
            Ok(a) => a,
            Err(e) => {
                sh.fail(format!("cycle {cycle}: daemon A did not start again: {e}"));
                break;
            }
        };
        let id = post(a.port, "id", None, REQUEST_TIMEOUT)?;
        let a_addr = id
            .json_lines()
            .first()
            .and_then(|id| id["Addresses"].as_array().cloned())
            .and_then(|addrs| {
                addrs
                    .iter()
                    .filter_map(|v| v.as_str())
                    .find(|s| s.contains("/tcp/"))
                    .map(str::to_string)
            })
            .ok_or_else(|| anyhow::anyhow!("A's `id` has no TCP address"))?;
        start_secs += t0.elapsed().as_secs_f64();
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for w in 0..WORKERS {
            let (sh, stop) = (sh.clone(), stop.clone());
            let r = Rng::new(seed ^ (cycle << 8 | w).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let port = a.port;
            threads.push(std::thread::spawn(move || worker(&sh, port, &stop, r)));
        }
        {
            let (sh, stop, b_port) = (sh.clone(), stop.clone(), b.port);
            let r = Rng::new(seed ^ (cycle << 8 | 0xff).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            threads.push(std::thread::spawn(move || {
                fetcher(&sh, b_port, &a_addr, &stop, r)
            }));
        }
        let delay = KILL_AFTER_MS.start + rng.below(KILL_AFTER_MS.end - KILL_AFTER_MS.start);
        std::thread::sleep(Duration::from_millis(delay));
        stop.store(true, Ordering::Relaxed);
        if let Some(status) = a.child.try_wait()? {
            sh.fail(format!(
                "cycle {cycle}: daemon A exited on its own ({status}): {}",
                std::fs::read_to_string(&a_log).unwrap_or_default()
            ));
        } else {
            a.child.kill()?; // SIGKILL
            sh.counts.kills.fetch_add(1, Ordering::Relaxed);
        }
        a.child.wait()?;
        for t in threads {
            if t.join().is_err() {
                sh.fail(format!("cycle {cycle}: a load thread panicked"));
            }
        }
        let t0 = Instant::now();
        check(&sh, &repo_a, cycle)?;
        check_secs += t0.elapsed().as_secs_f64();
        if b.child.try_wait()?.is_some() {
            sh.fail("daemon B exited".into());
            b = start(acorn, &repo_b, &base.join("daemon-b.log"))?;
        }
    }
    let _ = b.child.kill();
    let _ = b.child.wait();
    let c = &sh.counts;
    let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
    println!(
        "soak --daemon: cycles={cycles} kills={} adds_acked={} pins_acked={} gcs_acked={} \
         fetches_ok={} failures={} blocks_lost={} seed={seed} secs={:.1} \
         (starting A {start_secs:.1}, checks {check_secs:.1})",
        n(&c.kills),
        n(&c.adds_acked),
        n(&c.pins_acked),
        n(&c.gcs_acked),
        n(&c.fetches_ok),
        n(&c.failures),
        n(&c.blocks_lost),
        started.elapsed().as_secs_f64()
    );
    Ok(n(&c.failures))
}
