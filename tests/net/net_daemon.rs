//! Acorn daemons talking to each other on loopback: `swarm connect|peers|addrs`,
//! `id`, content fetched over bitswap through the CLI (`cat`, `get`, `ls`, `refs`,
//! `pin add`), private networks (swarm.key), bad addresses, and the daemon's OS
//! thread count. Repos use the `test` profile: swarm on 127.0.0.1 port 0, no
//! bootstrap peers.

use crate::common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{dial_addr, err, init_repo, ok, pseudo_random, run, threads, Daemon};
use sha2::{Digest, Sha256};

const BITSWAP_1_2: &str = "/ipfs/bitswap/1.2.0";

fn id(root: &Path) -> serde_json::Value {
    serde_json::from_str(&ok(&run(root, &["id"], None))).expect("id JSON")
}

fn sha(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

fn add(root: &Path, path: &Path, recursive: bool) -> String {
    let p = path.to_str().unwrap();
    let args: Vec<&str> = if recursive {
        vec!["add", "-r", "-Q", p]
    } else {
        vec!["add", "-Q", p]
    };
    ok(&run(root, &args, None)).trim().to_string()
}

fn connect(from: &Path, to: &Path) {
    let target = dial_addr(to);
    let out = ok(&run(from, &["swarm", "connect", &target], None));
    let to_id = id(to)["ID"].as_str().unwrap().to_string();
    assert_eq!(out, format!("connect {to_id} success\n"));
}

fn swarm_key(dir: &Path, byte: u8) {
    let hex: String = (0..32).map(|i| format!("{:02x}", byte ^ i)).collect();
    std::fs::write(
        dir.join("swarm.key"),
        format!("/key/swarm/psk/1.0.0/\n/base16/\n{hex}\n"),
    )
    .unwrap();
}

#[test]
fn three_daemons_connect_and_fetch_over_bitswap() {
    let (_da, a) = init_repo();
    let (_db, b) = init_repo();
    let (_dc, c) = init_repo();
    let da = Daemon::start(&a);
    let db = Daemon::start(&b);
    let dc = Daemon::start(&c);
    std::thread::sleep(std::time::Duration::from_millis(800));
    let idle = threads(da.pid());
    println!("idle daemon OS threads (swarm listening, no peers): {idle}");

    // id: Kubo fields, addresses with /p2p, bitswap among the protocols.
    let ida = id(&a);
    let a_id = ida["ID"].as_str().unwrap().to_string();
    let addrs = ida["Addresses"].as_array().unwrap();
    assert!(!addrs.is_empty(), "{ida}");
    for x in addrs {
        let s = x.as_str().unwrap();
        assert!(
            s.starts_with("/ip4/127.0.0.1/tcp/") && s.ends_with(&format!("/p2p/{a_id}")),
            "{s}"
        );
    }
    let protocols: Vec<&str> = ida["Protocols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(protocols.contains(&BITSWAP_1_2), "{protocols:?}");
    assert!(protocols.contains(&"/ipfs/id/1.0.0"), "{protocols:?}");
    assert!(ida["AgentVersion"].as_str().unwrap().starts_with("acorn/"));

    // Connect B → A; both list each other.
    connect(&b, &a);
    let b_id = id(&b)["ID"].as_str().unwrap().to_string();
    let peers_b = ok(&run(&b, &["swarm", "peers"], None));
    assert_eq!(
        peers_b.lines().collect::<Vec<_>>(),
        vec![format!(
            "{}/p2p/{a_id}",
            dial_addr(&a).split("/p2p/").next().unwrap()
        )],
        "B dialed A's listen address"
    );
    let peers_a = ok(&run(&a, &["swarm", "peers"], None));
    assert!(
        peers_a
            .lines()
            .any(|l| l.ends_with(&format!("/p2p/{b_id}"))),
        "{peers_a}"
    );
    assert!(ok(&run(&a, &["swarm", "addrs"], None)).contains(&b_id));

    // Content on A: a 20 MiB file and a directory (nested, a multi-chunk file).
    let work = tempfile::tempdir().unwrap();
    let big = pseudo_random(20 << 20, 42);
    let big_path = work.path().join("big.bin");
    std::fs::write(&big_path, &big).unwrap();
    let dir = work.path().join("tree");
    std::fs::create_dir_all(dir.join("sub/deeper")).unwrap();
    std::fs::write(dir.join("hello.txt"), b"hello world\n").unwrap();
    let mid = pseudo_random(700 * 1024, 9);
    std::fs::write(dir.join("sub/mid.bin"), &mid).unwrap();
    std::fs::write(dir.join("sub/deeper/empty"), b"").unwrap();
    let big_cid = add(&a, &big_path, false);
    let dir_cid = add(&a, &dir, true);

    // B: cat the big file (fetched over bitswap), get the directory.
    let t = std::time::Instant::now();
    let r = run(&b, &["cat", &big_cid], None);
    assert!(r.ok, "{}", r.stderr);
    println!(
        "B fetched 20 MiB from A in {:.2}s",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(r.stdout.len(), big.len());
    assert_eq!(sha(&r.stdout), sha(&big), "sha256 of the fetched file");
    let out = work.path().join("got");
    let got = ok(&run(
        &b,
        &["get", &dir_cid, "-o", out.to_str().unwrap()],
        None,
    ));
    assert!(got.starts_with("Saving file(s) to"), "{got}");
    assert_eq!(
        std::fs::read(out.join("hello.txt")).unwrap(),
        b"hello world\n"
    );
    assert_eq!(
        sha(&std::fs::read(out.join("sub/mid.bin")).unwrap()),
        sha(&mid)
    );
    assert_eq!(std::fs::read(out.join("sub/deeper/empty")).unwrap(), b"");
    // The fetched blocks are now B's: refs work and list the same as on A.
    assert_eq!(
        ok(&run(&b, &["refs", "-r", &dir_cid], None)),
        ok(&run(&a, &["refs", "-r", &dir_cid], None))
    );
    let bw = ok(&run(&b, &["stats", "bw"], None));
    assert!(bw.starts_with("Bandwidth\nTotalIn: "), "{bw}");
    let total_in = bw.lines().nth(1).unwrap();
    assert!(total_in.ends_with(" MB"), "B received over 20 MB: {bw}");

    // C: connects to A too; pins the directory (fetching it), lists, cats.
    connect(&c, &a);
    ok(&run(&c, &["pin", "add", &dir_cid], None));
    let ls = ok(&run(&c, &["ls", &dir_cid], None));
    assert!(
        ls.contains(" hello.txt\n") && ls.contains(" sub/\n"),
        "{ls}"
    );
    let r = run(&c, &["cat", &big_cid], None);
    assert!(r.ok, "{}", r.stderr);
    assert_eq!(sha(&r.stdout), sha(&big), "C's copy");
    let r = run(&c, &["cat", &format!("{dir_cid}/sub/mid.bin")], None);
    assert_eq!(sha(&r.stdout), sha(&mid));

    std::thread::sleep(std::time::Duration::from_millis(800));
    println!(
        "daemon OS threads after the fetches: A {} (served), B {} (fetched)",
        threads(da.pid()),
        threads(db.pid())
    );

    // Disconnect closes the connection.
    let out = ok(&run(&c, &["swarm", "disconnect", &dial_addr(&a)], None));
    assert_eq!(out, format!("disconnect {a_id} success\n"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !ok(&run(&c, &["swarm", "peers"], None)).is_empty() {
        assert!(std::time::Instant::now() < deadline, "C still has peers");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    for d in [da, db, dc] {
        let (stopped, _, stderr) = d.stop();
        assert!(stopped, "{stderr}");
    }
}

#[test]
fn private_network_admits_only_key_holders() {
    let (_da, a) = init_repo();
    let (_db, b) = init_repo();
    let (_dc, c) = init_repo();
    swarm_key(&a, 0x5a);
    swarm_key(&b, 0x5a);
    let da = Daemon::start(&a);
    let db = Daemon::start(&b);
    let dc = Daemon::start(&c);
    connect(&b, &a);
    let a_id = id(&a)["ID"].as_str().unwrap().to_string();
    let e = err(&run(&c, &["swarm", "connect", &dial_addr(&a)], None));
    assert!(
        e.starts_with(&format!("Error: connect {a_id} failure: ")),
        "{e}"
    );
    assert!(ok(&run(&c, &["swarm", "peers"], None)).is_empty());
    assert!(!ok(&run(&a, &["swarm", "peers"], None))
        .contains(&id(&c)["ID"].as_str().unwrap().to_string()));
    // Content moves inside the private network.
    let cid = ok(&run(&a, &["add", "-Q"], Some(b"private bytes\n")))
        .trim()
        .to_string();
    assert_eq!(ok(&run(&b, &["cat", &cid], None)), "private bytes\n");
    // A different key: refused as well.
    drop(dc);
    swarm_key(&c, 0x33);
    let dc = Daemon::start(&c);
    err(&run(&c, &["swarm", "connect", &dial_addr(&a)], None));
    for d in [da, db, dc] {
        assert!(d.stop().0);
    }
}

#[test]
fn force_pnet_refuses_to_start_without_a_key() {
    let (_d, root) = init_repo();
    let out = Command::new(env!("CARGO_BIN_EXE_acorn"))
        .arg("daemon")
        .env("ACORN_PATH", &root)
        .env("ACORN_FORCE_PNET", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("private network required") && stderr.contains("swarm.key"),
        "{stderr}"
    );
    assert!(!root.join("api").exists());
    // With a key it starts.
    swarm_key(&root, 1);
    let d = Daemon::start_with_env(&root, &[("ACORN_FORCE_PNET", "1")]);
    let (stopped, stdout, _) = d.stop();
    assert!(stopped);
    assert!(stdout.contains("private network"), "{stdout}");
}

/// The libp2p-key CIDv1 of a base58 peer ID, in base36 (`k51…` for Ed25519 keys).
fn base36_peer_id(base58: &str) -> String {
    let bytes = multibase::Base::Base58Btc.decode(base58).unwrap();
    let mh = cid::multihash::Multihash::<64>::from_bytes(&bytes).unwrap();
    cid::Cid::new_v1(0x72, mh)
        .to_string_of_base(multibase::Base::Base36Lower)
        .unwrap()
}

/// Daemons with RSA (`Qm…`), secp256k1 (`16Uiu2…`) and ECDSA identities dial each
/// other, naming the peer as a base36 CID (`/p2p/k…`), and each lists the other
/// under its base58 peer ID.
#[test]
fn daemons_with_rsa_secp256k1_and_ecdsa_identities_connect() {
    let (dirs, roots): (Vec<_>, Vec<_>) = ["rsa", "secp256k1", "ecdsa"]
        .iter()
        .map(|alg| {
            let (d, root) = common::repo_dir();
            ok(&run(&root, &["init", "--profile", "test", "-a", alg], None));
            (d, root)
        })
        .unzip();
    let ids: Vec<String> = roots
        .iter()
        .map(|r| id(r)["ID"].as_str().unwrap().to_string())
        .collect();
    assert!(
        ids[0].starts_with("Qm") && ids[1].starts_with("16Uiu2"),
        "{ids:?}"
    );
    let daemons: Vec<Daemon> = roots.iter().map(|r| Daemon::start(r)).collect();
    for (from, to) in [(0, 1), (1, 2), (2, 0)] {
        let addr = dial_addr(&roots[to]);
        let transport = addr.rsplit_once("/p2p/").unwrap().0;
        let target = format!("{transport}/p2p/{}", base36_peer_id(&ids[to]));
        let out = ok(&run(&roots[from], &["swarm", "connect", &target], None));
        assert_eq!(out, format!("connect {} success\n", ids[to]), "{target}");
        let peers = ok(&run(&roots[from], &["swarm", "peers"], None));
        assert!(peers.contains(&format!("/p2p/{}", ids[to])), "{peers}");
        let peers = ok(&run(&roots[to], &["swarm", "peers"], None));
        assert!(peers.contains(&format!("/p2p/{}", ids[from])), "{peers}");
    }
    for d in daemons {
        assert!(d.stop().0);
    }
    drop(dirs);
}

#[test]
fn swarm_commands_offline_and_bad_addresses() {
    let (_d, root) = init_repo();
    let (_o, other) = init_repo();
    let other_id = id(&other)["ID"].as_str().unwrap().to_string();
    for args in [
        &["swarm", "peers"][..],
        &["swarm", "addrs"],
        &["swarm", "connect", "/ip4/127.0.0.1/tcp/1"],
        &["stats", "bw"],
    ] {
        assert_eq!(
            err(&run(&root, args, None)),
            "Error: this command needs a running daemon (acorn daemon)",
            "{args:?}"
        );
    }
    let d = Daemon::start(&root);
    let e = err(&run(
        &root,
        &["swarm", "connect", "/ip4/127.0.0.1/tcp/1"],
        None,
    ));
    assert!(e.contains("must end in /p2p/<peer-id>"), "{e}");
    let e = err(&run(&root, &["swarm", "connect", "not-a-multiaddr"], None));
    assert!(e.contains("invalid peer address"), "{e}");
    let e = err(&run(
        &root,
        &["swarm", "connect", "/ip4/1.2.3/tcp/1/p2p/x"],
        None,
    ));
    assert!(e.contains("invalid peer address"), "{e}");
    // Nothing listens on port 1: the dial fails, the command exits non-zero.
    let e = err(&run(
        &root,
        &[
            "swarm",
            "connect",
            &format!("/ip4/127.0.0.1/tcp/1/p2p/{other_id}"),
        ],
        None,
    ));
    assert!(
        e.starts_with(&format!("Error: connect {other_id} failure: ")),
        "{e}"
    );
    let e = err(&run(
        &root,
        &["swarm", "disconnect", &format!("/p2p/{other_id}")],
        None,
    ));
    assert!(e.contains("not connected"), "{e}");
    assert!(d.stop().0);
}

/// One RPC call: (status, JSON body). `stats/bw` answers are small, sized bodies.
fn rpc(port: u16, target: &str) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        s,
        "POST {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("head");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    assert!(!head.to_ascii_lowercase().contains("chunked"), "{head}");
    let status = head[9..12].parse().unwrap();
    let body = serde_json::from_slice(&raw[split + 4..]).unwrap_or_else(|e| {
        panic!(
            "{target}: {e}: {}",
            String::from_utf8_lossy(&raw[split + 4..])
        )
    });
    (status, body)
}

fn bw_field(v: &serde_json::Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing: {v}"))
}

#[test]
fn stats_bw_per_protocol_and_per_peer() {
    let (_da, a) = init_repo();
    let (_db, b) = init_repo();
    let da = Daemon::start(&a);
    let db = Daemon::start(&b);
    let work = tempfile::tempdir().unwrap();
    let data = pseudo_random(1 << 20, 7);
    let file = work.path().join("one.bin");
    std::fs::write(&file, &data).unwrap();
    let cid = add(&a, &file, false);
    connect(&b, &a);
    let r = run(&b, &["cat", &cid], None);
    assert!(r.ok, "{}", r.stderr);
    assert_eq!(sha(&r.stdout), sha(&data));
    let a_id = id(&a)["ID"].as_str().unwrap().to_string();
    let b_id = id(&b)["ID"].as_str().unwrap().to_string();
    let size = data.len() as f64;
    // Rates are whole-second samples: let the fetch's second end.
    std::thread::sleep(std::time::Duration::from_millis(1100));

    let proto = format!("/api/v0/stats/bw?proto={BITSWAP_1_2}");
    // B fetched: bitswap bytes in ≥ the file, ≤ all bytes in; its wants went out.
    let (st, total_b) = rpc(db.port, "/api/v0/stats/bw");
    assert_eq!(st, 200);
    let (st, bs_b) = rpc(db.port, &proto);
    assert_eq!(st, 200, "{bs_b}");
    for k in ["TotalIn", "TotalOut", "RateIn", "RateOut"] {
        assert!(bs_b[k].is_number(), "{k}: {bs_b}");
    }
    assert!(bw_field(&bs_b, "TotalIn") >= size, "{bs_b}");
    assert!(bw_field(&bs_b, "TotalIn") <= bw_field(&total_b, "TotalIn"));
    assert!(bw_field(&bs_b, "TotalOut") > 0.0, "{bs_b}");
    assert!(bw_field(&bs_b, "TotalOut") <= bw_field(&total_b, "TotalOut"));
    assert!(bw_field(&bs_b, "RateIn") > 0.0, "{bs_b}");
    // A served: bitswap bytes out ≥ the file.
    let (_, total_a) = rpc(da.port, "/api/v0/stats/bw");
    let (_, bs_a) = rpc(da.port, &proto);
    assert!(bw_field(&bs_a, "TotalOut") >= size, "{bs_a}");
    assert!(bw_field(&bs_a, "TotalOut") <= bw_field(&total_a, "TotalOut"));
    // Only 1.2.0 was spoken.
    let (_, old) = rpc(db.port, "/api/v0/stats/bw?proto=/ipfs/bitswap/1.1.0");
    assert_eq!(bw_field(&old, "TotalIn"), 0.0, "{old}");

    // Per peer: B's bytes with A hold the bitswap bytes and fit in the total.
    let (st, peer) = rpc(db.port, &format!("/api/v0/stats/bw?peer={a_id}"));
    assert_eq!(st, 200, "{peer}");
    assert!(bw_field(&peer, "TotalIn") >= bw_field(&bs_b, "TotalIn"));
    assert!(bw_field(&peer, "TotalIn") <= bw_field(&total_b, "TotalIn"));
    // A's view of B mirrors it.
    let (_, peer_a) = rpc(da.port, &format!("/api/v0/stats/bw?peer={b_id}"));
    assert!(bw_field(&peer_a, "TotalOut") >= size, "{peer_a}");

    // Kubo answers zeros for a protocol or peer it never saw.
    let zeros = serde_json::json!({"TotalIn": 0, "TotalOut": 0, "RateIn": 0.0, "RateOut": 0.0});
    let (st, none) = rpc(db.port, "/api/v0/stats/bw?proto=/no/such/1.0.0");
    assert_eq!((st, &none), (200, &zeros));
    let stranger = id(&init_repo().1)["ID"].as_str().unwrap().to_string();
    let (st, none) = rpc(db.port, &format!("/api/v0/stats/bw?peer={stranger}"));
    assert_eq!((st, &none), (200, &zeros));
    // Both, or a bad peer id: client errors.
    let (st, e) = rpc(
        db.port,
        &format!("/api/v0/stats/bw?peer={a_id}&proto={BITSWAP_1_2}"),
    );
    assert_eq!(st, 400);
    assert_eq!(e["Message"], "please only specify peer OR protocol", "{e}");
    let (st, e) = rpc(db.port, "/api/v0/stats/bw?peer=not-a-peer");
    assert_eq!(st, 400, "{e}");

    // The CLI passes the options through (-t is Kubo's short --proto).
    let out = ok(&run(&b, &["stats", "bw", "-t", BITSWAP_1_2], None));
    assert!(out.starts_with("Bandwidth\nTotalIn: "), "{out}");
    assert!(out.lines().nth(1).unwrap().ends_with(" MB"), "{out}");
    let out = ok(&run(&b, &["stats", "bw", "--peer", &a_id], None));
    assert!(out.lines().nth(1).unwrap().ends_with(" MB"), "{out}");
    let e = err(&run(&b, &["stats", "bw", "-t", "/x", "-p", &a_id], None));
    assert!(e.contains("please only specify peer OR protocol"), "{e}");

    for d in [da, db] {
        let (stopped, _, stderr) = d.stop();
        assert!(stopped, "{stderr}");
    }
}

/// Waits up to 5 s for the daemon to be back at `n` OS threads; returns the count.
fn settle_threads(pid: u32, n: usize) -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let t = threads(pid);
        if t <= n || std::time::Instant::now() > deadline {
            return t;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn daemon_threads_stay_within_the_pool_budget_while_fetching() {
    let (_da, a) = init_repo();
    let (_db, b) = init_repo();
    let pool: usize = ok(&run(&b, &["config", "Acorn.BlockingThreads"], None))
        .trim()
        .parse()
        .expect("Acorn.BlockingThreads");
    let da = Daemon::start(&a);
    let db = Daemon::start(&b);
    let work = tempfile::tempdir().unwrap();
    let data = pseudo_random(16 << 20, 11);
    let file = work.path().join("big.bin");
    std::fs::write(&file, &data).unwrap();
    let cid = add(&a, &file, false);
    connect(&b, &a);
    // The executor thread and async-io's reactor; the add's pool threads have gone.
    assert_eq!(settle_threads(da.pid(), 2), 2);
    assert_eq!(settle_threads(db.pid(), 2), 2);

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (pa, pb, flag) = (da.pid(), db.pid(), stop.clone());
    let sampler = std::thread::spawn(move || {
        let (mut max_a, mut max_b) = (0, 0);
        while !flag.load(std::sync::atomic::Ordering::SeqCst) {
            max_a = max_a.max(threads(pa));
            max_b = max_b.max(threads(pb));
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        (max_a, max_b)
    });
    let r = run(&b, &["cat", &cid], None);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (max_a, max_b) = sampler.join().unwrap();
    assert!(r.ok, "{}", r.stderr);
    assert_eq!(sha(&r.stdout), sha(&data));
    println!("OS threads while fetching 16 MiB: server {max_a}, fetcher {max_b} (pool {pool})");
    // Server: executor + reactor + bitswap's one pool thread.
    assert!(max_a <= 3, "serving daemon had {max_a} threads");
    // Fetcher: executor + reactor + the API pool + bitswap's one thread.
    assert!(max_b <= 2 + pool + 1, "fetching daemon had {max_b} threads");
    // Idle again: every pool thread exits (the `blocking` crate's would linger).
    assert_eq!(settle_threads(da.pid(), 2), 2, "server idle threads");
    assert_eq!(settle_threads(db.pid(), 2), 2, "fetcher idle threads");
    for d in [da, db] {
        let (stopped, _, stderr) = d.stop();
        assert!(stopped, "{stderr}");
    }
}

/// Sets `Swarm.ConnMgr` of a stopped repo.
fn conn_mgr(root: &Path, low: u32, high: u32, grace: &str) {
    // High first: LowWater may not exceed HighWater at any step.
    ok(&run(
        root,
        &["config", "--json", "Swarm.ConnMgr.LowWater", "0"],
        None,
    ));
    for (k, v) in [
        ("Swarm.ConnMgr.HighWater", high.to_string()),
        ("Swarm.ConnMgr.LowWater", low.to_string()),
    ] {
        ok(&run(root, &["config", "--json", k, &v], None));
    }
    ok(&run(
        root,
        &["config", "Swarm.ConnMgr.GracePeriod", grace],
        None,
    ));
}

/// Starts `n` daemons, each connected to `hub`; keep the result alive.
fn connected_peers(hub: &Path, n: usize) -> Vec<(tempfile::TempDir, Daemon)> {
    (0..n)
        .map(|_| {
            let (d, root) = init_repo();
            let daemon = Daemon::start(&root);
            connect(&root, hub);
            (d, daemon)
        })
        .collect()
}

fn peer_count(root: &Path) -> usize {
    ok(&run(root, &["swarm", "peers"], None)).lines().count()
}

#[test]
fn connection_manager_trims_to_low_water_past_the_grace_period() {
    let (_dh, hub) = init_repo();
    conn_mgr(&hub, 1, 3, "0s");
    let _hub_d = Daemon::start(&hub);
    let _others = connected_peers(&hub, 4);
    // The fourth peer took the hub over HighWater (3): it trims down to LowWater (1).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut n = peer_count(&hub);
    while n > 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
        n = peer_count(&hub);
    }
    assert!(n <= 1, "hub still has {n} peers");
}

#[test]
fn connection_manager_keeps_peers_in_grace_and_refuses_past_the_hard_limit() {
    let (_dh, hub) = init_repo();
    // HighWater 2: hard limit 2 × 2 = 4 connections; a 1 h grace keeps all of them.
    conn_mgr(&hub, 1, 2, "1h");
    let _hub_d = Daemon::start(&hub);
    let _others = connected_peers(&hub, 4);
    assert_eq!(peer_count(&hub), 4, "peers in their grace period are kept");
    let (_d5, fifth) = init_repo();
    let _fifth_d = Daemon::start(&fifth);
    // The dialer may see its side of the handshake finish; the hub refuses the
    // connection as it is established, so it never counts as a peer on either side.
    let _ = run(&fifth, &["swarm", "connect", &dial_addr(&hub)], None);
    let fifth_id = id(&fifth)["ID"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while peer_count(&fifth) > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(peer_count(&fifth), 0, "the hub kept the fifth connection");
    let hub_peers = ok(&run(&hub, &["swarm", "peers"], None));
    assert_eq!(hub_peers.lines().count(), 4, "{hub_peers}");
    assert!(!hub_peers.contains(&fifth_id), "{hub_peers}");
}
