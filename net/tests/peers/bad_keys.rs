//! A peer whose noise handshake payload carries a bad identity (a truncated key, an
//! unknown key type, an RSA key under 2048 or over 8192 bits, a signature that does not
//! verify, a payload that is no protobuf) is refused, whether Acorn dials it or it
//! dials Acorn: the connection fails before the handshake timeout with an error that says what is wrong, Acorn closes
//! the socket, and nothing panics. A correct payload from the same peer passes noise
//! (its connection then times out waiting for a muxer), which shows the bad peer's
//! noise is sound and each refusal is about its identity.

use crate::bad_noise;

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use acorn_net::swarm::{build_swarm, Config, Executor};
use bad_noise::{BadKey, BadListener, Ending};
use futures::StreamExt;
use libp2p::{identity::Keypair, multiaddr::Protocol, swarm::SwarmEvent, Multiaddr};

/// Acorn's handshake timeout; every refusal must come before it.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(4);

fn config() -> Config {
    Config {
        handshake_timeout: HANDSHAKE_TIMEOUT,
        ..Config::default()
    }
}

fn swarm() -> (
    libp2p::Swarm<acorn_net::swarm::Behaviour>,
    Arc<smol::Executor<'static>>,
) {
    let ex = Arc::new(smol::Executor::new());
    let (swarm, _) = build_swarm(
        &Keypair::generate_ed25519(),
        &config(),
        None,
        Executor::new(ex.clone()),
    )
    .expect("swarm builds");
    (swarm, ex)
}

/// Acorn dials a bad listener: the dial error's text, how long it took, and how the
/// bad peer saw the connection end.
fn acorn_dials(key: BadKey) -> (String, Duration, Ending) {
    let peer = BadListener::start(key);
    let (mut swarm, ex) = swarm();
    let started = Instant::now();
    swarm.dial(peer.addr.clone()).expect("dial starts");
    let (error, took) = smol::block_on(ex.run(async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::OutgoingConnectionError { error, .. } => {
                    return (acorn_net::swarm::error_chain(&error), started.elapsed());
                }
                SwarmEvent::ConnectionEstablished { .. } => panic!("connected to a bad peer"),
                _ => {}
            }
        }
    }));
    let ending = smol::block_on(peer.endings.recv()).expect("the bad peer reports");
    (error, took, ending)
}

/// A bad peer dials Acorn: the listen error's text, how long it took, and how the bad
/// peer saw the connection end.
fn bad_peer_dials(key: BadKey) -> (String, Duration, Ending) {
    let (mut swarm, ex) = swarm();
    swarm
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().expect("multiaddr"))
        .expect("listen");
    smol::block_on(ex.run(async {
        let addr = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                break socket_addr(&address);
            }
        };
        let started = Instant::now();
        let dialer = ex.spawn(bad_noise::dial(addr, key));
        let (error, took) = loop {
            match swarm.select_next_some().await {
                SwarmEvent::IncomingConnectionError { error, .. } => {
                    break (acorn_net::swarm::error_chain(&error), started.elapsed());
                }
                SwarmEvent::ConnectionEstablished { .. } => panic!("a bad peer connected"),
                _ => {}
            }
        };
        (error, took, dialer.await)
    }))
}

fn socket_addr(addr: &Multiaddr) -> SocketAddr {
    let mut ip = None;
    let mut port = None;
    for p in addr.iter() {
        match p {
            Protocol::Ip4(a) => ip = Some(a),
            Protocol::Tcp(p) => port = Some(p),
            _ => {}
        }
    }
    SocketAddr::from((ip.expect("ip4"), port.expect("tcp")))
}

/// Both directions: the error contains every one of `wanted`, comes before the
/// handshake timeout, and the bad peer sees its socket closed.
fn refused_both_ways(key: BadKey, wanted: &[&str]) {
    for (direction, (error, took, ending)) in [
        ("acorn dials", acorn_dials(key)),
        ("bad peer dials", bad_peer_dials(key)),
    ] {
        for w in wanted {
            assert!(error.contains(w), "{key:?}, {direction}: {error}");
        }
        assert!(
            took < HANDSHAKE_TIMEOUT,
            "{key:?}, {direction}: took {took:?}"
        );
        assert_eq!(ending, Ending::Closed, "{key:?}, {direction}: {error}");
    }
}

#[test]
fn truncated_identity_key_is_refused() {
    refused_both_ways(
        BadKey::TruncatedKey,
        &["the peer's identity key is invalid", "protobuf"],
    );
}

#[test]
fn unknown_identity_key_type_is_refused() {
    refused_both_ways(
        BadKey::UnknownKeyType,
        &["the peer's identity key is invalid", "unknown key type 9"],
    );
}

#[test]
fn rsa_identity_key_under_2048_bits_is_refused() {
    refused_both_ways(
        BadKey::RsaBits(1024),
        &[
            "the peer's identity signature does not verify",
            "2048 to 8192 bits",
        ],
    );
}

#[test]
fn rsa_identity_key_over_8192_bits_is_refused() {
    refused_both_ways(
        BadKey::RsaBits(8200),
        &[
            "the peer's identity signature does not verify",
            "2048 to 8192 bits",
        ],
    );
}

#[test]
fn identity_signature_that_does_not_verify_is_refused() {
    refused_both_ways(
        BadKey::BadSignature,
        &["the peer's identity signature does not verify"],
    );
}

#[test]
fn handshake_payload_that_is_not_protobuf_is_refused() {
    refused_both_ways(
        BadKey::NotProtobuf,
        &["the peer's noise handshake is malformed", "payload"],
    );
}

/// The RSA keys the bad peer sends are well-formed keys of the asked size, so their
/// refusal is about the size: libp2p decodes them.
#[test]
fn bad_peers_rsa_keys_decode() {
    for bits in [1024, 8200] {
        let key = libp2p::identity::PublicKey::try_decode_protobuf(
            &bad_noise::rsa_public_key_protobuf(bits),
        )
        .unwrap_or_else(|e| panic!("{bits}-bit key decodes: {e}"));
        assert_eq!(key.key_type(), libp2p::identity::KeyType::RSA);
    }
}

/// The control: the bad peer's noise with a correct payload passes noise in both
/// directions, so the connection waits for a muxer until the handshake timeout.
#[test]
fn valid_identity_passes_noise() {
    let (error, took, _) = acorn_dials(BadKey::Valid);
    assert!(
        error.contains("handshake timed out"),
        "acorn dials: {error}"
    );
    assert!(took >= HANDSHAKE_TIMEOUT, "acorn dials: took {took:?}");
    let (error, took, _) = bad_peer_dials(BadKey::Valid);
    assert!(
        error.contains("handshake timed out"),
        "bad peer dials: {error}"
    );
    assert!(took >= HANDSHAKE_TIMEOUT, "bad peer dials: took {took:?}");
}
