//! The swarm task: waits on swarm events, API commands and bitswap events, and
//! feeds the connection manager ([`acorn_net::connmgr`]) and executes its trims.
//! Kademlia jobs (provider lookups and `routing` queries) are in `routing.rs`.

use std::collections::HashMap;
use std::time::Instant;

use acorn_net::bitswap::{self, NodeEvent};
use acorn_net::connmgr;
use acorn_net::swarm::{self as net_swarm, Behaviour, BehaviourEvent, Kad};
use futures::channel::oneshot;
use futures::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{dial_opts::DialOpts, dial_opts::PeerCondition, ConnectionId, SwarmEvent};
use libp2p::{identify, kad, Multiaddr, PeerId, Swarm};
use smol::channel::Receiver;

use super::jobs::{
    Dht, Job, JobId, ProviderLookup, QueryKey, RoutingError, RoutingQuery, StartError, DHTS,
};
use super::{
    BitswapStat, Command, PeerEntry, MAX_PENDING_DIALS_COUNT, MAX_PROVIDER_LOOKUPS_COUNT,
    MAX_ROUTING_QUERIES_COUNT,
};

/// The swarm task's state.
pub(super) struct Task {
    pub(super) swarm: Swarm<Behaviour>,
    pub(super) bitswap: bitswap::Handle,
    /// Connected peers (bounded by the swarm's connection limits): the first
    /// connection's entry. The connection manager counts their connections.
    pub(super) peers: HashMap<PeerId, PeerEntry>,
    /// `Swarm.ConnMgr`: counts connections per peer and picks the peers to trim.
    pub(super) conn_mgr: connmgr::Manager,
    /// Per-peer traffic, to trim the least used peers first.
    pub(super) bandwidth: acorn_net::bandwidth::Bandwidth,
    /// `swarm connect`s waiting for their dial (≤ [`MAX_PENDING_DIALS_COUNT`]).
    pub(super) dials: HashMap<ConnectionId, (PeerId, oneshot::Sender<Result<(), String>>)>,
    /// Provider lookups for bitswap (≤ [`MAX_PROVIDER_LOOKUPS_COUNT`]).
    pub(super) lookups: HashMap<JobId, Job<ProviderLookup>>,
    /// `routing` queries (≤ [`MAX_ROUTING_QUERIES_COUNT`]).
    pub(super) routing: HashMap<JobId, Job<RoutingQuery>>,
    /// The job of each running Kademlia query (≤ 2 × the two bounds above).
    pub(super) queries: HashMap<QueryKey, JobId>,
    /// The next [`JobId`] (a `u64` does not wrap in the node's lifetime).
    pub(super) next_job: JobId,
    /// `Addresses.Announce` is set: do not announce listen addresses.
    pub(super) announce: bool,
    /// Listeners that have not reported an address yet.
    pub(super) listen_reports: usize,
    pub(super) ready: Option<oneshot::Sender<()>>,
}

enum Wake {
    Trim,
    Swarm(Box<SwarmEvent<BehaviourEvent>>),
    Cmd(Option<Command>),
    Bitswap(Option<NodeEvent>),
}

