//! Client wants: each want's asks (want-have / want-block per peer), stepped on
//! every answer and timeout, its blocks checked against their hash, and the recent
//! wants that make late duplicates harmless (steps 1–4 of the module doc of
//! `core.rs`).

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AskState {
    /// want-have sent, no answer yet.
    HavePending,
    /// want-block sent, no block yet.
    BlockPending,
    /// Answered HAVE, not asked for the block yet.
    Has,
    DontHave,
    TimedOut,
}

#[derive(Debug)]
pub(super) struct Asked {
    pub(super) peer: PeerId,
    pub(super) state: AskState,
    pub(super) since: Instant,
}

impl Asked {
    /// Still expected to answer or serve (not refused).
    pub(super) fn is_live(&self) -> bool {
        matches!(
            self.state,
            AskState::HavePending | AskState::BlockPending | AskState::Has
        )
    }
}

#[derive(Debug)]
pub(super) struct Want {
    pub(super) cid: Cid,
    pub(super) sessions: Vec<SessionId>,
    pub(super) created: Instant,
    /// Live asks, then refused ones (bounded: see `Config::max_refused_per_want`).
    pub(super) asked: Vec<Asked>,
    /// When we last asked the node for providers of this want.
    pub(super) last_find: Option<Instant>,
    pub(super) next_check: Instant,
}

impl Core {
    /// Wants `cids` for `session`. All or nothing when the want table is full.
    pub fn want(
        &mut self,
        now: Instant,
        session: SessionId,
        cids: &[Cid],
    ) -> Result<(), CoreError> {
        if !self.sessions.contains_key(&session) {
            return Err(CoreError::UnknownSession(session));
        }
        // Blocks are verified by hashing with sha2-256 (wire prefixes with other hashes
        // are skipped), so another hash could never be served.
        if let Some(cid) = cids.iter().find(|c| c.hash().code() != SHA2_256) {
            return Err(CoreError::UnsupportedHash {
                cid: *cid,
                code: cid.hash().code(),
            });
        }
        let new = cids
            .iter()
            .filter(|c| !self.wants.contains_key(c.hash()))
            .collect::<HashSet<_>>()
            .len();
        if self.wants.len() + new > self.cfg.max_wants {
            return Err(CoreError::TooManyWants {
                live: self.wants.len(),
                new,
                limit: self.cfg.max_wants,
            });
        }
        for cid in cids {
            let mh = *cid.hash();
            if let Some(s) = self.sessions.get_mut(&session) {
                s.wants.insert(mh);
            }
            match self.wants.get_mut(&mh) {
                Some(w) => {
                    if !w.sessions.contains(&session) {
                        w.sessions.push(session);
                    }
                }
                None => {
                    self.wants.insert(
                        mh,
                        Want {
                            cid: *cid,
                            sessions: vec![session],
                            created: now,
                            asked: Vec::new(),
                            last_find: None,
                            next_check: now,
                        },
                    );
                }
            }
            self.step(now, mh);
        }
        Ok(())
    }

    /// Stops wanting `cid` in `session` (cancels on the wire when no session wants it).
    pub fn cancel(&mut self, session: SessionId, cid: &Cid) {
        let mh = *cid.hash();
        if let Some(s) = self.sessions.get_mut(&session) {
            s.wants.remove(&mh);
        }
        self.drop_session_from_want(mh, session);
    }

    pub(super) fn drop_session_from_want(&mut self, mh: Mh, session: SessionId) {
        let Some(w) = self.wants.get_mut(&mh) else {
            return;
        };
        w.sessions.retain(|s| *s != session);
        if w.sessions.is_empty() {
            if let Some(w) = self.wants.remove(&mh) {
                self.remember(mh);
                self.send_cancels(&w, None);
            }
        }
    }

    /// Remembers a block we stopped wanting, so a late copy is a duplicate, not a strike.
    pub(super) fn remember(&mut self, mh: Mh) {
        let cap = self.cfg.recent_blocks_count.max(self.cfg.max_wants);
        if cap == 0 || !self.recent_set.insert(mh) {
            return;
        }
        if self.recent.len() >= cap {
            if let Some(old) = self.recent.pop_front() {
                self.recent_set.remove(&old);
            }
        }
        self.recent.push_back(mh);
    }

