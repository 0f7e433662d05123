//! The network: `id`, `swarm`, `routing` (and `dht`), `stats bw`, `bitswap`.
//!
//! The [`Network`] group of the [core API](super): its trait, its result types, and
//! its two implementations, [`Local`] (this process's node) and [`Remote`] (a
//! daemon over the RPC API).
//!
//! **Local.** Every call but `id` needs the daemon's network ([`Local::net`]; the
//! [`NEEDS_DAEMON`](super::NEEDS_DAEMON) error offline). The swarm task answers
//! over [`NetHandle`](crate::swarm::NetHandle); a call waits for it with
//! `smol::block_on`, so it runs on a blocking-pool thread, never on the executor
//! (the RPC API's `on_core`). A wait is bounded by the swarm task's own timeouts
//! (dial, Kademlia query).
//!
//! **Remote.** One RPC request per call, reading back the JSON the RPC API writes
//! from these same types (Kubo's shapes: see [`crate::api`]).

use cid::Cid;
use libp2p::{Multiaddr, PeerId};
use serde_json::Value;

use super::answer::{args, array, field, str_field, strings, u64_field};
use super::error::{bail, ensure, Context as _, Error, Kind, Result};
use super::{Local, Remote};
pub use crate::core::IdInfo;
pub use crate::swarm::{BwScope, BwStats, PingError, DEFAULT_NUM_PROVIDERS, MAX_PING_COUNT};

/// One connected peer (`swarm peers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmPeer {
    pub peer: PeerId,
    /// Remote address of its first connection.
    pub addr: Multiaddr,
    /// Whether we dialed it (Kubo's `Direction` 2) or it dialed us (1).
    pub outbound: bool,
}

/// One provider found by `routing findprovs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub peer: PeerId,
    /// Addresses we know for it; may be empty.
    pub addrs: Vec<Multiaddr>,
}

/// `bitswap stat`: Kubo's counters, our wantlist and the partners.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BitswapStatus {
    pub blocks_received: u64,
    pub data_received: u64,
    pub blocks_sent: u64,
    pub data_sent: u64,
    pub dup_blks_received: u64,
    pub dup_data_received: u64,
    pub messages_received: u64,
    /// Our live wants, sorted by their string form.
    pub wantlist: Vec<Cid>,
    /// Connected peers bitswap knows.
    pub peers: Vec<PeerId>,
}

/// The network: `id`, `swarm`, `routing` (and `dht`), `stats bw`, `bitswap`.
pub trait Network {
    /// `id [peer]`: this node's identity; listen addresses and protocols while the
    /// network runs. Another peer's ID is refused (not supported yet).
    fn id(&self, peer: Option<&str>) -> Result<IdInfo>;
    /// `swarm connect`: dials each `<multiaddr>/p2p/<peer>`; the peers, in order.
    fn swarm_connect(&self, addrs: &[String]) -> Result<Vec<PeerId>>;
    /// `swarm disconnect`: closes the connections to each peer; the peers.
    fn swarm_disconnect(&self, addrs: &[String]) -> Result<Vec<PeerId>>;
    /// `swarm peers`: the connected peers.
    fn swarm_peers(&self) -> Result<Vec<SwarmPeer>>;
    /// `swarm addrs`: the addresses known per peer.
    fn swarm_addrs(&self) -> Result<Vec<(PeerId, Vec<Multiaddr>)>>;
    /// `swarm addrs local`: this node's listen addresses (`/p2p/<id>` appended with
    /// `with_id`).
    fn swarm_addrs_local(&self, with_id: bool) -> Result<Vec<Multiaddr>>;
    /// `routing findprovs`: at most `max` providers of `cid`, each as found.
    fn find_providers(
        &self,
        cid: &Cid,
        max: usize,
        each: &mut dyn FnMut(Provider) -> Result<()>,
    ) -> Result<()>;
    /// `routing findpeer`: the addresses of `peer`.
    fn find_peer(&self, peer: &PeerId) -> Result<Vec<Multiaddr>>;
    /// `routing provide`: announces each CID (each must be stored here).
    fn provide(&self, cids: &[Cid]) -> Result<()>;
    /// `stats bw`: totals, one protocol's or one peer's.
    fn stats_bw(&self, scope: &BwScope) -> Result<BwStats>;
    /// `bitswap stat` (and `stats bitswap`).
    fn bitswap_stat(&self) -> Result<BitswapStatus>;
    /// `bitswap wantlist`: our wants, or what `peer` wants from us; sorted.
    fn bitswap_wantlist(&self, peer: Option<&PeerId>) -> Result<Vec<Cid>>;
    /// `ping`: `count` round trips to `peer`, each time (or the failure that ends
    /// the run) handed to `each` as it comes.
    fn ping(
        &self,
        peer: &PeerId,
        count: usize,
        each: &mut (dyn FnMut(std::result::Result<std::time::Duration, PingError>) -> Result<()>
                  + Send),
    ) -> Result<()>;
}

