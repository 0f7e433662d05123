//! Python's IPFS clients from PyPI drive the daemon as applications do:
//! `ipfshttpclient` 0.7 (its daemon-version check bypassed, as its users do) and
//! `aioipfs` 0.7, pinned in tools/interop/requirements-rpc-clients.txt and
//! installed in tools/interop/.venv. tools/interop/rpc-clients.py runs version,
//! id, add (a file and bytes), cat, pin add/ls/rm through each; this test checks
//! its report against the daemon's own answers and the offline CLI.
//!
//! `ipfshttpclient` sends booleans as Python spells them (`pin=False`,
//! `recursive=True`), which Kubo's parser takes and Acorn must too.

use crate::common;
use crate::rpc;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{init_repo, ok, run, Daemon};
use serde_json::Value;

/// How long one client's script may run.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);
/// The script's file and bytes (`FILE_DATA`, `BYTES_DATA` in rpc-clients.py).
fn file_data() -> Vec<u8> {
    b"acorn rpc client test: a file from disk\n".repeat(100)
}
const BYTES_DATA: &[u8] = b"acorn rpc client test: bytes\n";

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools/interop")
}

/// Runs rpc-clients.py with `client` against the API on `port`; its report.
fn run_client(client: &str, port: u16) -> Value {
    let dir = interop_dir();
    let python = dir.join(".venv/bin/python");
    assert!(
        python.is_file(),
        "the Python clients are not installed: run `python3 -m venv tools/interop/.venv && \
         tools/interop/.venv/bin/pip install --no-deps --require-hashes -r \
         tools/interop/requirements.txt -r tools/interop/requirements-rpc-clients.txt`"
    );
    let mut child = Command::new(python)
        .arg(dir.join("rpc-clients.py"))
        .arg(client)
        .arg(format!("127.0.0.1:{port}"))
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY")
        .env("NO_PROXY", "127.0.0.1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python");
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    while child.try_wait().expect("wait python").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("python output");
            panic!(
                "{client} script hung; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("python output");
    assert!(
        out.status.success(),
        "{client} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn ipfshttpclient_and_aioipfs_drive_the_daemon() {
    let (dir, root) = init_repo();
    // The CIDs the clients must get, computed offline.
    let file = dir.path().join("file.txt");
    std::fs::write(&file, file_data()).unwrap();
    let file_cid = ok(&run(
        &root,
        &["add", "-Q", "-n", &file.display().to_string()],
        None,
    ));
    let bytes_cid = ok(&run(&root, &["add", "-Q", "-n"], Some(BYTES_DATA)));
    let d = Daemon::start(&root);
    let id = rpc::post(d.port, "/api/v0/id").json();
    let version = rpc::post(d.port, "/api/v0/version").json();
    for client in ["ipfshttpclient", "aioipfs"] {
        let r = run_client(client, d.port);
        assert_eq!(r["client"], client);
        assert_eq!(r["version"], version["Version"], "{client}: {r}");
        assert_eq!(r["id"], id["ID"], "{client}: {r}");
        assert_eq!(
            r["added_file"].as_str(),
            Some(file_cid.trim()),
            "{client}: {r}"
        );
        assert_eq!(
            r["added_bytes"].as_str(),
            Some(bytes_cid.trim()),
            "{client}: {r}"
        );
        let text = String::from_utf8(file_data()).unwrap();
        assert_eq!(r["cat_file"].as_str(), Some(text.as_str()), "{client}");
        assert_eq!(r["cat_slice"].as_str(), Some(&text[5..15]), "{client}");
        assert_eq!(r["pinned_after_add"], true, "{client}: {r}");
        assert_eq!(
            r["pin_rm"],
            serde_json::json!([file_cid.trim()]),
            "{client}"
        );
        assert_eq!(r["pinned_after_rm"], false, "{client}: {r}");
        // What the API says afterwards: the bytes are pinned (add's default), the
        // file is not (`pin=False` on add, then pin add and pin rm).
        let ls = rpc::post(d.port, "/api/v0/pin/ls?type=recursive").json();
        assert!(ls["Keys"].get(bytes_cid.trim()).is_some(), "{client}: {ls}");
        assert!(ls["Keys"].get(file_cid.trim()).is_none(), "{client}: {ls}");
        rpc::post(d.port, &format!("/api/v0/pin/rm?arg={}", bytes_cid.trim()));
    }
    d.stop();
}
