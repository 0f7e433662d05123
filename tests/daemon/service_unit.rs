//! The daemon under the shipped systemd unit's `RestrictAddressFamilies=`: a
//! seccomp filter built from `cross/acorn.service` refuses `socket()` for every
//! other address family with `EAFNOSUPPORT`, as systemd does, and the daemon must
//! still see the machine's interface addresses (glibc's `getifaddrs` asks the kernel
//! over an `AF_NETLINK` socket). Runs in a network namespace of its own
//! (`unshare(CLONE_NEWNET)` on a thread of this test, whose children live in it
//! too; needs root, as CI runs) with `10.78.0.1/24` added to `lo`.
//!
//! The filter is installed in the child between fork and exec, the one place this
//! test needs `unsafe`.

use crate::common;

use common::{init_repo, ok, run, Daemon};
use std::os::unix::process::CommandExt;
use std::path::Path;

/// Address families the unit allows, read from its `RestrictAddressFamilies=` line.
fn unit_address_families() -> Vec<libc::c_int> {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("cross/acorn.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    let mut lines = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("RestrictAddressFamilies="));
    let value = lines.next().expect("the unit restricts address families");
    assert!(lines.next().is_none(), "one RestrictAddressFamilies= line");
    assert!(!value.starts_with('~'), "an allow list, not a deny list");
    value
        .split_whitespace()
        .map(|name| match name {
            "AF_UNIX" => libc::AF_UNIX,
            "AF_INET" => libc::AF_INET,
            "AF_INET6" => libc::AF_INET6,
            "AF_NETLINK" => libc::AF_NETLINK,
            "AF_PACKET" => libc::AF_PACKET,
            other => panic!("address family {other} unknown to this test"),
        })
        .collect()
}

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;
#[cfg(target_arch = "arm")]
const AUDIT_ARCH: u32 = 0x4000_0028;

// Classic BPF opcodes (linux/filter.h) and the offsets in `struct seccomp_data`.
/// `BPF_LD | BPF_W | BPF_ABS` (0x00 | 0x00 | 0x20).
const BPF_LD_W_ABS: u16 = 0x20;
/// `BPF_JMP | BPF_JEQ | BPF_K` (0x05 | 0x10 | 0x00).
const BPF_JMP_JEQ_K: u16 = 0x15;
/// `BPF_RET | BPF_K` (0x06 | 0x00).
const BPF_RET_K: u16 = 0x06;
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;
/// Low 32 bits of `args[0]` (little-endian).
const DATA_ARG0: u32 = 16;

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jeq(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: BPF_JMP_JEQ_K,
        jt,
        jf,
        k,
    }
}

/// A seccomp program: `socket(family, ...)` with a family not in `allowed` fails
/// with `EAFNOSUPPORT`; every other system call is allowed.
fn socket_filter(allowed: &[libc::c_int]) -> Vec<libc::sock_filter> {
    let allow = libc::SECCOMP_RET_ALLOW;
    let refuse = libc::SECCOMP_RET_ERRNO | libc::EAFNOSUPPORT as u32;
    let mut p = vec![
        stmt(BPF_LD_W_ABS, DATA_ARCH),
        jeq(AUDIT_ARCH, 1, 0),
        stmt(BPF_RET_K, allow),
        stmt(BPF_LD_W_ABS, DATA_NR),
        jeq(libc::SYS_socket as u32, 1, 0),
        stmt(BPF_RET_K, allow),
        stmt(BPF_LD_W_ABS, DATA_ARG0),
    ];
    for &family in allowed {
        // Equal: skip the next test-and-return to `ret allow`.
        p.push(jeq(family as u32, 0, 1));
        p.push(stmt(BPF_RET_K, allow));
    }
    p.push(stmt(BPF_RET_K, refuse));
    p
}

fn ip(args: &[&str]) {
    let status = std::process::Command::new("ip")
        .args(args)
        .status()
        .expect("run ip");
    assert!(status.success(), "ip {args:?}");
}

#[test]
fn daemon_under_the_units_address_families_sees_interface_addresses() {
    std::thread::spawn(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare (root?)");
        ip(&["link", "set", "lo", "up"]);
        ip(&["addr", "add", "10.78.0.1/24", "dev", "lo"]);
        scenario();
    })
    .join()
    .expect("scenario");
}

// The one `unsafe` of the node's tests: the seccomp filter is installed with
// `pre_exec` (see the SAFETY comment on the block).
#[allow(unsafe_code)]
fn scenario() {
    let (_dir, root) = init_repo();
    ok(&run(
        &root,
        &[
            "config",
            "--json",
            "Addresses.Swarm",
            r#"["/ip4/0.0.0.0/tcp/0"]"#,
        ],
        None,
    ));
    let program = socket_filter(&unit_address_families());
    let daemon = Daemon::start_with(&root, move |cmd| {
        // SAFETY: the hook runs in the forked child before exec, allocates nothing
        // and calls only prctl(2), which is async-signal-safe; `program` is owned by
        // the hook, so it outlives both calls.
        unsafe {
            cmd.pre_exec(move || {
                let prog = libc::sock_fprog {
                    len: program.len() as u16,
                    filter: program.as_ptr() as *mut libc::sock_filter,
                };
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                    || libc::prctl(
                        libc::PR_SET_SECCOMP,
                        libc::SECCOMP_MODE_FILTER,
                        &prog as *const libc::sock_fprog,
                    ) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    let addrs = ok(&run(&root, &["swarm", "addrs", "local"], None));
    assert!(
        addrs.lines().any(|a| a.starts_with("/ip4/10.78.0.1/tcp/")),
        "the daemon lists 10.78.0.1 among {addrs:?}"
    );
    let (clean, _, stderr) = daemon.stop();
    assert!(clean, "{stderr}");
}
