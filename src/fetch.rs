//! Content reads that wait for the network on the executor, never on a pool thread.
//!
//! **What.** The core's commands ([`crate::core::Node`]) are blocking code that read
//! blocks through a [`crate::core::Source`]. While the daemon runs, such a command
//! is run by [`run_value`] or [`run_stream`]: it runs on the blocking pool reading
//! only the blockstore; the first block it misses is recorded here (a thread-local
//! of the pool thread, set for the length of the job) and the job ends. The run
//! then has its [`Walker`] fetch that block over bitswap, awaiting it on the
//! executor, with no pool thread held, and runs the job again. So a request for
//! content nobody has holds no thread while it waits, and a client that goes away
//! (its request future dropped) takes its walk and its bitswap session, and so its
//! wants, with it.
//!
//! **Flow.** job on the pool → miss `X` → the walker fetches `X` through a
//! pipelined walk ([`walk`]: a window of wants in flight, a block's children asked
//! for as soon as it arrives, depth first) → job again. How far the walk goes
//! depends on the job:
//! - [`Reach::Dag`] (`get`, CAR export, `refs -r`, `pin add`, `dag stat`): `X` and
//!   every block below it, then one rerun;
//! - a stream that reads in order ([`Resume::Offset`] with [`Reach::Block`]: `cat`,
//!   the gateway's files): the walk below `X` is kept between runs; the job is rerun
//!   as soon as `X` arrived, and the walk goes on fetching ahead while it runs, so
//!   a rerun finds the next blocks stored;
//! - otherwise ([`Reach::Block`]: path lookups, `ls`): `X` alone.
//!
//! A streamed job's output is never sent twice: a rerun is told how many bytes were
//! delivered and resumes there ([`Resume::Offset`], `cat`), or its output is
//! replayed and the delivered prefix dropped ([`Resume::Replay`], deterministic
//! streams: tar, CAR, `refs`). Once a miss is recorded the job's writer refuses
//! more output, so nothing after a miss (an answer built on a block that was not
//! there) reaches the client. Reads that find every block stored never reach the
//! walker, and offline there is no fetcher: a miss is final.
//!
//! **Limits.** Each walk keeps at most its [`Window`] in flight and queued
//! (`Acorn.FetchWindowBlocks`, `Acorn.FetchWindowSize`, `Acorn.FetchPendingLinks`,
//! set per firmware profile). A want waits at most the run's `retrieval_timeout`
//! (the gateway's `Gateway.RetrievalTimeout`) and never past [`FETCH_TIMEOUT`];
//! bitswap gives up sooner when no peer has the block. A block missed twice in a
//! row (fetched, then gone: a GC ran between the fetch and the rerun) ends the run
//! with the job's own error. Dropping a request drops its walker, and with it every
//! want in flight and its bitswap session.
//!
//! **Departures.** The walk reads every block below the missed one through the
//! bitswap session, which answers stored blocks from the blockstore: a partly
//! stored DAG is walked whole (as Kubo's fetches do), and a read-ahead walk may
//! fetch past the end of a ranged `cat` (at most its window is wasted when the
//! request ends). A rerun re-reads from the blockstore what the previous runs read.

use std::cell::RefCell;
use std::future::Future;
use std::io::{self, Write};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use acorn_storage::block::BlockError;
use acorn_storage::{dag, Cid};
use smol::Executor;

use crate::pool::Pool;

pub mod walk;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
pub use walk::Window;
use walk::{Action, Walk};

/// Longest wait for one block from the network (bitswap gives up on a want after
/// its own deadline, 60 s by default; this only guards against a stuck task).
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(90);

