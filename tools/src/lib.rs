//! Shared helpers for Acorn's benchmarks and test drivers.
//!
//! Everything here drives the `acorn` binary from outside, as a user would.
#![deny(unsafe_code)]

mod daemon;
pub mod delay_proxy;
pub mod hostile;
pub mod interop;
pub mod rng;
pub use daemon::{
    proc_figures, profile_ceiling_mib, profile_number, rpc_post, thread_names, Daemon,
};

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Writes `len` bytes of deterministic pseudo-random data (xorshift64*, `seed`) to `path`,
/// in 1 MiB pieces so the generator itself stays small.
pub fn write_pseudo_random_file(path: &Path, len: u64, seed: u64) -> std::io::Result<()> {
    const PIECE_BYTES: usize = 1 << 20;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut rng = rng::Rng::new(seed);
    let mut buf = vec![0u8; PIECE_BYTES];
    let mut left = len;
    while left > 0 {
        let n = left.min(PIECE_BYTES as u64) as usize;
        rng.fill(&mut buf[..n]);
        f.write_all(&buf[..n])?;
        left -= n as u64;
    }
    f.flush()
}

/// What one measured child process did.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Wall-clock time from spawn to exit.
    pub wall: Duration,
    /// Peak resident set (the child's VmHWM), from `getrusage(RUSAGE_CHILDREN)` of a
    /// fresh wrapper process that ran only this child.
    pub peak_rss_kib: u64,
    /// Bytes the command caused to be written to storage (Linux counts them when
    /// pages are dirtied: `ru_oublock` × 512).
    pub written_bytes: u64,
    /// The command's standard output.
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

/// The flags the benchmark and soak binaries share: `--acorn PATH`, the binary
/// under test (default: `acorn` beside this one), and `--dir DIR`, the scratch
/// directory (default: `<tmp>/acorn-<tool>-<pid>`).
pub struct RunFlags {
    acorn: std::path::PathBuf,
    dir: Option<std::path::PathBuf>,
}

impl RunFlags {
    /// The defaults.
    pub fn new() -> anyhow::Result<RunFlags> {
        Ok(RunFlags {
            acorn: std::env::current_exe()?.with_file_name("acorn"),
            dir: None,
        })
    }

    /// Takes `--acorn` or `--dir` (for [`parse_flags`]); `false` for another flag.
    pub fn take(
        &mut self,
        flag: &str,
        value: &mut dyn FnMut() -> anyhow::Result<String>,
    ) -> anyhow::Result<bool> {
        match flag {
            "--acorn" => self.acorn = value()?.into(),
            "--dir" => self.dir = Some(value()?.into()),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The binary (which must exist) and the scratch directory for `tool` (not
    /// created here).
    pub fn finish(self, tool: &str) -> anyhow::Result<(std::path::PathBuf, std::path::PathBuf)> {
        anyhow::ensure!(
            self.acorn.exists(),
            "acorn binary not found at {}",
            self.acorn.display()
        );
        let dir = self.dir.unwrap_or_else(|| {
            std::env::temp_dir().join(format!("acorn-{tool}-{}", std::process::id()))
        });
        Ok((self.acorn, dir))
    }
}

/// Parses `--flag [value]` command-line arguments: `set(flag, value)` handles one
/// flag, calling `value()` to take the argument after it when it has one, and
/// returns `false` for a flag it does not know (an "unknown argument" error).
pub fn parse_flags(
    args: impl IntoIterator<Item = String>,
    mut set: impl FnMut(&str, &mut dyn FnMut() -> anyhow::Result<String>) -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| anyhow::anyhow!("{a} needs a value"))
        };
        if !set(&a, &mut value)? {
            anyhow::bail!("unknown argument {a}");
        }
    }
    Ok(())
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
