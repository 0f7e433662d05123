//! [`NetHandle`]: the API's handle to the swarm task (a bounded command channel,
//! the byte counters, and the stream control for `ping`).

use std::time::{Duration, Instant};

use acorn_net::transport::tcp::Bandwidth;
use cid::Cid;
use futures::channel::oneshot;
use libp2p::multiaddr::Protocol;
use libp2p::{kad, Multiaddr, PeerId};
use smol::channel::Sender;

use super::*;

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
    pub(super) tx: Sender<Command>,
    /// Closed by [`NetHandle::shutdown`]: every fetch waiting on the network (on the
    /// blocking pool) fails at once, whatever state bitswap's tasks are in.
    pub(super) fetch_stop: Sender<()>,
    pub(super) peer_id: PeerId,
    pub(super) dht_mode: DhtMode,
    /// The LAN DHT runs beside the WAN one.
    pub(super) lan_dht: bool,
    pub(super) bandwidth: Bandwidth,
    /// Opens the streams of `ping` (Kubo's `/ipfs/ping/1.0.0`, on demand).
    pub(super) streams: libp2p_stream::Control,
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
    Routing(#[from] RoutingError),
    #[error("bitswap: {0}")]
    Bitswap(String),
}

/// Why one `ping` round trip failed (the run ends there). Prints as Kubo's line.
#[derive(Debug, thiserror::Error)]
pub enum PingError {
    #[error("cannot open a ping stream: {0}")]
    Open(String),
    #[error("ping timed out")]
    Timeout,
    #[error("no random bytes: {0}")]
    Random(String),
    #[error("ping answer does not match")]
    Mismatch,
    #[error("ping failed: {0}")]
    Failed(#[source] std::io::Error),
    /// A daemon's failed round trip, as its `ping` line said it.
    #[error("{0}")]
    Remote(String),
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
        each: &mut (dyn FnMut(Result<Duration, PingError>) + Send),
    ) {
        use futures::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut control = self.streams.clone();
        let open = control.open_stream(peer, libp2p::StreamProtocol::new(PING_PROTOCOL));
        let mut stream = match with_deadline(PING_TIMEOUT, open).await {
            Some(Ok(s)) => s,
            Some(Err(e)) => return each(Err(PingError::Open(e.to_string()))),
            None => return each(Err(PingError::Timeout)),
        };
        for _ in 0..count {
            let mut sent = [0u8; PING_BYTES];
            if let Err(e) = getrandom::fill(&mut sent) {
                return each(Err(PingError::Random(e.to_string())));
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
                Some(Ok(_)) => return each(Err(PingError::Mismatch)),
                Some(Err(e)) => return each(Err(PingError::Failed(e))),
                None => return each(Err(PingError::Timeout)),
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

    /// The network's figures for a metrics scrape: the swarm task's, and the byte
    /// counters (total and per tracked protocol) read here.
    pub async fn metrics(&self) -> Result<crate::metrics::NetFigures, NetError> {
        let mut f = self
            .ask(Command::Metrics)
            .await?
            .map_err(NetError::Bitswap)?;
        let now = Instant::now();
        let t = self.bandwidth.total(now);
        f.transport_bytes = (t.total_in, t.total_out);
        f.protocol_bytes = acorn_net::bandwidth::TRACKED_PROTOCOLS
            .iter()
            .map(|p| {
                let s = self.bandwidth.protocol(p, now);
                (*p, s.total_in, s.total_out)
            })
            .collect();
        Ok(f)
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
