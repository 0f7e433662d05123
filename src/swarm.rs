//! The daemon's network: the libp2p swarm task, bitswap, and the handle the RPC
//! API talks to.
//!
//! **What.** [`start`] reads the repo's `swarm.key` (private network, as Kubo), builds
//! the swarm from the config ([`acorn_net::swarm::build_swarm`]: identity key,
//! `Routing.Type` → DHT mode, `Acorn.LanDht` → LAN DHT, agent `acorn/<version>`),
//! listens on `Addresses.Swarm`, spawns bitswap ([`acorn_net::bitswap::Node`]) on the
//! swarm's stream control, adds the `Bootstrap` peers to Kademlia, and spawns the swarm
//! task on the daemon's one executor. It returns a [`NetHandle`]: a bounded command
//! channel into that task, the byte counters, and the bitswap handle (also given to the
//! core as its [`Fetcher`](crate::fetch::Fetcher), so content commands fetch missing
//! blocks).
//!
//! **Flow.** The swarm task waits on three sources, picked fairly: swarm events,
//! commands from the API, bitswap events. Connection events are forwarded to bitswap
//! (first connection of a peer: connected; last one closed: disconnected).
//! `FindProviders` from bitswap starts a Kademlia `get_providers` query whose providers
//! go back to the session; `Disconnect` closes the peer.
//! `routing findprovs|findpeer|provide` (and the `dht` aliases) run Kademlia queries;
//! providers found for bitswap are dialled while their query still knows their addresses. Roots
//! of pinned adds through the API are provided in the background; the listen addresses
//! (or `Addresses.Announce`) are announced as the node's external addresses, so
//! provider records carry them. `swarm connect` dials with a fresh connection id and
//! answers when that connection is established or fails. Shutdown
//! ([`NetHandle::shutdown`]) stops bitswap, drops the swarm (closing every connection),
//! and ends the task.
//!
//! **Two DHTs.** Every lookup and provide runs on the WAN DHT (`/ipfs/kad/1.0.0`) and,
//! when it is on, the LAN DHT (`/ipfs/lan/kad/1.0.0`), as Kubo's dual DHT does: one job
//! holds the Kademlia queries it started (each tagged with its DHT, since the two
//! behaviours count their query ids apart) and answers once both ended or it has
//! enough. Providers are merged without duplicates up to the asked maximum; `findpeer`
//! answers with the first DHT that finds the peer; a provide succeeds when either DHT
//! took it. Peers that identify with a DHT's protocol go into its routing table, the
//! LAN one only with LAN addresses ([`acorn_net::swarm::is_lan_addr`]).
//!
//! **Private networks.** With `$ACORN_PATH/swarm.key` every connection is wrapped in
//! pnet: peers without the key never complete the handshake. `ACORN_FORCE_PNET=1`
//! refuses to start without a key (Kubo's `LIBP2P_FORCE_PNET`).
//!
//! **Limits.** Commands queue in [`COMMAND_QUEUE_COUNT`] (full: the API request waits).
//! `swarm connect`s waiting for their dial: [`MAX_PENDING_DIALS_COUNT`] (more get an
//! error). DHT provider lookups for bitswap at once: [`MAX_PROVIDER_LOOKUPS_COUNT`]
//! (more are skipped; bitswap asks again next round), each keeping at most
//! [`PROVIDERS_PER_LOOKUP_COUNT`] providers. `routing` queries at once:
//! [`MAX_ROUTING_QUERIES_COUNT`] (more get an error; background provides are skipped);
//! each lookup or routing query runs at most one Kademlia query per DHT, so at most
//! twice these counts run in Kademlia; `findprovs` returns at most
//! [`MAX_NUM_PROVIDERS`]. The per-peer table is bounded by the swarm's connection
//! limits. A fetch waits at most [`FETCH_TIMEOUT`](crate::fetch::FETCH_TIMEOUT). The swarm's own limits are in
//! [`acorn_net::swarm::Config`].
//!
//! **Departures.** `Routing.Type` `dht` and `auto` run as a DHT client (Kubo makes
//! them a server once AutoNAT finds the node public; there is no AutoNAT yet).
//! `swarm addrs` lists the addresses in both Kademlia routing tables and of connected
//! peers (Kubo: its whole peerstore). `stats bw` counts as
//! [`acorn_net::bandwidth`] says: the total is raw TCP bytes (Kubo: stream bytes),
//! `--proto` and `--peer` count substream bytes; rates are Kubo's 1 s EWMA.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use acorn_net::bitswap::{self, NodeEvent, SessionId};
use acorn_net::pnet::{self, PreSharedKey};
use acorn_net::swarm::{self as net_swarm, Behaviour, BehaviourEvent, DhtMode, Kad};
use acorn_net::transport::tcp::Bandwidth;
use acorn_storage::block::{Block, BlockError};
use acorn_storage::blockstore::Store;
use anyhow::{bail, Context as _};
use cid::Cid;
use futures::channel::oneshot;
use futures::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{dial_opts::DialOpts, dial_opts::PeerCondition, ConnectionId, SwarmEvent};
use libp2p::{identify, kad, Multiaddr, PeerId, Swarm};
use smol::channel::{self, Receiver, Sender};
use smol::Executor;

use crate::config::{Config, RoutingType};
use crate::fetch::{FetchSession, Fetcher};

/// Environment variable that makes the daemon refuse to start without a swarm key.
pub const FORCE_PNET_ENV: &str = "ACORN_FORCE_PNET";
/// Commands queued from the API to the swarm task; when full, requests wait.
pub const COMMAND_QUEUE_COUNT: usize = 32;
/// `swarm connect` requests waiting for their dial at once; more get an error.
pub const MAX_PENDING_DIALS_COUNT: usize = 32;
/// Kademlia provider lookups for bitswap at once; more are skipped (bitswap asks
/// again on its next round).
pub const MAX_PROVIDER_LOOKUPS_COUNT: usize = 8;
/// Providers kept from one lookup.
pub const PROVIDERS_PER_LOOKUP_COUNT: usize = 20;
/// How long startup waits for the listeners to report their addresses.
pub const LISTEN_WAIT: Duration = Duration::from_secs(2);
/// Threads of bitswap's own blocking pool (its blockstore gets, haves and puts; the
/// threads exit when idle). Not the API's pool: the API's threads run long local
/// jobs (a 200 MiB `cat`), which a block arriving for another request must not
/// wait behind. Each call is one block (≤ 2 MiB), so one thread keeps up with a
/// loopback fetch.
pub const BITSWAP_BLOCKING_THREADS: usize = 1;
/// How long shutdown waits for the swarm task to stop.
pub const STOP_WAIT: Duration = Duration::from_secs(2);
/// `routing findprovs|findpeer|provide` queries running at once; more get an error.
pub const MAX_ROUTING_QUERIES_COUNT: usize = 16;
/// Providers `routing findprovs` returns by default (Kubo's `--num-providers`).
pub const DEFAULT_NUM_PROVIDERS: usize = 20;
/// Largest `--num-providers` accepted (bounds the answer held in memory).
pub const MAX_NUM_PROVIDERS: usize = 1000;
/// Default listen address when `Addresses.Swarm` is empty (Kubo's default port).
pub const DEFAULT_SWARM_ADDR: &str = "/ip4/0.0.0.0/tcp/4001";

/// The repo's swarm key, if any; errors when `ACORN_FORCE_PNET=1` and there is none.
pub fn load_swarm_key(root: &Path) -> anyhow::Result<Option<PreSharedKey>> {
    let key = pnet::read_swarm_key(&root.join(pnet::KEY_FILE_NAME))?;
    let forced = std::env::var(FORCE_PNET_ENV).is_ok_and(|v| v == "1" || v == "true");
    if forced && key.is_none() {
        bail!(
            "private network required ({FORCE_PNET_ENV} is set) but {} is missing",
            root.join(pnet::KEY_FILE_NAME).display()
        );
    }
    Ok(key)
}