/// A peer ID argument (`<id>`, `/p2p/<id>` or `/ipfs/<id>`) in any form
/// [`acorn_net::peer::parse`] reads (`Qm…`, `12D3KooW…`, `16Uiu2…`, `k51…`, `bafz…`);
/// the error ([`Kind::BadInput`]) names the input and what is wrong with it.
pub fn parse_peer(arg: &str) -> Result<PeerId, Error> {
    acorn_net::peer::parse(arg).map_err(|e| Error::new(Kind::BadInput, e.to_string()))
}

/// `stats bw`'s scope from its `peer` and `proto` options (not both, as Kubo).
pub fn bw_scope(peer: Option<&str>, proto: Option<&str>) -> Result<BwScope, Error> {
    match (peer, proto) {
        (Some(_), Some(_)) => Err(Error::new(
            Kind::BadInput,
            "please only specify peer OR protocol",
        )),
        (Some(p), None) => Ok(BwScope::Peer(parse_peer(p)?)),
        (None, Some(t)) => Ok(BwScope::Protocol(t.to_string())),
        (None, None) => Ok(BwScope::Total),
    }
}

/// Waits for a swarm-task answer (on a blocking-pool thread; see the module docs).
fn wait<T>(f: impl std::future::Future<Output = Result<T, crate::swarm::NetError>>) -> Result<T> {
    Ok(smol::block_on(f)?)
}

/// CIDs sorted by their string form (a stable order for listings).
fn sorted(mut cids: Vec<Cid>) -> Vec<Cid> {
    cids.sort_by_cached_key(ToString::to_string);
    cids
}

impl Local {
    /// The network's figures for a metrics scrape (the daemon only: `None` while
    /// no network runs). Waits for the swarm task, so on a blocking-pool thread.
    pub fn net_metrics(&self) -> Result<Option<crate::metrics::NetFigures>> {
        match &self.net {
            Some(n) => Ok(Some(wait(n.metrics())?)),
            None => Ok(None),
        }
    }
}

impl Network for Local {
    fn id(&self, peer: Option<&str>) -> Result<IdInfo> {
        let mut info = self.node().id()?;
        if let Some(p) = peer {
            if parse_peer(p)?.to_base58() != info.id {
                match self.net_opt() {
                    None => {
                        bail!("looking up peer {p} needs the network, which is not running")
                    }
                    Some(_) => bail!("looking up other peers ({p}) is not supported yet"),
                }
            }
        }
        if let Some(net) = self.net_opt() {
            let me = net.peer_id();
            info.addresses = wait(net.listen_addrs())?
                .into_iter()
                .map(|a| format!("{a}/p2p/{me}"))
                .collect();
            info.protocols = net.protocols();
        }
        Ok(info)
    }

