//! The bitswap state machine: client sessions and server ledgers, with no I/O.
//!
//! Implements the logic of `/ipfs/bitswap/1.2.0` (and serves 1.1.0 / 1.0.0 peers through
//! the handler's encoding). Time is an argument (STYLE.md §2): the core never reads a
//! clock, spawns, or touches a socket or a disk.
//!
//! # Flow
//! Client, one want at a time (each want belongs to one or more sessions):
//! 1. [`Core::want`] creates the want. Its candidates are the session's peers (peers that
//!    served or said HAVE for earlier blocks, and providers from [`Core::add_providers`]);
//!    while the session has no block yet, also at most [`Config::initial_broadcast_peers`]
//!    connected peers, widened by that many more each time everyone asked refused, up
//!    to [`Config::max_broadcast_peers`]. After the first block, a want whose session
//!    peers all refused it or are gone (connection closed: at once; no answer: after
//!    [`Config::want_timeout`]) goes to those connected peers too, widened the same
//!    way, so a dead peer's wants move on. The first candidate gets want-block (with
//!    send-dont-have), the others want-have (with send-dont-have). Never the wantlist
//!    to every peer.
//! 2. A HAVE makes the peer a session peer and, if no want-block is outstanding, it gets
//!    the want-block. DONT_HAVE or silence for [`Config::want_timeout`] moves on to the
//!    next HAVE peer or an unasked candidate. At most `max_session_peers +
//!    initial_broadcast_peers` asks are live at once; peers that refused (DONT_HAVE or
//!    timeout) do not count, so providers found later are still asked; a peer that timed
//!    out is asked again when a later provider lookup names it. When nobody is
//!    live, [`Event::FindProviders`] asks the node to search the DHT, at most once per
//!    [`Config::find_providers_interval`] per want.
//! 3. A block is hashed (sha2-256, the prefix's codec) and matched to wants by multihash;
//!    only then is [`Event::Block`] emitted. Cancels go to every other peer asked. Blocks
//!    nobody wanted (or with wrong bytes, which hash to a CID nobody wanted) are strikes
//!    against the peer; past [`Config::misbehaviour_threshold`] strikes
//!    [`Event::Disconnect`] and a ban. A peer that answers our want-block with such a
//!    block (a liar) is banned at once, and the wants it held move on without waiting
//!    for the timeout. A banned peer is never asked, its messages are dropped, and
//!    each reconnect gets [`Event::Refused`], for [`Config::ban_duration`]. Late
//!    duplicates of recent blocks only count as duplicates
//!    (recent = the last `max(recent_blocks_count, max_wants)` finished or cancelled
//!    wants). Kubo and Helia answer a want-have with the block itself when it is under
//!    [`SMALL_BLOCK_BYTES`]: an unknown block that small from a peer we sent a want-have
//!    within `want_deadline` is counted as a duplicate, not a strike.
//! 4. After [`Config::want_deadline`] a want fails ([`Event::WantFailed`]).
//!
//! Server, per peer: wantlist entries are stored (bounded), looked up through
//! [`Core::poll_lookup`] / [`Core::on_lookup`] (the caller reads the blockstore, never
//! the core), answered into a per-peer send queue (block, HAVE, or DONT_HAVE when asked),
//! and sent by [`Core::poll_transmit`], one message per peer in round-robin turn.
//!
//! Transmit contract: after [`Core::poll_transmit`] returns a message for a peer, that
//! peer gets nothing more until the caller reports [`Core::on_sent`] or
//! [`Core::on_send_failed`]: at most one message per peer is in flight.
//!
//! # Limits (all in [`Config`])
//! - sessions ≤ `max_sessions`, live wants ≤ `max_wants` (full: `want` is refused with
//!   [`CoreError::TooManyWants`]), peers tracked ≤ `max_peers` (full: the oldest idle
//!   disconnected peer is evicted, strikes or not, else the new peer's messages are
//!   dropped and counted).
//! - strikes: kept apart from the peer table for ≤ `max_struck_peers` peers (full: decayed
//!   entries go first, then the fewest strikes); one strike is forgiven per
//!   `strike_decay`.
//! - bans: ≤ `max_banned_peers` (full: the ban that ends first is lifted), each for
//!   `ban_duration`.
//! - session peers ≤ `max_session_peers` (full: the last, least proven one is evicted).
//! - per-peer wantlist ≤ `max_peer_wantlist_entries` (full: a parked want is dropped to
//!   make room, else the new entry is dropped and counted).
//! - per-peer send queue ≤ `max_peer_send_queue_bytes` (full: no more lookups for that peer
//!   until it drains — back-pressure, nothing dropped); over all peers ≤
//!   `max_server_queued_bytes` (full: no more lookups at all until something is sent).
//!   Both count queued answers, lookups in flight (a block lookup reserves
//!   `MAX_BLOCK_BYTES`) and the message in flight (the writer keeps only its encoded
//!   frame).
//! - lookups in flight ≤ `max_inflight_lookups`; events ≤ `max_events` (full: newest
//!   dropped and counted; sized so it never fills while the caller drains it).
//! - messages ≤ `max_message_bytes` (≤ [`MAX_MESSAGE_BYTES`]).
//!
//! # Departures
//! - Wants are keyed by multihash: a block matches a want with the same digest even if
//!   the CID's version or codec differ (the blockstore is keyed by multihash too).
//! - A peer that answers a want-block with DONT_HAVE-less silence is not remembered as
//!   "slow" across wants; it just times out per want.
//! - A want we answered "not here" (DONT_HAVE, or silence without send-dont-have) stays
//!   on the peer's wantlist, parked, as boxo keeps it (`bitswap wantlist --peer` shows
//!   it; a full wantlist drops a parked want first). Unlike boxo we do not serve it when
//!   the block arrives later: the peer's next ask of the same want is looked up again.
//! - Hashing happens on the caller's thread (≤ 2 MiB per block).
//! - Scanning for the next timeout is O(live wants).
//!
//! # Files
//! This file: the settings, the types the caller sees, the [`Core`] and its event and
//! timer plumbing. `core/ledger.rs`: the peer table and strikes. `core/sessions.rs`:
//! client sessions and providers. `core/wants.rs`: wants, their asks, and incoming
//! blocks and presences. `core/server.rs`: peers' wantlists, lookups, the send queue
//! and [`Core::poll_transmit`]. `core/sim.rs`: the fake clock the unit tests step.

