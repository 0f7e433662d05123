//! The daemon's automatic GC: `acorn daemon --enable-gc`, or `Acorn.EnableGC`.
//!
//! **What.** As Kubo's `--enable-gc` (`corerepo.PeriodicGC` and `ConditionalGC`):
//! a full [`acorn_storage::gc::collect`] every `Datastore.GCPeriod` (`"0"`: never
//! by the clock), and as soon as the stored blocks reach
//! `Datastore.StorageGCWatermark` percent of `Datastore.StorageMax`. Unpinned blocks
//! (the cache: fetched or added without a pin) go; pinned ones never, nor the blocks
//! of an add still running (the GC waits for their add guard, see
//! `acorn_storage::blockstore`).
//!
//! **Flow.** One task on the executor wakes every [`GC_WATERMARK_POLL`] and reads
//! the store's published total ([`acorn_storage::blockstore::Store::stored_bytes_hint`]:
//! an atomic, no I/O, no thread), so an idle daemon spends nothing on it. When a run
//! is due it goes to the blocking pool like any repo job; the executor never waits
//! on it. A run the watermark started that leaves the repo over the watermark
//! (pinned data alone is that large) is not repeated until the total grows past
//! what that run left: writes past `StorageMax` then fail with "repo full".
//!
//! **Limits.** [`GC_WATERMARK_POLL`]: the longest the repo stays past the watermark
//! before a run starts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use smol::Executor;

use crate::core::Node;
use crate::pool::Pool;

/// How often the task checks the stored total against the watermark.
pub const GC_WATERMARK_POLL: Duration = Duration::from_secs(1);

/// When the automatic GC runs, from the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// `Datastore.GCPeriod` (`None`: `"0"`, no runs by the clock).
    pub period: Option<Duration>,
    /// `StorageGCWatermark` % of `StorageMax`, in block bytes.
    pub watermark_bytes: u64,
}

impl Schedule {
    /// The schedule the node's config asks for.
    pub fn from_node(node: &Node) -> anyhow::Result<Schedule> {
        let ds = &node.config().datastore;
        let period = ds.gc_period()?;
        let max = ds.storage_max_bytes()?;
        Ok(Schedule {
            period: (!period.is_zero()).then_some(period),
            watermark_bytes: watermark_bytes(max, ds.storage_gc_watermark),
        })
    }
}

/// `percent` % of `max`, without overflow.
pub fn watermark_bytes(max: u64, percent: u8) -> u64 {
    u64::try_from(u128::from(max) * u128::from(percent) / 100).unwrap_or(u64::MAX)
}

/// Whether a run is due: the period has passed, or the total is at the watermark
/// and above what the last watermark run left (`floor`).
fn due(now: Instant, next_period: Option<Instant>, bytes: u64, s: &Schedule, floor: u64) -> bool {
    next_period.is_some_and(|t| now >= t) || (bytes >= s.watermark_bytes && bytes > floor)
}

/// Starts the automatic GC task on `ex`.
pub(super) fn spawn(ex: &Arc<Executor<'static>>, node: &Arc<Node>, pool: &Pool, s: Schedule) {
    let (node, pool) = (node.clone(), pool.clone());
    tracing::info!(
        period = ?s.period,
        watermark_bytes = s.watermark_bytes,
        "automatic GC on"
    );
    ex.spawn(async move {
        let mut next_period = s.period.map(|p| Instant::now() + p);
        // The total a watermark run could not get below (0: none yet).
        let mut floor = 0u64;
        loop {
            async_io::Timer::after(GC_WATERMARK_POLL).await;
            let bytes = node.store().stored_bytes_hint();
            if bytes < s.watermark_bytes {
                floor = 0;
            }
            if !due(Instant::now(), next_period, bytes, &s, floor) {
                continue;
            }
            let n = node.clone();
            let result = pool
                .run(move || {
                    let stats = n.repo_gc(&mut |_| {})?;
                    anyhow::Ok((stats, n.store().counts()?.bytes))
                })
                .await;
            match result {
                Some(Ok((stats, left))) => {
                    tracing::info!(
                        removed = stats.removed_blocks,
                        freed_bytes = stats.removed_bytes,
                        left_bytes = left,
                        "automatic GC done"
                    );
                    if left >= s.watermark_bytes {
                        tracing::warn!(
                            left_bytes = left,
                            watermark_bytes = s.watermark_bytes,
                            "the repo is still over its GC watermark after a GC: the rest is pinned"
                        );
                        floor = left;
                    }
                }
                Some(Err(e)) => tracing::error!("automatic GC failed: {e:#}"),
                None => tracing::error!("automatic GC panicked"),
            }
            next_period = s.period.map(|p| Instant::now() + p);
        }
    })
    .detach();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_is_a_percentage_without_overflow() {
        assert_eq!(watermark_bytes(10_000_000_000, 90), 9_000_000_000);
        assert_eq!(watermark_bytes(u64::MAX, 100), u64::MAX);
        assert_eq!(watermark_bytes(1000, 0), 0);
    }

    #[test]
    fn due_by_period_or_by_watermark_once() {
        let t0 = Instant::now();
        let s = Schedule {
            period: Some(Duration::from_secs(60)),
            watermark_bytes: 900,
        };
        let later = t0 + Duration::from_secs(61);
        assert!(!due(t0, Some(later), 100, &s, 0));
        assert!(due(later, Some(later), 100, &s, 0));
        assert!(due(t0, Some(later), 900, &s, 0));
        // A run left 950 pinned: no rerun until more is stored.
        assert!(!due(t0, Some(later), 950, &s, 950));
        assert!(due(t0, Some(later), 951, &s, 950));
        let no_clock = Schedule { period: None, ..s };
        assert!(!due(later, None, 100, &no_clock, 0));
    }
}