/// The swarm settings from the node config.
pub fn swarm_config(config: &Config) -> net_swarm::Config {
    let dht_mode = match config.routing.kind {
        RoutingType::Dhtserver => DhtMode::Server,
        RoutingType::None => DhtMode::None,
        RoutingType::Dhtclient | RoutingType::Dht | RoutingType::Auto => DhtMode::Client,
    };
    let rm = &config.swarm.resource_mgr;
    let mut c = net_swarm::Config {
        agent_version: crate::core::agent_version(),
        dht_mode,
        lan_dht: config.acorn.lan_dht,
        // Checked when the config is loaded; an invalid value cannot get here.
        max_memory_bytes: config.swarm.resource_mgr.max_memory_bytes().ok().flatten(),
        inbound_per_ip: acorn_net::iplimit::Limits {
            max_pending_per_ip: rm.max_pending_inbound_conns_per_ip,
            max_pending_per_subnet: rm.max_pending_inbound_conns_per_subnet,
            max_established_per_ip: rm.max_inbound_conns_per_ip,
            max_established_per_subnet: rm.max_inbound_conns_per_subnet,
            ..acorn_net::iplimit::Limits::default()
        },
        ..net_swarm::Config::default()
    };
    // With the connection manager on, the hard limits follow `HighWater`: trimming
    // brings the count back to `LowWater`, the hard limit stops floods before that.
    if let Some(cm) = ConnMgrLimits::from_config(config) {
        let hard = cm.high.saturating_mul(CONN_HARD_LIMIT_FACTOR).max(1);
        c.max_connections = hard;
        c.max_inbound_connections = c.max_inbound_connections.min(hard);
        c.max_outbound_connections = c.max_outbound_connections.min(hard);
    }
    c
}

/// The swarm's hard connection limit is `Swarm.ConnMgr.HighWater` times this
/// (inbound and outbound limits are capped by it too).
pub const CONN_HARD_LIMIT_FACTOR: u32 = 2;

/// The protocols this node speaks, sorted, as `id` lists them; `lan_dht` as
/// [`net_swarm::Config::lan_dht`].
pub fn protocols(dht_mode: DhtMode, lan_dht: bool) -> Vec<String> {
    let mut p: Vec<String> = bitswap::Version::PROTOCOLS
        .iter()
        .map(|(s, _)| s.to_string())
        .collect();
    p.extend(
        ["/ipfs/id/1.0.0", "/ipfs/id/push/1.0.0", "/ipfs/ping/1.0.0"]
            .iter()
            .map(|s| s.to_string()),
    );
    if dht_mode == DhtMode::Server {
        p.push(net_swarm::KAD_PROTOCOL.to_string());
        if lan_dht {
            p.push(net_swarm::LAN_KAD_PROTOCOL.to_string());
        }
    }
    p.sort();
    p
}

/// One connected peer, as `swarm peers` shows it.
#[derive(Debug, Clone)]
pub struct PeerEntry {
    pub peer: PeerId,
    /// Remote address of the first connection.
    pub addr: Multiaddr,
    /// Whether we dialed it (Kubo's Direction 2) or it dialed us (1).
    pub outbound: bool,
}

/// Byte counters and rates for `stats bw` (bytes; bytes per second).
pub use acorn_net::bandwidth::Stats as BwStats;

/// What `stats bw` counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BwScope {
    /// Every connection, raw TCP bytes.
    Total,
    /// Substream bytes of one protocol (zeros for a protocol not tracked).
    Protocol(String),
    /// Substream bytes exchanged with one peer (zeros for a peer not tracked).
    Peer(PeerId),
}

/// `bitswap stat` figures.
#[derive(Debug, Clone)]
pub struct BitswapStat {
    pub stats: bitswap::Stats,
    /// Our live wants.
    pub wantlist: Vec<Cid>,
    /// Connected peers bitswap knows.
    pub peers: Vec<PeerId>,
}

enum Command {
    ListenAddrs(oneshot::Sender<Vec<Multiaddr>>),
    Connect {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        /// `None` for bootstrap dials nobody waits for.
        reply: Option<oneshot::Sender<Result<(), String>>>,
    },
    Disconnect {
        peer: PeerId,
        reply: oneshot::Sender<bool>,
    },
    Peers(oneshot::Sender<Vec<PeerEntry>>),
    KnownAddrs(oneshot::Sender<Vec<(PeerId, Vec<Multiaddr>)>>),
    FindProvs {
        key: kad::RecordKey,
        max: usize,
        reply: oneshot::Sender<Result<Vec<Provider>, String>>,
    },
    FindPeer {
        peer: PeerId,
        reply: oneshot::Sender<Result<Vec<Multiaddr>, String>>,
    },
    /// `None`: announce in the background (after an add, reprovide).
    Provide {
        key: kad::RecordKey,
        reply: Option<oneshot::Sender<Result<(), String>>>,
    },
    Shutdown(oneshot::Sender<()>),
    /// `bitswap stat`, answered by the swarm task from its bitswap handle (the API
    /// holds no bitswap handle of its own: one more handle kept the bitswap channel
    /// alive past shutdown).
    BitswapStat(oneshot::Sender<Result<BitswapStat, String>>),
    /// `bitswap wantlist [--peer]`.
    BitswapWantlist(Option<PeerId>, oneshot::Sender<Result<Vec<Cid>, String>>),
}

/// One provider found by `routing findprovs`.
#[derive(Debug, Clone)]
pub struct Provider {
    pub peer: PeerId,
    /// Addresses we know for it (connected or in the routing table); may be empty.
    pub addrs: Vec<Multiaddr>,
}

/// A `routing` query waiting for Kademlia.
enum RoutingQuery {
    FindProvs {
        found: Vec<PeerId>,
        max: usize,
        reply: oneshot::Sender<Result<Vec<Provider>, String>>,
    },
    FindPeer {
        peer: PeerId,
        /// The peer's addresses, once a DHT found it.
        found: Option<Vec<Multiaddr>>,
        reply: oneshot::Sender<Result<Vec<Multiaddr>, String>>,
    },
    Provide {
        /// Some DHT took the record.
        stored: bool,
        /// The last DHT's error, said when none took it.
        error: Option<String>,
        reply: Option<oneshot::Sender<Result<(), String>>>,
    },
}

/// Which DHT a Kademlia query runs on. The two behaviours count their query ids
/// apart, so an id alone may name a query on either.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Dht {
    /// `/ipfs/kad/1.0.0`.
    Wan,
    /// `/ipfs/lan/kad/1.0.0`.
    Lan,
}

/// Both DHTs, in the order jobs start on them.
const DHTS: [Dht; 2] = [Dht::Wan, Dht::Lan];

/// A Kademlia query, tagged with its DHT.
type QueryKey = (Dht, kad::QueryId);

/// Our id of a job (a provider lookup or a `routing` query) that runs one Kademlia
/// query on each DHT.
type JobId = u64;

/// A job and its Kademlia queries still running (one per DHT at most).
struct Job<T> {
    running: heapless::Vec<QueryKey, 2>,
    what: T,
}

/// Kubo's ping protocol.
pub const PING_PROTOCOL: &str = "/ipfs/ping/1.0.0";
/// Bytes of one ping, fixed by the protocol.
pub const PING_BYTES: usize = 32;
/// A ping round trip (or opening its stream) unanswered after this long fails.
pub const PING_TIMEOUT: Duration = Duration::from_secs(10);
/// Most pings one `ping` command sends (`--count`).
pub const MAX_PING_COUNT: usize = 1000;

