//! Interop with a real Kubo peer (v0.22.0, go-libp2p 0.29; `tools/interop/kubo-peer.py`
//! through `acorn_tools::interop::kubo`): an Acorn daemon and Kubo connect over TCP +
//! noise + yamux and exchange a multi-MiB file and a directory in both directions over
//! bitswap (sha256 of every file compared); the same across a Kubo private network
//! (`swarm.key`), which a peer with another key cannot join; and Kubo peers of every
//! key type (RSA, Kubo's default, Ed25519, secp256k1, ECDSA) handshake with Acorn.
//!
//! Needs `tools/interop/.venv` (`.ci/run` installs it); without it the tests FAIL with
//! the install command, they never skip.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use acorn_tools::interop::kubo::{KuboPeer, Options};
use base64ct::{Base64, Encoding};
use common::{dial_addr, err, init_repo, ok, pseudo_random, run, Daemon};
use libp2p_identity::Keypair;
use sha2::{Digest, Sha256};

/// 6 MiB + 5 bytes: 25 chunks under one root.
const FILE_BYTES: usize = (6 << 20) + 5;
/// Time each side gets for a fetch over loopback.
const FETCH_TIMEOUT: Duration = Duration::from_secs(90);

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn peer_id(root: &Path) -> String {
    let addr = dial_addr(root);
    addr.rsplit('/').next().unwrap().to_string()
}

/// A directory with nesting, an empty file, a multi-chunk file and a non-ASCII name.
fn make_tree(top: &Path, seed: u64) {
    std::fs::create_dir_all(top.join("sub/deeper")).unwrap();
    std::fs::write(top.join("readme.txt"), b"hello from a tree\n").unwrap();
    std::fs::write(top.join("empty"), b"").unwrap();
    std::fs::write(top.join("sub/big.bin"), pseudo_random((1 << 20) + 3, seed)).unwrap();
    std::fs::write(top.join("sub/deeper/ñandú.txt"), b"non-ascii name\n").unwrap();
    std::fs::create_dir_all(top.join("void")).unwrap();
}

/// Relative path → sha256 of every file, and every directory (as "dir"), under `top`.
fn tree_digest(top: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![top.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(top).unwrap().to_path_buf();
            if path.is_dir() {
                out.insert(rel, "dir".to_string());
                stack.push(path);
            } else {
                out.insert(rel, hex(&Sha256::digest(std::fs::read(&path).unwrap())));
            }
        }
    }
    out
}

/// Kubo fetches `cid` (a file) from Acorn; its bytes hash to `want`.
fn kubo_gets_file(k: &mut KuboPeer, cid: &str, scratch: &Path, want: &str) {
    let out = scratch.join(format!("kubo-got-{cid}"));
    k.get(cid, &out, FETCH_TIMEOUT);
    let got = hex(&Sha256::digest(std::fs::read(&out).unwrap()));
    assert_eq!(got, want, "Kubo got other bytes for {cid}");
}

/// Acorn's `cat` of `cid` hashes to `want`.
fn acorn_cats(root: &Path, cid: &str, want: &str) {
    let r = run(root, &["cat", cid], None);
    assert!(r.ok, "Acorn could not fetch {cid} from Kubo: {}", r.stderr);
    assert_eq!(hex(&Sha256::digest(&r.stdout)), want, "{cid}");
}

#[test]
fn kubo_rsa_peer_exchanges_files_and_directories_both_ways() {
    let (dir, root) = init_repo();
    let _daemon = Daemon::start(&root);
    let mut k = KuboPeer::start();
    assert!(
        k.peer_id().starts_with("Qm"),
        "Kubo's default identity is RSA: {}",
        k.peer_id()
    );

    // Acorn dials Kubo: the RSA handshake, Kubo's Qm… id in our peer list and ours in
    // Kubo's.
    let said = ok(&run(&root, &["swarm", "connect", k.addr()], None));
    assert!(said.contains(k.peer_id()), "{said}");
    let peers = ok(&run(&root, &["swarm", "peers"], None));
    assert!(
        peers.contains(k.peer_id()),
        "Acorn does not list Kubo: {peers}"
    );
    let ours = peer_id(&root);
    assert!(
        k.peers().iter().any(|c| c.peer == ours),
        "Kubo does not list Acorn {ours}: {:?}",
        k.peers()
    );

    // Acorn → Kubo: a file and a directory.
    let data = pseudo_random(FILE_BYTES, 51);
    let src = dir.path().join("from-acorn.bin");
    std::fs::write(&src, &data).unwrap();
    let cid = ok(&run(&root, &["add", "-Q", src.to_str().unwrap()], None))
        .trim()
        .to_string();
    kubo_gets_file(&mut k, &cid, dir.path(), &hex(&Sha256::digest(&data)));

    let tree = dir.path().join("acorn-tree");
    make_tree(&tree, 52);
    let tree_cid = ok(&run(
        &root,
        &["add", "-Q", "-r", tree.to_str().unwrap()],
        None,
    ))
    .trim()
    .to_string();
    let out = dir.path().join("kubo-got-tree");
    k.get(&tree_cid, &out, FETCH_TIMEOUT);
    assert_eq!(
        tree_digest(&out),
        tree_digest(&tree),
        "Kubo's copy of the tree"
    );

    // Kubo → Acorn: a file and a directory Kubo added; Kubo's CIDs are Acorn's.
    let data = pseudo_random(FILE_BYTES, 53);
    let src = dir.path().join("from-kubo.bin");
    std::fs::write(&src, &data).unwrap();
    let cid = k.add(&src);
    let only_hash = ok(&run(
        &root,
        &["add", "-Q", "-n", src.to_str().unwrap()],
        None,
    ));
    assert_eq!(only_hash.trim(), cid, "Acorn and Kubo disagree on the CID");
    acorn_cats(&root, &cid, &hex(&Sha256::digest(&data)));

    let tree = dir.path().join("kubo-tree");
    make_tree(&tree, 54);
    let tree_cid = k.add(&tree);
    let only_hash = ok(&run(
        &root,
        &["add", "-Q", "-n", "-r", tree.to_str().unwrap()],
        None,
    ));
    assert_eq!(only_hash.trim(), tree_cid, "directory CIDs differ");
    let out = dir.path().join("acorn-got-tree");
    ok(&run(
        &root,
        &["get", &tree_cid, "-o", out.to_str().unwrap()],
        None,
    ));
    assert_eq!(
        tree_digest(&out),
        tree_digest(&tree),
        "Acorn's copy of the tree"
    );
    ok(&run(&root, &["pin", "add", &tree_cid], None));
    ok(&run(&root, &["repo", "verify"], None));
    k.stop();
}

