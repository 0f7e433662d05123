//! Integration tests of the on-disk layer: repo, blockstore, pins, GC, crash safety.
//!
//! Two tests re-run this test binary as a child process (`child_process_entry`, which
//! does nothing unless `ACORN_STORE_CHILD` is set): one holds the repo lock, one churns
//! pins and GCs until the parent kills it with SIGKILL. Cross-built test binaries run
//! under qemu-user, which cannot exec a foreign binary by itself (no binfmt_misc in
//! CI): `cross/ci.sh` sets `ACORN_TEST_RUNNER` (`qemu-arm -L /usr/arm-linux-gnueabihf`)
//! and the child is started through it.

use acorn_storage::block::{Block, BlockError, BlockSink, MAX_BLOCK_BYTES};
use acorn_storage::blockstore::{WRITER_BATCH_BLOCKS, WRITER_BATCH_BYTES};
use acorn_storage::cids;
use acorn_storage::codec::dagpb::PbNode;
use acorn_storage::dag::{self, DagError, Walk};
use acorn_storage::gc;
use acorn_storage::pins::{self, PinError, PinFilter, PinKind, PinType};
use acorn_storage::repo::{Repo, RepoError};
use acorn_storage::Cid;
use acorn_tools::rng::Rng;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "ACORN_STORE_CHILD";
const REPO_ENV: &str = "ACORN_STORE_REPO";
const SEED_ENV: &str = "ACORN_STORE_SEED";
const LOG_ENV: &str = "ACORN_STORE_LOG";
/// Command (program and arguments, space-separated) that runs a binary of the test
/// target, e.g. the qemu-user runner; unset or empty: exec the binary directly.
const RUNNER_ENV: &str = "ACORN_TEST_RUNNER";
/// Longest wait for a child to open the repo before the kill window starts.
const CHILD_START_LIMIT: Duration = Duration::from_secs(30);

// ---- helpers --------------------------------------------------------------------

fn new_repo() -> (tempfile::TempDir, Repo) {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repo::init(dir.path().join("repo")).unwrap();
    (dir, repo)
}

fn raw(data: &[u8]) -> Block {
    Block::encode(1, cids::RAW, data.to_vec())
}

fn pb(version: u8, links: &[Cid], data: &[u8]) -> Block {
    Block::encode(
        version,
        cids::DAG_PB,
        PbNode::with_links(links, Some(data.to_vec())).encode(),
    )
}

/// The shared test generator, seeded as this file always was (a spread seed).
fn rng(seed: u64) -> Rng {
    Rng::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
}

/// Writes a random tree DAG through `sink` and returns its root and all its blocks'
/// CIDs. Every DAG links a shared leaf, so DAGs overlap.
fn random_dag(rng: &mut Rng, sink: &mut dyn BlockSink) -> (Cid, Vec<Cid>) {
    let mut all = Vec::new();
    let shared = raw(b"shared leaf");
    sink.put(shared.cid(), shared.data()).unwrap();
    all.push(*shared.cid());
    let mut level: Vec<Cid> = vec![*shared.cid()];
    let leaves = 1 + rng.below(12);
    for _ in 0..leaves {
        let len = 1 + rng.below(4096) as usize;
        let data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        let b = if rng.below(2) == 0 {
            raw(&data)
        } else {
            pb(0, &[], &data)
        };
        sink.put(b.cid(), b.data()).unwrap();
        all.push(*b.cid());
        level.push(*b.cid());
    }
    while level.len() > 1 {
        let mut next = Vec::new();
        for group in level.chunks(1 + rng.below(4) as usize) {
            let tag = rng.next_u64().to_le_bytes();
            let b = pb(rng.below(2) as u8, group, &tag);
            sink.put(b.cid(), b.data()).unwrap();
            all.push(*b.cid());
            next.push(*b.cid());
        }
        level = next;
    }
    (level[0], all)
}

/// Every block reachable from `root` is present (walk succeeds).
fn dag_complete(repo: &Repo, root: &Cid) -> Result<usize, DagError> {
    let mut n = 0;
    let mut seen = dag::MemSeen::new();
    dag::walk::<_, DagError>(repo.store(), root, Some(&mut seen), &mut |_, _| {
        n += 1;
        Ok(Walk::Continue)
    })?;
    Ok(n)
}

