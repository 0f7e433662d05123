//! Request slots (`API.MaxConcurrentRequests`, `Gateway.MaxConcurrentRequests`):
//! with the limit at 1, a request past it waits for the running one to end and is
//! then served; a request that finds no slot within `SLOT_WAIT` (5 s) gets 503.
//! Holders are deterministic: an `add` whose body is never finished (its first
//! progress line proves it runs), and a gateway GET of a block no peer has (our
//! wantlist proves it runs).

use crate::common;
use crate::rpc;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{init_repo, ok, run, Daemon};

/// The API's `SLOT_WAIT`.
const SLOT_WAIT: Duration = Duration::from_secs(5);

/// Polls `f` until it holds (20 s).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads from `s` until `needle` has arrived; returns what was read.
fn read_until(s: &mut TcpStream, needle: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(needle.len()).any(|w| w == needle) {
        let n = s.read(&mut buf).expect("read");
        assert!(
            n > 0,
            "closed before {:?}: {:?}",
            needle,
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    got
}

#[test]
fn requests_wait_for_a_slot_then_get_503() {
    let (_d, root) = init_repo();
    for key in ["API.MaxConcurrentRequests", "Gateway.MaxConcurrentRequests"] {
        ok(&run(&root, &["config", "--json", key, "1"], None));
    }
    let d = Daemon::start(&root);
    let port = d.port;

    // The holder: `add?progress=true` of one 300 KiB file part, of which we send
    // 280 KiB (a whole chunk and then some); the first progress line proves it holds the slot.
    let boundary = "slotsboundary";
    let data = common::pseudo_random(300 * 1024, 3);
    let head_part = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    );
    let tail_part = format!("\r\n--{boundary}--\r\n");
    let len = head_part.len() + data.len() + tail_part.len();
    let mut holder = TcpStream::connect(("127.0.0.1", port)).unwrap();
    holder
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        holder,
        "POST /api/v0/add?progress=true HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len}\r\n\r\n{head_part}"
    )
    .unwrap();
    let first = 280 * 1024;
    holder.write_all(&data[..first]).unwrap();
    let got = read_until(&mut holder, b"\"Bytes\"");
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );

    // Past the limit, nothing frees: 503 after the wait, with Kubo's error body.
    let t = Instant::now();
    let a = rpc::post(port, "/api/v0/version");
    assert_eq!(a.status, 503, "{}", String::from_utf8_lossy(&a.body));
    assert!(t.elapsed() >= SLOT_WAIT, "answered after {:?}", t.elapsed());
    assert_eq!(a.json()["Type"], "error");
    assert!(
        a.json()["Message"]
            .as_str()
            .unwrap()
            .contains("too many requests"),
        "{}",
        a.json()
    );

    // Past the limit while the holder ends: the request waits, then is served.
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let a = rpc::post(port, "/api/v0/version");
        let _ = tx.send(());
        a
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        rx.try_recv().is_err(),
        "a second request was answered while the only slot was held"
    );
    holder.write_all(&data[first..]).unwrap();
    holder.write_all(tail_part.as_bytes()).unwrap();
    let mut rest = Vec::new();
    holder.read_to_end(&mut rest).unwrap();
    assert!(
        String::from_utf8_lossy(&rest).contains("\"Hash\""),
        "{}",
        String::from_utf8_lossy(&rest)
    );
    let a = waiter.join().unwrap();
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert!(a.json()["Version"].is_string());

    // The gateway: a GET of a block no peer has holds its one slot while bitswap
    // looks for it; another GET then gets 503 after the wait.
    let url = std::fs::read_to_string(root.join("gateway")).expect("gateway file");
    let gw = url.strip_prefix("http://").unwrap().to_string();
    let missing = ok(&run(
        &root,
        &["add", "-n", "-Q", "--cid-version", "1"],
        Some(b"no peer has these bytes\n"),
    ))
    .trim()
    .to_string();
    let present = ok(&run(&root, &["add", "-Q"], Some(b"here\n")))
        .trim()
        .to_string();
    let gw2 = gw.clone();
    let target = format!("/ipfs/{missing}");
    let _fetching = std::thread::spawn(move || {
        let mut s = TcpStream::connect(&gw2).unwrap();
        write!(
            s,
            "GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    });
    let want = serde_json::json!({ "/": missing });
    eventually("the gateway's fetch in our wantlist", || {
        let w = rpc::post(port, "/api/v0/bitswap/wantlist").json();
        w["Keys"].as_array().unwrap().contains(&want)
    });
    let t = Instant::now();
    let mut s = TcpStream::connect(&gw).unwrap();
    write!(
        s,
        "GET /ipfs/{present} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("too many requests"), "{answer}");
    assert!(t.elapsed() >= SLOT_WAIT, "answered after {:?}", t.elapsed());

    // The API's own slot is free again: served at once.
    assert_eq!(rpc::post(port, "/api/v0/version").status, 200);
    drop(d);
}
