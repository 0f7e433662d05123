//! `acorn daemon` end to end: a daemon on port 0 with a temp repo, plain HTTP
//! requests in Kubo's dialect, the CLI through the daemon, and SIGTERM shutdown.

use crate::common;
use crate::http;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use common::{init_repo, ok, run, threads, Daemon};
use http::{http, multipart, post};

const HELLO_CID: &str = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o";

#[test]
fn rpc_api_speaks_kubo() {
    let (_d, root) = init_repo();
    let d = Daemon::start(&root);
    let port = d.port;

    let (st, v) = post(port, "/api/v0/id");
    assert_eq!(st, 200);
    for k in ["ID", "PublicKey", "Addresses", "AgentVersion", "Protocols"] {
        assert!(v.get(k).is_some(), "id lacks {k}: {v}");
    }
    assert!(v["ID"].as_str().unwrap().starts_with("12D3KooW"));
    assert!(v["AgentVersion"].as_str().unwrap().starts_with("acorn/"));

    let (st, v) = post(port, "/api/v0/version");
    assert_eq!(st, 200);
    assert_eq!(v["Version"], env!("CARGO_PKG_VERSION"));

    // GET on a known command: 405; unknown command: 404.
    let (st, _, _) = http(port, "GET", "/api/v0/id", "", b"");
    assert_eq!(st, 405);
    let (st, _, body) = http(port, "POST", "/api/v0/no/such/thing", "", b"");
    assert_eq!(st, 404);
    assert_eq!(body, b"404 page not found\n");

    // add: multipart in, NDJSON {"Name","Hash","Size"} out.
    let (ct, body) = multipart(&[("hello.txt", "application/octet-stream", b"hello world\n")]);
    let (st, head, out) = http(port, "POST", "/api/v0/add?pin=true", &ct, &body);
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&out));
    assert!(head.contains("X-Chunked-Output: 1"), "{head}");
    let line: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(line["Name"], "hello.txt");
    assert_eq!(line["Hash"], HELLO_CID);
    assert_eq!(line["Size"], "20");

    // A directory, wrapped: files, then directories, then the wrapper.
    let (ct, body) = multipart(&[
        ("d", "application/x-directory", b""),
        ("d%2Fa", "application/octet-stream", b"a\n"),
        ("d%2Fe", "application/x-directory", b""),
    ]);
    let (st, _, out) = http(
        port,
        "POST",
        "/api/v0/add?wrap-with-directory=true",
        &ct,
        &body,
    );
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&out));
    let names: Vec<String> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["Name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(names, ["d/a", "d/e", "d", ""]);

    // cat with offset and length; a bad CID is Kubo's error body with 500.
    let (st, _, out) = http(
        port,
        "POST",
        &format!("/api/v0/cat?arg={HELLO_CID}&offset=6&length=5"),
        "",
        b"",
    );
    assert_eq!((st, out.as_slice()), (200, &b"world"[..]));
    let (st, v) = post(port, "/api/v0/cat?arg=QmNotACid");
    assert_eq!(st, 500);
    assert_eq!(v["Type"], "error");
    assert_eq!(v["Code"], 0);
    assert!(v["Message"].as_str().unwrap().contains("QmNotACid"), "{v}");
    let (st, v) = post(port, "/api/v0/cat");
    assert_eq!((st, v["Code"].as_u64()), (400, Some(1)));

    let (_, v) = post(port, "/api/v0/ls?arg=".to_string().as_str());
    assert_eq!(v["Type"], "error");

    // pins
    let (st, v) = post(port, "/api/v0/pin/ls?type=recursive");
    assert_eq!(st, 200);
    assert_eq!(v["Keys"][HELLO_CID]["Type"], "recursive");
    let (_, v) = post(port, &format!("/api/v0/pin/rm?arg={HELLO_CID}"));
    assert_eq!(v["Pins"][0], HELLO_CID);
    let (_, v) = post(
        port,
        &format!("/api/v0/pin/add?arg={HELLO_CID}&recursive=false"),
    );
    assert_eq!(v["Pins"][0], HELLO_CID);
    let (_, _, out) = http(
        port,
        "POST",
        "/api/v0/pin/ls?stream=true&type=direct",
        "",
        b"",
    );
    let line: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        (line["Cid"].as_str(), line["Type"].as_str()),
        (Some(HELLO_CID), Some("direct"))
    );
    let (st, _) = post(port, "/api/v0/pin/add?arg=x&recursive=maybe");
    assert_eq!(st, 400);

    // blocks
    let (ct, body) = multipart(&[("b", "application/octet-stream", b"block bytes")]);
    let (st, _, out) = http(port, "POST", "/api/v0/block/put?cid-codec=raw", &ct, &body);
    assert_eq!(st, 200);
    let put: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(put["Size"], 11);
    let key = put["Key"].as_str().unwrap().to_string();
    assert!(key.starts_with("bafkrei"), "{key}");
    let (_, v) = post(port, &format!("/api/v0/block/stat?arg={key}"));
    assert_eq!(
        (v["Key"].as_str(), v["Size"].as_u64()),
        (Some(key.as_str()), Some(11))
    );
    let (_, _, out) = http(
        port,
        "POST",
        &format!("/api/v0/block/get?arg={key}"),
        "",
        b"",
    );
    assert_eq!(out, b"block bytes");

    // repo
    let (_, v) = post(port, "/api/v0/repo/stat?size-only=true");
    assert!(
        v.get("RepoSize").is_some()
            && v.get("StorageMax").is_some()
            && v.get("NumObjects").is_none(),
        "{v}"
    );
    let (_, _, out) = http(port, "POST", "/api/v0/repo/gc", "", b"");
    let removed: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        removed.iter().any(|v| v["Key"]["/"] == key.as_str()),
        "{removed:?}"
    );
    let (_, _, out) = http(port, "POST", "/api/v0/repo/verify", "", b"");
    assert!(String::from_utf8_lossy(&out).contains("all blocks validated"));

    // Malformed multipart: a client error, and the daemon keeps serving.
    let (st, _, _) = http(
        port,
        "POST",
        "/api/v0/add",
        "multipart/form-data; boundary=zz",
        b"--zz\r\nbroken",
    );
    assert_eq!(st, 400);
    let (st, _, _) = http(port, "POST", "/api/v0/add", "text/plain", b"x");
    assert_eq!(st, 400);
    let (st, _) = post(port, "/api/v0/version");
    assert_eq!(st, 200);

    // A browser's cross-origin request is refused.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(
        b"POST /api/v0/id HTTP/1.1\r\nOrigin: http://evil.example\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 403"), "{resp}");

    let (stopped, _, stderr) = d.stop();
    assert!(stopped, "{stderr}");
}

