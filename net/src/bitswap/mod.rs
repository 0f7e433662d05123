//! Bitswap: fetch and serve blocks (`/ipfs/bitswap/1.2.0`, also 1.1.0, 1.0.0 and
//! `/ipfs/bitswap`).
//!
//! Spec: <https://specs.ipfs.tech/bitswap-protocol/>. Laid out as libp2p's protocols:
//! [`wire`] (codec), [`core`] (the sans-IO state machine: sessions, wants, ledgers),
//! `handler` (per-peer stream tasks), `node.rs`: the [`Node`] task that drives the
//! core on the node's smol executor with a [`libp2p_stream::Control`], and this
//! module: the settings and the handles the node is used through.
//!
//! # Flow
//! - The daemon builds its swarm with a `libp2p_stream::Behaviour`, and calls
//!   [`Node::spawn`] with a `Control`, its blockstore (the [`Blockstore`] trait: net never
//!   imports disk code) and the executor. It forwards connection events
//!   ([`Handle::peer_connected`] / [`Handle::peer_disconnected`]) and acts on
//!   [`NodeEvent`]s: `FindProviders` (search the DHT, then [`Session::add_providers`]) and
//!   `Disconnect` (close a misbehaving peer's connections; it is banned) and `Refuse`
//!   (close a banned peer's new connection).
//! - A request opens a [`Session`] and calls [`Session::fetch`] per CID (concurrently
//!   for a DAG's children). The node first asks the blockstore; on a miss the core wants
//!   the CID; the verified block is `put` into the blockstore, then returned.
//! - Inbound streams of all four protocols are accepted by one accept task per protocol,
//!   which drains libp2p-stream's queue continuously (it holds a single pending stream
//!   per protocol and drops the rest, so it must never wait for the busy node task),
//!   applies the stream caps and spawns a reader task per stream. Each peer we send to
//!   gets one writer task with one stream.
//! - Blockstore calls (`get`/`has`/`put`, which may block on disk) run through the
//!   [`Blocking`] given to [`Node::spawn`]: the daemon passes a bounded pool of its own
//!   (threads exit when idle), tests [`Unblock`] (`smol::unblock`). Bitswap's jobs are
//!   short and never wait on the network, so the pool must not be one whose threads
//!   may block waiting for bitswap (a fetch waiting there for a block whose `put`
//!   queues behind it would deadlock).
//!
//! # Limits (in [`Config`] and [`core::Config`])
//! - commands: a channel of `command_capacity` (full: callers wait);
//! - events to the daemon: `event_capacity` (full: dropped and counted in
//!   `Stats::events_dropped` — the core asks for providers again next round);
//! - stream and blockstore results: `io_capacity` (full: readers and writers wait, which
//!   pushes back on the peers); inbound frames, from the first body byte read until the
//!   core has taken the message, hold at most `max_inbound_bytes` (full: readers wait
//!   before reading a body); a frame must arrive within [`Config::transfer_timeout`];
//! - inbound streams at once: `max_inbound_streams_per_peer` per peer and
//!   `max_inbound_streams` in all (more are reset at once and counted in
//!   `Stats::inbound_streams_refused`). boxo keeps one long-lived stream per peer, Helia
//!   opens one per message, so the per-peer cap keeps one peer from taking every slot,
//!   and the global cap is sized ≥ 2 × the swarm's `max_connections`;
//! - per peer one outbound message in flight, plus the core's bounded send queue;
//! - fetch waiters per (session, multihash): [`MAX_WAITERS_PER_WANT`]. Wants are keyed by
//!   multihash (as the blockstore is), so CIDs that differ only in version or codec share
//!   one want; each waiter gets the block under the CID it asked for.
//!
//! # Departures
//! - Blocks are put one at a time through the [`Blockstore`]; batching writes for SD
//!   cards is the implementer's job.
//! - Connection events come from the daemon (libp2p-stream does not report them).

pub mod core;
mod handler;
mod node;
pub mod wire;

pub use self::core::{Event, Found, Lookup, SessionId, Stats};
pub use self::node::Node;
pub use self::wire::{Message, Version, WantType, MAX_MESSAGE_BYTES};

use self::core::Core;
use self::handler::IoEvent;
use acorn_storage::block::{Block, BlockError};
use cid::Cid;
use futures::channel::oneshot;
use futures::StreamExt;
use libp2p::{PeerId, StreamProtocol};
use smol::channel::{self as chan, Receiver, Sender, TrySendError};
use smol::Executor;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// Default of [`Config::max_inbound_streams`]: 2 × the swarm's default `max_connections`.
pub const DEFAULT_MAX_INBOUND_STREAMS: usize = 320;

/// Most concurrent `fetch` calls waiting for the same CID in one session.
pub const MAX_WAITERS_PER_WANT: usize = 16;

