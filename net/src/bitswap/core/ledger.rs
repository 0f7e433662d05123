//! The peer table (the ledger): one entry per peer we talk to, in either role, and
//! the strikes kept apart from it. Bounds and eviction as the module doc of `core.rs`
//! says (`max_peers`, `max_struck_peers`, `strike_decay`).

use super::*;

#[derive(Debug, Default)]
pub(super) struct Peer {
    pub(super) connected: bool,
    pub(super) in_flight: bool,
    /// Bytes the message in flight holds (its frame, once encoded).
    pub(super) in_flight_bytes: usize,
    pub(super) in_tx_ring: bool,
    pub(super) in_lookup_ring: bool,
    /// Insertion order in the peer table (the oldest idle peer is evicted first).
    pub(super) seq: u64,
    /// When we last sent this peer a want-have (it may answer with a small block).
    pub(super) asked_have_at: Option<Instant>,
    /// Client entries waiting to be sent (bounded by `max_wants`: one per want).
    pub(super) out_entries: HashMap<Mh, Entry>,
    /// Server: the peer's wantlist.
    pub(super) wants: HashMap<Mh, PeerWant>,
    pub(super) lookup_queue: VecDeque<Mh>,
    pub(super) lookups_inflight_bytes: usize,
    pub(super) lookups_inflight: usize,
    pub(super) send_queue: VecDeque<Response>,
    pub(super) send_queue_bytes: usize,
}

impl Peer {
    /// Server bytes this peer holds: queued answers, lookups in flight, message in flight.
    pub(super) fn server_bytes(&self) -> usize {
        self.send_queue_bytes + self.lookups_inflight_bytes + self.in_flight_bytes
    }
    pub(super) fn has_output(&self) -> bool {
        !self.out_entries.is_empty() || !self.send_queue.is_empty()
    }
    pub(super) fn is_idle(&self) -> bool {
        !self.connected
            && !self.in_flight
            && self.out_entries.is_empty()
            && self.wants.is_empty()
            && self.send_queue.is_empty()
            && self.lookups_inflight == 0
    }
}

/// A peer's strikes: `count` as of `at`; one is forgiven per `Config::strike_decay`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Strikes {
    pub(super) count: u32,
    pub(super) at: Instant,
}

impl Strikes {
    pub(super) fn now(&self, now: Instant, decay: Duration) -> u32 {
        let periods = now.saturating_duration_since(self.at).as_nanos() / decay.as_nanos().max(1);
        self.count
            .saturating_sub(u32::try_from(periods).unwrap_or(u32::MAX))
    }
}

impl Core {
    // ---------------------------------------------------------------- peers

    pub(super) fn ensure_peer(&mut self, peer: PeerId) -> bool {
        if self.peers.contains_key(&peer) {
            return true;
        }
        if self.peers.len() >= self.cfg.max_peers {
            // The oldest idle (disconnected, nothing pending) peer, strikes or not: its
            // strikes live on in `self.strikes`.
            let idle = self
                .peers
                .iter()
                .filter(|(_, p)| p.is_idle())
                .min_by_key(|(_, p)| p.seq)
                .map(|(id, _)| *id);
            match idle {
                Some(id) => {
                    self.peers.remove(&id);
                }
                None => {
                    self.stats.peers_refused += 1;
                    return false;
                }
            }
        }
        self.next_peer_seq += 1;
        self.peers.insert(
            peer,
            Peer {
                seq: self.next_peer_seq,
                ..Peer::default()
            },
        );
        true
    }

    /// A connection to `peer` is up: it becomes a candidate for sessions (a banned
    /// peer does not: [`Event::Refused`]).
    pub fn on_connected(&mut self, now: Instant, peer: PeerId) {
        if self.is_banned(now, &peer) {
            self.stats.banned_refused += 1;
            self.push_event(Event::Refused { peer });
            return;
        }
        if !self.ensure_peer(peer) {
            return;
        }
        if let Some(p) = self.peers.get_mut(&peer) {
            if !p.connected {
                p.connected = true;
                self.connected.push(peer);
            }
        }
    }