#[test]
fn cli_through_the_daemon_matches_offline() {
    let (dir, root) = init_repo();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("a.txt"), b"alpha\n").unwrap();
    std::fs::write(tree.join("sub/b.bin"), common::pseudo_random(700_000, 7)).unwrap();
    std::fs::write(tree.join(".hidden"), b"h").unwrap();
    let tree_s = tree.display().to_string();
    let file_s = tree.join("sub/b.bin").display().to_string();

    let commands: Vec<Vec<&str>> = vec![
        vec!["add", "-r", &tree_s],
        vec!["add", "-r", "-H", "--cid-version=1", &tree_s],
        vec!["add", "-w", &file_s],
        vec!["add", "-Q", "--chunker=size-1000", &file_s],
        vec!["add", "-Q", "--chunker=buzhash", &file_s],
        vec!["add", "-Q", "--chunker=rabin-4096-16384-65536", &file_s],
        vec!["add", "-q", "--raw-leaves", &file_s],
        vec!["pin", "ls"],
        vec!["repo", "verify"],
    ];
    let stdin_off = ok(&run(&root, &["add"], Some(b"from stdin\n")));
    let offline: Vec<String> = commands.iter().map(|c| ok(&run(&root, c, None))).collect();
    let root_cid = offline[0]
        .lines()
        .last()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .to_string();
    let cat_off = run(
        &root,
        &[
            "cat",
            &format!("{root_cid}/sub/b.bin"),
            "--offset=1000",
            "--length=70000",
        ],
        None,
    );
    let ls_off = ok(&run(&root, &["ls", "-v", &root_cid], None));
    assert!(cat_off.ok);

    let d = Daemon::start(&root);
    // The repo is the daemon's: these go through HTTP (an offline open would
    // fail on the lock).
    for (c, off) in commands.iter().zip(&offline) {
        let on = ok(&run(&root, c, None));
        assert!(
            &on == off,
            "acorn {c:?}: through the daemon\n{on}\noffline\n{off}"
        );
    }
    assert_eq!(ok(&run(&root, &["add"], Some(b"from stdin\n"))), stdin_off);
    let cat_on = run(
        &root,
        &[
            "cat",
            &format!("{root_cid}/sub/b.bin"),
            "--offset=1000",
            "--length=70000",
        ],
        None,
    );
    assert!(cat_on.ok, "{}", cat_on.stderr);
    assert_eq!(cat_on.stdout, cat_off.stdout);
    assert_eq!(ok(&run(&root, &["ls", "-v", &root_cid], None)), ls_off);
    let e = common::err(&run(&root, &["cat", "QmNotACid"], None));
    assert!(e.contains("QmNotACid"), "{e}");
    let e = common::err(&run(&root, &["add", &tree_s], None));
    assert!(e.contains("use the '-r' flag"), "{e}");

    // Idle thread count (the network is not in yet).
    std::thread::sleep(Duration::from_millis(1500));
    let n = threads(d.pid());
    println!("idle daemon OS threads: {n}");
    assert!(n <= 3, "idle daemon has {n} threads");

    let (stopped, stdout, stderr) = d.stop();
    assert!(stopped, "{stderr}");
    assert!(
        stdout.contains("RPC API server listening on /ip4/127.0.0.1/tcp/"),
        "{stdout}"
    );
    assert!(stdout.contains("Daemon is ready"), "{stdout}");
}