use super::wire::{
    BlockPresence, Entry, Message, Payload, Prefix, Presence, WantType, Wantlist,
    MAX_ENTRIES_PER_MESSAGE, MAX_MESSAGE_BYTES,
};
use acorn_storage::block::{Block, MAX_BLOCK_BYTES};
use acorn_storage::cids::SHA2_256;
use cid::multihash::Multihash;
use cid::Cid;
use libp2p::PeerId;
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// Blocks up to this size may come back for a want-have (boxo's
/// `maxBlockSizeReplaceHasWithBlock`, also Helia's).
pub const SMALL_BLOCK_BYTES: usize = 1024;

/// A multihash, the key of wants and wantlists.
type Mh = Multihash<64>;

/// RAM of one entry of a peer's wantlist kept by the server
/// ([`Config::max_peer_wantlist_entries`]): its multihash in the wantlist map and in
/// the lookup queue, plus the entry and the hash table's slack.
pub const PEER_WANT_ENTRY_BYTES: usize = 2 * std::mem::size_of::<Mh>() + 64;

/// RAM of one of our wants or one remembered finished want
/// ([`Config::max_wants`], [`Config::recent_blocks_count`]): its multihash in a map
/// and a queue, plus the table's slack (about 180 bytes).
pub const WANT_ENTRY_BYTES: usize = 2 * std::mem::size_of::<Mh>() + 32;

/// Identifies a client session (one per request: `cat`, `get`, a gateway request).
pub type SessionId = u64;

