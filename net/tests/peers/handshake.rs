//! A peer that offers no security protocol or no muxer we speak: the dial fails
//! promptly with an error that names the stage ("no common security protocol",
//! "no common muxer protocol"), never a hang until the handshake timeout.

use crate::odd_peer;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use acorn_net::swarm::{build_swarm, Config, Executor};
use futures::StreamExt;
use libp2p::{identity::Keypair, swarm::SwarmEvent};
use odd_peer::{OddPeer, Offer};

/// The dialer's handshake timeout; each failure must come well before it.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Dials `peer` from a fresh Acorn swarm; returns the dial error's text and how long
/// it took.
fn dial_error(peer: &OddPeer) -> (String, Duration) {
    let ex = Arc::new(smol::Executor::new());
    let config = Config {
        handshake_timeout: HANDSHAKE_TIMEOUT,
        ..Config::default()
    };
    let (mut swarm, _) = build_swarm(
        &Keypair::generate_ed25519(),
        &config,
        None,
        Executor::new(ex.clone()),
    )
    .expect("swarm builds");
    let started = Instant::now();
    swarm.dial(peer.addr.clone()).expect("dial starts");
    smol::block_on(ex.run(async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::OutgoingConnectionError { error, .. } => {
                    return (error.to_string(), started.elapsed());
                }
                SwarmEvent::ConnectionEstablished { .. } => panic!("connected to an odd peer"),
                _ => {}
            }
        }
    }))
}

#[test]
fn tls_only_peer_gives_no_common_security_protocol() {
    let peer = OddPeer::start(Offer::TlsOnly);
    let (error, took) = dial_error(&peer);
    assert!(error.contains("no common security protocol"), "{error}");
    assert!(error.contains("/noise"), "says what we offered: {error}");
    assert!(took < HANDSHAKE_TIMEOUT, "took {took:?}");
}

#[test]
fn mplex_only_peer_gives_no_common_muxer_protocol() {
    let peer = OddPeer::start(Offer::MplexOnly);
    let (error, took) = dial_error(&peer);
    assert!(error.contains("no common muxer protocol"), "{error}");
    assert!(
        error.contains("/yamux/1.0.0"),
        "says what we offered: {error}"
    );
    assert!(took < HANDSHAKE_TIMEOUT, "took {took:?}");
}
