//! Interop with a real Helia peer (tools/interop/helia-peer.mjs, Helia 5 / js-libp2p 2,
//! pinned by the lockfile): an Acorn daemon and Helia connect over TCP + noise + yamux
//! and exchange files over bitswap in both directions, CIDv0 (dag-pb leaves) and CIDv1
//! (raw leaves); bytes are compared by sha256.
//!
//! Needs Node >= 20 and `npm ci --prefix tools/interop`; without them the test FAILS
//! with that instruction (it never skips).

use crate::common;
use crate::helia;

use std::time::Duration;

use common::{dial_addr, init_repo, ok, pseudo_random, run, Daemon};
use helia::HeliaPeer;
use sha2::{Digest, Sha256};

/// 5 MiB + 7 bytes: 21 chunks under one root (the last one 7 bytes).
const FILE_BYTES: usize = (5 << 20) + 7;
/// Time each side gets for a fetch over loopback.
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn helia_fetches_from_acorn_and_acorn_fetches_from_helia() {
    let (dir, root) = init_repo();
    let _daemon = Daemon::start(&root);
    let mut h = HeliaPeer::start();

    // Helia dials Acorn and sees our bitswap over identify.
    let d = h.dial(&dial_addr(&root));
    assert!(
        d.protocols.iter().any(|p| p == "/ipfs/bitswap/1.2.0"),
        "Helia does not see Acorn's bitswap: {:?}",
        d.protocols
    );
    let peers = ok(&run(&root, &["swarm", "peers"], None));
    assert!(
        peers.contains(h.peer_id()),
        "Acorn does not list Helia: {peers}"
    );

    // Acorn → Helia, both CID versions.
    let data = pseudo_random(FILE_BYTES, 41);
    let want = hex(&Sha256::digest(&data));
    let src = dir.path().join("from-acorn.bin");
    std::fs::write(&src, &data).unwrap();
    for args in [&["add", "-Q"][..], &["add", "-Q", "--cid-version=1"][..]] {
        let mut a = args.to_vec();
        a.push(src.to_str().unwrap());
        let cid = ok(&run(&root, &a, None)).trim().to_string();
        let out = dir.path().join(format!("helia-got-{cid}"));
        let got = h.cat(&cid, &out, FETCH_TIMEOUT);
        assert_eq!(got.bytes as usize, FILE_BYTES, "{cid}");
        assert_eq!(got.sha256, want, "Helia got other bytes for {cid}");
    }

    // Helia → Acorn, both CID versions: Helia adds, Acorn (already connected) fetches.
    let data = pseudo_random(FILE_BYTES, 42);
    let want = Sha256::digest(&data).to_vec();
    let src = dir.path().join("from-helia.bin");
    std::fs::write(&src, &data).unwrap();
    for (version, raw) in [(0u8, false), (1u8, true)] {
        let cid = h.add_file(&src, version, raw);
        // Helia's CID is Kubo's: Acorn's only-hash add agrees.
        let mut a = vec!["add", "-Q", "-n"];
        if version == 1 {
            a.push("--cid-version=1");
        }
        a.push(src.to_str().unwrap());
        assert_eq!(
            ok(&run(&root, &a, None)).trim(),
            cid,
            "CID v{version} differs"
        );
        let r = run(&root, &["cat", &cid], None);
        assert!(r.ok, "Acorn could not fetch {cid} from Helia: {}", r.stderr);
        assert_eq!(Sha256::digest(&r.stdout).to_vec(), want, "{cid}");
        // Fetched blocks are stored: pinning works and the repo verifies.
        ok(&run(&root, &["pin", "add", &cid], None));
    }
    ok(&run(&root, &["repo", "verify"], None));
    // js-libp2p's multistream-select answers are read right: the blocks went both
    // ways over bitswap 1.2.0, and are counted against Helia's peer id.
    for args in [
        &["stats", "bw", "--proto", "/ipfs/bitswap/1.2.0"][..],
        &["stats", "bw", "--peer", h.peer_id()],
    ] {
        let bw = ok(&run(&root, args, None));
        let lines: Vec<&str> = bw.lines().collect();
        assert!(
            lines[1].starts_with("TotalIn: ") && lines[1].ends_with(" MB"),
            "{args:?}: {bw}"
        );
        assert!(
            lines[2].starts_with("TotalOut: ") && lines[2].ends_with(" MB"),
            "{args:?}: {bw}"
        );
    }
    h.stop();
}

#[test]
fn helia_ed25519_and_secp256k1_peers_handshake_both_ways() {
    let (dir, root) = init_repo();
    let _daemon = Daemon::start(&root);
    let ours = dial_addr(&root);
    for (i, (key_type, prefix)) in [("Ed25519", "12D3KooW"), ("secp256k1", "16Uiu2")]
        .into_iter()
        .enumerate()
    {
        // Helia dials Acorn: its key in our handshake as the responder.
        let mut h = HeliaPeer::with_key_type(key_type);
        assert!(
            h.peer_id().starts_with(prefix),
            "{key_type}: {}",
            h.peer_id()
        );
        let d = h.dial(&ours);
        assert!(d.identified, "{key_type}: Helia did not identify Acorn");
        let data = pseudo_random(200_000 + i, 80 + i as u64);
        let src = dir.path().join(format!("{key_type}.bin"));
        std::fs::write(&src, &data).unwrap();
        let cid = h.add_file(&src, 1, true);
        let r = run(&root, &["cat", &cid], None);
        assert!(r.ok, "{key_type}: {}", r.stderr);
        assert_eq!(r.stdout, data, "{key_type}");
        h.stop();

        // Acorn dials Helia: its key in our handshake as the initiator.
        let h = HeliaPeer::with_key_type(key_type);
        let said = ok(&run(&root, &["swarm", "connect", h.addr()], None));
        assert!(said.contains(h.peer_id()), "{key_type}: {said}");
        h.stop();
    }
}