    /// Marks asks to `peer` as timed out and moves those wants on.
    pub(super) fn peer_gone_from_wants(&mut self, now: Instant, peer: PeerId) {
        let mut touched = Vec::new();
        for (mh, w) in self.wants.iter_mut() {
            for a in w.asked.iter_mut().filter(|a| a.peer == peer) {
                if matches!(
                    a.state,
                    AskState::HavePending | AskState::BlockPending | AskState::Has
                ) {
                    a.state = AskState::TimedOut;
                    touched.push(*mh);
                }
            }
        }
        for mh in touched {
            self.step(now, mh);
        }
    }

    /// `peer` sent a block that hashes to nothing we want or recently wanted (and is
    /// too large to be a block sent for a want-have). If we had asked it for blocks,
    /// that is a lie: noise authenticates the bytes, so they left the peer this way,
    /// and an honest peer's late or duplicate block is in `recent`. Its want-blocks
    /// will not be served: they are refused now, so those wants move on without
    /// waiting `want_timeout`. Returns whether it had any (the caller bans it).
    pub(super) fn release_block_asks(&mut self, now: Instant, peer: PeerId) -> bool {
        let mut touched = Vec::new();
        for (mh, w) in self.wants.iter_mut() {
            for a in w.asked.iter_mut().filter(|a| a.peer == peer) {
                if a.state == AskState::BlockPending {
                    a.state = AskState::DontHave;
                    touched.push(*mh);
                }
            }
        }
        self.stats.lies += touched.len() as u64;
        let lied = !touched.is_empty();
        for mh in touched {
            self.step(now, mh);
        }
        lied
    }

    pub(super) fn queue_entry(&mut self, peer: PeerId, entry: Entry) {
        let mh = *entry.cid.hash();
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        p.out_entries.insert(mh, entry);
        if !p.in_tx_ring && !p.in_flight {
            p.in_tx_ring = true;
            self.tx_ring.push_back(peer);
        }
    }

    pub(super) fn send_cancels(&mut self, w: &Want, except: Option<PeerId>) {
        for a in &w.asked {
            if Some(a.peer) == except {
                // It sent the block: drop whatever we had queued for it.
                if let Some(p) = self.peers.get_mut(&a.peer) {
                    p.out_entries.remove(w.cid.hash());
                }
                continue;
            }
            self.queue_entry(a.peer, Entry::cancel(w.cid));
        }
    }

