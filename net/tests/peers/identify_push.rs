//! A new interface address reaches connected peers without a reconnect: the TCP
//! transport's interface polling reports it, and identify pushes it.
//!
//! Runs in a network namespace of its own (`unshare(CLONE_NEWNET)` on a thread of
//! this test; needs root, as CI runs): loopback only, then `10.77.0.1/24` added to
//! `lo` while a connection is up.

use crate::swarms;

use std::{
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use swarms::swarm;

use acorn_net::{
    swarm::{BehaviourEvent, Config},
    transport::tcp,
};
use futures::{FutureExt, StreamExt};
use libp2p::{identify, multiaddr::Protocol, swarm::SwarmEvent, Multiaddr};

/// Interface polling interval of the listening side.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Upper bound on the whole scenario.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(20);

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("run ip");
    assert!(status.success(), "ip {args:?}");
}

#[test]
fn new_interface_address_is_pushed_to_a_connected_peer() {
    // The namespace belongs to this thread (and the `ip` children it forks).
    std::thread::spawn(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare (root?)");
        ip(&["link", "set", "lo", "up"]);
        scenario();
    })
    .join()
    .expect("scenario");
}

fn scenario() {
    let ex = Arc::new(smol::Executor::new());
    let listener_config = Config {
        tcp: tcp::Config {
            interface_poll_interval: Some(POLL_INTERVAL),
            ..tcp::Config::default()
        },
        ..Config::default()
    };
    let mut a = swarm(&ex, listener_config);
    let mut b = swarm(&ex, Config::default());
    let a_id = *a.local_peer_id();
    let deadline = Instant::now() + SCENARIO_TIMEOUT;
    smol::block_on(ex.run(async {
        a.listen_on("/ip4/0.0.0.0/tcp/0".parse().unwrap()).unwrap();
        let port = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = a.select_next_some().await {
                match address.iter().nth(1) {
                    Some(Protocol::Tcp(port)) => break port,
                    _ => panic!("odd listen address {address}"),
                }
            }
        };
        let lo: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap();
        let new: Multiaddr = format!("/ip4/10.77.0.1/tcp/{port}").parse().unwrap();
        b.dial(lo.clone().with(Protocol::P2p(a_id))).unwrap();

        // First identify: loopback only. Then the new address, on the same connection.
        let mut connection = None;
        let mut added = false;
        loop {
            assert!(Instant::now() < deadline, "no push of {new} in time");
            let event = futures::select! {
                e = a.select_next_some() => { drop(e); continue; }
                e = b.select_next_some() => e,
                _ = FutureExt::fuse(smol::Timer::after(Duration::from_millis(500))) => continue,
            };
            match event {
                SwarmEvent::ConnectionEstablished { connection_id, .. } => {
                    assert!(connection.is_none(), "a second connection");
                    connection = Some(connection_id);
                }
                SwarmEvent::ConnectionClosed { cause, .. } => {
                    panic!("the connection closed: {cause:?}")
                }
                SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                    connection_id,
                    info,
                    ..
                })) => {
                    assert_eq!(Some(connection_id), connection);
                    if !added {
                        assert!(info.listen_addrs.contains(&lo), "{:?}", info.listen_addrs);
                        assert!(!info.listen_addrs.contains(&new));
                        ip(&["addr", "add", "10.77.0.1/24", "dev", "lo"]);
                        added = true;
                    } else if info.listen_addrs.contains(&new) {
                        assert!(b.is_connected(&a_id));
                        return;
                    }
                }
                _ => {}
            }
        }
    }));
}