/// `f`, or `None` once `after` has passed.
async fn with_deadline<T>(after: Duration, f: impl std::future::Future<Output = T>) -> Option<T> {
    futures_lite::future::or(async { Some(f.await) }, async {
        async_io::Timer::after(after).await;
        None
    })
    .await
}

/// The API's handle to the network. Cheap to clone.
#[derive(Clone)]
pub struct NetHandle {
    tx: Sender<Command>,
    /// Closed by [`NetHandle::shutdown`]: every fetch waiting on the network (on the
    /// blocking pool) fails at once, whatever state bitswap's tasks are in.
    fetch_stop: Sender<()>,
    peer_id: PeerId,
    dht_mode: DhtMode,
    /// The LAN DHT runs beside the WAN one.
    lan_dht: bool,
    bandwidth: Bandwidth,
    /// Opens the streams of `ping` (Kubo's `/ipfs/ping/1.0.0`, on demand).
    streams: libp2p_stream::Control,
}

/// Why a network command failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("the network is shutting down")]
    Closed,
    #[error("invalid peer address {addr:?}: {reason}")]
    BadAddr { addr: String, reason: String },
    #[error("connect {peer} failure: {reason}")]
    Connect { peer: PeerId, reason: String },
    #[error("disconnect {peer} failure: not connected")]
    NotConnected { peer: PeerId },
    #[error("routing: {0}")]
    Routing(String),
    #[error("bitswap: {0}")]
    Bitswap(String),
}

/// Splits `<addr>/p2p/<peer>` into the peer and the address before it.
pub fn split_p2p(s: &str) -> Result<(PeerId, Multiaddr), NetError> {
    let bad = |reason: &str| NetError::BadAddr {
        addr: s.to_string(),
        reason: reason.to_string(),
    };
    let mut addr = acorn_net::peer::parse_multiaddr(s).map_err(|e| match e {
        acorn_net::peer::ParseError::Multiaddr { reason, .. } => bad(&reason),
        peer => bad(&peer.to_string()),
    })?;
    match addr.pop() {
        Some(Protocol::P2p(peer)) => Ok((peer, addr)),
        _ => Err(bad("must end in /p2p/<peer-id>")),
    }
}

impl NetHandle {
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(make(tx)).await.map_err(|_| NetError::Closed)?;
        rx.await.map_err(|_| NetError::Closed)
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Protocols for `id`.
    pub fn protocols(&self) -> Vec<String> {
        protocols(self.dht_mode, self.lan_dht)
    }

    /// Addresses the swarm listens on (interfaces expanded).
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetError> {
        self.ask(Command::ListenAddrs).await
    }

    /// `swarm connect <addr>/p2p/<peer>`: resolves `/dns*` names, dials, and waits for
    /// the connection (or its failure).
    pub async fn connect(&self, target: &str) -> Result<PeerId, NetError> {
        let (peer, addr) = split_p2p(target)?;
        let addrs = if acorn_net::dns::is_dns(&addr) {
            acorn_net::dns::resolve(&addr)
                .await
                .map_err(|e| NetError::Connect {
                    peer,
                    reason: e.to_string(),
                })?
        } else {
            vec![addr]
        };
        self.ask(|reply| Command::Connect {
            peer,
            addrs,
            reply: Some(reply),
        })
        .await?
        .map_err(|reason| NetError::Connect { peer, reason })?;
        Ok(peer)
    }

    /// `ping`: `count` round trips of [`PING_BYTES`] random bytes on one
    /// `/ipfs/ping/1.0.0` stream (dialling the peer at a known address if need
    /// be); `each` gets every round trip's time, or why it failed (which ends the
    /// run). Each round trip has [`PING_TIMEOUT`].
    pub async fn ping(
        &self,
        peer: PeerId,
        count: usize,
        each: &mut (dyn FnMut(Result<Duration, String>) + Send),
    ) {
        use futures::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut control = self.streams.clone();
        let open = control.open_stream(peer, libp2p::StreamProtocol::new(PING_PROTOCOL));
        let mut stream = match with_deadline(PING_TIMEOUT, open).await {
            Some(Ok(s)) => s,
            Some(Err(e)) => return each(Err(format!("cannot open a ping stream: {e}"))),
            None => return each(Err("ping timed out".into())),
        };
        for _ in 0..count {
            let mut sent = [0u8; PING_BYTES];
            if let Err(e) = getrandom::fill(&mut sent) {
                return each(Err(format!("no random bytes: {e}")));
            }
            let started = Instant::now();
            let round = async {
                stream.write_all(&sent).await?;
                stream.flush().await?;
                let mut back = [0u8; PING_BYTES];
                stream.read_exact(&mut back).await?;
                Ok::<_, std::io::Error>(back)
            };
            match with_deadline(PING_TIMEOUT, round).await {
                Some(Ok(back)) if back == sent => each(Ok(started.elapsed())),
                Some(Ok(_)) => return each(Err("ping answer does not match".into())),
                Some(Err(e)) => return each(Err(format!("ping failed: {e}"))),
                None => return each(Err("ping timed out".into())),
            }
        }
    }

    /// `swarm disconnect`: closes every connection to the peer.
    pub async fn disconnect(&self, target: &str) -> Result<PeerId, NetError> {
        let peer = match split_p2p(target) {
            Ok((peer, _)) => peer,
            // A bare peer id or /p2p/<id> (no transport part) is fine too.
            Err(e) => acorn_net::peer::parse(target).map_err(|_| e)?,
        };
        if self
            .ask(|reply| Command::Disconnect { peer, reply })
            .await?
        {
            Ok(peer)
        } else {
            Err(NetError::NotConnected { peer })
        }
    }

    /// `swarm peers`.
    pub async fn peers(&self) -> Result<Vec<PeerEntry>, NetError> {
        self.ask(Command::Peers).await
    }

    /// `swarm addrs`: known addresses per peer.
    pub async fn known_addrs(&self) -> Result<Vec<(PeerId, Vec<Multiaddr>)>, NetError> {
        self.ask(Command::KnownAddrs).await
    }

    /// `routing findprovs`: up to `max` providers of `cid` from the DHT (and us).
    pub async fn find_providers(&self, cid: &Cid, max: usize) -> Result<Vec<Provider>, NetError> {
        let key = kad::RecordKey::new(&cid.hash().to_bytes());
        let max = max.clamp(1, MAX_NUM_PROVIDERS);
        self.ask(|reply| Command::FindProvs { key, max, reply })
            .await?
            .map_err(NetError::Routing)
    }

    /// `routing findpeer`: addresses of `peer` (connected, or found in the DHT).
    pub async fn find_peer(&self, peer: PeerId) -> Result<Vec<Multiaddr>, NetError> {
        self.ask(|reply| Command::FindPeer { peer, reply })
            .await?
            .map_err(NetError::Routing)
    }

    /// `routing provide`: announces that we provide `cid`, waiting for the DHT.
    pub async fn provide(&self, cid: &Cid) -> Result<(), NetError> {
        let key = kad::RecordKey::new(&cid.hash().to_bytes());
        self.ask(|reply| Command::Provide {
            key,
            reply: Some(reply),
        })
        .await?
        .map_err(NetError::Routing)
    }

    /// Announces `cid` in the background (after an add, reprovide). Dropped, with a
    /// debug log, when the command queue is full or there is no DHT.
    pub fn provide_later(&self, cid: &Cid) {
        if self.dht_mode == DhtMode::None {
            return;
        }
        let key = kad::RecordKey::new(&cid.hash().to_bytes());
        if self
            .tx
            .try_send(Command::Provide { key, reply: None })
            .is_err()
        {
            tracing::debug!(%cid, "provide skipped: command queue full");
        }
    }

