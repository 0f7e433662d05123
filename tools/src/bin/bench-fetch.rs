//! Benchmark: fetching a file over a link with a round trip, Acorn→Acorn against
//! Kubo→Kubo (X→Y: X serves, Y fetches).
//!
//! Usage: `bench-fetch [--mib 32] [--rtt-ms 0,20,50,100] [--profile test] [--no-kubo]
//! [--acorn PATH] [--dir DIR]`
//!
//! For each added round trip, a fresh pair of peers is connected through a
//! [`DelayProxy`] that delays every byte by half of it each way (loopback
//! otherwise): Acorn daemons (initialised with `--profile`, `test` by default;
//! e.g. `pi-zero,test` for a board's fetch window) where the fetcher `cat`s what the
//! server added, and Kubo v0.22.0 peers (`tools/interop/kubo-peer.py`, needs
//! `tools/interop/.venv`) where the fetcher `get`s it. Each row uses a new
//! pseudo-random file of `--mib` MiB, so nothing is cached.
//!
//! Prints one table, a row per round trip: MiB/s of each and Acorn→Acorn as a
//! ratio to Kubo→Kubo. Figures only; nothing is asserted.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use acorn_tools::delay_proxy::{DelayProxy, Link};
use acorn_tools::interop::kubo::KuboPeer;
use acorn_tools::{write_pseudo_random_file, Daemon};

/// Longest time any one fetch may take before the benchmark gives up.
const FETCH_TIMEOUT: Duration = Duration::from_secs(600);

/// `/ip4/127.0.0.1/tcp/PORT/p2p/ID` → (127.0.0.1:PORT, ID).
fn split_addr(ma: &str) -> anyhow::Result<(SocketAddr, String)> {
    let p: Vec<&str> = ma.split('/').collect();
    match p.as_slice() {
        ["", "ip4", ip, "tcp", port, "p2p", id] => {
            Ok((format!("{ip}:{port}").parse()?, id.to_string()))
        }
        _ => anyhow::bail!("not an /ip4/…/tcp/…/p2p/… address: {ma}"),
    }
}

/// The multiaddr of `proxy` standing for peer `id`.
fn via(proxy: &DelayProxy, id: &str) -> String {
    let a = proxy.addr();
    format!("/ip4/{}/tcp/{}/p2p/{id}", a.ip(), a.port())
}

fn link(rtt_ms: u64) -> Link {
    Link {
        delay: Duration::from_micros(rtt_ms * 500),
        rate_bytes_per_s: None,
    }
}

/// Seconds for Acorn B to `cat` a fresh file Acorn A added, over `rtt_ms`.
fn acorn_row(
    acorn: &Path,
    base: &Path,
    profile: &str,
    mib: u64,
    rtt_ms: u64,
) -> anyhow::Result<f64> {
    let dir = base.join(format!("a-{rtt_ms}"));
    std::fs::create_dir_all(&dir)?;
    let a = Daemon::start(acorn, &dir.join("a"), profile)?;
    let b = Daemon::start(acorn, &dir.join("b"), profile)?;
    let file = dir.join("file");
    write_pseudo_random_file(&file, mib << 20, 0x4141 + rtt_ms)?;
    let path = file
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("non-UTF-8 path"))?;
    let cid = a.cli(&["add", "-Q", path])?.trim().to_string();
    let (target, id) = split_addr(&a.addr()?)?;
    let proxy = DelayProxy::start(target, link(rtt_ms))?;
    b.cli(&["swarm", "connect", &via(&proxy, &id)])?;
    let secs = b.timed_cat(&cid)?;
    drop((a, b, proxy));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(secs)
}

/// Seconds for Kubo B to `get` a fresh file Kubo A added, over `rtt_ms`.
fn kubo_row(base: &Path, mib: u64, rtt_ms: u64) -> anyhow::Result<f64> {
    let dir = base.join(format!("k-{rtt_ms}"));
    std::fs::create_dir_all(&dir)?;
    let mut ka = KuboPeer::start();
    let mut kb = KuboPeer::start();
    let file = dir.join("file");
    write_pseudo_random_file(&file, mib << 20, 0x4b4b + rtt_ms)?;
    let cid = ka.add(&file);
    let tcp = ka
        .addrs()
        .iter()
        .find(|a| a.contains("/tcp/"))
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("Kubo listens on no TCP address"))?;
    let (target, id) = split_addr(&tcp)?;
    let proxy = DelayProxy::start(target, link(rtt_ms))?;
    kb.connect(&via(&proxy, &id));
    let secs = kb.get(&cid, &dir.join("out"), FETCH_TIMEOUT);
    ka.stop();
    kb.stop();
    drop(proxy);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(secs)
}

fn main() -> anyhow::Result<()> {
    let mut mib = 32u64;
    let mut rtts = vec![0u64, 20, 50, 100];
    let mut kubo = true;
    let mut profile = "test".to_string();
    let mut flags = acorn_tools::RunFlags::new()?;
    acorn_tools::parse_flags(std::env::args().skip(1), |a, val| {
        match a {
            "--mib" => mib = val()?.parse()?,
            "--rtt-ms" => {
                rtts = val()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "--no-kubo" => kubo = false,
            "--profile" => profile = val()?,
            _ => return flags.take(a, val),
        }
        Ok(true)
    })?;
    let (acorn, base) = flags.finish("bench-fetch")?;
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base)?;
    println!(
        "bench-fetch: acorn={} mib={mib} profile={profile}",
        acorn.display()
    );
    println!("| added RTT | Acorn→Acorn | Kubo→Kubo | ratio |");
    println!("|---|---|---|---|");
    for &rtt in &rtts {
        let a = acorn_row(&acorn, &base, &profile, mib, rtt)?;
        let rate = |s: f64| mib as f64 / s;
        if kubo {
            let k = kubo_row(&base, mib, rtt)?;
            println!(
                "| {rtt} ms | {a:.2} s ({:.1} MiB/s) | {k:.2} s ({:.1} MiB/s) | {:.2} |",
                rate(a),
                rate(k),
                k / a
            );
        } else {
            println!("| {rtt} ms | {a:.2} s ({:.1} MiB/s) | – | – |", rate(a));
        }
    }
    let _ = std::fs::remove_dir_all(&base);
    Ok(())
}
