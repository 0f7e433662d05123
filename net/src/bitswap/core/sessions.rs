//! Client sessions: one per request, each with its candidate peers (peers that
//! served or said HAVE, and providers) and its first-block broadcast set.

use super::*;

#[derive(Debug, Default)]
pub(super) struct Session {
    /// Candidates: peers that served blocks first, then HAVE-sayers and providers.
    pub(super) peers: VecDeque<PeerId>,
    /// Connected peers picked for the first block.
    pub(super) broadcast: Vec<PeerId>,
    pub(super) got_block: bool,
    pub(super) wants: HashSet<Mh>,
}

impl Core {
    // ---------------------------------------------------------------- client API

    /// Opens a session.
    pub fn new_session(&mut self) -> Result<SessionId, CoreError> {
        if self.sessions.len() >= self.cfg.max_sessions {
            return Err(CoreError::TooManySessions {
                limit: self.cfg.max_sessions,
            });
        }
        let id = self.next_session;
        self.next_session += 1;
        self.sessions.insert(id, Session::default());
        Ok(id)
    }

    /// Closes a session, cancelling its wants.
    pub fn close_session(&mut self, session: SessionId) {
        let Some(s) = self.sessions.remove(&session) else {
            return;
        };
        for mh in s.wants {
            self.drop_session_from_want(mh, session);
        }
    }

