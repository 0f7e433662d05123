//! `acorn swarm …` and `acorn stats bw` (Kubo's `ipfs swarm`, `ipfs stats bw`).
//!
//! These need the network, so they only run through a daemon; offline they fail
//! with [`NEEDS_DAEMON`](crate::api::NEEDS_DAEMON), as Kubo's online-only commands do.

use argh::{ArgsInfo, FromArgs};
use serde_json::Value;

use super::{client::Client, daemon_client, print, Context};
use crate::api::NEEDS_DAEMON;

fn client(ctx: &Context) -> anyhow::Result<Client> {
    daemon_client(ctx)?.ok_or_else(|| anyhow::anyhow!(NEEDS_DAEMON))
}

fn strings(v: &Value) -> String {
    let mut out = String::new();
    for s in v["Strings"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        out.push_str(s.as_str().unwrap_or_default());
        out.push('\n');
    }
    out
}

/// Interact with the swarm (peers and connections).
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "swarm")]
pub struct SwarmCmd {
    #[argh(subcommand)]
    pub command: SwarmSub,
}

/// `acorn swarm` subcommands.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand)]
pub enum SwarmSub {
    Connect(ConnectCmd),
    Disconnect(DisconnectCmd),
    Peers(PeersCmd),
    Addrs(AddrsCmd),
}

/// Open a connection to the given peer (<multiaddr>/p2p/<peer-id>).
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "connect")]
pub struct ConnectCmd {
    /// addresses of the peers, ending in /p2p/<peer-id>
    #[argh(positional)]
    pub addrs: Vec<String>,
}

/// Close the connections to the given peer.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "disconnect")]
pub struct DisconnectCmd {
    /// addresses of the peers, ending in /p2p/<peer-id>
    #[argh(positional)]
    pub addrs: Vec<String>,
}

/// List the peers with open connections.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "peers")]
pub struct PeersCmd {}

/// List known addresses of peers (`local`: this node's listen addresses).
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "addrs")]
pub struct AddrsCmd {
    #[argh(subcommand)]
    pub command: Option<AddrsSub>,
}

/// `acorn swarm addrs` subcommands.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand)]
pub enum AddrsSub {
    Local(AddrsLocalCmd),
}

/// List this node's listen addresses.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "local")]
pub struct AddrsLocalCmd {
    /// append /p2p/<peer-id> to each address
    #[argh(switch)]
    pub id: bool,
}

impl SwarmCmd {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        match self.command {
            SwarmSub::Connect(c) => {
                anyhow::ensure!(!c.addrs.is_empty(), "argument \"address\" is required");
                let c2 = client(ctx)?;
                let q: Vec<(&str, String)> = c.addrs.iter().map(|a| ("arg", a.clone())).collect();
                print(&strings(&c2.json("swarm/connect", &q)?))
            }
            SwarmSub::Disconnect(c) => {
                anyhow::ensure!(!c.addrs.is_empty(), "argument \"address\" is required");
                let c2 = client(ctx)?;
                let q: Vec<(&str, String)> = c.addrs.iter().map(|a| ("arg", a.clone())).collect();
                print(&strings(&c2.json("swarm/disconnect", &q)?))
            }
            SwarmSub::Peers(_) => {
                let v = client(ctx)?.json("swarm/peers", &[])?;
                let mut out = String::new();
                for p in v["Peers"].as_array().map(Vec::as_slice).unwrap_or_default() {
                    out.push_str(&format!(
                        "{}/p2p/{}\n",
                        p["Addr"].as_str().unwrap_or_default(),
                        p["Peer"].as_str().unwrap_or_default()
                    ));
                }
                print(&out)
            }
            SwarmSub::Addrs(AddrsCmd {
                command: Some(AddrsSub::Local(l)),
            }) => {
                let q = [("id", l.id.to_string())];
                print(&strings(&client(ctx)?.json("swarm/addrs/local", &q)?))
            }
            SwarmSub::Addrs(AddrsCmd { command: None }) => {
                let v = client(ctx)?.json("swarm/addrs", &[])?;
                let mut out = String::new();
                if let Some(m) = v["Addrs"].as_object() {
                    for (peer, addrs) in m {
                        let list = addrs.as_array().map(Vec::as_slice).unwrap_or_default();
                        out.push_str(&format!("{peer} ({})\n", list.len()));
                        for a in list {
                            out.push_str(&format!("\t{}\n", a.as_str().unwrap_or_default()));
                        }
                    }
                }
                print(&out)
            }
        }
    }
}

/// Statistics about the node.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "stats")]
pub struct StatsCmd {
    #[argh(subcommand)]
    pub command: StatsSub,
}

/// `acorn stats` subcommands.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand)]
pub enum StatsSub {
    Bw(BwCmd),
    Bitswap(super::bitswap::StatsBitswapCmd),
    Repo(super::bitswap::StatsRepoCmd),
}

