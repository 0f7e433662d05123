//! The daemon speaks systemd's notify protocol (`Type=notify` in cross/acorn.service):
//! READY=1 once the API and swarm listen, WATCHDOG=1 at half of `WATCHDOG_USEC`, and
//! STOPPING=1 when a SIGTERM starts the shutdown.

use crate::common;

use common::{init_repo, Daemon};
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

fn recv(sock: &UnixDatagram) -> String {
    let mut buf = [0u8; 256];
    let n = sock
        .recv(&mut buf)
        .expect("a notification within the timeout");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn ready_watchdog_and_stopping_reach_the_notify_socket() {
    let (d, root) = init_repo();
    let path = d.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let daemon = Daemon::start_with_env(
        &root,
        &[
            ("NOTIFY_SOCKET", path.to_str().unwrap()),
            ("WATCHDOG_USEC", "400000"),
        ],
    );
    let first = recv(&sock);
    assert!(first.contains("READY=1"), "{first}");
    // Two watchdog pings come within about 400 ms.
    for _ in 0..2 {
        let m = recv(&sock);
        assert!(m.contains("WATCHDOG=1"), "{m}");
    }
    let (ok, _, err) = daemon.stop();
    assert!(ok, "{err}");
    let mut stopping = false;
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 256];
    while let Ok(n) = sock.recv(&mut buf) {
        if String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1") {
            stopping = true;
        }
    }
    assert!(stopping, "STOPPING=1 on SIGTERM");
}
