//! `acorn dag resolve` and RPC `dag/resolve`: the CID of the last block a path
//! reaches and, as Kubo's `RemPath`, the rest of the path inside that block.

use crate::common;
use crate::http;

use common::{err, init_repo, ok, run, Daemon};

/// A dag-cbor node `{"child": <link to leaf>, "a": [{"b": 1}]}` over a dag-json
/// leaf `{"x": {"y": "z"}}`, and a UnixFS directory holding a raw file.
fn fixtures(root: &std::path::Path, d: &std::path::Path) -> (String, String, String, String) {
    let leaf = ok(&run(
        root,
        &["dag", "put", "--store-codec", "dag-json"],
        Some(br#"{"x":{"y":"z"}}"#),
    ));
    let leaf = leaf.trim().to_string();
    let doc = format!(r#"{{"child":{{"/":"{leaf}"}},"a":[{{"b":1}}]}}"#);
    let top = ok(&run(root, &["dag", "put"], Some(doc.as_bytes())));
    let top = top.trim().to_string();
    let dir = d.join("dir");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("f.txt"), b"hello\n").unwrap();
    let fs = ok(&run(
        root,
        &["add", "-r", "-Q", "--cid-version=1", dir.to_str().unwrap()],
        None,
    ));
    let fs = fs.trim().to_string();
    let file = ok(&run(
        root,
        &["add", "-Q", "--cid-version=1"],
        Some(b"hello\n"),
    ));
    (leaf, top, fs, file.trim().to_string())
}

#[test]
fn dag_resolve_gives_the_remainder_inside_the_last_block() {
    let (d, root) = init_repo();
    let (leaf, top, fs, file) = fixtures(&root, d.path());
    let r = |p: &str| {
        ok(&run(&root, &["dag", "resolve", p], None))
            .trim()
            .to_string()
    };
    assert_eq!(r(&top), top);
    assert_eq!(r(&format!("/ipfs/{top}/a/0/b")), format!("{top}/a/0/b"));
    assert_eq!(r(&format!("{top}/child")), leaf);
    assert_eq!(r(&format!("{top}/child/x/y")), format!("{leaf}/x/y"));
    // UnixFS names through dag-pb, down to the raw leaf.
    assert_eq!(r(&format!("{fs}/f.txt")), file);
    let e = err(&run(
        &root,
        &["dag", "resolve", &format!("{top}/nope")],
        None,
    ));
    assert!(e.contains("nope"), "{e}");
    let e = err(&run(
        &root,
        &["dag", "resolve", &format!("{file}/past")],
        None,
    ));
    assert!(e.contains("past"), "{e}");

    // The same through the daemon, and Kubo's RPC answer.
    let daemon = Daemon::start(&root);
    assert_eq!(r(&format!("{top}/child/x")), format!("{leaf}/x"));
    let (status, v) = http::post(
        daemon.port,
        &format!("/api/v0/dag/resolve?arg=/ipfs/{top}/child/x/y"),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["Cid"]["/"], leaf.as_str());
    assert_eq!(v["RemPath"], "x/y");
    let (_, v) = http::post(daemon.port, &format!("/api/v0/dag/resolve?arg={top}/child"));
    assert_eq!(v["Cid"]["/"], leaf.as_str());
    assert_eq!(v["RemPath"], "");
}
