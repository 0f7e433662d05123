//! One host that opens many TCP connections and then stays silent cannot keep a
//! real peer out: inbound connections are limited per address and per subnet
//! (`acorn_net::iplimit`), so the swarm's pending inbound slots stay free for others.

use crate::swarms;

use std::os::fd::OwnedFd;
use std::{net::Ipv4Addr, sync::Arc, time::Duration};

use swarms::swarm;

use acorn_net::{
    iplimit::{self, TooManyFromAddress},
    swarm::Config,
};
use futures::{FutureExt, StreamExt};
use libp2p::{
    multiaddr::Protocol,
    swarm::{ListenError, SwarmEvent},
    Multiaddr,
};
use nix::sys::socket::{bind, connect, socket, AddressFamily, SockFlag, SockType, SockaddrIn};

/// Upper bound on the scenario; a hang fails the test instead of blocking CI.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(40);
/// Silent connections the attacker opens: more than the swarm's 32 pending slots.
const ATTACK_CONNECTIONS: usize = 40;
/// The attacker's address: loopback, in another /24 than the real peer's 127.0.0.1.
const ATTACKER: Ipv4Addr = Ipv4Addr::new(127, 0, 1, 2);

/// A TCP connection from [`ATTACKER`] to `port` on 127.0.0.1 that never sends a
/// byte: the kernel completes the TCP handshake, the swarm waits for noise.
fn silent_connection(port: u16) -> OwnedFd {
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::empty(),
        None,
    )
    .unwrap();
    let o = ATTACKER.octets();
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrIn::new(o[0], o[1], o[2], o[3], 0),
    )
    .unwrap();
    connect(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrIn::new(127, 0, 0, 1, port),
    )
    .unwrap();
    fd
}

#[test]
fn a_silent_host_cannot_take_every_pending_inbound_slot() {
    let ex = Arc::new(smol::Executor::new());
    let scenario = {
        let ex = ex.clone();
        async move {
            // The defaults (32 pending inbound slots, a 20 s handshake timeout, 4
            // pending per address), with loopback limited as any other address: the
            // only addresses a test may use.
            let mut server = swarm(
                &ex,
                Config {
                    inbound_per_ip: iplimit::Limits {
                        limit_loopback: true,
                        ..iplimit::Limits::default()
                    },
                    ..Config::default()
                },
            );
            let mut client = swarm(&ex, Config::default());
            server
                .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
                .unwrap();
            let addr: Multiaddr = loop {
                if let SwarmEvent::NewListenAddr { address, .. } = server.select_next_some().await {
                    break address;
                }
            };
            let port = match addr.iter().nth(1) {
                Some(Protocol::Tcp(p)) => p,
                other => panic!("{other:?}"),
            };
            let held: Vec<OwnedFd> = (0..ATTACK_CONNECTIONS)
                .map(|_| silent_connection(port))
                .collect();
            // The server takes each of them in: some pending, the rest refused.
            let (mut pending, mut refused_per_ip) = (0, 0);
            while pending + refused_per_ip < ATTACK_CONNECTIONS {
                match server.select_next_some().await {
                    SwarmEvent::IncomingConnection { send_back_addr, .. } => {
                        assert!(send_back_addr.to_string().starts_with("/ip4/127.0.1.2/"));
                        pending += 1;
                    }
                    SwarmEvent::IncomingConnectionError { error, .. } => {
                        let per_ip = match &error {
                            ListenError::Denied { cause } => {
                                cause.downcast_ref::<TooManyFromAddress>().is_some()
                            }
                            _ => false,
                        };
                        assert!(per_ip, "refused by the per-address limit, not {error}");
                        refused_per_ip += 1;
                    }
                    _ => {}
                }
            }
            let limit = iplimit::Limits::default().max_pending_per_ip as usize;
            assert_eq!(pending, limit, "one address holds at most its limit");
            // A real peer from another address connects at once.
            let server_id = *server.local_peer_id();
            client.dial(addr.with(Protocol::P2p(server_id))).unwrap();
            loop {
                futures::select! {
                    e = client.select_next_some() => match e {
                        SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                            assert_eq!(peer_id, server_id);
                            break;
                        }
                        SwarmEvent::OutgoingConnectionError { error, .. } => {
                            panic!("the real peer could not connect: {error}")
                        }
                        _ => {}
                    },
                    _ = server.select_next_some() => {}
                }
            }
            drop(held);
        }
    };
    smol::block_on(ex.run(async {
        futures::select! {
            () = scenario.fuse() => {}
            _ = FutureExt::fuse(smol::Timer::after(SCENARIO_TIMEOUT)) => {
                panic!("scenario timed out")
            }
        }
    }));
}