    /// Moves one want along: expire asks, ask for the block, ask new candidates, ask for
    /// providers, or fail.
    pub(super) fn step(&mut self, now: Instant, mh: Mh) {
        let timeout = self.cfg.want_timeout;
        let Some(w) = self.wants.get_mut(&mh) else {
            return;
        };
        if now >= w.created + self.cfg.want_deadline {
            self.fail(mh);
            return;
        }
        for a in w.asked.iter_mut() {
            if matches!(a.state, AskState::HavePending | AskState::BlockPending)
                && now >= a.since + timeout
            {
                a.state = AskState::TimedOut;
                self.stats.ask_timeouts += 1;
            }
        }
        let cid = w.cid;
        let mut sends: Vec<(PeerId, WantType)> = Vec::new();
        let mut block_pending = w.asked.iter().any(|a| a.state == AskState::BlockPending);
        if !block_pending {
            if let Some(a) = w.asked.iter_mut().find(|a| a.state == AskState::Has) {
                a.state = AskState::BlockPending;
                a.since = now;
                block_pending = true;
                sends.push((a.peer, WantType::Block));
            }
        }

        // Nobody asked is still expected to answer (all refused, timed out or gone).
        let no_live = !w.asked.iter().any(Asked::is_live);
        let asked: Vec<PeerId> = w.asked.iter().map(|a| a.peer).collect();
        // Candidates from every session that wants this block.
        let sessions = w.sessions.clone();
        let mut candidates: Vec<PeerId> = Vec::new();
        for sid in &sessions {
            let n = self.cfg.initial_broadcast_peers;
            let Some(s) = self.sessions.get_mut(sid) else {
                continue;
            };
            if !s.got_block && s.peers.is_empty() && s.broadcast.is_empty() {
                let conn = &self.connected;
                if !conn.is_empty() {
                    let take = n.min(conn.len());
                    for i in 0..take {
                        s.broadcast
                            .push(conn[(self.broadcast_cursor + i) % conn.len()]);
                    }
                    self.broadcast_cursor = (self.broadcast_cursor + take) % conn.len();
                }
            } else if no_live
                && (s.got_block || s.peers.is_empty())
                && s.peers
                    .iter()
                    .chain(&s.broadcast)
                    .all(|p| asked.contains(p))
                && s.broadcast.len() < self.cfg.max_broadcast_peers
            {
                // Widen by the next `n` connected peers this session has not asked:
                // before the first block when nobody had it, and after it when every
                // session peer refused this want or is gone (killed, stalled), so the
                // wants of a dead peer move to the connected peers that may have them.
                let conn = &self.connected;
                let room = self.cfg.max_broadcast_peers - s.broadcast.len();
                let mut added = 0;
                for i in 0..conn.len() {
                    if added == n.min(room) {
                        break;
                    }
                    let p = conn[(self.broadcast_cursor + i) % conn.len()];
                    if !s.broadcast.contains(&p) {
                        s.broadcast.push(p);
                        added += 1;
                    }
                }
                if !conn.is_empty() {
                    self.broadcast_cursor = (self.broadcast_cursor + added) % conn.len();
                }
            }
            // Session focus: once it has a block, the session asks its own peers, and
            // the connected peers only when every one asked refused this want.
            let wide = !s.got_block || (no_live && s.peers.iter().all(|p| asked.contains(p)));
            for p in s
                .peers
                .iter()
                .chain(if wide { s.broadcast.iter() } else { [].iter() })
            {
                if !candidates.contains(p) {
                    candidates.push(*p);
                }
            }
        }
        let Some(w) = self.wants.get_mut(&mh) else {
            return;
        };
        let max_live = self.cfg.max_session_peers + self.cfg.initial_broadcast_peers;
        let max_refused = self.cfg.max_refused_per_want;
        let mut live = w.asked.iter().filter(|a| a.is_live()).count();
        for p in candidates {
            if live >= max_live {
                break;
            }
            if w.asked.iter().any(|a| a.peer == p) {
                continue;
            }
            // Bound the refused peers kept: forget the oldest.
            if w.asked.len() - live >= max_refused {
                if let Some(i) = w.asked.iter().position(|a| !a.is_live()) {
                    w.asked.remove(i);
                }
            }
            live += 1;
            let first = !block_pending;
            let (state, wt) = if first {
                block_pending = true;
                (AskState::BlockPending, WantType::Block)
            } else {
                (AskState::HavePending, WantType::Have)
            };
            w.asked.push(Asked {
                peer: p,
                state,
                since: now,
            });
            sends.push((p, wt));
        }
        let waiting = w.asked.iter().any(Asked::is_live);
        let interval = self.cfg.find_providers_interval;
        let mut find = None;
        // Next time something can change for this want.
        let mut next = w.created + self.cfg.want_deadline;
        if !waiting {
            match w.last_find {
                Some(t) if now < t + interval => next = next.min(t + interval),
                _ => {
                    w.last_find = Some(now);
                    next = next.min(now + interval);
                    find = Some(Event::FindProviders {
                        session: sessions.first().copied().unwrap_or_default(),
                        cid,
                    });
                }
            }
        }
        for a in &w.asked {
            if matches!(a.state, AskState::HavePending | AskState::BlockPending) {
                next = next.min(a.since + timeout);
            }
        }
        w.next_check = next;
        for (peer, wt) in sends {
            if wt == WantType::Have {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.asked_have_at = Some(now);
                }
            }
            self.queue_entry(peer, Entry::want(cid, wt, true));
        }
        if let Some(e) = find {
            self.push_event(e);
        }
    }

    pub(super) fn fail(&mut self, mh: Mh) {
        let Some(w) = self.wants.remove(&mh) else {
            return;
        };
        self.stats.wants_failed += 1;
        self.remember(mh);
        for sid in &w.sessions {
            if let Some(s) = self.sessions.get_mut(sid) {
                s.wants.remove(&mh);
            }
            self.push_event(Event::WantFailed {
                session: *sid,
                cid: w.cid,
            });
        }
        self.send_cancels(&w, None);
    }

    pub(super) fn on_block(&mut self, now: Instant, peer: PeerId, payload: Payload) {
        let len = payload.data.len() as u64;
        // Hash once: the prefix says version and codec, the digest comes from the data.
        let version = if payload.prefix.version == 0 { 0 } else { 1 };
        let block = Block::encode(version, payload.prefix.codec, payload.data);
        let mh = *block.cid().hash();
        let Some(w) = self.wants.remove(&mh) else {
            let replaced_have = len <= SMALL_BLOCK_BYTES as u64
                && self
                    .peers
                    .get(&peer)
                    .and_then(|p| p.asked_have_at)
                    .is_some_and(|t| now.saturating_duration_since(t) <= self.cfg.want_deadline);
            if self.recent_set.contains(&mh) || replaced_have {
                self.stats.dup_blks_received += 1;
                self.stats.dup_data_received += len;
            } else {
                self.stats.unwanted_blocks += 1;
                if self.release_block_asks(now, peer) {
                    // Asked for a block, it sent one that is none of ours: no honest
                    // peer does that (see `release_block_asks`).
                    self.ban(now, peer);
                } else {
                    self.strike(now, peer);
                }
            }
            return;
        };
        self.stats.blocks_received += 1;
        self.stats.data_received += len;
        self.remember(mh);
        let block = if block.cid() == &w.cid {
            block
        } else {
            // Same digest, other CID version or codec: report under the CID asked for.
            let (_, data) = block.into_parts();
            match Block::new(w.cid, data) {
                Ok(b) => b,
                Err(_) => {
                    // Cannot happen (same digest), but never panic on input.
                    self.wants.insert(mh, w);
                    return;
                }
            }
        };
        let max = self.cfg.max_session_peers;
        for sid in &w.sessions {
            if let Some(s) = self.sessions.get_mut(sid) {
                s.wants.remove(&mh);
                s.got_block = true;
                s.peers.retain(|p| *p != peer);
                s.peers.push_front(peer);
                s.peers.truncate(max);
            }
        }
        self.send_cancels(&w, Some(peer));
        self.push_event(Event::Block {
            sessions: w.sessions,
            block,
        });
    }

    pub(super) fn on_presence(&mut self, now: Instant, peer: PeerId, p: BlockPresence) {
        let mh = *p.cid.hash();
        let Some(w) = self.wants.get_mut(&mh) else {
            return;
        };
        let Some(a) = w.asked.iter_mut().find(|a| a.peer == peer) else {
            // Presences we never asked for are ignored (not a strike: late answers).
            return;
        };
        match p.presence {
            Presence::Have => {
                if a.state != AskState::BlockPending {
                    a.state = AskState::Has;
                }
                let max = self.cfg.max_session_peers;
                for sid in w.sessions.clone() {
                    if let Some(s) = self.sessions.get_mut(&sid) {
                        if !s.peers.contains(&peer) {
                            if s.peers.len() >= max {
                                s.peers.pop_back();
                            }
                            s.peers.push_back(peer);
                        }
                    }
                }
            }
            Presence::DontHave => a.state = AskState::DontHave,
        }
        self.step(now, mh);
    }
}

