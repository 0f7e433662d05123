//! Benchmark: bitswap fetches between Acorn and a real Kubo (v0.22.0) on loopback.
//!
//! Usage: `bench-kubo [--mib 32] [--acorn PATH] [--dir DIR]`
//!
//! Starts two Kubo peers (`tools/interop/kubo-peer.py`, needs `tools/interop/.venv`)
//! and one Acorn daemon (`test` profile), and times three fetches of a fresh
//! `--mib` MiB file each, on the same machine in the same run:
//! - Kubo→Kubo: Kubo B `get`s what Kubo A added (the baseline);
//! - Kubo→Acorn: Acorn `cat`s what Kubo A added;
//! - Acorn→Kubo: Kubo B `get`s what Acorn added.
//!
//! Prints `key=value` lines: MiB/s of each, and each Acorn direction as a ratio to
//! Kubo→Kubo. Figures only; nothing is asserted (`.ci/run` prints them).

use std::time::Duration;

use acorn_tools::interop::kubo::KuboPeer;
use acorn_tools::{write_pseudo_random_file, Daemon};

/// Longest time any one fetch may take before the benchmark gives up.
const FETCH_TIMEOUT: Duration = Duration::from_secs(300);

fn main() -> anyhow::Result<()> {
    let mut mib = 32u64;
    let mut flags = acorn_tools::RunFlags::new()?;
    acorn_tools::parse_flags(std::env::args().skip(1), |a, val| {
        match a {
            "--mib" => mib = val()?.parse()?,
            _ => return flags.take(a, val),
        }
        Ok(true)
    })?;
    let (acorn, base) = flags.finish("bench-kubo")?;
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base)?;
    println!("bench-kubo: acorn={} mib={mib}", acorn.display());

    let path = |name: &str| -> anyhow::Result<String> {
        let p = base.join(name);
        p.to_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("non-UTF-8 path {}", p.display()))
    };
    let mut ka = KuboPeer::start();
    let mut kb = KuboPeer::start();
    let node = Daemon::start(&acorn, &base.join("acorn"), "test")?;

    // Kubo → Kubo.
    write_pseudo_random_file(base.join("k2k").as_path(), mib << 20, 0x4b4b)?;
    let cid = ka.add(&base.join("k2k"));
    kb.connect(ka.addr());
    let k2k = kb.get(&cid, base.join("k2k.out").as_path(), FETCH_TIMEOUT);

    // Kubo → Acorn.
    write_pseudo_random_file(base.join("k2a").as_path(), mib << 20, 0x4b41)?;
    let cid = ka.add(&base.join("k2a"));
    node.cli(&["swarm", "connect", ka.addr()])?;
    let k2a = node.timed_cat(&cid)?;

    // Acorn → Kubo.
    write_pseudo_random_file(base.join("a2k").as_path(), mib << 20, 0x414b)?;
    let cid = node.cli(&["add", "-Q", &path("a2k")?])?.trim().to_string();
    kb.connect(&node.addr()?);
    let a2k = kb.get(&cid, base.join("a2k.out").as_path(), FETCH_TIMEOUT);
    anyhow::ensure!(
        std::fs::read(base.join("a2k"))? == std::fs::read(base.join("a2k.out"))?,
        "Kubo got other bytes from Acorn"
    );

    let rate = |secs: f64| mib as f64 / secs;
    println!(
        "kubo_to_kubo_mib_s={:.1} kubo_to_acorn_mib_s={:.1} acorn_to_kubo_mib_s={:.1}",
        rate(k2k),
        rate(k2a),
        rate(a2k)
    );
    println!(
        "kubo_to_acorn_vs_kubo_to_kubo={:.2}x acorn_to_kubo_vs_kubo_to_kubo={:.2}x",
        k2k / k2a,
        k2k / a2k
    );
    ka.stop();
    kb.stop();
    drop(node);
    let _ = std::fs::remove_dir_all(&base);
    Ok(())
}
