//! `acorn swarm …` and `acorn stats bw` (Kubo's `ipfs swarm`, `ipfs stats bw`).
//!
//! These need the network, so they only run through a daemon ([`super::online`]);
//! offline they fail with [`NEEDS_DAEMON`](crate::core_api::NEEDS_DAEMON), as Kubo's
//! online-only commands do. Each command calls the [`Network`] core API and prints
//! its result in Kubo's text.

use argh::{ArgsInfo, FromArgs};

use super::{humanize_bytes, online, print, Context};
use crate::core_api::network::{bw_scope, parse_peer};
use crate::core_api::parse_cid_arg;

/// One item per line.
fn lines<T: std::fmt::Display>(items: &[T]) -> String {
    items.iter().map(|i| format!("{i}\n")).collect()
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
                let peers = online(ctx)?.swarm_connect(&c.addrs)?;
                let out: Vec<String> = peers
                    .iter()
                    .map(|p| format!("connect {p} success"))
                    .collect();
                print(&lines(&out))
            }
            SwarmSub::Disconnect(c) => {
                anyhow::ensure!(!c.addrs.is_empty(), "argument \"address\" is required");
                let peers = online(ctx)?.swarm_disconnect(&c.addrs)?;
                let out: Vec<String> = peers
                    .iter()
                    .map(|p| format!("disconnect {p} success"))
                    .collect();
                print(&lines(&out))
            }
            SwarmSub::Peers(_) => {
                let peers = online(ctx)?.swarm_peers()?;
                let out: Vec<String> = peers
                    .iter()
                    .map(|p| format!("{}/p2p/{}", p.addr, p.peer))
                    .collect();
                print(&lines(&out))
            }
            SwarmSub::Addrs(AddrsCmd {
                command: Some(AddrsSub::Local(l)),
            }) => print(&lines(&online(ctx)?.swarm_addrs_local(l.id)?)),
            SwarmSub::Addrs(AddrsCmd { command: None }) => {
                let mut out = String::new();
                for (peer, addrs) in online(ctx)?.swarm_addrs()? {
                    out.push_str(&format!("{peer} ({})\n", addrs.len()));
                    for a in addrs {
                        out.push_str(&format!("\t{a}\n"));
                    }
                }
                print(&out)
            }
        }
    }
}

/// Measure the latency of a connection (Kubo's `ipfs ping`, `/ipfs/ping/1.0.0`).
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "ping", example = "acorn ping -n 3 12D3KooW...")]
pub struct PingCmd {
    /// number of pings (default: 10)
    #[argh(option, short = 'n')]
    pub count: Option<u64>,
    /// the peer ID (the peer must be connected or have a known address)
    #[argh(positional)]
    pub peer: String,
}

impl PingCmd {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        use crate::core_api::network::MAX_PING_COUNT;
        let count = self.count.unwrap_or(10);
        anyhow::ensure!(count > 0, "ping count must be greater than 0");
        anyhow::ensure!(
            count as usize <= MAX_PING_COUNT,
            "ping count {count} is over the limit of {MAX_PING_COUNT}"
        );
        let peer = parse_peer(self.peer.trim_start_matches("/p2p/"))?;
        let core = online(ctx)?;
        print(&format!("PING {peer}.\n"))?;
        let mut times = Vec::new();
        core.ping(&peer, count as usize, &mut |r| match r {
            Ok(t) => {
                times.push(t);
                Ok(print(&format!(
                    "Pong received: time={:.2} ms\n",
                    t.as_secs_f64() * 1000.0
                ))?)
            }
            Err(e) => Err(anyhow::anyhow!("ping {peer}: {e}").into()),
        })?;
        anyhow::ensure!(!times.is_empty(), "ping {peer}: no answer");
        let avg = times.iter().sum::<std::time::Duration>() / times.len() as u32;
        print(&format!(
            "Average latency: {:.2}ms\n",
            avg.as_secs_f64() * 1000.0
        ))
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
    /// print bandwidth at an interval, until interrupted
    #[argh(switch)]
    pub poll: bool,
    /// time between polls, a Go duration (default: 1s)
    #[argh(option, short = 'i')]
    pub interval: Option<String>,
}

/// Kubo's `stats bw --poll` header; each poll rewrites the line after it.
pub const BW_POLL_HEADER: &str = "Total Up    Total Down  Rate Up     Rate Down";

impl StatsCmd {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        match self.command {
            StatsSub::Bitswap(c) => super::bitswap::run_stat(ctx, c.verbose, c.human),
            StatsSub::Repo(c) => c.run(ctx),
            StatsSub::Bw(cmd) => {
                let core = online(ctx)?;
                let scope = bw_scope(cmd.peer.as_deref(), cmd.proto.as_deref())?;
                if cmd.poll {
                    let every = match cmd.interval.as_deref() {
                        None => std::time::Duration::from_secs(1),
                        Some(i) => super::argv::parse_go_duration(i)
                            .map_err(|e| anyhow::anyhow!("bad --interval {i:?}: {e}"))?,
                    };
                    anyhow::ensure!(!every.is_zero(), "--interval must be above 0");
                    print(&format!("{BW_POLL_HEADER}\n"))?;
                    loop {
                        let bw = core.stats_bw(&scope)?;
                        // Kubo clears the line and returns to its start each time.
                        print(&format!(
                            "\x1b[2K\r{:>8}    {:>8}    {:>8}/s  {:>8}/s      \r",
                            humanize_bytes(bw.total_out as f64),
                            humanize_bytes(bw.total_in as f64),
                            humanize_bytes(bw.rate_out),
                            humanize_bytes(bw.rate_in),
                        ))?;
                        std::thread::sleep(every);
                    }
                }
                anyhow::ensure!(cmd.interval.is_none(), "--interval needs --poll");
                let bw = core.stats_bw(&scope)?;
                print(&format!(
                    "Bandwidth\nTotalIn: {}\nTotalOut: {}\nRateIn: {}/s\nRateOut: {}/s\n",
                    humanize_bytes(bw.total_in as f64),
                    humanize_bytes(bw.total_out as f64),
                    humanize_bytes(bw.rate_in),
                    humanize_bytes(bw.rate_out),
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
                let core = online(ctx)?;
                let cid = parse_cid_arg(&c.cid)?;
                let max = c
                    .num_providers
                    .map_or(crate::core_api::network::DEFAULT_NUM_PROVIDERS, |n| {
                        n as usize
                    });
                anyhow::ensure!(max > 0, "number of providers must be greater than 0");
                Ok(core.find_providers(&cid, max, &mut |p| Ok(print(&format!("{}\n", p.peer))?))?)
            }
            RoutingSub::FindPeer(c) => {
                let core = online(ctx)?;
                let peer = parse_peer(&c.peer)?;
                print(&lines(&core.find_peer(&peer)?))
            }
            RoutingSub::Provide(c) => {
                anyhow::ensure!(!c.cids.is_empty(), "argument \"key\" is required");
                let core = online(ctx)?;
                let cids = c
                    .cids
                    .iter()
                    .map(|a| parse_cid_arg(a))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                Ok(core.provide(&cids)?)
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