#[cfg(test)]
mod tests {
    use super::super::sim::*;
    use super::*;
    use acorn_storage::cids;

    #[test]
    fn dont_have_moves_to_the_peer_that_has() {
        let mut sim = Sim::new(Config::default());
        let [a, b, c] = peers(3)[..] else {
            unreachable!()
        };
        let s = sim.core.new_session().unwrap();
        let (cid, data) = block(1);
        sim.core.want(sim.now, s, &[cid]).unwrap();
        // No peers at all: ask the DHT.
        assert_eq!(sim.events(), vec![Event::FindProviders { session: s, cid }]);
        sim.core.add_providers(sim.now, s, &[a, b, c]);
        let sent = sim.drain();
        assert_eq!(wants_to(&sent, a, WantType::Block), vec![cid]);
        assert_eq!(wants_to(&sent, b, WantType::Have), vec![cid]);
        assert_eq!(wants_to(&sent, c, WantType::Have), vec![cid]);
        assert!(sent
            .iter()
            .flat_map(|(_, m)| m.wantlist.iter().flat_map(|w| w.entries.iter()))
            .all(|e| e.send_dont_have));

        sim.presence(a, &cid, Presence::DontHave);
        assert!(sim.drain().is_empty(), "nobody said HAVE yet: wait");
        sim.presence(c, &cid, Presence::Have);
        let sent = sim.drain();
        assert_eq!(wants_to(&sent, c, WantType::Block), vec![cid]);
        sim.deliver(c, &cid, &data);
        assert!(got_block(&sim.events(), &cid));
        let sent = sim.drain();
        assert_eq!(cancels_to(&sent, a), vec![cid]);
        assert_eq!(cancels_to(&sent, b), vec![cid]);
    }

