//! Two swarms on one smol executor thread, over loopback TCP: identify, ping, pnet,
//! Kademlia modes.

use std::{sync::Arc, time::Duration};

use acorn_net::{
    bandwidth::{Stats, TRACKED_PROTOCOLS},
    pnet::PreSharedKey,
    swarm::{
        build_swarm, Behaviour, BehaviourEvent, Config, DhtMode, Executor,
        IDENTIFY_PROTOCOL_VERSION, KAD_PROTOCOL,
    },
    transport::tcp::Bandwidth,
};
use futures::{FutureExt, StreamExt};
use libp2p::{
    connection_limits, identify,
    identity::{Keypair, PeerId},
    ping,
    swarm::{ListenError, SwarmEvent},
    Multiaddr, Swarm,
};

/// Upper bound on any one scenario; a hang fails the test instead of blocking CI.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(20);

struct Node {
    swarm: Swarm<Behaviour>,
    bandwidth: Bandwidth,
}

fn node(ex: &Arc<smol::Executor<'static>>, config: Config, psk: Option<PreSharedKey>) -> Node {
    node_with_key(ex, config, psk, Keypair::generate_ed25519())
}

fn node_with_key(
    ex: &Arc<smol::Executor<'static>>,
    config: Config,
    psk: Option<PreSharedKey>,
    keypair: Keypair,
) -> Node {
    let (swarm, bandwidth) =
        build_swarm(&keypair, &config, psk, Executor::new(ex.clone())).expect("swarm builds");
    Node { swarm, bandwidth }
}

fn config(agent: &str) -> Config {
    Config {
        agent_version: agent.to_owned(),
        handshake_timeout: Duration::from_secs(3),
        ..Config::default()
    }
}

/// Runs `scenario` on a fresh executor (driven by this thread only), failing it if it
/// takes longer than [`SCENARIO_TIMEOUT`].
fn run<F, Fut>(scenario: F)
where
    F: FnOnce(Arc<smol::Executor<'static>>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let ex = Arc::new(smol::Executor::new());
    let fut = scenario(ex.clone());
    smol::block_on(ex.run(async {
        futures::select! {
            () = fut.fuse() => {}
            _ = FutureExt::fuse(smol::Timer::after(SCENARIO_TIMEOUT)) => panic!("scenario timed out"),
        }
    }));
}

/// Listens on an ephemeral loopback port and returns the reported address.
async fn listen(swarm: &mut Swarm<Behaviour>) -> Multiaddr {
    swarm
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .unwrap();
    loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            return address;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Side {
    A,
    B,
}

/// Next event from either swarm.
async fn next_event(
    a: &mut Swarm<Behaviour>,
    b: &mut Swarm<Behaviour>,
) -> (Side, SwarmEvent<BehaviourEvent>) {
    futures::select! {
        e = a.select_next_some() => (Side::A, e),
        e = b.select_next_some() => (Side::B, e),
    }
}

#[derive(Default)]
struct Seen {
    /// Identify info each side received from the other.
    identify_a: Option<identify::Info>,
    identify_b: Option<identify::Info>,
    ping_a: bool,
    ping_b: bool,
}

/// Dials B from A and runs both until each side has the other's identify info and a
/// successful ping.
async fn connect_identify_ping(a: &mut Node, b: &mut Node) -> Seen {
    let addr = listen(&mut b.swarm).await;
    let b_id = *b.swarm.local_peer_id();
    a.swarm
        .dial(addr.with(libp2p::multiaddr::Protocol::P2p(b_id)))
        .unwrap();
    let mut seen = Seen::default();
    while seen.identify_a.is_none() || seen.identify_b.is_none() || !seen.ping_a || !seen.ping_b {
        match next_event(&mut a.swarm, &mut b.swarm).await {
            (
                side,
                SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                    info,
                    ..
                })),
            ) => match side {
                Side::A => seen.identify_a = Some(info),
                Side::B => seen.identify_b = Some(info),
            },
            (side, SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event { result, .. }))) => {
                result.expect("ping succeeds");
                match side {
                    Side::A => seen.ping_a = true,
                    Side::B => seen.ping_b = true,
                }
            }
            (side, SwarmEvent::OutgoingConnectionError { error, .. }) => {
                panic!("{side:?}: dial failed: {error}")
            }
            (side, SwarmEvent::IncomingConnectionError { error, .. }) => {
                panic!("{side:?}: inbound failed: {error}")
            }
            _ => {}
        }
    }
    seen
}