/// Where a node gets blocks it does not store: the network, while the daemon runs.
/// Implemented by the daemon over bitswap ([`crate::swarm`]); offline there is
/// none and a missing block is an error, as before.
///
/// Nothing here blocks a thread on the network: a blocking command only reads the
/// blockstore, and a block it misses is fetched asynchronously, on the executor, by
/// [`crate::fetch`], which then runs the command again.
pub trait Fetcher: Send + Sync {
    /// Opens a session for one request (bitswap asks the peers that had earlier
    /// blocks of the session first; dropping it cancels its wants).
    fn open(
        &self,
    ) -> futures::future::BoxFuture<'static, Result<Box<dyn FetchSession>, BlockError>>;

    /// How many wants a request's walk keeps in flight and queued (the profile's
    /// `Acorn.FetchWindow*` settings).
    fn window(&self) -> Window {
        Window::default()
    }
}

/// One request's fetches, awaited on the executor.
pub trait FetchSession: Send + Sync {
    /// The block, fetched, verified against its CID and stored; `Ok(None)` when no
    /// peer had it before bitswap gave up. Dropping the future stops waiting; the
    /// want lives until the session is dropped.
    fn fetch(
        &self,
        cid: Cid,
    ) -> futures::future::BoxFuture<'_, Result<Option<Vec<u8>>, BlockError>>;
}

thread_local! {
    /// The first block the job on this thread missed; `Some(None)` while a run's job
    /// runs here and has missed nothing.
    static MISS: RefCell<Option<Option<Cid>>> = const { RefCell::new(None) };
}

/// Records that the job running on this thread lacks `cid` (no-op outside a run).
pub fn record_miss(cid: &Cid) {
    MISS.with(|m| {
        if let Some(slot) = m.borrow_mut().as_mut() {
            slot.get_or_insert(*cid);
        }
    });
}

/// Whether the job running on this thread missed a block.
fn missed() -> bool {
    MISS.with(|m| matches!(*m.borrow(), Some(Some(_))))
}

/// Runs `f` as a run's job on this thread: returns what it returned and the first
/// block it missed.
fn scoped<T>(f: impl FnOnce() -> T) -> (T, Option<Cid>) {
    MISS.with(|m| *m.borrow_mut() = Some(None));
    let r = f();
    let miss = MISS.with(|m| m.borrow_mut().take().flatten());
    (r, miss)
}

/// Why a run ended without its job's own answer.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// The request's deadline (`timeout=`) passed; Kubo's message.
    #[error("context deadline exceeded")]
    Deadline,
    /// No block arrived within the retrieval timeout.
    #[error("retrieval timed out after {}s waiting for block {cid}", after.as_secs_f64())]
    Retrieval { cid: Cid, after: Duration },
    /// The job panicked on the pool.
    #[error("internal error: the command panicked")]
    Panicked,
}

/// How far a walk goes past the block a job missed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// That block alone: for jobs that read a few blocks (path lookups, `ls`) or
    /// resume where they stopped (`cat`).
    Block,
    /// That block and every missing block below it: for jobs that read a whole DAG
    /// (`get`, CAR export, `refs -r`, `pin add`, `dag stat`), which would otherwise
    /// be rerun once per block.
    Dag,
}

/// The network side of one request: its bitswap session (opened at the first
/// miss), how long a want may wait, and the walk a streamed read keeps going
/// between its runs.
pub struct Walker {
    net: Net,
    pool: Pool,
    window: Window,
    /// The walk of a [`Resume::Offset`] stream, fetching ahead while the job runs.
    ahead: Option<Pipeline>,
}

/// A walker's way to the network.
struct Net {
    fetcher: Option<Arc<dyn Fetcher>>,
    session: Option<Arc<dyn FetchSession>>,
    /// Longest wait for one block.
    retrieval_timeout: Duration,
}

/// A [`Walk`] and the wants it has in flight.
struct Pipeline {
    walk: Walk,
    flights: FuturesUnordered<BoxFuture<'static, Answer>>,
}

/// A want's or a stored block's answer: the action's token, the CID, the block.
type Answer = (u64, Cid, anyhow::Result<Vec<u8>>);

