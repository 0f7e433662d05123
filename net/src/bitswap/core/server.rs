//! The server side and the send queue: each peer's wantlist, blockstore lookups
//! through the caller, answers queued per peer, and [`Core::poll_transmit`], which
//! sends client entries and answers one message per peer in round-robin turn.

use super::*;

#[derive(Debug)]
pub(super) enum Response {
    Block(Cid, Vec<u8>),
    Have(Cid),
    DontHave(Cid),
}

impl Response {
    pub(super) fn cost(&self) -> usize {
        match self {
            Response::Block(c, d) => d.len() + c.encoded_len() + 48,
            Response::Have(c) | Response::DontHave(c) => c.encoded_len() + 8,
        }
    }
}

#[derive(Debug)]
pub(super) struct PeerWant {
    pub(super) cid: Cid,
    pub(super) want_type: WantType,
    pub(super) send_dont_have: bool,
    /// Answered "not here" (DONT_HAVE, or silence when not asked for one) and kept,
    /// as boxo keeps it, so `bitswap wantlist --peer` shows what the peer still
    /// wants; the same want received again is looked up again.
    pub(super) parked: bool,
}

impl Core {
    pub(super) fn on_wantlist(&mut self, peer: PeerId, wl: Wantlist) {
        let cap = self.cfg.max_peer_wantlist_entries;
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if wl.full {
            p.wants.clear();
            p.lookup_queue.clear();
        }
        for e in wl.entries {
            let mh = *e.cid.hash();
            if e.cancel {
                p.wants.remove(&mh);
                p.lookup_queue.retain(|m| *m != mh);
                let before = p.send_queue.len();
                p.send_queue
                    .retain(|r| !matches!(r, Response::Block(c, _) if c.hash() == &mh));
                if p.send_queue.len() != before {
                    p.send_queue_bytes = p.send_queue.iter().map(Response::cost).sum();
                }
                continue;
            }
            let new_lookup = match p.wants.get(&mh) {
                Some(old) => {
                    old.parked
                        || (old.want_type == WantType::Have && e.want_type == WantType::Block)
                }
                None => {
                    if p.wants.len() >= cap {
                        // Full: a parked want (answered "not here") makes room first.
                        match p.wants.iter().find(|(_, w)| w.parked).map(|(m, _)| *m) {
                            Some(old) => {
                                p.wants.remove(&old);
                            }
                            None => {
                                self.stats.peer_wantlist_overflow += 1;
                                continue;
                            }
                        }
                    }
                    true
                }
            };
            p.wants.insert(
                mh,
                PeerWant {
                    cid: e.cid,
                    want_type: e.want_type,
                    send_dont_have: e.send_dont_have,
                    parked: false,
                },
            );
            if new_lookup && !p.lookup_queue.contains(&mh) {
                p.lookup_queue.push_back(mh);
            }
        }
        if !p.lookup_queue.is_empty() && !p.in_lookup_ring {
            p.in_lookup_ring = true;
            self.lookup_ring.push_back(peer);
        }
    }

    // ---------------------------------------------------------------- server lookups

    pub(super) fn lookup_cost(wt: WantType) -> usize {
        match wt {
            WantType::Block => MAX_BLOCK_BYTES,
            WantType::Have => 64,
        }
    }

    /// The next blockstore question, round-robin over peers, while fewer than
    /// `max_inflight_lookups` are in flight and the peer's send queue has room.
    pub fn poll_lookup(&mut self) -> Option<Lookup> {
        let cap = self.cfg.max_peer_send_queue_bytes;
        let global_cap = self.cfg.max_server_queued_bytes;
        let global_used: usize = self.peers.values().map(Peer::server_bytes).sum();
        let mut turns = self.lookup_ring.len();
        while self.lookups_inflight < self.cfg.max_inflight_lookups && turns > 0 {
            turns -= 1;
            let peer = self.lookup_ring.pop_front()?;
            let Some(p) = self.peers.get_mut(&peer) else {
                continue;
            };
            // Drop stale queue heads (cancelled meanwhile).
            while let Some(mh) = p.lookup_queue.front() {
                if p.wants.contains_key(mh) {
                    break;
                }
                p.lookup_queue.pop_front();
            }
            let Some(mh) = p.lookup_queue.front().copied() else {
                p.in_lookup_ring = false;
                continue;
            };
            let Some(pw) = p.wants.get(&mh) else {
                p.in_lookup_ring = false;
                continue;
            };
            let cost = Self::lookup_cost(pw.want_type);
            // Global room: the peer keeps its turn (front of the ring) until sends free
            // some bytes.
            if global_used > 0 && global_used + cost > global_cap {
                self.lookup_ring.push_front(peer);
                self.stats.server_queue_full += 1;
                return None;
            }
            // Room check; an empty queue always gets one lookup so big blocks still go.
            let used = p.server_bytes();
            if used > 0 && used + cost > cap {
                // Full: leave the ring; poll_transmit puts it back as the queue drains.
                p.in_lookup_ring = false;
                continue;
            }
            p.lookup_queue.pop_front();
            p.lookups_inflight += 1;
            p.lookups_inflight_bytes += cost;
            let lookup = Lookup {
                peer,
                cid: pw.cid,
                want_type: pw.want_type,
            };
            if p.lookup_queue.is_empty() {
                p.in_lookup_ring = false;
            } else {
                self.lookup_ring.push_back(peer);
            }
            self.lookups_inflight += 1;
            return Some(lookup);
        }
        None
    }

