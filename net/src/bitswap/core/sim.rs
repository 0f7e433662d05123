//! Test support for the core's unit tests: a fake clock and a core, with helpers to
//! play the network.

use super::*;
use acorn_storage::cids;

/// A fake clock and a core, with helpers to play the network.
pub(super) struct Sim {
    pub(super) core: Core,
    pub(super) now: Instant,
}
impl Sim {
    pub(super) fn new(cfg: Config) -> Self {
        Sim {
            core: Core::new(cfg),
            now: Instant::now(),
        }
    }
    pub(super) fn advance(&mut self, d: Duration) {
        self.now += d;
        if let Some(t) = self.core.poll_timeout() {
            if t <= self.now {
                self.core.on_timeout(self.now);
            }
        }
    }
    /// Everything the core sends now, each message acknowledged as written.
    pub(super) fn drain(&mut self) -> Vec<(PeerId, Message)> {
        let mut out = Vec::new();
        while let Some((p, m)) = self.core.poll_transmit(self.now) {
            self.core.on_sent(p);
            out.push((p, m));
        }
        out
    }
    pub(super) fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.core.poll_event()).collect()
    }
    pub(super) fn deliver(&mut self, from: PeerId, cid: &Cid, data: &[u8]) {
        let msg = Message {
            blocks: vec![Payload {
                prefix: Prefix::of(cid),
                data: data.to_vec(),
            }],
            ..Default::default()
        };
        self.core.on_message(self.now, from, msg);
    }
    pub(super) fn presence(&mut self, from: PeerId, cid: &Cid, presence: Presence) {
        let msg = Message {
            presences: vec![BlockPresence {
                cid: *cid,
                presence,
            }],
            ..Default::default()
        };
        self.core.on_message(self.now, from, msg);
    }
}

pub(super) fn peers(n: usize) -> Vec<PeerId> {
    (0..n).map(|_| PeerId::random()).collect()
}

pub(super) fn block(i: u32) -> (Cid, Vec<u8>) {
    let data = format!("block number {i}").into_bytes();
    (cids::cid_of(1, cids::RAW, &data), data)
}

/// (peer, cid, want type, cancel) for every entry sent.
pub(super) fn entries(sent: &[(PeerId, Message)]) -> Vec<(PeerId, Cid, WantType, bool)> {
    sent.iter()
        .flat_map(|(p, m)| {
            m.wantlist
                .iter()
                .flat_map(|w| w.entries.iter())
                .map(move |e| (*p, e.cid, e.want_type, e.cancel))
        })
        .collect()
}

pub(super) fn wants_to(sent: &[(PeerId, Message)], peer: PeerId, wt: WantType) -> Vec<Cid> {
    entries(sent)
        .into_iter()
        .filter(|(p, _, w, c)| *p == peer && *w == wt && !c)
        .map(|(_, c, _, _)| c)
        .collect()
}

pub(super) fn cancels_to(sent: &[(PeerId, Message)], peer: PeerId) -> Vec<Cid> {
    entries(sent)
        .into_iter()
        .filter(|(p, _, _, c)| *p == peer && *c)
        .map(|(_, c, _, _)| c)
        .collect()
}

pub(super) fn got_block(events: &[Event], cid: &Cid) -> bool {
    events
        .iter()
        .any(|e| matches!(e, Event::Block { block, .. } if block.cid() == cid))
}