    fn swarm_connect(&self, addrs: &[String]) -> Result<Vec<PeerId>> {
        let net = self.net()?;
        addrs.iter().map(|a| wait(net.connect(a))).collect()
    }

    fn swarm_disconnect(&self, addrs: &[String]) -> Result<Vec<PeerId>> {
        let net = self.net()?;
        addrs.iter().map(|a| wait(net.disconnect(a))).collect()
    }

    fn swarm_peers(&self) -> Result<Vec<SwarmPeer>> {
        Ok(wait(self.net()?.peers())?
            .into_iter()
            .map(|p| SwarmPeer {
                peer: p.peer,
                addr: p.addr,
                outbound: p.outbound,
            })
            .collect())
    }

    fn swarm_addrs(&self) -> Result<Vec<(PeerId, Vec<Multiaddr>)>> {
        wait(self.net()?.known_addrs())
    }

    fn swarm_addrs_local(&self, with_id: bool) -> Result<Vec<Multiaddr>> {
        let net = self.net()?;
        let me = net.peer_id();
        Ok(wait(net.listen_addrs())?
            .into_iter()
            .map(|a| {
                if with_id {
                    a.with(libp2p::multiaddr::Protocol::P2p(me))
                } else {
                    a
                }
            })
            .collect())
    }

    fn find_providers(
        &self,
        cid: &Cid,
        max: usize,
        each: &mut dyn FnMut(Provider) -> Result<()>,
    ) -> Result<()> {
        ensure!(max > 0, "number of providers must be greater than 0");
        for p in wait(self.net()?.find_providers(cid, max))? {
            each(Provider {
                peer: p.peer,
                addrs: p.addrs,
            })?;
        }
        Ok(())
    }

    fn find_peer(&self, peer: &PeerId) -> Result<Vec<Multiaddr>> {
        wait(self.net()?.find_peer(*peer))
    }

    fn provide(&self, cids: &[Cid]) -> Result<()> {
        let net = self.net()?;
        for c in cids {
            if !self.node().store().has(c)? {
                bail!("block {c} not found locally, cannot provide");
            }
        }
        for c in cids {
            wait(net.provide(c))?;
        }
        Ok(())
    }

    fn stats_bw(&self, scope: &BwScope) -> Result<BwStats> {
        Ok(self.net()?.bandwidth(scope))
    }

    fn bitswap_stat(&self) -> Result<BitswapStatus> {
        let st = wait(self.net()?.bitswap_stat())?;
        let s = &st.stats;
        Ok(BitswapStatus {
            blocks_received: s.blocks_received,
            data_received: s.data_received,
            blocks_sent: s.blocks_sent,
            data_sent: s.data_sent,
            dup_blks_received: s.dup_blks_received,
            dup_data_received: s.dup_data_received,
            messages_received: s.messages_received,
            wantlist: sorted(st.wantlist),
            peers: st.peers,
        })
    }

    fn bitswap_wantlist(&self, peer: Option<&PeerId>) -> Result<Vec<Cid>> {
        Ok(sorted(wait(self.net()?.bitswap_wantlist(peer.copied()))?))
    }

    fn ping(
        &self,
        peer: &PeerId,
        count: usize,
        each: &mut (dyn FnMut(std::result::Result<std::time::Duration, PingError>) -> Result<()>
                  + Send),
    ) -> Result<()> {
        let net = self.net()?;
        let mut out: Result<()> = Ok(());
        smol::block_on(net.ping(*peer, count, &mut |r| {
            if out.is_ok() {
                out = each(r);
            }
        }));
        out
    }
}

fn parse<T: std::str::FromStr>(s: &str, what: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e| {
        Error::new(
            Kind::Other,
            format!("the daemon sent a bad {what} {s:?}: {e}"),
        )
    })
}

/// A peer ID in a daemon's answer (any form [`parse_peer`] reads).
fn peer_of(s: &str) -> Result<PeerId> {
    parse_peer(s)
}

