//! `stats/repo`, `bitswap/stat` (= `stats/bitswap`) and `bitswap/wantlist` over the
//! RPC API, with two daemons exchanging blocks: Kubo's field names, counters that
//! move with real transfers, our wants and a peer's wants.

use crate::common;
use crate::rpc;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{dial_addr, init_repo, ok, pseudo_random, run, Daemon};

/// Polls `f` until it holds (10 s).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn bitswap_and_repo_stats() {
    let (_da, a) = init_repo();
    let (_db, b) = init_repo();
    let da = Daemon::start(&a);
    let db = Daemon::start(&b);
    let a_id = rpc::post(da.port, "/api/v0/id").json()["ID"]
        .as_str()
        .unwrap()
        .to_string();
    let b_id = rpc::post(db.port, "/api/v0/id").json()["ID"]
        .as_str()
        .unwrap()
        .to_string();

    // Fresh: every counter zero, no wants, Kubo's fields.
    let s = rpc::post(db.port, "/api/v0/bitswap/stat");
    assert_eq!(s.status, 200);
    let s = s.json();
    for k in [
        "ProvideBufLen",
        "BlocksReceived",
        "DataReceived",
        "BlocksSent",
        "DataSent",
        "DupBlksReceived",
        "DupDataReceived",
        "MessagesReceived",
    ] {
        assert_eq!(s[k], 0, "{k}: {s}");
    }
    assert_eq!(s["Wantlist"], serde_json::json!([]));
    assert_eq!(s["Peers"], serde_json::json!([]));

    ok(&run(&b, &["swarm", "connect", &dial_addr(&a)], None));
    let work = tempfile::tempdir().unwrap();
    let data = pseudo_random(600 * 1024, 5);
    let file = work.path().join("f.bin");
    std::fs::write(&file, &data).unwrap();
    let cid = ok(&run(&a, &["add", "-Q", file.to_str().unwrap()], None))
        .trim()
        .to_string();
    let got = run(&b, &["cat", &cid], None);
    assert!(got.ok, "{}", got.stderr);
    assert_eq!(got.stdout, data);

    // B received the file's 4 blocks from A; A sent them.
    let sb = rpc::post(db.port, "/api/v0/bitswap/stat").json();
    assert!(sb["BlocksReceived"].as_u64().unwrap() >= 4, "{sb}");
    assert!(
        sb["DataReceived"].as_u64().unwrap() >= data.len() as u64,
        "{sb}"
    );
    assert!(sb["MessagesReceived"].as_u64().unwrap() >= 1, "{sb}");
    assert_eq!(sb["Peers"], serde_json::json!([a_id]));
    let sa = rpc::post(da.port, "/api/v0/stats/bitswap").json();
    assert!(sa["BlocksSent"].as_u64().unwrap() >= 4, "{sa}");
    assert!(
        sa["DataSent"].as_u64().unwrap() >= data.len() as u64,
        "{sa}"
    );
    assert_eq!(sa["Peers"], serde_json::json!([b_id]));
    assert_eq!(sa["BlocksReceived"], 0);

    // A block nobody has: B wants it while its `cat` waits.
    let missing = ok(&run(
        &b,
        &["add", "-n", "-Q", "--cid-version", "1"],
        Some(b"nobody has these bytes\n"),
    ))
    .trim()
    .to_string();
    let mut waiting = Command::new(env!("CARGO_BIN_EXE_acorn"))
        .args(["cat", &missing])
        .env("ACORN_PATH", &b)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let want = serde_json::json!({ "/": missing });
    eventually("B's wantlist", || {
        let w = rpc::post(db.port, "/api/v0/bitswap/wantlist").json();
        w["Keys"].as_array().unwrap().contains(&want)
    });
    let sb = rpc::post(db.port, "/api/v0/bitswap/stat").json();
    assert!(sb["Wantlist"].as_array().unwrap().contains(&want), "{sb}");
    // The CLI: Kubo's text.
    assert!(ok(&run(&b, &["bitswap", "wantlist"], None))
        .lines()
        .any(|l| l == missing));
    let t = ok(&run(&b, &["bitswap", "stat"], None));
    assert!(
        t.starts_with(
            "bitswap status
	blocks received: "
        ),
        "{t}"
    );
    assert!(
        t.contains(&format!(
            "		{missing}
"
        )),
        "{t}"
    );
    assert!(
        t.ends_with(
            "	partners [1]
"
        ),
        "{t}"
    );
    let t = ok(&run(&b, &["stats", "bitswap", "-v"], None));
    assert!(
        t.ends_with(&format!(
            "	partners [1]
		{a_id}
"
        )),
        "{t}"
    );
    // A answered B's want with DONT_HAVE and keeps it on B's wantlist, as Kubo:
    // A's view of what B wants from it (RPC and CLI) shows the missing block.
    eventually("A's view of B's wantlist", || {
        let w = rpc::post(da.port, &format!("/api/v0/bitswap/wantlist?peer={b_id}"));
        assert_eq!(w.status, 200);
        w.json()["Keys"].as_array().unwrap().contains(&want)
    });
    let t = ok(&run(&a, &["bitswap", "wantlist", "--peer", &b_id], None));
    assert!(t.lines().any(|l| l == missing), "{t}");
    // A peer we hold no wants of: an empty list.
    let w = rpc::post(db.port, &format!("/api/v0/bitswap/wantlist?peer={a_id}")).json();
    assert_eq!(w, serde_json::json!({"Keys": []}));
    let w = rpc::post(da.port, "/api/v0/bitswap/wantlist").json();
    assert_eq!(w, serde_json::json!({"Keys": []}));
    let _ = waiting.kill();
    let _ = waiting.wait();

    // stats/repo answers as repo/stat.
    let r1 = rpc::post(da.port, "/api/v0/stats/repo").json();
    let r2 = rpc::post(da.port, "/api/v0/repo/stat").json();
    assert_eq!(r1, r2);
    assert!(r1["NumObjects"].as_u64().unwrap() >= 4, "{r1}");
    let r = rpc::post(da.port, "/api/v0/stats/repo?size-only=true").json();
    assert!(
        r.get("NumObjects").is_none() && r.get("RepoSize").is_some(),
        "{r}"
    );

    assert_eq!(
        ok(&run(&a, &["stats", "repo"], None)),
        ok(&run(&a, &["repo", "stat"], None))
    );

    // Bad input: 400, the daemon keeps serving.
    let r = rpc::post(da.port, "/api/v0/bitswap/wantlist?peer=notapeer");
    assert_eq!((r.status, r.json()["Code"].as_u64()), (400, Some(1)));
    let r = rpc::post(da.port, "/api/v0/bitswap/stat?verbose=maybe");
    assert_eq!(r.status, 400);
    assert_eq!(rpc::post(da.port, "/api/v0/bitswap/stat").status, 200);
    let (ok_a, _, err_a) = da.stop();
    assert!(ok_a, "{err_a}");
    // B's API request for the missing block still waits on bitswap in the blocking
    // pool (its client is gone): stopping B fails that fetch at once, so B exits
    // cleanly instead of waiting out SHUTDOWN_DRAIN (30 s) and exiting non-zero.
    let t = Instant::now();
    let (ok_b, _, err_b) = db.stop();
    assert!(
        ok_b,
        "B did not stop cleanly after {:?}: {err_b}",
        t.elapsed()
    );
    assert!(!err_b.contains("did not finish"), "{err_b}");
    eprintln!("B stopped in {:?}", t.elapsed());
    // Offline: bitswap needs the daemon; stats repo is repo stat.
    let e = common::err(&run(&a, &["bitswap", "stat"], None));
    assert!(e.contains("daemon"), "{e}");
    // (Sizes may move between two offline opens: compare the fields.)
    let keys = |t: String| -> Vec<String> {
        t.lines()
            .map(|l| l.split(':').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        keys(ok(&run(&a, &["stats", "repo", "-s"], None))),
        ["RepoSize", "StorageMax"]
    );
}
