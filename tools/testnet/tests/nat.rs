//! A built testnet: a server in the internet, one host behind an
//! endpoint-independent-mapping NAT and one behind a symmetric NAT; what the
//! server sees of each, that nothing from outside gets in, that `acorn` daemons
//! inside the namespaces connect through the NAT, and that the namespaces are
//! gone after the drop.

use std::net::UdpSocket;
use std::time::Duration;

use acorn_testnet::link::Conditions;
use acorn_testnet::netns;
use acorn_testnet::node::Node;
use acorn_testnet::testnet::{
    Bins, HostSpec, LinkSpec, Nat, NetworkSpec, Testnet, Topology, INTERNET,
};

mod common;
use common::acorn;

fn bins() -> Bins {
    Bins {
        link: env!("CARGO_BIN_EXE_testnet-link").into(),
        testnet: env!("CARGO_BIN_EXE_testnet").into(),
    }
}

fn topology() -> Topology {
    let lan = LinkSpec {
        down: Conditions::parse("delay=1ms").unwrap(),
        up: Conditions::parse("delay=1ms").unwrap(),
    };
    let host = |name: &str, network: &str| HostSpec {
        name: name.into(),
        network: network.into(),
        link: lan,
    };
    let network = |name: &str, nat| NetworkSpec {
        name: name.into(),
        parent: INTERNET.into(),
        nat,
        link: lan,
    };
    Topology {
        networks: vec![
            network("eimhome", Nat::Eim),
            network("symhome", Nat::Symmetric),
        ],
        hosts: vec![
            host("s", INTERNET),
            host("a", "eimhome"),
            host("b", "symhome"),
        ],
    }
}

/// The source address `host` is seen from at the server's two ports, sending from
/// one local socket.
fn seen_from(net: &Testnet, host: &str, server: &str) -> Vec<String> {
    let server = server.to_string();
    let sock = net
        .run_in(host, || Ok(UdpSocket::bind("0.0.0.0:5555")?))
        .unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    [9001u16, 9002]
        .iter()
        .map(|port| {
            sock.send_to(b"hi", (server.as_str(), *port)).unwrap();
            let mut buf = [0u8; 64];
            let n = sock.recv(&mut buf).expect("no answer through the NAT");
            String::from_utf8_lossy(&buf[..n]).into_owned()
        })
        .collect()
}

#[test]
fn nat_kinds_map_as_named_and_daemons_connect_through_them() {
    let net = Testnet::build(&topology(), &bins(), 1, None).unwrap();
    let prefix = net.prefix().to_string();
    assert_eq!(
        netns::list(&prefix).len(),
        6,
        "internet, 2 routers, 3 hosts"
    );
    let server = net.place("s").unwrap().addr.clone();
    // A UDP server on two ports answering with the sender's address.
    for port in [9001u16, 9002] {
        let s = net
            .run_in("s", move || Ok(UdpSocket::bind(("0.0.0.0", port))?))
            .unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            while let Ok((_, from)) = s.recv_from(&mut buf) {
                let _ = s.send_to(from.to_string().as_bytes(), from);
            }
        });
    }
    let eim = seen_from(&net, "a", &server);
    let sym = seen_from(&net, "b", &server);
    println!("behind the EIM NAT: {eim:?}; behind the symmetric NAT: {sym:?}");
    // Both are seen from their router's WAN address, never their own.
    assert!(eim.iter().all(|s| s.starts_with("198.18.0.2:")), "{eim:?}");
    assert!(sym.iter().all(|s| s.starts_with("198.18.0.3:")), "{sym:?}");
    assert_eq!(eim[0], eim[1], "EIM: one mapping for both destinations");
    assert_eq!(eim[0], "198.18.0.2:5555", "masquerade keeps a free port");
    assert_ne!(sym[0], sym[1], "symmetric: one mapping per destination");
    // From outside, the home hosts cannot be dialled at all.
    let a_addr = net.place("a").unwrap().addr.clone();
    let r = net.run_in("s", move || {
        Ok(std::net::TcpStream::connect_timeout(
            &format!("{a_addr}:4001").parse()?,
            Duration::from_secs(2),
        ))
    });
    assert!(
        r.unwrap().is_err(),
        "a host behind NAT was reachable from outside"
    );
    assert!(net.dial_addr("s", "a").is_err());

    // Daemons: a (behind the EIM NAT) dials s (in the internet).
    let dir = tempfile::tempdir().unwrap();
    let mut ns = Node::init(
        "s",
        &net.place("s").unwrap().netns,
        &acorn(),
        &dir.path().join("s"),
        &[],
        &[],
    )
    .unwrap();
    let mut na = Node::init(
        "a",
        &net.place("a").unwrap().netns,
        &acorn(),
        &dir.path().join("a"),
        &[],
        &[],
    )
    .unwrap();
    ns.start().unwrap();
    na.start().unwrap();
    let target = format!(
        "/ip4/{}/tcp/4001/p2p/{}",
        net.dial_addr("a", "s").unwrap(),
        ns.peer_id().unwrap()
    );
    let out = na.cli(&["swarm", "connect", &target]).unwrap();
    assert!(out.contains("success"), "{out}");
    // s sees a from the router's WAN address.
    let peers = ns.cli(&["swarm", "peers"]).unwrap();
    assert!(peers.contains("/ip4/198.18.0.2/tcp/"), "{peers}");
    assert_eq!(na.peer_count().unwrap(), 1);
    let fig = na.figures();
    assert!(
        fig["rss_kib"].as_u64().unwrap() > 0 && fig["bytes_out"].as_u64().unwrap() > 0,
        "{fig}"
    );
    let pids = [ns.pid().unwrap(), na.pid().unwrap()];
    drop(net);
    // Dropping the testnet kills what ran inside its namespaces and deletes them.
    assert!(
        netns::list(&prefix).is_empty(),
        "{:?}",
        netns::list(&prefix)
    );
    std::thread::sleep(Duration::from_millis(200));
    for pid in pids {
        let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            st.is_empty() || st.contains(") Z "),
            "daemon {pid} outlived its namespace: {st}"
        );
    }
    drop((ns, na));
}
