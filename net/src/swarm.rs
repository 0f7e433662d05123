//! The libp2p Swarm, assembled by hand for one smol thread.
//!
//! **What.** [`build_swarm`] stacks our TCP transport, optional pnet, noise and yamux
//! (multistream-select 1.0, `Version::V1`), and a [`Behaviour`] made of connection
//! limits, identify (`/ipfs/id/1.0.0`), ping (`/ipfs/ping/1.0.0`), two Kademlia DHTs
//! (client mode by default) and a `libp2p-stream` behaviour through which other
//! protocols (bitswap) open and accept streams (`swarm.behaviour().stream.new_control()`).
//!
//! **Two DHTs, as Kubo's dual DHT.** The WAN DHT ([`KAD_PROTOCOL`], `/ipfs/kad/1.0.0`,
//! the public Amino DHT) and the LAN DHT ([`LAN_KAD_PROTOCOL`], `/ipfs/lan/kad/1.0.0`)
//! run side by side in the same mode. Kubo keeps its WAN routing table and provider
//! answers to peers with public addresses and serves peers on private or loopback
//! addresses through its LAN DHT only, so on a home network (or loopback) provider
//! records travel over the LAN DHT. The LAN table takes a peer only with a LAN address
//! ([`is_lan_addr`]: private, loopback, link-local, CGNAT, IPv6 unique-local) and keeps
//! only those addresses: its inserts are manual, the node's task feeds it through
//! [`add_lan_addresses`] and [`keep_lan_table`]. The WAN table inserts every peer it
//! connects to that serves `/ipfs/kad/1.0.0` (libp2p's default).
//!
//! **Why by hand.** libp2p's `SwarmBuilder` only offers tokio and wasm runtimes.
//! Connection tasks are spawned with [`Executor`] onto a `smol::Executor` that the
//! caller runs on its one thread, e.g.
//! `smol::block_on(executor.run(main_loop(swarm)))`.
//!
//! **Flow of a connection.** TCP connect/accept → (pnet: XSalsa20 with the swarm key,
//! when one is given) → multistream-select → noise XX (peer id authenticated) →
//! multistream-select → yamux. The whole upgrade must finish within
//! [`Config::handshake_timeout`]. A failure names its stage ([`HandshakeError`]): a
//! peer that accepts none of our security protocols or none of our muxers gets
//! "no common security protocol" / "no common muxer protocol" at once, not a timeout;
//! a peer whose noise payload carries an undecodable identity key, a signature that
//! does not verify or no protobuf gets "the peer's identity key is invalid: …" /
//! "the peer's identity signature does not verify: …" / "the peer's noise handshake
//! is malformed: …", and the socket is closed. Then the connection limits behaviour
//! accepts or denies it; identify and ping run on it; idle connections (no stream, nothing
//! keeping them alive) close after [`Config::idle_connection_timeout`].
//!
//! **Bandwidth.** Raw TCP bytes count in the transport; each connection's muxer is
//! wrapped ([`crate::bandwidth::Muxer`]) so substream bytes count per protocol and
//! per peer.
//!
//! **Limits.** Every number is a [`Config`] field; their defaults are listed there.
//! Each Kademlia routing table is bounded by libp2p (256 buckets × `k` = 20 peers, plus
//! one pending entry per bucket); each DHT's record store is its own `MemoryStore`
//! bounded by the `kad_*` fields, so the LAN DHT ([`Config::lan_dht`]) at most doubles
//! the DHT's memory. Identify's peer cache holds at most [`Config::identify_cache_peers`].
//!
//! **Departures.** Kubo's LAN DHT also drops public addresses from the peers its
//! queries return; ours keeps its routing table (and so its answers) to LAN addresses
//! but a query dials what the LAN peers it asks answer. The memory-aware connection
//! limit is our own ([`crate::memlimit`], `/proc` read at most every 100 ms) rather
//! than libp2p's `memory-connection-limits` (which polls through `sysinfo`). yamux's
//! receive windows are libp2p-yamux's defaults (not configurable in libp2p-yamux 0.48);
//! only the stream count is bounded here.
//!
//! **Memory cost of yamux (yamux 0.14 through libp2p-yamux 0.48).** Every stream starts
//! with a 256 KiB receive window (`yamux::DEFAULT_CREDIT`, the spec's default): the peer
//! may send that much before we read, and yamux buffers it. Windows then auto-tune
//! towards 2 × the bandwidth-delay product of streams whose reader keeps up, bounded per
//! connection by yamux's `max_connection_receive_window`, 1 GiB by default (no setter in
//! libp2p-yamux 0.48). So the worst case of bytes buffered but not yet read is, per
//! connection, [`Config::max_streams_per_connection`] × 256 KiB = 128 × 256 KiB =
//! 32 MiB at the defaults (more only for streams read fast enough to grow their
//! window), times up to [`Config::max_connections`] connections. Readers that stop
//! reading (e.g. bitswap waiting for its inbound byte budget) leave their window's worth
//! buffered. On small boards lower `max_streams_per_connection` (16 streams = 4 MiB per
//! connection; the daemon's `Acorn.YamuxMaxStreams`) and `max_connections`; bitswap
//! itself uses at most
//! `bitswap::Config::max_inbound_streams_per_peer` inbound streams per peer.

