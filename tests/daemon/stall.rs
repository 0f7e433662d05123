//! Requests for content nobody has do not stall the node: on the pi-zero profile
//! (one blocking thread, four request slots per server), twenty clients that ask
//! for absent CIDs and hang up leave the API and the gateway as fast as before;
//! their wants are cancelled; `timeout=` and the CLI's `--timeout` end a wait for
//! the network; `Gateway.RetrievalTimeout` bounds the gateway's.

use crate::common;
use crate::http;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{ok, run, Daemon};
use sha2::Digest;

/// A raw-leaf CIDv1 of bytes nobody stores.
fn absent_cid(n: u64) -> String {
    let digest = sha2::Sha256::digest(format!("nobody has this block {n}").as_bytes());
    let mh = cid::multihash::Multihash::<64>::wrap(0x12, &digest).unwrap();
    cid::Cid::new_v1(0x55, mh).to_string()
}

fn gateway_addr(root: &Path) -> String {
    let url = std::fs::read_to_string(root.join("gateway")).expect("gateway file");
    url.strip_prefix("http://").expect(&url).to_string()
}

/// Sends a request and hangs up after `after`, without reading the answer.
fn abandon(addr: &str, method: &str, target: &str, after: Duration) {
    let mut s = TcpStream::connect(addr).unwrap();
    let req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    std::thread::sleep(after);
}

/// Sends a request and reads the whole answer, counting its bytes (a 200 MiB
/// body is not kept); returns (status, bytes read, the last bytes).
fn fetch(addr: &str, method: &str, target: &str) -> (u16, u64, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let req = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = vec![0u8; 256 * 1024];
    let (mut total, mut first, mut tail) = (0u64, Vec::new(), Vec::new());
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        if first.len() < 12 {
            first.extend_from_slice(&buf[..n.min(12)]);
        }
        total += n as u64;
        tail.extend_from_slice(&buf[..n]);
        let keep = tail.len().saturating_sub(256);
        tail.drain(..keep);
    }
    let status = std::str::from_utf8(&first[9..12]).unwrap().parse().unwrap();
    (status, total, tail)
}

/// How long `f` takes.
fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

/// The loaded time may be twice the unloaded one, with room for tiny times.
fn within_bound(what: &str, base: Duration, loaded: Duration) {
    let bound = (base * 2).max(base + Duration::from_secs(2));
    eprintln!("{what}: {base:?} unloaded, {loaded:?} after the abandoned requests");
    assert!(
        loaded <= bound,
        "{what}: {loaded:?} after the abandoned requests, {base:?} before (bound {bound:?})"
    );
}

/// Our wants, from `bitswap/wantlist`.
fn wants(port: u16) -> Vec<serde_json::Value> {
    let (status, v) = http::post(port, "/api/v0/bitswap/wantlist");
    assert_eq!(status, 200, "{v}");
    v["Keys"].as_array().cloned().unwrap_or_default()
}

