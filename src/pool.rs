//! The bounded blocking pool: where repo work (redb transactions, file reads,
//! hashing) runs, off the single executor thread.
//!
//! **What.** [`Pool::run`] queues a job and returns a future of its result. At most
//! `max_threads` threads run jobs (`Acorn.BlockingThreads`); a thread idle for
//! [`IDLE_EXIT`] exits, so an idle node holds no pool threads at all.
//!
//! **Why our own.** The `blocking` crate (behind `smol::unblock`) keeps up to its
//! cap of threads alive forever once started (a thread only exits while the pool is
//! over its cap), which breaks the idle-thread budget (≤ 3 OS threads); this pool
//! is about 100 lines.
//!
//! **Limits.** Threads ≤ `max_threads`. The queue is not bounded here: its callers
//! are (the RPC API and the gateway each hold at most their `*.MaxConcurrentRequests`
//! jobs, one per request; bitswap's own pool, see `crate::swarm`, holds at most its
//! lookups in flight, its local fetches and one put per block received).
//!
//! **Bitswap.** The daemon gives bitswap a second `Pool` (`acorn-bitswap`,
//! `crate::swarm::BITSWAP_BLOCKING_THREADS`) through [`acorn_net::bitswap::Blocking`]:
//! the API's long local jobs must not hold up the blocks bitswap stores for other
//! requests. No pool job waits for the network: content jobs read the blockstore
//! only and their misses are fetched on the executor ([`crate::fetch`]).
//! A job that panics yields `None`; the thread survives.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

/// How long an idle pool thread waits for work before it exits.
pub const IDLE_EXIT: Duration = Duration::from_millis(500);

type Job = Box<dyn FnOnce() + Send>;

/// A bounded pool of blocking threads. Cheap to clone.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    /// Thread name (`/proc/PID/task/*/comm`).
    name: &'static str,
    max_threads: usize,
    state: Mutex<State>,
    cv: Condvar,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

impl Pool {
    /// A pool of at most `max_threads` (at least 1) threads; none start until used.
    pub fn new(max_threads: usize) -> Pool {
        Pool::named("acorn-blocking", max_threads)
    }

    /// The same, with threads called `name`.
    pub fn named(name: &'static str, max_threads: usize) -> Pool {
        Pool {
            inner: Arc::new(Inner {
                name,
                max_threads: max_threads.max(1),
                state: Mutex::new(State::default()),
                cv: Condvar::new(),
            }),
        }
    }

    /// Threads alive now.
    #[cfg(test)]
    pub fn threads(&self) -> usize {
        self.lock().threads
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on a pool thread. The job runs to its end even if the future is
    /// dropped; `None` if it panicked.
    pub fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> impl Future<Output = Option<T>> + Send + 'static {
        let (tx, rx) = smol::channel::bounded(1);
        self.submit(Box::new(move || {
            if let Ok(v) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                let _ = tx.try_send(v);
            }
        }));
        async move { rx.recv().await.ok() }
    }

    /// Runs `f` on a pool thread, not waiting for it (a panic is swallowed).
    pub fn spawn(&self, f: impl FnOnce() + Send + 'static) {
        self.submit(Box::new(move || {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        }));
    }

    fn submit(&self, job: Job) {
        let mut st = self.lock();
        st.queue.push_back(job);
        if st.idle > 0 {
            self.inner.cv.notify_one();
            return;
        }
        if st.threads < self.inner.max_threads {
            st.threads += 1;
            let inner = self.inner.clone();
            let spawned = std::thread::Builder::new()
                .name(self.inner.name.into())
                .spawn(move || worker(&inner));
            if let Err(e) = spawned {
                // The queued job waits for a running thread (there may be none
                // if this was the first: then it waits for the next submit).
                st.threads -= 1;
                tracing::error!("cannot start a blocking-pool thread: {e}");
            }
        }
    }
}

impl acorn_net::bitswap::Blocking for Pool {
    fn spawn_blocking(&self, job: Box<dyn FnOnce() + Send>) {
        self.spawn(job);
    }
}

fn worker(inner: &Inner) {
    let mut st = inner.state.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        if let Some(job) = st.queue.pop_front() {
            drop(st);
            job();
            st = inner.state.lock().unwrap_or_else(PoisonError::into_inner);
            continue;
        }
        st.idle += 1;
        let (guard, wait) = inner
            .cv
            .wait_timeout(st, IDLE_EXIT)
            .unwrap_or_else(PoisonError::into_inner);
        st = guard;
        st.idle -= 1;
        if wait.timed_out() && st.queue.is_empty() {
            st.threads -= 1;
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn bounded_and_idle_threads_exit() {
        let pool = Pool::new(2);
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let futs: Vec<_> = (0..8)
            .map(|i| {
                let (p, peak) = (pool.clone(), peak.clone());
                pool.run(move || {
                    peak.fetch_max(p.threads(), std::sync::atomic::Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    i * 2
                })
            })
            .collect();
        let got: Vec<_> = smol::block_on(async {
            let mut v = Vec::new();
            for f in futs {
                v.push(f.await);
            }
            v
        });
        assert_eq!(got, (0..8).map(|i| Some(i * 2)).collect::<Vec<_>>());
        assert!(peak.load(std::sync::atomic::Ordering::SeqCst) <= 2);
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool.threads() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(pool.threads(), 0, "idle threads exit");
    }

    #[test]
    fn a_panicking_job_is_none() {
        let pool = Pool::new(1);
        let r: Option<()> = smol::block_on(pool.run(|| panic!("job panics")));
        assert_eq!(r, None);
        assert_eq!(smol::block_on(pool.run(|| 5)), Some(5));
    }
}
