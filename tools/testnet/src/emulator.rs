//! The link process: two TUN devices, one in each namespace the link joins, and a
//! [`Pipe`] per direction between them ([`run`]); and [`LinkProcess`], the
//! runner's handle on one.
//!
//! Control is one line per command on the process's stdin: `a2b CONDITIONS`,
//! `b2a CONDITIONS`, `both CONDITIONS` (the [`Conditions::parse`] form) set a
//! direction from now on and answer `ok` (or `error: …`); `stats` answers one JSON
//! line of both directions' [`Counters`]. When stdin closes (the runner is gone,
//! however it died) the process exits and its devices vanish with it.
//!
//! The loop is single-threaded: `ppoll` on both devices and stdin until the next
//! packet is due, read what arrived (at most [`READ_BURST`] packets per device per
//! turn, so one side cannot starve the other), write what is due. A write the
//! device refuses (its queue full) drops the packet, as a wire would.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use crate::link::{Conditions, Counters, Pipe};

/// Packets read from one device per turn of the loop.
pub const READ_BURST: usize = 64;
/// Largest packet read from a TUN device (its MTU is 1500; this leaves room).
pub const MAX_PACKET_BYTES: usize = 65_535;

/// One end: the namespace and the device name in it.
#[derive(Clone, Debug)]
pub struct End {
    pub netns: String,
    pub dev: String,
}

impl std::str::FromStr for End {
    type Err = anyhow::Error;
    /// `NETNS:DEV`.
    fn from_str(s: &str) -> anyhow::Result<End> {
        let (netns, dev) = s
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("{s:?} is not NETNS:DEV"))?;
        Ok(End {
            netns: netns.into(),
            dev: dev.into(),
        })
    }
}

/// The link process's whole life: open both devices, say `ready`, move packets
/// until stdin closes.
pub fn run(a: &End, b: &End, seed: u64, a2b: Conditions, b2a: Conditions) -> anyhow::Result<()> {
    let mut dev_a = crate::tun::open_in_netns(&a.netns, &a.dev)?;
    let mut dev_b = crate::tun::open_in_netns(&b.netns, &b.dev)?;
    // Each direction its own stream, both fixed by the seed.
    let mut ab = Pipe::new(a2b, seed.wrapping_mul(2).wrapping_add(1));
    let mut ba = Pipe::new(b2a, seed.wrapping_mul(2).wrapping_add(2));
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()?;
    let stdin = std::io::stdin();
    let mut control = Vec::<u8>::new();
    let mut buf = vec![0u8; MAX_PACKET_BYTES];
    let mut write_drops = 0u64;
    loop {
        let now = Instant::now();
        let next = [ab.poll_timeout(), ba.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let timeout = next.map(|t| {
            let d = t.saturating_duration_since(now);
            nix::sys::time::TimeSpec::from_duration(d)
        });
        let (ra, rb, rc) = {
            let mut fds = [
                nix::poll::PollFd::new(dev_a.as_fd(), nix::poll::PollFlags::POLLIN),
                nix::poll::PollFd::new(dev_b.as_fd(), nix::poll::PollFlags::POLLIN),
                nix::poll::PollFd::new(stdin.as_fd(), nix::poll::PollFlags::POLLIN),
            ];
            match nix::poll::ppoll(&mut fds, timeout, None) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
            let ready = |f: &nix::poll::PollFd| f.revents().is_some_and(|r| !r.is_empty());
            (ready(&fds[0]), ready(&fds[1]), ready(&fds[2]))
        };
        let now = Instant::now();
        if ra {
            read_burst(&mut dev_a, &mut buf, |p| {
                ab.on_packet(now, p);
            })?;
        }
        if rb {
            read_burst(&mut dev_b, &mut buf, |p| {
                ba.on_packet(now, p);
            })?;
        }
        if rc {
            let n = nix::unistd::read(&stdin, &mut buf)?;
            if n == 0 {
                return Ok(());
            }
            control.extend_from_slice(&buf[..n]);
            while let Some(i) = control.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = control.drain(..=i).collect();
                let answer = command(
                    &String::from_utf8_lossy(&line),
                    &mut ab,
                    &mut ba,
                    write_drops,
                );
                writeln!(out, "{answer}")?;
                out.flush()?;
            }
            anyhow::ensure!(control.len() < 4096, "control line too long");
        }
        let now = Instant::now();
        while let Some(p) = ab.poll_transmit(now) {
            write_drops += write_packet(&mut dev_b, &p)?;
        }
        while let Some(p) = ba.poll_transmit(now) {
            write_drops += write_packet(&mut dev_a, &p)?;
        }
    }
}

fn command(line: &str, ab: &mut Pipe, ba: &mut Pipe, device_drops: u64) -> String {
    let line = line.trim();
    let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
    let set = |pipes: &mut [&mut Pipe]| match Conditions::parse(rest) {
        Ok(c) => {
            for p in pipes {
                p.set_conditions(c);
            }
            "ok".to_string()
        }
        Err(e) => format!("error: {e}"),
    };
    match verb {
        "a2b" => set(&mut [ab]),
        "b2a" => set(&mut [ba]),
        "both" => set(&mut [ab, ba]),
        "stats" => serde_json::json!({
            "a2b": ab.counters(),
            "b2a": ba.counters(),
            "device_drops": device_drops,
        })
        .to_string(),
        _ => format!("error: unknown command {verb:?} (a2b, b2a, both, stats)"),
    }
}

