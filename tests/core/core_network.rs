//! The core API's `Network` and `Settings` groups, from the CLI: every command
//! offline (the repo, or the "needs a running daemon" error) and then through a
//! daemon on the same repo (the RPC client reading back the daemon's answers).
//! Settings must print the same offline and through the daemon; network commands
//! must report what the two connected daemons really see.

use crate::common;

use std::path::Path;

use common::{err, init_repo, ok, run, Daemon};

const NEEDS_DAEMON: &str = "Error: this command needs a running daemon (acorn daemon)";

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn out(root: &Path, args: &[&str]) -> String {
    ok(&run(root, args, None))
}

#[test]
fn settings_print_the_same_offline_and_through_the_daemon() {
    let (_d, root) = init_repo();
    let reads: [&[&str]; 5] = [
        &["config", "Addresses.API"],
        &["config", "Swarm.ConnMgr"],
        &["config", "Bootstrap"],
        &["config", "show"],
        &["id"],
    ];
    let offline: Vec<String> = reads.iter().map(|a| out(&root, a)).collect();
    let bad_key = err(&run(&root, &["config", "No.Such.Key"], None));
    let private = err(&run(&root, &["config", "Identity.PrivKey"], None));
    let bad_bool = err(&run(&root, &["config", "--bool", "Foo", "maybe"], None));
    assert!(!offline[3].contains("PrivKey"), "{}", offline[3]);
    let id = json(&offline[4]);
    assert!(id["ID"].as_str().unwrap().starts_with("12D3KooW"), "{id}");
    assert_eq!(
        id["Addresses"],
        serde_json::json!([]),
        "offline: no addresses"
    );

    let d = Daemon::start(&root);
    for (a, off) in reads[..4].iter().zip(&offline) {
        assert_eq!(&out(&root, a), off, "acorn {a:?} through the daemon");
    }
    assert_eq!(err(&run(&root, &["config", "No.Such.Key"], None)), bad_key);
    assert_eq!(
        err(&run(&root, &["config", "Identity.PrivKey"], None)),
        private
    );
    assert_eq!(
        err(&run(&root, &["config", "--bool", "Foo", "maybe"], None)),
        bad_bool
    );
    // Through the daemon `id` adds the listen addresses and protocols.
    let online = json(&out(&root, &["id"]));
    for k in ["ID", "PublicKey", "AgentVersion"] {
        assert_eq!(online[k], id[k], "{k}");
    }
    let me = id["ID"].as_str().unwrap();
    let addrs = online["Addresses"].as_array().unwrap();
    assert!(!addrs.is_empty(), "{online}");
    for a in addrs {
        assert!(a.as_str().unwrap().ends_with(&format!("/p2p/{me}")), "{a}");
    }
    let protocols = online["Protocols"].as_array().unwrap();
    assert!(
        protocols.iter().any(|p| p == "/ipfs/bitswap/1.2.0"),
        "{online}"
    );
    // Another peer's ID: refused with the daemon's message.
    let e = err(&run(
        &root,
        &["id", "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"],
        None,
    ));
    assert!(e.contains("not supported yet"), "{e}");

    // Applying a profile needs the daemon stopped (it keeps the config it started
    // with); the refusal changes nothing.
    let before = out(&root, &["config", "show"]);
    assert_eq!(
        err(&run(
            &root,
            &["config", "profile", "apply", "lowpower"],
            None
        )),
        "Error: config profile apply does not run through the daemon: stop the daemon first"
    );
    assert_eq!(out(&root, &["config", "show"]), before);

    // A value set through the daemon is the value read back, typed as given.
    assert_eq!(
        out(
            &root,
            &["config", "--json", "Swarm.ConnMgr.HighWater", "77"]
        ),
        ""
    );
    assert_eq!(out(&root, &["config", "Swarm.ConnMgr.HighWater"]), "77\n");
    assert_eq!(out(&root, &["config", "Datastore.StorageMax", "3GB"]), "");
    assert_eq!(out(&root, &["config", "Datastore.StorageMax"]), "3GB\n");
    assert!(d.stop().0);
    // ... and it is in the file the offline CLI reads.
    assert_eq!(out(&root, &["config", "Swarm.ConnMgr.HighWater"]), "77\n");
    assert_eq!(out(&root, &["config", "Datastore.StorageMax"]), "3GB\n");
    let applied = out(&root, &["config", "profile", "apply", "lowpower"]);
    assert!(
        applied.contains("Swarm.ConnMgr.HighWater: 77 => 40\n"),
        "{applied}"
    );
}

