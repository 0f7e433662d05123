//! A TUN device created inside a network namespace: the emulated link's two ends.
//!
//! [`open_in_netns`] enters the namespace on a short-lived thread (setns affects
//! only the calling thread), opens `/dev/net/tun` and asks for a device with
//! `TUNSETIFF`; the kernel puts the device in the namespace of the thread that asks,
//! so it never appears in the machine's own namespace. The file descriptor works
//! from any thread afterwards, and the device goes away when it is closed (it is
//! not persistent), so a link process that dies takes its devices with it.

use std::fs::File;
use std::os::fd::AsRawFd;

/// Opens TUN device `dev` (at most 15 bytes) in network namespace `netns` (a name
/// under `/run/netns`), without packet-information headers: each read returns one
/// IP packet, each write sends one. The descriptor is non-blocking.
pub fn open_in_netns(netns: &str, dev: &str) -> anyhow::Result<File> {
    anyhow::ensure!(
        !dev.is_empty() && dev.len() < libc::IFNAMSIZ && !dev.contains(['/', ' ']),
        "bad TUN device name {dev:?} (1 to 15 bytes, no '/' or space)"
    );
    let path = format!("/run/netns/{netns}");
    let ns = File::open(&path).map_err(|e| anyhow::anyhow!("network namespace {path}: {e}"))?;
    let dev = dev.to_string();
    std::thread::spawn(move || -> anyhow::Result<File> {
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| anyhow::anyhow!("setns into {path}: {e} (needs root)"))?;
        open_here(&dev)
    })
    .join()
    .map_err(|_| anyhow::anyhow!("TUN thread panicked"))?
}

/// `struct ifreq` as TUNSETIFF reads it: the name, then the flags (a `short`), the
/// rest of the 40-byte union unused.
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

fn open_here(dev: &str) -> anyhow::Result<File> {
    let f = File::options()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .map_err(|e| anyhow::anyhow!("/dev/net/tun: {e} (needs the tun driver and root)"))?;
    let mut req = IfReq {
        name: [0; libc::IFNAMSIZ],
        flags: (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short,
        _pad: [0; 22],
    };
    req.name[..dev.len()].copy_from_slice(dev.as_bytes());
    // SAFETY: TUNSETIFF reads a `struct ifreq` (40 bytes on Linux, laid out as
    // `IfReq`) through the pointer, which points at a live, initialised value for
    // the whole call; the descriptor is open.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::ioctl(f.as_raw_fd(), libc::TUNSETIFF, &mut req as *mut IfReq) };
    if rc < 0 {
        anyhow::bail!(
            "TUNSETIFF {dev}: {} (is the name taken in that namespace?)",
            std::io::Error::last_os_error()
        );
    }
    let flags = nix::fcntl::fcntl(&f, nix::fcntl::FcntlArg::F_GETFL)?;
    let flags = nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(&f, nix::fcntl::FcntlArg::F_SETFL(flags))?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ifreq_is_the_kernels_size() {
        assert_eq!(std::mem::size_of::<super::IfReq>(), 40);
    }

    #[test]
    fn bad_names_are_refused_before_any_syscall() {
        let e = super::open_in_netns("nowhere", "a/b")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad TUN device name"), "{e}");
        let e = super::open_in_netns("nowhere", "sixteen-bytes-xx")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad TUN device name"), "{e}");
    }
}
