//! Request slots: how many requests one server runs at once, and how long a request
//! past that waits for a slot.
//!
//! **Limits.** At most `limit` slots are held; waiters sit in the semaphore's own
//! list, which the server's connection limit bounds (one request per connection
//! at a time), each for at most the wait it asks ([`SLOT_WAIT`] in both servers).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Longest wait for a request slot when every slot is taken (API and gateway);
/// the request then gets 503. Waiters are bounded by the connection limits.
pub const SLOT_WAIT: Duration = Duration::from_secs(5);

/// One server's request slots: at most `limit` held at once; a request past that
/// waits (async, on the executor) for one to free, up to a bound it chooses.
/// Waiters are not queued here beyond the semaphore's own list, which the server's
/// connection limit bounds (one request per connection at a time).
pub struct Slots {
    sem: Arc<smol::lock::Semaphore>,
    active: Arc<AtomicUsize>,
    limit: usize,
}

/// A held slot; dropping it frees the slot.
pub struct Held {
    _permit: smol::lock::SemaphoreGuardArc,
    active: Arc<AtomicUsize>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.active.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Slots {
    /// `limit` slots (at least 1).
    pub fn new(limit: usize) -> Slots {
        let limit = limit.max(1);
        Slots {
            sem: Arc::new(smol::lock::Semaphore::new(limit)),
            active: Arc::new(AtomicUsize::new(0)),
            limit,
        }
    }

    /// How many slots there are.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Slots held now.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// A slot, waiting up to `wait` for one; `None` when none freed in time.
    pub async fn acquire(&self, wait: Duration) -> Option<Held> {
        let permit = match self.sem.try_acquire_arc() {
            Some(p) => p,
            None => {
                futures_lite::future::or(async { Some(self.sem.acquire_arc().await) }, async {
                    async_io::Timer::after(wait).await;
                    None
                })
                .await?
            }
        };
        self.active.fetch_add(1, Ordering::SeqCst);
        Some(Held {
            _permit: permit,
            active: self.active.clone(),
        })
    }
}

#[cfg(test)]
mod slot_tests {
    use super::*;

    /// With one slot: a second taker times out while it is held, and one that
    /// waits gets it as soon as the holder lets go.
    #[test]
    fn a_waiter_gets_the_slot_when_it_frees_and_gives_up_after_the_wait() {
        let slots = Slots::new(1);
        smol::block_on(async {
            let held = slots.acquire(Duration::ZERO).await.expect("a free slot");
            assert_eq!(slots.active(), 1);
            assert!(slots.acquire(Duration::from_millis(20)).await.is_none());
            let mut waiter = Box::pin(slots.acquire(Duration::from_secs(60)));
            // Polled once: it is waiting now, not holding.
            assert!(futures_lite::future::poll_once(&mut waiter).await.is_none());
            assert_eq!(slots.active(), 1);
            drop(held);
            let got = waiter.await.expect("the freed slot");
            assert_eq!(slots.active(), 1);
            drop(got);
            assert_eq!(slots.active(), 0);
        });
        assert_eq!(Slots::new(0).limit(), 1);
    }
}