#[test]
fn abandoned_requests_for_absent_content_do_not_stall_the_pi_zero() {
    let (dir, root) = common::repo_dir();
    ok(&run(&root, &["init", "--profile", "pi-zero,test"], None));
    let big = dir.path().join("big.bin");
    std::fs::write(&big, common::pseudo_random(200 << 20, 7)).unwrap();
    let small = dir.path().join("small.bin");
    std::fs::write(&small, common::pseudo_random(3 << 20, 8)).unwrap();
    let big_cid = ok(&run(&root, &["add", "-Q", big.to_str().unwrap()], None));
    let small_cid = ok(&run(&root, &["add", "-Q", small.to_str().unwrap()], None));
    std::fs::remove_file(&big).unwrap();
    let (big_cid, small_cid) = (big_cid.trim().to_string(), small_cid.trim().to_string());

    let d = Daemon::start(&root);
    let api = format!("127.0.0.1:{}", d.port);
    let gw = gateway_addr(&root);
    let cat = format!("/api/v0/cat?arg={big_cid}");
    let page = format!("/ipfs/{small_cid}");
    let whole_cat = |addr: &str| {
        let (status, n, tail) = fetch(addr, "POST", &cat);
        assert_eq!(status, 200);
        assert!(n > 200 << 20, "{n} bytes");
        assert!(
            tail.ends_with(b"\r\n0\r\n\r\n"),
            "the stream failed: {tail:?}"
        );
    };
    let whole_page = |addr: &str| {
        let (status, n, _) = fetch(addr, "GET", &page);
        assert_eq!(status, 200);
        assert!(n > 3 << 20, "{n} bytes");
    };
    // Unloaded, each once to warm the page cache, then timed (the faster of two).
    whole_cat(&api);
    whole_page(&gw);
    let cat_base = timed(|| whole_cat(&api)).min(timed(|| whole_cat(&api)));
    let page_base = timed(|| whole_page(&gw)).min(timed(|| whole_page(&gw)));

    // While a visitor waits for a block nobody has, the block is wanted (the
    // API's wantlist needs an API slot: this visitor is the gateway's).
    let target = format!("/ipfs/{}", absent_cid(99));
    let (addr, hold) = (gw.clone(), Duration::from_millis(800));
    let visitor = std::thread::spawn(move || abandon(&addr, "GET", &target, hold));
    let t = Instant::now();
    while wants(d.port).is_empty() {
        assert!(t.elapsed() < Duration::from_millis(700), "nothing wanted");
        std::thread::sleep(Duration::from_millis(20));
    }
    visitor.join().unwrap();

    // Twenty visitors ask for content nobody has, and hang up: ten of them at once,
    // then ten more, on the API (`cat`, `ls`) and the gateway.
    for round in 0..2u64 {
        let visitors: Vec<_> = (0..10u64)
            .map(|i| {
                let n = round * 10 + i;
                let (addr, method, target) = match i % 3 {
                    0 => (gw.clone(), "GET", format!("/ipfs/{}", absent_cid(n))),
                    1 => (
                        api.clone(),
                        "POST",
                        format!("/api/v0/cat?arg={}", absent_cid(n)),
                    ),
                    _ => (
                        api.clone(),
                        "POST",
                        format!("/api/v0/ls?arg={}", absent_cid(n)),
                    ),
                };
                std::thread::spawn(move || {
                    abandon(&addr, method, &target, Duration::from_millis(300))
                })
            })
            .collect();
        for v in visitors {
            v.join().unwrap();
        }
    }
    let cat_loaded = timed(|| whole_cat(&api));
    let page_loaded = timed(|| whole_page(&gw));
    within_bound("API cat of 200 MiB", cat_base, cat_loaded);
    within_bound("gateway GET", page_base, page_loaded);

    // The visitors' wants went with them.
    let deadline = Instant::now() + Duration::from_secs(3);
    while !wants(d.port).is_empty() {
        assert!(
            Instant::now() < deadline,
            "wants left after the clients hung up: {:?}",
            wants(d.port)
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Kubo's `timeout=`: an absent block fails promptly with Kubo's message.
    let t = Instant::now();
    let a = http::call(
        d.port,
        &format!("/api/v0/cat?arg={}&timeout=1s", absent_cid(100)),
    );
    assert_eq!(a.status, 500, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json()["Message"], "context deadline exceeded");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // On a command that waits for nothing it changes nothing (a stream ends when
    // its output does, not at the deadline); a bad one is a 400.
    let (status, v) = http::post(d.port, "/api/v0/version?timeout=1m30s");
    assert_eq!(status, 200, "{v}");
    let t = Instant::now();
    let a = http::call(d.port, "/api/v0/refs/local?timeout=30s");
    assert_eq!(a.status, 200);
    assert!(a.trailer.trim().is_empty(), "{}", a.trailer);
    assert!(a.lines().len() > 800, "{} refs", a.lines().len());
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let (status, v) = http::post(d.port, &format!("/api/v0/cat?arg={small_cid}&timeout=soon"));
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["Code"], 1);
    assert_eq!(v["Message"], "time: invalid duration \"soon\"");

    // The CLI's global --timeout, through the daemon.
    let t = Instant::now();
    let r = run(&root, &["--timeout", "1s", "cat", &absent_cid(101)], None);
    let line = common::err(&r);
    assert!(line.contains("context deadline exceeded"), "{line}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let r = run(&root, &["cat", "--timeout=30s", &small_cid], None);
    assert!(r.ok, "{}", r.stderr);
    assert_eq!(r.stdout.len(), 3 << 20);
    let line = common::err(&run(&root, &["--timeout", "x1", "version"], None));
    assert_eq!(line, "Error: time: invalid duration \"x1\"");

    // The gateway's own limit: Gateway.RetrievalTimeout, then 504.
    d.stop();
    ok(&run(
        &root,
        &["config", "Gateway.RetrievalTimeout", "1s"],
        None,
    ));
    let _d = Daemon::start(&root);
    let gw = gateway_addr(&root);
    let t = Instant::now();
    let (status, _, _) = fetch(&gw, "GET", &format!("/ipfs/{}", absent_cid(102)));
    assert_eq!(status, 504);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}
