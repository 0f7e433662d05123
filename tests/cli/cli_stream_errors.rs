//! A streamed answer that fails part way makes the CLI fail through the daemon as
//! it does offline: the daemon sends the error as the `X-Stream-Error` trailer
//! after what it had written, and the command exits non-zero with that error even
//! when its own format had already ended (a tar's end-of-archive marker).
//!
//! The faults are in the content itself (an unsafe entry name, a child of the
//! wrong size), so the daemon fails at once, without asking the network.

use crate::common;

use std::path::Path;

use common::{err, init_repo, ok, run, Daemon};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The binary form of `cid`.
fn cid_bytes(cid: &str) -> Vec<u8> {
    cid::Cid::try_from(cid.trim()).unwrap().to_bytes()
}

/// A protobuf length-delimited field.
fn field(tag: u8, bytes: &[u8]) -> Vec<u8> {
    assert!(bytes.len() < 128, "one-byte lengths only");
    let mut out = vec![tag, bytes.len() as u8];
    out.extend_from_slice(bytes);
    out
}

/// A dag-pb link (`Hash`, `Name`, `Tsize`).
fn link(cid: &str, name: &[u8], tsize: u8) -> Vec<u8> {
    let mut l = field(0x0a, &cid_bytes(cid));
    l.extend(field(0x12, name));
    l.extend([0x18, tsize]);
    field(0x12, &l)
}

/// Stores a dag-pb node with `links` and UnixFS `data`; its CID.
fn put_node(root: &Path, links: &[Vec<u8>], data: &[u8]) -> String {
    let mut node: Vec<u8> = links.concat();
    node.extend(field(0x0a, data));
    ok(&run(
        root,
        &["block", "put", "--cid-codec", "dag-pb"],
        Some(&node),
    ))
    .trim()
    .to_string()
}

fn raw_block(root: &Path, data: &[u8]) -> String {
    ok(&run(root, &["block", "put"], Some(data)))
        .trim()
        .to_string()
}

#[test]
fn streamed_commands_fail_on_the_daemons_trailer() {
    let (d, root) = init_repo();
    let hello = raw_block(&root, b"hello");
    let longer = raw_block(&root, b"world!");
    // A directory whose entries are a file and `..`.
    let bad_dir = put_node(
        &root,
        &[link(&hello, b"..", 5), link(&hello, b"a", 5)],
        &[0x08, 0x01],
    );
    // A 10-byte file of two 5-byte children, the second 6 bytes long.
    let bad_file = put_node(
        &root,
        &[link(&hello, b"", 5), link(&longer, b"", 6)],
        &[0x08, 0x02, 0x18, 10, 0x20, 5, 0x20, 5],
    );

    // Offline, both fail.
    let out = d.path().join("offline");
    let e = err(&run(&root, &["get", &bad_dir, "-o", s(&out)], None));
    assert!(e.contains(".."), "{e}");
    err(&run(&root, &["cat", &bad_file], None));

    let daemon = Daemon::start(&root);
    let out = d.path().join("online");
    let r = run(&root, &["get", &bad_dir, "-o", s(&out)], None);
    let e = err(&r);
    assert!(e.contains(".."), "{e}");
    assert!(e.contains("the daemon's answer failed part way"), "{e}");

    let r = run(&root, &["cat", &bad_file], None);
    let e = err(&r);
    assert!(e.contains("parent says 5 bytes, node holds 6"), "{e}");
    assert!(e.contains("the daemon's answer failed part way"), "{e}");

    // A sound tree still comes out whole.
    let good_dir = put_node(&root, &[link(&hello, b"a", 5)], &[0x08, 0x01]);
    let out = d.path().join("good");
    ok(&run(&root, &["get", &good_dir, "-o", s(&out)], None));
    assert_eq!(std::fs::read(out.join("a")).unwrap(), b"hello");
    drop(daemon);
}
