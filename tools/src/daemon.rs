//! A daemon under test, driven from outside as a user would: `acorn init`,
//! `acorn daemon`, CLI commands and raw RPC requests against it, and its
//! `/proc` figures.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a daemon may take to write its `api` file.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a daemon may take to exit after SIGTERM before it is killed.
pub(crate) const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A running daemon, stopped (SIGTERM, then SIGKILL) on drop.
pub struct Daemon {
    child: Child,
    repo: PathBuf,
    acorn: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    /// `acorn init --profile <profiles>` in `repo` (e.g. `"test"` or
    /// `"pi-zero,test"`), then starts `acorn daemon` and waits for its `api` file.
    pub fn start(acorn: &Path, repo: &Path, profiles: &str) -> anyhow::Result<Daemon> {
        let out = Command::new(acorn)
            .args(["init", "--profile", profiles])
            .env("ACORN_PATH", repo)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let child = Command::new(acorn)
            .arg("daemon")
            .env("ACORN_PATH", repo)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let d = Daemon {
            child,
            repo: repo.to_path_buf(),
            acorn: acorn.to_path_buf(),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        while !repo.join("api").exists() {
            anyhow::ensure!(Instant::now() < deadline, "daemon did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(d)
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The repo the daemon runs on.
    pub fn repo(&self) -> &Path {
        &self.repo
    }

    /// Runs `acorn args…` against this daemon; returns stdout.
    pub fn cli(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new(&self.acorn)
            .args(args)
            .env("ACORN_PATH", &self.repo)
            .stdin(Stdio::null())
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "acorn {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8(out.stdout)?)
    }

    /// Seconds `acorn cat <cid>` takes against this daemon (output discarded).
    pub fn timed_cat(&self, cid: &str) -> anyhow::Result<f64> {
        let t = Instant::now();
        let out = Command::new(&self.acorn)
            .args(["cat", cid])
            .env("ACORN_PATH", &self.repo)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()?;
        let secs = t.elapsed().as_secs_f64();
        anyhow::ensure!(
            out.status.success(),
            "fetch of {cid} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(secs)
    }

    /// The first listen address with `/p2p/<id>`, from `acorn id`.
    pub fn addr(&self) -> anyhow::Result<String> {
        let id: serde_json::Value = serde_json::from_str(&self.cli(&["id"])?)?;
        id["Addresses"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .filter_map(|v| v.as_str())
                    .find(|a| a.contains("/tcp/"))
            })
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("no address in `acorn id`: {id}"))
    }

    /// The RPC API's TCP port, from the `api` file.
    pub fn api_port(&self) -> anyhow::Result<u16> {
        let api = std::fs::read_to_string(self.repo.join("api"))?;
        api.trim()
            .rsplit('/')
            .next()
            .and_then(|p| p.parse::<u16>().ok())
            .ok_or_else(|| anyhow::anyhow!("bad api file: {api}"))
    }

    /// The gateway's base URL, from the `gateway` file.
    pub fn gateway_url(&self) -> anyhow::Result<String> {
        Ok(std::fs::read_to_string(self.repo.join("gateway"))?
            .trim()
            .to_string())
    }

    /// [`rpc_post`] to this daemon's RPC API.
    pub fn rpc(&self, cmd_and_query: &str) -> anyhow::Result<serde_json::Value> {
        rpc_post(self.api_port()?, cmd_and_query)
    }

    /// `TotalIn` of `stats bw`, exact (asked over the RPC API: the CLI rounds).
    pub fn total_in(&self) -> anyhow::Result<u64> {
        let bw = self.rpc("stats/bw")?;
        bw["TotalIn"]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("no TotalIn in `stats bw`: {bw}"))
    }
}

/// POSTs `/api/v0/<cmd_and_query>` with an empty body to the RPC API on
/// 127.0.0.1:`port` (of the calling thread's network namespace); returns the JSON
/// object of the answer (the first line starting with `{`, so that a chunked body
/// works too).
pub fn rpc_post(port: u16, cmd_and_query: &str) -> anyhow::Result<serde_json::Value> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    write!(
        s,
        "POST /api/v0/{cmd_and_query} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let body = resp
        .split("\r\n\r\n")
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("bad HTTP answer: {resp}"))?;
    let json = body
        .lines()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| anyhow::anyhow!("no JSON in: {body}"))?;
    Ok(serde_json::from_str(json)?)
}

/// (VmRSS KiB, VmHWM KiB, OS threads) of a process.
pub fn proc_figures(pid: u32) -> anyhow::Result<(u64, u64, usize)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let threads = std::fs::read_dir(format!("/proc/{pid}/task"))?.count();
    Ok((kib("VmRSS:"), kib("VmHWM:"), threads))
}

/// `memory_ceiling_mib` of a firmware profile, read from
/// `firmware-profiles/<name>.toml` in this source tree.
pub fn profile_ceiling_mib(name: &str) -> anyhow::Result<u64> {
    profile_number(name, "memory_ceiling_mib")
}

/// The integer `[profile]` field `key` (`memory_ceiling_mib`, `idle_threads`,
/// `max_threads`) of `firmware-profiles/<name>.toml` in this source tree.
pub fn profile_number(name: &str, key: &str) -> anyhow::Result<u64> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../firmware-profiles")
        .join(format!("{name}.toml"));
    let text =
        std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    text.lines()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().parse().ok())?
        })
        .ok_or_else(|| anyhow::anyhow!("{}: no {key}", path.display()))
}

/// The names (`/proc/PID/task/*/comm`) of `pid`'s threads, sorted.
pub fn thread_names(pid: u32) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        // A thread that ended between the listing and the read is skipped.
        if let Ok(comm) = std::fs::read_to_string(entry?.path().join("comm")) {
            names.push(comm.trim_end().to_string());
        }
    }
    names.sort();
    Ok(names)
}