impl Pipeline {
    fn new(root: Cid, expand: bool, window: Window) -> Pipeline {
        Pipeline {
            walk: Walk::new(root, expand, window),
            flights: FuturesUnordered::new(),
        }
    }
}

impl Walker {
    /// A walker fetching through `fetcher` (none: misses are final), with the
    /// fetcher's window ([`Fetcher::window`]), running jobs on `pool`; one want
    /// waits at most `retrieval_timeout` (capped at [`FETCH_TIMEOUT`]). Every block
    /// a walk reads, stored or not, goes through the fetcher's session (bitswap
    /// answers stored blocks from the blockstore).
    pub fn new(
        fetcher: Option<Arc<dyn Fetcher>>,
        pool: Pool,
        retrieval_timeout: Option<Duration>,
    ) -> Walker {
        let cap = FETCH_TIMEOUT;
        let window = fetcher.as_ref().map(|f| f.window()).unwrap_or_default();
        Walker {
            net: Net {
                fetcher,
                session: None,
                retrieval_timeout: retrieval_timeout.map_or(cap, |t| t.min(cap)),
            },
            pool,
            window,
            ahead: None,
        }
    }

    /// Fetches `cid` and, with [`Reach::Dag`], every block below it, a window of
    /// wants at a time ([`walk`]).
    pub async fn fetch(&mut self, cid: Cid, reach: Reach) -> anyhow::Result<()> {
        let mut p = Pipeline::new(cid, reach == Reach::Dag, self.window);
        self.net.drive(&mut p, None).await
    }

    /// Waits until `cid` arrived, fetching it and the blocks below it ahead of the
    /// job: through the read-ahead walk when `cid` is its next block, else (a job
    /// that seeks: a range, a resumed read) through a new walk from `cid`, which
    /// replaces it.
    async fn fetch_ahead(&mut self, cid: Cid) -> anyhow::Result<()> {
        let known = self.ahead.as_ref().is_some_and(|p| p.walk.wants_next(&cid));
        if !known {
            self.ahead = Some(Pipeline::new(cid, true, self.window));
        }
        let Some(p) = self.ahead.as_mut() else {
            return Ok(());
        };
        let r = self.net.drive(p, Some(cid)).await;
        if r.is_err() {
            self.ahead = None;
        }
        r
    }

    /// Keeps the read-ahead walk going; never returns while it has work (a failure
    /// drops it: the job's next miss starts another).
    async fn drive_ahead(&mut self) {
        if let Some(p) = self.ahead.as_mut() {
            if self.net.drive(p, None).await.is_err() {
                self.ahead = None;
            }
        }
        std::future::pending().await
    }
}

impl Net {
    /// The session, opened at the first call (waiting at most the retrieval
    /// timeout); the error names `cid`, the block that needed it.
    async fn session(&mut self, cid: Cid) -> anyhow::Result<Arc<dyn FetchSession>> {
        if let Some(s) = &self.session {
            return Ok(s.clone());
        }
        let Some(fetcher) = &self.fetcher else {
            return Err(BlockError::NotFound { cid }.into());
        };
        let after = self.retrieval_timeout;
        let open = async { Ok(fetcher.open().await?) };
        let timed_out = async {
            async_io::Timer::after(after).await;
            Err(anyhow::Error::from(WaitError::Retrieval { cid, after }))
        };
        let s: Arc<dyn FetchSession> = Arc::from(futures_lite::future::or(open, timed_out).await?);
        self.session = Some(s.clone());
        Ok(s)
    }