    #[test]
    fn everyone_dont_have_asks_for_providers_then_fails_at_deadline() {
        let cfg = Config::default();
        let deadline = cfg.want_deadline;
        let mut sim = Sim::new(cfg);
        let [a, b] = peers(2)[..] else { unreachable!() };
        let s = sim.core.new_session().unwrap();
        let (cid, _) = block(2);
        sim.core.add_providers(sim.now, s, &[a, b]);
        sim.core.want(sim.now, s, &[cid]).unwrap();
        sim.drain();
        sim.presence(a, &cid, Presence::DontHave);
        assert!(sim.events().is_empty());
        sim.presence(b, &cid, Presence::DontHave);
        assert_eq!(sim.events(), vec![Event::FindProviders { session: s, cid }]);
        // Nobody found: at the deadline the want fails and is gone.
        sim.advance(deadline);
        assert_eq!(sim.events(), vec![Event::WantFailed { session: s, cid }]);
        assert!(sim.core.wantlist().is_empty());
        assert_eq!(sim.core.poll_timeout(), None);
        assert_eq!(sim.core.stats().wants_failed, 1);
    }

    #[test]
    fn slow_provider_times_out_and_the_next_one_is_asked() {
        let cfg = Config::default();
        let t = cfg.want_timeout;
        let mut sim = Sim::new(cfg);
        let [slow, fast] = peers(2)[..] else {
            unreachable!()
        };
        let s = sim.core.new_session().unwrap();
        sim.core.add_providers(sim.now, s, &[slow, fast]);
        let (cid, data) = block(3);
        sim.core.want(sim.now, s, &[cid]).unwrap();
        let sent = sim.drain();
        assert_eq!(wants_to(&sent, slow, WantType::Block), vec![cid]);
        assert_eq!(wants_to(&sent, fast, WantType::Have), vec![cid]);
        assert_eq!(sim.core.poll_timeout(), Some(sim.now + t));
        sim.presence(fast, &cid, Presence::Have);
        assert!(
            sim.drain().is_empty(),
            "a want-block is outstanding at `slow`"
        );

        sim.advance(t - Duration::from_millis(1));
        assert!(sim.drain().is_empty(), "not yet");
        sim.advance(Duration::from_millis(1));
        let sent = sim.drain();
        assert_eq!(wants_to(&sent, fast, WantType::Block), vec![cid]);
        assert_eq!(sim.core.stats().ask_timeouts, 1);
        sim.deliver(fast, &cid, &data);
        assert!(got_block(&sim.events(), &cid));
        assert_eq!(cancels_to(&sim.drain(), slow), vec![cid]);

        // The slow peer's block arrives late: a duplicate, not a strike.
        sim.deliver(slow, &cid, &data);
        let st = sim.core.stats();
        assert_eq!(st.dup_blks_received, 1);
        assert_eq!(st.unwanted_blocks, 0);
        assert!(sim.events().is_empty());
    }

    /// Wrong blocks from a peer we asked only want-have (never a block) are strikes,
    /// not a ban: past the threshold it is disconnected.
    #[test]
    fn unasked_wrong_blocks_are_strikes_up_to_a_disconnect() {
        let cfg = Config::default();
        let threshold = cfg.misbehaviour_threshold;
        let mut sim = Sim::new(cfg);
        let [honest, pest] = peers(2)[..] else {
            unreachable!()
        };
        sim.core.on_connected(sim.now, honest);
        sim.core.on_connected(sim.now, pest);
        let s = sim.core.new_session().unwrap();
        sim.core.add_providers(sim.now, s, &[honest, pest]);
        let (cid, data) = block(4);
        sim.core.want(sim.now, s, &[cid]).unwrap();
        let sent = sim.drain();
        assert_eq!(wants_to(&sent, pest, WantType::Have), vec![cid]);

        // Wrong bytes under the right prefix: hashed, matches nothing, rejected.
        sim.deliver(pest, &cid, &[1u8; SMALL_BLOCK_BYTES + 1]);
        assert!(sim.events().is_empty());
        assert_eq!(sim.core.stats().unwanted_blocks, 1);
        assert_eq!(sim.core.wantlist(), vec![cid], "still wanted");
        sim.deliver(honest, &cid, &data);
        assert!(got_block(&sim.events(), &cid));

        for i in 1..threshold {
            sim.deliver(pest, &cid, &[i as u8 + 1; SMALL_BLOCK_BYTES + 1]);
        }
        assert_eq!(sim.events(), vec![Event::Disconnect { peer: pest }]);
        let st = sim.core.stats();
        assert_eq!(st.unwanted_blocks, u64::from(threshold));
        assert_eq!(st.peers_disconnected, 1);
        assert_eq!(st.blocks_received, 1);
        assert_eq!(st.lies, 0);
    }

