//! One byte meter: totals in and out, and Kubo's per-second EWMA rates.
//!
//! **What.** go-libp2p (`go-flow-metrics`) samples each meter once a second and keeps
//! `rate += α × (sample − rate)` with `α = 1 − e⁻¹` (the first non-zero sample sets the
//! rate; a rate below [`IDLE_RATE`] drops to 0). We keep the same numbers without a
//! ticker: bytes are recorded with the whole second they happened in, and when a later
//! second is seen (by a record or by a read) the completed second is folded in as one
//! sample and every second with no bytes as a zero sample. So a read gives what a 1 s
//! ticker would have given at the last second boundary, and an idle node wakes nobody.
//!
//! **Time** is an argument (seconds since the owner's start), so tests step it by hand.

use std::sync::{Mutex, PoisonError};

/// Kubo's EWMA weight of the newest 1 s sample: `1 − e⁻¹` (go-flow-metrics `alpha`).
pub const EWMA_ALPHA: f64 = 0.632_120_558_828_557_7;

/// A rate below this many bytes per second counts as idle and reads as 0
/// (go-flow-metrics `IdleRate`).
pub const IDLE_RATE: f64 = 1e-13;

/// Direction of the bytes, from this node's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Received.
    In,
    /// Sent.
    Out,
}

/// Totals and rates (bytes, bytes per second): Kubo's `stats bw` fields.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    /// Bytes received since start.
    pub total_in: u64,
    /// Bytes sent since start.
    pub total_out: u64,
    /// Bytes per second received (EWMA of 1 s samples).
    pub rate_in: f64,
    /// Bytes per second sent (EWMA of 1 s samples).
    pub rate_out: f64,
}

/// A meter: see the module docs. Cheap to record into (one uncontended lock).
#[derive(Debug, Default)]
pub struct Meter(Mutex<State>);

#[derive(Debug, Default)]
struct State {
    /// The second `current` bytes belong to.
    second: u64,
    /// Last second with any bytes (for evicting idle meters).
    last_active: u64,
    inbound: Flow,
    outbound: Flow,
}

#[derive(Debug, Default)]
struct Flow {
    total: u64,
    /// Bytes in `State::second`, not yet folded into `rate`.
    current: u64,
    rate: f64,
}

impl Flow {
    /// Folds the finished second and `empty` further seconds without bytes.
    fn fold(&mut self, empty: u64) {
        let sample = self.current as f64;
        self.current = 0;
        if self.rate == 0.0 {
            self.rate = sample;
        } else {
            self.rate += EWMA_ALPHA * (sample - self.rate);
        }
        if empty > 0 && self.rate != 0.0 {
            // (1 − α)^n underflows to 0 long before n reaches i32::MAX.
            let n = i32::try_from(empty).unwrap_or(i32::MAX);
            self.rate *= (1.0 - EWMA_ALPHA).powi(n);
        }
        if self.rate < IDLE_RATE {
            self.rate = 0.0;
        }
    }
}

impl State {
    /// Brings the meter to `second`. A second earlier than the meter's own (two
    /// threads racing on the clock) counts into the current one.
    fn advance(&mut self, second: u64) {
        if second > self.second {
            let empty = second - self.second - 1;
            self.inbound.fold(empty);
            self.outbound.fold(empty);
            self.second = second;
        }
    }
}

impl Meter {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves plain numbers behind.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts `bytes` moved in `direction` during `second`.
    pub fn record(&self, second: u64, direction: Direction, bytes: u64) {
        if bytes == 0 {
            return;
        }
        let mut s = self.lock();
        s.advance(second);
        s.last_active = s.second;
        let flow = match direction {
            Direction::In => &mut s.inbound,
            Direction::Out => &mut s.outbound,
        };
        flow.total = flow.total.saturating_add(bytes);
        flow.current = flow.current.saturating_add(bytes);
    }

    /// Totals and rates as of the start of `second`.
    pub fn stats(&self, second: u64) -> Stats {
        let mut s = self.lock();
        s.advance(second);
        Stats {
            total_in: s.inbound.total,
            total_out: s.outbound.total,
            rate_in: s.inbound.rate,
            rate_out: s.outbound.rate,
        }
    }

    /// Last second with any bytes.
    pub fn last_active(&self) -> u64 {
        self.lock().last_active
    }

    /// Bytes received so far.
    pub fn total_in(&self) -> u64 {
        self.lock().inbound.total
    }

    /// Bytes sent so far.
    pub fn total_out(&self) -> u64 {
        self.lock().outbound.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha_is_one_minus_inverse_e() {
        assert!((EWMA_ALPHA - (1.0 - (-1.0f64).exp())).abs() < 1e-15);
    }

    #[test]
    fn totals_add_up_and_partial_second_is_not_a_rate_yet() {
        let m = Meter::default();
        m.record(0, Direction::In, 100);
        m.record(0, Direction::Out, 7);
        m.record(0, Direction::In, 50);
        let s = m.stats(0);
        assert_eq!((s.total_in, s.total_out), (150, 7));
        assert_eq!((s.rate_in, s.rate_out), (0.0, 0.0));
    }

    #[test]
    fn first_sample_sets_the_rate_then_ewma_like_go_flow_metrics() {
        let m = Meter::default();
        m.record(0, Direction::In, 1000);
        assert_eq!(m.stats(1).rate_in, 1000.0);
        m.record(1, Direction::In, 2000);
        let expected = 1000.0 + EWMA_ALPHA * (2000.0 - 1000.0);
        assert!((m.stats(2).rate_in - expected).abs() < 1e-9);
        // Reading twice in the same second changes nothing.
        assert!((m.stats(2).rate_in - expected).abs() < 1e-9);
    }

    #[test]
    fn idle_seconds_decay_the_rate_as_zero_samples() {
        let m = Meter::default();
        m.record(10, Direction::Out, 1000);
        // Second 10 folded, then 11, 12 (no bytes): two zero samples.
        let r = m.stats(13).rate_out;
        let expected = 1000.0 * (1.0 - EWMA_ALPHA) * (1.0 - EWMA_ALPHA);
        assert!((r - expected).abs() < 1e-9, "{r} vs {expected}");
        // Long idle: decays to exactly 0 (idle), totals stay.
        let s = m.stats(10_000);
        assert_eq!(s.rate_out, 0.0);
        assert_eq!(s.total_out, 1000);
        assert_eq!(m.last_active(), 10);
    }

    #[test]
    fn a_late_clock_reading_counts_into_the_current_second() {
        let m = Meter::default();
        m.record(5, Direction::In, 10);
        m.record(4, Direction::In, 10);
        assert_eq!(m.stats(6).rate_in, 20.0);
        assert_eq!(m.total_in(), 20);
    }

    #[test]
    fn totals_saturate() {
        let m = Meter::default();
        m.record(0, Direction::In, u64::MAX);
        m.record(0, Direction::In, 5);
        assert_eq!(m.total_in(), u64::MAX);
    }
}
