//! The connection manager: Kubo's basic connection manager (`Swarm.ConnMgr`) as a
//! state machine with no I/O.
//!
//! **What.** Above [`Config::high_water`] connected peers, peers connected for longer
//! than [`Config::grace_period`] are disconnected, least valuable first, until
//! [`Config::low_water`] remain. Value is the peer's tag value (see
//! [`Manager::tag`]; 0 unless set), then its traffic in bytes both ways. Protected
//! peers ([`Manager::protect`]) are never chosen. Peers still in their grace period
//! are kept, and a new trim is due when the first of them leaves it
//! ([`Manager::poll_timeout`]).
//!
//! Time and traffic are arguments: the manager never reads a clock or a byte counter
//! and never touches the swarm, so a unit test steps a fake clock through a whole
//! scenario.
//!
//! **Flow.** The caller (the swarm task) reports each connection:
//! 1. [`Manager::on_established`] when a connection to a peer opens; it answers
//!    whether it is the peer's first, and on a first connection the caller runs a trim
//!    ([`Manager::tick`]).
//! 2. [`Manager::on_closed`] when one closes; it answers whether it was the peer's
//!    last.
//! 3. [`Manager::tick`] at the instant [`Manager::poll_timeout`] names (and after a
//!    first connection): it returns the peers to disconnect. They stay counted until
//!    their connections report closed.
//!
//! **Limits.** The peer table holds the connected peers, so it is bounded by the
//! swarm's connection limits (`swarm::Config::max_connections`); the protected set
//! holds at most [`MAX_PROTECTED_PEERS_COUNT`] peers (more are refused).
//!
//! **Departures from Kubo.** A peer has one tag value (Kubo sums named tags), and
//! peers of equal value go least traffic first (Kubo does not rank by traffic). A
//! trim runs when a peer connects or a grace period ends, not on a periodic ticker.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use libp2p::PeerId;

/// Peers that can be protected at once; [`Manager::protect`] refuses more.
/// Worst case: this × (a peer ID, ≤ 70 bytes) ≈ 70 KiB.
pub const MAX_PROTECTED_PEERS_COUNT: usize = 1024;

/// Kubo's basic connection manager settings (`Swarm.ConnMgr`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Peers kept after a trim (Kubo's `LowWater`).
    pub low_water: u32,
    /// A trim runs when more peers than this are connected (Kubo's `HighWater`).
    pub high_water: u32,
    /// New peers are never trimmed within this long of connecting (Kubo's
    /// `GracePeriod`).
    pub grace_period: Duration,
}

/// One connected peer.
#[derive(Debug)]
struct Peer {
    /// Open connections (≥ 1 while in the table).
    connections: u32,
    /// When its first connection opened.
    since: Instant,
    /// Its tag value ([`Manager::tag`]).
    value: i32,
}

/// The connection manager's state; see the module doc.
#[derive(Debug)]
pub struct Manager {
    /// `None`: never trims (Kubo's `Type = "none"`); connections are still counted.
    config: Option<Config>,
    peers: HashMap<PeerId, Peer>,
    /// ≤ [`MAX_PROTECTED_PEERS_COUNT`].
    protected: HashSet<PeerId>,
    /// When the next trim is due: set while over `high_water` with peers that are
    /// still inside their grace period.
    trim_at: Option<Instant>,
}

impl Manager {
    /// A manager that trims by `config`, or only counts connections (`None`).
    pub fn new(config: Option<Config>) -> Manager {
        Manager {
            config,
            peers: HashMap::new(),
            protected: HashSet::new(),
            trim_at: None,
        }
    }

    /// The settings it trims by (`None`: it never trims).
    pub fn config(&self) -> Option<Config> {
        self.config
    }

    /// Connected peers.
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// Whether `peer` has a connection open.
    pub fn is_connected(&self, peer: &PeerId) -> bool {
        self.peers.contains_key(peer)
    }

    /// A connection to `peer` opened at `now`; `true` when it is the peer's first.
    pub fn on_established(&mut self, now: Instant, peer: PeerId) -> bool {
        match self.peers.get_mut(&peer) {
            Some(p) => {
                p.connections = p.connections.saturating_add(1);
                false
            }
            None => {
                self.peers.insert(
                    peer,
                    Peer {
                        connections: 1,
                        since: now,
                        value: 0,
                    },
                );
                true
            }
        }
    }

    /// A connection to `peer` closed; `true` when it was the peer's last (the peer
    /// and its tag value are forgotten; protection stays).
    pub fn on_closed(&mut self, peer: &PeerId) -> bool {
        let Some(p) = self.peers.get_mut(peer) else {
            return false;
        };
        p.connections = p.connections.saturating_sub(1);
        if p.connections == 0 {
            self.peers.remove(peer);
            true
        } else {
            false
        }
    }