/// Spawns this test binary running only `child_process_entry`, with `envs`.
fn spawn_child(envs: &[(&str, String)]) -> std::process::Child {
    let exe = std::env::current_exe().unwrap();
    let runner = std::env::var(RUNNER_ENV).unwrap_or_default();
    let mut runner = runner.split_whitespace();
    let mut cmd = match runner.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(runner).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    // The harness names a test by its module path inside the test crate
    // (`store::child_process_entry` when this file is a module of a bigger crate).
    let test = match module_path!().split_once("::") {
        Some((_crate, module)) => format!("{module}::child_process_entry"),
        None => "child_process_entry".to_string(),
    };
    cmd.args(["--exact", &test, "--nocapture", "--test-threads=1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

// ---- repo -----------------------------------------------------------------------

#[test]
fn init_open_lock_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("r");
    let e = Repo::open(&p).unwrap_err();
    assert!(matches!(e, RepoError::NotInitialized { .. }));
    assert!(e.to_string().contains(&p.display().to_string()), "{e}");

    let repo = Repo::init(&p).unwrap();
    let e = Repo::open(&p).unwrap_err();
    assert!(matches!(e, RepoError::Locked { pid } if pid == std::process::id()));
    assert_eq!(
        e.to_string(),
        format!("repo is locked by PID {}", std::process::id())
    );
    // init on a live repo is refused too (lock first).
    assert!(matches!(
        Repo::init(&p),
        Err(RepoError::Locked { .. }) | Err(RepoError::AlreadyInitialized { .. })
    ));
    drop(repo);
    let e = Repo::init(&p).unwrap_err();
    assert!(matches!(e, RepoError::AlreadyInitialized { .. }), "{e}");
    assert!(e.to_string().contains("already initialised"), "{e}");
    Repo::open(&p).unwrap();
}

#[test]
fn second_process_sees_locked_with_child_pid() {
    let (dir, repo) = new_repo();
    let p = repo.path().to_path_buf();
    drop(repo);
    let mut child = spawn_child(&[
        (CHILD_ENV, "hold".into()),
        (REPO_ENV, p.display().to_string()),
    ]);
    // The child creates `<repo>/held` once it holds the lock.
    let marker = p.join("held");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !marker.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "child ended early ({status}): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(Instant::now() < deadline, "child never took the lock");
        std::thread::sleep(Duration::from_millis(10));
    }
    let e = Repo::open(&p).unwrap_err();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        matches!(e, RepoError::Locked { pid } if pid == child.id()),
        "{e} (child {})",
        child.id()
    );
    // The kernel drops a dead process's flock.
    Repo::open(&p).unwrap();
    drop(dir);
}

// ---- blockstore -----------------------------------------------------------------

#[test]
fn put_get_has_stat_remove() {
    let (_d, repo) = new_repo();
    let s = repo.store();
    let b = raw(b"some bytes");
    assert!(!s.has(b.cid()).unwrap());
    assert_eq!(s.get(b.cid()).unwrap(), None);
    assert!(s.put_block(&b).unwrap());
    assert_eq!(s.get(b.cid()).unwrap().unwrap(), b.data());
    assert!(s.has(b.cid()).unwrap());
    assert_eq!(s.stat(b.cid()).unwrap(), Some(b.data().len() as u64));
    assert!(s.remove(b.cid()).unwrap());
    assert!(!s.has(b.cid()).unwrap());
    assert_eq!(s.stat(b.cid()).unwrap(), None);
    // Identity CIDs are never stored but always readable.
    let id = Cid::new_v1(
        cids::RAW,
        cid::multihash::Multihash::wrap(cids::IDENTITY, b"inline").unwrap(),
    );
    assert_eq!(s.get(&id).unwrap().unwrap(), b"inline");
}

