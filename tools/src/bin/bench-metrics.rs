//! Benchmark: the idle cost of metrics — RSS of a daemon scraped every few
//! seconds against an identical daemon that nobody scrapes, in the same run.
//!
//! Usage: `bench-metrics [--profile pi-zero] [--seconds 60] [--interval 5]
//! [--acorn PATH] [--dir DIR]`
//!
//! Starts two daemons with `acorn init --profile <profile>,test`, lets both settle
//! for one interval, then for `--seconds` sends `GET /debug/metrics/prometheus` to
//! the first every `--interval` seconds (as Prometheus would) and samples both
//! daemons' RSS after each scrape. Prints, as `key=value` lines: each daemon's RSS
//! at the end and its peak (VmHWM), the scraped daemon's RSS as a ratio of the
//! other's, its threads, and the scrapes' count, size and time (mean and max).
//! Figures are printed, not asserted.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use acorn_tools::{proc_figures, Daemon};

/// One scrape; the size of its body in bytes.
fn scrape(port: u16) -> anyhow::Result<usize> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "GET /debug/metrics/prometheus HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    anyhow::ensure!(
        text.starts_with("HTTP/1.1 200"),
        "scrape failed: {}",
        text.lines().next().unwrap_or("")
    );
    let body = text.split_once("\r\n\r\n").map_or(0, |(_, b)| b.len());
    anyhow::ensure!(text.contains("# EOF"), "scrape cut short");
    Ok(body)
}

fn main() -> anyhow::Result<()> {
    let mut profile = "pi-zero".to_string();
    let mut secs = 60u64;
    let mut interval = 5u64;
    let mut flags = acorn_tools::RunFlags::new()?;
    acorn_tools::parse_flags(std::env::args().skip(1), |a, val| {
        match a {
            "--profile" => profile = val()?.clone(),
            "--seconds" => secs = val()?.parse()?,
            "--interval" => interval = val()?.parse::<u64>()?.max(1),
            _ => return flags.take(a, val),
        }
        Ok(true)
    })?;
    let (acorn, base) = flags.finish("bench-metrics")?;
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base)?;
    println!(
        "bench-metrics: acorn={} profile={profile} seconds={secs} interval={interval}",
        acorn.display()
    );
    let profiles = format!("{profile},test");
    let scraped = Daemon::start(&acorn, &base.join("scraped"), &profiles)?;
    let idle = Daemon::start(&acorn, &base.join("idle"), &profiles)?;
    let port = scraped.api_port()?;
    std::thread::sleep(Duration::from_secs(interval));
    let (rss_before, _, _) = proc_figures(scraped.pid())?;
    let (idle_before, _, _) = proc_figures(idle.pid())?;

    let mut times = Vec::new();
    let mut bytes = 0;
    let start = Instant::now();
    let mut next = start;
    while start.elapsed() < Duration::from_secs(secs) {
        let t = Instant::now();
        bytes = scrape(port)?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        next += Duration::from_secs(interval);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let (rss, hwm, threads) = proc_figures(scraped.pid())?;
    let (idle_rss, idle_hwm, idle_threads) = proc_figures(idle.pid())?;
    let mean = times.iter().sum::<f64>() / times.len().max(1) as f64;
    let max = times.iter().copied().fold(0.0, f64::max);
    println!(
        "scraped: rss_start_kib={rss_before} rss_end_kib={rss} peak_rss_kib={hwm} threads={threads}"
    );
    println!(
        "idle: rss_start_kib={idle_before} rss_end_kib={idle_rss} peak_rss_kib={idle_hwm} threads={idle_threads}"
    );
    println!(
        "scraped_vs_idle: rss={:.3}x peak={:.3}x rss_diff_kib={}",
        rss as f64 / idle_rss.max(1) as f64,
        hwm as f64 / idle_hwm.max(1) as f64,
        rss as i64 - idle_rss as i64
    );
    println!(
        "scrapes: count={} bytes={bytes} mean_ms={mean:.2} max_ms={max:.2}",
        times.len()
    );
    drop(scraped);
    drop(idle);
    std::fs::remove_dir_all(&base)?;
    Ok(())
}