/// Blocks as the node stores them. Calls may block (disk): the node runs them on the
/// blocking pool. Implemented by the daemon over its redb blockstore and filestore.
pub trait Blockstore: Send + Sync + 'static {
    /// The block's bytes, `Ok(None)` when not stored.
    fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, BlockError>;
    /// Whether the block is stored.
    fn has(&self, cid: &Cid) -> Result<bool, BlockError>;
    /// Stores a verified block.
    fn put(&self, block: &Block) -> Result<(), BlockError>;
}

/// Where the node runs its blockstore calls, off the executor thread. The daemon
/// passes its own bounded pool; [`Unblock`] uses `smol::unblock`.
pub trait Blocking: Send + Sync + 'static {
    /// Runs `job` on another thread. A job dropped unrun (or that panics) makes its
    /// call fail: a put or a local fetch with [`Error::Store`], a lookup as a miss.
    fn spawn_blocking(&self, job: Box<dyn FnOnce() + Send>);
}

/// [`Blocking`] on `smol::unblock`: the `blocking` crate's pool, capped by
/// `BLOCKING_MAX_THREADS` (its threads linger after use).
#[derive(Debug, Clone, Copy, Default)]
pub struct Unblock;

impl Blocking for Unblock {
    fn spawn_blocking(&self, job: Box<dyn FnOnce() + Send>) {
        smol::unblock(job).detach();
    }
}

/// Runs `f` through `pool`; `None` if the job was dropped or panicked.
async fn run_blocking<T: Send + 'static>(
    pool: &dyn Blocking,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = futures::channel::oneshot::channel();
    pool.spawn_blocking(Box::new(move || {
        let _ = tx.send(f());
    }));
    rx.await.ok()
}

/// The error of a blockstore call whose job never finished.
fn lost_job() -> BlockError {
    BlockError::Io("blockstore call did not finish (blocking pool)".into())
}

/// Tunables of the node task. Defaults in brackets.
#[derive(Debug, Clone)]
pub struct Config {
    /// The sans-IO core's tunables.
    pub core: core::Config,
    /// Commands queued to the node task \[64\].
    pub command_capacity: usize,
    /// Events queued for the daemon \[64\].
    pub event_capacity: usize,
    /// Stream and blockstore results queued to the node task \[64\].
    pub io_capacity: usize,
    /// Inbound bitswap streams read at once over all peers [320 = 2 × the swarm's
    /// default `max_connections` (160): one long-lived boxo stream per connection plus a
    /// Helia stream-per-message in flight]. A reader task costs a few hundred bytes
    /// while idle; frame memory is bounded separately.
    pub max_inbound_streams: usize,
    /// Inbound bitswap streams read at once from one peer \[4\]. More are reset.
    pub max_inbound_streams_per_peer: usize,
    /// Bytes of inbound frames being read or waiting for the node task, over all
    /// streams [16 MiB]. Full: readers wait before reading a frame's body (back-pressure
    /// on their peers). A frame larger than this takes the whole budget.
    pub max_inbound_bytes: usize,
    /// Shortest time limit for sending or receiving one message [10 s]; see
    /// [`Config::transfer_timeout`].
    pub min_send_timeout: Duration,
    /// Longest time limit for sending (opening a stream and writing) or receiving one
    /// message [2 min]. The limit scales with the message's size like boxo's: 2 s +
    /// size at 100 kbit/s, clamped to `[min_send_timeout, send_timeout]`
    /// ([`Config::transfer_timeout`]).
    pub send_timeout: Duration,
    /// An outbound stream with nothing to send for this long is closed; the next
    /// message opens a new one [3 s; Helia resets inbound streams idle for 5 s].
    pub outbound_idle_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            core: core::Config::default(),
            command_capacity: 64,
            event_capacity: 64,
            io_capacity: 64,
            max_inbound_streams: DEFAULT_MAX_INBOUND_STREAMS,
            max_inbound_streams_per_peer: 4,
            max_inbound_bytes: 16 << 20,
            min_send_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(120),
            outbound_idle_timeout: Duration::from_secs(3),
        }
    }
}

impl Config {
    /// Time allowed to send or receive a message of `bytes`:
    /// 2 s + `bytes` at 100 kbit/s, clamped to `[min_send_timeout, send_timeout]`.
    pub fn transfer_timeout(&self, bytes: usize) -> Duration {
        handler::transfer_timeout(bytes, self.min_send_timeout, self.send_timeout)
    }
}

/// Errors of the bitswap node API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The node task has stopped.
    #[error("bitswap is not running")]
    Closed,
    /// The block did not arrive within the fetch's time.
    #[error("block {cid} not found in time")]
    NotFound {
        /// The block.
        cid: Cid,
    },
    /// A session already waits for as many fetches of one CID as it may.
    #[error("too many fetches of {cid} waiting in this session (limit {limit})")]
    Busy {
        /// The block.
        cid: Cid,
        /// The limit per CID.
        limit: usize,
    },
    /// The core refused the call.
    #[error(transparent)]
    Core(#[from] core::CoreError),
    /// The blockstore failed.
    #[error("blockstore: {0}")]
    Store(#[from] BlockError),
    /// The swarm already has a handler for this protocol.
    #[error("bitswap protocol {0} already registered on this swarm")]
    AlreadyRegistered(String),
}

/// What the daemon must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeEvent {
    /// Search the DHT for providers of `cid` and call [`Session::add_providers`].
    FindProviders {
        /// The session that wants it.
        session: SessionId,
        /// The block.
        cid: Cid,
    },
    /// Close the connections of a misbehaving peer (now banned).
    Disconnect {
        /// The peer.
        peer: PeerId,
    },
    /// Close the connections of a banned peer that connected again.
    Refuse {
        /// The peer.
        peer: PeerId,
    },
}