#[test]
fn identify_exchanges_agents_and_ping_succeeds() {
    run(|ex| async move {
        let mut a = node(&ex, config("acorn/test-a"), None);
        let mut b = node(&ex, config("acorn/test-b"), None);
        let seen = connect_identify_ping(&mut a, &mut b).await;
        let from_b = seen.identify_a.unwrap();
        let from_a = seen.identify_b.unwrap();
        assert_eq!(from_b.agent_version, "acorn/test-b");
        assert_eq!(from_a.agent_version, "acorn/test-a");
        assert_eq!(from_b.protocol_version, IDENTIFY_PROTOCOL_VERSION);
        assert_eq!(from_b.public_key.to_peer_id(), *b.swarm.local_peer_id());
        assert_eq!(from_a.public_key.to_peer_id(), *a.swarm.local_peer_id());
        // B listens, so it reports its listen address.
        assert!(!from_b.listen_addrs.is_empty());
        // Both stacks carry identify and ping.
        for info in [&from_a, &from_b] {
            let protocols: Vec<String> = info.protocols.iter().map(|p| p.to_string()).collect();
            assert!(
                protocols.contains(&"/ipfs/id/1.0.0".to_owned()),
                "{protocols:?}"
            );
            assert!(
                protocols.contains(&"/ipfs/ping/1.0.0".to_owned()),
                "{protocols:?}"
            );
        }
        // Bytes were counted on both sides.
        assert!(a.bandwidth.outbound_bytes() > 0 && a.bandwidth.inbound_bytes() > 0);
        assert!(b.bandwidth.outbound_bytes() > 0 && b.bandwidth.inbound_bytes() > 0);
        // Per protocol and per peer: identify and ping ran both ways, bitswap never;
        // protocols ≤ peer ≤ raw total.
        let now = std::time::Instant::now();
        for (me, other) in [(&a, &b), (&b, &a)] {
            let bw = &me.bandwidth;
            for proto in ["/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"] {
                let s = bw.protocol(proto, now);
                assert!(s.total_in > 0 && s.total_out > 0, "{proto}: {s:?}");
            }
            assert_eq!(bw.protocol("/ipfs/bitswap/1.2.0", now), Stats::default());
            let sum = |f: fn(&Stats) -> u64| {
                TRACKED_PROTOCOLS
                    .iter()
                    .map(|p| f(&bw.protocol(p, now)))
                    .sum::<u64>()
                    + f(&bw.other_protocols(now))
            };
            let peer = bw.peer(other.swarm.local_peer_id(), now);
            let total = bw.total(now);
            assert!(sum(|s| s.total_in) <= peer.total_in, "{peer:?}");
            assert!(sum(|s| s.total_out) <= peer.total_out, "{peer:?}");
            assert!(peer.total_in > 0 && peer.total_in <= total.total_in);
            assert!(peer.total_out > 0 && peer.total_out <= total.total_out);
        }
    });
}

/// Two 2048-bit RSA keys (PKCS#1 DER, made with `openssl genpkey -algorithm RSA` and
/// `openssl rsa -traditional`): libp2p-identity loads RSA keys but cannot make them.
const RSA_2048_A: &[u8] = include_bytes!("../data/rsa-2048-a.der");
const RSA_2048_B: &[u8] = include_bytes!("../data/rsa-2048-b.der");

fn rsa_keypair(pkcs1: &[u8]) -> Keypair {
    libp2p::identity::rsa::Keypair::try_decode_pkcs1(&mut pkcs1.to_vec())
        .expect("RSA key")
        .into()
}

