//! The pipelined DAG walk as a state machine: which blocks to want next, with no
//! I/O.
//!
//! **What.** A [`Walk`] fetches a block and (when it expands) every block below it,
//! keeping up to a [`Window`] of wants in flight, counted in blocks and in bytes. The
//! caller ([`super::Walker`]) turns each [`Action`] into a bitswap want (or a read of
//! a block already stored) and reports the answer with [`Walk::on_arrived`]; the
//! walk never awaits, spawns or reads a clock, so a unit test steps it through a
//! whole DAG with a fake network.
//!
//! **Flow.** Every block waiting to be wanted sits in `pending` under its path from
//! the walk's root (child indices), so the smallest key is the next block of a
//! depth-first, pre-order walk. [`Walk::poll_action`] hands out the smallest pending
//! entries while the window has room. When a block arrives, its children are
//! pending at once, ahead of anything later in the walk: `cat` gets the first blocks
//! of a file first, while a directory's entries are wanted side by side.
//!
//! **Limits.** Wants in flight ≤ [`Window::blocks`]; bytes reserved by them ≤
//! [`Window::bytes`] (each reserves the largest block the walk has seen so far,
//! [`FIRST_BLOCK_ESTIMATE_BYTES`] before the first; one want always goes even if
//! larger). Pending entries ≤ [`Window::pending`] + [`Window::blocks`] + the DAG's
//! depth: when a block's links do not fit, the rest is kept as one cursor entry
//! (parent CID and index) and read again from the stored parent when its turn
//! comes ([`Action::Expand`]), so a node with a million links costs one entry, not a
//! million.
//!
//! **Departures.** A block that appears twice in the DAG is wanted once while the
//! first want is in flight; a later copy is read again (from the store, where the
//! first one put it) and its subtree walked again, as the depth-first walks of the
//! exporter do.

use std::collections::BTreeMap;

use acorn_storage::Cid;

/// Bytes a want reserves before the walk has seen any block: a default chunk of
/// `ipfs add` (262144 bytes) plus its dag-pb framing.
pub const FIRST_BLOCK_ESTIMATE_BYTES: usize = (256 << 10) + 64;

/// How much a walk keeps in flight and queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Wants (and stored-block reads) in flight at once.
    pub blocks: usize,
    /// Bytes the wants in flight may bring at once (estimated, see the module doc).
    pub bytes: usize,
    /// Blocks known and waiting to be wanted (a link each, about 150 bytes).
    pub pending: usize,
}

impl Default for Window {
    fn default() -> Self {
        Window {
            blocks: DEFAULT_WINDOW_BLOCKS,
            bytes: DEFAULT_WINDOW_BYTES,
            pending: DEFAULT_PENDING_COUNT,
        }
    }
}

/// Default [`Window::blocks`] (`Acorn.FetchWindowBlocks`): 32 blocks of 256 KiB
/// keep a 100 ms round trip busy up to 80 MiB/s.
pub const DEFAULT_WINDOW_BLOCKS: usize = 32;
/// Default [`Window::bytes`] (`Acorn.FetchWindowSize`): 8 MiB, the blocks above.
pub const DEFAULT_WINDOW_BYTES: usize = 8 << 20;
/// Default [`Window::pending`] (`Acorn.FetchPendingLinks`): 4096 links, about
/// 600 KiB.
pub const DEFAULT_PENDING_COUNT: usize = 4096;
/// RAM of one queued link of [`Window::pending`]: its CID and its place in the walk.
pub const PENDING_LINK_BYTES: usize = 150;

/// A walk entry's place: child indices from the walk's root (the root is `[]`).
type Key = Vec<u32>;

/// What waits in `pending`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    /// A block to want.
    Want(Cid),
    /// The links of the stored block `parent` from index `from` on (the key's last
    /// element is `from`).
    Links { parent: Cid },
}

/// What the caller must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Get block `cid` (from the store, else the network) and report it with
    /// [`Walk::on_arrived`] and `token`.
    Want { token: u64, cid: Cid },
    /// Read the links of the stored block `parent` (it arrived earlier in this walk)
    /// and report them all with [`Walk::on_arrived`] and `token`.
    Expand { token: u64, parent: Cid },
}

#[derive(Debug)]
struct Flight {
    token: u64,
    cid: Cid,
    key: Key,
    reserved: usize,
    /// An [`Action::Expand`]: the index of the first link to take.
    expand_from: Option<u32>,
}

/// Highest figures a walk reached (for tests and diagnostics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Peaks {
    pub in_flight: usize,
    pub reserved_bytes: usize,
    pub pending: usize,
}

