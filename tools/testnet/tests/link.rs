//! The link emulator measured from outside: two namespaces joined by one
//! `testnet-link` process, a TCP echo for the round trip, a TCP stream for the
//! throughput and UDP datagrams for the loss, each against the link's settings.
//! Needs root, /dev/net/tun and `ip netns` (it fails, naming what is missing).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use acorn_testnet::emulator::{End, LinkProcess};
use acorn_testnet::link::Conditions;
use acorn_testnet::netns::{self, Netns};

const A_ADDR: &str = "10.77.0.1";
const B_ADDR: &str = "10.77.0.2";

/// Two namespaces joined by a link (fields drop in order: the link first).
struct Pair {
    link: LinkProcess,
    a: Netns,
    b: Netns,
}

fn pair(cond: Conditions) -> Pair {
    netns::require(false).unwrap();
    netns::remove_stale();
    let prefix = netns::run_prefix();
    let a = Netns::create(&format!("{prefix}-a")).unwrap();
    let b = Netns::create(&format!("{prefix}-b")).unwrap();
    let link = LinkProcess::spawn(
        Path::new(env!("CARGO_BIN_EXE_testnet-link")),
        &End {
            netns: a.name().into(),
            dev: "ta".into(),
        },
        &End {
            netns: b.name().into(),
            dev: "tb".into(),
        },
        42,
        cond,
        cond,
    )
    .unwrap();
    for (ns, dev, local, peer) in [(&a, "ta", A_ADDR, B_ADDR), (&b, "tb", B_ADDR, A_ADDR)] {
        ns.ip(&["addr", "add", local, "peer", peer, "dev", dev])
            .unwrap();
        ns.ip(&["link", "set", dev, "up"]).unwrap();
    }
    Pair { a, b, link }
}

fn listen_tcp(ns: &Netns) -> TcpListener {
    ns.run_in(|| Ok(TcpListener::bind((B_ADDR, 7000))?))
        .unwrap()
}

fn connect_tcp(ns: &Netns) -> TcpStream {
    ns.run_in(|| {
        let addr: SocketAddr = format!("{B_ADDR}:7000").parse()?;
        Ok(TcpStream::connect_timeout(&addr, Duration::from_secs(5))?)
    })
    .unwrap()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn within(measured: f64, want: f64, frac: f64) -> bool {
    (measured - want).abs() <= want * frac
}

#[test]
fn round_trip_throughput_and_loss_match_the_settings() {
    // 1. Round trip: 25 ms each way → 50 ms, measured by a one-byte TCP echo.
    let cond = Conditions::parse("delay=25ms").unwrap();
    let mut p = pair(cond);
    let server = listen_tcp(&p.b);
    let echo = std::thread::spawn(move || {
        let (mut s, _) = server.accept().unwrap();
        s.set_nodelay(true).unwrap();
        let mut b = [0u8; 1];
        while s.read_exact(&mut b).is_ok() {
            s.write_all(&b).unwrap();
        }
    });
    let mut c = connect_tcp(&p.a);
    c.set_nodelay(true).unwrap();
    let mut rtts = Vec::new();
    for i in 0..20u8 {
        let t = Instant::now();
        c.write_all(&[i]).unwrap();
        let mut b = [0u8; 1];
        c.read_exact(&mut b).unwrap();
        assert_eq!(b[0], i);
        rtts.push(t.elapsed());
    }
    drop(c);
    echo.join().unwrap();
    let rtt = median(rtts).as_secs_f64() * 1e3;
    println!("median round trip {rtt:.2} ms (set: 50 ms)");
    assert!(within(rtt, 50.0, 0.10), "round trip {rtt:.2} ms, set 50 ms");

    // 2. Throughput: 10 Mbit/s each way, 25 ms each way. A 1500-byte packet
    // carries 1448 bytes of TCP payload (IP 20 + TCP 20 + timestamps 12).
    let cond = Conditions::parse("delay=25ms,rate=10mbit").unwrap();
    p.link.set("both", cond).unwrap();
    let server = listen_tcp(&p.b);
    let sink = std::thread::spawn(move || {
        let (mut s, _) = server.accept().unwrap();
        let mut buf = vec![0u8; 64 << 10];
        let start = Instant::now();
        let mut total = 0u64;
        let mut at_warm: Option<(Instant, u64)> = None;
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            total += n as u64;
            if at_warm.is_none() && start.elapsed() >= Duration::from_millis(1500) {
                at_warm = Some((Instant::now(), total));
            }
        }
        let (t, b) = at_warm.expect("stream shorter than the warm-up");
        (total - b) as f64 / t.elapsed().as_secs_f64()
    });
    let mut c = connect_tcp(&p.a);
    let chunk = vec![7u8; 64 << 10];
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(6) {
        c.write_all(&chunk).unwrap();
    }
    drop(c);
    let goodput = sink.join().unwrap();
    let want = 10e6 / 8.0 * 1448.0 / 1500.0;
    println!(
        "TCP goodput {:.3} MB/s after warm-up (set 10 Mbit/s: {:.3} MB/s of payload)",
        goodput / 1e6,
        want / 1e6
    );
    assert!(
        within(goodput, want, 0.10),
        "goodput {goodput:.0} B/s, want {want:.0} B/s ± 10 %"
    );

    // 3. Loss: 5 % one way, 2000 datagrams; the link's own count matches what is
    // missing at the receiver.
    let cond = Conditions::parse("loss=5%").unwrap();
    p.link.set("a2b", cond).unwrap();
    // Let the TCP stream's teardown pass first.
    std::thread::sleep(Duration::from_millis(300));
    let before = p.link.stats().unwrap();
    let rx = p.b.run_in(|| Ok(UdpSocket::bind((B_ADDR, 7001))?)).unwrap();
    rx.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let tx = p.a.run_in(|| Ok(UdpSocket::bind((A_ADDR, 0))?)).unwrap();
    const SENT: usize = 2000;
    let counter = std::thread::spawn(move || {
        let mut got = 0usize;
        let mut b = [0u8; 64];
        while rx.recv(&mut b).is_ok() {
            got += 1;
        }
        got
    });
    for i in 0..SENT {
        tx.send_to(&(i as u32).to_le_bytes(), (B_ADDR, 7001))
            .unwrap();
        if i % 50 == 49 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let got = counter.join().unwrap();
    let lost = SENT - got;
    let after = p.link.stats().unwrap();
    println!("UDP: {lost} of {SENT} lost (set 5 %)");
    // 5 % of 2000 = 100; the binomial standard deviation is ~10.
    assert!((60..=140).contains(&lost), "{lost} of {SENT} lost, set 5 %");
    // The link's own count agrees with the receiver, give or take packets other
    // than the datagrams that crossed meanwhile (the TCP stream's last segments).
    let link_lost = (after.a2b.lost - before.a2b.lost) as usize;
    let others = (after.a2b.packets_in - before.a2b.packets_in) as usize - SENT;
    assert!(
        (lost..=lost + others).contains(&link_lost),
        "the link lost {link_lost}, the receiver missed {lost} ({others} other packets)"
    );
}

#[test]
fn link_process_exits_and_devices_vanish_when_its_controller_is_gone() {
    let p = pair(Conditions::default());
    let Pair { a, b, link } = p;
    let pid = link.pid();
    drop(link);
    assert!(
        !Path::new(&format!("/proc/{pid}/status")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/status"))
                .unwrap_or_default()
                .contains("zombie"),
        "link process {pid} still running"
    );
    let out = std::process::Command::new("ip")
        .args(["-n", a.name(), "link", "show", "ta"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "device ta outlived its link process");
    drop((a, b));
}