#[test]
fn sigterm_shutdown_is_clean_and_stale_api_file_falls_back() {
    let (_d, root) = init_repo();
    ok(&run(&root, &["add"], Some(b"hello world\n")));
    let d = Daemon::start(&root);
    let pid = d.pid();
    // Something in flight before idling.
    assert_eq!(ok(&run(&root, &["cat", HELLO_CID], None)), "hello world\n");
    let (stopped, stdout, stderr) = d.stop();
    assert!(stopped, "{stderr}");
    assert!(stdout.contains("shutting down"), "{stdout}");
    assert!(!root.join("api").exists(), "api file removed");
    assert!(!Path::new(&format!("/proc/{pid}")).exists() || threads(pid) == 0);
    assert_eq!(
        ok(&run(&root, &["repo", "verify"], None)),
        "verified repo: 1 blocks ok\n"
    );

    // A stale api file (nothing listening) means offline.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    std::fs::write(root.join("api"), format!("/ip4/127.0.0.1/tcp/{port}")).unwrap();
    assert_eq!(ok(&run(&root, &["cat", HELLO_CID], None)), "hello world\n");
    assert!(ok(&run(&root, &["pin", "ls"], None)).contains(HELLO_CID));
}

#[test]
fn shutdown_endpoint_stops_the_daemon() {
    let (_d, root) = init_repo();
    let d = Daemon::start(&root);
    let (st, _, _) = http(d.port, "POST", "/api/v0/shutdown", "", b"");
    assert_eq!(st, 200);
    let mut child = {
        let mut d = d;
        d.child.take().unwrap()
    };
    let status = child.wait().unwrap();
    assert!(status.success());
    assert!(!root.join("api").exists());
}
