//! `testnet-link --a NETNS:DEV --b NETNS:DEV [--seed N] [--a2b CONDITIONS] [--b2a CONDITIONS]`:
//! one emulated link between two network namespaces (see `acorn_testnet::emulator`).
//! Prints `ready` once both TUN devices exist, then takes commands on stdin and
//! exits when stdin closes.

use acorn_testnet::emulator::{self, End};
use acorn_testnet::link::Conditions;

fn main() {
    if let Err(e) = real_main() {
        eprintln!("testnet-link: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> anyhow::Result<()> {
    let (mut a, mut b, mut seed) = (None::<End>, None::<End>, 1u64);
    let (mut a2b, mut b2a) = (Conditions::default(), Conditions::default());
    acorn_tools::parse_flags(std::env::args().skip(1), |flag, value| {
        match flag {
            "--a" => a = Some(value()?.parse()?),
            "--b" => b = Some(value()?.parse()?),
            "--seed" => seed = value()?.parse()?,
            "--a2b" => a2b = Conditions::parse(&value()?)?,
            "--b2a" => b2a = Conditions::parse(&value()?)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let a = a.ok_or_else(|| anyhow::anyhow!("--a NETNS:DEV is required"))?;
    let b = b.ok_or_else(|| anyhow::anyhow!("--b NETNS:DEV is required"))?;
    emulator::run(&a, &b, seed, a2b, b2a)
}