    /// The answer to a [`Lookup`].
    pub fn on_lookup(&mut self, lookup: Lookup, found: Found) {
        let Lookup {
            peer,
            cid,
            want_type,
        } = lookup;
        self.lookups_inflight = self.lookups_inflight.saturating_sub(1);
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        p.lookups_inflight = p.lookups_inflight.saturating_sub(1);
        p.lookups_inflight_bytes = p
            .lookups_inflight_bytes
            .saturating_sub(Self::lookup_cost(want_type));
        let mh = *cid.hash();
        let Some(pw) = p.wants.get_mut(&mh) else {
            return; // cancelled meanwhile
        };
        let resp = match (pw.want_type, found) {
            (WantType::Block, Found::Block(data)) if data.len() <= MAX_BLOCK_BYTES => {
                Some(Response::Block(pw.cid, data))
            }
            (WantType::Block, Found::Have) => {
                // Asked for data but told only presence: look up again as a block.
                p.lookup_queue.push_back(mh);
                None
            }
            (WantType::Have, Found::Block(_) | Found::Have) => Some(Response::Have(pw.cid)),
            _ if pw.send_dont_have => Some(Response::DontHave(pw.cid)),
            _ => {
                pw.parked = true;
                None
            }
        };
        if let Some(r) = resp {
            p.send_queue_bytes += r.cost();
            p.send_queue.push_back(r);
            if !p.in_tx_ring && !p.in_flight {
                p.in_tx_ring = true;
                self.tx_ring.push_back(peer);
            }
        }
        if !p.lookup_queue.is_empty() && !p.in_lookup_ring {
            p.in_lookup_ring = true;
            self.lookup_ring.push_back(peer);
        }
    }

    // ---------------------------------------------------------------- transmit

    /// The next message to send, round-robin over peers, one message per peer turn.
    pub fn poll_transmit(&mut self, _now: Instant) -> Option<(PeerId, Message)> {
        let max_bytes = self.cfg.max_message_bytes.min(MAX_MESSAGE_BYTES);
        while let Some(peer) = self.tx_ring.pop_front() {
            let Some(p) = self.peers.get_mut(&peer) else {
                continue;
            };
            p.in_tx_ring = false;
            if p.in_flight || !p.has_output() {
                continue;
            }
            let mut msg = Message::default();
            let mut size = 16;
            if !p.out_entries.is_empty() {
                let keys: Vec<Mh> = p
                    .out_entries
                    .keys()
                    .take(MAX_ENTRIES_PER_MESSAGE)
                    .copied()
                    .collect();
                let mut entries = Vec::with_capacity(keys.len());
                for k in keys {
                    if let Some(e) = p.out_entries.remove(&k) {
                        size += e.cid.encoded_len() + 24;
                        entries.push(e);
                    }
                }
                msg.wantlist = Some(Wantlist {
                    entries,
                    full: false,
                });
            }
            while let Some(r) = p.send_queue.front() {
                let cost = r.cost();
                if size + cost > max_bytes && (!msg.blocks.is_empty() || !msg.presences.is_empty())
                {
                    break;
                }
                let Some(r) = p.send_queue.pop_front() else {
                    break;
                };
                p.send_queue_bytes = p.send_queue_bytes.saturating_sub(cost);
                size += cost;
                match r {
                    Response::Block(cid, data) => {
                        p.wants.remove(cid.hash());
                        self.stats.blocks_sent += 1;
                        self.stats.data_sent += data.len() as u64;
                        msg.blocks.push(Payload {
                            prefix: Prefix::of(&cid),
                            data,
                        });
                    }
                    Response::Have(cid) => {
                        p.wants.remove(cid.hash());
                        msg.presences.push(BlockPresence {
                            cid,
                            presence: Presence::Have,
                        });
                    }
                    Response::DontHave(cid) => {
                        if let Some(w) = p.wants.get_mut(cid.hash()) {
                            w.parked = true;
                        }
                        msg.presences.push(BlockPresence {
                            cid,
                            presence: Presence::DontHave,
                        });
                    }
                }
            }
            p.in_flight = true;
            p.in_flight_bytes = size;
            if !p.lookup_queue.is_empty() && !p.in_lookup_ring {
                p.in_lookup_ring = true;
                self.lookup_ring.push_back(peer);
            }
            return Some((peer, msg));
        }
        None
    }