    /// Runs `p` until it is done or, with a `target`, until that block arrived;
    /// a failed want ends it with that want's error. Dropping this future loses
    /// nothing: the wants in flight stay in `p`.
    async fn drive(&mut self, p: &mut Pipeline, target: Option<Cid>) -> anyhow::Result<()> {
        let session = self.session(p.walk.root()).await?;
        loop {
            while let Some(action) = p.walk.poll_action() {
                let (Action::Want { token, cid } | Action::Expand { token, parent: cid }) = action;
                let s = session.clone();
                p.flights
                    .push(Box::pin(want(s, token, cid, self.retrieval_timeout)));
            }
            let Some((token, cid, got)) = p.flights.next().await else {
                return Ok(());
            };
            let data = match got {
                Ok(d) => d,
                Err(e) => {
                    p.walk.on_failed(token);
                    return Err(e);
                }
            };
            let links = if p.walk.expands() {
                dag::links_of(&cid, &data)?
            } else {
                Vec::new()
            };
            if let Some((c, true)) = p.walk.on_arrived(token, data.len(), &links) {
                if Some(c) == target {
                    return Ok(());
                }
            }
        }
    }
}

/// One want (or a stored block's read) through `session`, waiting at most `after`.
async fn want(session: Arc<dyn FetchSession>, token: u64, cid: Cid, after: Duration) -> Answer {
    let timed_out = async {
        async_io::Timer::after(after).await;
        Err(anyhow::Error::from(WaitError::Retrieval { cid, after }))
    };
    let got = async {
        match session.fetch(cid).await? {
            Some(d) => Ok(d),
            None => Err(anyhow::Error::from(BlockError::NotFound { cid })),
        }
    };
    (token, cid, futures_lite::future::or(got, timed_out).await)
}

/// Runs `job` on `pool` until it misses no block (see the module doc).
pub async fn run_value<T: Send + 'static>(
    walker: &mut Walker,
    reach: Reach,
    job: Arc<dyn Fn() -> anyhow::Result<T> + Send + Sync>,
) -> anyhow::Result<T> {
    let mut last_miss = None;
    loop {
        let j = job.clone();
        let (r, miss) = walker
            .pool
            .run(move || scoped(|| j()))
            .await
            .ok_or(WaitError::Panicked)?;
        match miss {
            Some(cid) if last_miss != Some(cid) => {
                walker.fetch(cid, reach).await?;
                last_miss = Some(cid);
            }
            _ => return r,
        }
    }
}

/// How a streamed job's rerun avoids sending bytes twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// The job is told the bytes delivered and starts after them.
    Offset,
    /// The job writes its output from the start; the delivered prefix is dropped.
    Replay,
}

/// A streamed job: writes its output to the writer; the `u64` is the bytes already
/// delivered by earlier runs (for [`Resume::Offset`]).
pub type StreamJob = Arc<dyn Fn(&mut dyn Write, u64) -> anyhow::Result<()> + Send + Sync>;

/// Runs `job` on `pool` until it misses no block, its output going to the writers
/// `make_writer` gives (one per run, on the pool thread). Returns the job's result.
pub async fn run_stream<W: Write + 'static>(
    walker: &mut Walker,
    reach: Reach,
    resume: Resume,
    job: StreamJob,
    make_writer: Arc<dyn Fn() -> W + Send + Sync>,
) -> anyhow::Result<()> {
    let mut delivered = 0u64;
    let mut last_miss = None;
    // A job that reads in order is rerun as soon as the block it missed arrived,
    // while the walk below that block goes on fetching ahead.
    let ahead = resume == Resume::Offset && reach == Reach::Block;
    loop {
        let (j, mk) = (job.clone(), make_writer.clone());
        let run = walker.pool.run(move || {
            scoped(|| {
                let mut w = Gate {
                    inner: mk(),
                    skip: if resume == Resume::Replay {
                        delivered
                    } else {
                        0
                    },
                    sent: 0,
                };
                let start = if resume == Resume::Offset {
                    delivered
                } else {
                    0
                };
                let r = j(&mut w, start);
                // What the gate let through is delivered, even after a miss.
                let r = r.and_then(|()| Ok(w.inner.flush()?));
                let _ = w.inner.flush();
                (r, w.sent)
            })
        });
        let done = if ahead {
            futures_lite::future::or(run, async {
                walker.drive_ahead().await;
                None
            })
            .await
        } else {
            run.await
        };
        let ((r, sent), miss) = done.ok_or(WaitError::Panicked)?;
        delivered += sent;
        match miss {
            Some(cid) if last_miss != Some(cid) => {
                if ahead {
                    walker.fetch_ahead(cid).await?;
                } else {
                    walker.fetch(cid, reach).await?;
                }
                last_miss = Some(cid);
            }
            _ => return r,
        }
    }
}

