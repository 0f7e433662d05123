//! Benchmark: fetching over bitswap between Acorn daemons on loopback.
//!
//! Usage: `bench-net [--mib 100] [--idle-peers 20] [--acorn PATH] [--dir DIR]`
//!
//! Starts daemon A (the provider), daemon B (the fetcher) and `--idle-peers` more
//! daemons connected to B that hold nothing. It prints, as `key=value` lines:
//! - idle RSS (VmRSS) and OS threads (`/proc/PID/task`) of a fresh daemon;
//! - `sha256sum` of the file (the baseline: a fetch must hash every byte once) and
//!   B's `cat` of A's file over bitswap: MiB/s and the ratio to the baseline;
//! - B's peak RSS (VmHWM) and threads after the fetch;
//! - bytes the idle peers received during the fetch (`stats bw` TotalIn deltas):
//!   a bitswap that broadcast its wantlist would send them every want;
//! - with `--helia` (needs `npm ci --prefix tools/interop`): a Helia node
//!   (tools/interop/helia-peer.mjs) adds another file of the same size and B fetches
//!   it: Helia→Acorn MiB/s.
//!
//! Targets (issue 4): idle RSS ≤ 8 MiB, ≤ 3 OS threads, fetch peak RSS ≤ 24 MiB,
//! Acorn→Acorn ≥ 60 MiB/s. Printed, not asserted.