/// Noise authenticates every key type both ways: for each pair of key types the
/// connection comes up, and each side sees the other's peer ID, derived from the
/// key the other side signed its noise static key with (RSA peer IDs are sha2-256
/// multihashes, `Qm…`; the others are identity multihashes).
#[test]
fn noise_handshake_works_with_every_key_type() {
    let kinds = ["Ed25519", "RSA", "secp256k1", "ECDSA"];
    let key = |kind: &str, rsa: &[u8]| match kind {
        "Ed25519" => Keypair::generate_ed25519(),
        "RSA" => rsa_keypair(rsa),
        "secp256k1" => Keypair::generate_secp256k1(),
        _ => Keypair::generate_ecdsa(),
    };
    for a_kind in kinds {
        for b_kind in kinds {
            let (a_key, b_key) = (key(a_kind, RSA_2048_A), key(b_kind, RSA_2048_B));
            run(|ex| async move {
                let mut a = node_with_key(&ex, config("acorn/a"), None, a_key);
                let mut b = node_with_key(&ex, config("acorn/b"), None, b_key);
                let (a_id, b_id) = (*a.swarm.local_peer_id(), *b.swarm.local_peer_id());
                let prefix = match b_kind {
                    "RSA" => "Qm",
                    "Ed25519" => "12D3KooW",
                    "secp256k1" => "16Uiu2",
                    _ => "",
                };
                assert!(b_id.to_base58().starts_with(prefix), "{b_kind}: {b_id}");
                let addr = listen(&mut b.swarm).await;
                a.swarm.dial(addr).unwrap();
                let (mut a_saw, mut b_saw) = (None, None);
                while a_saw.is_none() || b_saw.is_none() {
                    match next_event(&mut a.swarm, &mut b.swarm).await {
                        (side, SwarmEvent::ConnectionEstablished { peer_id, .. }) => match side {
                            Side::A => a_saw = Some(peer_id),
                            Side::B => b_saw = Some(peer_id),
                        },
                        (side, SwarmEvent::OutgoingConnectionError { error, .. }) => {
                            panic!("{a_kind}→{b_kind} {side:?}: dial failed: {error}")
                        }
                        (side, SwarmEvent::IncomingConnectionError { error, .. }) => {
                            panic!("{a_kind}→{b_kind} {side:?}: inbound failed: {error}")
                        }
                        _ => {}
                    }
                }
                assert_eq!(a_saw, Some(b_id), "{a_kind}→{b_kind}");
                assert_eq!(b_saw, Some(a_id), "{a_kind}→{b_kind}");
            });
        }
    }
}

fn psk(byte: u8) -> PreSharedKey {
    PreSharedKey::new([byte; 32])
}

#[test]
fn same_swarm_key_connects_and_pings() {
    run(|ex| async move {
        let mut a = node(&ex, config("acorn/a"), Some(psk(7)));
        let mut b = node(&ex, config("acorn/b"), Some(psk(7)));
        let seen = connect_identify_ping(&mut a, &mut b).await;
        assert_eq!(seen.identify_a.unwrap().agent_version, "acorn/b");
    });
}

/// A dials B; the connection must fail on A's side (a dial error), never be
/// established on either side, and nothing may hang past the handshake timeout.
async fn never_connects(mut a: Node, mut b: Node) {
    let addr = listen(&mut b.swarm).await;
    let b_id: PeerId = *b.swarm.local_peer_id();
    a.swarm
        .dial(addr.with(libp2p::multiaddr::Protocol::P2p(b_id)))
        .unwrap();
    loop {
        match next_event(&mut a.swarm, &mut b.swarm).await {
            (side, SwarmEvent::ConnectionEstablished { .. }) => {
                panic!("{side:?}: connection established across different keys")
            }
            (Side::A, SwarmEvent::OutgoingConnectionError { error, .. }) => {
                eprintln!("dial error: {error}");
                break;
            }
            _ => {}
        }
    }
    assert!(!a.swarm.is_connected(&b_id));
}

#[test]
fn different_swarm_keys_never_connect() {
    run(|ex| async move {
        let a = node(&ex, config("acorn/a"), Some(psk(1)));
        let b = node(&ex, config("acorn/b"), Some(psk(2)));
        never_connects(a, b).await;
    });
}

#[test]
fn keyless_dialer_is_refused_by_private_node() {
    run(|ex| async move {
        let a = node(&ex, config("acorn/a"), None);
        let b = node(&ex, config("acorn/b"), Some(psk(3)));
        never_connects(a, b).await;
    });
}