fn parse_all<T: std::str::FromStr>(list: &[String], what: &str) -> Result<Vec<T>>
where
    T::Err: std::fmt::Display,
{
    list.iter().map(|s| parse(s, what)).collect()
}

/// `{"/": cid}` links.
fn links(v: &Value, key: &str) -> Result<Vec<Cid>> {
    array(v, key)?
        .iter()
        .map(|l| parse(str_field(l, "/")?, "CID"))
        .collect()
}

/// The peer of each `"connect <peer> success"` line (`swarm connect|disconnect`).
fn peers_of(v: &Value, verb: &str) -> Result<Vec<PeerId>> {
    strings(v, "Strings")?
        .iter()
        .map(|s| {
            let peer = s
                .strip_prefix(verb)
                .and_then(|r| r.strip_suffix(" success"))
                .map(str::trim)
                .with_context(|| format!("unexpected {verb} answer from the daemon: {s:?}"))?;
            peer_of(peer)
        })
        .collect()
}

impl Network for Remote {
    fn id(&self, peer: Option<&str>) -> Result<IdInfo> {
        let q: Vec<(&str, String)> = peer.iter().map(|p| ("arg", p.to_string())).collect();
        let v = self.client().json("id", &q)?;
        Ok(IdInfo {
            id: str_field(&v, "ID")?.to_string(),
            public_key: str_field(&v, "PublicKey")?.to_string(),
            addresses: strings(&v, "Addresses")?,
            agent_version: str_field(&v, "AgentVersion")?.to_string(),
            protocols: strings(&v, "Protocols")?,
        })
    }

    fn swarm_connect(&self, addrs: &[String]) -> Result<Vec<PeerId>> {
        peers_of(
            &self.client().json("swarm/connect", &args(addrs))?,
            "connect",
        )
    }

    fn swarm_disconnect(&self, addrs: &[String]) -> Result<Vec<PeerId>> {
        peers_of(
            &self.client().json("swarm/disconnect", &args(addrs))?,
            "disconnect",
        )
    }

    fn swarm_peers(&self) -> Result<Vec<SwarmPeer>> {
        let v = self.client().json("swarm/peers", &[])?;
        array(&v, "Peers")?
            .iter()
            .map(|p| {
                Ok(SwarmPeer {
                    peer: peer_of(str_field(p, "Peer")?)?,
                    addr: parse(str_field(p, "Addr")?, "address")?,
                    outbound: u64_field(p, "Direction")? == 2,
                })
            })
            .collect()
    }

    fn swarm_addrs(&self) -> Result<Vec<(PeerId, Vec<Multiaddr>)>> {
        let v = self.client().json("swarm/addrs", &[])?;
        let Some(map) = field(&v, "Addrs")?.as_object() else {
            bail!("the daemon's \"Addrs\" is not an object");
        };
        map.iter()
            .map(|(peer, list)| {
                let list: Vec<String> = serde_json::from_value(list.clone())
                    .context("the daemon's addresses are not strings")?;
                Ok((peer_of(peer)?, parse_all(&list, "address")?))
            })
            .collect()
    }

    fn swarm_addrs_local(&self, with_id: bool) -> Result<Vec<Multiaddr>> {
        let v = self
            .client()
            .json("swarm/addrs/local", &[("id", with_id.to_string())])?;
        parse_all(&strings(&v, "Strings")?, "address")
    }

    fn find_providers(
        &self,
        cid: &Cid,
        max: usize,
        each: &mut dyn FnMut(Provider) -> Result<()>,
    ) -> Result<()> {
        let q = [("arg", cid.to_string()), ("num-providers", max.to_string())];
        let resp = self.client().post("routing/findprovs", &q, None)?;
        resp.ndjson(&mut |v| {
            // Type 4 = Provider; other query events carry no providers.
            if v["Type"] != 4 {
                return Ok(());
            }
            for r in array(&v, "Responses")? {
                each(Provider {
                    peer: peer_of(str_field(r, "ID")?)?,
                    addrs: parse_all(&strings(r, "Addrs")?, "address")?,
                })?;
            }
            Ok(())
        })
    }

