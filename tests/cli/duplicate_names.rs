//! Two entries of one name in one directory: an RPC `add` that sends a path twice
//! is refused (as Kubo's "directory already has entry by that name"), and `get` of
//! a DAG that already holds such a directory fails with the same clear error
//! offline and through the daemon, writing nothing.

use crate::common;
use crate::http;

use common::{init_repo, ok, run, Daemon};

/// An unsigned varint.
fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A length-delimited protobuf field.
fn field(tag: u8, bytes: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// A UnixFS directory (dag-pb) with `links` of (name, CID bytes), in the given
/// order, duplicates and all.
fn directory(links: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, cid) in links {
        let mut link = Vec::new();
        field(0x0a, cid, &mut link); // Hash
        field(0x12, name.as_bytes(), &mut link); // Name
        link.push(0x18); // Tsize
        varint(10, &mut link);
        field(0x12, &link, &mut out); // Links
    }
    field(0x0a, &[0x08, 0x01], &mut out); // Data: UnixFS Type = Directory
    out
}

/// The binary form of a CID string (what a dag-pb link holds).
fn cid_bytes(cid: &str) -> Vec<u8> {
    let c: cid::Cid = cid.parse().unwrap();
    c.to_bytes()
}

/// Stores a one-block file holding `data`; returns its CID.
fn file(root: &std::path::Path, data: &[u8]) -> String {
    ok(&run(root, &["add", "-Q", "--pin=false"], Some(data)))
        .trim()
        .to_string()
}

/// Stores `dir` as a dag-pb block; returns its CID.
fn put_dir(root: &std::path::Path, dir: &[u8]) -> String {
    ok(&run(
        root,
        &["block", "put", "--cid-codec", "dag-pb", "--pin=true"],
        Some(dir),
    ))
    .trim()
    .to_string()
}

#[test]
fn rpc_add_refuses_a_path_sent_twice() {
    let (_d, root) = init_repo();
    let daemon = Daemon::start(&root);
    let a = http::post_parts(
        daemon.port,
        "/api/v0/add",
        &[
            ("d", "application/x-directory", b""),
            ("d/x", "application/octet-stream", b"first"),
            ("d/x", "application/octet-stream", b"second"),
        ],
    );
    let v = a.json();
    assert_eq!(a.status, 400, "{v}");
    assert_eq!(v["Code"], 1, "{v}");
    let msg = v["Message"].as_str().unwrap();
    assert!(msg.contains("duplicate entry path \"d/x\""), "{msg}");
    // Nothing was pinned.
    let pins = ok(&run(&root, &["pin", "ls", "--type=recursive"], None));
    assert!(pins.trim().is_empty(), "{pins}");
    // One of each name is still fine, and distinct names in different
    // directories are not duplicates.
    let a = http::post_parts(
        daemon.port,
        "/api/v0/add",
        &[
            ("d", "application/x-directory", b""),
            ("d/x", "application/octet-stream", b"first"),
            ("d/e", "application/x-directory", b""),
            ("d/e/x", "application/octet-stream", b"second"),
        ],
    );
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert!(!a.trailer.contains("X-Stream-Error"), "{}", a.trailer);
    let lines = a.lines();
    assert_eq!(lines.last().unwrap()["Name"], "d", "{lines:?}");
    daemon.stop();
}

#[test]
fn get_of_a_directory_with_a_name_twice_fails_alike_offline_and_through_the_daemon() {
    let (d, root) = init_repo();
    let one = file(&root, b"one\n");
    let two = file(&root, b"two\n");
    let dup = put_dir(
        &root,
        &directory(&[("x", cid_bytes(&one)), ("x", cid_bytes(&two))]),
    );
    // The duplicate one level down, under a well-formed root.
    let nested = put_dir(
        &root,
        &directory(&[("a", cid_bytes(&one)), ("sub", cid_bytes(&dup))]),
    );
    let expect = format!("directory {dup} has more than one entry named \"x\"");

    for (i, cid) in [&dup, &nested].into_iter().enumerate() {
        let out = d.path().join(format!("offline{i}"));
        let r = run(&root, &["get", cid, "-o", out.to_str().unwrap()], None);
        assert!(!r.ok, "offline get of {cid} succeeded");
        assert!(r.stderr.contains(&expect), "{}", r.stderr);
        assert!(!out.exists(), "offline get wrote {}", out.display());
    }

    let daemon = Daemon::start(&root);
    for (i, cid) in [&dup, &nested].into_iter().enumerate() {
        let out = d.path().join(format!("daemon{i}"));
        let r = run(&root, &["get", cid, "-o", out.to_str().unwrap()], None);
        assert!(!r.ok, "get of {cid} through the daemon succeeded");
        assert!(r.stderr.contains(&expect), "{}", r.stderr);
        // Never both files under one name: whatever was written holds no `x`.
        assert!(!out.join("x").exists() && !out.join("sub/x").exists());
    }
    daemon.stop();
}