#[test]
fn cidv0_and_cidv1_share_one_block() {
    let (_d, repo) = new_repo();
    let s = repo.store();
    let v0 = pb(0, &[], b"node");
    let v1 = Cid::new_v1(cids::DAG_PB, *v0.cid().hash());
    let raw_view = Cid::new_v1(cids::RAW, *v0.cid().hash());
    s.put_block(&v0).unwrap();
    assert!(!s
        .put_block(&Block::new(v1, v0.data().to_vec()).unwrap())
        .unwrap());
    assert_eq!(s.get(&v1).unwrap().unwrap(), v0.data());
    assert_eq!(s.get(&raw_view).unwrap().unwrap(), v0.data());
    assert_eq!(s.count_and_size().unwrap().blocks, 1);
    assert!(s.remove(&v1).unwrap());
    assert!(!s.has(v0.cid()).unwrap());
}

#[test]
fn oversize_and_bad_hash_rejected() {
    let (_d, repo) = new_repo();
    let s = repo.store();
    let big = vec![7u8; MAX_BLOCK_BYTES + 1];
    let cid = cids::cid_of(1, cids::RAW, &big);
    assert!(matches!(
        Block::new(cid, big.clone()),
        Err(BlockError::TooLarge { .. })
    ));
    let mut w = s.writer();
    assert!(matches!(
        w.put(&cid, &big),
        Err(BlockError::TooLarge { .. })
    ));
    w.flush().unwrap();
    assert!(!s.has(&cid).unwrap());
    let at_limit = vec![7u8; MAX_BLOCK_BYTES];
    let ok = Block::encode(1, cids::RAW, at_limit);
    assert!(s.put_block(&ok).unwrap());
}

#[test]
fn writer_batches_transactions() {
    let (_d, repo) = new_repo();
    let s = repo.store();
    // 1000 small blocks: fewer than WRITER_BATCH_BLOCKS, so one commit at flush.
    let before = s.write_txn_count();
    let mut w = s.writer();
    let mut cids_ = Vec::new();
    for i in 0..1000u32 {
        let b = raw(format!("block {i}").as_bytes());
        w.put_block(&b).unwrap();
        cids_.push(*b.cid());
    }
    let st = w.finish().unwrap();
    let txns = s.write_txn_count() - before;
    let bound = 1000 / WRITER_BATCH_BLOCKS as u64 + 1;
    assert!(txns <= bound, "{txns} write transactions for 1000 blocks");
    assert_eq!(st.blocks_new, 1000);
    assert_eq!(st.commits, txns);
    for c in &cids_ {
        assert!(s.has(c).unwrap());
    }
    // 1000 blocks of 16 KiB: committed by size, ~16 MiB / WRITER_BATCH_BYTES commits.
    let before = s.write_txn_count();
    let mut w = s.writer();
    for i in 0..1000u32 {
        let mut data = vec![0u8; 16 << 10];
        data[..4].copy_from_slice(&i.to_le_bytes());
        data[4] = 1;
        w.put_block(&raw(&data)).unwrap();
    }
    w.flush().unwrap();
    let txns = s.write_txn_count() - before;
    let bound = (1000 * (16 << 10) / WRITER_BATCH_BYTES) as u64 + 2;
    assert!(txns <= bound, "{txns} > {bound}");
    assert!(txns >= 2, "size trigger never fired");
    // Re-putting stored blocks writes nothing new.
    let mut w = s.writer();
    for c in &cids_[..10] {
        let data = s.get(c).unwrap().unwrap();
        w.put(c, &data).unwrap();
    }
    assert_eq!(w.finish().unwrap().blocks_new, 0);
}

#[test]
fn iter_multihashes_count_and_size() {
    let (_d, repo) = new_repo();
    let s = repo.store();
    let mut want = BTreeSet::new();
    let mut bytes = 0u64;
    let mut w = s.writer();
    for i in 0..2500u32 {
        let b = raw(format!("{i:08}").as_bytes());
        bytes += b.data().len() as u64;
        want.insert(b.cid().hash().to_bytes());
        w.put_block(&b).unwrap();
    }
    w.finish().unwrap();
    let got: Vec<Vec<u8>> = s
        .iter_multihashes()
        .map(|m| m.unwrap().to_bytes())
        .collect();
    assert_eq!(got.len(), 2500);
    assert_eq!(got.iter().cloned().collect::<BTreeSet<_>>(), want);
    let st = s.count_and_size().unwrap();
    assert_eq!(st.blocks, 2500);
    assert!(st.stored_bytes >= bytes, "{st:?}");
    assert!(st.disk_bytes > 0);
}

