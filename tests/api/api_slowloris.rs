//! Slow clients cannot hold the API's connections: a request head must arrive
//! whole within `API.HeadDeadline`, a request body must not fall silent for longer
//! than `API.BodyIdleTimeout` (also after `Expect: 100-continue`), and when the
//! connections are nearly all taken, a new one closes the oldest connection that
//! still waits for a head from an address holding many, so the CLI gets in.

use crate::common;
use crate::rpc;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{err, init_repo, ok, run, Daemon};

/// The API's default `API.MaxConnections` (`DEFAULT_MAX_CONNECTIONS_COUNT`).
const MAX_CONNECTIONS_COUNT: usize = 64;

/// Writes `bytes` one at a time, `gap` apart, until the server closes the
/// connection or `give_up` has passed; returns how long the server kept it.
fn trickle(s: &mut TcpStream, bytes: &[u8], gap: Duration, give_up: Duration) -> Duration {
    let t = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    for b in bytes.iter().cycle() {
        if t.elapsed() > give_up {
            break;
        }
        if s.write_all(&[*b]).is_err() {
            return t.elapsed();
        }
        let mut buf = [0u8; 256];
        let until = Instant::now() + gap;
        while Instant::now() < until {
            match s.read(&mut buf) {
                Ok(0) => return t.elapsed(),
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return t.elapsed(),
            }
        }
    }
    panic!("the server still held a trickling connection after {give_up:?}");
}

/// Reads until the server closes `s` (within `limit`); returns what it sent.
fn read_to_close(s: &mut TcpStream, limit: Duration) -> String {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "server kept the connection past {limit:?} ({e}); got {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn a_trickled_head_is_closed_at_the_head_deadline() {
    let (_d, root) = init_repo();
    ok(&run(&root, &["config", "API.HeadDeadline", "3s"], None));
    let d = Daemon::start(&root);

    // One byte a second: each read is quick, the head never ends.
    let mut s = TcpStream::connect(("127.0.0.1", d.port)).unwrap();
    let kept = trickle(
        &mut s,
        b"POST /api/v0/version HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        Duration::from_secs(1),
        Duration::from_secs(12),
    );
    assert!(kept >= Duration::from_secs(2), "closed after {kept:?}");

    // The server still answers.
    let a = rpc::post(d.port, "/api/v0/version");
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
}

#[test]
fn a_stalled_upload_is_ended_and_its_slot_freed() {
    let (_d, root) = init_repo();
    ok(&run(&root, &["config", "API.BodyIdleTimeout", "2s"], None));
    ok(&run(
        &root,
        &["config", "--json", "API.MaxConcurrentRequests", "1"],
        None,
    ));
    let d = Daemon::start(&root);
    let port = d.port;
    let boundary = "slowboundary";
    let head_part = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    );

    // After `Expect: 100-continue`, nothing: the body falls silent at once.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST /api/v0/add HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 100000\r\n\r\n"
    )
    .unwrap();
    let t = Instant::now();
    let got = read_to_close(&mut s, Duration::from_secs(12));
    assert!(got.starts_with("HTTP/1.1 100 Continue"), "{got}");
    assert!(
        t.elapsed() >= Duration::from_secs(1),
        "after {:?}",
        t.elapsed()
    );

    // Mid-body: a part begins, then silence.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST /api/v0/add HTTP/1.1\r\nHost: x\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 100000\r\n\r\n\
         {head_part}some bytes"
    )
    .unwrap();
    read_to_close(&mut s, Duration::from_secs(12));

    // The only request slot is free again.
    let a = rpc::post(port, "/api/v0/version");
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
}

#[test]
fn slow_connections_from_one_address_leave_room_for_the_cli() {
    let (_d, root) = init_repo();
    let d = Daemon::start(&root);

    // As many slow heads from 127.0.0.1 as the server has connections.
    let mut slow = Vec::new();
    for _ in 0..MAX_CONNECTIONS_COUNT {
        let mut s = TcpStream::connect(("127.0.0.1", d.port)).unwrap();
        s.write_all(b"POST /api/v0/version HTTP/1.1\r\nX-Slow: a")
            .unwrap();
        slow.push(s);
    }
    // Let the server accept them all.
    std::thread::sleep(Duration::from_millis(500));

    let a = rpc::post(d.port, "/api/v0/version");
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let id = ok(&run(&root, &["id"], None));
    assert!(id.contains("\"ID\""), "{id}");
    drop(slow);
}

/// Opens `n` connections that send half a request head and wait.
fn half_heads(port: u16, n: usize) -> Vec<TcpStream> {
    let mut slow = Vec::new();
    for _ in 0..n {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"POST /api/v0/version HTTP/1.1\r\nX-Slow: a")
            .unwrap();
        slow.push(s);
    }
    // Let the server accept them all.
    std::thread::sleep(Duration::from_millis(500));
    slow
}

#[test]
fn the_connection_limits_are_config_keys() {
    let (_d, root) = init_repo();
    // Reserved first: it must stay below MaxConnections.
    let e = err(&run(
        &root,
        &["config", "--json", "API.MaxConnections", "6"],
        None,
    ));
    assert!(e.contains("API.ReservedConnections"), "{e}");
    ok(&run(
        &root,
        &["config", "--json", "API.ReservedConnections", "1"],
        None,
    ));
    ok(&run(
        &root,
        &["config", "--json", "API.MaxConnections", "6"],
        None,
    ));
    // No address holds enough to be made room from: a full server refuses.
    ok(&run(
        &root,
        &["config", "--json", "API.MaxConnectionsPerIP", "100"],
        None,
    ));
    let d = Daemon::start(&root);
    let slow = half_heads(d.port, 6);
    // The server answers 503 and closes before reading anything.
    let mut s = TcpStream::connect(("127.0.0.1", d.port)).unwrap();
    let got = read_to_close(&mut s, Duration::from_secs(10));
    assert!(got.starts_with("HTTP/1.1 503"), "{got}");
    drop(slow);
    let (stopped, _, stderr) = d.stop();
    assert!(stopped, "{stderr}");

    // With a low per-address limit, the waiting connections make room.
    ok(&run(
        &root,
        &["config", "--json", "API.MaxConnectionsPerIP", "2"],
        None,
    ));
    let d = Daemon::start(&root);
    let slow = half_heads(d.port, 6);
    let a = rpc::post(d.port, "/api/v0/version");
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    drop(slow);
}