use std::{sync::Arc, time::Duration};

use either::Either as Stage;
use futures::future::Either;
use libp2p::{
    connection_limits::{self, ConnectionLimits},
    core::{
        muxing::StreamMuxerBox,
        transport::{timeout::TransportTimeoutError, Boxed},
        upgrade::{NegotiationError, Version},
        Transport as _,
    },
    identify,
    identity::{Keypair, PeerId},
    kad,
    multiaddr::Protocol,
    noise, ping,
    pnet::{PnetConfig, PreSharedKey},
    swarm::{behaviour::toggle::Toggle, NetworkBehaviour},
    yamux, Multiaddr, StreamProtocol, Swarm,
};

use crate::iplimit;
use crate::transport::tcp::{self, Bandwidth};

/// The `protocolVersion` we send in identify, as Kubo and go-libp2p do. (The
/// identify protocol id itself, `/ipfs/id/1.0.0`, is fixed by libp2p-identify.)
pub const IDENTIFY_PROTOCOL_VERSION: &str = "ipfs/0.1.0";

/// The IPFS Kademlia DHT's protocol id (the public Amino DHT).
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/ipfs/kad/1.0.0");

/// The LAN DHT's protocol id (Kubo's dual DHT, for peers on private addresses).
pub const LAN_KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/ipfs/lan/kad/1.0.0");

/// Peers kept per k-bucket of each routing table (Kademlia's `k`, libp2p's default).
pub const KAD_BUCKET_PEERS_COUNT: usize = 20;

/// yamux's receive window of a new stream (the spec's 256 KiB, `yamux::DEFAULT_CREDIT`
/// in yamux 0.14): bytes a peer may send on one stream before we read any, which
/// yamux buffers. A connection's worst case is this × [`Config::max_streams_per_connection`].
pub const YAMUX_STREAM_WINDOW_BYTES: usize = 256 * 1024;

/// Buffers one connection may keep in its noise layer (libp2p-noise 0.47): a framed
/// read buffer, the decrypted frame, the plaintext send buffer and the encrypted
/// write buffer, each up to one noise frame (65 535 bytes). A connection still in
/// its handshake holds at most as much.
pub const CONNECTION_BUFFER_BYTES: usize = 4 * 65_535;

/// Buckets of a Kademlia routing table (one per bit of the 256-bit key space).
pub const KAD_TABLE_BUCKETS_COUNT: usize = 256;

/// Estimated RAM of one routing-table entry: a peer id (up to 64 bytes), its few
/// addresses and the bucket's bookkeeping.
pub const KAD_TABLE_ENTRY_BYTES: usize = 256;

/// A DHT behaviour (either of them) with its in-memory record store.
pub type Kad = kad::Behaviour<kad::store::MemoryStore>;

/// What part this node plays in the DHT (Kubo's `Routing.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DhtMode {
    /// Query the DHT, never answer it (`dhtclient`). Default: a small board on a
    /// home network should not be a DHT server.
    #[default]
    Client,
    /// Query and answer (`dhtserver`); the node advertises `/ipfs/kad/1.0.0` (and
    /// `/ipfs/lan/kad/1.0.0` with [`Config::lan_dht`]).
    Server,
    /// No Kademlia behaviour at all (`none`).
    None,
}