#[test]
fn verify_detects_corrupt_block() {
    let (_d, repo) = new_repo();
    let s = repo.store();
    let good = raw(b"good");
    let victim = pb(0, &[], b"victim");
    s.put_block(&good).unwrap();
    s.put_block(&victim).unwrap();
    let r = s.verify().unwrap();
    assert!(r.is_clean());
    assert_eq!(r.checked, 2);
    s.debug_put_unverified(victim.cid(), b"bit rot").unwrap();
    let r = s.verify().unwrap();
    assert_eq!(r.checked, 2);
    assert_eq!(r.corrupt.len(), 1, "{r:?}");
    assert_eq!(
        r.corrupt[0].cid,
        Some(cids::raw_v1_of_multihash(victim.cid().hash()))
    );
    // pin verify names it too.
    pins::pin_add(s, victim.cid(), false).unwrap();
    let st = pins::pin_verify(s).unwrap();
    assert_eq!(st.len(), 1);
    assert!(!st[0].ok());
    assert_eq!(st[0].bad_nodes[0].cid, *victim.cid());
}

// ---- pins -----------------------------------------------------------------------

#[test]
fn pins_add_rm_ls_with_indirect() {
    let (_d, repo) = new_repo();
    let s = repo.store();
    let l1 = raw(b"l1");
    let l2 = raw(b"l2");
    let mid = pb(0, &[*l1.cid(), *l2.cid()], b"mid");
    let root = pb(1, &[*mid.cid(), *l1.cid()], b"root");
    let lone = raw(b"lone");
    for b in [&l1, &l2, &mid, &root, &lone] {
        s.put_block(b).unwrap();
    }
    pins::pin_add(s, root.cid(), true).unwrap();
    pins::pin_add(s, lone.cid(), false).unwrap();
    pins::pin_add(s, l2.cid(), false).unwrap();

    let ls = |f| pins::pin_ls_vec(s, f).unwrap();
    assert_eq!(
        ls(PinFilter::Recursive),
        vec![(*root.cid(), PinType::Recursive)]
    );
    let direct: BTreeSet<Cid> = ls(PinFilter::Direct).into_iter().map(|p| p.0).collect();
    assert_eq!(direct, BTreeSet::from([*lone.cid(), *l2.cid()]));
    let indirect: Vec<Cid> = ls(PinFilter::Indirect).into_iter().map(|p| p.0).collect();
    assert_eq!(indirect, vec![*mid.cid(), *l1.cid(), *l2.cid()]);
    assert_eq!(ls(PinFilter::All).len(), 1 + 2 + 3);

    let e = pins::pin_rm(s, mid.cid(), true).unwrap_err();
    assert!(matches!(&e, PinError::PinnedIndirectly { root: r, .. } if **r == *root.cid()));
    assert!(e.to_string().contains("is pinned indirectly"), "{e}");
    let stranger = raw(b"stranger");
    assert!(matches!(
        pins::pin_rm(s, stranger.cid(), true),
        Err(PinError::NotPinned { .. })
    ));
    pins::pin_rm(s, lone.cid(), true).unwrap();
    pins::pin_rm(s, root.cid(), true).unwrap();
    assert!(ls(PinFilter::Indirect).is_empty());
    assert_eq!(ls(PinFilter::All), vec![(*l2.cid(), PinType::Direct)]);
    for st in pins::pin_verify(s).unwrap() {
        assert!(st.ok(), "{st:?}");
    }
}