    /// The message last returned for `peer` was written.
    pub fn on_sent(&mut self, peer: PeerId) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.in_flight = false;
            p.in_flight_bytes = 0;
            if !p.lookup_queue.is_empty() && !p.in_lookup_ring {
                p.in_lookup_ring = true;
                self.lookup_ring.push_back(peer);
            }
            if p.has_output() && !p.in_tx_ring {
                p.in_tx_ring = true;
                self.tx_ring.push_back(peer);
            }
        }
    }

    /// The message last returned for `peer` could not be written (no stream): its asks
    /// count as unanswered and its server state is dropped.
    pub fn on_send_failed(&mut self, now: Instant, peer: PeerId) {
        self.stats.send_failures += 1;
        if let Some(p) = self.peers.get_mut(&peer) {
            p.in_flight = false;
            p.in_flight_bytes = 0;
            p.out_entries.clear();
            p.wants.clear();
            p.lookup_queue.clear();
            p.send_queue.clear();
            p.send_queue_bytes = 0;
        }
        self.peer_gone_from_wants(now, peer);
    }
}

#[cfg(test)]
mod tests {
    use super::super::sim::*;
    use super::*;
    use acorn_storage::cids;

    // ------------------------------------------------------------- server

    fn want_msg(entries: Vec<Entry>, full: bool) -> Message {
        Message {
            wantlist: Some(Wantlist { entries, full }),
            ..Default::default()
        }
    }

    /// Answers every lookup from `store`.
    fn serve(sim: &mut Sim, store: &HashMap<Cid, Vec<u8>>) -> usize {
        let mut n = 0;
        while let Some(l) = sim.core.poll_lookup() {
            n += 1;
            let found = match store.get(&l.cid) {
                Some(d) if l.want_type == WantType::Block => Found::Block(d.clone()),
                Some(_) => Found::Have,
                None => Found::Missing,
            };
            sim.core.on_lookup(l, found);
        }
        n
    }

    #[test]
    fn server_answers_block_have_and_dont_have() {
        let mut sim = Sim::new(Config::default());
        let [p] = peers(1)[..] else { unreachable!() };
        sim.core.on_connected(sim.now, p);
        let (x, xd) = block(10);
        let (y, yd) = block(11);
        let (z, _) = block(12);
        let (q, _) = block(13);
        let store: HashMap<Cid, Vec<u8>> = [(x, xd.clone()), (y, yd)].into_iter().collect();
        sim.core.on_message(
            sim.now,
            p,
            want_msg(
                vec![
                    Entry::want(x, WantType::Block, true),
                    Entry::want(y, WantType::Have, true),
                    Entry::want(z, WantType::Block, true),
                    Entry::want(q, WantType::Block, false),
                ],
                false,
            ),
        );
        assert_eq!(sim.core.peer_wantlist(&p).len(), 4);
        assert_eq!(serve(&mut sim, &store), 4);
        let sent = sim.drain();
        assert_eq!(sent.len(), 1);
        let m = &sent[0].1;
        assert_eq!(m.blocks.len(), 1);
        assert_eq!(m.blocks[0].data, xd);
        assert_eq!(m.blocks[0].prefix.cid_of(&xd), x);
        let mut pres: Vec<(Cid, Presence)> =
            m.presences.iter().map(|b| (b.cid, b.presence)).collect();
        pres.sort_by_key(|(c, _)| c.to_bytes());
        let mut expect = vec![(y, Presence::Have), (z, Presence::DontHave)];
        expect.sort_by_key(|(c, _)| c.to_bytes());
        assert_eq!(pres, expect, "no DONT_HAVE for q: it did not ask");
        // Served wants are gone; the two we lack stay on the peer's wantlist, as boxo
        // keeps them, and are not looked up again...
        let mut left = sim.core.peer_wantlist(&p);
        left.sort_by_key(|c| c.to_bytes());
        let mut lacking = vec![z, q];
        lacking.sort_by_key(|c| c.to_bytes());
        assert_eq!(left, lacking);
        assert_eq!(serve(&mut sim, &store), 0);
        // ...until the peer asks again; a cancel removes one.
        sim.core.on_message(
            sim.now,
            p,
            want_msg(
                vec![Entry::want(z, WantType::Block, true), Entry::cancel(q)],
                false,
            ),
        );
        assert_eq!(serve(&mut sim, &store), 1);
        assert_eq!(sim.core.peer_wantlist(&p), vec![z]);
        let st = sim.core.stats();
        assert_eq!((st.blocks_sent, st.data_sent), (1, xd.len() as u64));
    }