    /// A liar answers its want-block with wrong bytes: it is banned at once, its
    /// want moves on without waiting `want_timeout`, a reconnect is disconnected
    /// again, a provider record naming it is ignored and its messages are dropped,
    /// until the ban ends. Unasked wrong blocks from a peer we never asked for a block
    /// are only strikes.
    #[test]
    fn liar_is_banned_at_once_and_not_asked_again() {
        let cfg = Config::default();
        let ban = cfg.ban_duration;
        let mut sim = Sim::new(cfg);
        let [liar, honest, pest] = peers(3)[..] else {
            unreachable!()
        };
        sim.core.on_connected(sim.now, liar);
        sim.core.on_connected(sim.now, honest);
        sim.core.on_connected(sim.now, pest);
        let s = sim.core.new_session().unwrap();
        sim.core.add_providers(sim.now, s, &[liar, honest]);
        let (c1, d1) = block(40);
        sim.core.want(sim.now, s, &[c1]).unwrap();
        let sent = sim.drain();
        assert_eq!(wants_to(&sent, liar, WantType::Block), vec![c1]);
        assert_eq!(wants_to(&sent, honest, WantType::Have), vec![c1]);
        sim.presence(honest, &c1, Presence::Have);
        assert!(
            sim.drain().is_empty(),
            "the liar's want-block is outstanding"
        );

        // Wrong bytes over the small-block size, under the right prefix.
        sim.deliver(liar, &c1, &[7u8; SMALL_BLOCK_BYTES + 1]);
        assert_eq!(sim.events(), vec![Event::Disconnect { peer: liar }]);
        let sent = sim.drain();
        assert_eq!(
            wants_to(&sent, honest, WantType::Block),
            vec![c1],
            "no want_timeout wait after a lie"
        );
        let st = sim.core.stats();
        assert_eq!((st.lies, st.peers_disconnected), (1, 1));
        assert!(!sim.core.connected_peers().contains(&liar));
        sim.deliver(honest, &c1, &d1);
        assert!(got_block(&sim.events(), &c1));

        // It comes back: refused, never asked.
        sim.core.on_connected(sim.now, liar);
        assert_eq!(sim.events(), vec![Event::Refused { peer: liar }]);
        sim.core.add_providers(sim.now, s, &[liar]);
        let (c2, _) = block(41);
        sim.core.want(sim.now, s, &[c2]).unwrap();
        sim.presence(liar, &c2, Presence::Have);
        let sent = sim.drain();
        assert_eq!(wants_to(&sent, honest, WantType::Block), vec![c2]);
        assert!(entries(&sent).iter().all(|(p, ..)| *p != liar));
        assert_eq!(sim.core.stats().banned_refused, 2);

        // A peer we never asked for a block sends a wrong one: a strike, no ban.
        sim.deliver(pest, &c2, &[8u8; SMALL_BLOCK_BYTES + 1]);
        assert!(sim.events().is_empty());
        assert!(sim.core.connected_peers().contains(&pest));

        // The ban ends: it may connect again.
        sim.now += ban;
        sim.core.on_connected(sim.now, liar);
        assert!(sim.events().is_empty());
        assert!(sim.core.connected_peers().contains(&liar));
    }