#[test]
fn network_commands_need_the_daemon_then_report_the_swarm() {
    let (_a, a) = init_repo();
    let (_b, b) = init_repo();
    let b_id = json(&out(&b, &["id"]))["ID"].as_str().unwrap().to_string();
    let cid = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
    let peer_arg = format!("/p2p/{b_id}");
    for args in [
        &["swarm", "peers"][..],
        &["swarm", "addrs"],
        &["swarm", "addrs", "local"],
        &["swarm", "connect", "/ip4/127.0.0.1/tcp/1"],
        &["swarm", "disconnect", "/ip4/127.0.0.1/tcp/1"],
        &["routing", "findprovs", cid],
        &["routing", "findpeer", &b_id],
        &["routing", "provide", cid],
        &["dht", "findprovs", cid],
        &["stats", "bw"],
        &["stats", "bitswap"],
        &["bitswap", "stat"],
        &["bitswap", "wantlist"],
    ] {
        assert_eq!(err(&run(&a, args, None)), NEEDS_DAEMON, "{args:?}");
    }

    let da = Daemon::start(&a);
    let db = Daemon::start(&b);
    let a_id = json(&out(&a, &["id"]))["ID"].as_str().unwrap().to_string();
    let b_addr = out(&b, &["swarm", "addrs", "local", "--id"])
        .lines()
        .next()
        .expect("B listens")
        .to_string();
    assert!(b_addr.ends_with(&format!("/p2p/{b_id}")), "{b_addr}");
    let b_local = out(&b, &["swarm", "addrs", "local"]);
    assert_eq!(
        b_local.lines().next().unwrap(),
        b_addr.trim_end_matches(&format!("/p2p/{b_id}")),
    );
    assert_eq!(
        out(&a, &["swarm", "connect", &b_addr]),
        format!("connect {b_id} success\n")
    );

    // Both sides see the connection, with the address it runs on.
    let peers = out(&a, &["swarm", "peers"]);
    assert_eq!(peers.lines().count(), 1, "{peers}");
    assert_eq!(peers.trim(), b_addr, "A dialed B's listen address");
    let peers = out(&b, &["swarm", "peers"]);
    assert!(peers.trim().ends_with(&format!("/p2p/{a_id}")), "{peers}");
    let known = out(&a, &["swarm", "addrs"]);
    assert!(known.contains(&format!("{b_id} (")), "{known}");

    // Identify and bitswap exchanged bytes: totals, per peer, per protocol.
    let bw = out(&a, &["stats", "bw"]);
    assert!(bw.starts_with("Bandwidth\nTotalIn: "), "{bw}");
    assert!(!bw.contains("TotalIn: 0 B"), "{bw}");
    let bw_peer = out(&a, &["stats", "bw", "--peer", &b_id]);
    assert!(bw_peer.starts_with("Bandwidth\nTotalIn: "), "{bw_peer}");
    let e = err(&run(
        &a,
        &["stats", "bw", "--peer", &b_id, "--proto", "/x"],
        None,
    ));
    assert_eq!(e, "Error: please only specify peer OR protocol");
    let e = err(&run(&a, &["stats", "bw", "--peer", "nope"], None));
    assert!(e.starts_with("Error: invalid peer ID \"nope\""), "{e}");

    let st = out(&a, &["bitswap", "stat", "--verbose"]);
    assert!(
        st.starts_with("bitswap status\n\tblocks received: 0\n"),
        "{st}"
    );
    assert!(st.contains("\twantlist [0 keys]\n"), "{st}");
    assert!(
        st.ends_with(&format!("\tpartners [1]\n\t\t{b_id}\n")),
        "{st}"
    );
    assert_eq!(
        out(&a, &["stats", "bitswap"]),
        out(&a, &["bitswap", "stat"])
    );
    assert_eq!(out(&a, &["bitswap", "wantlist"]), "");

    // Routing: B's addresses are known to A (it is connected).
    let found = out(&a, &["routing", "findpeer", &b_id]);
    assert!(
        found.lines().any(|l| b_addr.starts_with(l)),
        "{found} vs {b_addr}"
    );
    let e = err(&run(&a, &["routing", "provide", cid], None));
    assert!(e.contains("not found locally"), "{e}");
    let e = err(&run(&a, &["routing", "findprovs", "-n", "0", cid], None));
    assert_eq!(e, "Error: number of providers must be greater than 0");
    let e = err(&run(&a, &["dht", "findprovs", "notacid"], None));
    assert!(e.starts_with("Error: "), "{e}");

    assert_eq!(
        out(&a, &["swarm", "disconnect", &peer_arg]),
        format!("disconnect {b_id} success\n")
    );
    assert_eq!(out(&a, &["swarm", "peers"]), "");
    let e = err(&run(&a, &["swarm", "disconnect", &peer_arg], None));
    assert!(e.contains("not connected"), "{e}");
    assert!(da.stop().0);
    assert!(db.stop().0);
}