    fn big_block(i: u32, len: usize) -> (Cid, Vec<u8>) {
        let mut data = vec![(i % 251) as u8; len];
        data[..4].copy_from_slice(&i.to_le_bytes());
        (cids::cid_of(1, cids::RAW, &data), data)
    }

    #[test]
    fn server_round_robin_is_fair_and_messages_stay_under_the_limit() {
        let mut sim = Sim::new(Config::default());
        let [a, b] = peers(2)[..] else { unreachable!() };
        let blocks: Vec<(Cid, Vec<u8>)> = (0..8).map(|i| big_block(i, 1_500_000)).collect();
        let store: HashMap<Cid, Vec<u8>> = blocks.iter().cloned().collect();
        for p in [a, b] {
            let entries = blocks
                .iter()
                .map(|(c, _)| Entry::want(*c, WantType::Block, false))
                .collect();
            sim.core.on_message(sim.now, p, want_msg(entries, false));
        }
        let mut order = Vec::new();
        for _ in 0..100 {
            serve(&mut sim, &store);
            match sim.core.poll_transmit(sim.now) {
                Some((p, m)) => {
                    assert!(
                        m.encode(crate::bitswap::wire::Version::V1_2_0).len() <= MAX_MESSAGE_BYTES
                    );
                    order.push((p, m.blocks.len()));
                    sim.core.on_sent(p);
                }
                None => break,
            }
        }
        let total: usize = order.iter().map(|(_, n)| n).sum();
        assert_eq!(total, 16);
        // Turns alternate between the two peers.
        for w in order.windows(2) {
            assert_ne!(w[0].0, w[1].0, "round-robin: {order:?}");
        }
        assert!(
            order.iter().all(|(_, n)| *n <= 2),
            "1.5 MB blocks: ≤ 2 per 4 MiB message"
        );
    }

    #[test]
    fn server_send_queue_is_bounded_and_lookups_wait_for_room() {
        let mut sim = Sim::new(Config {
            max_peer_send_queue_bytes: 3 << 20,
            ..Config::default()
        });
        let [p] = peers(1)[..] else { unreachable!() };
        let blocks: Vec<(Cid, Vec<u8>)> = (0..10).map(|i| big_block(i, 1 << 20)).collect();
        let store: HashMap<Cid, Vec<u8>> = blocks.iter().cloned().collect();
        let entries = blocks
            .iter()
            .map(|(c, _)| Entry::want(*c, WantType::Block, false))
            .collect();
        sim.core.on_message(sim.now, p, want_msg(entries, false));
        // Lookups reserve MAX_BLOCK_BYTES each: one at a time, then queued bytes count.
        let first = serve(&mut sim, &store);
        assert!((1..=3).contains(&first), "bounded by the queue: {first}");
        let mut sent_blocks = 0;
        for _ in 0..50 {
            serve(&mut sim, &store);
            let Some((peer, m)) = sim.core.poll_transmit(sim.now) else {
                break;
            };
            sent_blocks += m.blocks.len();
            sim.core.on_sent(peer);
        }
        assert_eq!(sent_blocks, 10, "everything goes out as the queue drains");
    }