    /// Never trims `peer` until [`Manager::unprotect`]; protection outlives its
    /// connections. `false` when [`MAX_PROTECTED_PEERS_COUNT`] peers are protected
    /// already (nothing changes).
    pub fn protect(&mut self, peer: PeerId) -> bool {
        if self.protected.len() >= MAX_PROTECTED_PEERS_COUNT && !self.protected.contains(&peer) {
            return false;
        }
        self.protected.insert(peer);
        true
    }

    /// Undoes [`Manager::protect`]; `true` when `peer` was protected.
    pub fn unprotect(&mut self, peer: &PeerId) -> bool {
        self.protected.remove(peer)
    }

    /// Whether `peer` is protected.
    pub fn is_protected(&self, peer: &PeerId) -> bool {
        self.protected.contains(peer)
    }

    /// Sets a connected peer's value: higher values are trimmed later, whatever
    /// their traffic. `false` when `peer` is not connected (nothing is kept).
    pub fn tag(&mut self, peer: &PeerId, value: i32) -> bool {
        match self.peers.get_mut(peer) {
            Some(p) => {
                p.value = value;
                true
            }
            None => false,
        }
    }

    /// When [`Manager::tick`] should run next, if a trim is pending.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.trim_at
    }

    /// A trim at `now`: when more than `high_water` peers are connected, the peers to
    /// disconnect (past their grace period, not protected; lowest value first, then
    /// least `traffic`, in bytes both ways) to bring the count to `low_water`. When
    /// peers still in grace stop it short, [`Manager::poll_timeout`] names the
    /// instant the first of them leaves it.
    pub fn tick(&mut self, now: Instant, mut traffic: impl FnMut(&PeerId) -> u64) -> Vec<PeerId> {
        self.trim_at = None;
        let Some(cm) = self.config else {
            return Vec::new();
        };
        if self.peers.len() <= cm.high_water as usize {
            return Vec::new();
        }
        let mut candidates: Vec<(i32, u64, PeerId)> = Vec::new();
        let mut next_due: Option<Instant> = None;
        for (peer, p) in &self.peers {
            if self.protected.contains(peer) {
                continue;
            }
            let due = p.since + cm.grace_period;
            if due <= now {
                candidates.push((p.value, traffic(peer), *peer));
            } else {
                next_due = Some(next_due.map_or(due, |d: Instant| d.min(due)));
            }
        }
        candidates.sort();
        let excess = self.peers.len().saturating_sub(cm.low_water as usize);
        let closing = excess.min(candidates.len());
        if closing < excess {
            self.trim_at = next_due;
        }
        candidates
            .into_iter()
            .take(closing)
            .map(|(_, _, p)| p)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(30);

    fn manager(low: u32, high: u32) -> Manager {
        Manager::new(Some(Config {
            low_water: low,
            high_water: high,
            grace_period: GRACE,
        }))
    }

    fn peers(n: usize) -> Vec<PeerId> {
        (0..n).map(|_| PeerId::random()).collect()
    }

    /// Connects `peers` at `at`, running the trim each first connection asks for;
    /// returns every peer it chose.
    fn connect_all(m: &mut Manager, at: Instant, peers: &[PeerId]) -> Vec<PeerId> {
        let mut closed = Vec::new();
        for p in peers {
            if m.on_established(at, *p) {
                closed.extend(m.tick(at, |_| 0));
            }
        }
        closed
    }

    #[test]
    fn counts_connections_per_peer() {
        let mut m = Manager::new(None);
        let t0 = Instant::now();
        let p = PeerId::random();
        assert!(m.on_established(t0, p));
        assert!(!m.on_established(t0, p));
        assert_eq!(m.peer_count(), 1);
        assert!(!m.on_closed(&p));
        assert!(m.is_connected(&p));
        assert!(m.on_closed(&p));
        assert!(!m.is_connected(&p));
        assert!(!m.on_closed(&p), "an unknown peer closes nothing");
    }

    #[test]
    fn without_config_it_never_trims() {
        let mut m = Manager::new(None);
        let t0 = Instant::now();
        assert!(connect_all(&mut m, t0, &peers(50)).is_empty());
        assert!(m.tick(t0 + GRACE * 10, |_| 0).is_empty());
        assert_eq!(m.poll_timeout(), None);
    }

    #[test]
    fn nothing_happens_up_to_high_water() {
        let mut m = manager(1, 3);
        let t0 = Instant::now();
        let ps = peers(3);
        assert!(connect_all(&mut m, t0, &ps).is_empty());
        // Even long past the grace period: three peers are not over HighWater.
        assert!(m.tick(t0 + GRACE * 10, |_| 0).is_empty());
        assert_eq!(m.poll_timeout(), None);
    }

    #[test]
    fn trims_to_low_water_least_traffic_first() {
        let mut m = manager(2, 4);
        let t0 = Instant::now();
        let ps = peers(5);
        // All old enough: the fifth connection (over HighWater 4) trims down to 2.
        let later = t0 + GRACE;
        for p in &ps[..4] {
            assert!(m.on_established(t0, *p));
        }
        assert!(m.on_established(later, ps[4]));
        let traffic: HashMap<PeerId, u64> = ps
            .iter()
            .enumerate()
            .map(|(i, p)| (*p, 100 - i as u64))
            .collect();
        let closed = m.tick(later, |p| traffic[p]);
        // ps[4] is in grace; of the others the least traffic goes first: ps[3], ps[2], ps[1].
        assert_eq!(closed, vec![ps[3], ps[2], ps[1]]);
        // Closing all three is enough: no further trim is due.
        assert_eq!(m.poll_timeout(), None);
        // They stay counted until their connections close.
        assert_eq!(m.peer_count(), 5);
        for p in &closed {
            assert!(m.on_closed(p));
        }
        assert_eq!(m.peer_count(), 2);
    }

    #[test]
    fn peers_in_grace_are_kept_and_a_trim_is_scheduled() {
        let mut m = manager(1, 2);
        let t0 = Instant::now();
        let ps = peers(4);
        // Connected one second apart, all within the grace period: nobody goes.
        for (i, p) in ps.iter().enumerate() {
            let at = t0 + Duration::from_secs(i as u64);
            assert!(m.on_established(at, *p));
            assert!(m.tick(at, |_| 0).is_empty());
        }
        // Over HighWater with everyone in grace: due when the first leaves it.
        assert_eq!(m.poll_timeout(), Some(t0 + GRACE));
        // At that instant only the oldest can go; the next due is the second's.
        assert_eq!(m.tick(t0 + GRACE, |_| 0), vec![ps[0]]);
        assert_eq!(m.poll_timeout(), Some(t0 + GRACE + Duration::from_secs(1)));
        assert!(m.on_closed(&ps[0]));
        // Later all three remaining are past grace: two go, down to LowWater 1.
        let late = t0 + GRACE * 2;
        let closed = m.tick(late, |_| 0);
        assert_eq!(closed.len(), 2);
        assert_eq!(m.poll_timeout(), None);
        for p in &closed {
            assert!(m.on_closed(p));
        }
        assert_eq!(m.peer_count(), 1);
        // Back under HighWater: nothing more.
        assert!(m.tick(late + GRACE, |_| 0).is_empty());
    }

    #[test]
    fn a_second_connection_keeps_the_first_ones_grace_start() {
        let mut m = manager(0, 1);
        let t0 = Instant::now();
        let ps = peers(2);
        assert!(m.on_established(t0, ps[0]));
        assert!(
            !m.on_established(t0 + GRACE, ps[0]),
            "not a first connection"
        );
        assert!(m.on_established(t0 + GRACE, ps[1]));
        // ps[0]'s grace counts from its first connection: it is due, ps[1] is not.
        assert_eq!(m.tick(t0 + GRACE, |_| 0), vec![ps[0]]);
        assert_eq!(m.poll_timeout(), Some(t0 + GRACE * 2));
    }

    #[test]
    fn protected_peers_are_never_trimmed() {
        let mut m = manager(0, 2);
        let t0 = Instant::now();
        let ps = peers(4);
        assert!(m.protect(ps[0]));
        assert!(m.is_protected(&ps[0]));
        connect_all(&mut m, t0, &ps);
        let late = t0 + GRACE;
        // Protected ps[0] has the least traffic, yet the other three go.
        let mut closed = m.tick(late, |p| if *p == ps[0] { 0 } else { 10 });
        closed.sort();
        let mut want = ps[1..].to_vec();
        want.sort();
        assert_eq!(closed, want);
        // Nobody in grace held the trim back, so no further trim is due.
        assert_eq!(m.poll_timeout(), None);
        // Protection outlives the connection; unprotected, the peer can go.
        for p in &ps {
            assert!(m.on_closed(p));
        }
        assert!(m.is_protected(&ps[0]));
        assert!(m.unprotect(&ps[0]));
        assert!(!m.unprotect(&ps[0]));
        connect_all(&mut m, late, &ps);
        assert_eq!(m.tick(late + GRACE, |_| 0).len(), 4);
    }

    #[test]
    fn protection_is_bounded() {
        let mut m = manager(0, 1);
        for _ in 0..MAX_PROTECTED_PEERS_COUNT {
            assert!(m.protect(PeerId::random()));
        }
        let extra = PeerId::random();
        assert!(!m.protect(extra));
        assert!(!m.is_protected(&extra));
    }

    #[test]
    fn tagged_peers_go_after_untagged_ones() {
        let mut m = manager(1, 2);
        let t0 = Instant::now();
        let ps = peers(3);
        for p in &ps {
            m.on_established(t0, *p);
        }
        // ps[0] has the least traffic but the highest value: it stays.
        assert!(m.tag(&ps[0], 10));
        assert!(
            !m.tag(&PeerId::random(), 10),
            "only connected peers are tagged"
        );
        let closed = m.tick(t0 + GRACE, |p| if *p == ps[0] { 0 } else { 5 });
        assert_eq!(closed.len(), 2);
        assert!(!closed.contains(&ps[0]));
    }
}