/// One pipelined walk. See the module doc.
#[derive(Debug)]
pub struct Walk {
    root: Cid,
    window: Window,
    expand: bool,
    pending: BTreeMap<Key, Item>,
    flights: Vec<Flight>,
    reserved_bytes: usize,
    largest_block: usize,
    next_token: u64,
    peaks: Peaks,
}

impl Walk {
    /// A walk of `root`: with `expand`, also of every block below it.
    pub fn new(root: Cid, expand: bool, window: Window) -> Walk {
        let mut pending = BTreeMap::new();
        pending.insert(Vec::new(), Item::Want(root));
        Walk {
            root,
            window: Window {
                blocks: window.blocks.max(1),
                bytes: window.bytes.max(1),
                pending: window.pending.max(1),
            },
            expand,
            pending,
            flights: Vec::new(),
            reserved_bytes: 0,
            largest_block: 0,
            next_token: 0,
            peaks: Peaks {
                pending: 1,
                ..Peaks::default()
            },
        }
    }

    /// The block the walk started from.
    pub fn root(&self) -> Cid {
        self.root
    }

    /// Whether blocks below the root are walked.
    pub fn expands(&self) -> bool {
        self.expand
    }

    /// Nothing pending and nothing in flight.
    #[cfg(test)]
    pub fn is_done(&self) -> bool {
        self.pending.is_empty() && self.flights.is_empty()
    }

