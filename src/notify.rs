//! systemd service notifications (`sd_notify`): READY=1, WATCHDOG=1, STOPPING=1.
//!
//! **What.** A [`Notifier`] sends the daemon's state to the service manager when
//! the unit is `Type=notify` (`cross/acorn.service`), and does nothing at all when
//! `$NOTIFY_SOCKET` is unset (a daemon started by hand, tests, other init systems).
//!
//! **Spec.** `sd_notify(3)` / `systemd.service(5)`: one datagram per message on the
//! `AF_UNIX` `SOCK_DGRAM` socket named by `$NOTIFY_SOCKET`, which is either an
//! absolute path or, with a leading `@`, a Linux abstract socket name. Messages are
//! newline-separated `KEY=VALUE` assignments. The watchdog interval comes from
//! `$WATCHDOG_USEC` (microseconds), meant for us only when `$WATCHDOG_PID` is unset
//! or equals our PID; systemd asks for a ping at least every half of it.
//!
//! **Flow.** [`Notifier::from_env`] once at daemon start; [`Notifier::ready`] when
//! the API and swarm listen; [`Notifier::watchdog`] every
//! [`Notifier::watchdog_interval`] / 2 from the event loop (so a stuck loop gets the
//! unit restarted); [`Notifier::stopping`] when shutdown begins.
//!
//! **Limits.** Messages are a few bytes; the socket is non-blocking, so a full
//! receive queue drops the message (`WouldBlock` is returned, and the helpers log it
//! at debug level) instead of stalling the single executor thread.
//!
//! **Departures.** No `vsock:` addresses (systemd 253+, VMs only): such a
//! `$NOTIFY_SOCKET` disables notifications with a warning. No file-descriptor store,
//! no `MAINPID=`, no `EXTEND_TIMEOUT_USEC=`. The environment is not unset, so a
//! child process could notify too; the daemon starts none, and the unit's
//! `NotifyAccess=main` ignores them anyway.

use std::ffi::OsStr;
use std::io;
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// Environment variable naming the service manager's socket.
pub const NOTIFY_SOCKET_ENV: &str = "NOTIFY_SOCKET";
/// Environment variable with the watchdog timeout in microseconds.
pub const WATCHDOG_USEC_ENV: &str = "WATCHDOG_USEC";
/// Environment variable with the PID the watchdog timeout is meant for.
pub const WATCHDOG_PID_ENV: &str = "WATCHDOG_PID";

/// Errors setting up notifications.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// `$NOTIFY_SOCKET` is neither an absolute path nor `@name`.
    #[error("unsupported $NOTIFY_SOCKET address {0:?} (want /path or @abstract)")]
    Address(String),
    /// Creating the socket failed.
    #[error("cannot create the notification socket: {0}")]
    Socket(#[source] io::Error),
}

/// Sends state changes to systemd; a no-op when not run as a notify service.
#[derive(Debug)]
pub struct Notifier {
    /// `None` when `$NOTIFY_SOCKET` was unset or empty.
    target: Option<(UnixDatagram, SocketAddr)>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// A notifier that never sends.
    pub fn disabled() -> Notifier {
        Notifier {
            target: None,
            watchdog: None,
        }
    }

