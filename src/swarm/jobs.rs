//! The swarm task's routing jobs as data: the queries waiting for Kademlia, the
//! two DHTs, and the jobs that run one Kademlia query on each. Both the task
//! (`task.rs`, which owns them) and its Kademlia methods (`routing.rs`) use them.

use acorn_net::bitswap::SessionId;
use futures::channel::oneshot;
use libp2p::{kad, Multiaddr, PeerId};

use super::Provider;

/// A `routing` query waiting for Kademlia.
pub(super) enum RoutingQuery {
    FindProvs {
        found: Vec<PeerId>,
        max: usize,
        reply: oneshot::Sender<Result<Vec<Provider>, RoutingError>>,
    },
    FindPeer {
        peer: PeerId,
        /// The peer's addresses, once a DHT found it.
        found: Option<Vec<Multiaddr>>,
        reply: oneshot::Sender<Result<Vec<Multiaddr>, RoutingError>>,
    },
    Provide {
        /// Some DHT took the record.
        stored: bool,
        /// The last DHT's error, said when none took it.
        error: Option<kad::AddProviderError>,
        reply: Option<oneshot::Sender<Result<(), RoutingError>>>,
    },
}

/// Which DHT a Kademlia query runs on. The two behaviours count their query ids
/// apart, so an id alone may name a query on either.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Dht {
    /// `/ipfs/kad/1.0.0`.
    Wan,
    /// `/ipfs/lan/kad/1.0.0`.
    Lan,
}

/// Both DHTs, in the order jobs start on them.
pub(super) const DHTS: [Dht; 2] = [Dht::Wan, Dht::Lan];

/// A Kademlia query, tagged with its DHT.
pub(super) type QueryKey = (Dht, kad::QueryId);

/// Our id of a job (a provider lookup or a `routing` query) that runs one Kademlia
/// query on each DHT.
pub(super) type JobId = u64;

/// A job and its Kademlia queries still running (one per DHT at most).
pub(super) struct Job<T> {
    pub(super) running: heapless::Vec<QueryKey, 2>,
    pub(super) what: T,
}

/// Why a provider lookup was started.
pub(super) struct ProviderLookup {
    pub(super) session: SessionId,
    pub(super) found: Vec<PeerId>,
}

/// Why a `routing` query (findprovs, findpeer, provide) failed.
#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    /// [`MAX_ROUTING_QUERIES_COUNT`](super::MAX_ROUTING_QUERIES_COUNT) are running.
    #[error("too many routing queries running ({limit})")]
    TooMany { limit: usize },
    /// No DHT runs.
    #[error("routing is disabled (Routing.Type is none)")]
    Disabled,
    /// `findpeer`: no DHT found the peer.
    #[error("peer {peer} not found")]
    PeerNotFound { peer: PeerId },
    /// `provide`: no DHT started the query.
    #[error(transparent)]
    Start(#[from] StartError),
    /// `provide`: no DHT took the record; the last DHT's error.
    #[error("{0}")]
    Provide(#[source] kad::AddProviderError),
    /// `provide`: the queries ended without storing the record or an error.
    #[error("the provide query ended without a result")]
    NoResult,
}

/// Why a DHT did not start a query.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// `provide` with no peer in the DHT's table (Kubo's message).
    #[error("failed to find any peer in table")]
    EmptyTable,
    /// The local provider record store refused the record.
    #[error("{0}")]
    Store(#[from] kad::store::Error),
}
