//! Helpers shared by the end-to-end tests: run the real `acorn` binary with
//! `ACORN_PATH` in a temporary directory.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
/// A running daemon's first listen address with `/p2p/<id>`, to dial it.
pub fn dial_addr(root: &Path) -> String {
    let out = ok(&run(root, &["swarm", "addrs", "local", "--id"], None));
    out.lines().next().expect("a listen address").to_string()
}

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

/// Deterministic pseudo-random bytes (the one test generator, `acorn_tools::rng`).
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    acorn_tools::rng::Rng::new(seed).bytes(len)
}

/// Spawns `acorn daemon` on `root` (stdin closed, stdout and stderr piped) with
/// `configure` applied to the command first; does not wait for it to get ready.
pub fn spawn_daemon(root: &Path, configure: impl FnOnce(&mut Command)) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_acorn"));
    configure(&mut cmd);
    cmd.arg("daemon")
        .env("ACORN_PATH", root)
        .env_remove("ACORN_LOG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn daemon")
}

/// A running daemon; killed (SIGKILL) if a test fails before stopping it.
pub struct Daemon {
    pub child: Option<Child>,
    pub port: u16,
}

impl Daemon {
    pub fn start(root: &Path) -> Daemon {
        Daemon::start_with_env(root, &[])
    }

    /// Starts with extra environment variables.
    pub fn start_with_env(root: &Path, env: &[(&str, &str)]) -> Daemon {
        Daemon::start_with(root, |cmd| {
            cmd.envs(env.iter().copied());
        })
    }

    /// Starts with `configure` applied to the command first (environment, a
    /// `pre_exec` hook, ...).
    pub fn start_with(root: &Path, configure: impl FnOnce(&mut Command)) -> Daemon {
        let child = spawn_daemon(root, configure);
        let api = root.join("api");
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut d = Daemon {
            child: Some(child),
            port: 0,
        };
        while Instant::now() < deadline {
            // The daemon creates the file, then writes it: an empty read is "not yet".
            if let Ok(text) = std::fs::read_to_string(&api).map(|t| t.trim().to_string()) {
                if text.is_empty() {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                let port = text.rsplit('/').next().unwrap().parse().unwrap();
                assert!(text.starts_with("/ip4/127.0.0.1/tcp/"), "{text}");
                assert_ne!(port, 0, "api file holds the real port");
                d.port = port;
                return d;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("daemon did not write {}", api.display());
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends SIGTERM and waits; returns (success, stdout, stderr).
    pub fn stop(mut self) -> (bool, String, String) {
        let child = self.child.take().unwrap();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// OS threads of a process, from /proc/PID/task.
pub fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .count()
}
