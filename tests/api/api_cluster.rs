//! Every RPC request IPFS Cluster's `ipfshttp` connector sends, one after another
//! against a running daemon, with the query strings Cluster uses and the field
//! names and JSON types Cluster decodes (Kubo's).

use crate::common;
use crate::http;

use common::{init_repo, pseudo_random, Daemon};
use http::{call, post_parts};
use serde_json::Value;

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

#[test]
fn ipfs_cluster_connector_requests_answer_as_kubo() {
    let (_da, a) = init_repo();
    let (_db, b) = init_repo();
    let da = Daemon::start(&a);
    let db = Daemon::start(&b);
    let port = da.port;

    // id: ID (a peer ID) and Addresses (multiaddrs as strings).
    let r = call(port, "/api/v0/id");
    assert_eq!(r.status, 200);
    let id = r.json();
    assert!(s(&id["ID"]).starts_with("12D3KooW"), "{id}");
    for a in id["Addresses"].as_array().unwrap() {
        assert!(s(a).starts_with("/ip4/"), "{a}");
    }

    // Content to pin: a 3-chunk file in a wrapping directory, added unpinned.
    let data = pseudo_random(700_000, 3);
    let r = post_parts(
        port,
        "/api/v0/add?pin=false&wrap-with-directory=true",
        &[("f.bin", "application/octet-stream", &data)],
    );
    assert_eq!(r.status, 200);
    let added = r.lines();
    let file = s(&added[0]["Hash"]).to_string();
    let root = s(&added[1]["Hash"]).to_string();

    // pin/ls?stream=true&type=recursive: nothing yet (an empty stream).
    let r = call(port, "/api/v0/pin/ls?stream=true&type=recursive");
    assert_eq!((r.status, r.lines().len()), (200, 0));

    // pin/add?arg=<cid>&recursive=true&progress=true: {"Progress":N} lines, then
    // {"Pins":[cid]}; N counts the blocks (directory + file root + 3 chunks).
    let r = call(
        port,
        &format!("/api/v0/pin/add?arg={root}&recursive=true&progress=true"),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("X-Chunked-Output").as_deref(), Some("1"));
    let lines = r.lines();
    let (last, progress) = lines.split_last().unwrap();
    assert_eq!(last, &serde_json::json!({ "Pins": [root] }));
    assert!(!progress.is_empty());
    for p in progress {
        assert!(p["Progress"].as_u64().unwrap() > 0, "{p}");
        assert!(p.get("Pins").is_none(), "{p}");
    }
    assert_eq!(progress.last().unwrap()["Progress"], 5);

    // pin/ls?stream=true&type=recursive: {"Cid","Type"} lines.
    let r = call(port, "/api/v0/pin/ls?stream=true&type=recursive");
    assert_eq!(
        r.lines(),
        [serde_json::json!({"Cid": root, "Type": "recursive"})]
    );
    // pin/ls?arg=<cid>&type=recursive: {"Keys":{cid:{"Type"}}}; unpinned = error.
    let r = call(port, &format!("/api/v0/pin/ls?arg={root}&type=recursive"));
    assert_eq!(r.json()["Keys"][&root]["Type"], "recursive");
    let r = call(port, &format!("/api/v0/pin/ls?arg={file}&type=recursive"));
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["Type"], "error");

    // pin/update?arg=<from>&arg=<to>&unpin=false: {"Pins":[from,to]}, both kept.
    let r = call(
        port,
        &format!("/api/v0/pin/update?arg={root}&arg={file}&unpin=false"),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json(), serde_json::json!({ "Pins": [root, file] }));
    let r = call(port, "/api/v0/pin/ls?stream=true&type=recursive");
    assert_eq!(r.lines().len(), 2);

    // pin/rm?arg=<cid>: {"Pins":[cid]}.
    let r = call(port, &format!("/api/v0/pin/rm?arg={file}"));
    assert_eq!(r.json(), serde_json::json!({ "Pins": [file] }));

    // swarm/connect?arg=<multiaddr>: {"Strings":[...]}; swarm/peers: {"Peers":[{"Peer"}]}.
    let other = call(db.port, "/api/v0/id").json();
    let other_id = s(&other["ID"]).to_string();
    let addr = s(&other["Addresses"][0]).to_string();
    let r = call(port, &format!("/api/v0/swarm/connect?arg={addr}"));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json()["Strings"][0],
        format!("connect {other_id} success")
    );
    let peers = call(port, "/api/v0/swarm/peers").json();
    let list = peers["Peers"].as_array().unwrap();
    assert!(
        list.iter().any(|p| p["Peer"] == other_id.as_str()),
        "{peers}"
    );
    for p in list {
        assert!(s(&p["Addr"]).starts_with('/'), "{p}");
    }

    // config/show: the whole config; Cluster reads keys such as
    // Datastore.StorageMax out of it. The private key is never sent.
    let r = call(port, "/api/v0/config/show");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let cfg = r.json();
    assert!(s(&cfg["Datastore"]["StorageMax"]).ends_with("GB"), "{cfg}");
    assert!(s(&cfg["Identity"]["PeerID"]).starts_with("12D3"), "{cfg}");
    assert!(cfg["Identity"].get("PrivKey").is_none(), "{cfg}");

    // repo/stat?size-only=true: RepoSize and StorageMax as numbers.
    let st = call(port, "/api/v0/repo/stat?size-only=true").json();
    assert!(st["RepoSize"].as_u64().unwrap() > 0, "{st}");
    assert!(st["StorageMax"].as_u64().is_some(), "{st}");

    // block/put with Cluster's exact query, two blocks in one body: one
    // {"Key","Size"} line per block.
    let r = post_parts(
        port,
        "/api/v0/block/put?cid-codec=raw&mhtype=sha2-256&mhlen=-1&pin=false&allow-big-block=false",
        &[
            ("", "application/octet-stream", b"cluster block one"),
            ("", "application/octet-stream", b"cluster block two!"),
        ],
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let put = r.lines();
    assert_eq!(put.len(), 2);
    assert_eq!(put[0]["Size"], 17);
    assert_eq!(put[1]["Size"], 18);
    let key = s(&put[0]["Key"]).to_string();
    assert!(key.starts_with("bafkrei"), "{key}");

    // block/get?arg=<cid>: the bytes.
    let r = call(port, &format!("/api/v0/block/get?arg={key}"));
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"cluster block one"[..])
    );

    // resolve?arg=<path>&recursive=true: {"Path":"/ipfs/<cid>"}.
    let r = call(
        port,
        &format!("/api/v0/resolve?arg=/ipfs/{root}/f.bin&recursive=true"),
    );
    assert_eq!(
        r.json(),
        serde_json::json!({ "Path": format!("/ipfs/{file}") })
    );

    // repo/gc?stream-errors=true: {"Key":{"/":cid}} lines, no errors; the unpinned
    // blocks go, the pinned DAG stays.
    let r = call(port, "/api/v0/repo/gc?stream-errors=true");
    assert_eq!(r.status, 200);
    assert!(!r.trailer.contains("X-Stream-Error"), "{}", r.trailer);
    let gone: Vec<String> = r
        .lines()
        .iter()
        .map(|l| {
            assert!(l.get("Error").is_none(), "{l}");
            s(&l["Key"]["/"]).to_string()
        })
        .collect();
    assert!(gone.contains(&key), "{gone:?}");
    assert!(!gone.contains(&root), "{gone:?}");
    let r = call(port, &format!("/api/v0/block/get?arg={root}"));
    assert_eq!(r.status, 200);

    let (stopped, _, stderr) = da.stop();
    assert!(stopped, "{stderr}");
    drop(db);
}