    /// `stats bw [--proto P | --peer ID]`: totals and Kubo's 1 s EWMA rates.
    pub fn bandwidth(&self, scope: &BwScope) -> BwStats {
        let now = Instant::now();
        match scope {
            BwScope::Total => self.bandwidth.total(now),
            BwScope::Protocol(p) => self.bandwidth.protocol(p, now),
            BwScope::Peer(peer) => self.bandwidth.peer(peer, now),
        }
    }

    /// `bitswap stat`: bitswap's counters, our wants and its connected peers.
    pub async fn bitswap_stat(&self) -> Result<BitswapStat, NetError> {
        self.ask(Command::BitswapStat)
            .await?
            .map_err(NetError::Bitswap)
    }

    /// `bitswap wantlist [--peer]`: our wants, or what `peer` wants from us.
    pub async fn bitswap_wantlist(&self, peer: Option<PeerId>) -> Result<Vec<Cid>, NetError> {
        self.ask(|reply| Command::BitswapWantlist(peer, reply))
            .await?
            .map_err(NetError::Bitswap)
    }

    /// Stops bitswap and the swarm (connections close); waits up to [`STOP_WAIT`].
    /// First fails every fetch still waiting (see [`BitswapFetcher`]).
    pub async fn shutdown(&self) {
        self.fetch_stop.close();
        let stop = async {
            let _ = self.ask(Command::Shutdown).await;
        };
        smol::future::or(stop, async {
            async_io::Timer::after(STOP_WAIT).await;
        })
        .await;
    }
}

/// The repo as bitswap sees it. Calls run on bitswap's own pool
/// ([`BITSWAP_BLOCKING_THREADS`]), never on the executor thread; each block is one
/// non-durable transaction ([`Store::put_block_lazy`]: one durable commit in 256)
/// taken under an add guard, so it never lands in the middle of a GC sweep. Blocks
/// fetched for `pin add` stay protected by the pin's own guard until the pin commits.
struct RepoBlocks(Store);

impl bitswap::Blockstore for RepoBlocks {
    fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, BlockError> {
        self.0.get(cid)
    }
    fn has(&self, cid: &Cid) -> Result<bool, BlockError> {
        self.0.has(cid)
    }
    fn put(&self, block: &Block) -> Result<(), BlockError> {
        let _guard = self.0.begin_add();
        // Fetched blocks are a cache until pinned: no fsync per block (SD wear); a
        // pin syncs them first.
        self.0.put_block_lazy(block).map(drop)
    }
}

/// The core's fetcher: bitswap sessions, awaited on the executor ([`crate::fetch`]).
///
/// A fetch waits for bitswap's reply or for the daemon's shutdown (`stop` closes),
/// whichever comes first (the caller bounds the wait: [`FETCH_TIMEOUT`](crate::fetch::FETCH_TIMEOUT) at most).
/// The shutdown arm makes a pending fetch fail at once without relying on
/// bitswap's tasks: a reply can sit in a task or channel queue of bitswap's (a miss
/// on its way to the driver, a block being stored) that is only dropped with the
/// executor. Dropping a fetch drops its reply channel; dropping the session
/// cancels its wants.
struct BitswapFetcher {
    bitswap: bitswap::Handle,
    stop: Receiver<()>,
}

struct BitswapSession {
    session: bitswap::Session,
    stop: Receiver<()>,
}

async fn or_stop<T>(
    stop: &Receiver<()>,
    f: impl std::future::Future<Output = Result<T, BlockError>>,
) -> Result<T, BlockError> {
    if stop.is_closed() {
        return Err(shutting_down());
    }
    let stopped = async {
        // Nothing is ever sent: this returns when the channel closes.
        let _ = stop.recv().await;
        Err(shutting_down())
    };
    smol::future::or(f, stopped).await
}

fn shutting_down() -> BlockError {
    BlockError::Io("bitswap: the node is shutting down".into())
}

impl Fetcher for BitswapFetcher {
    fn open(
        &self,
    ) -> futures::future::BoxFuture<'static, Result<Box<dyn FetchSession>, BlockError>> {
        let (bitswap, stop) = (self.bitswap.clone(), self.stop.clone());
        Box::pin(async move {
            let s = or_stop(&stop, async {
                bitswap
                    .new_session()
                    .await
                    .map_err(|e| BlockError::Io(format!("bitswap: {e}")))
            })
            .await?;
            Ok(Box::new(BitswapSession { session: s, stop }) as Box<dyn FetchSession>)
        })
    }
}

impl FetchSession for BitswapSession {
    fn fetch(
        &self,
        cid: Cid,
    ) -> futures::future::BoxFuture<'_, Result<Option<Vec<u8>>, BlockError>> {
        Box::pin(or_stop(&self.stop, async move {
            match self.session.fetch(cid).await {
                Ok(b) => Ok(Some(b.into_parts().1)),
                Err(bitswap::Error::NotFound { .. }) => Ok(None),
                Err(bitswap::Error::Store(e)) => Err(e),
                Err(e) => Err(BlockError::Io(format!("bitswap: {e}"))),
            }
        }))
    }
}

/// Builds and starts the network on `ex`; prints Kubo's "Swarm listening on" lines
/// (call inside `ex.run`, since listening needs the swarm task running).
pub async fn start(
    ex: &Arc<Executor<'static>>,
    root: &Path,
    node: &crate::core::Node,
) -> anyhow::Result<NetHandle> {
    let config = node.config();
    let psk = load_swarm_key(root)?;
    if psk.is_some() {
        println!("Swarm is limited to private network of peers with the swarm key");
    }
    let ident = crate::identity::Identity::from_config(&config.identity)?;
    let keypair = ident.keypair().clone();
    let scfg = swarm_config(config);
    let (mut swarm, bandwidth) =
        net_swarm::build_swarm(&keypair, &scfg, psk, net_swarm::Executor::new(ex.clone()))
            .context("building the swarm")?;
    let listen: Vec<String> = if config.addresses.swarm.is_empty() {
        vec![DEFAULT_SWARM_ADDR.to_string()]
    } else {
        config.addresses.swarm.clone()
    };
    let mut listeners = 0;
    for a in &listen {
        let ma = acorn_net::peer::parse_multiaddr(a)
            .with_context(|| format!("Addresses.Swarm: bad multiaddr {a:?}"))?;
        match swarm.listen_on(ma) {
            Ok(_) => listeners += 1,
            Err(e) => eprintln!("WARNING: cannot listen on {a}: {e}"),
        }
    }
    if listeners == 0 && !listen.is_empty() {
        bail!("Addresses.Swarm: could not listen on any of {listen:?}");
    }
    let control = swarm.behaviour().stream.new_control();
    let store: Arc<dyn bitswap::Blockstore> = Arc::new(RepoBlocks(node.store().clone()));
    let blocking: Arc<dyn bitswap::Blocking> = Arc::new(crate::pool::Pool::named(
        "acorn-bitswap",
        BITSWAP_BLOCKING_THREADS,
    ));
    let (bs, bs_events) =
        bitswap::Node::spawn(ex, control, store, blocking, bitswap::Config::default())
            .context("starting bitswap")?;
    // A channel that never carries a message: closing it is the shutdown signal.
    let (fetch_stop, stop) = channel::bounded(1);
    node.set_fetcher(Arc::new(BitswapFetcher {
        bitswap: bs.clone(),
        stop,
    }))?;

    let (tx, rx) = channel::bounded(COMMAND_QUEUE_COUNT);
    let handle = NetHandle {
        tx: tx.clone(),
        fetch_stop,
        peer_id: ident.peer_id(),
        dht_mode: scfg.dht_mode,
        lan_dht: scfg.lan_dht,
        bandwidth: bandwidth.clone(),
        streams: swarm.behaviour().stream.new_control(),
    };
    // Announced addresses (Kubo's Addresses.Announce) go into provider records and
    // identify; without any, the listen addresses are announced (as Kubo does).
    for a in &config.addresses.announce {
        match acorn_net::peer::parse_multiaddr(a) {
            Ok(m) => swarm.add_external_address(m),
            Err(e) => eprintln!("WARNING: Addresses.Announce: bad multiaddr {a:?}: {e}"),
        }
    }
    let (ready_tx, ready_rx) = oneshot::channel();
    let task = Task {
        swarm,
        bitswap: bs,
        peers: HashMap::new(),
        connected_at: HashMap::new(),
        conn_mgr: ConnMgrLimits::from_config(config),
        bandwidth,
        trim_at: None,
        dials: HashMap::new(),
        lookups: HashMap::new(),
        routing: HashMap::new(),
        queries: HashMap::new(),
        next_job: 0,
        announce: !config.addresses.announce.is_empty(),
        listen_reports: listeners,
        ready: Some(ready_tx),
    };
    ex.spawn(task.run(rx, bs_events)).detach();
    // Bootstrap peers: resolved off the swarm task, then added to Kademlia.
    let boot = config.bootstrap.clone();
    if !boot.is_empty() {
        let h = handle.clone();
        ex.spawn(async move { bootstrap(h, boot).await }).detach();
    }
    smol::future::or(
        async {
            let _ = ready_rx.await;
        },
        async {
            async_io::Timer::after(LISTEN_WAIT).await;
        },
    )
    .await;
    Ok(handle)
}

