//! A small Kademlia network on loopback: one Acorn daemon in DHT server mode, two in
//! the default client mode. Clients find the server, content added on one client is
//! provided (automatically after `add`, and with `routing provide`), the other client
//! finds it with `routing findprovs` and fetches it over bitswap without ever being
//! told the provider's address (DHT lookup, then dial, then bitswap). Client-mode nodes
//! do not offer the DHT protocols (WAN and LAN); `Routing.Type none` refuses routing
//! commands.

use crate::common;

use std::path::Path;

use common::{dial_addr, err, init_repo, ok, pseudo_random, run, Daemon};
use sha2::{Digest, Sha256};

const KAD: &str = "/ipfs/kad/1.0.0";
const LAN_KAD: &str = "/ipfs/lan/kad/1.0.0";

fn id(root: &Path) -> serde_json::Value {
    serde_json::from_str(&ok(&run(root, &["id"], None))).expect("id JSON")
}

fn peer_id(root: &Path) -> String {
    id(root)["ID"].as_str().unwrap().to_string()
}

fn protocols(root: &Path) -> Vec<String> {
    id(root)["Protocols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect()
}

/// Retries `f` for up to 20 s (identify and routing-table updates are asynchronous).
fn eventually(what: &str, mut f: impl FnMut() -> Result<(), String>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match f() {
            Ok(()) => return,
            Err(e) if std::time::Instant::now() > deadline => panic!("{what}: {e}"),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(250)),
        }
    }
}

#[test]
fn clients_provide_and_find_through_a_server() {
    let (_ds, s) = init_repo();
    ok(&run(&s, &["config", "Routing.Type", "dhtserver"], None));
    let (_d1, c1) = init_repo();
    let (_d2, c2) = init_repo();
    let _server = Daemon::start(&s);
    let _client1 = Daemon::start(&c1);
    let _client2 = Daemon::start(&c2);

    // Only the server offers the DHT protocols, WAN and LAN (clients never answer
    // DHT queries).
    for kad in [KAD, LAN_KAD] {
        assert!(protocols(&s).iter().any(|p| p == kad), "{kad}");
        assert!(!protocols(&c1).iter().any(|p| p == kad), "{kad}");
        assert!(!protocols(&c2).iter().any(|p| p == kad), "{kad}");
    }

    let s_addr = dial_addr(&s);
    ok(&run(&c1, &["swarm", "connect", &s_addr], None));
    ok(&run(&c2, &["swarm", "connect", &s_addr], None));
    let (s_id, c1_id, c2_id) = (peer_id(&s), peer_id(&c1), peer_id(&c2));

    // A client finds the server's addresses (it is in the routing table).
    let found = ok(&run(&c2, &["routing", "findpeer", &s_id], None));
    assert!(found.lines().any(|a| s_addr.starts_with(a)), "{found}");

    // C1 adds content (announced in the background) and provides it explicitly.
    let work = tempfile::tempdir().unwrap();
    let data = pseudo_random(3 << 20, 77);
    let file = work.path().join("f.bin");
    std::fs::write(&file, &data).unwrap();
    let cid = ok(&run(&c1, &["add", "-Q", file.to_str().unwrap()], None))
        .trim()
        .to_string();
    eventually("routing provide", || {
        let r = run(&c1, &["routing", "provide", &cid], None);
        r.ok.then_some(()).ok_or(r.stderr)
    });
    // `dht` is the old spelling of `routing`.
    eventually("findprovs", || {
        let out = ok(&run(&c2, &["dht", "findprovs", &cid], None));
        out.lines().any(|l| l == c1_id).then_some(()).ok_or(out)
    });
    // The provider lookup may have dialled C1 (Kademlia queries the providers it
    // learns of); drop that connection so the fetch goes DHT → dial → bitswap.
    let _ = run(&c2, &["swarm", "disconnect", &c1_id], None);
    eventually("C2 disconnected from C1", || {
        let peers = ok(&run(&c2, &["swarm", "peers"], None));
        (!peers.contains(&c1_id)).then_some(()).ok_or(peers)
    });
    let r = run(&c2, &["cat", &cid], None);
    assert!(r.ok, "C2 could not fetch through the DHT: {}", r.stderr);
    assert_eq!(Sha256::digest(&r.stdout), Sha256::digest(&data));
    assert!(ok(&run(&c2, &["swarm", "peers"], None)).contains(&c1_id));

    // A peer nobody knows (a repo that never ran a daemon): not found.
    let (_dx, x) = init_repo();
    let x_id = ok(&run(&x, &["config", "Identity.PeerID"], None));
    let e = err(&run(&c1, &["routing", "findpeer", x_id.trim()], None));
    assert!(e.contains("not found"), "{e}");
    assert_ne!(x_id.trim(), c2_id);
    // A block we do not have cannot be provided.
    let other = ok(&run(&c2, &["add", "-Q", "-n"], Some(b"never stored")));
    let e = err(&run(&c1, &["routing", "provide", other.trim()], None));
    assert!(e.contains("not found locally"), "{e}");
}

#[test]
fn routing_none_refuses_and_offline_needs_the_daemon() {
    let (_d, r) = init_repo();
    let cid = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e";
    let e = err(&run(&r, &["routing", "findprovs", cid], None));
    assert!(e.contains("acorn daemon"), "{e}");
    ok(&run(&r, &["config", "Routing.Type", "none"], None));
    let _d = Daemon::start(&r);
    let e = err(&run(&r, &["routing", "findprovs", cid], None));
    assert!(e.contains("routing is disabled"), "{e}");
}
