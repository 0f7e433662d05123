//! `testnet`: builds a network of namespaces from a scenario file and runs it.
//!
//! ```text
//! testnet run SCENARIO.toml… [--acorn PATH] [--figures FILE] [--keep]
//! testnet check SCENARIO.toml…     validate only (no root needed)
//! testnet clean                    remove what killed runs left
//! testnet guard PREFIX [DIR]       (internal) clean up when stdin closes
//! ```

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("guard") => acorn_testnet::testnet::guard_main(
            args.get(1).map(String::as_str).unwrap_or(""),
            args.get(2).map(std::path::Path::new),
        ),
        Some("check") => check(&args[1..]).map(|_| ()),
        Some("run") => run(&args[1..]),
        Some("clean") => {
            for n in acorn_testnet::netns::remove_stale() {
                println!("removed {n}");
            }
            Ok(())
        }
        _ => Err(anyhow::anyhow!(
            "usage: testnet run SCENARIO.toml… [--acorn PATH] [--figures FILE] | \
             testnet check SCENARIO.toml… | testnet clean"
        )),
    };
    if let Err(e) = result {
        eprintln!("testnet: {e:#}");
        std::process::exit(1);
    }
}

fn check(files: &[String]) -> anyhow::Result<Vec<acorn_testnet::scenario::Scenario>> {
    anyhow::ensure!(!files.is_empty(), "name at least one scenario file");
    let mut out = Vec::new();
    for f in files {
        let sc = acorn_testnet::scenario::load(std::path::Path::new(f))?;
        eprintln!(
            "{f}: ok ({} hosts, {} networks, {} steps)",
            sc.topology.hosts.len(),
            sc.topology.networks.len(),
            sc.steps.len()
        );
        out.push(sc);
    }
    Ok(out)
}

fn run(args: &[String]) -> anyhow::Result<()> {
    let me = std::env::current_exe()?;
    let mut acorn = me.with_file_name("acorn");
    let mut figures: Option<std::path::PathBuf> = None;
    let mut files = Vec::new();
    acorn_tools::parse_flags(args.iter().cloned(), |flag, value| {
        match flag {
            "--acorn" => acorn = value()?.into(),
            "--figures" => figures = Some(value()?.into()),
            f if !f.starts_with("--") => files.push(f.to_string()),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    // Every file is checked before anything is built, and the machine too.
    let scenarios = check(&files)?;
    let nat = scenarios.iter().any(|s| !s.topology.networks.is_empty());
    acorn_testnet::netns::require(nat)?;
    let opts = acorn_testnet::runner::Options {
        acorn,
        bins: acorn_testnet::testnet::Bins {
            link: me.with_file_name("testnet-link"),
            testnet: me.clone(),
        },
    };
    let mut out: Box<dyn std::io::Write> = match &figures {
        Some(p) => Box::new(std::fs::File::create(p)?),
        None => Box::new(std::io::stdout()),
    };
    for (f, sc) in files.iter().zip(&scenarios) {
        let t0 = std::time::Instant::now();
        acorn_testnet::runner::run(sc, &opts, &mut out)?;
        eprintln!("{f}: passed in {:.1} s", t0.elapsed().as_secs_f64());
    }
    Ok(())
}