/// Adds the `Bootstrap` peers: resolves `/dns*` and `/dnsaddr` names, dials each
/// (unreachable ones are logged, never fatal) so Kademlia learns them.
async fn bootstrap(h: NetHandle, addrs: Vec<String>) {
    for a in addrs {
        let (peer, addr) = match split_p2p(&a) {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("Bootstrap: {e}");
                continue;
            }
        };
        let resolved = if acorn_net::dns::is_dns(&addr) {
            match acorn_net::dns::resolve(&addr.clone().with(Protocol::P2p(peer))).await {
                Ok(v) => v
                    .into_iter()
                    .map(|mut m| {
                        if let Some(Protocol::P2p(_)) = m.iter().last() {
                            m.pop();
                        }
                        m
                    })
                    .collect(),
                Err(e) => {
                    tracing::info!("Bootstrap {a}: {e}");
                    continue;
                }
            }
        } else {
            vec![addr]
        };
        // Fire and forget: an unreachable bootstrap peer is only logged.
        let cmd = Command::Connect {
            peer,
            addrs: resolved,
            reply: None,
        };
        if h.tx.send(cmd).await.is_err() {
            return;
        }
    }
}

/// Why a provider lookup was started.
struct ProviderLookup {
    session: SessionId,
    found: Vec<PeerId>,
}

/// The swarm task's state.
struct Task {
    swarm: Swarm<Behaviour>,
    bitswap: bitswap::Handle,
    /// Connected peers (bounded by the swarm's connection limits): first
    /// connection's entry and the number of open connections.
    peers: HashMap<PeerId, (PeerEntry, u32)>,
    /// When each connected peer connected (same keys as `peers`).
    connected_at: HashMap<PeerId, Instant>,
    /// `Swarm.ConnMgr` (`None` for `Type = "none"`).
    conn_mgr: Option<ConnMgrLimits>,
    /// Per-peer traffic, to trim the least used peers first.
    bandwidth: acorn_net::bandwidth::Bandwidth,
    /// When the next trim is due: set while over `HighWater` with peers that are
    /// still inside their grace period.
    trim_at: Option<Instant>,
    /// `swarm connect`s waiting for their dial (≤ [`MAX_PENDING_DIALS_COUNT`]).
    dials: HashMap<ConnectionId, (PeerId, oneshot::Sender<Result<(), String>>)>,
    /// Provider lookups for bitswap (≤ [`MAX_PROVIDER_LOOKUPS_COUNT`]).
    lookups: HashMap<JobId, Job<ProviderLookup>>,
    /// `routing` queries (≤ [`MAX_ROUTING_QUERIES_COUNT`]).
    routing: HashMap<JobId, Job<RoutingQuery>>,
    /// The job of each running Kademlia query (≤ 2 × the two bounds above).
    queries: HashMap<QueryKey, JobId>,
    /// The next [`JobId`] (a `u64` does not wrap in the node's lifetime).
    next_job: JobId,
    /// `Addresses.Announce` is set: do not announce listen addresses.
    announce: bool,
    /// Listeners that have not reported an address yet.
    listen_reports: usize,
    ready: Option<oneshot::Sender<()>>,
}

/// Kubo's basic connection manager settings (`Swarm.ConnMgr`): above `high`
/// connected peers, peers connected for longer than `grace` are disconnected,
/// least traffic first, until `low` remain. The swarm's hard limits
/// ([`net_swarm::Config::max_connections`]) are derived from `high` too.
#[derive(Clone, Copy, Debug)]
pub struct ConnMgrLimits {
    pub low: u32,
    pub high: u32,
    pub grace: Duration,
}

impl ConnMgrLimits {
    /// From the config; `None` when `Swarm.ConnMgr.Type` is `"none"`.
    pub fn from_config(config: &Config) -> Option<ConnMgrLimits> {
        let cm = &config.swarm.conn_mgr;
        if cm.kind == "none" {
            return None;
        }
        Some(ConnMgrLimits {
            low: cm.low_water,
            high: cm.high_water,
            // Checked when the config is loaded.
            grace: crate::config::parse_duration(&cm.grace_period).unwrap_or(Duration::ZERO),
        })
    }
}

enum Wake {
    Trim,
    Swarm(Box<SwarmEvent<BehaviourEvent>>),
    Cmd(Option<Command>),
    Bitswap(Option<NodeEvent>),
}

impl Task {
    async fn run(mut self, cmds: Receiver<Command>, bs_events: Receiver<NodeEvent>) {
        let mut bitswap_open = true;
        loop {
            let wake = {
                let swarm = async { Wake::Swarm(Box::new(self.swarm.select_next_some().await)) };
                let cmd = async { Wake::Cmd(cmds.recv().await.ok()) };
                let bs = async {
                    if !bitswap_open {
                        futures::future::pending::<()>().await;
                    }
                    Wake::Bitswap(bs_events.recv().await.ok())
                };
                let trim = async {
                    match self.trim_at {
                        Some(t) => {
                            async_io::Timer::at(t).await;
                        }
                        None => futures::future::pending::<()>().await,
                    }
                    Wake::Trim
                };
                smol::future::race(smol::future::race(swarm, trim), smol::future::race(cmd, bs))
                    .await
            };
            match wake {
                Wake::Trim => self.trim(),
                Wake::Swarm(ev) => self.on_swarm(*ev).await,
                Wake::Cmd(Some(Command::Shutdown(reply))) => {
                    let _ = self.bitswap.shutdown().await;
                    for (_, (_, r)) in self.dials.drain() {
                        let _ = r.send(Err("the node is shutting down".into()));
                    }
                    drop(self);
                    let _ = reply.send(());
                    return;
                }
                // Bitswap answers from its own task, which never waits on this one.
                Wake::Cmd(Some(Command::BitswapStat(reply))) => {
                    let bs = &self.bitswap;
                    let r = async {
                        Ok::<_, bitswap::Error>(BitswapStat {
                            stats: bs.stats().await?,
                            wantlist: bs.wantlist().await?,
                            peers: bs.peers().await?,
                        })
                    }
                    .await;
                    let _ = reply.send(r.map_err(|e| e.to_string()));
                }
                Wake::Cmd(Some(Command::BitswapWantlist(peer, reply))) => {
                    let r = match peer {
                        Some(p) => self.bitswap.peer_wantlist(p).await,
                        None => self.bitswap.wantlist().await,
                    };
                    let _ = reply.send(r.map_err(|e| e.to_string()));
                }
                Wake::Cmd(Some(c)) => self.on_command(c),
                // Every handle dropped: the daemon is gone.
                Wake::Cmd(None) => return,
                Wake::Bitswap(Some(ev)) => self.on_bitswap(ev),
                Wake::Bitswap(None) => bitswap_open = false,
            }
        }
    }