use acorn_tools::write_pseudo_random_file;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running daemon, stopped (SIGTERM, then SIGKILL) on drop.
struct Daemon {
    child: Child,
    repo: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn start(acorn: &Path, repo: &Path) -> anyhow::Result<Daemon> {
        let out = Command::new(acorn)
            .args(["init", "--profile", "test"])
            .env("ACORN_PATH", repo)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let child = Command::new(acorn)
            .arg("daemon")
            .env("ACORN_PATH", repo)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let d = Daemon {
            child,
            repo: repo.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !repo.join("api").exists() {
            anyhow::ensure!(Instant::now() < deadline, "daemon did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(d)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Runs `acorn args…` against this daemon; returns stdout.
    fn cli(&self, acorn: &Path, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new(acorn)
            .args(args)
            .env("ACORN_PATH", &self.repo)
            .stdin(Stdio::null())
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "acorn {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8(out.stdout)?)
    }

    /// Seconds `acorn cat <cid>` takes against this daemon (output discarded).
    fn timed_cat(&self, acorn: &Path, cid: &str) -> anyhow::Result<f64> {
        let t = Instant::now();
        let out = Command::new(acorn)
            .args(["cat", cid])
            .env("ACORN_PATH", &self.repo)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()?;
        let secs = t.elapsed().as_secs_f64();
        anyhow::ensure!(
            out.status.success(),
            "fetch of {cid} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(secs)
    }

    /// The first listen address with `/p2p/<id>`, from `acorn id`.
    fn addr(&self, acorn: &Path) -> anyhow::Result<String> {
        let id: serde_json::Value = serde_json::from_str(&self.cli(acorn, &["id"])?)?;
        id["Addresses"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .filter_map(|v| v.as_str())
                    .find(|a| a.contains("/tcp/"))
            })
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("no address in `acorn id`: {id}"))
    }

    /// `TotalIn` of `stats bw`, exact (asked over the RPC API: the CLI rounds).
    fn total_in(&self) -> anyhow::Result<u64> {
        use std::io::{Read, Write};
        let api = std::fs::read_to_string(self.repo.join("api"))?;
        let port = api
            .trim()
            .rsplit('/')
            .next()
            .and_then(|p| p.parse::<u16>().ok())
            .ok_or_else(|| anyhow::anyhow!("bad api file: {api}"))?;
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
        s.write_all(
            b"POST /api/v0/stats/bw HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )?;
        let mut resp = String::new();
        s.read_to_string(&mut resp)?;
        let body = resp
            .split("\r\n\r\n")
            .nth(1)
            .ok_or_else(|| anyhow::anyhow!("bad HTTP answer: {resp}"))?;
        // Tolerate a chunked body: the JSON object is the line starting with '{'.
        let json = body
            .lines()
            .find(|l| l.starts_with('{'))
            .ok_or_else(|| anyhow::anyhow!("no JSON in: {body}"))?;
        let bw: serde_json::Value = serde_json::from_str(json)?;
        bw["TotalIn"]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("no TotalIn in `stats bw`: {bw}"))
    }
}

/// Starts a Helia peer, has it add `file`, connects `b` to it and times `b`'s `cat`.
fn helia_to_acorn(acorn: &Path, b: &Daemon, file: &Path) -> anyhow::Result<f64> {
    use std::io::{BufRead, BufReader, Write};
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/helia-peer.mjs");
    let mut child = Command::new("node")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdin"))?;
    let mut lines = BufReader::new(
        child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?,
    )
    .lines();
    let mut next = || -> anyhow::Result<serde_json::Value> {
        let l = lines.next().ok_or_else(|| {
            anyhow::anyhow!("helia peer exited (npm ci --prefix tools/interop?)")
        })??;
        Ok(serde_json::from_str(&l)?)
    };
    let ready = next()?;
    let addr = ready["addrs"][0]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("helia not ready: {ready}"))?
        .to_string();
    let cmd =
        serde_json::json!({"cmd": "addFile", "path": file, "cidVersion": 0, "rawLeaves": false});
    writeln!(stdin, "{cmd}")?;
    let added = next()?;
    let cid = added["cid"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("helia add failed: {added}"))?
        .to_string();
    b.cli(acorn, &["swarm", "connect", &addr])?;
    let secs = b.timed_cat(acorn, &cid)?;
    let _ = writeln!(stdin, "{}", serde_json::json!({"cmd": "stop"}));
    drop(stdin);
    let _ = child.wait();
    Ok(secs)
}

/// (VmRSS KiB, VmHWM KiB, OS threads) of a process.
fn proc_figures(pid: u32) -> anyhow::Result<(u64, u64, usize)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let threads = std::fs::read_dir(format!("/proc/{pid}/task"))?.count();
    Ok((kib("VmRSS:"), kib("VmHWM:"), threads))
}

fn main() -> anyhow::Result<()> {
    let mut mib = 100u64;
    let mut idle_peers = 20usize;
    let mut acorn = std::env::current_exe()?.with_file_name("acorn");
    let mut dir: Option<PathBuf> = None;
    let mut helia = false;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .ok_or_else(|| anyhow::anyhow!("{a} needs a value"))
        };
        match a.as_str() {
            "--mib" => mib = val()?.parse()?,
            "--idle-peers" => idle_peers = val()?.parse()?,
            "--acorn" => acorn = PathBuf::from(val()?),
            "--dir" => dir = Some(PathBuf::from(val()?)),
            "--helia" => helia = true,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    anyhow::ensure!(
        acorn.exists(),
        "acorn binary not found at {}",
        acorn.display()
    );
    let base = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("acorn-bench-net-{}", std::process::id()))
    });
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base)?;
    println!(
        "bench-net: acorn={} mib={mib} idle_peers={idle_peers}",
        acorn.display()
    );

    let a = Daemon::start(&acorn, &base.join("a"))?;
    let b = Daemon::start(&acorn, &base.join("b"))?;
    std::thread::sleep(Duration::from_secs(2));
    let (rss, _, threads) = proc_figures(b.pid())?;
    println!("idle_daemon_rss_kib={rss} idle_daemon_threads={threads}");

    let file = base.join("data");
    write_pseudo_random_file(&file, mib << 20, 0xbe7c)?;
    let f = file
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("non-UTF-8 path"))?;
    let t = Instant::now();
    let out = Command::new("sha256sum").arg(f).output()?;
    anyhow::ensure!(out.status.success(), "sha256sum failed");
    let base_secs = t.elapsed().as_secs_f64();
    let cid = a.cli(&acorn, &["add", "-Q", f])?.trim().to_string();

    let mut idle = Vec::new();
    for i in 0..idle_peers {
        idle.push(Daemon::start(&acorn, &base.join(format!("idle-{i}")))?);
    }
    let b_addr = b.addr(&acorn)?;
    for d in &idle {
        d.cli(&acorn, &["swarm", "connect", &b_addr])?;
    }
    b.cli(&acorn, &["swarm", "connect", &a.addr(&acorn)?])?;
    let idle_before: Vec<u64> = idle
        .iter()
        .map(|d| d.total_in())
        .collect::<Result<_, _>>()?;

    let secs = b.timed_cat(&acorn, &cid)?;
    let (_, hwm, threads) = proc_figures(b.pid())?;
    let mut idle_bytes = 0;
    for (d, before) in idle.iter().zip(idle_before) {
        idle_bytes += d.total_in()?.saturating_sub(before);
    }
    println!(
        "sha256sum_mib_s={:.1} fetch_acorn_to_acorn_mib_s={:.1} fetch_vs_sha256sum={:.2}x",
        mib as f64 / base_secs,
        mib as f64 / secs,
        base_secs / secs
    );
    println!("fetcher_peak_rss_kib={hwm} fetcher_threads={threads}");
    println!("idle_peers_bytes_received_during_fetch={idle_bytes}");
    drop(idle);
    if helia {
        let file2 = base.join("data-helia");
        write_pseudo_random_file(&file2, mib << 20, 0x4e11a)?;
        let secs = helia_to_acorn(&acorn, &b, &file2)?;
        let (_, hwm, threads) = proc_figures(b.pid())?;
        println!(
            "fetch_helia_to_acorn_mib_s={:.1} fetch_vs_sha256sum={:.2}x fetcher_peak_rss_kib={hwm} fetcher_threads={threads}",
            mib as f64 / secs,
            base_secs / secs
        );
    }
    drop(b);
    drop(a);
    std::fs::remove_dir_all(&base)?;
    Ok(())
}