    /// Reads `$NOTIFY_SOCKET`, `$WATCHDOG_USEC` and `$WATCHDOG_PID`. A bad address
    /// is logged and gives a disabled notifier: the daemon still runs (and systemd
    /// will time out its start, which says more than a refusal to start).
    pub fn from_env() -> Notifier {
        let socket = std::env::var_os(NOTIFY_SOCKET_ENV);
        let usec = std::env::var(WATCHDOG_USEC_ENV).ok();
        let pid = std::env::var(WATCHDOG_PID_ENV).ok();
        match Notifier::from_vars(
            socket.as_deref(),
            usec.as_deref(),
            pid.as_deref(),
            std::process::id(),
        ) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("systemd notifications off: {e}");
                Notifier::disabled()
            }
        }
    }

    /// [`Notifier::from_env`] with the values passed in (for tests).
    pub fn from_vars(
        socket: Option<&OsStr>,
        watchdog_usec: Option<&str>,
        watchdog_pid: Option<&str>,
        my_pid: u32,
    ) -> Result<Notifier, NotifyError> {
        let Some(socket) = socket.filter(|s| !s.is_empty()) else {
            return Ok(Notifier::disabled());
        };
        let bytes = socket.as_bytes();
        let addr = match bytes.first() {
            Some(b'@') => SocketAddr::from_abstract_name(&bytes[1..]),
            Some(b'/') => SocketAddr::from_pathname(socket),
            _ => return Err(NotifyError::Address(socket.to_string_lossy().into_owned())),
        }
        .map_err(|_| NotifyError::Address(socket.to_string_lossy().into_owned()))?;
        let sock = UnixDatagram::unbound().map_err(NotifyError::Socket)?;
        sock.set_nonblocking(true).map_err(NotifyError::Socket)?;
        let for_us = match watchdog_pid {
            None => true,
            Some(p) => p.trim().parse::<u32>().ok() == Some(my_pid),
        };
        let watchdog = watchdog_usec
            .and_then(|u| u.trim().parse::<u64>().ok())
            .filter(|&u| u > 0 && for_us)
            .map(Duration::from_micros);
        Ok(Notifier {
            target: Some((sock, addr)),
            watchdog,
        })
    }

    /// Whether messages go anywhere.
    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// The watchdog timeout systemd set (`WatchdogSec=`); ping at least every half
    /// of it. `None` when there is no watchdog (or no systemd).
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.target.as_ref().and(self.watchdog)
    }

    /// Sends one message (`"READY=1"`, `"STATUS=..."`; several lines allowed).
    /// `Ok` without sending when disabled.
    pub fn send(&self, state: &str) -> io::Result<()> {
        let Some((sock, addr)) = &self.target else {
            return Ok(());
        };
        let sent = sock.send_to_addr(state.as_bytes(), addr)?;
        if sent != state.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "short write on the notification socket",
            ));
        }
        Ok(())
    }

    /// The service is up (`READY=1`): systemd starts units ordered after it.
    pub fn ready(&self) {
        self.send_logged("READY=1");
    }

    /// Keep-alive (`WATCHDOG=1`).
    pub fn watchdog(&self) {
        self.send_logged("WATCHDOG=1");
    }

    /// Shutdown has begun (`STOPPING=1`).
    pub fn stopping(&self) {
        self.send_logged("STOPPING=1");
    }

    fn send_logged(&self, state: &str) {
        if let Err(e) = self.send(state) {
            tracing::debug!("sd_notify {state}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recv(sock: &UnixDatagram) -> String {
        let mut buf = [0u8; 256];
        let n = sock.recv(&mut buf).expect("a datagram");
        String::from_utf8(buf[..n].to_vec()).expect("utf-8")
    }

    #[test]
    fn path_socket_gets_ready_watchdog_stopping() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let n = Notifier::from_vars(Some(path.as_os_str()), Some("30000000"), None, 1).unwrap();
        assert!(n.is_enabled());
        assert_eq!(n.watchdog_interval(), Some(Duration::from_secs(30)));
        n.ready();
        n.watchdog();
        n.stopping();
        n.send("STATUS=serving\nWATCHDOG=1").unwrap();
        assert_eq!(recv(&server), "READY=1");
        assert_eq!(recv(&server), "WATCHDOG=1");
        assert_eq!(recv(&server), "STOPPING=1");
        assert_eq!(recv(&server), "STATUS=serving\nWATCHDOG=1");
    }

    #[test]
    fn abstract_socket_with_at_sign() {
        let name = format!("acorn-notify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let env = format!("@{name}");
        let n = Notifier::from_vars(Some(OsStr::new(&env)), None, None, 1).unwrap();
        assert_eq!(n.watchdog_interval(), None);
        n.ready();
        assert_eq!(recv(&server), "READY=1");
    }

    #[test]
    fn unset_or_empty_is_a_no_op() {
        for socket in [None, Some(OsStr::new(""))] {
            let n = Notifier::from_vars(socket, Some("30000000"), None, 1).unwrap();
            assert!(!n.is_enabled());
            assert_eq!(n.watchdog_interval(), None);
            n.send("READY=1").unwrap();
        }
    }

    #[test]
    fn missing_listener_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nobody-here");
        let n = Notifier::from_vars(Some(path.as_os_str()), None, None, 1).unwrap();
        assert!(n.send("READY=1").is_err());
        n.ready(); // logged, not fatal
    }

    #[test]
    fn relative_or_vsock_address_is_refused() {
        for bad in ["relative/sock", "vsock:2:1234"] {
            let err = Notifier::from_vars(Some(OsStr::new(bad)), None, None, 1).unwrap_err();
            assert!(matches!(err, NotifyError::Address(_)), "{bad}: {err}");
        }
    }

    #[test]
    fn watchdog_pid_must_be_ours() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n");
        let _server = UnixDatagram::bind(&path).unwrap();
        let sock = Some(path.as_os_str());
        let ours = Notifier::from_vars(sock, Some("5000000"), Some("42"), 42).unwrap();
        assert_eq!(ours.watchdog_interval(), Some(Duration::from_secs(5)));
        let other = Notifier::from_vars(sock, Some("5000000"), Some("43"), 42).unwrap();
        assert_eq!(other.watchdog_interval(), None);
        let zero = Notifier::from_vars(sock, Some("0"), None, 42).unwrap();
        assert_eq!(zero.watchdog_interval(), None);
    }
}
