//! The Helia interop harness works: two `HeliaPeer`s (tests/common/helia.rs driving
//! tools/interop/helia-peer.mjs) exchange a file over bitswap, CIDv0 and CIDv1.
//!
//! What: peer A adds a 3 MiB pseudo-random file as CIDv0 (dag-pb leaves) and CIDv1 (raw
//! leaves); B cannot fetch it before dialing (times out cleanly), dials A, sees A's
//! bitswap protocol over identify, fetches both CIDs and writes bytes whose sha256 equals
//! the file's. Bad commands get errors and leave the peer usable. This proves the harness
//! the Acorn↔Helia tests build on; it does not involve Acorn.
//!
//! Limits: needs Node >= 20 and `npm ci --prefix tools/interop`; without them the test
//! FAILS with that instruction, it never skips.

use crate::common;
use crate::helia;

use common::pseudo_random;

use std::time::Duration;

use helia::HeliaPeer;
use sha2::{Digest, Sha256};

/// Size of the exchanged file: 12 chunks of 262144 bytes, one level of links.
const FILE_BYTES: usize = 3 * 1024 * 1024;
/// Time B gets for each fetch over loopback.
const CAT_TIMEOUT: Duration = Duration::from_secs(30);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn two_helia_peers_exchange_a_file_over_bitswap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("random.bin");
    let data = pseudo_random(FILE_BYTES, 0x4e11a);
    std::fs::write(&file, &data).expect("write file");
    let want = hex(&Sha256::digest(&data));

    let mut a = HeliaPeer::start();
    let mut b = HeliaPeer::start();
    assert_ne!(a.peer_id(), b.peer_id());
    assert!(
        a.addr().starts_with("/ip4/127.0.0.1/tcp/") && a.addr().ends_with(a.peer_id()),
        "{}",
        a.addr()
    );

    let v0 = a.add_file(&file, 0, false);
    let v1 = a.add_file(&file, 1, true);
    assert!(v0.starts_with("Qm"), "{v0}");
    assert!(v1.starts_with("bafy"), "{v1}");
    assert!(
        a.try_add_file(&file, 0, true).is_err(),
        "CIDv0 with raw leaves is refused"
    );

    // Not connected yet: B has no way to the blocks, and says so within its timeout.
    let miss = b.try_cat(&v0, &dir.path().join("miss"), Duration::from_millis(500));
    assert!(miss.is_err(), "cat without peers: {miss:?}");
    assert!(b.peers().is_empty());

    let dialed = b.dial(a.addr());
    assert_eq!(dialed.peer, a.peer_id());
    assert!(
        dialed.protocols.iter().any(|p| p == "/ipfs/bitswap/1.2.0"),
        "{:?}",
        dialed.protocols
    );
    assert_eq!(b.peers(), vec![a.peer_id().to_owned()]);

    for cid in [&v0, &v1] {
        let out = dir.path().join(format!("out-{cid}"));
        let got = b.cat(cid, &out, CAT_TIMEOUT);
        assert_eq!(got.bytes, FILE_BYTES as u64, "{cid}");
        assert_eq!(got.sha256, want, "{cid}: sha256 reported by B");
        let written = std::fs::read(&out).expect("read fetched file");
        assert_eq!(
            hex(&Sha256::digest(&written)),
            want,
            "{cid}: bytes written by B"
        );
    }

    // Errors are replies, not crashes: the peer still answers afterwards.
    assert!(b.try_dial("/ip4/127.0.0.1/tcp/1").is_err(), "no /p2p part");
    assert!(b
        .try_cat("not-a-cid", &dir.path().join("x"), CAT_TIMEOUT)
        .is_err());
    assert_eq!(b.peers(), vec![a.peer_id().to_owned()]);

    b.stop();
    // A notices B leaving; stopping A cleanly still works.
    a.stop();
}
