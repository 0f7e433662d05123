//! CI's short crash soak: 50 cycles of kill -9 during add / pin rm / gc.
// A test crate exports nothing: its helpers are `pub` only to be shared between
// its modules.
#![allow(unreachable_pub)]

use std::process::Command;

#[test]
fn short_soak_loses_nothing() {
    let acorn = std::path::Path::new(env!("CARGO_BIN_EXE_soak")).with_file_name("acorn");
    assert!(
        acorn.exists(),
        "build the acorn binary first (cargo build --workspace)"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_soak"))
        .args(["--cycles", "50", "--seed", "7", "--acorn"])
        .arg(&acorn)
        .output()
        .expect("run soak");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "soak failed: {stdout}{stderr}");
    assert!(stdout.contains("cycles=50 "), "{stdout}");
    assert!(stdout.contains("failures=0 blocks_lost=0"), "{stdout}");
    // The loop must actually have killed children mid-operation.
    let kills: u64 = stdout
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("kills="))
        .and_then(|v| v.parse().ok())
        .expect("kills= figure");
    assert!(kills > 0, "no child was killed: {stdout}");
}
