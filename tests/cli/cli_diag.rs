//! `acorn diag sys` while a daemon runs is the daemon's answer (RPC `diag/sys`),
//! computed in the daemon's process; offline it is the CLI's own.

use crate::common;
use crate::http;

use std::path::Path;

use common::{init_repo, Daemon};

/// `acorn [--offline] diag sys` run with `IPFS_PATH` set to `marker`.
fn diag_sys(root: &Path, offline: bool, marker: &str) -> serde_json::Value {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_acorn"));
    if offline {
        cmd.arg("--offline");
    }
    let out = cmd
        .args(["diag", "sys"])
        .env("ACORN_PATH", root)
        .env("IPFS_PATH", marker)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn diag_sys_comes_from_the_daemon_when_one_runs() {
    let (_d, root) = init_repo();
    let daemon = Daemon::start_with_env(&root, &[("IPFS_PATH", "/set/for/the/daemon")]);

    let (status, v) = http::post(daemon.port, "/api/v0/diag/sys");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["environment"]["IPFS_PATH"], "/set/for/the/daemon", "{v}");
    assert_eq!(v["net"]["online"], true);
    assert!(v["diskinfo"]["total_space"].as_u64().unwrap() > 0, "{v}");
    assert!(v["memory"]["virt"].as_u64().unwrap() > 0, "{v}");

    // The CLI prints the daemon's answer: its environment, not the CLI's.
    let cli = diag_sys(&root, false, "/set/for/the/cli");
    assert_eq!(
        cli["environment"]["IPFS_PATH"], "/set/for/the/daemon",
        "{cli}"
    );
    assert_eq!(cli["net"]["online"], true);
    // --offline: this process, not online.
    let off = diag_sys(&root, true, "/set/for/the/cli");
    assert_eq!(off["environment"]["IPFS_PATH"], "/set/for/the/cli", "{off}");
    assert_eq!(off["net"]["online"], false);
}