enum Command {
    NewSession {
        token: Weak<()>,
        reply: oneshot::Sender<Result<SessionId, Error>>,
    },
    Fetch {
        session: SessionId,
        cid: Cid,
        reply: oneshot::Sender<Result<Block, Error>>,
    },
    Cancel {
        session: SessionId,
        cid: Cid,
    },
    AddProviders {
        session: SessionId,
        peers: Vec<PeerId>,
    },
    Connected(PeerId),
    Disconnected(PeerId),
    Stats(oneshot::Sender<Stats>),
    Wantlist(oneshot::Sender<Vec<Cid>>),
    PeerWantlist(PeerId, oneshot::Sender<Vec<Cid>>),
    Peers(oneshot::Sender<Vec<PeerId>>),
    Shutdown,
}

/// A cloneable handle to the node task.
#[derive(Clone)]
pub struct Handle {
    tx: Sender<Command>,
}

impl Handle {
    async fn send(&self, c: Command) -> Result<(), Error> {
        self.tx.send(c).await.map_err(|_| Error::Closed)
    }

    /// Opens a session; it closes (cancelling its wants) when dropped.
    pub async fn new_session(&self) -> Result<Session, Error> {
        let token = Arc::new(());
        let (reply, rx) = oneshot::channel();
        self.send(Command::NewSession {
            token: Arc::downgrade(&token),
            reply,
        })
        .await?;
        let id = rx.await.map_err(|_| Error::Closed)??;
        Ok(Session {
            id,
            handle: self.clone(),
            _token: token,
        })
    }

    /// A connection to `peer` was established (from the swarm's events).
    pub async fn peer_connected(&self, peer: PeerId) -> Result<(), Error> {
        self.send(Command::Connected(peer)).await
    }

    /// The last connection to `peer` closed.
    pub async fn peer_disconnected(&self, peer: PeerId) -> Result<(), Error> {
        self.send(Command::Disconnected(peer)).await
    }

    /// Providers found (in the DHT) for a session named by a
    /// [`NodeEvent::FindProviders`]; an unknown or closed session is ignored.
    pub async fn add_providers(&self, session: SessionId, peers: Vec<PeerId>) -> Result<(), Error> {
        self.send(Command::AddProviders { session, peers }).await
    }

    /// Stops the node task now (pending fetches fail with [`Error::Closed`]), even
    /// while other handles or sessions are alive. The daemon calls it on shutdown.
    pub async fn shutdown(&self) -> Result<(), Error> {
        self.send(Command::Shutdown).await
    }

    /// Counters for `bitswap stat`.
    pub async fn stats(&self) -> Result<Stats, Error> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Stats(tx)).await?;
        rx.await.map_err(|_| Error::Closed)
    }

    /// Our live wants.
    pub async fn wantlist(&self) -> Result<Vec<Cid>, Error> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Wantlist(tx)).await?;
        rx.await.map_err(|_| Error::Closed)
    }

    /// What `peer` wants from us, as we hold it (empty for a peer we do not know).
    pub async fn peer_wantlist(&self, peer: PeerId) -> Result<Vec<Cid>, Error> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::PeerWantlist(peer, tx)).await?;
        rx.await.map_err(|_| Error::Closed)
    }

    /// The connected peers bitswap knows, in connection order (at most the swarm's
    /// connection limit).
    pub async fn peers(&self) -> Result<Vec<PeerId>, Error> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Peers(tx)).await?;
        rx.await.map_err(|_| Error::Closed)
    }
}

/// One request's session. Dropping it cancels its wants.
pub struct Session {
    id: SessionId,
    handle: Handle,
    _token: Arc<()>,
}

impl Session {
    /// This session's id in the core.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// The block for `cid`: from the blockstore, else from the network (then stored).
    pub async fn fetch(&self, cid: Cid) -> Result<Block, Error> {
        let (reply, rx) = oneshot::channel();
        self.handle
            .send(Command::Fetch {
                session: self.id,
                cid,
                reply,
            })
            .await?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Stops wanting `cid`.
    pub async fn cancel(&self, cid: Cid) -> Result<(), Error> {
        self.handle
            .send(Command::Cancel {
                session: self.id,
                cid,
            })
            .await
    }

    /// Providers found for this session's wants (from the DHT).
    pub async fn add_providers(&self, peers: Vec<PeerId>) -> Result<(), Error> {
        self.handle
            .send(Command::AddProviders {
                session: self.id,
                peers,
            })
            .await
    }
}