    fn kad(&mut self) -> Option<&mut Kad> {
        self.kad_of(Dht::Wan)
    }

    fn kad_of(&mut self, dht: Dht) -> Option<&mut Kad> {
        let b = self.swarm.behaviour_mut();
        match dht {
            Dht::Wan => b.kad.as_mut(),
            Dht::Lan => b.kad_lan.as_mut(),
        }
    }

    /// A fresh job id.
    fn job_id(&mut self) -> JobId {
        let id = self.next_job;
        self.next_job = self.next_job.wrapping_add(1);
        id
    }

    /// Starts `start` on each DHT that is on; returns the queries started (tagged)
    /// and the last error of those that did not start.
    fn start_on_both(
        &mut self,
        job: JobId,
        mut start: impl FnMut(&mut Kad) -> Result<kad::QueryId, String>,
    ) -> (heapless::Vec<QueryKey, 2>, Option<String>) {
        let mut running = heapless::Vec::new();
        let mut error = None;
        for dht in DHTS {
            let Some(k) = self.kad_of(dht) else { continue };
            match start(k) {
                Ok(q) => {
                    // Two slots for two DHTs: the push cannot fail.
                    let _ = running.push((dht, q));
                    self.queries.insert((dht, q), job);
                }
                Err(e) => error = Some(e),
            }
        }
        (running, error)
    }

    /// Stops the given Kademlia queries and forgets them (their last event is then
    /// ignored).
    fn finish_queries(&mut self, running: &[QueryKey]) {
        for key @ (dht, id) in running {
            self.queries.remove(key);
            if let Some(mut q) = self.kad_of(*dht).and_then(|k| k.query_mut(id)) {
                q.finish();
            }
        }
    }

    fn has_dht(&self) -> bool {
        self.swarm.behaviour().kad.is_enabled()
    }

    fn on_command(&mut self, c: Command) {
        match c {
            Command::ListenAddrs(reply) => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
            Command::Connect { peer, addrs, reply } => {
                if peer == *self.swarm.local_peer_id() {
                    if let Some(r) = reply {
                        let _ = r.send(Err("dial to self attempted".into()));
                    }
                    return;
                }
                if self.swarm.is_connected(&peer) {
                    if let Some(r) = reply {
                        let _ = r.send(Ok(()));
                    }
                    return;
                }
                if reply.is_some() && self.dials.len() >= MAX_PENDING_DIALS_COUNT {
                    if let Some(r) = reply {
                        let _ = r.send(Err(format!(
                            "too many connects in progress ({MAX_PENDING_DIALS_COUNT})"
                        )));
                    }
                    return;
                }
                if let Some(k) = self.kad() {
                    for a in &addrs {
                        k.add_address(&peer, a.clone());
                    }
                }
                let opts = DialOpts::peer_id(peer)
                    .addresses(addrs)
                    .condition(PeerCondition::Always)
                    .build();
                let id = opts.connection_id();
                match self.swarm.dial(opts) {
                    Ok(()) => {
                        if let Some(r) = reply {
                            self.dials.insert(id, (peer, r));
                        }
                    }
                    Err(e) => {
                        if let Some(r) = reply {
                            let _ = r.send(Err(e.to_string()));
                        }
                    }
                }
            }
            Command::Disconnect { peer, reply } => {
                let _ = reply.send(self.swarm.disconnect_peer_id(peer).is_ok());
            }
            Command::Peers(reply) => {
                let mut v: Vec<PeerEntry> = self.peers.values().map(|(e, _)| e.clone()).collect();
                v.sort_by_key(|e| e.peer.to_bytes());
                let _ = reply.send(v);
            }
            Command::KnownAddrs(reply) => {
                let mut m: HashMap<PeerId, Vec<Multiaddr>> = HashMap::new();
                for (p, (e, _)) in &self.peers {
                    m.entry(*p).or_default().push(e.addr.clone());
                }
                for dht in DHTS {
                    let Some(k) = self.kad_of(dht) else { continue };
                    for bucket in k.kbuckets() {
                        for entry in bucket.iter() {
                            let v = m.entry(*entry.node.key.preimage()).or_default();
                            for a in entry.node.value.iter() {
                                if !v.contains(a) {
                                    v.push(a.clone());
                                }
                            }
                        }
                    }
                }
                let mut v: Vec<_> = m.into_iter().collect();
                v.sort_by_key(|(p, _)| p.to_bytes());
                let _ = reply.send(v);
            }
            Command::FindProvs { key, max, reply } => {
                let Some(reply) = self.routing_slot(reply) else {
                    return;
                };
                if !self.has_dht() {
                    let _ = reply.send(Err(NO_DHT.into()));
                    return;
                }
                let job = self.job_id();
                let (running, _) = self.start_on_both(job, |k| Ok(k.get_providers(key.clone())));
                let what = RoutingQuery::FindProvs {
                    found: Vec::new(),
                    max,
                    reply,
                };
                self.routing.insert(job, Job { running, what });
            }
            Command::FindPeer { peer, reply } => {
                // Connected (or known from a routing table): answer at once.
                let known = self.addrs_of(&peer);
                if !known.is_empty() {
                    let _ = reply.send(Ok(known));
                    return;
                }
                let Some(reply) = self.routing_slot(reply) else {
                    return;
                };
                if !self.has_dht() {
                    let _ = reply.send(Err(NO_DHT.into()));
                    return;
                }
                let job = self.job_id();
                let (running, _) = self.start_on_both(job, |k| Ok(k.get_closest_peers(peer)));
                let what = RoutingQuery::FindPeer {
                    peer,
                    found: None,
                    reply,
                };
                self.routing.insert(job, Job { running, what });
            }
            Command::Provide { key, reply } => {
                if self.routing.len() >= MAX_ROUTING_QUERIES_COUNT {
                    match reply {
                        Some(r) => drop(r.send(Err(format!(
                            "too many routing queries running ({MAX_ROUTING_QUERIES_COUNT})"
                        )))),
                        None => tracing::debug!("background provide skipped: too many queries"),
                    }
                    return;
                }
                if !self.has_dht() {
                    if let Some(r) = reply {
                        let _ = r.send(Err(NO_DHT.into()));
                    }
                    return;
                }
                // Each DHT with a peer in its table takes the record.
                let job = self.job_id();
                let (running, error) = self.start_on_both(job, |k| {
                    if k.kbuckets().all(|b| b.num_entries() == 0) {
                        return Err("failed to find any peer in table".into());
                    }
                    k.start_providing(key.clone()).map_err(|e| e.to_string())
                });
                if running.is_empty() {
                    if let Some(r) = reply {
                        let _ = r.send(Err(error.unwrap_or_else(|| NO_DHT.into())));
                    }
                    return;
                }
                let what = RoutingQuery::Provide {
                    stored: false,
                    error: None,
                    reply,
                };
                self.routing.insert(job, Job { running, what });
            }
            // Handled in `run`.
            Command::Shutdown(_) | Command::BitswapStat(_) | Command::BitswapWantlist(..) => {}
        }
    }