/// Bitswap tunables. Defaults in brackets.
#[derive(Debug, Clone)]
pub struct Config {
    /// Connected peers asked for a session's first block when the session has no
    /// peers yet \[3\].
    pub initial_broadcast_peers: usize,
    /// Most connected peers a session asks for its first block \[32\]. It starts with
    /// `initial_broadcast_peers`; each time every peer asked so far has refused
    /// (DONT_HAVE or timeout), the next `initial_broadcast_peers` connected peers not
    /// yet asked are added, up to this many. Each peer is asked once per want, and
    /// only while the others failed: never the wantlist to every peer at once.
    pub max_broadcast_peers: usize,
    /// Candidate peers remembered per session \[16\].
    pub max_session_peers: usize,
    /// How long a peer has to answer a want-have or deliver a want-block before we
    /// try someone else [5 s].
    pub want_timeout: Duration,
    /// How long a want lives before it fails [60 s].
    pub want_deadline: Duration,
    /// Least time between two [`Event::FindProviders`] for one want [10 s].
    pub find_providers_interval: Duration,
    /// Peers that refused a want (DONT_HAVE or timeout) remembered per want so they are
    /// not asked again and get its cancel \[32\]. Full: the oldest is forgotten.
    pub max_refused_per_want: usize,
    /// Sessions open at once \[64\].
    pub max_sessions: usize,
    /// Live wants over all sessions \[4096\].
    pub max_wants: usize,
    /// Peers tracked (ledgers, strikes, pending entries) \[256\].
    pub max_peers: usize,
    /// Entries kept from one peer's wantlist \[1024\].
    pub max_peer_wantlist_entries: usize,
    /// Bytes of answers queued for one peer, blocks included [4 MiB]. Worst-case RAM
    /// of the server: this × peers with open wants, plus one message in flight each.
    pub max_peer_send_queue_bytes: usize,
    /// Bytes of answers held by the server over all peers: queued, being looked up and
    /// in flight [16 MiB]. This is the server's worst-case RAM for answers; a lookup is
    /// started only while there is room (except when nothing at all is held, so a large
    /// block still goes).
    pub max_server_queued_bytes: usize,
    /// Blockstore lookups in flight over all peers \[8\].
    pub max_inflight_lookups: usize,
    /// Bad or unasked blocks (and malformed messages) a peer may send before we ask
    /// to disconnect it \[8\].
    pub misbehaviour_threshold: u32,
    /// One strike is forgiven per this much time [60 s], so rare honest mistakes never
    /// add up to a disconnect.
    pub strike_decay: Duration,
    /// Peers whose strikes are remembered, apart from the peer table so that a struck
    /// peer can still be evicted from it \[256\]. Full: entries decayed to zero go first,
    /// then the one with the fewest strikes.
    pub max_struck_peers: usize,
    /// How long a peer disconnected for misbehaviour stays banned [10 min]: it is never
    /// asked for a block, its messages are dropped, and each new connection from it is
    /// answered with [`Event::Refused`].
    pub ban_duration: Duration,
    /// Banned peers remembered \[256\]; about 80 bytes each. Full: the ban that ends
    /// first is lifted early.
    pub max_banned_peers: usize,
    /// Recently finished or cancelled wants remembered to tell late duplicates from
    /// unasked blocks \[4096\]; never fewer than `max_wants` are kept. Cost: about 180
    /// bytes each (a multihash in a queue and a set), ≈ 720 KiB at the default.
    pub recent_blocks_count: usize,
    /// Largest message we build, in bytes [4 MiB = `wire::MAX_MESSAGE_BYTES`].
    pub max_message_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            initial_broadcast_peers: 3,
            max_broadcast_peers: 32,
            max_session_peers: 16,
            want_timeout: Duration::from_secs(5),
            want_deadline: Duration::from_secs(60),
            find_providers_interval: Duration::from_secs(10),
            max_refused_per_want: 32,
            max_sessions: 64,
            max_wants: 4096,
            max_peers: 256,
            max_peer_wantlist_entries: 1024,
            max_peer_send_queue_bytes: 4 << 20,
            max_server_queued_bytes: 16 << 20,
            max_inflight_lookups: 8,
            misbehaviour_threshold: 8,
            strike_decay: Duration::from_secs(60),
            max_struck_peers: 256,
            ban_duration: Duration::from_secs(600),
            max_banned_peers: 256,
            recent_blocks_count: 4096,
            max_message_bytes: MAX_MESSAGE_BYTES,
        }
    }
}

impl Config {
    /// Capacity of the event queue: every want can have one event pending, every peer
    /// one disconnect, plus slack.
    pub fn max_events(&self) -> usize {
        self.max_wants * 2 + self.max_peers + 16
    }
}

