//! Shared helpers for Acorn's benchmarks and test drivers.
//!
//! Everything here drives the `acorn` binary from outside, as a user would.
#![deny(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Writes `len` bytes of deterministic pseudo-random data (xorshift64*, `seed`) to `path`,
/// in 1 MiB pieces so the generator itself stays small.
pub fn write_pseudo_random_file(path: &Path, len: u64, seed: u64) -> std::io::Result<()> {
    const PIECE_BYTES: usize = 1 << 20;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut state = seed.max(1);
    let mut buf = vec![0u8; PIECE_BYTES];
    let mut left = len;
    while left > 0 {
        let n = left.min(PIECE_BYTES as u64) as usize;
        for chunk in buf[..n].chunks_mut(8) {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let v = state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        f.write_all(&buf[..n])?;
        left -= n as u64;
    }
    f.flush()
}

/// What one measured child process did.
#[derive(Debug, Clone)]
pub struct Measured {
    pub wall: Duration,
    /// Peak resident set (the child's VmHWM), from `getrusage(RUSAGE_CHILDREN)` of a
    /// fresh wrapper process that ran only this child.
    pub peak_rss_kib: u64,
    /// Bytes the command caused to be written to storage (Linux counts them when
    /// pages are dirtied: `ru_oublock` × 512).
    pub written_bytes: u64,
    pub stdout: String,
}

/// Runs `program args…` through `wrapper` (this tools crate's `measure` mode: a fresh
/// process whose only child is the command, so `RUSAGE_CHILDREN.ru_maxrss` is the
/// command's own peak RSS) and returns wall time, peak RSS and stdout.
pub fn measure(
    wrapper: &Path,
    program: &Path,
    args: &[&str],
    env: &[(&str, &Path)],
) -> anyhow::Result<Measured> {
    let start = Instant::now();
    let mut cmd = Command::new(wrapper);
    cmd.arg("--measure")
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output()?;
    let wall = start.elapsed();
    if !out.status.success() {
        anyhow::bail!("{} {:?} failed: {}", program.display(), args, out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    // The wrapper prints the child's stdout, then a last line
    // `maxrss_kib=N oublock=M`.
    let (body, last) = text
        .trim_end()
        .rsplit_once('\n')
        .unwrap_or(("", text.trim_end()));
    let field = |name: &str| -> anyhow::Result<u64> {
        last.split(' ')
            .find_map(|kv| kv.strip_prefix(name))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("wrapper printed no {name} field: {text:?}"))
    };
    Ok(Measured {
        wall,
        peak_rss_kib: field("maxrss_kib=")?,
        written_bytes: field("oublock=")? * 512,
        stdout: body.to_string(),
    })
}

/// The `--measure` mode: run the command, forward its stdout, print `maxrss_kib=N`.
pub fn measure_main(args: &[String]) -> anyhow::Result<()> {
    let (prog, rest) = args
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("--measure needs a command"))?;
    let out = Command::new(prog)
        .args(rest)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()?;
    std::io::stdout().write_all(&out.stdout)?;
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)?;
    println!(
        "\nmaxrss_kib={} oublock={}",
        usage.max_rss(),
        usage.block_writes()
    );
    if !out.status.success() {
        anyhow::bail!("command failed: {}", out.status);
    }
    Ok(())
}

/// A running daemon, stopped (SIGTERM, then SIGKILL) on drop.
pub struct Daemon {
    child: Child,
    repo: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
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
    /// `acorn init --profile <profiles>` in `repo`, then `acorn daemon`; returns once
    /// the daemon has written its `api` file.
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
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !repo.join("api").exists() {
            anyhow::ensure!(Instant::now() < deadline, "daemon did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(d)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Runs `acorn args…` against this daemon; returns stdout.
    pub fn cli(&self, acorn: &Path, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new(acorn)
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
    pub fn timed_cat(&self, acorn: &Path, cid: &str) -> anyhow::Result<f64> {
        let t = Instant::now();
        let out = Command::new(acorn)
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
    pub fn addr(&self, acorn: &Path) -> anyhow::Result<String> {
        let id: serde_json::Value = serde_json::from_str(&self.cli(acorn, &["id"])?)?;
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

    /// `TotalIn` of `stats bw`, exact (asked over the RPC API: the CLI rounds).
    pub fn total_in(&self) -> anyhow::Result<u64> {
        use std::io::{Read, Write};
        let api = std::fs::read_to_string(self.repo.join("api"))?;
        let port = api
            .trim()
            .rsplit('/')
            .next()
            .and_then(|p| p.parse::<u16>().ok())
            .ok_or_else(|| anyhow::anyhow!("bad api file: {api}"))?;
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
        s.write_all(
            b"POST /api/v0/stats/bw HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )?;
        let mut resp = String::new();
        s.read_to_string(&mut resp)?;
        let body = resp
            .split("\r\n\r\n")
            .nth(1)
            .ok_or_else(|| anyhow::anyhow!("bad HTTP answer: {resp}"))?;
        // Tolerate a chunked body: the JSON object is the line starting with '{'.
        let json = body
            .lines()
            .find(|l| l.starts_with('{'))
            .ok_or_else(|| anyhow::anyhow!("no JSON in: {body}"))?;
        let bw: serde_json::Value = serde_json::from_str(json)?;
        bw["TotalIn"]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("no TotalIn in `stats bw`: {bw}"))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudo_random_file_is_deterministic_and_sized() {
        let dir = std::env::temp_dir().join(format!("acorn-tools-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b, c) = (dir.join("a"), dir.join("b"), dir.join("c"));
        write_pseudo_random_file(&a, 3_000_001, 7).unwrap();
        write_pseudo_random_file(&b, 3_000_001, 7).unwrap();
        write_pseudo_random_file(&c, 3_000_001, 8).unwrap();
        let (ba, bb, bc) = (
            std::fs::read(&a).unwrap(),
            std::fs::read(&b).unwrap(),
            std::fs::read(&c).unwrap(),
        );
        assert_eq!(ba.len(), 3_000_001);
        assert_eq!(ba, bb);
        assert_ne!(ba, bc);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