    #[test]
    fn server_memory_is_bounded_over_all_peers_including_in_flight() {
        let cfg = Config {
            max_server_queued_bytes: 8 << 20,
            ..Config::default()
        };
        let global = cfg.max_server_queued_bytes;
        let mut sim = Sim::new(cfg);
        let ps = peers(8);
        let blocks: Vec<(Cid, Vec<u8>)> = (0..4).map(|i| big_block(i, 1 << 20)).collect();
        let store: HashMap<Cid, Vec<u8>> = blocks.iter().cloned().collect();
        for p in &ps {
            let entries = blocks
                .iter()
                .map(|(c, _)| Entry::want(*c, WantType::Block, false))
                .collect();
            sim.core.on_message(sim.now, *p, want_msg(entries, false));
        }
        // Messages go out but are never acknowledged: they stay in flight.
        let mut in_flight = Vec::new();
        for _ in 0..100 {
            serve(&mut sim, &store);
            while let Some((p, m)) = sim.core.poll_transmit(sim.now) {
                in_flight.push((p, m));
            }
            let held: usize = sim.core.peers.values().map(Peer::server_bytes).sum();
            assert!(
                held <= global + MAX_BLOCK_BYTES,
                "{held} bytes held over {global}"
            );
        }
        let sent: usize = in_flight.iter().map(|(_, m)| m.blocks.len()).sum();
        assert!(
            sent < 8 * 4,
            "lookups stopped while messages were in flight"
        );
        assert!(sim.core.stats().server_queue_full > 0);
        // Acknowledging frees room; everything goes out in the end.
        let mut total = sent;
        for _ in 0..200 {
            for (p, _) in in_flight.drain(..) {
                sim.core.on_sent(p);
            }
            serve(&mut sim, &store);
            while let Some((p, m)) = sim.core.poll_transmit(sim.now) {
                total += m.blocks.len();
                in_flight.push((p, m));
            }
        }
        assert_eq!(total, 8 * 4);
    }

    #[test]
    fn server_cancel_and_full_wantlist() {
        let mut sim = Sim::new(Config::default());
        let [p] = peers(1)[..] else { unreachable!() };
        let (x, xd) = block(20);
        let (y, _) = block(21);
        let store: HashMap<Cid, Vec<u8>> = [(x, xd)].into_iter().collect();
        sim.core.on_message(
            sim.now,
            p,
            want_msg(vec![Entry::want(x, WantType::Block, false)], false),
        );
        serve(&mut sim, &store);
        // Cancel arrives before we sent: the queued block is dropped.
        sim.core
            .on_message(sim.now, p, want_msg(vec![Entry::cancel(x)], false));
        assert!(sim.drain().is_empty());
        // A full wantlist replaces the old one.
        sim.core.on_message(
            sim.now,
            p,
            want_msg(vec![Entry::want(x, WantType::Have, false)], false),
        );
        sim.core.on_message(
            sim.now,
            p,
            want_msg(vec![Entry::want(y, WantType::Have, false)], true),
        );
        assert_eq!(sim.core.peer_wantlist(&p), vec![y]);
    }

    #[test]
    fn peer_wantlist_is_bounded() {
        let mut sim = Sim::new(Config {
            max_peer_wantlist_entries: 4,
            ..Config::default()
        });
        let [p] = peers(1)[..] else { unreachable!() };
        let entries = (0..10)
            .map(|i| Entry::want(block(i).0, WantType::Have, false))
            .collect();
        sim.core.on_message(sim.now, p, want_msg(entries, false));
        assert_eq!(sim.core.peer_wantlist(&p).len(), 4);
        assert_eq!(sim.core.stats().peer_wantlist_overflow, 6);
        // Once answered "not here", those four are parked and make room for new wants.
        assert_eq!(serve(&mut sim, &HashMap::new()), 4);
        let entries = (10..13)
            .map(|i| Entry::want(block(i).0, WantType::Have, false))
            .collect();
        sim.core.on_message(sim.now, p, want_msg(entries, false));
        assert_eq!(sim.core.peer_wantlist(&p).len(), 4);
        assert_eq!(sim.core.stats().peer_wantlist_overflow, 6);
    }

    #[test]
    fn one_message_in_flight_per_peer() {
        let mut sim = Sim::new(Config::default());
        let [a] = peers(1)[..] else { unreachable!() };
        let s = sim.core.new_session().unwrap();
        sim.core.add_providers(sim.now, s, &[a]);
        sim.core.want(sim.now, s, &[block(1).0]).unwrap();
        let (p, _) = sim.core.poll_transmit(sim.now).unwrap();
        sim.core.want(sim.now, s, &[block(2).0]).unwrap();
        assert!(sim.core.poll_transmit(sim.now).is_none(), "in flight");
        sim.core.on_sent(p);
        let (_, m) = sim.core.poll_transmit(sim.now).unwrap();
        assert_eq!(m.wantlist.unwrap().entries[0].cid, block(2).0);
    }
}
