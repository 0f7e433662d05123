//! Benchmark: the RPC API's `block/get` and the gateway's GETs of a 1 MiB file
//! under concurrent clients, driven by `wrk` (Debian: `apt-get install wrk`).
//!
//! Usage: `bench-api [--profile pi-zero] [--connections 32] [--seconds 10]
//! [--wrk-threads 2] [--acorn PATH] [--dir DIR]`
//!
//! Starts one daemon with `acorn init --profile <profile>,test`, stores a 1 MiB
//! raw block (`block put`) and a 1 MiB file (`add`, 256 KiB chunks), then runs
//! `wrk` for `--seconds` each against:
//! - `POST /api/v0/version` — the baseline: the same server doing no content work;
//! - `POST /api/v0/block/get?arg=<1 MiB block>`;
//! - `GET /ipfs/<file>` on the gateway.
//!
//! It prints, as `key=value` lines: answered (2xx) requests/s and their ratio to
//! the baseline's, all requests/s and the non-2xx among them (503 is the answer
//! past the concurrent-request limit), MiB/s, and the daemon's peak RSS (VmHWM) and OS threads against
//! the firmware profile's `memory_ceiling_mib`. Exits non-zero when the peak RSS
//! is over the ceiling (issue 5's target); speed is printed, not asserted.

use acorn_tools::{proc_figures, profile_ceiling_mib, write_pseudo_random_file, Daemon};
use std::path::Path;
use std::process::Command;

/// Bytes of the block and of the file served.
const PAYLOAD_BYTES: u64 = 1 << 20;

/// What one `wrk` run measured.
struct Load {
    requests_per_s: f64,
    /// Requests/s answered 2xx/3xx (the rest were refused, e.g. 503).
    ok_per_s: f64,
    mib_per_s: f64,
    non_2xx: u64,
    socket_errors: u64,
}

/// Runs `wrk` against `url` (POST when `post`) and parses its summary.
fn wrk(
    url: &str,
    post: bool,
    conns: usize,
    threads: usize,
    secs: u64,
    dir: &Path,
) -> anyhow::Result<Load> {
    let mut cmd = Command::new("wrk");
    cmd.arg(format!("-t{threads}"))
        .arg(format!("-c{conns}"))
        .arg(format!("-d{secs}s"));
    if post {
        let script = dir.join("post.lua");
        std::fs::write(&script, "wrk.method = \"POST\"\n")?;
        cmd.arg("-s").arg(script);
    }
    let out = cmd.arg(url).output().map_err(|e| {
        anyhow::anyhow!("cannot run wrk ({e}); install it with `apt-get install wrk`")
    })?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    anyhow::ensure!(
        out.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = |key: &str| -> Option<&str> {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .map(str::trim)
    };
    let requests_per_s = after("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no Requests/sec in wrk output: {text}"))?;
    let mib_per_s = after("Transfer/sec:").map_or(0.0, parse_size_mib);
    let non_2xx = after("Non-2xx or 3xx responses:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // "Socket errors: connect 0, read 0, write 0, timeout 0"
    let socket_errors = after("Socket errors:").map_or(0, |v| {
        v.split(',')
            .filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok())
            .sum()
    });
    // "  123456 requests in 5.00s, 6.28GB read"
    let total: f64 = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no request count in wrk output: {text}"))?;
    let ok_per_s = if total > 0.0 {
        requests_per_s * (total - non_2xx as f64).max(0.0) / total
    } else {
        0.0
    };
    Ok(Load {
        requests_per_s,
        ok_per_s,
        mib_per_s,
        non_2xx,
        socket_errors,
    })
}

/// wrk's "12.34MB" (binary units) as MiB.
fn parse_size_mib(v: &str) -> f64 {
    let split = v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f64 = num.parse().unwrap_or(0.0);
    match unit {
        "B" => n / 1048576.0,
        "KB" => n / 1024.0,
        "MB" => n,
        "GB" => n * 1024.0,
        _ => 0.0,
    }
}

fn main() -> anyhow::Result<()> {
    let mut profile = "pi-zero".to_string();
    let mut conns = 32usize;
    let mut secs = 10u64;
    let mut threads = 2usize;
    let mut flags = acorn_tools::RunFlags::new()?;
    acorn_tools::parse_flags(std::env::args().skip(1), |a, val| {
        match a {
            "--profile" => profile = val()?.clone(),
            "--connections" => conns = val()?.parse()?,
            "--seconds" => secs = val()?.parse()?,
            "--wrk-threads" => threads = val()?.parse()?,
            _ => return flags.take(a, val),
        }
        Ok(true)
    })?;
    let (acorn, base) = flags.finish("bench-api")?;
    let ceiling_mib = profile_ceiling_mib(&profile)?;
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base)?;
    println!(
        "bench-api: acorn={} profile={profile} connections={conns} seconds={secs} wrk_threads={threads}",
        acorn.display()
    );

    let d = Daemon::start(&acorn, &base.join("repo"), &format!("{profile},test"))?;
    let data = base.join("data");
    write_pseudo_random_file(&data, PAYLOAD_BYTES, 0xa91)?;
    let data = data
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("non-UTF-8 path"))?;
    let block = d.cli(&["block", "put", data])?.trim().to_string();
    let file = d.cli(&["add", "-Q", data])?.trim().to_string();
    let api = format!("http://127.0.0.1:{}/api/v0", d.api_port()?);
    let gateway = d.gateway_url()?;

    let runs = [
        ("version", format!("{api}/version"), true),
        (
            "block_get_1mib",
            format!("{api}/block/get?arg={block}"),
            true,
        ),
        ("gateway_get_1mib", format!("{gateway}/ipfs/{file}"), false),
    ];
    let mut baseline = None;
    for (name, url, post) in &runs {
        let l = wrk(url, *post, conns, threads, secs, &base)?;
        let base_rps = *baseline.get_or_insert(l.ok_per_s);
        let (_, hwm, nthreads) = proc_figures(d.pid())?;
        println!(
            "{name}: ok_per_s={:.0} vs_version={:.2}x requests_per_s={:.0} non_2xx={} mib_per_s={:.1} socket_errors={} daemon_peak_rss_kib={hwm} daemon_threads={nthreads}",
            l.ok_per_s,
            l.ok_per_s / base_rps.max(f64::MIN_POSITIVE),
            l.requests_per_s,
            l.non_2xx,
            l.mib_per_s,
            l.socket_errors,
        );
    }
    let (_, hwm, _) = proc_figures(d.pid())?;
    let ratio = hwm as f64 / (ceiling_mib * 1024) as f64;
    println!("daemon_peak_rss_kib={hwm} ceiling_mib={ceiling_mib} peak_vs_ceiling={ratio:.2}");
    drop(d);
    std::fs::remove_dir_all(&base)?;
    anyhow::ensure!(
        ratio <= 1.0,
        "peak RSS {hwm} KiB is over the {profile} ceiling of {ceiling_mib} MiB"
    );
    Ok(())
}