    /// Adds providers (from the DHT, or known peers) as candidates of `session`.
    pub fn add_providers(&mut self, now: Instant, session: SessionId, peers: &[PeerId]) {
        let max = self.cfg.max_session_peers;
        let mut added = Vec::new();
        for &peer in peers {
            if self.is_banned(now, &peer) || !self.ensure_peer(peer) {
                continue;
            }
            added.push(peer);
        }
        let Some(s) = self.sessions.get_mut(&session) else {
            return;
        };
        for &peer in &added {
            if s.peers.contains(&peer) {
                continue;
            }
            if s.peers.len() >= max {
                s.peers.pop_back();
            }
            s.peers.push_back(peer);
        }
        let mhs: Vec<Mh> = s.wants.iter().copied().collect();
        for mh in mhs {
            // A provider that never answered is asked again: the DHT says it has the
            // block, and its answer may have been lost (libp2p-stream drops an inbound
            // stream when the previous one is still waiting to be accepted). Once per
            // lookup, so at most once per `find_providers_interval`.
            if let Some(w) = self.wants.get_mut(&mh) {
                w.asked.retain(|a| {
                    !(matches!(a.state, AskState::TimedOut) && added.contains(&a.peer))
                });
            }
            self.step(now, mh);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::sim::*;
    use super::*;

    #[test]
    fn no_broadcast_with_20_connected_peers_and_session_focus() {
        let mut sim = Sim::new(Config::default());
        let ps = peers(20);
        for p in &ps {
            sim.core.on_connected(sim.now, *p);
        }
        let s = sim.core.new_session().unwrap();
        let (root, root_data) = block(0);
        sim.core.want(sim.now, s, &[root]).unwrap();
        let sent = sim.drain();
        let mut per_peer: HashMap<PeerId, usize> = HashMap::new();
        for (p, _) in &sent {
            *per_peer.entry(*p).or_default() += 1;
        }
        assert_eq!(per_peer.len(), 3, "only initial_broadcast_peers are asked");
        let blockers: Vec<_> = ps
            .iter()
            .filter(|p| !wants_to(&sent, **p, WantType::Block).is_empty())
            .collect();
        assert_eq!(blockers.len(), 1, "want-block to the first candidate only");
        let server = *blockers[0];
        let asked: Vec<PeerId> = per_peer.keys().copied().collect();

        sim.deliver(server, &root, &root_data);
        assert!(got_block(&sim.events(), &root));
        let sent = sim.drain();
        for p in asked.iter().filter(|p| **p != server) {
            assert_eq!(
                cancels_to(&sent, *p),
                vec![root],
                "cancel to every other peer asked"
            );
        }
        assert!(cancels_to(&sent, server).is_empty());

        // Children go only to the peer that served the root (session focus).
        let children: Vec<(Cid, Vec<u8>)> = (1..=10).map(block).collect();
        let cids: Vec<Cid> = children.iter().map(|c| c.0).collect();
        sim.core.want(sim.now, s, &cids).unwrap();
        let sent = sim.drain();
        assert!(
            sent.iter().all(|(p, _)| *p == server),
            "focus on the serving peer"
        );
        assert_eq!(wants_to(&sent, server, WantType::Block).len(), 10);
        for (c, d) in &children {
            sim.deliver(server, c, d);
        }
        let ev = sim.events();
        assert_eq!(ev.len(), 10);
        let sent = sim.drain();
        assert!(
            sent.is_empty(),
            "nothing to cancel: only the server was asked"
        );

        // Over the whole fetch, 17 of 20 connected peers never heard from us.
        let untouched = ps.iter().filter(|p| !asked.contains(p)).count();
        assert_eq!(untouched, 17);
        let st = sim.core.stats();
        assert_eq!(st.blocks_received, 11);
        assert_eq!(st.wantlist_len, 0);
    }

    /// With 20 connected peers and the block only at the last one, the session widens
    /// by `initial_broadcast_peers` each time everyone asked refused, asks every peer
    /// at most once, and then focuses on the peer that had it.
    #[test]
    fn first_block_widens_in_rounds_when_everyone_refuses() {
        let mut sim = Sim::new(Config::default());
        let ps = peers(20);
        for p in &ps {
            sim.core.on_connected(sim.now, *p);
        }
        let holder = ps[19];
        let s = sim.core.new_session().unwrap();
        let (root, root_data) = block(40);
        sim.core.want(sim.now, s, &[root]).unwrap();
        let mut asked: HashMap<PeerId, usize> = HashMap::new();
        let mut rounds = 0;
        loop {
            let sent = sim.drain();
            let round: Vec<PeerId> = entries(&sent)
                .into_iter()
                .filter(|(_, c, _, cancel)| *c == root && !cancel)
                .map(|(p, ..)| p)
                .collect();
            if round.is_empty() {
                break;
            }
            rounds += 1;
            assert!(
                round.len() <= 3,
                "at most initial_broadcast_peers per round"
            );
            for p in &round {
                *asked.entry(*p).or_default() += 1;
            }
            if round.contains(&holder) {
                sim.deliver(holder, &root, &root_data);
                break;
            }
            for p in round {
                sim.presence(p, &root, Presence::DontHave);
            }
        }
        assert!(
            got_block(&sim.events(), &root),
            "found after {rounds} rounds"
        );
        assert!(
            asked.values().all(|n| *n == 1),
            "each peer asked once: {asked:?}"
        );
        assert_eq!(rounds, 7, "20 peers in rounds of 3");
        // Cancels go to everyone else who was asked.
        let sent = sim.drain();
        for p in asked.keys().filter(|p| **p != holder) {
            assert_eq!(cancels_to(&sent, *p), vec![root]);
        }
        // Later blocks go to the holder only.
        let (child, _) = block(41);
        sim.core.want(sim.now, s, &[child]).unwrap();
        assert!(sim.drain().iter().all(|(p, _)| *p == holder));
    }

    #[test]
    fn widening_stops_at_max_broadcast_peers() {
        let mut sim = Sim::new(Config {
            max_broadcast_peers: 6,
            ..Config::default()
        });
        let ps = peers(20);
        for p in &ps {
            sim.core.on_connected(sim.now, *p);
        }
        let s = sim.core.new_session().unwrap();
        let (cid, _) = block(42);
        sim.core.want(sim.now, s, &[cid]).unwrap();
        let mut asked = Vec::new();
        for _ in 0..10 {
            let sent = sim.drain();
            let round: Vec<PeerId> = entries(&sent)
                .into_iter()
                .filter(|(_, c, _, cancel)| *c == cid && !cancel)
                .map(|(p, ..)| p)
                .collect();
            for p in &round {
                sim.presence(*p, &cid, Presence::DontHave);
            }
            asked.extend(round);
        }
        assert_eq!(asked.len(), 6, "{asked:?}");
    }

    #[test]
    fn a_silent_provider_found_again_is_asked_again() {
        let cfg = Config::default();
        let t = cfg.want_timeout;
        let mut sim = Sim::new(cfg);
        let [a] = peers(1)[..] else { unreachable!() };
        let s = sim.core.new_session().unwrap();
        let (cid, data) = block(3);
        sim.core.add_providers(sim.now, s, &[a]);
        sim.core.want(sim.now, s, &[cid]).unwrap();
        assert_eq!(wants_to(&sim.drain(), a, WantType::Block), vec![cid]);
        // Its answer never arrives: after the timeout nobody is live, ask the DHT.
        sim.advance(t);
        assert_eq!(sim.events(), vec![Event::FindProviders { session: s, cid }]);
        sim.drain();
        // The DHT names it again: it is asked again and its block is taken.
        sim.core.add_providers(sim.now, s, &[a]);
        assert_eq!(wants_to(&sim.drain(), a, WantType::Block), vec![cid]);
        sim.deliver(a, &cid, &data);
        assert!(got_block(&sim.events(), &cid));
    }

    #[test]
    fn providers_found_after_refusals_are_asked_and_find_providers_is_rate_limited() {
        let cfg = Config {
            max_session_peers: 2,
            initial_broadcast_peers: 0,
            ..Config::default()
        };
        let interval = cfg.find_providers_interval;
        let mut sim = Sim::new(cfg);
        let [a, b, c, d] = peers(4)[..] else {
            unreachable!()
        };
        let s = sim.core.new_session().unwrap();
        sim.core.add_providers(sim.now, s, &[a, b]);
        let (cid, data) = block(30);
        sim.core.want(sim.now, s, &[cid]).unwrap();
        sim.drain();
        sim.presence(a, &cid, Presence::DontHave);
        sim.presence(b, &cid, Presence::DontHave);
        assert_eq!(sim.events(), vec![Event::FindProviders { session: s, cid }]);
        // A provider found late is asked although two peers were asked before.
        sim.core.add_providers(sim.now, s, &[c]);
        let sent = sim.drain();
        assert_eq!(wants_to(&sent, c, WantType::Block), vec![cid]);
        // It refuses too: no new search before the interval.
        sim.presence(c, &cid, Presence::DontHave);
        assert!(sim.events().is_empty(), "rate-limited");
        sim.advance(interval);
        assert_eq!(sim.events(), vec![Event::FindProviders { session: s, cid }]);
        sim.core.add_providers(sim.now, s, &[d]);
        let sent = sim.drain();
        assert_eq!(wants_to(&sent, d, WantType::Block), vec![cid]);
        sim.deliver(d, &cid, &data);
        assert!(got_block(&sim.events(), &cid));
        // Every peer asked gets the cancel, the refusing ones included.
        let sent = sim.drain();
        for p in [a, b, c] {
            assert_eq!(cancels_to(&sent, p), vec![cid]);
        }
    }

    #[test]
    fn cancel_and_close_session_send_cancels() {
        let mut sim = Sim::new(Config::default());
        let [a] = peers(1)[..] else { unreachable!() };
        let s1 = sim.core.new_session().unwrap();
        let s2 = sim.core.new_session().unwrap();
        sim.core.add_providers(sim.now, s1, &[a]);
        let (cid, _) = block(6);
        sim.core.want(sim.now, s1, &[cid]).unwrap();
        sim.core.want(sim.now, s2, &[cid]).unwrap();
        sim.drain();
        sim.core.cancel(s1, &cid);
        assert!(sim.drain().is_empty(), "s2 still wants it");
        sim.core.close_session(s2);
        assert_eq!(cancels_to(&sim.drain(), a), vec![cid]);
        assert!(sim.core.wantlist().is_empty());
    }
}