    /// Wants and reads in flight.
    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.flights.len()
    }

    /// The highest figures so far.
    #[cfg(test)]
    pub fn peaks(&self) -> Peaks {
        self.peaks
    }

    /// Whether `cid` is the walk's next block: wanted and in flight, or first in
    /// line. A block further back (a seek ahead in a file) would wait for everything
    /// before it.
    pub fn wants_next(&self, cid: &Cid) -> bool {
        self.flights
            .iter()
            .any(|f| f.expand_from.is_none() && f.cid == *cid)
            || self
                .pending
                .first_key_value()
                .is_some_and(|(_, i)| *i == Item::Want(*cid))
    }

    fn estimate(&self) -> usize {
        if self.largest_block == 0 {
            FIRST_BLOCK_ESTIMATE_BYTES
        } else {
            self.largest_block
        }
    }

    /// The next action, while the window has room (`None`: wait for an answer, or
    /// the walk is done).
    pub fn poll_action(&mut self) -> Option<Action> {
        loop {
            if self.flights.len() >= self.window.blocks {
                return None;
            }
            let est = self.estimate();
            if !self.flights.is_empty() && self.reserved_bytes + est > self.window.bytes {
                return None;
            }
            let (key, item) = self.pending.pop_first()?;
            let (cid, expand_from) = match item {
                Item::Want(cid) => {
                    // Its twin in flight brings the same block and children.
                    if self
                        .flights
                        .iter()
                        .any(|f| f.expand_from.is_none() && f.cid == cid)
                    {
                        continue;
                    }
                    (cid, None)
                }
                Item::Links { parent } => (parent, key.last().copied()),
            };
            let token = self.next_token;
            self.next_token += 1;
            self.flights.push(Flight {
                token,
                cid,
                key,
                reserved: est,
                expand_from,
            });
            self.reserved_bytes += est;
            self.peaks.in_flight = self.peaks.in_flight.max(self.flights.len());
            self.peaks.reserved_bytes = self.peaks.reserved_bytes.max(self.reserved_bytes);
            return Some(match expand_from {
                None => Action::Want { token, cid },
                Some(_) => Action::Expand { token, parent: cid },
            });
        }
    }

    /// The answer to the action `token`: the block's size and its links (for an
    /// [`Action::Expand`], all the links of the parent). Returns the CID the action
    /// was about and whether it was a want (`None` for an unknown token).
    pub fn on_arrived(&mut self, token: u64, size: usize, links: &[Cid]) -> Option<(Cid, bool)> {
        let at = self.flights.iter().position(|f| f.token == token)?;
        let f = self.flights.swap_remove(at);
        self.reserved_bytes -= f.reserved;
        let is_want = f.expand_from.is_none();
        if is_want {
            self.largest_block = self.largest_block.max(size);
        }
        if self.expand {
            match f.expand_from {
                None => self.add_children(f.key, f.cid, 0, links, false),
                Some(from) => {
                    let mut parent_key = f.key;
                    parent_key.pop();
                    self.add_children(parent_key, f.cid, from, links, true)
                }
            }
        }
        Some((f.cid, is_want))
    }

    /// Queues `links[from..]` of `parent` (at `key`) as far as `pending` has room,
    /// the rest as one cursor. A cursor being expanded takes at least one link so
    /// the walk always moves on.
    fn add_children(&mut self, key: Key, parent: Cid, from: u32, links: &[Cid], cursor: bool) {
        let start = (from as usize).min(links.len());
        let rest = &links[start..];
        if rest.is_empty() {
            return;
        }
        let room = self.window.pending.saturating_sub(self.pending.len());
        let take = if rest.len() <= room {
            rest.len()
        } else {
            // One place for the cursor.
            let n = room.saturating_sub(1);
            if cursor {
                n.max(1)
            } else {
                n
            }
        };
        let child_key = |i: usize| {
            let mut k = key.clone();
            k.push(u32::try_from(start + i).unwrap_or(u32::MAX));
            k
        };
        for (i, c) in rest.iter().take(take).enumerate() {
            self.pending.insert(child_key(i), Item::Want(*c));
        }
        if take < rest.len() {
            self.pending.insert(child_key(take), Item::Links { parent });
        }
        self.peaks.pending = self.peaks.pending.max(self.pending.len());
    }

    /// Forgets the action `token` (its want failed): its subtree is not walked.
    pub fn on_failed(&mut self, token: u64) {
        if let Some(at) = self.flights.iter().position(|f| f.token == token) {
            let f = self.flights.swap_remove(at);
            self.reserved_bytes -= f.reserved;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeSet, HashMap};

    /// A made-up CID per number (raw codec, sha2-256 of the number).
    fn cid(n: u32) -> Cid {
        acorn_storage::cids::cid_of(1, acorn_storage::cids::RAW, &n.to_be_bytes())
    }

    /// A DAG as a map parent → children, plus block sizes.
    struct Dag {
        links: HashMap<Cid, Vec<Cid>>,
        size: HashMap<Cid, usize>,
    }

    impl Dag {
        /// A balanced tree: `fanout` children per node, `depth` levels below the
        /// root; node numbers in depth-first pre-order, so that order is 0, 1, 2…
        fn tree(fanout: u32, depth: u32, leaf_size: usize) -> (Dag, Vec<Cid>) {
            let mut dag = Dag {
                links: HashMap::new(),
                size: HashMap::new(),
            };
            let mut order = Vec::new();
            fn build(
                d: &mut Dag,
                order: &mut Vec<Cid>,
                next: &mut u32,
                fanout: u32,
                depth: u32,
                leaf: usize,
            ) -> Cid {
                let me = cid(*next);
                *next += 1;
                order.push(me);
                let mut kids = Vec::new();
                if depth > 0 {
                    for _ in 0..fanout {
                        kids.push(build(d, order, next, fanout, depth - 1, leaf));
                    }
                }
                d.size.insert(me, if depth == 0 { leaf } else { 1000 });
                d.links.insert(me, kids);
                me
            }
            build(&mut dag, &mut order, &mut 0, fanout, depth, leaf_size);
            (dag, order)
        }
    }

    /// Runs `walk` over `dag` on a fake network: each want answers after a delay
    /// of `delay(n)` ticks (n: the want's number), on a fake clock. `order` is the
    /// DAG in depth-first pre-order. Checks on every step that the window holds and
    /// that each want is the first block, in that order, of those whose parent has
    /// arrived and that are not wanted yet. Returns the wants in order.
    fn run(walk: &mut Walk, dag: &Dag, order: &[Cid], delay: impl Fn(u64) -> u64) -> Vec<Cid> {
        let win = walk.window;
        let index: HashMap<Cid, usize> = order.iter().enumerate().map(|(i, c)| (*c, i)).collect();
        let mut known: BTreeSet<usize> = BTreeSet::from([0]);
        let mut now = 0u64;
        // (due tick, sequence) → (token, cid, is_expand)
        let mut net: BTreeMap<(u64, u64), (u64, Cid, bool)> = BTreeMap::new();
        let mut wanted = Vec::new();
        let mut seq = 0u64;
        loop {
            while let Some(a) = walk.poll_action() {
                let (token, c, exp) = match a {
                    Action::Want { token, cid } => {
                        let first = known.pop_first();
                        assert_eq!(first, Some(index[&cid]), "want out of depth-first order");
                        wanted.push(cid);
                        (token, cid, false)
                    }
                    Action::Expand { token, parent } => (token, parent, true),
                };
                net.insert((now + delay(seq), seq), (token, c, exp));
                seq += 1;
                assert!(walk.in_flight() <= win.blocks);
                assert!(walk.in_flight() == 1 || walk.reserved_bytes <= win.bytes);
            }
            let Some(((due, _), (token, c, exp))) = net.pop_first() else {
                break;
            };
            now = due;
            let links = &dag.links[&c];
            if !exp && walk.expands() {
                known.extend(links.iter().map(|l| index[l]));
            }
            walk.on_arrived(token, dag.size[&c], links);
        }
        assert!(walk.is_done());
        assert!(known.is_empty());
        wanted
    }

    fn window(blocks: usize, bytes: usize, pending: usize) -> Window {
        Window {
            blocks,
            bytes,
            pending,
        }
    }

    #[test]
    fn equal_delays_keep_the_window_full_in_depth_first_order() {
        let (dag, order) = Dag::tree(4, 3, 1000);
        let mut w = Walk::new(order[0], true, window(8, 1 << 20, 1000));
        let wanted = run(&mut w, &dag, &order, |_| 10);
        assert_eq!(wanted.len(), order.len());
        // The window was used, not one block at a time.
        assert_eq!(w.peaks().in_flight, 8);
    }

    #[test]
    fn a_slow_first_child_still_has_its_subtree_wanted_first_once_it_arrives() {
        let (dag, order) = Dag::tree(2, 3, 1000);
        let mut w = Walk::new(order[0], true, window(2, 1 << 20, 1000));
        // Want 1 (the first child) is slow; the rest are quick.
        let wanted = run(&mut w, &dag, &order, |n| if n == 1 { 50 } else { 1 });
        assert_eq!(wanted.len(), order.len());
    }

    #[test]
    fn a_window_of_one_is_the_plain_depth_first_walk() {
        let (dag, order) = Dag::tree(3, 3, 1000);
        let mut w = Walk::new(order[0], true, window(1, 1 << 20, 1000));
        assert_eq!(run(&mut w, &dag, &order, |n| n % 5 + 1), order);
    }

    #[test]
    fn random_delays_never_exceed_the_window_and_want_every_block_once() {
        let (dag, order) = Dag::tree(5, 3, 300_000);
        // Bytes allow 3 leaves of 300 kB at once although 10 blocks are allowed.
        let mut w = Walk::new(order[0], true, window(10, 1_000_000, 64));
        // Scattered delays of 1–97 ticks (a multiplicative hash of the want's number).
        let wanted = run(&mut w, &dag, &order, |n| {
            n.wrapping_mul(2_654_435_761) % 97 + 1
        });
        let set: BTreeSet<_> = wanted.iter().collect();
        assert_eq!(set, order.iter().collect());
        assert_eq!(wanted.len(), order.len());
        assert!(w.peaks().reserved_bytes <= 1_000_000);
        assert!(w.peaks().in_flight <= 10);
    }

    #[test]
    fn a_huge_fan_out_is_held_as_a_cursor_not_as_links() {
        // 100,000 children under one root, pending capped at 50.
        let root = cid(u32::MAX);
        let kids: Vec<Cid> = (0..100_000).map(cid).collect();
        let mut dag = Dag {
            links: HashMap::new(),
            size: HashMap::new(),
        };
        dag.links.insert(root, kids.clone());
        dag.size.insert(root, 2 << 20);
        for k in &kids {
            dag.links.insert(*k, Vec::new());
            dag.size.insert(*k, 100);
        }
        let mut w = Walk::new(root, true, window(16, 16 << 20, 50));
        let order: Vec<Cid> = std::iter::once(root).chain(kids.iter().copied()).collect();
        let wanted = run(&mut w, &dag, &order, |n| n % 7 + 1);
        assert_eq!(wanted.len(), 100_001);
        assert_eq!(&wanted[1..], &kids[..], "children in link order");
        // pending ≤ cap + window + depth (1).
        assert!(w.peaks().pending <= 50 + 16 + 1, "{:?}", w.peaks());
    }

    #[test]
    fn without_expansion_only_the_block_is_wanted() {
        let (dag, order) = Dag::tree(3, 2, 10);
        let mut w = Walk::new(order[0], false, Window::default());
        assert_eq!(run(&mut w, &dag, &order[..1], |_| 1), vec![order[0]]);
    }

    #[test]
    fn a_failed_want_drops_its_subtree() {
        let (_, order) = Dag::tree(2, 1, 10);
        let mut w = Walk::new(order[0], true, Window::default());
        let Some(Action::Want { token, .. }) = w.poll_action() else {
            panic!("no want")
        };
        w.on_failed(token);
        assert!(w.is_done());
        assert!(w.poll_action().is_none());
    }
}