/// A Kubo `swarm.key` with 32 bytes from `seed`.
fn swarm_key(path: &Path, seed: u64) {
    let bytes = pseudo_random(32, seed);
    std::fs::write(
        path,
        format!("/key/swarm/psk/1.0.0/\n/base16/\n{}\n", hex(&bytes)),
    )
    .unwrap();
}

#[test]
fn kubo_private_network_with_the_same_key_works_and_another_key_is_refused() {
    let (dir, root) = init_repo();
    swarm_key(&root.join("swarm.key"), 61);
    let _daemon = Daemon::start(&root);

    let same = dir.path().join("same.key");
    swarm_key(&same, 61);
    let mut k = KuboPeer::with(Options {
        swarm_key: Some(same),
        ..Options::default()
    });
    ok(&run(&root, &["swarm", "connect", k.addr()], None));
    let data = pseudo_random((1 << 20) + 9, 62);
    let src = dir.path().join("pnet.bin");
    std::fs::write(&src, &data).unwrap();
    let cid = k.add(&src);
    acorn_cats(&root, &cid, &hex(&Sha256::digest(&data)));
    let cid = ok(&run(
        &root,
        &["add", "-Q", "--cid-version=1", src.to_str().unwrap()],
        None,
    ))
    .trim()
    .to_string();
    kubo_gets_file(&mut k, &cid, dir.path(), &hex(&Sha256::digest(&data)));
    k.stop();

    // Another key: neither side admits the other, and the dial ends with an error.
    let other = dir.path().join("other.key");
    swarm_key(&other, 63);
    let mut k = KuboPeer::with(Options {
        swarm_key: Some(other),
        ..Options::default()
    });
    let e = err(&run(&root, &["swarm", "connect", k.addr()], None));
    assert!(!e.is_empty(), "a refused dial says why");
    let ours = dial_addr(&root);
    assert!(
        k.try_connect(&ours).is_err(),
        "Kubo with another swarm key joined Acorn's private network"
    );
    let peers = ok(&run(&root, &["swarm", "peers"], None));
    assert!(!peers.contains(k.peer_id()), "{peers}");
    assert!(k.peers().is_empty(), "{:?}", k.peers());
    k.stop();
}

/// Kubo's `Identity` for `keypair`: (PeerID, base64 protobuf PrivKey).
fn kubo_identity(keypair: &Keypair) -> (String, String) {
    let pk = keypair.to_protobuf_encoding().expect("encodable key");
    (
        keypair.public().to_peer_id().to_base58(),
        Base64::encode_string(&pk),
    )
}

#[test]
fn kubo_peers_of_every_key_type_handshake_with_acorn() {
    let (dir, root) = init_repo();
    let _daemon = Daemon::start(&root);
    let ours = dial_addr(&root);
    let keys: Vec<(&str, Keypair, &str)> = vec![
        ("ed25519", Keypair::generate_ed25519(), "12D3KooW"),
        ("secp256k1", Keypair::generate_secp256k1(), "16Uiu2"),
        ("ecdsa", Keypair::generate_ecdsa(), "Qm"),
    ];
    for (i, (name, keypair, prefix)) in keys.iter().enumerate() {
        let identity = kubo_identity(keypair);
        let mut k = KuboPeer::with(Options {
            identity: Some(identity.clone()),
            ..Options::default()
        });
        assert_eq!(k.peer_id(), identity.0, "{name}: Kubo took our identity");
        assert!(k.peer_id().starts_with(prefix), "{name}: {}", k.peer_id());
        // Kubo dials us (its key in our handshake), then we fetch from it.
        k.connect(&ours);
        let peers = ok(&run(&root, &["swarm", "peers"], None));
        assert!(peers.contains(k.peer_id()), "{name}: {peers}");
        let data = pseudo_random(300_000 + i, 70 + i as u64);
        let src = dir.path().join(format!("{name}.bin"));
        std::fs::write(&src, &data).unwrap();
        let cid = k.add(&src);
        acorn_cats(&root, &cid, &hex(&Sha256::digest(&data)));
        k.stop();
    }
}