    fn find_peer(&self, peer: &PeerId) -> Result<Vec<Multiaddr>> {
        let v = self
            .client()
            .json("routing/findpeer", &[("arg", peer.to_base58())])?;
        let mut out = Vec::new();
        for r in array(&v, "Responses")? {
            out.extend(parse_all(&strings(r, "Addrs")?, "address")?);
        }
        Ok(out)
    }

    fn provide(&self, cids: &[Cid]) -> Result<()> {
        let q: Vec<(&str, String)> = cids.iter().map(|c| ("arg", c.to_string())).collect();
        let mut resp = self.client().post("routing/provide", &q, None)?;
        std::io::copy(&mut resp, &mut std::io::sink())?;
        resp.finish()
    }

    fn stats_bw(&self, scope: &BwScope) -> Result<BwStats> {
        let q: Vec<(&str, String)> = match scope {
            BwScope::Total => Vec::new(),
            BwScope::Protocol(p) => vec![("proto", p.clone())],
            BwScope::Peer(p) => vec![("peer", p.to_base58())],
        };
        let v = self.client().json("stats/bw", &q)?;
        let rate = |k: &str| -> Result<f64> {
            field(&v, k)?
                .as_f64()
                .with_context(|| format!("the daemon's {k:?} is not a number"))
        };
        Ok(BwStats {
            total_in: u64_field(&v, "TotalIn")?,
            total_out: u64_field(&v, "TotalOut")?,
            rate_in: rate("RateIn")?,
            rate_out: rate("RateOut")?,
        })
    }

    fn bitswap_stat(&self) -> Result<BitswapStatus> {
        let v = self.client().json("bitswap/stat", &[])?;
        Ok(BitswapStatus {
            blocks_received: u64_field(&v, "BlocksReceived")?,
            data_received: u64_field(&v, "DataReceived")?,
            blocks_sent: u64_field(&v, "BlocksSent")?,
            data_sent: u64_field(&v, "DataSent")?,
            dup_blks_received: u64_field(&v, "DupBlksReceived")?,
            dup_data_received: u64_field(&v, "DupDataReceived")?,
            messages_received: u64_field(&v, "MessagesReceived")?,
            wantlist: links(&v, "Wantlist")?,
            peers: strings(&v, "Peers")?
                .iter()
                .map(|p| peer_of(p))
                .collect::<Result<_, _>>()?,
        })
    }

    fn bitswap_wantlist(&self, peer: Option<&PeerId>) -> Result<Vec<Cid>> {
        let q: Vec<(&str, String)> = peer.iter().map(|p| ("peer", p.to_base58())).collect();
        links(&self.client().json("bitswap/wantlist", &q)?, "Keys")
    }

    /// Kubo's `ping` lines: `{"Success","Time" (ns),"Text"}`; a line with a
    /// `Time` is a round trip, `Success: false` the failure, the rest are notes.
    fn ping(
        &self,
        peer: &PeerId,
        count: usize,
        each: &mut (dyn FnMut(std::result::Result<std::time::Duration, PingError>) -> Result<()>
                  + Send),
    ) -> Result<()> {
        let q = [("arg", peer.to_base58()), ("count", count.to_string())];
        self.client().post("ping", &q, None)?.ndjson(&mut |v| {
            let text = v["Text"].as_str().unwrap_or_default().to_string();
            if v["Success"] == false {
                return each(Err(PingError::Remote(text)));
            }
            match v["Time"].as_u64() {
                Some(ns) if ns > 0 => each(Ok(std::time::Duration::from_nanos(ns))),
                _ => Ok(()),
            }
        })
    }
}