impl Task {
    pub(super) async fn run(mut self, cmds: Receiver<Command>, bs_events: Receiver<NodeEvent>) {
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
                    match self.conn_mgr.poll_timeout() {
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
                Wake::Cmd(Some(Command::Metrics(reply))) => {
                    let r = self.bitswap.stats().await.map(|st| self.metrics(&st));
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

    /// The task's part of a metrics scrape: connected peers, bitswap's counters
    /// (`st`) and the provider records we announce (a pass over each DHT's store of
    /// our own records, bounded by its `max_provided_keys`).
    fn metrics(&mut self, st: &bitswap::Stats) -> crate::metrics::NetFigures {
        use libp2p::kad::store::RecordStore as _;
        let peers = self.swarm.connected_peers().count() as u64;
        let mut provided_records = 0u64;
        for dht in DHTS {
            if let Some(k) = self.kad_of(dht) {
                provided_records += k.store_mut().provided().count() as u64;
            }
        }
        crate::metrics::NetFigures {
            peers,
            bitswap_blocks_received: st.blocks_received,
            bitswap_data_received: st.data_received,
            bitswap_blocks_sent: st.blocks_sent,
            bitswap_data_sent: st.data_sent,
            bitswap_dup_blocks_received: st.dup_blks_received,
            bitswap_dup_data_received: st.dup_data_received,
            bitswap_messages_received: st.messages_received,
            bitswap_wantlist: st.wantlist_len,
            bitswap_peer_wants: st.peer_wants,
            provided_records,
            ..Default::default()
        }
    }

    pub(super) fn kad(&mut self) -> Option<&mut Kad> {
        self.kad_of(Dht::Wan)
    }

    pub(super) fn kad_of(&mut self, dht: Dht) -> Option<&mut Kad> {
        let b = self.swarm.behaviour_mut();
        match dht {
            Dht::Wan => b.kad.as_mut(),
            Dht::Lan => b.kad_lan.as_mut(),
        }
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
                let mut v: Vec<PeerEntry> = self.peers.values().cloned().collect();
                v.sort_by_key(|e| e.peer.to_bytes());
                let _ = reply.send(v);
            }
            Command::KnownAddrs(reply) => {
                let mut m: HashMap<PeerId, Vec<Multiaddr>> = HashMap::new();
                for (p, e) in &self.peers {
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
                    let _ = reply.send(Err(RoutingError::Disabled));
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
                    let _ = reply.send(Err(RoutingError::Disabled));
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
                        Some(r) => drop(r.send(Err(RoutingError::TooMany {
                            limit: MAX_ROUTING_QUERIES_COUNT,
                        }))),
                        None => tracing::debug!("background provide skipped: too many queries"),
                    }
                    return;
                }
                if !self.has_dht() {
                    if let Some(r) = reply {
                        let _ = r.send(Err(RoutingError::Disabled));
                    }
                    return;
                }
                // Each DHT with a peer in its table takes the record.
                let job = self.job_id();
                let (running, error) = self.start_on_both(job, |k| {
                    if k.kbuckets().all(|b| b.num_entries() == 0) {
                        return Err(StartError::EmptyTable);
                    }
                    Ok(k.start_providing(key.clone())?)
                });
                if running.is_empty() {
                    if let Some(r) = reply {
                        let _ = r.send(Err(
                            error.map_or(RoutingError::Disabled, RoutingError::Start)
                        ));
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
            Command::Shutdown(_)
            | Command::BitswapStat(_)
            | Command::BitswapWantlist(..)
            | Command::Metrics(_) => {}
        }
    }

    /// Addresses we know for `peer`: its connection, then the routing tables.
    pub(super) fn addrs_of(&mut self, peer: &PeerId) -> Vec<Multiaddr> {
        let mut v: Vec<Multiaddr> = self
            .peers
            .get(peer)
            .map(|e| vec![e.addr.clone()])
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
    pub(super) fn dial_providers(&mut self, providers: &[PeerId]) {
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
                // Once per ban: a warning an operator sees at the default level.
                tracing::warn!(%peer, "bitswap: disconnecting a misbehaving peer (banned)");
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            NodeEvent::Refuse { peer } => {
                tracing::debug!(%peer, "bitswap: disconnecting a banned peer");
                let _ = self.swarm.disconnect_peer_id(peer);
            }
        }
    }

    /// The connection manager's trim (see [`connmgr::Manager::tick`]): disconnects
    /// the peers it picks; they leave its count as their connections close.
    fn trim(&mut self) {
        let now = Instant::now();
        let bandwidth = &self.bandwidth;
        let close = self.conn_mgr.tick(now, |peer| {
            let b = bandwidth.peer(peer, now);
            b.total_in.saturating_add(b.total_out)
        });
        for peer in close {
            tracing::debug!("connection manager: disconnecting {peer}");
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    /// A connection to `peer` closed: on its last, the peer is gone.
    async fn on_closed(&mut self, peer: PeerId) {
        if self.conn_mgr.on_closed(&peer) {
            self.peers.remove(&peer);
            let _ = self.bitswap.peer_disconnected(peer).await;
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
                if self.conn_mgr.on_established(Instant::now(), peer_id) {
                    let mut addr = endpoint.get_remote_address().clone();
                    if let Some(Protocol::P2p(_)) = addr.iter().last() {
                        addr.pop();
                    }
                    let entry = PeerEntry {
                        peer: peer_id,
                        addr,
                        outbound: endpoint.is_dialer(),
                    };
                    self.peers.insert(peer_id, entry);
                    let _ = self.bitswap.peer_connected(peer_id).await;
                    self.trim();
                }
            }
            SwarmEvent::ConnectionClosed { peer_id, .. } => self.on_closed(peer_id).await,
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
}
