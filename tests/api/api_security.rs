//! The RPC API's browser rule (Kubo's Origin/Referer check with
//! `API.HTTPHeaders.Access-Control-Allow-Origin`, CORS headers, preflights) and the
//! warning when the API listens on a non-loopback address.

use crate::common;
use crate::rpc;

use std::time::{Duration, Instant};

use common::{init_repo, ok, run, Daemon};

const WEBUI: &str = "https://webui.example";

#[test]
fn foreign_origins_are_refused_unless_configured() {
    let (_d, root) = init_repo();
    let d = Daemon::start(&root);
    let port = d.port;
    let id = |headers: &[(&str, &str)]| rpc::request(port, "POST", "/api/v0/id", headers, b"");

    // Not a browser: served, no CORS headers.
    let a = id(&[]);
    assert_eq!(a.status, 200);
    assert_eq!(a.header("Access-Control-Allow-Origin"), None);
    // A foreign origin, or a foreign page as the only clue: 403, nothing run.
    for h in [("Origin", WEBUI), ("Referer", "https://webui.example/app/")] {
        let a = id(&[h]);
        assert_eq!(a.status, 403, "{h:?}");
        assert_eq!(a.body, b"403 - Forbidden\n");
    }
    let a = rpc::request(
        port,
        "POST",
        "/api/v0/shutdown",
        &[("Referer", "http://evil.example/x")],
        b"",
    );
    assert_eq!(a.status, 403);
    // The API's own origin is allowed (Kubo's localhost defaults).
    let own = format!("http://127.0.0.1:{port}");
    let a = id(&[("Origin", &own)]);
    assert_eq!(a.status, 200);
    assert_eq!(a.header("Access-Control-Allow-Origin"), Some(own.clone()));
    let a = id(&[("Referer", &format!("http://localhost:{port}/webui/"))]);
    assert_eq!(a.status, 200);
    let (stopped, _, _) = d.stop();
    assert!(stopped, "a refused shutdown must not stop the daemon early");

    // Configure the web UI's origin (the key did not exist: Kubo lets you add it).
    ok(&run(
        &root,
        &[
            "config",
            "--json",
            "API.HTTPHeaders.Access-Control-Allow-Origin",
            &format!("[\"{WEBUI}\"]"),
        ],
        None,
    ));
    assert_eq!(
        ok(&run(
            &root,
            &["config", "API.HTTPHeaders.Access-Control-Allow-Origin"],
            None
        )),
        format!("[\n  \"{WEBUI}\"\n]\n")
    );
    let d = Daemon::start(&root);
    let port = d.port;
    let id = |headers: &[(&str, &str)]| rpc::request(port, "POST", "/api/v0/id", headers, b"");
    let a = id(&[("Origin", WEBUI)]);
    assert_eq!(a.status, 200);
    assert_eq!(
        a.header("Access-Control-Allow-Origin").as_deref(),
        Some(WEBUI)
    );
    assert_eq!(a.header("Vary").as_deref(), Some("Origin"));
    assert!(a
        .header("Access-Control-Expose-Headers")
        .unwrap()
        .contains("X-Chunked-Output"));
    assert!(a.json()["ID"].as_str().unwrap().starts_with("12D3"));
    assert_eq!(id(&[("Referer", "https://webui.example/app/")]).status, 200);
    assert_eq!(id(&[("Origin", "https://webui.example.evil")]).status, 403);
    assert_eq!(
        id(&[("Origin", WEBUI), ("Referer", "https://evil.example/")]).status,
        403
    );
    assert_eq!(id(&[("Referer", "not a url")]).status, 403);

    // Preflight: allowed origin, method and headers → 200 with CORS headers.
    let pre = |origin: &str, method: &str| {
        rpc::request(
            port,
            "OPTIONS",
            "/api/v0/add",
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", method),
                ("Access-Control-Request-Headers", "content-type"),
            ],
            b"",
        )
    };
    let a = pre(WEBUI, "POST");
    assert_eq!(a.status, 200);
    assert_eq!(
        a.header("Access-Control-Allow-Origin").as_deref(),
        Some(WEBUI)
    );
    assert_eq!(
        a.header("Access-Control-Allow-Methods").as_deref(),
        Some("POST")
    );
    assert_eq!(
        a.header("Access-Control-Allow-Headers").as_deref(),
        Some("content-type")
    );
    assert_eq!(pre("https://evil.example", "POST").status, 403);
    assert_eq!(pre(WEBUI, "DELETE").status, 403);
    // OPTIONS that is not a preflight is still 405; the daemon keeps serving.
    assert_eq!(
        rpc::request(port, "OPTIONS", "/api/v0/id", &[], b"").status,
        405
    );
    assert_eq!(id(&[]).status, 200);
    let (stopped, _, _) = d.stop();
    assert!(stopped);

    // A header name that is not a token is refused before anything is written.
    let r = run(
        &root,
        &["config", "--json", "API.HTTPHeaders.Bad Name", "[\"x\"]"],
        None,
    );
    assert!(!r.ok);
    assert!(r.stderr.contains("not an HTTP header name"), "{}", r.stderr);
}

#[test]
fn non_loopback_api_address_warns_loudly() {
    let (_d, root) = init_repo();
    ok(&run(
        &root,
        &["config", "Addresses.API", "/ip4/0.0.0.0/tcp/0"],
        None,
    ));
    let child = common::spawn_daemon(&root, |_| {});
    let d = Daemon {
        child: Some(child),
        port: 0,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !root.join("api").exists() {
        assert!(Instant::now() < deadline, "daemon did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (stopped, _, stderr) = d.stop();
    assert!(stopped);
    assert!(
        stderr.contains("WARNING: the RPC API is listening on /ip4/0.0.0.0/tcp/")
            && stderr.contains("not a loopback address"),
        "{stderr}"
    );
}
