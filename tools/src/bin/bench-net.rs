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

use acorn_tools::{proc_figures, write_pseudo_random_file, Daemon};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts a Helia peer, has it add `file`, connects `b` to it and times `b`'s `cat`.
fn helia_to_acorn(b: &Daemon, file: &Path) -> anyhow::Result<f64> {
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
    b.cli(&["swarm", "connect", &addr])?;
    let secs = b.timed_cat(&cid)?;
    let _ = writeln!(stdin, "{}", serde_json::json!({"cmd": "stop"}));
    drop(stdin);
    let _ = child.wait();
    Ok(secs)
}

fn main() -> anyhow::Result<()> {
    let mut mib = 100u64;
    let mut idle_peers = 20usize;
    let mut flags = acorn_tools::RunFlags::new()?;
    let mut helia = false;
    acorn_tools::parse_flags(std::env::args().skip(1), |a, val| {
        match a {
            "--mib" => mib = val()?.parse()?,
            "--idle-peers" => idle_peers = val()?.parse()?,
            "--helia" => helia = true,
            _ => return flags.take(a, val),
        }
        Ok(true)
    })?;
    let (acorn, base) = flags.finish("bench-net")?;
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base)?;
    println!(
        "bench-net: acorn={} mib={mib} idle_peers={idle_peers}",
        acorn.display()
    );

    let a = Daemon::start(&acorn, &base.join("a"), "test")?;
    let b = Daemon::start(&acorn, &base.join("b"), "test")?;
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
    let cid = a.cli(&["add", "-Q", f])?.trim().to_string();

    let mut idle = Vec::new();
    for i in 0..idle_peers {
        idle.push(Daemon::start(
            &acorn,
            &base.join(format!("idle-{i}")),
            "test",
        )?);
    }
    let b_addr = b.addr()?;
    for d in &idle {
        d.cli(&["swarm", "connect", &b_addr])?;
    }
    b.cli(&["swarm", "connect", &a.addr()?])?;
    let idle_before: Vec<u64> = idle
        .iter()
        .map(|d| d.total_in())
        .collect::<Result<_, _>>()?;

    let secs = b.timed_cat(&cid)?;
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
        let secs = helia_to_acorn(&b, &file2)?;
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