/// Errors of client calls.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CoreError {
    /// Opening a session past `Config::max_sessions`.
    #[error("too many sessions (limit {limit})")]
    TooManySessions {
        /// The limit.
        limit: usize,
    },
    /// Adding wants past `Config::max_wants`.
    #[error("too many wants: {live} live + {new} new over the limit of {limit}")]
    TooManyWants {
        /// Wants already live.
        live: usize,
        /// Wants being added.
        new: usize,
        /// The limit.
        limit: usize,
    },
    /// A session id the core does not know (closed or never opened).
    #[error("unknown session {0}")]
    UnknownSession(SessionId),
    /// A want for a CID whose hash we cannot verify.
    #[error("{cid}: hash function {code:#x} is not supported (only sha2-256)")]
    UnsupportedHash {
        /// The CID.
        cid: Cid,
        /// Its multihash code.
        code: u64,
    },
}

/// What the core asks of the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A verified block that the listed sessions wanted.
    Block {
        /// The sessions that wanted it.
        sessions: Vec<SessionId>,
        /// The block.
        block: Block,
    },
    /// A want ran out of time.
    WantFailed {
        /// The session that wanted it.
        session: SessionId,
        /// The CID.
        cid: Cid,
    },
    /// No candidate is left for `cid`: search the DHT and call [`Core::add_providers`].
    FindProviders {
        /// The session that wants it.
        session: SessionId,
        /// The CID.
        cid: Cid,
    },
    /// The peer misbehaved past the threshold (or lied): close its connections. It
    /// is banned for `Config::ban_duration`.
    Disconnect {
        /// The peer.
        peer: PeerId,
    },
    /// A banned peer connected again: close its connections.
    Refused {
        /// The peer.
        peer: PeerId,
    },
}

/// A blockstore question for the caller: answer with [`Core::on_lookup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// The peer that asked.
    pub peer: PeerId,
    /// The block asked for.
    pub cid: Cid,
    /// `Have`: only presence is needed (call `has`); `Block`: the data (call `get`).
    pub want_type: WantType,
}

/// The caller's answer to a [`Lookup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// We have it: its bytes.
    Block(Vec<u8>),
    /// We have it (answer to a `Have` lookup).
    Have,
    /// We do not have it.
    Missing,
}

/// Counters for `bitswap stat`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Blocks received that we wanted.
    pub blocks_received: u64,
    /// Bytes of those blocks.
    pub data_received: u64,
    /// Blocks sent to peers.
    pub blocks_sent: u64,
    /// Bytes of those blocks.
    pub data_sent: u64,
    /// Blocks received more than once.
    pub dup_blks_received: u64,
    /// Bytes of those duplicate blocks.
    pub dup_data_received: u64,
    /// Messages received (well-formed ones).
    pub messages_received: u64,
    /// Blocks nobody wanted, or whose bytes did not hash to any wanted CID.
    pub unwanted_blocks: u64,
    /// Unusable entries, blocks or presences skipped inside otherwise good messages.
    pub skipped_elements: u64,
    /// Malformed messages reported by the handler.
    pub malformed_messages: u64,
    /// Asks that got no answer in time.
    pub ask_timeouts: u64,
    /// Wants that ran out of time.
    pub wants_failed: u64,
    /// Disconnects requested for misbehaviour.
    pub peers_disconnected: u64,
    /// Connections and messages from banned peers refused (each connection is
    /// disconnected again, each message dropped).
    pub banned_refused: u64,
    /// Want-blocks released at once because the peer asked answered with a block
    /// whose bytes hash to nothing we want (a liar), instead of waiting `want_timeout`.
    pub lies: u64,
    /// Peer wantlist entries dropped because that wantlist was full.
    pub peer_wantlist_overflow: u64,
    /// Times a lookup waited because the server held `max_server_queued_bytes`.
    pub server_queue_full: u64,
    /// Messages ignored because the peer table was full.
    pub peers_refused: u64,
    /// Events dropped because the caller's queue was full.
    pub events_dropped: u64,
    /// Inbound streams reset because a stream cap (per peer or in all) was reached.
    pub inbound_streams_refused: u64,
    /// Messages that could not be sent (stream open or write failed twice).
    pub send_failures: u64,
    /// Live wants (our wantlist length).
    pub wantlist_len: u64,
    /// Connected peers.
    pub peers: u64,
    /// Entries of the peers' wantlists we hold, in all (≤ peers × `max_peer_wantlist_entries`).
    pub peer_wants: u64,
}

mod ledger;
mod server;
mod sessions;
#[cfg(test)]
mod sim;
mod wants;

use ledger::{Peer, Strikes};
use server::{PeerWant, Response};
use sessions::Session;
use wants::{AskState, Want};

