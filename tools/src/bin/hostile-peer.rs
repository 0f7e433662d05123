//! A peer that misbehaves on command, for tests and the testnet:
//! `hostile-peer MODE [--dial /ip4/…/tcp/…/p2p/ID] [--listen ADDR] [--count N]
//! [--want CID]… [--seed N]`.
//!
//! Prints `peer=<id>` and `listen=<multiaddr with /p2p>` once it listens, then a
//! line of counters (`connections=… disconnections=… sent=…`) every second, until
//! killed. The modes are listed in `acorn_tools::hostile`.

use std::time::Duration;

use acorn_tools::hostile::{HostilePeer, Options};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mode = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: hostile-peer MODE [--dial ADDR] [--listen ADDR] [--count N] [--want CID]… [--seed N]"))?;
    let mut opts = Options::new(mode.parse()?);
    acorn_tools::parse_flags(args, |a, val| {
        match a {
            "--dial" => opts.target = Some(val()?.parse()?),
            "--listen" => opts.listen = val()?.parse()?,
            "--count" => opts.count = val()?.parse()?,
            "--want" => opts.wants.push(val()?.parse()?),
            "--seed" => opts.seed = val()?.parse()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let peer = HostilePeer::start(opts)?;
    println!("peer={}", peer.peer);
    println!("listen={}", peer.addr);
    loop {
        std::thread::sleep(Duration::from_secs(1));
        println!("{}", peer.counters.line());
    }
}