    /// Admits a routing query, or answers "too many" and returns `None`.
    fn routing_slot<T>(
        &self,
        reply: oneshot::Sender<Result<T, String>>,
    ) -> Option<oneshot::Sender<Result<T, String>>> {
        if self.routing.len() >= MAX_ROUTING_QUERIES_COUNT {
            let _ = reply.send(Err(format!(
                "too many routing queries running ({MAX_ROUTING_QUERIES_COUNT})"
            )));
            return None;
        }
        Some(reply)
    }

    /// Addresses we know for `peer`: its connection, then the routing tables.
    fn addrs_of(&mut self, peer: &PeerId) -> Vec<Multiaddr> {
        let mut v: Vec<Multiaddr> = self
            .peers
            .get(peer)
            .map(|(e, _)| vec![e.addr.clone()])
            .unwrap_or_default();
        for dht in DHTS {
            let Some(k) = self.kad_of(dht) else { continue };
            if let Some(entry) = k.kbucket(*peer) {
                for e in entry.iter() {
                    if e.node.key.preimage() == peer {
                        for a in e.node.value.iter() {
                            if !v.contains(a) {
                                v.push(a.clone());
                            }
                        }
                    }
                }
            }
        }
        v
    }

    /// Dials providers while their query still knows their addresses (Kademlia
    /// hands a dial the addresses of peers seen by running queries), so bitswap can
    /// reach them.
    fn dial_providers(&mut self, providers: &[PeerId]) {
        let me = *self.swarm.local_peer_id();
        for p in providers {
            if *p != me && !self.swarm.is_connected(p) {
                let opts = DialOpts::peer_id(*p)
                    .condition(PeerCondition::DisconnectedAndNotDialing)
                    .build();
                if let Err(e) = self.swarm.dial(opts) {
                    tracing::debug!(peer = %p, "dialing a provider: {e}");
                }
            }
        }
    }

    fn on_bitswap(&mut self, ev: NodeEvent) {
        match ev {
            NodeEvent::FindProviders { session, cid } => {
                if self.lookups.len() >= MAX_PROVIDER_LOOKUPS_COUNT {
                    tracing::debug!(%cid, "provider lookup skipped: too many running");
                    return;
                }
                let key = kad::RecordKey::new(&cid.hash().to_bytes());
                if self.has_dht() {
                    let job = self.job_id();
                    let (running, _) =
                        self.start_on_both(job, |k| Ok(k.get_providers(key.clone())));
                    let what = ProviderLookup {
                        session,
                        found: Vec::new(),
                    };
                    self.lookups.insert(job, Job { running, what });
                }
            }
            NodeEvent::Disconnect { peer } => {
                tracing::info!(%peer, "bitswap: disconnecting a misbehaving peer");
                let _ = self.swarm.disconnect_peer_id(peer);
            }
        }
    }