/// A run's writer: drops the first `skip` bytes (a replay), counts the bytes it
/// lets through, and refuses everything once the job missed a block.
struct Gate<W> {
    inner: W,
    skip: u64,
    sent: u64,
}

impl<W: Write> Write for Gate<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if missed() {
            return Err(io::Error::other("a block is missing; fetching it"));
        }
        let drop_n = (self.skip.min(data.len() as u64)) as usize;
        self.skip -= drop_n as u64;
        if drop_n == data.len() {
            return Ok(data.len());
        }
        let n = self.inner.write(&data[drop_n..])?;
        self.sent += n as u64;
        Ok(drop_n + n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Races `f` with the deadline `at` (none: `f` alone).
pub async fn until<T>(
    at: Option<Instant>,
    f: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    match at {
        None => f.await,
        Some(at) => {
            futures_lite::future::or(f, async {
                async_io::Timer::at(at).await;
                Err(WaitError::Deadline.into())
            })
            .await
        }
    }
}

/// Spawns tasks on the daemon's one executor (a weak handle: the tasks live inside
/// the executor, which a strong one would keep alive forever).
#[derive(Clone)]
pub struct Spawner(Weak<Executor<'static>>);

impl Spawner {
    pub fn new(ex: &Arc<Executor<'static>>) -> Spawner {
        Spawner(Arc::downgrade(ex))
    }

    /// Runs `f` on the executor, detached; false (and `f` dropped) once the
    /// executor is gone.
    pub fn spawn(&self, f: impl Future<Output = ()> + Send + 'static) -> bool {
        match self.0.upgrade() {
            Some(ex) => {
                ex.spawn(f).detach();
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use acorn_storage::block::{BlockSource, MemStore};
    use acorn_storage::cids::{cid_of, DAG_PB, RAW};
    use acorn_storage::codec::dagpb::{PbLink, PbNode};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    /// A file-like DAG: a root with `fanout` dag-pb children, each with `fanout`
    /// raw leaves. Returns the store and the root.
    fn two_level_dag(fanout: u32) -> (MemStore, Cid) {
        let mut m = MemStore::new();
        let node = |m: &mut MemStore, links: Vec<Cid>| {
            let n = PbNode {
                links: links
                    .into_iter()
                    .map(|hash| PbLink {
                        hash,
                        name: None,
                        tsize: None,
                    })
                    .collect(),
                data: Some(vec![8, 2]),
            };
            let bytes = n.encode();
            let c = cid_of(0, DAG_PB, &bytes);
            m.insert(&c, bytes);
            c
        };
        let mut mids = Vec::new();
        for i in 0..fanout {
            let leaves = (0..fanout)
                .map(|j| {
                    let data = format!("leaf {i} {j}").into_bytes();
                    let c = cid_of(1, RAW, &data);
                    m.insert(&c, data);
                    c
                })
                .collect();
            mids.push(node(&mut m, leaves));
        }
        let root = node(&mut m, mids);
        (m, root)
    }

    /// Counts the wants alive (futures not yet dropped) and their peak.
    #[derive(Default)]
    struct Live {
        now: AtomicUsize,
        peak: AtomicUsize,
        sessions: AtomicUsize,
        fetched: Mutex<Vec<Cid>>,
    }

    struct Alive<'a>(&'a AtomicUsize);
    impl Drop for Alive<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// A network that answers every want from `blocks` after a delay, or never.
    struct FakeNet {
        blocks: MemStore,
        delay: Option<Duration>,
        live: Arc<Live>,
        window: Window,
    }
    struct FakeSession(Arc<FakeNet>);

    impl Drop for FakeSession {
        fn drop(&mut self) {
            self.0.live.sessions.fetch_sub(1, Ordering::SeqCst);
        }
    }

    impl Fetcher for Arc<FakeNet> {
        fn open(&self) -> BoxFuture<'static, Result<Box<dyn FetchSession>, BlockError>> {
            let net = self.clone();
            Box::pin(async move {
                net.live.sessions.fetch_add(1, Ordering::SeqCst);
                Ok(Box::new(FakeSession(net)) as Box<dyn FetchSession>)
            })
        }
        fn window(&self) -> Window {
            self.window
        }
    }

    impl FetchSession for FakeSession {
        fn fetch(&self, cid: Cid) -> BoxFuture<'_, Result<Option<Vec<u8>>, BlockError>> {
            Box::pin(async move {
                let live = &self.0.live;
                let n = live.now.fetch_add(1, Ordering::SeqCst) + 1;
                live.peak.fetch_max(n, Ordering::SeqCst);
                let _alive = Alive(&live.now);
                match self.0.delay {
                    Some(d) => async_io::Timer::after(d).await,
                    None => std::future::pending().await,
                };
                live.fetched.lock().unwrap().push(cid);
                self.0.blocks.get(&cid)
            })
        }
    }

    fn fake(delay: Option<Duration>, blocks: usize) -> (Arc<FakeNet>, Cid, usize) {
        let (m, root) = two_level_dag(5);
        let count = m.len();
        let net = Arc::new(FakeNet {
            blocks: m,
            delay,
            live: Arc::default(),
            window: Window {
                blocks,
                bytes: 1 << 20,
                pending: 64,
            },
        });
        (net, root, count)
    }

    #[test]
    fn a_dag_walk_keeps_its_window_of_wants_in_flight_and_no_more() {
        let (net, root, count) = fake(Some(Duration::from_millis(5)), 4);
        let fetcher: Arc<dyn Fetcher> = Arc::new(net.clone());
        let mut w = Walker::new(Some(fetcher), Pool::new(1), None);
        smol::block_on(w.fetch(root, Reach::Dag)).unwrap();
        let fetched = net.live.fetched.lock().unwrap().clone();
        assert_eq!(fetched.len(), count, "every block once");
        assert_eq!(fetched[0], root);
        // Four wants at once: the window, not one block per round trip.
        assert_eq!(net.live.peak.load(Ordering::SeqCst), 4);
        assert_eq!(net.live.now.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn dropping_a_walk_drops_every_want_and_the_session() {
        let (net, root, _) = fake(None, 6);
        let fetcher: Arc<dyn Fetcher> = Arc::new(net.clone());
        let mut w = Walker::new(Some(fetcher), Pool::new(1), None);
        smol::block_on(async {
            let walk = w.fetch(root, Reach::Block);
            let mut walk = std::pin::pin!(walk);
            assert!(futures_lite::future::poll_once(&mut walk).await.is_none());
            assert_eq!(net.live.now.load(Ordering::SeqCst), 1);
        });
        assert_eq!(net.live.now.load(Ordering::SeqCst), 0);
        // A streamed read's walk ahead: the root's want never answers, so only it
        // is in flight; the rest of the DAG is never asked for.
        smol::block_on(async {
            let ahead = w.fetch_ahead(root);
            let mut ahead = std::pin::pin!(ahead);
            assert!(futures_lite::future::poll_once(&mut ahead).await.is_none());
        });
        // The first walk's future is gone with its want; the read-ahead walk keeps
        // its want alive in the walker between runs.
        assert_eq!(net.live.now.load(Ordering::SeqCst), 1);
        assert_eq!(net.live.sessions.load(Ordering::SeqCst), 1);
        drop(w);
        assert_eq!(net.live.now.load(Ordering::SeqCst), 0);
        assert_eq!(net.live.sessions.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_read_ahead_walk_returns_at_the_missed_block_and_keeps_fetching_below_it() {
        let (net, root, count) = fake(Some(Duration::from_millis(5)), 3);
        let fetcher: Arc<dyn Fetcher> = Arc::new(net.clone());
        let mut w = Walker::new(Some(fetcher), Pool::new(1), None);
        smol::block_on(w.fetch_ahead(root)).unwrap();
        // Back as soon as the root came.
        assert_eq!(net.live.fetched.lock().unwrap().as_slice(), &[root]);
        // A later miss the walk already wants is awaited through the same walk.
        let (m, _) = two_level_dag(5);
        let first_mid = dag::links_of(&root, &m.get(&root).unwrap().unwrap()).unwrap()[0];
        smol::block_on(w.fetch_ahead(first_mid)).unwrap();
        // And the rest arrives while the job would run.
        smol::block_on(futures_lite::future::or(
            async {
                w.drive_ahead().await;
            },
            async {
                while net.live.fetched.lock().unwrap().len() < count {
                    async_io::Timer::after(Duration::from_millis(1)).await;
                }
            },
        ));
        let fetched = net.live.fetched.lock().unwrap().clone();
        assert_eq!(fetched.len(), count, "every block once");
        assert_eq!(net.live.peak.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_seek_past_the_walk_starts_a_walk_there_instead_of_waiting_for_the_rest() {
        let (net, root, count) = fake(Some(Duration::from_millis(5)), 3);
        let fetcher: Arc<dyn Fetcher> = Arc::new(net.clone());
        let mut w = Walker::new(Some(fetcher), Pool::new(1), None);
        smol::block_on(w.fetch_ahead(root)).unwrap();
        // The job then asks for the last child (a range near the end of a file):
        // it is pending far back, behind the first children's subtrees.
        let (m, _) = two_level_dag(5);
        let last_mid = *dag::links_of(&root, &m.get(&root).unwrap().unwrap())
            .unwrap()
            .last()
            .unwrap();
        smol::block_on(w.fetch_ahead(last_mid)).unwrap();
        let fetched = net.live.fetched.lock().unwrap().clone();
        assert!(fetched.contains(&last_mid));
        assert!(
            fetched.len() < 6,
            "{} of {count} blocks fetched before the one asked for",
            fetched.len()
        );
    }

    #[test]
    fn a_miss_is_recorded_only_inside_a_run_and_only_the_first() {
        let c1 =
            acorn_storage::cids::parse("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o").unwrap();
        let c2 =
            acorn_storage::cids::parse("QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH").unwrap();
        record_miss(&c1);
        assert!(!missed());
        let (v, miss) = scoped(|| {
            assert!(!missed());
            record_miss(&c2);
            record_miss(&c1);
            missed()
        });
        assert!(v);
        assert_eq!(miss, Some(c2));
        assert!(!missed());
        let ((), miss) = scoped(|| ());
        assert_eq!(miss, None);
    }

    #[test]
    fn the_gate_skips_a_replayed_prefix_and_refuses_output_after_a_miss() {
        let mut g = Gate {
            inner: Vec::new(),
            skip: 5,
            sent: 0,
        };
        g.write_all(b"abc").unwrap();
        g.write_all(b"defgh").unwrap();
        assert_eq!(g.inner, b"fgh");
        assert_eq!(g.sent, 3);
        let c =
            acorn_storage::cids::parse("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o").unwrap();
        let ((), _) = scoped(|| {
            record_miss(&c);
            assert!(g.write_all(b"xyz").is_err());
        });
        assert_eq!(g.inner, b"fgh");
    }
}
