//! Hostile peers (`acorn_tools::hostile`) against a daemon on loopback. Each test
//! checks three things for one misbehaviour: the daemon drops or bounds the peer
//! (its log, `swarm peers`, `bitswap wantlist --peer`, or what the peer itself
//! counted), it keeps serving an honest peer (a fetch during the attack compared
//! with one before it, as a throughput ratio with a generous bound), and its RSS
//! stays under the `pi-zero` profile's ceiling and its OS threads within budget.
//!
//! Both daemons run the `pi-zero` profile (then `test`): the attacked `server`
//! serves, the honest `fetcher` fetches from it. For the liar and the staller the daemon under test is the
//! fetcher, which asks them first (connected first) and must get its file from the
//! honest server.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use acorn_tools::hostile::{HostilePeer, Mode, Options};
use common::{dial_addr, ok, pseudo_random, run, Daemon};

/// Bytes of each file fetched: big enough that a fetch takes a measurable time on
/// loopback, small enough to keep the tests short.
const FILE_BYTES: usize = 8 << 20;
/// Time an attack runs before the honest fetch starts.
const RAMP: Duration = Duration::from_millis(1500);
/// The slowdown allowed while under attack: throughput ≥ 0.5 × the baseline, with
/// this much added for the noise of a shared 2-core machine.
const SLACK: Duration = Duration::from_secs(1);
const MISBEHAVING: &str = "bitswap: disconnecting a misbehaving peer";

struct Pair {
    _dirs: (tempfile::TempDir, tempfile::TempDir, tempfile::TempDir),
    server: Daemon,
    server_root: PathBuf,
    fetcher: Daemon,
    fetcher_root: PathBuf,
    /// Files on the server: two of `FILE_BYTES` (baseline and under attack), then a
    /// small one (a fetch after the attack).
    files: Vec<(String, Vec<u8>)>,
}

fn init(root: &Path, profiles: &str, config: &[(&str, &str)]) {
    ok(&run(root, &["init", "--profile", profiles], None));
    for (k, v) in config {
        ok(&run(root, &["config", k, v], None));
    }
}

/// Starts the server with two files and the fetcher (with `fetcher_config`); the fetcher is not connected yet.
fn pair(fetcher_config: &[(&str, &str)]) -> Pair {
    let ds = tempfile::tempdir().unwrap();
    let df = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (s, f) = (ds.path().join("repo"), df.path().join("repo"));
    init(&s, "pi-zero,test", &[]);
    init(&f, "pi-zero,test", fetcher_config);
    let files = [(1u64, FILE_BYTES), (2, FILE_BYTES), (3, 1 << 20)].map(|(seed, len)| {
        let data = pseudo_random(len, seed * 1000 + 7);
        let path = work.path().join(format!("f{seed}"));
        std::fs::write(&path, &data).unwrap();
        let cid = ok(&run(&s, &["add", "-Q", path.to_str().unwrap()], None))
            .trim()
            .to_string();
        (cid, data)
    });
    let files = files.to_vec();
    let server = Daemon::start(&s);
    let fetcher = Daemon::start(&f);
    Pair {
        _dirs: (ds, df, work),
        server,
        server_root: s,
        fetcher,
        fetcher_root: f,
        files,
    }
}

fn connect(from: &Path, to: &str) {
    ok(&run(from, &["swarm", "connect", to], None));
}

/// `cat`s file `i` on the fetcher; its time (checks the bytes).
fn fetch(p: &Pair, i: usize) -> Duration {
    let t = Instant::now();
    let r = run(&p.fetcher_root, &["cat", &p.files[i].0], None);
    let took = t.elapsed();
    assert!(r.ok, "fetch {i}: {}", r.stderr);
    assert!(r.stdout == p.files[i].1, "fetch {i}: wrong bytes");
    took
}

/// Peer IDs in `swarm peers` of `root`.
fn peers(root: &Path) -> String {
    ok(&run(root, &["swarm", "peers"], None))
}

/// Asserts the honest fetch under attack kept ≥ 0.5 × the baseline's throughput
/// (with [`SLACK`]); prints the figures.
fn assert_served(what: &str, before: Duration, during: Duration) {
    let ratio = before.as_secs_f64() / during.as_secs_f64();
    println!(
        "{what}: honest fetch of {} MiB: {:.2} s before, {:.2} s under attack, throughput ratio {ratio:.2}",
        FILE_BYTES >> 20,
        before.as_secs_f64(),
        during.as_secs_f64()
    );
    assert!(
        during <= before * 2 + SLACK,
        "{what}: the honest fetch slowed from {before:?} to {during:?}"
    );
}