/// Bandwidth totals and rates: all connections (raw TCP bytes), or one protocol's or
/// one peer's stream bytes.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "bw")]
pub struct BwCmd {
    /// specify a peer to print bandwidth for
    #[argh(option, short = 'p')]
    pub peer: Option<String>,
    /// specify a protocol to print bandwidth for (e.g. /ipfs/bitswap/1.2.0)
    #[argh(option, short = 't')]
    pub proto: Option<String>,
}

/// go-humanize's `Bytes`: SI units, one decimal below 10.
pub fn humanize_bytes(n: f64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if n < 10.0 {
        return format!("{} B", n as u64);
    }
    let e = (n.log10() / 3.0).floor().min(6.0) as usize;
    let v = n / 1000f64.powi(e as i32);
    if v < 10.0 {
        format!("{v:.1} {}", UNITS[e])
    } else {
        format!("{v:.0} {}", UNITS[e])
    }
}

impl StatsCmd {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        match self.command {
            StatsSub::Bitswap(c) => super::bitswap::run_stat(ctx, c.verbose, c.human),
            StatsSub::Repo(c) => c.run(ctx),
            StatsSub::Bw(cmd) => {
                let mut query = Vec::new();
                if let Some(p) = cmd.peer {
                    query.push(("peer", p));
                }
                if let Some(t) = cmd.proto {
                    query.push(("proto", t));
                }
                let v = client(ctx)?.json("stats/bw", &query)?;
                let f = |k: &str| v[k].as_f64().unwrap_or(0.0);
                print(&format!(
                    "Bandwidth\nTotalIn: {}\nTotalOut: {}\nRateIn: {}/s\nRateOut: {}/s\n",
                    humanize_bytes(f("TotalIn")),
                    humanize_bytes(f("TotalOut")),
                    humanize_bytes(f("RateIn")),
                    humanize_bytes(f("RateOut")),
                ))
            }
        }
    }
}

/// Find providers and peers in the DHT, announce content (Kubo's `ipfs routing`).
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "routing")]
pub struct RoutingCmd {
    #[argh(subcommand)]
    pub command: RoutingSub,
}

/// The same as `acorn routing` (Kubo's deprecated `ipfs dht` spelling).
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "dht")]
pub struct DhtCmd {
    #[argh(subcommand)]
    pub command: RoutingSub,
}

/// `acorn routing` subcommands.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand)]
pub enum RoutingSub {
    FindProvs(FindProvsCmd),
    FindPeer(FindPeerCmd),
    Provide(ProvideCmd),
}

/// Find peers that provide a CID; prints one peer ID per line.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "findprovs")]
pub struct FindProvsCmd {
    /// the number of providers to find (default: 20)
    #[argh(option, short = 'n')]
    pub num_providers: Option<u64>,
    /// the CID
    #[argh(positional)]
    pub cid: String,
}

/// Find the addresses of a peer; prints one multiaddr per line.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "findpeer")]
pub struct FindPeerCmd {
    /// the peer ID
    #[argh(positional)]
    pub peer: String,
}

/// Announce to the DHT that this node provides the given CIDs.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "provide")]
pub struct ProvideCmd {
    /// the CIDs (stored on this node)
    #[argh(positional)]
    pub cids: Vec<String>,
}

impl DhtCmd {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        RoutingCmd {
            command: self.command,
        }
        .run(ctx)
    }
}

impl RoutingCmd {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        match self.command {
            RoutingSub::FindProvs(c) => {
                let mut q = vec![("arg", c.cid.clone())];
                if let Some(n) = c.num_providers {
                    q.push(("num-providers", n.to_string()));
                }
                let resp = client(ctx)?.post("routing/findprovs", &q, None)?;
                let mut out = String::new();
                resp.ndjson(&mut |v| {
                    if v["Type"] == 4 {
                        for r in v["Responses"]
                            .as_array()
                            .map(Vec::as_slice)
                            .unwrap_or_default()
                        {
                            out.push_str(r["ID"].as_str().unwrap_or_default());
                            out.push('\n');
                        }
                    }
                    Ok(())
                })?;
                print(&out)
            }
            RoutingSub::FindPeer(c) => {
                let v = client(ctx)?.json("routing/findpeer", &[("arg", c.peer.clone())])?;
                let mut out = String::new();
                for r in v["Responses"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                {
                    for a in r["Addrs"].as_array().map(Vec::as_slice).unwrap_or_default() {
                        out.push_str(a.as_str().unwrap_or_default());
                        out.push('\n');
                    }
                }
                print(&out)
            }
            RoutingSub::Provide(c) => {
                anyhow::ensure!(!c.cids.is_empty(), "argument \"key\" is required");
                let q: Vec<(&str, String)> = c.cids.iter().map(|a| ("arg", a.clone())).collect();
                client(ctx)?.post("routing/provide", &q, None)?;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanize_like_go() {
        assert_eq!(humanize_bytes(0.0), "0 B");
        assert_eq!(humanize_bytes(9.0), "9 B");
        assert_eq!(humanize_bytes(1234.0), "1.2 kB");
        assert_eq!(humanize_bytes(82854982.0), "83 MB");
    }
}