    /// The last connection to `peer` closed: its wants and queued answers go.
    pub fn on_disconnected(&mut self, now: Instant, peer: PeerId) {
        self.connected.retain(|p| *p != peer);
        if let Some(p) = self.peers.get_mut(&peer) {
            p.connected = false;
            // Server state for a gone peer is void; client entries too.
            p.wants.clear();
            p.lookup_queue.clear();
            p.send_queue.clear();
            p.send_queue_bytes = 0;
            p.out_entries.clear();
        }
        for s in self.sessions.values_mut() {
            s.peers.retain(|p| *p != peer);
            s.broadcast.retain(|p| *p != peer);
        }
        self.peer_gone_from_wants(now, peer);
        if self.peers.get(&peer).is_some_and(|p| p.is_idle()) {
            self.peers.remove(&peer);
        }
    }

    pub(super) fn strike(&mut self, now: Instant, peer: PeerId) {
        if self.is_banned(now, &peer) {
            // The rest of a message from a peer banned while reading it.
            return;
        }
        let decay = self.cfg.strike_decay;
        let current = match self.strikes.get(&peer) {
            Some(s) => s.now(now, decay),
            None => {
                if self.strikes.len() >= self.cfg.max_struck_peers.max(1) {
                    self.strikes.retain(|_, s| s.now(now, decay) > 0);
                }
                if self.strikes.len() >= self.cfg.max_struck_peers.max(1) {
                    let least = self
                        .strikes
                        .iter()
                        .min_by_key(|(_, s)| (s.now(now, decay), s.at))
                        .map(|(id, _)| *id);
                    if let Some(id) = least {
                        self.strikes.remove(&id);
                    }
                }
                0
            }
        };
        let count = current + 1;
        if count >= self.cfg.misbehaviour_threshold {
            self.strikes.remove(&peer);
            self.ban(now, peer);
        } else {
            self.strikes.insert(peer, Strikes { count, at: now });
        }
    }

    /// Whether `peer` is banned now (a ban that ended is forgotten here).
    pub fn is_banned(&mut self, now: Instant, peer: &PeerId) -> bool {
        match self.banned.get(peer) {
            Some(until) if now < *until => true,
            Some(_) => {
                self.banned.remove(peer);
                false
            }
            None => false,
        }
    }

    /// Bans `peer` for `ban_duration`: asks the node to disconnect it, and forgets it
    /// at once as if its connection had closed, so its wants move to other peers and
    /// no session asks it again while the ban lasts.
    pub(super) fn ban(&mut self, now: Instant, peer: PeerId) {
        if self.is_banned(now, &peer) {
            return;
        }
        if self.cfg.max_banned_peers == 0 {
            self.stats.peers_disconnected += 1;
            self.push_event(Event::Disconnect { peer });
            self.on_disconnected(now, peer);
            return;
        }
        if !self.banned.contains_key(&peer) && self.banned.len() >= self.cfg.max_banned_peers {
            self.banned.retain(|_, until| now < *until);
            if self.banned.len() >= self.cfg.max_banned_peers {
                let first = self
                    .banned
                    .iter()
                    .min_by_key(|(_, until)| **until)
                    .map(|(id, _)| *id);
                if let Some(id) = first {
                    self.banned.remove(&id);
                }
            }
        }
        self.banned.insert(peer, now + self.cfg.ban_duration);
        self.stats.peers_disconnected += 1;
        self.push_event(Event::Disconnect { peer });
        self.on_disconnected(now, peer);
    }

    /// The handler could not decode a message from `peer`: a strike.
    pub fn on_malformed(&mut self, now: Instant, peer: PeerId) {
        self.stats.malformed_messages += 1;
        self.strike(now, peer);
    }
}

#[cfg(test)]
mod tests {
    use super::super::sim::*;
    use super::*;

    #[test]
    fn peer_table_is_bounded() {
        let mut sim = Sim::new(Config {
            max_peers: 2,
            ..Config::default()
        });
        let ps = peers(3);
        for p in &ps {
            sim.core.on_connected(sim.now, *p);
        }
        assert_eq!(sim.core.connected_peers().len(), 2);
        assert_eq!(sim.core.stats().peers_refused, 1);
        // A disconnected idle peer makes room.
        sim.core.on_disconnected(sim.now, ps[0]);
        sim.core.on_connected(sim.now, ps[2]);
        assert_eq!(sim.core.connected_peers(), &[ps[1], ps[2]]);
    }