/// Asserts the daemon's peak RSS is under the `pi-zero` ceiling and its threads are
/// within budget: executor, reactor, its blocking pool (`Acorn.BlockingThreads`) and
/// bitswap's one pool thread.
fn assert_bounded(what: &str, root: &Path, pid: u32) {
    let pool: usize = ok(&run(root, &["config", "Acorn.BlockingThreads"], None))
        .trim()
        .parse()
        .unwrap();
    let (rss, hwm, n) = acorn_tools::proc_figures(pid).unwrap();
    let ceiling = acorn_tools::profile_ceiling_mib("pi-zero").unwrap();
    println!(
        "{what}: daemon RSS {} KiB, peak {} KiB (ceiling {ceiling} MiB), {n} threads",
        rss, hwm
    );
    assert!(hwm < ceiling << 10, "{what}: peak RSS {hwm} KiB");
    // + 1 while a network command runs (NET_WAIT_THREADS); pool threads linger 0.5 s.
    assert!(n <= 2 + pool + 2, "{what}: {n} threads (pool {pool})");
}

/// Waits up to `limit` for `cond`.
fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    cond()
}

/// An attack on the server while the fetcher fetches from it: returns the running
/// hostile peer (still attacking) after checking service and bounds.
fn attack_server(mode: Mode, count: usize, wants: Vec<cid::Cid>) -> (Pair, HostilePeer) {
    let p = pair(&[]);
    connect(&p.fetcher_root, &dial_addr(&p.server_root));
    let before = fetch(&p, 0);
    let mut opts = Options::new(mode);
    opts.target = Some(dial_addr(&p.server_root).parse().unwrap());
    opts.count = count;
    opts.wants = wants;
    let h = HostilePeer::start(opts).unwrap();
    std::thread::sleep(RAMP);
    let during = fetch(&p, 1);
    let what = format!("{mode:?}");
    assert_served(&what, before, during);
    assert_bounded(&what, &p.server_root, p.server.pid());
    (p, h)
}

fn server_log(p: Pair) -> String {
    let (stopped, _, stderr) = p.server.stop();
    assert!(stopped, "{stderr}");
    stderr
}

/// Asserts the server dropped the hostile peer for misbehaviour, keeps it out
/// (`swarm peers`) and let none of its redials stay.
fn assert_dropped(p: Pair, h: &HostilePeer) {
    let id = h.peer.to_string();
    assert!(
        eventually(Duration::from_secs(5), || !peers(&p.server_root)
            .contains(&id)),
        "{id} still connected"
    );
    assert!(h.counters.get("disconnections").unwrap() >= 1);
    let log = server_log(p);
    assert!(log.contains(MISBEHAVING), "{log}");
}

#[test]
fn wrong_hash_blocks_get_the_peer_dropped() {
    let (p, h) = attack_server(Mode::WrongHash, 0, Vec::new());
    assert_dropped(p, &h);
}

#[test]
fn oversize_blocks_get_the_peer_dropped() {
    let (p, h) = attack_server(Mode::OversizeBlock, 0, Vec::new());
    assert_dropped(p, &h);
}

#[test]
fn malformed_frames_get_the_peer_dropped() {
    let (p, h) = attack_server(Mode::MalformedFrames, 0, Vec::new());
    assert_dropped(p, &h);
}

#[test]
fn oversize_frames_get_the_peer_dropped() {
    let (p, h) = attack_server(Mode::OversizeFrame, 0, Vec::new());
    assert_dropped(p, &h);
}

#[test]
fn endless_wantlists_are_bounded() {
    let (p, h) = attack_server(Mode::EndlessWantlist, 0, Vec::new());
    let id = h.peer.to_string();
    let held = ok(&run(
        &p.server_root,
        &["bitswap", "wantlist", "--peer", &id],
        None,
    ))
    .lines()
    .count();
    let sent = h.counters.get("sent").unwrap() as usize;
    println!("endless wantlist: {sent} messages of 1000 wants sent, {held} held");
    assert!(sent >= 2, "the attack ran: {}", h.counters.line());
    assert!(held <= 1024, "{held} entries held for one peer");
}

#[test]
fn thousands_of_streams_are_refused_past_the_caps() {
    let (p, h) = attack_server(Mode::ManyStreams, 2000, Vec::new());
    // The server keeps at most bitswap's per-peer cap of streams open (4); every
    // other stream the peer opened is reset.
    let open_held = |h: &HostilePeer| {
        let c = &h.counters;
        c.get("streams_opened").unwrap() - c.get("streams_closed").unwrap()
    };
    assert!(
        eventually(Duration::from_secs(5), || open_held(&h) <= 4),
        "{}",
        h.counters.line()
    );
    println!("many streams: {}", h.counters.line());
    assert!(
        h.counters.get("streams_opened").unwrap() >= 1000,
        "{}",
        h.counters.line()
    );
    drop(p);
}

#[test]
fn thousands_of_connections_are_refused_and_closed() {
    raise_fd_limit();
    let (p, h) = attack_server(Mode::ManyConnections, 1000, Vec::new());
    let closed = h.counters.get("disconnections").unwrap();
    println!("many connections: {}", h.counters.line());
    assert!(closed >= 100, "{}", h.counters.line());
    drop(p);
}

#[test]
fn silent_connections_are_closed() {
    raise_fd_limit();
    let (p, h) = attack_server(Mode::Silent, 50, Vec::new());
    println!("silent: {}", h.counters.line());
    assert!(h.counters.get("disconnections").unwrap() >= 1);
    drop(p);
}