/// Tunables of the swarm. Every limit is here, with its unit and default.
#[derive(Debug, Clone)]
pub struct Config {
    /// Identify's agent version, e.g. `acorn/0.1.0`. Default: `acorn/<crate version>`.
    pub agent_version: String,
    /// TCP transport settings (see [`tcp::Config`]).
    pub tcp: tcp::Config,
    /// Time allowed for TCP + pnet + noise + yamux to complete. Default: 20 s.
    pub handshake_timeout: Duration,
    /// A connection with no open stream and nothing keeping it alive closes after
    /// this long. Default: 60 s.
    pub idle_connection_timeout: Duration,
    /// Most established inbound connections. Default: 128.
    pub max_inbound_connections: u32,
    /// Most established outbound connections. Default: 64.
    pub max_outbound_connections: u32,
    /// Most established connections in total. Default: 160.
    pub max_connections: u32,
    /// Most established connections to one peer. Default: 2.
    pub max_connections_per_peer: u32,
    /// Most inbound connections still in their handshake. Default: 32.
    pub max_pending_inbound_connections: u32,
    /// Most outbound connections still being dialled or in their handshake.
    /// Default: 32.
    pub max_pending_outbound_connections: u32,
    /// Inbound connections per remote address and subnet, pending and established
    /// ([`crate::iplimit`]). Default: [`iplimit::Limits::default`] (4 / 8 pending,
    /// 8 / 32 established); the daemon sets it from `Swarm.ResourceMgr`.
    pub inbound_per_ip: iplimit::Limits,
    /// New connections (inbound and outbound) are refused while the process's resident
    /// memory is at or above this many bytes ([`crate::memlimit`]). Default: `None`
    /// (no memory limit); the daemon sets it from `Swarm.ResourceMgr.MaxMemory`.
    pub max_memory_bytes: Option<u64>,
    /// Most concurrent yamux streams per connection. Default: 128.
    pub max_streams_per_connection: usize,
    /// Most inbound streams per connection still negotiating their protocol.
    /// Default: 32.
    pub max_negotiating_inbound_streams: usize,
    /// Ping every this often. Default: 15 s (libp2p's default).
    pub ping_interval: Duration,
    /// A ping unanswered after this long fails. Default: 20 s (libp2p's default).
    pub ping_timeout: Duration,
    /// Identify re-sends our info every this often. Default: 5 min.
    pub identify_interval: Duration,
    /// Peers whose identify-reported addresses are cached. Default: 100.
    pub identify_cache_peers: usize,
    /// DHT mode, of both DHTs. Default: [`DhtMode::Client`].
    pub dht_mode: DhtMode,
    /// Run the LAN DHT (`/ipfs/lan/kad/1.0.0`) beside the WAN one when the DHT is on,
    /// so Kubo peers on the same private network (or loopback) find our provider
    /// records and we theirs. Costs a second routing table (at most 256 × 20 peers,
    /// in practice the few LAN peers) and a second record store bounded by the same
    /// `kad_*` fields. Turn it off on a node with only public neighbours (a VPS).
    /// Default: true.
    pub lan_dht: bool,
    /// A DHT query gives up after this long. Default: 60 s.
    pub kad_query_timeout: Duration,
    /// Most DHT value records stored, per DHT. Default: 256.
    pub kad_max_records: usize,
    /// Largest DHT value record, in bytes. Default: 16 KiB. Worst case of the value
    /// stores: 2 DHTs × 256 × 16 KiB = 8 MiB at the defaults (4 MiB without the LAN
    /// DHT).
    pub kad_max_record_bytes: usize,
    /// Most provider records kept for one key, per DHT. Default: 20 (the replication
    /// factor).
    pub kad_max_providers_per_key: usize,
    /// Most keys this node itself provides, per DHT. Default: 1024.
    pub kad_max_provided_keys: usize,
    /// Most peers with their own byte counters (`stats bw --peer`); peers with a live
    /// connection are never evicted. About 200 bytes each. Default: 256
    /// ([`crate::bandwidth::DEFAULT_PEER_CAPACITY`]).
    pub bandwidth_peers: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            agent_version: concat!("acorn/", env!("CARGO_PKG_VERSION")).to_owned(),
            tcp: tcp::Config::default(),
            handshake_timeout: Duration::from_secs(20),
            idle_connection_timeout: Duration::from_secs(60),
            max_inbound_connections: 128,
            max_outbound_connections: 64,
            max_connections: 160,
            max_connections_per_peer: 2,
            max_pending_inbound_connections: 32,
            max_pending_outbound_connections: 32,
            inbound_per_ip: iplimit::Limits::default(),
            max_memory_bytes: None,
            max_streams_per_connection: 128,
            max_negotiating_inbound_streams: 32,
            ping_interval: Duration::from_secs(15),
            ping_timeout: Duration::from_secs(20),
            identify_interval: Duration::from_secs(5 * 60),
            identify_cache_peers: 100,
            dht_mode: DhtMode::Client,
            lan_dht: true,
            kad_query_timeout: Duration::from_secs(60),
            kad_max_records: 256,
            kad_max_record_bytes: 16 * 1024,
            kad_max_providers_per_key: 20,
            kad_max_provided_keys: 1024,
            bandwidth_peers: crate::bandwidth::DEFAULT_PEER_CAPACITY,
        }
    }
}