#[test]
fn pin_of_incomplete_dag_refused() {
    let (_d, repo) = new_repo();
    let s = repo.store();
    let present = raw(b"present");
    let missing = raw(b"missing");
    let mid = pb(0, &[*missing.cid()], b"mid");
    let root = pb(0, &[*present.cid(), *mid.cid()], b"root");
    for b in [&present, &mid, &root] {
        s.put_block(b).unwrap();
    }
    let e = pins::pin_add(s, root.cid(), true).unwrap_err();
    assert!(
        matches!(&e, PinError::Incomplete { root: r, missing: m } if **r == *root.cid() && m == missing.cid()),
        "{e}"
    );
    assert!(e.to_string().contains(&missing.cid().to_string()));
    assert_eq!(pins::pin_kind(s, root.cid()).unwrap(), None);
    // A direct pin needs only the root.
    pins::pin_add(s, root.cid(), false).unwrap();
    // A direct pin of an absent block is refused.
    assert!(matches!(
        pins::pin_add(s, missing.cid(), false),
        Err(PinError::Incomplete { .. })
    ));
    s.put_block(&missing).unwrap();
    pins::pin_add(s, root.cid(), true).unwrap();
    assert_eq!(
        pins::pin_kind(s, root.cid()).unwrap(),
        Some(PinKind::Recursive)
    );
}

#[test]
fn pin_update_moves_pin() {
    let (_d, repo) = new_repo();
    let s = repo.store();
    let a = raw(b"a");
    let old = pb(0, &[*a.cid()], b"v1");
    let b = raw(b"b");
    let new = pb(0, &[*a.cid(), *b.cid()], b"v2");
    for blk in [&a, &old, &b, &new] {
        s.put_block(blk).unwrap();
    }
    assert!(matches!(
        pins::pin_update(s, old.cid(), new.cid(), true),
        Err(PinError::FromNotPinned { .. })
    ));
    pins::pin_add(s, old.cid(), true).unwrap();
    pins::pin_update(s, old.cid(), new.cid(), true).unwrap();
    assert_eq!(pins::pin_kind(s, old.cid()).unwrap(), None);
    assert_eq!(
        pins::pin_kind(s, new.cid()).unwrap(),
        Some(PinKind::Recursive)
    );
    let mut removed = Vec::new();
    gc::collect(s, &mut |c| removed.push(*c)).unwrap();
    assert_eq!(removed, vec![cids::raw_v1_of_multihash(old.cid().hash())]);
    assert_eq!(dag_complete(&repo, new.cid()).unwrap(), 3);
}

#[test]
fn refs_recursive_and_local() {
    let (_d, repo) = new_repo();
    let s = repo.store();
    let mut rng = rng(7);
    let mut w = s.writer();
    let (root, all) = random_dag(&mut rng, &mut w);
    w.finish().unwrap();
    let mut refs = Vec::new();
    dag::refs::<_, DagError>(s, &root, true, true, &mut |c| {
        refs.push(*c);
        Ok(())
    })
    .unwrap();
    let want: BTreeSet<Vec<u8>> = all
        .iter()
        .filter(|c| **c != root)
        .map(|c| c.hash().to_bytes())
        .collect();
    let got: BTreeSet<Vec<u8>> = refs.iter().map(|c| c.hash().to_bytes()).collect();
    assert_eq!(got, want);
    assert_eq!(refs.len(), want.len(), "unique refs are unique");
    let local: BTreeSet<Vec<u8>> = s
        .iter_multihashes()
        .map(|m| m.unwrap().to_bytes())
        .collect();
    assert!(want.is_subset(&local) && local.contains(&root.hash().to_bytes()));
}

// ---- GC -------------------------------------------------------------------------