    /// A staller says HAVE to everything and never sends a block. Each want it holds
    /// moves to the honest peer after `want_timeout`, and once the honest peer has
    /// served, the staller is never asked for a block first again.
    #[test]
    fn stallers_wants_move_on_after_want_timeout_and_it_is_not_first_again() {
        let cfg = Config::default();
        let t = cfg.want_timeout;
        let mut sim = Sim::new(cfg);
        let [staller, honest] = peers(2)[..] else {
            unreachable!()
        };
        let s = sim.core.new_session().unwrap();
        sim.core.add_providers(sim.now, s, &[staller, honest]);
        let (c1, d1) = block(50);
        sim.core.want(sim.now, s, &[c1]).unwrap();
        let sent = sim.drain();
        assert_eq!(wants_to(&sent, staller, WantType::Block), vec![c1]);
        sim.presence(staller, &c1, Presence::Have);
        sim.presence(honest, &c1, Presence::Have);
        assert!(
            sim.drain().is_empty(),
            "the staller's want-block is outstanding"
        );
        sim.advance(t);
        let sent = sim.drain();
        assert_eq!(wants_to(&sent, honest, WantType::Block), vec![c1]);
        assert_eq!(sim.core.stats().ask_timeouts, 1);
        sim.deliver(honest, &c1, &d1);
        assert!(got_block(&sim.events(), &c1));
        let children: Vec<(Cid, Vec<u8>)> = (51..61).map(block).collect();
        let cids: Vec<Cid> = children.iter().map(|c| c.0).collect();
        sim.core.want(sim.now, s, &cids).unwrap();
        let sent = sim.drain();
        assert_eq!(wants_to(&sent, honest, WantType::Block).len(), 10);
        assert!(wants_to(&sent, staller, WantType::Block).is_empty());
    }

    #[test]
    fn disconnect_of_the_asked_peer_moves_on() {
        let mut sim = Sim::new(Config::default());
        let [a, b] = peers(2)[..] else { unreachable!() };
        let s = sim.core.new_session().unwrap();
        sim.core.add_providers(sim.now, s, &[a, b]);
        let (cid, _) = block(5);
        sim.core.want(sim.now, s, &[cid]).unwrap();
        sim.drain();
        sim.presence(b, &cid, Presence::Have);
        sim.core.on_disconnected(sim.now, a);
        let sent = sim.drain();
        assert_eq!(wants_to(&sent, b, WantType::Block), vec![cid]);
    }

    /// The session's serving peer dies (connection closed) or stalls (no answer)
    /// mid-fetch, and the other connected peers answered HAVE for the first block only
    /// after it arrived, so they never became session peers: the dead peer's wants
    /// move to them at once on the disconnect, after `want_timeout` on the stall, and
    /// wants made after the disconnect go to them too.
    #[test]
    fn wants_of_a_dead_or_stalled_session_peer_move_to_connected_peers() {
        for stall in [false, true] {
            let cfg = Config::default();
            let t = cfg.want_timeout;
            let mut sim = Sim::new(cfg);
            let ps = peers(3);
            for p in &ps {
                sim.core.on_connected(sim.now, *p);
            }
            let s = sim.core.new_session().unwrap();
            let (root, root_data) = block(60);
            sim.core.want(sim.now, s, &[root]).unwrap();
            let sent = sim.drain();
            let server = *ps
                .iter()
                .find(|p| wants_to(&sent, **p, WantType::Block) == vec![root])
                .unwrap();
            let others: Vec<PeerId> = ps.iter().copied().filter(|p| *p != server).collect();
            sim.deliver(server, &root, &root_data);
            for p in &others {
                sim.presence(*p, &root, Presence::Have);
            }
            assert!(got_block(&sim.events(), &root));
            sim.drain();

            let children: Vec<(Cid, Vec<u8>)> = (61..65).map(block).collect();
            let cids: Vec<Cid> = children.iter().map(|c| c.0).collect();
            sim.core.want(sim.now, s, &cids).unwrap();
            let sent = sim.drain();
            assert!(sent.iter().all(|(p, _)| *p == server), "session focus");

            if stall {
                sim.advance(t);
            } else {
                sim.core.on_disconnected(sim.now, server);
            }
            let sent = sim.drain();
            for (cid, data) in &children {
                let to = others
                    .iter()
                    .find(|p| wants_to(&sent, **p, WantType::Block).contains(cid));
                let Some(to) = to else {
                    panic!("stall={stall}: {cid} went nowhere: {sent:?}");
                };
                sim.deliver(*to, cid, data);
                assert!(got_block(&sim.events(), cid), "stall={stall}");
            }
            if !stall {
                let (late, late_data) = block(70);
                sim.core.want(sim.now, s, &[late]).unwrap();
                let sent = sim.drain();
                let to = others
                    .iter()
                    .find(|p| wants_to(&sent, **p, WantType::Block) == vec![late]);
                let Some(to) = to else {
                    panic!("a want made after the disconnect went nowhere: {sent:?}");
                };
                sim.deliver(*to, &late, &late_data);
                assert!(got_block(&sim.events(), &late));
            }
        }
    }

