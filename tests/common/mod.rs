//! Helpers shared by the end-to-end tests: run the real `acorn` binary with
//! `ACORN_PATH` in a temporary directory.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One finished run of the binary.
pub struct Run {
    pub ok: bool,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    /// Stdout as text (panics on non-UTF-8, which our text commands never print).
    pub fn text(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("utf-8 stdout")
    }
}

/// A fresh repo directory (not yet initialised) inside a temp dir.
pub fn repo_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("repo");
    (dir, root)
}

/// A temp dir with an initialised repo (`--profile test`).
pub fn init_repo() -> (tempfile::TempDir, PathBuf) {
    let (d, root) = repo_dir();
    ok(&run(&root, &["init", "--profile", "test"], None));
    (d, root)
}

/// Runs `acorn args…` with `stdin` bytes (or no stdin).
pub fn run(root: &Path, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_acorn"));
    cmd.args(args)
        .env("ACORN_PATH", root)
        .env_remove("ACORN_LOG")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = cmd.spawn().expect("spawn acorn");
    if let Some(input) = stdin {
        let mut w = child.stdin.take().expect("stdin");
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = w.write_all(&input);
        });
    }
    let out = child.wait_with_output().expect("wait acorn");
    Run {
        ok: out.status.success(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

/// Asserts success and returns stdout as text.
pub fn ok(r: &Run) -> String {
    assert!(r.ok, "failed: {}", r.stderr);
    r.text()
}

/// Asserts failure with exactly one `Error: ...` line on stderr; returns it.
pub fn err(r: &Run) -> String {
    assert!(!r.ok, "expected failure, got stdout {:?}", r.text());
    let line = r.stderr.strip_suffix('\n').unwrap_or(&r.stderr);
    assert!(!line.contains('\n'), "more than one line: {:?}", r.stderr);
    assert!(line.starts_with("Error: "), "{:?}", r.stderr);
    line.to_string()
}

/// Deterministic pseudo-random bytes (xorshift64*).
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.max(1);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}
