//! `acorn add --inline [--inline-limit N]` and the RPC's `inline`/`inline-limit`:
//! small blocks get identity-multihash CIDs, as Kubo makes them (CIDs checked
//! against Kubo's own outputs), nothing is stored for them, and they read back
//! through `cat`, `get`, `ls` and `block get`, offline, through the daemon, and
//! from a real Kubo peer over bitswap.

use crate::common;
use crate::rpc;

use std::path::Path;
use std::time::Duration;

use acorn_tools::interop::kubo::KuboPeer;
use common::{err, init_repo, ok, pseudo_random, run, Daemon};
use rpc::Part;

/// `echo helloworld | ipfs add --inline -q` (Kubo; boxo's IPNS test fixtures).
const HELLOWORLD_INLINE: &str = "bafyaaeykceeaeeqlnbswy3dpo5xxe3debimaw";
/// `ipfs add -q --inline --raw-leaves` of `jkD98jkD975hkD8\n` (Kubo's sharness).
const JUNK_INLINE_RAW: &str = "bafkqaedknncdsodknncdsnzvnbvuioak";
const JUNK: &[u8] = b"jkD98jkD975hkD8\n";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A directory with a tiny file (inlined), a 40-byte file (inlined only with a
/// larger limit) and a file of several chunks (hashed, except a short last leaf).
fn make_tree(top: &Path) {
    std::fs::create_dir_all(top.join("sub")).unwrap();
    std::fs::write(top.join("hi.txt"), b"hi\n").unwrap();
    std::fs::write(top.join("sub/forty.txt"), [b'x'; 40]).unwrap();
    std::fs::write(top.join("big.bin"), pseudo_random(262_144 * 2 + 10, 3)).unwrap();
}

#[test]
fn inline_cids_are_kubos_and_read_back_without_being_stored() {
    let (d, root) = init_repo();
    let got = ok(&run(
        &root,
        &["add", "-Q", "--inline"],
        Some(b"helloworld\n"),
    ));
    assert_eq!(got.trim(), HELLOWORLD_INLINE);
    let junk = d.path().join("afile");
    std::fs::write(&junk, JUNK).unwrap();
    let got = ok(&run(
        &root,
        &["add", "-Q", "--inline", "--raw-leaves", s(&junk)],
        None,
    ));
    assert_eq!(got.trim(), JUNK_INLINE_RAW);
    // Without --inline the same file is hashed; --inline-limit alone changes nothing.
    let hashed = ok(&run(
        &root,
        &["add", "-Q", "--inline-limit", "64", s(&junk)],
        None,
    ));
    assert!(hashed.trim().starts_with("Qm"), "{hashed}");
    // The identity block is the hashed one's block, byte for byte.
    let a = run(&root, &["block", "get", JUNK_INLINE_RAW], None);
    assert!(a.ok && a.stdout == JUNK, "{}", a.stderr);
    let b = run(&root, &["block", "get", HELLOWORLD_INLINE], None);
    let hashed_hello = ok(&run(&root, &["add", "-Q"], Some(b"helloworld\n")));
    let c = run(&root, &["block", "get", hashed_hello.trim()], None);
    assert!(
        b.ok && c.ok && b.stdout == c.stdout,
        "{} {}",
        b.stderr,
        c.stderr
    );
    assert_eq!(
        ok(&run(&root, &["cat", HELLOWORLD_INLINE], None)),
        "helloworld\n"
    );

    // A tree: the tiny file's CID is its block; nothing stored for it.
    let tree = d.path().join("tree");
    make_tree(&tree);
    let plain = ok(&run(&root, &["add", "-r", "-Q", "-n", s(&tree)], None));
    let top = ok(&run(
        &root,
        &["add", "-r", "-Q", "--inline", s(&tree)],
        None,
    ));
    let top = top.trim();
    assert_ne!(top, plain.trim(), "inlined children change the root");
    let ls = ok(&run(&root, &["ls", top], None));
    let hi = ls
        .lines()
        .find(|l| l.ends_with(" hi.txt"))
        .unwrap_or_else(|| panic!("{ls}"));
    let hi_cid = hi.split_whitespace().next().unwrap();
    assert!(hi_cid.starts_with("bafyaa"), "identity dag-pb CIDv1: {ls}");
    let sub = ls.lines().find(|l| l.ends_with(" sub/")).unwrap();
    assert!(
        !sub.starts_with("bafyaa"),
        "a 40-byte file is over 32: {ls}"
    );
    assert_eq!(
        ok(&run(&root, &["cat", &format!("{top}/hi.txt")], None)),
        "hi\n"
    );
    let local = ok(&run(&root, &["refs", "local"], None));
    assert!(!local.contains(hi_cid), "identity blocks are not stored");
    let out = d.path().join("got");
    ok(&run(&root, &["get", "-o", s(&out), top], None));
    for f in ["hi.txt", "sub/forty.txt", "big.bin"] {
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            std::fs::read(tree.join(f)).unwrap(),
            "{f}"
        );
    }
    // The root is pinned and its DAG counts as complete.
    let pins = ok(&run(&root, &["pin", "ls", "--type=recursive"], None));
    assert!(pins.contains(top), "{pins}");
    ok(&run(&root, &["pin", "verify"], None));

    // A larger limit inlines the 40-byte file's block too (49 bytes encoded).
    let wide = ok(&run(
        &root,
        &["add", "-r", "-Q", "--inline", "--inline-limit=64", s(&tree)],
        None,
    ));
    let ls = ok(&run(&root, &["ls", &format!("{}/sub", wide.trim())], None));
    assert!(ls.starts_with("bafyaa"), "{ls}");

    let e = err(&run(
        &root,
        &["add", "--inline", "--inline-limit", "65", s(&junk)],
        None,
    ));
    assert!(e.contains("64"), "{e}");
}