/// Why the swarm could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Noise could not take the node key.
    #[error("noise: cannot derive the static key from the node key: {0}")]
    Noise(#[from] noise::Error),
}

/// Security protocols we offer, in order of preference.
pub const SECURITY_PROTOCOLS: &[&str] = &["/noise"];
/// Stream muxers we offer, in order of preference.
pub const MUXER_PROTOCOLS: &[&str] = &["/yamux/1.0.0"];

/// Why a connection's handshake (after TCP, before the swarm) failed, with the stage
/// named. A dial error's text carries it (`swarm connect` shows it).
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The peer answered `na` to every security protocol we offered (e.g. it speaks
    /// only TLS, `/tls/1.0.0`).
    #[error("no common security protocol: the peer accepts none of {SECURITY_PROTOCOLS:?}")]
    NoCommonSecurity,
    /// The secure channel is up, but the peer answered `na` to every muxer we offered
    /// (e.g. it speaks only mplex, `/mplex/6.7.0`).
    #[error("no common muxer protocol: the peer accepts none of {MUXER_PROTOCOLS:?}")]
    NoCommonMuxer,
    /// The peer's noise handshake payload carries an identity key we cannot decode: a
    /// truncated or malformed protobuf `PublicKey`, an unknown key type, or key bytes
    /// that are not a key of the named type.
    #[error("the peer's identity key is invalid: {reason}")]
    InvalidIdentityKey {
        /// What is wrong with it.
        reason: String,
    },
    /// The peer's identity key decoded, but its signature over the peer's noise static
    /// key does not verify. RSA signatures verify only for 2048 to 8192-bit moduli
    /// (ring's bounds, as in go-libp2p), so an RSA key outside them ends here too.
    #[error(
        "the peer's identity signature does not verify: a forged or missing signature, \
         or an RSA key outside 2048 to 8192 bits"
    )]
    BadIdentitySignature,
    /// A noise handshake message from the peer does not decrypt, or its payload is
    /// not a valid protobuf (or not empty where the spec says empty).
    #[error("the peer's noise handshake is malformed: {reason}")]
    MalformedHandshake {
        /// What is wrong with it.
        reason: String,
    },
    /// The whole upgrade did not finish within [`Config::handshake_timeout`].
    #[error("handshake timed out after {after:?}")]
    Timeout {
        /// The handshake timeout.
        after: Duration,
    },
    /// Anything else: TCP, pnet, a noise or yamux failure, a protocol violation.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

