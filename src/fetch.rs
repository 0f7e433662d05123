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
//! **Flow, one block at a time.** job on the pool → miss `X` → the walker wants `X`
//! (with [`Reach::Dag`], then every missing block below `X`, depth first, skipping
//! subtrees already stored) → job again. A streamed job's output is never sent
//! twice: a rerun is told how many bytes were delivered and resumes there
//! ([`Resume::Offset`], `cat`), or its output is replayed and the delivered prefix
//! dropped ([`Resume::Replay`], deterministic streams: tar, CAR, `refs`). Once a
//! miss is recorded the job's writer refuses more output, so nothing after a miss
//! (an answer built on a block that was not there) reaches the client.
//!
//! **Limits.** One want in flight per request ([`WANT_WINDOW_COUNT`]); a walk's stack
//! is bounded by [`acorn_storage::dag::MAX_WALK_STACK_COUNT`]. A want waits at most
//! the run's `retrieval_timeout` (the gateway's `Gateway.RetrievalTimeout`) and
//! never past [`FETCH_TIMEOUT`]; bitswap gives up sooner when no
//! peer has the block. A block missed twice in a row (fetched, then gone: a GC ran
//! between the fetch and the rerun) ends the run with the job's own error.
//!
//! **Departures.** Kubo's gateway and `cat` fetch several blocks ahead; here a
//! request fetches one block at a time (the walker is where a window of wants goes).
//! A rerun re-reads from the blockstore what the previous runs read.

use std::cell::RefCell;
use std::future::Future;
use std::io::{self, Write};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use acorn_storage::block::BlockError;
use acorn_storage::blockstore::Store;
use acorn_storage::{dag, Cid};
use smol::Executor;

use crate::pool::Pool;

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
}

/// One request's fetches, awaited on the executor.
pub trait FetchSession: Send + Sync {
    /// The block, fetched, verified against its CID and stored; `Ok(None)` when no
    /// peer had it before bitswap gave up. Dropping the future cancels the want.
    fn fetch(
        &self,
        cid: Cid,
    ) -> futures::future::BoxFuture<'_, Result<Option<Vec<u8>>, BlockError>>;
}

/// Wants a request keeps in flight. One for now: each block is awaited before the
/// next is asked for.
pub const WANT_WINDOW_COUNT: usize = 1;

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
/// miss) and how long a want may wait.
pub struct Walker {
    fetcher: Option<Arc<dyn Fetcher>>,
    session: Option<Box<dyn FetchSession>>,
    pool: Pool,
    store: Store,
    /// Longest wait for one block.
    retrieval_timeout: Duration,
}

impl Walker {
    /// A walker fetching through `fetcher` (none: misses are final), checking the
    /// store on `pool`; one want waits at most `retrieval_timeout` (capped at
    /// [`FETCH_TIMEOUT`]).
    pub fn new(
        fetcher: Option<Arc<dyn Fetcher>>,
        pool: Pool,
        store: Store,
        retrieval_timeout: Option<Duration>,
    ) -> Walker {
        let cap = FETCH_TIMEOUT;
        Walker {
            fetcher,
            session: None,
            pool,
            store,
            retrieval_timeout: retrieval_timeout.map_or(cap, |t| t.min(cap)),
        }
    }

    /// Fetches `cid` and, with [`Reach::Dag`], the missing blocks below it, depth
    /// first, [`WANT_WINDOW_COUNT`] wants at a time.
    pub async fn fetch(&mut self, cid: Cid, reach: Reach) -> anyhow::Result<()> {
        let mut stack = vec![cid];
        let mut first = true;
        let mut window = Vec::with_capacity(WANT_WINDOW_COUNT);
        while !stack.is_empty() {
            window.clear();
            while window.len() < WANT_WINDOW_COUNT {
                let Some(c) = stack.pop() else { break };
                // The missed block is known to be missing; below it, stored
                // subtrees are skipped.
                if first || !self.stored(c).await? {
                    window.push(c);
                }
                first = false;
            }
            let got = self.want_all(&window).await?;
            if reach == Reach::Dag {
                for (c, data) in window.iter().zip(got).rev() {
                    let links = dag::links_of(c, &data)?;
                    anyhow::ensure!(
                        stack.len() + links.len() <= dag::MAX_WALK_STACK_COUNT,
                        "the DAG under {cid} is too wide to fetch"
                    );
                    stack.extend(links.into_iter().rev());
                }
            }
        }
        Ok(())
    }

    async fn stored(&self, cid: Cid) -> anyhow::Result<bool> {
        let store = self.store.clone();
        match self.pool.run(move || store.has(&cid)).await {
            Some(r) => Ok(r?),
            None => Err(WaitError::Panicked.into()),
        }
    }

    /// The blocks of `cids` from the network, all wanted at once (each stored by
    /// bitswap once verified); each waits at most the retrieval timeout.
    async fn want_all(&mut self, cids: &[Cid]) -> anyhow::Result<Vec<Vec<u8>>> {
        let Some(first) = cids.first().copied() else {
            return Ok(Vec::new());
        };
        let Some(fetcher) = &self.fetcher else {
            return Err(BlockError::NotFound { cid: first }.into());
        };
        let after = self.retrieval_timeout;
        if self.session.is_none() {
            let open = async { Ok(fetcher.open().await?) };
            let timed_out = async {
                async_io::Timer::after(after).await;
                Err(anyhow::Error::from(WaitError::Retrieval {
                    cid: first,
                    after,
                }))
            };
            self.session = Some(futures_lite::future::or(open, timed_out).await?);
        }
        let Some(session) = &self.session else {
            // Set just above.
            return Err(BlockError::NotFound { cid: first }.into());
        };
        let wants = cids.iter().map(|&cid| async move {
            let timed_out = async {
                async_io::Timer::after(after).await;
                Err(anyhow::Error::from(WaitError::Retrieval { cid, after }))
            };
            let got = async { Ok(session.fetch(cid).await?) };
            match futures_lite::future::or(got, timed_out).await? {
                Some(d) => Ok(d),
                None => Err(anyhow::Error::from(BlockError::NotFound { cid })),
            }
        });
        futures::future::try_join_all(wants).await
    }
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
    loop {
        let (j, mk) = (job.clone(), make_writer.clone());
        let ((r, sent), miss) = walker
            .pool
            .run(move || {
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
            })
            .await
            .ok_or(WaitError::Panicked)?;
        delivered += sent;
        match miss {
            Some(cid) if last_miss != Some(cid) => {
                walker.fetch(cid, reach).await?;
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
