//! RPC `ping` streams each line as it happens: with the peer frozen (SIGSTOP),
//! Kubo's header lines arrive while the round trip is still waiting.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{init_repo, ok, run, Daemon};

fn signal(pid: u32, sig: &str) {
    let st = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn ping_lines_stream_as_they_happen() {
    let (_a_dir, a) = init_repo();
    let (_b_dir, b) = init_repo();
    let da = Daemon::start(&a);
    let db = Daemon::start(&b);
    let b_addr = crate::common::dial_addr(&b);
    let b_id = b_addr.rsplit('/').next().unwrap().to_string();
    ok(&run(&a, &["swarm", "connect", &b_addr], None));

    // Frozen, b answers nothing: the round trip waits for PING_TIMEOUT (10 s).
    signal(db.pid(), "-STOP");
    let mut s = TcpStream::connect(("127.0.0.1", da.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "POST /api/v0/ping?arg={b_id}&count=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains(&format!("PING {b_id}.")) {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got).to_string();
    signal(db.pid(), "-CONT");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        !text.contains("\"Success\":false"),
        "the header lines came before the round trip ended: {text}"
    );
    // Then the round trip's own line (a pong once b runs again, or the timeout).
    while !String::from_utf8_lossy(&got).contains("\"Time\":") || {
        let t = String::from_utf8_lossy(&got);
        !(t.contains("\"Success\":false") || t.contains("Average latency"))
    } {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.contains("\"Success\":false") || text.contains("Average latency"),
        "{text}"
    );
}