#[test]
fn private_dialer_cannot_reach_public_node() {
    run(|ex| async move {
        let a = node(&ex, config("acorn/a"), Some(psk(4)));
        let b = node(&ex, config("acorn/b"), None);
        never_connects(a, b).await;
    });
}

#[test]
fn only_server_mode_advertises_kad() {
    run(|ex| async move {
        let mut client = node(
            &ex,
            Config {
                dht_mode: DhtMode::Client,
                ..config("acorn/client")
            },
            None,
        );
        let mut server = node(
            &ex,
            Config {
                dht_mode: DhtMode::Server,
                ..config("acorn/server")
            },
            None,
        );
        let seen = connect_identify_ping(&mut client, &mut server).await;
        let kad = KAD_PROTOCOL.to_string();
        let advertised =
            |info: &identify::Info| info.protocols.iter().any(|p| p.to_string() == kad);
        let from_server = seen.identify_a.unwrap();
        let from_client = seen.identify_b.unwrap();
        assert_eq!(from_server.agent_version, "acorn/server");
        assert!(
            advertised(&from_server),
            "server advertises kad: {:?}",
            from_server.protocols
        );
        assert!(
            !advertised(&from_client),
            "client does not: {:?}",
            from_client.protocols
        );
    });
}

#[test]
fn inbound_connection_limit_is_enforced() {
    run(|ex| async move {
        let mut server = node(
            &ex,
            Config {
                max_inbound_connections: 1,
                ..config("acorn/server")
            },
            None,
        );
        let mut first = node(&ex, config("acorn/first"), None);
        let mut second = node(&ex, config("acorn/second"), None);
        let addr = listen(&mut server.swarm).await;
        first.swarm.dial(addr.clone()).unwrap();
        // Wait until the first connection is established on the server.
        loop {
            if let (Side::A, SwarmEvent::ConnectionEstablished { .. }) =
                next_event(&mut server.swarm, &mut first.swarm).await
            {
                break;
            }
        }
        second.swarm.dial(addr).unwrap();
        // The server denies the second one; the second client sees its connection fail
        // or close. Drive all three swarms until the server reports the denial.
        let mut denied = false;
        while !denied {
            futures::select! {
                e = server.swarm.select_next_some() => match e {
                    SwarmEvent::IncomingConnectionError { error, .. } => {
                        let limit = match &error {
                            ListenError::Denied { cause } => {
                                cause.downcast_ref::<connection_limits::Exceeded>()
                            }
                            _ => None,
                        };
                        assert!(limit.is_some(), "denied by the limit, not {error}");
                        denied = true;
                    }
                    SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                        assert_ne!(peer_id, *second.swarm.local_peer_id(), "over the limit");
                    }
                    _ => {}
                },
                _ = first.swarm.select_next_some() => {}
                _ = second.swarm.select_next_some() => {}
            }
        }
        assert_eq!(server.swarm.network_info().num_peers(), 1);
        assert!(server.swarm.is_connected(first.swarm.local_peer_id()));
    });
}

#[test]
fn memory_limit_refuses_new_connections() {
    run(|ex| async move {
        // A ceiling of 1 MiB: this test process is always above it.
        let mut server = node(
            &ex,
            Config {
                max_memory_bytes: Some(1 << 20),
                ..config("acorn/server")
            },
            None,
        );
        let mut client = node(&ex, config("acorn/client"), None);
        let addr = listen(&mut server.swarm).await;
        client.swarm.dial(addr).unwrap();
        loop {
            futures::select! {
                e = server.swarm.select_next_some() => match e {
                    SwarmEvent::IncomingConnectionError { error, .. } => {
                        let over = match &error {
                            ListenError::Denied { cause } => {
                                cause.downcast_ref::<acorn_net::memlimit::MemoryExceeded>()
                            }
                            _ => None,
                        };
                        assert!(over.is_some(), "denied by the memory limit, not {error}");
                        break;
                    }
                    SwarmEvent::ConnectionEstablished { .. } => {
                        panic!("connection accepted over the memory limit")
                    }
                    _ => {}
                },
                _ = client.swarm.select_next_some() => {}
            }
        }
        assert_eq!(server.swarm.network_info().num_peers(), 0);
    });
}