    #[test]
    fn struck_peers_leave_the_table_but_keep_their_strikes() {
        let cfg = Config {
            max_peers: 2,
            misbehaviour_threshold: 3,
            ..Config::default()
        };
        let mut sim = Sim::new(cfg);
        let [a, b, c] = peers(3)[..] else {
            unreachable!()
        };
        // Two throwaway peers with one strike each, then gone.
        for p in [a, b] {
            sim.core.on_connected(sim.now, p);
            sim.core.on_malformed(sim.now, p);
            sim.core.on_disconnected(sim.now, p);
        }
        // The table has room for a new peer.
        sim.core.on_connected(sim.now, c);
        assert_eq!(sim.core.connected_peers(), &[c]);
        assert_eq!(sim.core.stats().peers_refused, 0);
        // `a` comes back: its strike was remembered, two more reach the threshold.
        sim.core.on_connected(sim.now, a);
        sim.core.on_malformed(sim.now, a);
        assert!(sim.events().is_empty());
        sim.core.on_malformed(sim.now, a);
        assert_eq!(sim.events(), vec![Event::Disconnect { peer: a }]);
    }

    #[test]
    fn full_peer_table_evicts_the_oldest_idle_peer_even_with_strikes() {
        let mut sim = Sim::new(Config {
            max_peers: 2,
            ..Config::default()
        });
        let [a, b, c] = peers(3)[..] else {
            unreachable!()
        };
        sim.core.on_connected(sim.now, a);
        sim.core.on_connected(sim.now, b);
        sim.core.on_malformed(sim.now, a);
        sim.core.on_malformed(sim.now, b);
        // Both still tracked (on_disconnected removes idle peers; make them linger by
        // adding them as providers of a session after disconnecting).
        let s = sim.core.new_session().unwrap();
        sim.core.on_disconnected(sim.now, a);
        sim.core.on_disconnected(sim.now, b);
        sim.core.add_providers(sim.now, s, &[a, b]);
        sim.core.on_connected(sim.now, c);
        assert_eq!(sim.core.connected_peers(), &[c]);
        assert_eq!(sim.core.stats().peers_refused, 0);
    }

    /// Blocks over the size limit (skipped by the decoder) are strikes; one ban and
    /// one disconnect however many more the message holds.
    #[test]
    fn oversize_blocks_are_strikes_and_one_ban() {
        let cfg = Config::default();
        let threshold = cfg.misbehaviour_threshold;
        let mut sim = Sim::new(cfg);
        let [a] = peers(1)[..] else { unreachable!() };
        sim.core.on_connected(sim.now, a);
        let msg = |n: u32| Message {
            skipped: n,
            oversize_blocks: n,
            ..Message::default()
        };
        sim.core.on_message(sim.now, a, msg(threshold - 1));
        assert!(sim.events().is_empty());
        sim.core.on_message(sim.now, a, msg(threshold * 3));
        assert_eq!(sim.events(), vec![Event::Disconnect { peer: a }]);
        assert_eq!(sim.core.stats().peers_disconnected, 1);
        assert!(sim.core.is_banned(sim.now, &a));
    }

    #[test]
    fn strikes_decay_with_time() {
        let cfg = Config {
            misbehaviour_threshold: 3,
            ..Config::default()
        };
        let decay = cfg.strike_decay;
        let mut sim = Sim::new(cfg);
        let [a] = peers(1)[..] else { unreachable!() };
        sim.core.on_connected(sim.now, a);
        sim.core.on_malformed(sim.now, a);
        sim.core.on_malformed(sim.now, a);
        sim.now += decay * 2;
        sim.core.on_malformed(sim.now, a);
        sim.core.on_malformed(sim.now, a);
        assert!(sim.events().is_empty(), "two old strikes were forgiven");
        sim.core.on_malformed(sim.now, a);
        assert_eq!(sim.events(), vec![Event::Disconnect { peer: a }]);
    }

    #[test]
    fn strike_list_is_bounded() {
        let mut sim = Sim::new(Config {
            max_struck_peers: 4,
            ..Config::default()
        });
        for p in peers(10) {
            sim.core.on_malformed(sim.now, p);
        }
        assert_eq!(sim.core.strikes.len(), 4);
    }
}
