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
//!
//! **Files.** This file: settings, the types the API sees, [`start`]. `net/handle.rs`:
//! [`NetHandle`]. `net/task.rs`: the swarm task, which feeds the connection manager
//! ([`acorn_net::connmgr`]) and disconnects the peers it picks. `net/routing.rs`: the
//! Kademlia jobs. `net/fetch.rs`: bitswap as the core's fetcher, on the repo.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use acorn_net::bitswap;
use acorn_net::connmgr;
use acorn_net::pnet::{self, PreSharedKey};
use acorn_net::swarm::{self as net_swarm, DhtMode};
use anyhow::{bail, Context as _};
use cid::Cid;
use futures::channel::oneshot;
use libp2p::multiaddr::Protocol;
use libp2p::{kad, Multiaddr, PeerId};
use smol::channel;
use smol::Executor;

use crate::config::{Config, RoutingType};

mod fetch;
mod handle;
mod jobs;
mod routing;
mod task;

use fetch::{BitswapFetcher, RepoBlocks};
pub use handle::{split_p2p, NetError, NetHandle, PingError};
pub use jobs::RoutingError;
use task::Task;

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

/// Bitswap's settings from the config (`Acorn.BitswapWantTimeout`,
/// `Acorn.BitswapMaxInboundBytes`, `Acorn.BitswapMaxQueuedBytes`,
/// `Acorn.BitswapMaxInboundStreams`, `Acorn.BitswapMaxPeerWants`), defaults else. One
/// peer's answer queue is at most `BitswapMaxQueuedBytes` (and bitswap's own 4 MiB);
/// the server's total is `BitswapMaxQueuedBytes`, raised where needed to two peers'
/// shares plus one largest block, so a peer that never reads cannot stall the rest.
pub fn bitswap_config(config: &Config) -> Result<bitswap::Config, crate::config::ConfigError> {
    let a = &config.acorn;
    let mut cfg = bitswap::Config::default();
    cfg.core.want_timeout = a.bitswap_want_timeout()?;
    cfg.max_inbound_bytes = a.bitswap_max_inbound_bytes()?;
    cfg.max_inbound_streams = a.bitswap_max_inbound_streams as usize;
    cfg.core.max_peer_wantlist_entries = a.bitswap_max_peer_wants as usize;
    let queued = a.bitswap_max_queued_bytes()?;
    let per_peer = cfg.core.max_peer_send_queue_bytes.min(queued);
    cfg.core.max_peer_send_queue_bytes = per_peer;
    // A peer that never reads its answers keeps up to its own share queued for
    // good; the server's total always leaves room for a second peer's share plus
    // one more lookup (each counted at the largest block), so one such peer can
    // never stall everyone else (tests/net/net_hostile.rs, no-read).
    cfg.core.max_server_queued_bytes =
        queued.max(2 * per_peer + acorn_storage::block::MAX_BLOCK_BYTES);
    Ok(cfg)
}

/// A request's walk window from the config (`Acorn.FetchWindowBlocks`,
/// `Acorn.FetchWindowSize`, `Acorn.FetchPendingLinks`).
pub fn fetch_window(config: &Config) -> Result<crate::fetch::Window, crate::config::ConfigError> {
    Ok(crate::fetch::Window {
        blocks: config.acorn.fetch_window_blocks as usize,
        bytes: config.acorn.fetch_window_bytes()?,
        pending: config.acorn.fetch_pending_links as usize,
    })
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
        max_streams_per_connection: config.acorn.yamux_max_streams as usize,
        max_pending_inbound_connections: config.acorn.max_pending_connections,
        max_pending_outbound_connections: config.acorn.max_pending_connections,
        kad_max_records: config.acorn.dht_max_records as usize,
        ..net_swarm::Config::default()
    };
    // With the connection manager on, the hard limits follow `HighWater`: trimming
    // brings the count back to `LowWater`, the hard limit stops floods before that.
    if let Some(cm) = conn_mgr_config(config) {
        let hard = cm.high_water.saturating_mul(CONN_HARD_LIMIT_FACTOR).max(1);
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
        reply: oneshot::Sender<Result<Vec<Provider>, RoutingError>>,
    },
    FindPeer {
        peer: PeerId,
        reply: oneshot::Sender<Result<Vec<Multiaddr>, RoutingError>>,
    },
    /// `None`: announce in the background (after an add, reprovide).
    Provide {
        key: kad::RecordKey,
        reply: Option<oneshot::Sender<Result<(), RoutingError>>>,
    },
    Shutdown(oneshot::Sender<()>),
    /// `bitswap stat`, answered by the swarm task from its bitswap handle (the API
    /// holds no bitswap handle of its own: one more handle kept the bitswap channel
    /// alive past shutdown).
    BitswapStat(oneshot::Sender<Result<BitswapStat, String>>),
    /// `bitswap wantlist [--peer]`.
    BitswapWantlist(Option<PeerId>, oneshot::Sender<Result<Vec<Cid>, String>>),
    /// A metrics scrape: the task's figures (peers, bitswap, provider records); the
    /// handle adds the byte counters.
    Metrics(oneshot::Sender<Result<crate::metrics::NetFigures, String>>),
}

/// One provider found by `routing findprovs`.
#[derive(Debug, Clone)]
pub struct Provider {
    pub peer: PeerId,
    /// Addresses we know for it (connected or in the routing table); may be empty.
    pub addrs: Vec<Multiaddr>,
}

/// Kubo's ping protocol.
pub const PING_PROTOCOL: &str = "/ipfs/ping/1.0.0";
/// Bytes of one ping, fixed by the protocol.
pub const PING_BYTES: usize = 32;
/// A ping round trip (or opening its stream) unanswered after this long fails.
pub const PING_TIMEOUT: Duration = Duration::from_secs(10);
/// Most pings one `ping` command sends (`--count`).
pub const MAX_PING_COUNT: usize = 1000;

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
        bitswap::Node::spawn(ex, control, store, blocking, bitswap_config(config)?)
            .context("starting bitswap")?;
    // A channel that never carries a message: closing it is the shutdown signal.
    let (fetch_stop, stop) = channel::bounded(1);
    let window = fetch_window(config)?;
    node.set_fetcher(Arc::new(BitswapFetcher {
        bitswap: bs.clone(),
        stop,
        window,
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
        conn_mgr: connmgr::Manager::new(conn_mgr_config(config)),
        bandwidth,
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

/// Kubo's basic connection manager settings (`Swarm.ConnMgr`; see
/// [`acorn_net::connmgr`]); `None` when `Swarm.ConnMgr.Type` is `"none"`. The swarm's
/// hard limits ([`net_swarm::Config::max_connections`]) are derived from `HighWater`
/// too.
pub fn conn_mgr_config(config: &Config) -> Option<connmgr::Config> {
    let cm = &config.swarm.conn_mgr;
    if cm.kind == "none" {
        return None;
    }
    Some(connmgr::Config {
        low_water: cm.low_water,
        high_water: cm.high_water,
        // Checked when the config is loaded.
        grace_period: cm.grace_period.get(),
    })
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