    #[test]
    fn block_after_cancel_is_a_duplicate_not_a_strike() {
        let mut sim = Sim::new(Config::default());
        let [a] = peers(1)[..] else { unreachable!() };
        let s = sim.core.new_session().unwrap();
        sim.core.add_providers(sim.now, s, &[a]);
        let (cid, data) = block(7);
        sim.core.want(sim.now, s, &[cid]).unwrap();
        sim.drain();
        sim.core.close_session(s);
        sim.deliver(a, &cid, &data);
        let st = sim.core.stats();
        assert_eq!((st.dup_blks_received, st.unwanted_blocks), (1, 0));
        // A block nobody ever wanted is a strike.
        let (other, odata) = block(8);
        sim.deliver(a, &other, &odata);
        assert_eq!(sim.core.stats().unwanted_blocks, 1);
        assert!(sim.events().is_empty());
    }

    #[test]
    fn late_blocks_for_many_finished_wants_are_duplicates_not_strikes() {
        let mut sim = Sim::new(Config::default());
        let [a, b] = peers(2)[..] else { unreachable!() };
        sim.core.on_connected(sim.now, a);
        sim.core.on_connected(sim.now, b);
        let s = sim.core.new_session().unwrap();
        sim.core.add_providers(sim.now, s, &[a, b]);
        let blocks: Vec<(Cid, Vec<u8>)> = (100..400).map(block).collect();
        for (cid, _) in &blocks {
            sim.core.want(sim.now, s, &[*cid]).unwrap();
        }
        sim.drain();
        for (cid, data) in &blocks {
            sim.deliver(a, cid, data);
        }
        assert_eq!(sim.events().len(), 300);
        // `b` was sent want-haves and answers them late with the (small) blocks.
        for (cid, data) in &blocks {
            sim.deliver(b, cid, data);
        }
        let st = sim.core.stats();
        assert_eq!((st.dup_blks_received, st.unwanted_blocks), (300, 0));
        assert!(sim.events().is_empty(), "no disconnect");
    }

    #[test]
    fn small_unknown_block_is_a_strike_only_from_a_peer_never_sent_want_have() {
        let mut sim = Sim::new(Config::default());
        let [a, b, c] = peers(3)[..] else {
            unreachable!()
        };
        let s = sim.core.new_session().unwrap();
        sim.core.add_providers(sim.now, s, &[a, b]);
        let (cid, _) = block(40);
        sim.core.want(sim.now, s, &[cid]).unwrap();
        sim.drain();
        // `b` got a want-have: a small block we never wanted is at worst a duplicate.
        let (other, odata) = block(41);
        sim.deliver(b, &other, &odata);
        assert_eq!(sim.core.stats().unwanted_blocks, 0);
        // `c` was never asked anything: a strike.
        sim.deliver(c, &other, &odata);
        assert_eq!(sim.core.stats().unwanted_blocks, 1);
    }

    #[test]
    fn want_refuses_hashes_other_than_sha2_256() {
        let mut sim = Sim::new(Config::default());
        let s = sim.core.new_session().unwrap();
        let blake3 = Cid::new_v1(
            cids::RAW,
            cid::multihash::Multihash::<64>::wrap(0x1e, &[1u8; 32]).unwrap(),
        );
        let (ok, _) = block(50);
        assert_eq!(
            sim.core.want(sim.now, s, &[ok, blake3]),
            Err(CoreError::UnsupportedHash {
                cid: blake3,
                code: 0x1e
            })
        );
        assert!(sim.core.wantlist().is_empty(), "all or nothing");
    }

    #[test]
    fn want_table_is_bounded() {
        let mut sim = Sim::new(Config {
            max_wants: 2,
            max_sessions: 1,
            ..Config::default()
        });
        let s = sim.core.new_session().unwrap();
        assert!(matches!(
            sim.core.new_session(),
            Err(CoreError::TooManySessions { .. })
        ));
        let cids: Vec<Cid> = (0..3).map(|i| block(i).0).collect();
        assert!(matches!(
            sim.core.want(sim.now, s, &cids),
            Err(CoreError::TooManyWants { .. })
        ));
        assert!(sim.core.wantlist().is_empty(), "all or nothing");
        sim.core.want(sim.now, s, &cids[..2]).unwrap();
    }
}