#[test]
fn inline_over_the_rpc_and_through_the_daemon() {
    let (d, root) = init_repo();
    let daemon = Daemon::start(&root);
    let a = rpc::post_multipart(
        daemon.port,
        "/api/v0/add?inline=true",
        &[Part::file("hello", b"helloworld\n")],
    );
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.lines()[0]["Hash"], HELLOWORLD_INLINE);
    let a = rpc::post_multipart(
        daemon.port,
        "/api/v0/add?inline=1&inline-limit=32&raw-leaves=true",
        &[Part::file("afile", JUNK)],
    );
    assert_eq!(a.lines()[0]["Hash"], JUNK_INLINE_RAW);
    // inline-limit below the block: hashed.
    let a = rpc::post_multipart(
        daemon.port,
        "/api/v0/add?inline=true&inline-limit=8",
        &[Part::file("hello", b"helloworld\n")],
    );
    assert!(a.lines()[0]["Hash"].as_str().unwrap().starts_with("Qm"));
    let a = rpc::post_multipart(
        daemon.port,
        "/api/v0/add?inline=true&inline-limit=1000",
        &[Part::file("hello", b"helloworld\n")],
    );
    assert_eq!(a.status, 400, "{}", String::from_utf8_lossy(&a.body));

    // The CLI through the daemon gives the offline CIDs.
    let tree = d.path().join("tree");
    make_tree(&tree);
    let online = ok(&run(
        &root,
        &[
            "add",
            "-r",
            "-Q",
            "--inline",
            "--inline-limit",
            "64",
            s(&tree),
        ],
        None,
    ));
    let offline = ok(&run(
        &root,
        &[
            "add",
            "-r",
            "-Q",
            "-n",
            "--inline",
            "--inline-limit",
            "64",
            s(&tree),
        ],
        None,
    ));
    assert_eq!(online, offline);
    let a = rpc::post(
        daemon.port,
        &format!("/api/v0/cat?arg={}/sub/forty.txt", online.trim()),
    );
    assert_eq!(a.body, [b'x'; 40]);
}

/// A real Kubo (v0.22) fetches Acorn's inlined tree over bitswap and reads the
/// identity blocks in it as its own.
#[test]
fn kubo_reads_an_inlined_tree_from_acorn() {
    let (d, root) = init_repo();
    let _daemon = Daemon::start(&root);
    let tree = d.path().join("tree");
    make_tree(&tree);
    let top = ok(&run(
        &root,
        &[
            "add",
            "-r",
            "-Q",
            "--inline",
            "--inline-limit",
            "64",
            s(&tree),
        ],
        None,
    ));
    let top = top.trim();
    let mut k = KuboPeer::start();
    ok(&run(&root, &["swarm", "connect", k.addr()], None));
    let out = d.path().join("kubo-got");
    k.get(top, &out, Duration::from_secs(60));
    for f in ["hi.txt", "sub/forty.txt", "big.bin"] {
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            std::fs::read(tree.join(f)).unwrap(),
            "{f}"
        );
    }
    // A whole file in its CID: Kubo needs no peer for it.
    let one = d.path().join("kubo-hello");
    k.get(HELLOWORLD_INLINE, &one, Duration::from_secs(30));
    assert_eq!(std::fs::read(&one).unwrap(), b"helloworld\n");
    k.stop();
}
