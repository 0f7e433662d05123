//! Network namespaces the testnet makes, named so that a later run can find and
//! remove what a killed run left.
//!
//! Every name starts with [`PREFIX`], then the id of the process that made it and
//! a counter (`atn1234x0-inet`): [`remove_stale`] deletes the namespaces whose
//! maker is gone, killing what still runs inside them, and leaves other live runs
//! alone. A [`Netns`] deletes itself on drop; [`destroy_prefix`] deletes every
//! namespace of one run (the guard process calls it when its run dies).

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// The start of every namespace name the testnet makes.
pub const PREFIX: &str = "atn";

/// Where `ip netns` keeps its names.
pub const NETNS_DIR: &str = "/run/netns";

/// What this machine lacks for a testnet, named; `nat` also asks for `nft`.
pub fn require(nat: bool) -> anyhow::Result<()> {
    let mut missing = Vec::new();
    if !nix::unistd::geteuid().is_root() {
        missing.push("root (network namespaces and TUN devices need CAP_NET_ADMIN and CAP_SYS_ADMIN: run as root)".to_string());
    }
    if !Path::new("/dev/net/tun").exists() {
        missing.push("/dev/net/tun (the kernel's tun driver)".to_string());
    }
    match Command::new("ip").args(["netns", "list"]).output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => missing.push(format!(
            "`ip netns` (iproute2 with namespace support): {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => missing.push(format!("the `ip` command (Debian package iproute2): {e}")),
    }
    if nat {
        match Command::new("nft").arg("--version").output() {
            Ok(o) if o.status.success() => {}
            _ => missing.push("the `nft` command for NAT routers (Debian package nftables)".into()),
        }
    }
    anyhow::ensure!(
        missing.is_empty(),
        "the testnet cannot run here; missing: {}",
        missing.join("; ")
    );
    Ok(())
}

/// A fresh run prefix: `atn<pid>x<n>`.
pub fn run_prefix() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{PREFIX}{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `ip args…`; fails with its stderr.
pub fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| anyhow::anyhow!("ip {}: {e}", args.join(" ")))?;
    anyhow::ensure!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// Namespace names under [`NETNS_DIR`] that start with `prefix`.
pub fn list(prefix: &str) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(NETNS_DIR) else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect();
    v.sort();
    v
}

/// Kills (SIGKILL) every process in namespace `name`, then deletes the name.
pub fn destroy(name: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", name]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            if let Ok(pid) = pid.parse::<i32>() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
    let _ = Command::new("ip")
        .args(["netns", "delete", name])
        .stderr(Stdio::null())
        .status();
}

/// Deletes every namespace whose name starts with `prefix`.
pub fn destroy_prefix(prefix: &str) {
    for n in list(prefix) {
        destroy(&n);
    }
}

/// Deletes the namespaces of runs whose process is gone; returns their names.
pub fn remove_stale() -> Vec<String> {
    let mut gone = Vec::new();
    for n in list(PREFIX) {
        let pid: String = n[PREFIX.len()..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        let alive = !pid.is_empty() && Path::new(&format!("/proc/{pid}")).exists();
        if !alive {
            destroy(&n);
            gone.push(n);
        }
    }
    gone
}

/// A network namespace, deleted (with everything running in it) on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// `ip netns add name`, loopback up.
    pub fn create(name: &str) -> anyhow::Result<Netns> {
        ip(&["netns", "add", name])?;
        let ns = Netns {
            name: name.to_string(),
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n <name> args…`.
    pub fn ip(&self, args: &[&str]) -> anyhow::Result<()> {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// A command that runs `program` inside the namespace (`ip netns exec`, which
    /// execs it: the child's pid is the program's).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// Runs `f` on a thread that has entered the namespace: sockets it opens stay
    /// in the namespace after it returns.
    pub fn run_in<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> anyhow::Result<R> + Send + 'static,
    ) -> anyhow::Result<R> {
        enter_and_run(&self.name, f)
    }

    /// Writes a sysctl of the namespace (`net.ipv4.ip_forward` → `1`).
    pub fn sysctl(&self, key: &str, value: &str) -> anyhow::Result<()> {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        let value = value.to_string();
        self.run_in(move || {
            std::fs::write(&path, value).map_err(|e| anyhow::anyhow!("{path}: {e}"))
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        destroy(&self.name);
    }
}

/// Runs `f` on a fresh thread inside namespace `name`.
pub fn enter_and_run<R: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> anyhow::Result<R> + Send + 'static,
) -> anyhow::Result<R> {
    let path = format!("{NETNS_DIR}/{name}");
    let ns = File::open(&path).map_err(|e| anyhow::anyhow!("network namespace {path}: {e}"))?;
    std::thread::spawn(move || {
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| anyhow::anyhow!("setns into {path}: {e}"))?;
        f()
    })
    .join()
    .map_err(|_| anyhow::anyhow!("thread in namespace {name} panicked"))?
}
