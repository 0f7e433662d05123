//! End-to-end tests of `block`, `pin`, `repo` and `refs` through the binary.

use crate::common;

use common::{err, init_repo, ok, repo_dir, run};

#[test]
fn block_put_get_stat_rm_round_trip() {
    let (_d, root) = init_repo();
    let data = common::pseudo_random(5000, 1);
    let cid = ok(&run(&root, &["block", "put"], Some(&data)))
        .trim()
        .to_string();
    assert!(
        cid.starts_with("bafkrei"),
        "raw CIDv1 by default, as Kubo: {cid}"
    );
    let got = run(&root, &["block", "get", &cid], None);
    assert!(got.ok, "{}", got.stderr);
    assert_eq!(got.stdout, data);
    assert_eq!(
        ok(&run(&root, &["block", "stat", &cid], None)),
        format!("Key: {cid}\nSize: 5000\n")
    );
    assert_eq!(
        ok(&run(&root, &["block", "rm", &cid], None)),
        format!("removed {cid}\n")
    );
    assert!(err(&run(&root, &["block", "get", &cid], None)).contains("not found"));
    // Removing again: an error, unless --force.
    err(&run(&root, &["block", "rm", &cid], None));
    ok(&run(&root, &["block", "rm", "-f", &cid], None));
}

#[test]
fn pinned_blocks_survive_gc_and_refuse_rm() {
    let (_d, root) = init_repo();
    let kept = ok(&run(
        &root,
        &["block", "put", "--pin=true"],
        Some(b"keep me"),
    ))
    .trim()
    .to_string();
    let gone = ok(&run(&root, &["block", "put"], Some(b"drop me")))
        .trim()
        .to_string();
    assert_eq!(
        ok(&run(&root, &["pin", "ls", "-q"], None)),
        format!("{kept}\n")
    );
    assert!(err(&run(&root, &["block", "rm", &kept], None)).contains("pinned"));
    assert_eq!(
        ok(&run(&root, &["repo", "gc"], None)),
        format!("removed {gone}\n")
    );
    assert_eq!(
        ok(&run(&root, &["refs", "local"], None)),
        format!("{kept}\n")
    );
    assert_eq!(
        ok(&run(&root, &["pin", "rm", &kept], None)),
        format!("unpinned {kept}\n")
    );
    assert_eq!(
        ok(&run(&root, &["repo", "gc", "-q"], None)),
        format!("{kept}\n")
    );
    assert_eq!(ok(&run(&root, &["refs", "local"], None)), "");
    let stat = ok(&run(&root, &["repo", "stat"], None));
    assert!(stat.starts_with("NumObjects: 0\n"), "{stat}");
    assert!(stat.contains("StorageMax: 10000000000\n"), "{stat}");
}

#[test]
fn bad_input_is_one_clear_error() {
    let (_d, root) = init_repo();
    assert!(err(&run(&root, &["block", "get", "Qmnotacid"], None)).contains("invalid CID"));
    assert!(err(&run(
        &root,
        &["block", "put", "--cid-codec", "dag-xml"],
        Some(b"x")
    ))
    .contains("unknown codec"));
    assert!(err(&run(
        &root,
        &[
            "pin",
            "add",
            "bafkreiey5jxe6ilpf62lnh77tm5ejbbmhbugzjuf6p2v3remlu73ced34q"
        ],
        None
    ))
    .contains("not in the repo"));
    // Oversize block: refused, nothing stored.
    let big = vec![7u8; acorn_storage::block::MAX_BLOCK_BYTES + 1];
    assert!(err(&run(&root, &["block", "put"], Some(&big))).contains("limit"));
    assert_eq!(ok(&run(&root, &["refs", "local"], None)), "");
    // Not initialised.
    let (_d2, nowhere) = repo_dir();
    assert!(err(&run(&nowhere, &["repo", "stat"], None)).contains("acorn init"));
}

#[test]
fn repo_verify_is_clean_on_a_fresh_repo() {
    let (_d, root) = init_repo();
    ok(&run(&root, &["block", "put"], Some(b"one")));
    ok(&run(&root, &["block", "put"], Some(b"two")));
    assert_eq!(
        ok(&run(&root, &["repo", "verify"], None)),
        "verified repo: 2 blocks ok\n"
    );
}