#[test]
fn a_peer_that_never_reads_does_not_hold_up_others() {
    let p = pair(&[]);
    connect(&p.fetcher_root, &dial_addr(&p.server_root));
    let before = fetch(&p, 0);
    // It wants every block of file 0 and never reads the answers.
    let refs = ok(&run(&p.server_root, &["refs", "-r", &p.files[0].0], None));
    let mut opts = Options::new(Mode::NoRead);
    opts.target = Some(dial_addr(&p.server_root).parse().unwrap());
    opts.wants = refs.lines().map(|l| l.parse().unwrap()).collect();
    opts.wants.push(p.files[0].0.parse().unwrap());
    let h = HostilePeer::start(opts).unwrap();
    std::thread::sleep(RAMP);
    let during = fetch(&p, 1);
    println!("no-read: {}", h.counters.line());
    assert!(h.counters.get("sent").unwrap() >= 1);
    assert_served("no-read", before, during);
    assert_bounded("no-read", &p.server_root, p.server.pid());
}

#[test]
fn identify_floods_do_not_hold_up_others() {
    let (_p, h) = attack_server(Mode::IdentifyFlood, 0, Vec::new());
    println!("identify flood: {}", h.counters.line());
    assert!(h.counters.get("streams_opened").unwrap() >= 10);
}

#[test]
fn kad_floods_do_not_hold_up_others() {
    let (_p, h) = attack_server(Mode::KadFlood, 0, Vec::new());
    println!("kad flood: {}", h.counters.line());
    // The pi-zero server is a DHT client: it refuses every request stream.
    let tries =
        h.counters.get("streams_opened").unwrap() + h.counters.get("stream_failures").unwrap();
    assert!(tries >= 10, "{}", h.counters.line());
}

/// The fetcher is connected to `hostile` first, then to the honest server, so the
/// hostile peer gets the first want-block; the file fetched past it is compared with
/// one fetched after, with only the server connected. (Connections are made while
/// the daemon is fresh: past `Swarm.ResourceMgr.MaxMemory`, 24 MiB on `pi-zero`, a
/// daemon that has just fetched may refuse to dial.)
fn fetch_past(
    mode: Mode,
    fetcher_config: &[(&str, &str)],
) -> (Pair, HostilePeer, Duration, Duration, bool) {
    let p = pair(fetcher_config);
    let h = HostilePeer::start(Options::new(mode)).unwrap();
    connect(&p.fetcher_root, &h.addr.to_string());
    connect(&p.fetcher_root, &dial_addr(&p.server_root));
    let during = fetch(&p, 1);
    let id = h.peer.to_string();
    let kept = peers(&p.fetcher_root).contains(&id);
    let _ = run(
        &p.fetcher_root,
        &["swarm", "disconnect", &h.addr.to_string()],
        None,
    );
    assert!(eventually(Duration::from_secs(5), || !peers(
        &p.fetcher_root
    )
    .contains(&id)));
    let before = fetch(&p, 0);
    (p, h, before, during, kept)
}

#[test]
fn a_liar_is_dropped_at_once_and_not_asked_again() {
    let (p, h, before, during, kept) = fetch_past(Mode::Liar, &[]);
    assert!(!kept, "the liar was still connected after the fetch");
    assert_served("liar", before, during);
    assert_bounded("liar", &p.fetcher_root, p.fetcher.pid());
    println!("liar: {}", h.counters.line());
    assert!(
        h.counters.get("lies_sent").unwrap() >= 1,
        "{}",
        h.counters.line()
    );
    let id = h.peer.to_string();
    // It is dialed again: dropped again, and asked nothing more.
    let asked = h.counters.get("want_blocks_received").unwrap();
    let _ = run(
        &p.fetcher_root,
        &["swarm", "connect", &h.addr.to_string()],
        None,
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !peers(&p.fetcher_root).contains(&id),
        "a banned peer stayed connected"
    );
    let _ = fetch(&p, 2);
    assert_eq!(h.counters.get("want_blocks_received").unwrap(), asked);
    let (stopped, _, log) = p.fetcher.stop();
    assert!(stopped);
    assert!(log.contains(MISBEHAVING), "{log}");
}

#[test]
fn a_stallers_wants_move_on_after_the_want_timeout() {
    let (p, h, before, during, _) =
        fetch_past(Mode::Staller, &[("Acorn.BitswapWantTimeout", "1s")]);
    println!("staller: {}", h.counters.line());
    assert!(
        h.counters.get("want_blocks_received").unwrap() >= 1,
        "the staller was asked first: {}",
        h.counters.line()
    );
    // One stalled want costs the 1 s timeout, not the fetch.
    assert!(
        during <= before * 2 + SLACK + Duration::from_secs(1),
        "staller: {before:?} before, {during:?} with the staller"
    );
    assert_bounded("staller", &p.fetcher_root, p.fetcher.pid());
}

fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard.min(8192), hard);
    }
}