fn read_burst(dev: &mut File, buf: &mut [u8], mut each: impl FnMut(Vec<u8>)) -> anyhow::Result<()> {
    for _ in 0..READ_BURST {
        match dev.read(buf) {
            Ok(0) => break,
            Ok(n) => each(buf[..n].to_vec()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Writes one packet; 1 when the device refused it (dropped), else 0.
fn write_packet(dev: &mut File, p: &[u8]) -> anyhow::Result<u64> {
    match dev.write(p) {
        Ok(_) => Ok(0),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(1),
        // A packet the namespace cannot route (e.g. its interface went down) is lost.
        Err(e) if e.raw_os_error() == Some(libc::EIO) || e.raw_os_error() == Some(libc::EINVAL) => {
            Ok(1)
        }
        Err(e) => Err(e.into()),
    }
}

/// Both directions' counters, as `stats` answers, and the packets a device refused.
#[derive(Debug, Clone, Copy, serde::Deserialize, Default)]
pub struct LinkStats {
    pub a2b: Counters,
    pub b2a: Counters,
    pub device_drops: u64,
}

/// A running link process, ended (its stdin closed, then killed) on drop.
pub struct LinkProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl LinkProcess {
    /// Starts `bin` (the `testnet-link` binary) between `a` and `b` and waits until
    /// both devices exist. The devices are down and have no address: the caller
    /// sets them up with `ip`.
    pub fn spawn(
        bin: &std::path::Path,
        a: &End,
        b: &End,
        seed: u64,
        a2b: Conditions,
        b2a: Conditions,
    ) -> anyhow::Result<LinkProcess> {
        let mut child = Command::new(bin)
            .arg("--a")
            .arg(format!("{}:{}", a.netns, a.dev))
            .arg("--b")
            .arg(format!("{}:{}", b.netns, b.dev))
            .args(["--seed", &seed.to_string()])
            .args(["--a2b", &a2b.to_string(), "--b2a", &b2a.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| anyhow::anyhow!("{}: {e}", bin.display()))?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut lp = LinkProcess {
            child,
            stdin,
            stdout,
        };
        let line = lp.read_line()?;
        if line.trim() != "ready" {
            let mut err = String::new();
            if let Some(mut e) = lp.child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            anyhow::bail!(
                "link {}:{} – {}:{} did not start: {}{}",
                a.netns,
                a.dev,
                b.netns,
                b.dev,
                line.trim(),
                err.trim()
            );
        }
        Ok(lp)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// One line of the process's answer; empty when it exited. The process answers
    /// each command from its loop at once, so this waits at most one loop turn
    /// (or until the process dies).
    fn read_line(&mut self) -> anyhow::Result<String> {
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        Ok(line)
    }

    fn ask(&mut self, line: &str) -> anyhow::Result<String> {
        writeln!(self.stdin, "{line}")?;
        self.stdin.flush()?;
        let answer = self.read_line()?;
        anyhow::ensure!(!answer.is_empty(), "link process exited");
        anyhow::ensure!(!answer.starts_with("error"), "link: {}", answer.trim());
        Ok(answer)
    }

    /// Sets `a2b`, `b2a` or `both` directions to `cond` from now on.
    pub fn set(&mut self, dir: &str, cond: Conditions) -> anyhow::Result<()> {
        self.ask(&format!("{dir} {cond}")).map(|_| ())
    }

    pub fn stats(&mut self) -> anyhow::Result<LinkStats> {
        Ok(serde_json::from_str(&self.ask("stats")?)?)
    }
}

impl Drop for LinkProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_commands_set_directions_and_refuse_bad_lines() {
        let mut ab = Pipe::new(Conditions::default(), 1);
        let mut ba = Pipe::new(Conditions::default(), 2);
        assert_eq!(command("a2b delay=10ms\n", &mut ab, &mut ba, 0), "ok");
        assert_eq!(ab.conditions().delay, std::time::Duration::from_millis(10));
        assert_eq!(ba.conditions(), Conditions::default());
        assert_eq!(command("both loss=100%", &mut ab, &mut ba, 0), "ok");
        assert_eq!(
            (ab.conditions().loss_ppm, ba.conditions().loss_ppm),
            (1_000_000, 1_000_000)
        );
        // Setting a direction replaces all of it: the delay set above is gone.
        assert_eq!(ab.conditions().delay, std::time::Duration::ZERO);
        let bad = command("b2a rate=fast", &mut ab, &mut ba, 0);
        assert!(bad.starts_with("error: rate \"fast\""), "{bad}");
        assert_eq!(
            ba.conditions().loss_ppm,
            1_000_000,
            "a bad line changes nothing"
        );
        assert!(command("reboot", &mut ab, &mut ba, 0).starts_with("error: unknown command"));
        let stats: LinkStats =
            serde_json::from_str(&command("stats", &mut ab, &mut ba, 7)).unwrap();
        assert_eq!(stats.device_drops, 7);
    }

    #[test]
    fn ends_read_as_netns_colon_dev() {
        let e: End = "atn1x0-internet:m1".parse().unwrap();
        assert_eq!(
            (e.netns.as_str(), e.dev.as_str()),
            ("atn1x0-internet", "m1")
        );
        assert!("no-colon".parse::<End>().is_err());
    }
}
