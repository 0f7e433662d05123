//! The thread floor (`shared/DESIGN.md`): a running swarm adds only async-io's reactor
//! thread. In particular no `futures-timer` helper thread: the workspace patches
//! `futures-timer` with `net/patches/futures-timer`, whose `Delay` runs on async-io.
//!
//! This file holds one test so that no other test's threads are counted. The test
//! counts the threads before the swarm exists and after it ran: natively that is the
//! harness's main thread + this test's thread, then + async-io's reactor (3 in all).
//! Under qemu-user (`cross/ci.sh`) `/proc/self/task` also lists qemu's own RCU
//! thread, present from the start, so only the difference is compared there.
// A test crate exports nothing: its helpers are `pub` only to be shared between
// its modules.
#![allow(unreachable_pub)]

use std::{sync::Arc, time::Duration};

use acorn_net::swarm::{build_swarm, BehaviourEvent, Config, Executor};
use futures::StreamExt;
use libp2p::{identity::Keypair, ping, swarm::SwarmEvent};

/// Names of this process's threads, from `/proc/self/task/*/comm`.
fn thread_names() -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task").expect("procfs") {
        let comm = entry.expect("task entry").path().join("comm");
        if let Ok(name) = std::fs::read_to_string(comm) {
            names.push(name.trim_end().to_owned());
        }
    }
    names
}

#[test]
fn swarm_adds_only_the_reactor_thread() {
    let before = thread_names();
    assert!(
        !before.iter().any(|n| n == "async-io"),
        "reactor already running: {before:?}"
    );
    let ex = Arc::new(smol::Executor::new());
    let config = Config {
        ping_interval: Duration::from_millis(50),
        ..Config::default()
    };
    let (mut a, _) = build_swarm(
        &Keypair::generate_ed25519(),
        &config,
        None,
        Executor::new(ex.clone()),
    )
    .unwrap();
    let (mut b, _) = build_swarm(
        &Keypair::generate_ed25519(),
        &config,
        None,
        Executor::new(ex.clone()),
    )
    .unwrap();
    smol::block_on(ex.run(async {
        b.listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
            .unwrap();
        let addr = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = b.select_next_some().await {
                break address;
            }
        };
        a.dial(addr).unwrap();
        // Two pings each way: ping's interval timer (a futures-timer Delay) fired.
        let mut pings = 0;
        while pings < 4 {
            let event = futures::select! {
                e = a.select_next_some() => e,
                e = b.select_next_some() => e,
            };
            if let SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event { result, .. })) = event {
                result.expect("ping succeeds");
                pings += 1;
            }
        }
    }));
    let names = thread_names();
    assert!(
        !names.iter().any(|n| n.contains("futures-timer")),
        "{names:?}"
    );
    // The swarm added async-io's reactor and nothing else. Natively `before` is the
    // harness's main thread and this test's thread, so the total is ≤ 3.
    assert!(
        names.len() <= before.len() + 1,
        "before {before:?}, after {names:?}"
    );
    assert_eq!(
        names.iter().filter(|n| *n == "async-io").count(),
        1,
        "{names:?}"
    );
}
