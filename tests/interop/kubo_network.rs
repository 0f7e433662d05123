//! The real network's habits against a real Kubo (v0.22.0 through
//! `acorn_tools::interop::kubo`) and Helia: provider records travel both ways through a
//! Kubo DHT server (on loopback, so over the LAN DHT `/ipfs/lan/kad/1.0.0`), Kubo
//! learns Acorn's listen addresses from identify and, by identify push, a new one,
//! Helia reads Acorn's agent and protocols, and a peer with no security protocol or
//! muxer in common is refused at once with the stage named, and so is a Kubo whose
//! identity is a 1024-bit RSA key.
//!
//! Every other Kubo here has an Ed25519 identity. Needs `tools/interop/.venv` (`.ci/run`
//! installs it); without it the tests FAIL with the install command, they never skip.

use crate::common;
use crate::helia;
#[path = "../../net/tests/common/odd_peer.rs"]
mod odd_peer;

use std::path::Path;
use std::time::{Duration, Instant};

use acorn_tools::interop::kubo::{KuboPeer, Options};
use base64ct::{Base64, Encoding};
use common::{err, init_repo, ok, pseudo_random, run, Daemon};
use libp2p_identity::Keypair;
use sha2::{Digest, Sha256};

/// Time a Kubo fetch gets over loopback.
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for something the network does in the background (a provide, an
/// identify push).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Well under the daemon's default handshake timeout (20 s): a failed negotiation
/// must end the dial, not the timeout.
const HANDSHAKE_BOUND: Duration = Duration::from_secs(10);

/// Kubo's `Identity` for a fresh Ed25519 key: (PeerID, base64 protobuf PrivKey).
fn kubo_identity() -> (String, String) {
    let keypair = Keypair::generate_ed25519();
    let pk = keypair.to_protobuf_encoding().expect("encodable key");
    (
        keypair.public().to_peer_id().to_base58(),
        Base64::encode_string(&pk),
    )
}

/// A Kubo DHT server with an Ed25519 identity.
fn kubo() -> KuboPeer {
    KuboPeer::with(Options {
        identity: Some(kubo_identity()),
        ..Options::default()
    })
}

fn peer_id(root: &Path) -> String {
    let id: serde_json::Value = serde_json::from_str(&ok(&run(root, &["id"], None))).unwrap();
    id["ID"].as_str().unwrap().to_string()
}

/// Retries `f` until it succeeds or [`SETTLE_TIMEOUT`] passes; panics with the last
/// error then.
fn eventually<T>(what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if Instant::now() > deadline => panic!("{what}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(300)),
        }
    }
}

/// `swarm connect` to a peer with no security protocol or muxer in common fails at
/// once, naming the stage, well within the daemon's handshake timeout.
#[test]
fn swarm_connect_names_the_missing_security_or_muxer_protocol() {
    let (_dir, root) = init_repo();
    let _daemon = Daemon::start(&root);
    for (offer, want) in [
        (odd_peer::Offer::TlsOnly, "no common security protocol"),
        (odd_peer::Offer::MplexOnly, "no common muxer protocol"),
    ] {
        let peer = odd_peer::OddPeer::start(offer);
        let started = Instant::now();
        let e = err(&run(
            &root,
            &["swarm", "connect", &peer.addr.to_string()],
            None,
        ));
        let took = started.elapsed();
        assert!(e.contains(want), "{offer:?}: {e}");
        assert!(took < HANDSHAKE_BOUND, "{offer:?}: took {took:?}");
        let peers = ok(&run(&root, &["swarm", "peers"], None));
        assert!(peers.trim().is_empty(), "{offer:?}: {peers}");
    }
}

