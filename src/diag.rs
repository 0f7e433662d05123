//! Kubo's `diag sys`: the node's machine, as JSON with Kubo's fields.
//!
//! **What.** [`sys`] reports the file system of the repo (`diskinfo`), the
//! environment, memory, network interfaces and the runtime of the process that
//! calls it: the daemon for RPC `diag/sys` (and the CLI while a daemon runs), the
//! CLI process itself offline.
//!
//! **Spec.** Kubo `core/commands/sysdiag.go`: `diskinfo {free_space, fstype,
//! total_space}`, `environment {GOPATH, IPFS_PATH}`, `ipfs_commit`,
//! `ipfs_version`, `memory {swap, virt}`, `net {interface_addresses, online}`,
//! `runtime {arch, compiler, gomaxprocs, numcpu, numgoroutines, os, version}`.
//!
//! **Departures.** `memory` is the process's `VmSize` and `VmSwap` in bytes;
//! `runtime` names Rust where Kubo names Go (`compiler: "rustc"`,
//! `numgoroutines`: OS threads); `environment` adds `ACORN_PATH` (the repo).

use std::path::Path;

use serde_json::{json, Value};

/// Go's name for this architecture (Kubo reports `runtime.GOARCH`).
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// `VmSize` / `VmSwap` of this process, in bytes (0 when unknown).
fn proc_status_bytes(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// `diag sys` of this process for the repo at `root`; `online`: whether the
/// node's network runs.
pub fn sys(root: &Path, online: bool) -> anyhow::Result<Value> {
    // The repo's file system (its parent until the repo exists).
    let at = root
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(std::path::Path::new("/"));
    let fs = nix::sys::statvfs::statvfs(at)
        .map_err(|e| anyhow::anyhow!("statvfs {}: {e}", at.display()))?;
    let fstype = nix::sys::statfs::statfs(at)
        .map(|s| format!("{}", s.filesystem_type().0))
        .unwrap_or_default();
    let frag = fs.fragment_size() as u64;
    let mut addrs: Vec<String> = Vec::new();
    if let Ok(ifs) = nix::ifaddrs::getifaddrs() {
        for i in ifs {
            let Some(a) = i.address else { continue };
            if let Some(v4) = a.as_sockaddr_in() {
                addrs.push(format!("/ip4/{}", v4.ip()));
            } else if let Some(v6) = a.as_sockaddr_in6() {
                addrs.push(format!("/ip6/{}", v6.ip()));
            }
        }
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = std::fs::read_dir("/proc/self/task").map_or(1, |d| d.count());
    let v = json!({
        "diskinfo": {
            "free_space": fs.blocks_available() as u64 * frag,
            "fstype": fstype,
            "total_space": fs.blocks() as u64 * frag,
        },
        "environment": {
            "GOPATH": "",
            "IPFS_PATH": std::env::var("IPFS_PATH").unwrap_or_default(),
            "ACORN_PATH": root.display().to_string(),
        },
        "ipfs_commit": "",
        "ipfs_version": env!("CARGO_PKG_VERSION"),
        "memory": {
            "swap": proc_status_bytes("VmSwap"),
            "virt": proc_status_bytes("VmSize"),
        },
        "net": {
            "interface_addresses": addrs,
            "online": online,
        },
        "runtime": {
            "arch": go_arch(),
            "compiler": "rustc",
            "gomaxprocs": cpus,
            "numcpu": cpus,
            "numgoroutines": threads,
            "os": std::env::consts::OS,
            "version": "",
        },
    });
    Ok(v)
}