    /// The connection manager: when more than `HighWater` peers are connected,
    /// disconnects peers past their grace period, least traffic (bytes both ways)
    /// first, until `LowWater` remain; peers still in grace are kept and a new trim
    /// is scheduled for when the first of them leaves it.
    fn trim(&mut self) {
        self.trim_at = None;
        let Some(cm) = self.conn_mgr else {
            return;
        };
        if self.peers.len() <= cm.high as usize {
            return;
        }
        let now = Instant::now();
        let mut candidates: Vec<(u64, PeerId)> = Vec::new();
        let mut next_due: Option<Instant> = None;
        for (peer, at) in &self.connected_at {
            let due = *at + cm.grace;
            if due <= now {
                let b = self.bandwidth.peer(peer, now);
                candidates.push((b.total_in.saturating_add(b.total_out), *peer));
            } else {
                next_due = Some(next_due.map_or(due, |d: Instant| d.min(due)));
            }
        }
        candidates.sort();
        let excess = self.peers.len().saturating_sub(cm.low as usize);
        let closing = excess.min(candidates.len());
        for (_, peer) in candidates.into_iter().take(closing) {
            tracing::debug!("connection manager: disconnecting {peer}");
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        if closing < excess {
            self.trim_at = next_due;
        }
    }

    async fn on_swarm(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::NewListenAddr { address, .. } => {
                println!("Swarm listening on {address}");
                if !self.announce {
                    self.swarm.add_external_address(address.clone());
                }
                if self.listen_reports > 0 {
                    self.listen_reports -= 1;
                }
                if self.listen_reports == 0 {
                    if let Some(r) = self.ready.take() {
                        let _ = r.send(());
                    }
                }
            }
            // An interface address went away: stop announcing it.
            SwarmEvent::ExpiredListenAddr { address, .. } if !self.announce => {
                self.swarm.remove_external_address(&address);
            }
            SwarmEvent::ListenerError { error, .. } => {
                tracing::warn!("swarm listener: {error}");
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                if let Some((_, r)) = self.dials.remove(&connection_id) {
                    let _ = r.send(Ok(()));
                }
                let first = match self.peers.get_mut(&peer_id) {
                    Some((_, n)) => {
                        *n += 1;
                        false
                    }
                    None => {
                        let mut addr = endpoint.get_remote_address().clone();
                        if let Some(Protocol::P2p(_)) = addr.iter().last() {
                            addr.pop();
                        }
                        let entry = PeerEntry {
                            peer: peer_id,
                            addr,
                            outbound: endpoint.is_dialer(),
                        };
                        self.peers.insert(peer_id, (entry, 1));
                        self.connected_at.insert(peer_id, Instant::now());
                        true
                    }
                };
                if first {
                    let _ = self.bitswap.peer_connected(peer_id).await;
                    self.trim();
                }
            }
            SwarmEvent::ConnectionClosed { peer_id, .. } => {
                let last = match self.peers.get_mut(&peer_id) {
                    Some((_, n)) => {
                        *n = n.saturating_sub(1);
                        *n == 0
                    }
                    None => false,
                };
                if last {
                    self.peers.remove(&peer_id);
                    self.connected_at.remove(&peer_id);
                    let _ = self.bitswap.peer_disconnected(peer_id).await;
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                error,
                ..
            } => {
                if let Some((_, r)) = self.dials.remove(&connection_id) {
                    let _ = r.send(Err(error.to_string()));
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                // Peers that serve a DHT go into its routing table (as Kubo does); the
                // LAN table takes only their LAN addresses.
                if info.protocols.contains(&net_swarm::LAN_KAD_PROTOCOL) {
                    if let Some(k) = self.kad_of(Dht::Lan) {
                        net_swarm::add_lan_addresses(k, &peer_id, info.listen_addrs.clone());
                    }
                }
                if info.protocols.contains(&net_swarm::KAD_PROTOCOL) {
                    if let Some(k) = self.kad() {
                        for a in info.listen_addrs {
                            k.add_address(&peer_id, a);
                        }
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(ev)) => self.on_kad(Dht::Wan, ev).await,
            SwarmEvent::Behaviour(BehaviourEvent::KadLan(ev)) => {
                if let Some(k) = self.kad_of(Dht::Lan) {
                    net_swarm::keep_lan_table(k, &ev);
                }
                self.on_kad(Dht::Lan, ev).await
            }
            _ => {}
        }
    }

    async fn on_kad(&mut self, dht: Dht, ev: kad::Event) {
        let kad::Event::OutboundQueryProgressed {
            id, result, step, ..
        } = ev
        else {
            return;
        };
        let key = (dht, id);
        let Some(&job) = self.queries.get(&key) else {
            return;
        };
        if step.last {
            self.queries.remove(&key);
        }
        if self.routing.contains_key(&job) {
            self.on_routing(job, key, result, step.last);
        } else if self.lookups.contains_key(&job) {
            self.on_lookup(job, key, result, step.last).await;
        }
    }

    /// Progress of a provider lookup for bitswap on one DHT.
    async fn on_lookup(&mut self, job: JobId, key: QueryKey, result: kad::QueryResult, last: bool) {
        if let kad::QueryResult::GetProviders(Ok(kad::GetProvidersOk::FoundProviders {
            providers,
            ..
        })) = result
        {
            let list: Vec<PeerId> = providers.iter().copied().collect();
            self.dial_providers(&list);
            if let Some(l) = self.lookups.get_mut(&job) {
                for p in providers {
                    if l.what.found.len() < PROVIDERS_PER_LOOKUP_COUNT && !l.what.found.contains(&p)
                    {
                        l.what.found.push(p);
                    }
                }
            }
        }
        let Some(l) = self.lookups.get_mut(&job) else {
            return;
        };
        if last {
            l.running.retain(|k| *k != key);
        }
        let full = l.what.found.len() >= PROVIDERS_PER_LOOKUP_COUNT;
        if !(full || l.running.is_empty()) {
            return;
        }
        if let Some(l) = self.lookups.remove(&job) {
            self.finish_queries(&l.running);
            if !l.what.found.is_empty() {
                let _ = self
                    .bitswap
                    .add_providers(l.what.session, l.what.found)
                    .await;
            }
        }
    }
}

const NO_DHT: &str = "routing is disabled (Routing.Type is none)";

impl Task {
    /// Progress of a `routing` query on one DHT; the answer goes out once it has
    /// enough or both DHTs' queries ended.
    fn on_routing(&mut self, job: JobId, key: QueryKey, result: kad::QueryResult, last: bool) {
        let Some(q) = self.routing.get_mut(&job) else {
            return;
        };
        if last {
            q.running.retain(|k| *k != key);
        }
        let mut done = q.running.is_empty();
        match (&mut q.what, result) {
            (
                RoutingQuery::FindProvs { found, max, .. },
                kad::QueryResult::GetProviders(Ok(kad::GetProvidersOk::FoundProviders {
                    providers,
                    ..
                })),
            ) => {
                for p in providers {
                    if found.len() < *max && !found.contains(&p) {
                        found.push(p);
                    }
                }
                done |= found.len() >= *max;
            }
            (RoutingQuery::FindPeer { peer, found, .. }, kad::QueryResult::GetClosestPeers(r)) => {
                let peers = match r {
                    Ok(ok) => ok.peers,
                    Err(kad::GetClosestPeersError::Timeout { peers, .. }) => peers,
                };
                if let Some(info) = peers.into_iter().find(|i| i.peer_id == *peer) {
                    *found = Some(info.addrs);
                    done = true;
                }
            }
            (RoutingQuery::Provide { stored, error, .. }, kad::QueryResult::StartProviding(r)) => {
                match r {
                    Ok(_) => *stored = true,
                    Err(e) => *error = Some(e.to_string()),
                }
            }
            _ => {}
        }
        if !done {
            return;
        }
        let Some(q) = self.routing.remove(&job) else {
            return;
        };
        self.finish_queries(&q.running);
        match q.what {
            RoutingQuery::FindProvs { found, reply, .. } => {
                let list = found
                    .into_iter()
                    .map(|peer| Provider {
                        addrs: self.addrs_of(&peer),
                        peer,
                    })
                    .collect();
                let _ = reply.send(Ok(list));
            }
            RoutingQuery::FindPeer { peer, found, reply } => {
                let _ = reply.send(found.ok_or_else(|| format!("peer {peer} not found")));
            }
            RoutingQuery::Provide {
                stored,
                error,
                reply,
            } => {
                let r = if stored {
                    Ok(())
                } else {
                    Err(error.unwrap_or_else(|| "the provide query ended without a result".into()))
                };
                match reply {
                    Some(reply) => drop(reply.send(r)),
                    None => {
                        if let Err(e) = r {
                            tracing::debug!("background provide: {e}");
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_p2p_needs_a_peer() {
        let peer = PeerId::random();
        let (p, a) = split_p2p(&format!("/ip4/1.2.3.4/tcp/5/p2p/{peer}")).unwrap();
        assert_eq!((p, a.to_string()), (peer, "/ip4/1.2.3.4/tcp/5".to_string()));
        let (p, a) = split_p2p(&format!("/dns4/example.com/tcp/5/p2p/{peer}")).unwrap();
        assert_eq!(p, peer);
        assert!(acorn_net::dns::is_dns(&a));
        // The peer as a libp2p-key CIDv1 in base36 (`k51…`), as Kubo also takes it.
        let mh = cid::multihash::Multihash::<64>::from_bytes(&peer.to_bytes()).unwrap();
        let k51 = cid::Cid::new_v1(acorn_net::peer::LIBP2P_KEY_CODEC, mh)
            .to_string_of_base(cid::multibase::Base::Base36Lower)
            .unwrap();
        let (p, a) = split_p2p(&format!("/ip4/1.2.3.4/tcp/5/p2p/{k51}")).unwrap();
        assert_eq!((p, a.to_string()), (peer, "/ip4/1.2.3.4/tcp/5".to_string()));
        for bad in [
            "/ip4/1.2.3.4/tcp/5",
            "nonsense",
            "/ip4/1.2.3.4/tcp/5/p2p/xyz",
            "",
        ] {
            assert!(
                matches!(split_p2p(bad), Err(NetError::BadAddr { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn routing_type_maps_to_dht_mode() {
        let ident = crate::identity::Identity::generate().to_config().unwrap();
        let mut c = Config::with_identity(ident);
        for (kind, mode) in [
            (RoutingType::Dhtclient, DhtMode::Client),
            (RoutingType::Dht, DhtMode::Client),
            (RoutingType::Auto, DhtMode::Client),
            (RoutingType::Dhtserver, DhtMode::Server),
            (RoutingType::None, DhtMode::None),
        ] {
            c.routing.kind = kind;
            let s = swarm_config(&c);
            assert_eq!(s.dht_mode, mode, "{kind:?}");
            assert!(s.lan_dht, "Acorn.LanDht is on by default");
            assert!(s.agent_version.starts_with("acorn/"));
        }
        c.acorn.lan_dht = false;
        assert!(!swarm_config(&c).lan_dht);
    }

    #[test]
    fn protocols_list_bitswap_and_kad_only_as_server() {
        let client = protocols(DhtMode::Client, true);
        assert!(client.iter().any(|p| p == "/ipfs/bitswap/1.2.0"));
        assert!(!client.iter().any(|p| p.contains("/kad/")));
        let server = protocols(DhtMode::Server, true);
        for kad in ["/ipfs/kad/1.0.0", "/ipfs/lan/kad/1.0.0"] {
            assert!(server.iter().any(|p| p == kad), "{kad}");
        }
        let wan_only = protocols(DhtMode::Server, false);
        assert!(wan_only.iter().any(|p| p == "/ipfs/kad/1.0.0"));
        assert!(!wan_only.iter().any(|p| p == "/ipfs/lan/kad/1.0.0"));
        let mut sorted = client.clone();
        sorted.sort();
        assert_eq!(client, sorted);
    }

    #[test]
    fn swarm_key_is_optional_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load_swarm_key(dir.path()).unwrap().is_none());
        std::fs::write(
            dir.path().join("swarm.key"),
            "/key/swarm/psk/1.0.0/\n/base16/\nzz\n",
        )
        .unwrap();
        assert!(load_swarm_key(dir.path()).is_err());
        let hex = "ab".repeat(32);
        std::fs::write(
            dir.path().join("swarm.key"),
            format!("/key/swarm/psk/1.0.0/\n/base16/\n{hex}\n"),
        )
        .unwrap();
        assert!(load_swarm_key(dir.path()).unwrap().is_some());
    }
}