/// Spawns libp2p's connection tasks onto a `smol::Executor`. The caller runs that
/// executor on one thread; nothing here starts a thread.
#[derive(Clone)]
pub struct Executor(Arc<smol::Executor<'static>>);

impl Executor {
    /// Wraps the executor the node runs on.
    pub fn new(executor: Arc<smol::Executor<'static>>) -> Self {
        Self(executor)
    }
}

impl libp2p::swarm::Executor for Executor {
    fn exec(&self, future: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>) {
        // Connection tasks end on their own when the swarm or the connection closes.
        self.0.spawn(future).detach();
    }
}

pub use behaviour::{Behaviour, BehaviourEvent};

/// The behaviour in a module of its own: the `NetworkBehaviour` derive generates
/// `BehaviourEvent`, one variant per field and named after it (the field docs say
/// what each carries), and gives it no docs of its own.
#[allow(missing_docs)]
mod behaviour {
    use super::*;

    /// The node's network behaviour. Events arrive as [`BehaviourEvent`].
    #[derive(NetworkBehaviour)]
    pub struct Behaviour {
        /// Inbound limits per address and subnet; first, so one host's connections are
        /// refused before they count against the swarm-wide limits.
        pub per_ip: iplimit::Behaviour,
        /// Connection limits; early, so it denies a connection before others set up.
        pub limits: connection_limits::Behaviour,
        /// Memory-aware limit: no new connections while RSS ≥ `max_memory_bytes`.
        pub memory: crate::memlimit::Behaviour,
        /// Answers and asks `/ipfs/id/1.0.0` (and push).
        pub identify: identify::Behaviour,
        /// Answers and sends `/ipfs/ping/1.0.0`.
        pub ping: ping::Behaviour,
        /// The WAN DHT, `/ipfs/kad/1.0.0`. Disabled when [`DhtMode::None`].
        pub kad: Toggle<Kad>,
        /// The LAN DHT, `/ipfs/lan/kad/1.0.0`: peers only with LAN addresses. Disabled
        /// when [`DhtMode::None`] or without [`Config::lan_dht`].
        pub kad_lan: Toggle<Kad>,
        /// Streams for our own protocols (bitswap): `stream.new_control()`.
        pub stream: libp2p_stream::Behaviour,
    }
}

/// The transport stack: TCP → optional pnet → noise → yamux, with a timeout; raw
/// bytes count into `bandwidth`'s total, substream bytes per protocol and peer.
pub fn build_transport(
    keypair: &Keypair,
    config: &Config,
    psk: Option<PreSharedKey>,
    bandwidth: Bandwidth,
) -> Result<Boxed<(PeerId, StreamMuxerBox)>, Error> {
    let noise = noise::Config::new(keypair)?;
    let mut yamux = yamux::Config::default();
    yamux.set_max_num_streams(config.max_streams_per_connection);
    let counters = bandwidth.clone();
    let timeout = config.handshake_timeout;
    let transport = tcp::Transport::new(config.tcp.clone(), bandwidth)
        .and_then(move |stream, _endpoint| async move {
            match psk {
                Some(psk) => PnetConfig::new(psk)
                    .handshake(stream)
                    .await
                    .map(Either::Left),
                None => Ok(Either::Right(stream)),
            }
        })
        .upgrade(Version::V1)
        .authenticate(noise)
        .multiplex(yamux)
        .timeout(timeout)
        // Substreams count their bytes per protocol and per peer.
        .map(move |(peer, muxer), _| (peer, StreamMuxerBox::new(counters.wrap_muxer(peer, muxer))))
        // Name the stage that failed: the boxed transport only carries text.
        .map_err(move |e| match e {
            TransportTimeoutError::Timeout => HandshakeError::Timeout { after: timeout },
            TransportTimeoutError::Other(Stage::Left(Stage::Right(e)))
                if no_common_protocol(&e) =>
            {
                HandshakeError::NoCommonSecurity
            }
            TransportTimeoutError::Other(Stage::Left(Stage::Right(e))) => {
                bad_identity(&e).unwrap_or_else(|| HandshakeError::Other(Box::new(e)))
            }
            TransportTimeoutError::Other(Stage::Right(e)) if no_common_protocol(&e) => {
                HandshakeError::NoCommonMuxer
            }
            other => HandshakeError::Other(Box::new(other)),
        })
        .boxed();
    Ok(transport)
}

/// Whether an upgrade stage failed because multistream-select found no protocol both
/// sides speak. libp2p-core does not export its `UpgradeError`, whose `Select`
/// variant carries the [`NegotiationError`] as its source.
fn no_common_protocol(e: &(dyn std::error::Error + 'static)) -> bool {
    matches!(
        e.source()
            .and_then(|s| s.downcast_ref::<NegotiationError>()),
        Some(NegotiationError::Failed)
    )
}

/// The [`HandshakeError`] for a noise failure caused by the peer's identity (its key,
/// its signature, its payload), if that is why the security stage failed. Like
/// [`no_common_protocol`], reads the noise error as the upgrade error's source.
fn bad_identity(e: &(dyn std::error::Error + 'static)) -> Option<HandshakeError> {
    match e.source()?.downcast_ref::<noise::Error>()? {
        noise::Error::InvalidKey(e) => Some(HandshakeError::InvalidIdentityKey {
            reason: error_chain(e),
        }),
        noise::Error::BadSignature | noise::Error::AuthenticationFailed => {
            Some(HandshakeError::BadIdentitySignature)
        }
        noise::Error::InvalidPayload(e) => Some(HandshakeError::MalformedHandshake {
            reason: error_chain(e),
        }),
        // libp2p-noise reports a message that does not decrypt, a payload that does
        // not decode and a non-empty first payload as `InvalidData`; the socket
        // itself (TCP, pnet's stream cipher) never does.
        noise::Error::Io(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            Some(HandshakeError::MalformedHandshake {
                reason: error_chain(e),
            })
        }
        _ => None,
    }
}

/// An error's text followed by its sources', joined by ": " (how a dial error reads
/// in full).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The behaviour, configured from `config`.
pub fn build_behaviour(keypair: &Keypair, config: &Config) -> Behaviour {
    let peer_id = keypair.public().to_peer_id();
    let limits = ConnectionLimits::default()
        .with_max_established_incoming(Some(config.max_inbound_connections))
        .with_max_established_outgoing(Some(config.max_outbound_connections))
        .with_max_established(Some(config.max_connections))
        .with_max_established_per_peer(Some(config.max_connections_per_peer))
        .with_max_pending_incoming(Some(config.max_pending_inbound_connections))
        .with_max_pending_outgoing(Some(config.max_pending_outbound_connections));
    let identify = identify::Behaviour::new(
        identify::Config::new(IDENTIFY_PROTOCOL_VERSION.to_owned(), keypair.public())
            .with_agent_version(config.agent_version.clone())
            .with_interval(config.identify_interval)
            .with_cache_size(config.identify_cache_peers)
            // Connected peers hear of new or gone listen addresses (an interface came
            // up, see `tcp::Config::interface_poll_interval`) without reconnecting.
            .with_push_listen_addr_updates(true),
    );
    let ping = ping::Behaviour::new(
        ping::Config::new()
            .with_interval(config.ping_interval)
            .with_timeout(config.ping_timeout),
    );
    let kad = build_kad(peer_id, config, KAD_PROTOCOL);
    let kad_lan = config
        .lan_dht
        .then(|| build_kad(peer_id, config, LAN_KAD_PROTOCOL))
        .flatten();
    Behaviour {
        per_ip: iplimit::Behaviour::new(config.inbound_per_ip),
        limits: connection_limits::Behaviour::new(limits),
        memory: crate::memlimit::Behaviour::new(config.max_memory_bytes),
        identify,
        ping,
        kad: kad.into(),
        kad_lan: kad_lan.into(),
        stream: libp2p_stream::Behaviour::new(),
    }
}

/// One DHT speaking `protocol`, in the config's mode; `None` for [`DhtMode::None`].
/// The LAN DHT's routing table takes peers only through [`add_lan_addresses`].
fn build_kad(peer_id: PeerId, config: &Config, protocol: StreamProtocol) -> Option<Kad> {
    let mode = match config.dht_mode {
        DhtMode::None => return None,
        DhtMode::Client => kad::Mode::Client,
        DhtMode::Server => kad::Mode::Server,
    };
    let lan = protocol == LAN_KAD_PROTOCOL;
    let mut kad_config = kad::Config::new(protocol);
    kad_config.set_query_timeout(config.kad_query_timeout);
    if let Some(k) = std::num::NonZeroUsize::new(KAD_BUCKET_PEERS_COUNT) {
        kad_config.set_kbucket_size(k);
    }
    if lan {
        // A connected peer is offered as `RoutablePeer`; `keep_lan_table` inserts it
        // only with a LAN address.
        kad_config.set_kbucket_inserts(kad::BucketInserts::Manual);
    }
    let store = kad::store::MemoryStore::with_config(
        peer_id,
        kad::store::MemoryStoreConfig {
            max_records: config.kad_max_records,
            max_value_bytes: config.kad_max_record_bytes,
            max_providers_per_key: config.kad_max_providers_per_key,
            max_provided_keys: config.kad_max_provided_keys,
        },
    );
    let mut kad = kad::Behaviour::with_config(peer_id, store, kad_config);
    kad.set_mode(Some(mode));
    Some(kad)
}

/// Whether `addr` is reachable only on a local network: loopback, private
/// (10/8, 172.16/12, 192.168/16), link-local (169.254/16, fe80::/10), CGNAT
/// (100.64/10) or IPv6 unique-local (fc00::/7); what Kubo's LAN DHT accepts. Names
/// (`/dns*`) and other transports are not LAN addresses.
pub fn is_lan_addr(addr: &Multiaddr) -> bool {
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => {
            let [a, b, ..] = ip.octets();
            ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || (a == 100 && (64..128).contains(&b))
        }
        Some(Protocol::Ip6(ip)) => {
            let first = ip.segments()[0];
            ip.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
        _ => false,
    }
}

/// Adds `peer`'s LAN addresses ([`is_lan_addr`]) to the LAN DHT's routing table;
/// other addresses are dropped. Returns whether the peer is in the table afterwards
/// (a full bucket may refuse it).
pub fn add_lan_addresses(
    kad_lan: &mut Kad,
    peer: &PeerId,
    addrs: impl IntoIterator<Item = Multiaddr>,
) -> bool {
    let mut added = false;
    for a in addrs.into_iter().filter(is_lan_addr) {
        added |= matches!(
            kad_lan.add_address(peer, a),
            kad::RoutingUpdate::Success | kad::RoutingUpdate::Pending
        );
    }
    added
}

/// Keeps the LAN DHT's routing table to LAN addresses, given each event of the LAN
/// DHT: a connected peer it offers (`RoutablePeer`, `PendingRoutablePeer`) goes in
/// only with a LAN address, and an address libp2p records for a peer already in the
/// table (the address of a new connection) comes out again if it is not one.
pub fn keep_lan_table(kad_lan: &mut Kad, event: &kad::Event) {
    match event {
        kad::Event::RoutablePeer { peer, address }
        | kad::Event::PendingRoutablePeer { peer, address } => {
            add_lan_addresses(kad_lan, peer, [address.clone()]);
        }
        kad::Event::RoutingUpdated {
            peer, addresses, ..
        } => {
            for a in addresses.iter().filter(|a| !is_lan_addr(a)) {
                kad_lan.remove_address(peer, a);
            }
        }
        _ => {}
    }
}

/// Builds the node's swarm: see the module docs. Returns the swarm and the handle of
/// its byte counters (total raw TCP bytes; substream bytes per protocol and per peer,
/// see [`crate::bandwidth`]). The swarm does nothing until
/// polled (`swarm.select_next_some().await` in the node's main loop), and its
/// connection tasks run on `executor`.
pub fn build_swarm(
    keypair: &Keypair,
    config: &Config,
    psk: Option<PreSharedKey>,
    executor: Executor,
) -> Result<(Swarm<Behaviour>, Bandwidth), Error> {
    let bandwidth = Bandwidth::new(config.bandwidth_peers);
    let transport = build_transport(keypair, config, psk, bandwidth.clone())?;
    let behaviour = build_behaviour(keypair, config);
    let swarm_config = libp2p::swarm::Config::with_executor(executor)
        .with_idle_connection_timeout(config.idle_connection_timeout)
        .with_max_negotiating_inbound_streams(config.max_negotiating_inbound_streams);
    let swarm = Swarm::new(
        transport,
        behaviour,
        keypair.public().to_peer_id(),
        swarm_config,
    );
    Ok((swarm, bandwidth))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kad_mode_follows_config() {
        let keypair = Keypair::generate_ed25519();
        for (mode, expected) in [
            (DhtMode::Client, Some(kad::Mode::Client)),
            (DhtMode::Server, Some(kad::Mode::Server)),
            (DhtMode::None, None),
        ] {
            let config = Config {
                dht_mode: mode,
                ..Config::default()
            };
            let behaviour = build_behaviour(&keypair, &config);
            assert_eq!(behaviour.kad.as_ref().map(|k| k.mode()), expected);
            assert_eq!(behaviour.kad_lan.as_ref().map(|k| k.mode()), expected);
        }
        let no_lan = Config {
            dht_mode: DhtMode::Server,
            lan_dht: false,
            ..Config::default()
        };
        assert!(build_behaviour(&keypair, &no_lan)
            .kad_lan
            .as_ref()
            .is_none());
    }

    fn addr(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }

    fn lan_table_peers(kad: &mut Kad) -> Vec<(PeerId, Vec<Multiaddr>)> {
        kad.kbuckets()
            .flat_map(|b| {
                b.iter()
                    .map(|e| {
                        (
                            *e.node.key.preimage(),
                            e.node.value.iter().cloned().collect(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn lan_addresses_are_private_loopback_or_link_local() {
        for lan in [
            "/ip4/127.0.0.1/tcp/4001",
            "/ip4/10.1.2.3/tcp/4001",
            "/ip4/172.16.0.9/tcp/4001",
            "/ip4/192.168.1.20/tcp/4001",
            "/ip4/169.254.3.4/tcp/4001",
            "/ip4/100.64.0.1/tcp/4001",
            "/ip6/::1/tcp/4001",
            "/ip6/fd00::1/tcp/4001",
            "/ip6/fe80::1/tcp/4001",
        ] {
            assert!(is_lan_addr(&addr(lan)), "{lan}");
        }
        for wan in [
            "/ip4/8.8.8.8/tcp/4001",
            "/ip4/172.32.0.1/tcp/4001",
            "/ip4/100.128.0.1/tcp/4001",
            "/ip6/2001:db8::1/tcp/4001",
            "/dns4/localhost/tcp/4001",
        ] {
            assert!(!is_lan_addr(&addr(wan)), "{wan}");
        }
    }

    /// Addresses here are data only: the behaviour is not in a swarm, nothing dials.
    #[test]
    fn lan_table_refuses_a_peer_with_only_a_public_address() {
        let keypair = Keypair::generate_ed25519();
        let mut behaviour = build_behaviour(&keypair, &Config::default());
        let lan = behaviour.kad_lan.as_mut().expect("LAN DHT on by default");
        let public = PeerId::random();
        assert!(!add_lan_addresses(
            lan,
            &public,
            [
                addr("/ip4/8.8.8.8/tcp/4001"),
                addr("/ip6/2001:db8::1/tcp/4001")
            ]
        ));
        keep_lan_table(
            lan,
            &kad::Event::RoutablePeer {
                peer: public,
                address: addr("/ip4/1.1.1.1/tcp/4001"),
            },
        );
        assert!(lan_table_peers(lan).is_empty());

        // A peer with both keeps only its LAN address, also after libp2p records a
        // public one from a later connection.
        let mixed = PeerId::random();
        keep_lan_table(
            lan,
            &kad::Event::RoutablePeer {
                peer: mixed,
                address: addr("/ip4/192.168.1.20/tcp/4001"),
            },
        );
        lan.add_address(&mixed, addr("/ip4/8.8.4.4/tcp/4001"));
        let addresses = lan
            .kbucket(mixed)
            .and_then(|b| {
                b.iter()
                    .find(|e| *e.node.key.preimage() == mixed)
                    .map(|e| e.node.value.clone())
            })
            .expect("the LAN peer is in the table");
        keep_lan_table(
            lan,
            &kad::Event::RoutingUpdated {
                peer: mixed,
                is_new_peer: false,
                addresses,
                bucket_range: (
                    kad::KBucketDistance::default(),
                    kad::KBucketDistance::default(),
                ),
                old_peer: None,
            },
        );
        assert_eq!(
            lan_table_peers(lan),
            // libp2p keeps addresses with the peer's `/p2p` suffix.
            vec![(
                mixed,
                vec![addr(&format!("/ip4/192.168.1.20/tcp/4001/p2p/{mixed}"))]
            )]
        );

        // The WAN table keeps today's behaviour: any address.
        let wan = behaviour.kad.as_mut().expect("WAN DHT");
        wan.add_address(&public, addr("/ip4/8.8.8.8/tcp/4001"));
        assert_eq!(lan_table_peers(wan).len(), 1);
    }

    #[test]
    fn default_agent_is_acorn() {
        assert!(Config::default().agent_version.starts_with("acorn/"));
    }
}
