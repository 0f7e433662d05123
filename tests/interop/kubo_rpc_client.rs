//! A published client library drives the daemon as an application would: the npm
//! `kubo-rpc-client` (pinned in tools/interop/package-lock.json) runs
//! tools/interop/kubo-client.mjs against a running daemon — id, version, add,
//! cat, ls, pin add/ls/rm, block put/get/stat, dag put/get, repo stat/gc, swarm
//! peers, stats bw, config get/set/getAll. The script checks each answer as the
//! library parsed it; this test then cross-checks what it reports against the
//! offline CLI (CIDs computed without the API, stored blocks, the config file).

use crate::common;
use crate::helia;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// How long the whole client script may run.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// The script's deterministic bytes (its `payload`): a 32-bit LCG.
fn payload(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2654435761);
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1103515245).wrapping_add(12345);
            (x >> 24) as u8
        })
        .collect()
}

/// Runs the client script against the API on `port`; returns its report.
fn run_client(port: u16, seed: u32) -> Value {
    let dir = helia::require_installed();
    assert!(
        dir.join("node_modules/kubo-rpc-client/package.json")
            .is_file(),
        "kubo-rpc-client is not installed: run `npm ci --prefix tools/interop`"
    );
    let mut child = Command::new("node")
        .arg(dir.join("kubo-client.mjs"))
        .arg(format!("http://127.0.0.1:{port}"))
        .arg(seed.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn node");
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    while child.try_wait().expect("wait node").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("node output");
            panic!(
                "client script hung; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("node output");
    assert!(
        out.status.success(),
        "kubo-rpc-client script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("script report is JSON")
}

fn field<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("report lacks {k}: {v}"))
}

#[test]
fn kubo_rpc_client_drives_the_daemon() {
    let seed = 7;
    let (tmp, root) = init_repo();
    let daemon = Daemon::start(&root);
    let report = run_client(daemon.port, seed);

    // The peer ID the library parsed is the daemon's.
    let id: Value = serde_json::from_str(&ok(&run(&root, &["id"], None))).unwrap();
    assert_eq!(field(&report, "id"), id["ID"].as_str().unwrap());
    let (stopped, _, stderr) = daemon.stop();
    assert!(stopped, "daemon exit: {stderr}");

    // CIDs the library got from the API equal the offline importer's.
    let big = tmp.path().join("big");
    std::fs::write(&big, payload(600 * 1024, seed)).unwrap();
    let cid = ok(&run(
        &root,
        &["add", "-Q", "-n", big.to_str().unwrap()],
        None,
    ));
    assert_eq!(cid.trim(), field(&report, "add"));
    let small = tmp.path().join("small");
    std::fs::write(&small, payload(1000, seed + 1)).unwrap();
    let args = ["add", "-Q", "-n", "--cid-version=1", "--raw-leaves"];
    let cid = ok(&run(
        &root,
        &[&args[..], &[small.to_str().unwrap()]].concat(),
        None,
    ));
    assert_eq!(cid.trim(), field(&report, "addV1"));
    let d = tmp.path().join("d");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("a.txt"), "alpha\n").unwrap();
    std::fs::write(d.join("b.bin"), payload(300 * 1024, seed + 2)).unwrap();
    let cid = ok(&run(
        &root,
        &["add", "-r", "-Q", "-n", d.to_str().unwrap()],
        None,
    ));
    assert_eq!(cid.trim(), field(&report, "dir"));

    // What the library stored is in the repo.
    let block = run(&root, &["block", "get", field(&report, "block")], None);
    assert!(block.ok, "{}", block.stderr);
    assert_eq!(block.stdout, format!("acorn block {seed}\n").as_bytes());
    let dag: Value = serde_json::from_str(&ok(&run(
        &root,
        &["dag", "get", field(&report, "dag")],
        None,
    )))
    .unwrap();
    assert_eq!(dag["hello"], "world");
    assert_eq!(dag["n"], seed);
    assert_eq!(dag["link"]["/"], field(&report, "block"));

    // config.set reached the config file.
    let iv = ok(&run(&root, &["config", "Reprovider.Interval"], None));
    assert_eq!(iv.trim(), "13h");
    // pin.rm left nothing pinned recursively.
    let pins = ok(&run(&root, &["pin", "ls", "--type=recursive"], None));
    assert!(!pins.contains(field(&report, "add")), "{pins}");
}