#[test]
fn gc_waits_for_in_flight_add() {
    let (_d, repo) = new_repo();
    let s = repo.store().clone();
    let guard = s.begin_add();
    let mut w = s.writer();
    let leaf = raw(b"in flight leaf");
    let root = pb(0, &[*leaf.cid()], b"in flight root");
    w.put_block(&leaf).unwrap();
    w.put_block(&root).unwrap();
    let garbage = raw(b"garbage");
    w.put_block(&garbage).unwrap();
    w.finish().unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let gc_thread = {
        let s = s.clone();
        let done = done.clone();
        std::thread::spawn(move || {
            let mut removed = Vec::new();
            gc::collect(&s, &mut |c| removed.push(*c)).unwrap();
            done.store(true, Ordering::SeqCst);
            removed
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    assert!(!done.load(Ordering::SeqCst), "GC ran during an add");
    assert!(s.has(leaf.cid()).unwrap() && s.has(root.cid()).unwrap());
    // The add pins its root (pin_add takes a nested guard: no deadlock), then ends.
    pins::pin_add(&s, root.cid(), true).unwrap();
    drop(guard);
    let removed = gc_thread.join().unwrap();
    assert!(done.load(Ordering::SeqCst));
    assert_eq!(
        removed,
        vec![cids::raw_v1_of_multihash(garbage.cid().hash())]
    );
    assert!(s.has(leaf.cid()).unwrap() && s.has(root.cid()).unwrap());
}

#[derive(Debug, Clone)]
enum NodeSpec {
    Leaf,
    Node { links: Vec<usize>, v0: bool },
}

#[derive(Debug, Clone)]
enum PinOp {
    Recursive(usize),
    Direct(usize),
    Unpin(usize),
}

fn dag_strategy() -> impl Strategy<Value = Vec<NodeSpec>> {
    prop::collection::vec(
        prop_oneof![
            1 => Just(NodeSpec::Leaf),
            2 => (prop::collection::vec(any::<prop::sample::Index>(), 0..5), any::<bool>())
                .prop_map(|(ix, v0)| NodeSpec::Node {
                    // Resolved against the node's position below (links point backwards).
                    links: ix.iter().map(|i| i.index(usize::MAX)).collect(),
                    v0,
                }),
        ],
        1..40,
    )
}

fn ops_strategy() -> impl Strategy<Value = Vec<PinOp>> {
    prop::collection::vec(
        prop_oneof![
            (0usize..1000).prop_map(PinOp::Recursive),
            (0usize..1000).prop_map(PinOp::Direct),
            (0usize..1000).prop_map(PinOp::Unpin),
        ],
        0..12,
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Random DAGs, random pins and unpins: GC removes exactly the blocks not
    /// reachable from a recursive or direct pin.
    #[test]
    fn gc_removes_exactly_the_unreachable(specs in dag_strategy(), ops in ops_strategy()) {
        let (_d, repo) = new_repo();
        let s = repo.store();
        // Build blocks; node i links only to nodes < i.
        let mut cids_: Vec<Cid> = Vec::new();
        let mut edges: Vec<Vec<usize>> = Vec::new();
        let mut w = s.writer();
        for (i, spec) in specs.iter().enumerate() {
            let (b, e) = match spec {
                NodeSpec::Node { links, v0 } if i > 0 => {
                    let e: Vec<usize> = links.iter().map(|x| x % i).collect();
                    let lc: Vec<Cid> = e.iter().map(|j| cids_[*j]).collect();
                    (pb(if *v0 { 0 } else { 1 }, &lc, format!("node {i}").as_bytes()), e)
                }
                _ => (raw(format!("leaf {i}").as_bytes()), vec![]),
            };
            w.put_block(&b).unwrap();
            cids_.push(*b.cid());
            edges.push(e);
        }
        w.finish().unwrap();
        let n = cids_.len();
        // Apply pin ops to the store and to a model.
        let mut model: BTreeMap<usize, PinKind> = BTreeMap::new();
        for op in &ops {
            match *op {
                PinOp::Recursive(i) => {
                    let i = i % n;
                    pins::pin_add(s, &cids_[i], true).unwrap();
                    model.insert(i, PinKind::Recursive);
                }
                PinOp::Direct(i) => {
                    let i = i % n;
                    match pins::pin_add(s, &cids_[i], false) {
                        Ok(()) => { model.entry(i).or_insert(PinKind::Direct); }
                        Err(PinError::AlreadyPinnedRecursively { .. }) => {
                            prop_assert_eq!(model.get(&i), Some(&PinKind::Recursive));
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                PinOp::Unpin(i) => {
                    let i = i % n;
                    match pins::pin_rm(s, &cids_[i], true) {
                        Ok(()) => { prop_assert!(model.remove(&i).is_some()); }
                        Err(PinError::NotPinned { .. }) | Err(PinError::PinnedIndirectly { .. }) => {
                            prop_assert!(!model.contains_key(&i));
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        }
        // Model reachability.
        let mut reach: HashSet<usize> = HashSet::new();
        let mut stack: Vec<usize> = Vec::new();
        for (&i, k) in &model {
            reach.insert(i);
            if *k == PinKind::Recursive { stack.push(i); }
        }
        let mut expanded = HashSet::new();
        while let Some(i) = stack.pop() {
            if !expanded.insert(i) { continue; }
            for &j in &edges[i] {
                reach.insert(j);
                stack.push(j);
            }
        }
        let mut removed = BTreeSet::new();
        gc::collect(s, &mut |c| { removed.insert(c.hash().to_bytes()); }).unwrap();
        let want_removed: BTreeSet<Vec<u8>> = (0..n)
            .filter(|i| !reach.contains(i))
            .map(|i| cids_[i].hash().to_bytes())
            .collect();
        prop_assert_eq!(&removed, &want_removed);
        for (i, c) in cids_.iter().enumerate() {
            prop_assert_eq!(s.has(c).unwrap(), reach.contains(&i), "block {}", i);
        }
        // A second GC finds nothing to remove.
        let st = gc::collect(s, &mut |_| {}).unwrap();
        prop_assert_eq!(st.removed_blocks, 0);
        prop_assert!(s.verify().unwrap().is_clean());
    }
}

// ---- kill -9 ----------------------------------------------------------------------

/// Child side of the multi-process tests; does nothing in a normal test run.
#[test]
fn child_process_entry() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    let path = std::env::var(REPO_ENV).unwrap();
    match mode.as_str() {
        "hold" => {
            let repo = Repo::open(&path).unwrap();
            std::fs::write(repo.path().join("held"), b"").unwrap();
            std::thread::sleep(Duration::from_secs(60));
        }
        "churn" => churn(Path::new(&path)),
        other => panic!("unknown child mode {other}"),
    }
}

/// Appends a line to the op log and fsyncs it.
fn log_line(f: &mut std::fs::File, line: &str) {
    writeln!(f, "{line}").unwrap();
    f.sync_data().unwrap();
}

/// Adds DAGs and pins them, unpins, updates pins and collects garbage, forever,
/// logging each pin operation as `B <op>` before and `D` after it commits.
fn churn(path: &Path) {
    let seed: u64 = std::env::var(SEED_ENV).unwrap().parse().unwrap();
    let mut rng = rng(seed);
    let repo = Repo::open(path).unwrap();
    let s = repo.store();
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(std::env::var(LOG_ENV).unwrap())
        .unwrap();
    loop {
        let pins_now = pins::read_all(s).unwrap();
        match rng.below(10) {
            0..=3 => {
                let guard = s.begin_add();
                let mut w = s.writer();
                let (root, _) = random_dag(&mut rng, &mut w);
                // Some unpinned garbage in the same batch.
                let junk = raw(&rng.next_u64().to_le_bytes());
                w.put_block(&junk).unwrap();
                w.finish().unwrap();
                if pins_now.iter().any(|(c, _)| *c == root) {
                    continue;
                }
                let recursive = rng.below(4) != 0;
                log_line(
                    &mut log,
                    &format!("B add {root} {}", if recursive { "r" } else { "d" }),
                );
                pins::pin_add(s, &root, recursive).unwrap();
                log_line(&mut log, "D");
                drop(guard);
            }
            4..=5 => {
                if pins_now.is_empty() {
                    continue;
                }
                let (c, _) = pins_now[rng.below(pins_now.len() as u64) as usize];
                log_line(&mut log, &format!("B rm {c}"));
                pins::pin_rm(s, &c, true).unwrap();
                log_line(&mut log, "D");
            }
            6 => {
                let Some((from, _)) = pins_now.iter().find(|(_, k)| *k == PinKind::Recursive)
                else {
                    continue;
                };
                let mut w = s.writer();
                let (to, _) = random_dag(&mut rng, &mut w);
                w.finish().unwrap();
                if pins_now.iter().any(|(c, _)| *c == to) {
                    continue;
                }
                log_line(&mut log, &format!("B upd {from} {to}"));
                pins::pin_update(s, from, &to, true).unwrap();
                log_line(&mut log, "D");
            }
            _ => {
                gc::collect(s, &mut |_| {}).unwrap();
            }
        }
    }
}

fn apply(model: &mut BTreeMap<Cid, PinKind>, op: &[&str]) {
    let cid = |s: &str| cids::parse(s).unwrap();
    match op {
        ["add", c, k] => {
            model.insert(
                cid(c),
                if *k == "r" {
                    PinKind::Recursive
                } else {
                    PinKind::Direct
                },
            );
        }
        ["rm", c] => {
            model.remove(&cid(c));
        }
        ["upd", f, t] => {
            model.remove(&cid(f));
            model.insert(cid(t), PinKind::Recursive);
        }
        other => panic!("bad log op {other:?}"),
    }
}

#[test]
fn kill9_leaves_pins_and_blocks_consistent() {
    const ROUNDS: u64 = 20;
    let started = Instant::now();
    let (dir, repo) = new_repo();
    let path = repo.path().to_path_buf();
    drop(repo);
    let mut rng = rng(0xACE0);
    let mut ops_seen = 0usize;
    for round in 0..ROUNDS {
        let before: BTreeMap<Cid, PinKind> = {
            let repo = Repo::open(&path).unwrap();
            pins::read_all(repo.store()).unwrap().into_iter().collect()
        };
        let log_path = dir.path().join(format!("log-{round}"));
        let mut child = spawn_child(&[
            (CHILD_ENV, "churn".into()),
            (REPO_ENV, path.display().to_string()),
            (SEED_ENV, (round + 1).to_string()),
            (LOG_ENV, log_path.display().to_string()),
        ]);
        // The kill window starts once the child has the repo open (it creates its
        // log right after): under qemu-user starting the child alone can take longer
        // than the whole window.
        let waiting = Instant::now();
        while !log_path.exists() && waiting.elapsed() < CHILD_START_LIMIT {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(60 + rng.below(400)));
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "child exited early ({status}): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        child.wait().unwrap();

        // Expected pin set: the committed ops, and the last one maybe.
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let mut model = before.clone();
        let mut pending: Option<Vec<&str>> = None;
        for line in log.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.first() {
                Some(&"B") => {
                    assert!(pending.is_none(), "two ops in flight");
                    pending = Some(words[1..].to_vec());
                }
                Some(&"D") => {
                    apply(&mut model, &pending.take().expect("D without B"));
                    ops_seen += 1;
                }
                // A torn last line (killed mid-write) is no op.
                _ => {}
            }
        }
        let repo = Repo::open(&path).unwrap();
        let s = repo.store();
        let actual: BTreeMap<Cid, PinKind> = pins::read_all(s).unwrap().into_iter().collect();
        let ok = actual == model
            || pending.as_ref().is_some_and(|op| {
                let mut m = model.clone();
                apply(&mut m, op);
                actual == m
            });
        assert!(
            ok,
            "round {round}: pin set is neither the old nor the new state\nactual {actual:?}\nmodel {model:?}\npending {pending:?}"
        );
        let report = s.verify().unwrap();
        assert!(report.is_clean(), "round {round}: {report:?}");
        for st in pins::pin_verify(s).unwrap() {
            assert!(st.ok(), "round {round}: pinned DAG damaged: {st:?}");
        }
        for (c, k) in &actual {
            if *k == PinKind::Recursive {
                dag_complete(&repo, c).unwrap();
            }
        }
    }
    assert!(ops_seen > 0, "the child never completed a pin operation");
    eprintln!("kill -9 test: {ROUNDS} kills, {ops_seen} pin operations committed");
    let took = started.elapsed();
    // Emulated (ACORN_TEST_RUNNER set) runs are several times slower.
    let limit = if std::env::var_os(RUNNER_ENV).is_some_and(|r| !r.is_empty()) {
        Duration::from_secs(300)
    } else {
        Duration::from_secs(60)
    };
    assert!(took < limit, "kill -9 test took {took:?} (limit {limit:?})");
}