/// A protobuf `PublicKey` or `PrivateKey` of an RSA key: `Type = RSA` (0), `Data`.
fn rsa_protobuf(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x08, 0x00, 0x12];
    let mut len = data.len();
    while len >= 0x80 {
        out.push(len as u8 | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
    out.extend_from_slice(data);
    out
}

/// Kubo's `Identity` for a fresh RSA key of `bits` bits: (PeerID, base64 protobuf
/// PrivKey with `Data` = PKCS#1 DER). The peer ID comes from the public key's
/// protobuf (`Data` = X.509 SubjectPublicKeyInfo), which libp2p decodes at any size.
fn kubo_rsa_identity(bits: usize) -> (String, String) {
    use rsa::{pkcs1::EncodeRsaPrivateKey as _, pkcs8::EncodePublicKey as _};
    let key = rsa::PrivateKey::new(&mut getrandom::SysRng, bits).expect("RSA key");
    let private = key.to_pkcs1_der().expect("PKCS#1 DER");
    let public = key.to_public_key().to_public_key_der().expect("SPKI DER");
    let peer = libp2p_identity::PublicKey::try_decode_protobuf(&rsa_protobuf(public.as_bytes()))
        .expect("RSA public key decodes")
        .to_peer_id();
    (
        peer.to_base58(),
        Base64::encode_string(&rsa_protobuf(private.as_bytes())),
    )
}

/// A real peer with a 1024-bit RSA identity (Kubo accepts it with
/// `LIBP2P_ALLOW_WEAK_RSA_KEYS`; libp2p verifies RSA signatures only for 2048 to 8192
/// bits): `swarm connect` to it fails at once saying why, Kubo's own dial to Acorn
/// fails, and neither side lists the other.
#[test]
fn swarm_connect_refuses_a_kubo_with_a_1024_bit_rsa_identity() {
    let (_dir, root) = init_repo();
    let _daemon = Daemon::start(&root);
    let identity = kubo_rsa_identity(1024);
    let mut k = KuboPeer::with(Options {
        identity: Some(identity.clone()),
        allow_weak_rsa_keys: true,
        ..Options::default()
    });
    assert_eq!(k.peer_id(), identity.0, "Kubo runs with the weak identity");
    let started = Instant::now();
    let e = err(&run(&root, &["swarm", "connect", k.addr()], None));
    let took = started.elapsed();
    assert!(
        e.contains("the peer's identity signature does not verify"),
        "{e}"
    );
    assert!(e.contains("2048 to 8192 bits"), "{e}");
    assert!(took < HANDSHAKE_BOUND, "took {took:?}");
    let ours = format!("{}/p2p/{}", listen_addrs(&root)[0], peer_id(&root));
    let kubo_dial = k.try_connect(&ours);
    assert!(kubo_dial.is_err(), "Kubo connected to Acorn: {kubo_dial:?}");
    let peers = ok(&run(&root, &["swarm", "peers"], None));
    assert!(peers.trim().is_empty(), "Acorn lists {peers}");
    assert!(k.peers().is_empty(), "Kubo lists {:?}", k.peers());
    k.stop();
}

/// Acorn provides to Kubo A over the LAN DHT (loopback addresses); Kubo B, which
/// then joins A only, finds Acorn through A's provider record and fetches from it.
#[test]
fn kubo_finds_acorns_provider_record_through_a_kubo_dht_server() {
    let (dir, root) = init_repo();
    let _daemon = Daemon::start(&root);
    let ours = peer_id(&root);
    let a = kubo();
    let mut b = kubo();
    ok(&run(&root, &["swarm", "connect", a.addr()], None));

    let data = pseudo_random((1 << 20) + 17, 81);
    let src = dir.path().join("provided.bin");
    std::fs::write(&src, &data).unwrap();
    let cid = ok(&run(&root, &["add", "-Q", src.to_str().unwrap()], None))
        .trim()
        .to_string();
    // Acorn announces the root to Kubo A (its only DHT server).
    eventually("routing provide", || {
        let r = run(&root, &["routing", "provide", &cid], None);
        r.ok.then_some(()).ok_or(r.stderr)
    });
    // B joins only now: a provide reaches every DHT server among the closest peers
    // (A would tell Acorn of B, and Acorn would store the record on B itself).
    // Acorn is a DHT client, so A does not hand it out to B.
    b.connect(a.addr());
    assert!(
        !b.peers().iter().any(|c| c.peer == ours),
        "B must not know Acorn before its lookup"
    );

    // B knows only A: it finds Acorn through A's provider record and fetches.
    let out = dir.path().join("b-got.bin");
    b.get(&cid, &out, FETCH_TIMEOUT);
    assert_eq!(
        Sha256::digest(std::fs::read(&out).unwrap()),
        Sha256::digest(&data),
        "B got other bytes"
    );
    assert!(
        b.peers().iter().any(|c| c.peer == ours),
        "B fetched without connecting to Acorn: {:?}",
        b.peers()
    );
    b.stop();
    a.stop();
}

/// Kubo B provides to Kubo A; Acorn, which knows only A, finds B through A's
/// provider record (on the LAN DHT) and fetches from it.
#[test]
fn acorn_finds_kubos_provider_record_through_a_kubo_dht_server() {
    let (dir, root) = init_repo();
    let _daemon = Daemon::start(&root);
    let a = kubo();
    let mut b = kubo();
    b.connect(a.addr());
    ok(&run(&root, &["swarm", "connect", a.addr()], None));

    let data = pseudo_random((1 << 20) + 23, 82);
    let src = dir.path().join("kubo.bin");
    std::fs::write(&src, &data).unwrap();
    // Kubo provides what it adds, in the background, to its DHT peers (A).
    let cid = b.add(&src);
    let b_id = b.peer_id().to_string();
    eventually("findprovs lists Kubo B", || {
        let r = run(&root, &["routing", "findprovs", &cid], None);
        let out = r.text();
        out.lines()
            .any(|l| l == b_id)
            .then_some(())
            .ok_or(format!("{out}{}", r.stderr))
    });
    let r = run(&root, &["cat", &cid], None);
    assert!(r.ok, "Acorn could not fetch from Kubo B: {}", r.stderr);
    assert_eq!(Sha256::digest(&r.stdout), Sha256::digest(&data));
    assert!(ok(&run(&root, &["swarm", "peers"], None)).contains(&b_id));
    b.stop();
    a.stop();
}

/// Acorn's `/ip4/127.0.0.1/tcp/PORT` listen addresses (no `/p2p`).
fn listen_addrs(root: &Path) -> Vec<String> {
    ok(&run(root, &["swarm", "addrs", "local"], None))
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Acorn dials Kubo from an ephemeral port, so Kubo can learn Acorn's listen address
/// only from what identify told it.
#[test]
fn kubo_learns_acorns_listen_address_from_identify() {
    let (_dir, root) = init_repo();
    let _daemon = Daemon::start(&root);
    let ours = peer_id(&root);
    let listen = listen_addrs(&root);
    assert!(!listen.is_empty());
    let mut k = kubo();
    ok(&run(&root, &["swarm", "connect", k.addr()], None));
    let conn = k
        .peers()
        .into_iter()
        .find(|c| c.peer == ours)
        .expect("Kubo lists Acorn");
    assert!(
        !listen.contains(&conn.addr),
        "the connection comes from an ephemeral port, not {conn:?}"
    );
    let known = eventually("Kubo knows our listen address", || {
        let addrs = k.find_peer(&ours, 5)?;
        addrs
            .iter()
            .any(|a| listen.contains(a))
            .then_some(addrs.clone())
            .ok_or(format!("Kubo has {addrs:?}, we listen on {listen:?}"))
    });
    assert!(!known.is_empty());
    k.stop();
}

/// Helia (js-libp2p) reads our agent and protocols from identify.
#[test]
fn helia_reads_acorns_agent_and_protocols_from_identify() {
    let (_dir, root) = init_repo();
    let _daemon = Daemon::start(&root);
    let addr = format!("{}/p2p/{}", listen_addrs(&root)[0], peer_id(&root));
    let mut h = helia::HeliaPeer::start();
    let d = h.dial(&addr);
    assert!(d.identified, "{d:?}");
    let agent = d.agent_version.clone().unwrap_or_default();
    assert_eq!(agent, concat!("acorn/", env!("CARGO_PKG_VERSION")), "{d:?}");
    for p in ["/ipfs/bitswap/1.2.0", "/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"] {
        assert!(d.protocols.iter().any(|x| x == p), "{p} missing: {d:?}");
    }
    h.stop();
}

/// After Acorn gains a listen address, Kubo learns it by identify push on the
/// connection it already has. Runs in a network namespace of its own
/// (`unshare(CLONE_NEWNET)` on a thread of this test, whose children — the daemon,
/// the CLI, the Kubo driver, `ip` — live in it too; needs root, as CI runs): Acorn
/// listens on `0.0.0.0`, loopback only at first, then `10.77.0.2/24` is added to `lo`.
#[test]
fn kubo_learns_a_new_listen_address_by_identify_push() {
    std::thread::spawn(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare (root?)");
        ip(&["link", "set", "lo", "up"]);
        push_scenario();
    })
    .join()
    .expect("scenario");
}

fn ip(args: &[&str]) {
    let status = std::process::Command::new("ip")
        .args(args)
        .status()
        .expect("run ip");
    assert!(status.success(), "ip {args:?}");
}

fn push_scenario() {
    let (_dir, root) = init_repo();
    ok(&run(
        &root,
        &[
            "config",
            "--json",
            "Addresses.Swarm",
            r#"["/ip4/0.0.0.0/tcp/0"]"#,
        ],
        None,
    ));
    let _daemon = Daemon::start(&root);
    let ours = peer_id(&root);
    let mut k = kubo();
    ok(&run(&root, &["swarm", "connect", k.addr()], None));
    let before = k
        .peers()
        .into_iter()
        .find(|c| c.peer == ours)
        .expect("Kubo lists Acorn");
    let port = listen_addrs(&root)[0]
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let new_addr = format!("/ip4/10.77.0.2/tcp/{port}");

    ip(&["addr", "add", "10.77.0.2/24", "dev", "lo"]);
    eventually("Kubo learns the new address", || {
        let addrs = k.find_peer(&ours, 5)?;
        addrs
            .contains(&new_addr)
            .then_some(())
            .ok_or(format!("Kubo has {addrs:?}, waiting for {new_addr}"))
    });
    let after = k
        .peers()
        .into_iter()
        .find(|c| c.peer == ours)
        .expect("Kubo still lists Acorn");
    assert_eq!(before, after, "the same connection carried the push");
    k.stop();
}
