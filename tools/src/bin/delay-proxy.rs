//! A loopback TCP proxy that adds a fixed delay each way (and optionally a rate
//! limit): `delay-proxy --to 127.0.0.1:PORT --delay-ms 25 [--rate-kib-s 1250]`.
//!
//! Prints `listen=127.0.0.1:PORT` once it accepts, then runs until killed. See
//! `acorn_tools::delay_proxy` for what it models and what it does not.

use std::time::Duration;

use acorn_tools::delay_proxy::{DelayProxy, Link};

fn main() -> anyhow::Result<()> {
    let mut to = None;
    let mut link = Link::default();
    acorn_tools::parse_flags(std::env::args().skip(1), |a, val| {
        match a {
            "--to" => to = Some(val()?.parse()?),
            "--delay-ms" => link.delay = Duration::from_millis(val()?.parse()?),
            "--rate-kib-s" => link.rate_bytes_per_s = Some(val()?.parse::<u64>()? << 10),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let to = to.ok_or_else(|| anyhow::anyhow!("--to 127.0.0.1:PORT is required"))?;
    let proxy = DelayProxy::start(to, link)?;
    println!("listen={}", proxy.addr());
    loop {
        std::thread::park();
    }
}