/// The bitswap core. See the module doc.
#[derive(Debug)]
pub struct Core {
    cfg: Config,
    peers: HashMap<PeerId, Peer>,
    /// Connected peers in connection order (for the bounded first-block broadcast).
    connected: Vec<PeerId>,
    broadcast_cursor: usize,
    sessions: HashMap<SessionId, Session>,
    next_session: SessionId,
    wants: HashMap<Mh, Want>,
    recent: VecDeque<Mh>,
    recent_set: HashSet<Mh>,
    events: VecDeque<Event>,
    tx_ring: VecDeque<PeerId>,
    lookup_ring: VecDeque<PeerId>,
    lookups_inflight: usize,
    /// Strikes per peer, kept apart from `peers` (bounded by `max_struck_peers`).
    strikes: HashMap<PeerId, Strikes>,
    /// Banned peers and when their ban ends (bounded by `max_banned_peers`).
    banned: HashMap<PeerId, Instant>,
    next_peer_seq: u64,
    stats: Stats,
}

impl Core {
    /// A core with no peers, sessions or wants.
    pub fn new(cfg: Config) -> Self {
        Core {
            cfg,
            peers: HashMap::new(),
            connected: Vec::new(),
            broadcast_cursor: 0,
            sessions: HashMap::new(),
            next_session: 1,
            wants: HashMap::new(),
            recent: VecDeque::new(),
            recent_set: HashSet::new(),
            events: VecDeque::new(),
            tx_ring: VecDeque::new(),
            lookup_ring: VecDeque::new(),
            lookups_inflight: 0,
            strikes: HashMap::new(),
            banned: HashMap::new(),
            next_peer_seq: 0,
            stats: Stats::default(),
        }
    }

    /// The tunables it runs with.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Counters, with the live fields filled in.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats.clone();
        s.wantlist_len = self.wants.len() as u64;
        s.peers = self.connected.len() as u64;
        s.peer_wants = self.peers.values().map(|p| p.wants.len() as u64).sum();
        s
    }

    /// Our live wants (for `bitswap wantlist`).
    pub fn wantlist(&self) -> Vec<Cid> {
        self.wants.values().map(|w| w.cid).collect()
    }

    /// A peer's wantlist as we hold it (for `bitswap wantlist --peer`).
    pub fn peer_wantlist(&self, peer: &PeerId) -> Vec<Cid> {
        self.peers
            .get(peer)
            .map(|p| p.wants.values().map(|w| w.cid).collect())
            .unwrap_or_default()
    }

    /// Connected peers, in connection order.
    pub fn connected_peers(&self) -> &[PeerId] {
        &self.connected
    }

    fn push_event(&mut self, e: Event) {
        if self.events.len() >= self.cfg.max_events() {
            self.stats.events_dropped += 1;
            return;
        }
        self.events.push_back(e);
    }

    /// The next event for the node.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ---------------------------------------------------------------- timers

    /// When [`Core::on_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.wants.values().map(|w| w.next_check).min()
    }

    /// Steps every want whose check time has come (ask again, search, or fail it);
    /// call at [`Core::poll_timeout`].
    pub fn on_timeout(&mut self, now: Instant) {
        let due: Vec<Mh> = self
            .wants
            .iter()
            .filter(|(_, w)| w.next_check <= now)
            .map(|(mh, _)| *mh)
            .collect();
        for mh in due {
            self.step(now, mh);
        }
    }

    // ---------------------------------------------------------------- inbound

    /// A decoded message from `peer`.
    pub fn on_message(&mut self, now: Instant, peer: PeerId, msg: Message) {
        if self.is_banned(now, &peer) {
            self.stats.banned_refused += 1;
            return;
        }
        if !self.ensure_peer(peer) {
            return;
        }
        self.stats.messages_received += 1;
        self.stats.skipped_elements += u64::from(msg.skipped);
        // A block over the size limit is nothing an honest peer sends: a strike each.
        for _ in 0..msg.oversize_blocks {
            self.stats.unwanted_blocks += 1;
            self.strike(now, peer);
        }
        for payload in msg.blocks {
            self.on_block(now, peer, payload);
        }
        for p in msg.presences {
            self.on_presence(now, peer, p);
        }
        if let Some(wl) = msg.wantlist {
            self.on_wantlist(peer, wl);
        }
    }
}
