//! `acorn bitswap stat|wantlist` and `acorn stats bitswap|repo`, as Kubo's.
//!
//! Bitswap runs in the daemon, so `bitswap` and `stats bitswap` need it (Kubo's
//! "this command must be run in online mode" case); `stats repo` is `repo stat`.
//! Output is Kubo's text: `bitswap status` then tab-indented counters, the wantlist
//! CIDs, and the partner count (peer IDs with `--verbose`); `--human` prints byte
//! counts in SI units. Departure: no `provides buffer` line (Acorn has no bitswap
//! provide buffer; the API's `ProvideBufLen` is always 0).

use argh::{ArgsInfo, FromArgs};

use super::{humanize_bytes, online, print, Context};
use crate::core_api::network::{parse_peer, BitswapStatus};

/// Bitswap: the block exchange (needs the daemon).
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "bitswap")]
pub struct BitswapCmd {
    #[argh(subcommand)]
    pub command: BitswapSub,
}

/// `acorn bitswap` subcommands.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand)]
pub enum BitswapSub {
    Stat(BitswapStatCmd),
    Wantlist(WantlistCmd),
}

/// Counters, our wantlist and partners.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "stat")]
pub struct BitswapStatCmd {
    /// list the partners' peer IDs
    #[argh(switch, short = 'v')]
    pub verbose: bool,
    /// byte counts in human units
    #[argh(switch)]
    pub human: bool,
}

/// Bitswap counters (as `acorn bitswap stat`).
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "bitswap")]
pub struct StatsBitswapCmd {
    /// list the partners' peer IDs
    #[argh(switch, short = 'v')]
    pub verbose: bool,
    /// byte counts in human units
    #[argh(switch)]
    pub human: bool,
}

/// The blocks we want, or (with --peer) what a peer wants from us.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "wantlist")]
pub struct WantlistCmd {
    /// a connected peer's ID
    #[argh(option, short = 'p')]
    pub peer: Option<String>,
}

/// Repo statistics (as `acorn repo stat`).
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "repo")]
pub struct StatsRepoCmd {
    /// only print sizes (RepoSize, StorageMax)
    #[argh(switch, short = 's')]
    pub size_only: bool,
    /// print sizes in human units (MiB, GiB)
    #[argh(switch, short = 'H')]
    pub human: bool,
}

/// Kubo's `bitswap stat` text.
pub fn render_stat(s: &BitswapStatus, verbose: bool, human: bool) -> String {
    let bytes = |n: u64| {
        if human {
            humanize_bytes(n as f64)
        } else {
            n.to_string()
        }
    };
    let mut out = String::from("bitswap status\n");
    out.push_str(&format!("\tblocks received: {}\n", s.blocks_received));
    out.push_str(&format!("\tblocks sent: {}\n", s.blocks_sent));
    out.push_str(&format!("\tdata received: {}\n", bytes(s.data_received)));
    out.push_str(&format!("\tdata sent: {}\n", bytes(s.data_sent)));
    out.push_str(&format!("\tdup blocks received: {}\n", s.dup_blks_received));
    out.push_str(&format!(
        "\tdup data received: {}\n",
        bytes(s.dup_data_received)
    ));
    out.push_str(&format!("\twantlist [{} keys]\n", s.wantlist.len()));
    for w in &s.wantlist {
        out.push_str(&format!("\t\t{w}\n"));
    }
    out.push_str(&format!("\tpartners [{}]\n", s.peers.len()));
    if verbose {
        for p in &s.peers {
            out.push_str(&format!("\t\t{p}\n"));
        }
    }
    out
}

/// `bitswap stat` / `stats bitswap`.
pub fn run_stat(ctx: &Context, verbose: bool, human: bool) -> anyhow::Result<()> {
    let s = online(ctx)?.bitswap_stat()?;
    print(&render_stat(&s, verbose, human))
}

impl BitswapCmd {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        match self.command {
            BitswapSub::Stat(s) => run_stat(ctx, s.verbose, s.human),
            BitswapSub::Wantlist(w) => {
                let core = online(ctx)?;
                let peer = match w.peer.as_deref() {
                    None | Some("") => None,
                    Some(p) => Some(parse_peer(p)?),
                };
                let keys = core.bitswap_wantlist(peer.as_ref())?;
                print(&keys.iter().map(|k| format!("{k}\n")).collect::<String>())
            }
        }
    }
}

impl StatsRepoCmd {
    /// As `repo stat` (offline or through the daemon).
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        super::repo::RepoCmd {
            command: super::repo::RepoSub::Stat(super::repo::RepoStatCmd {
                size_only: self.size_only,
                human: self.human,
            }),
        }
        .run(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_text_is_kubos() {
        let cid: cid::Cid = "bafkqaaa".parse().unwrap();
        let peer: libp2p::PeerId = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
            .parse()
            .unwrap();
        let s = BitswapStatus {
            wantlist: vec![cid],
            peers: vec![peer],
            blocks_received: 4,
            data_received: 614400,
            blocks_sent: 1,
            data_sent: 10,
            messages_received: 3,
            ..BitswapStatus::default()
        };
        assert_eq!(
            render_stat(&s, false, false),
            "bitswap status\n\tblocks received: 4\n\tblocks sent: 1\n\tdata received: 614400\n\
             \tdata sent: 10\n\tdup blocks received: 0\n\tdup data received: 0\n\
             \twantlist [1 keys]\n\t\tbafkqaaa\n\tpartners [1]\n"
        );
        let t = render_stat(&s, true, true);
        assert!(t.contains("\tdata received: 614 kB\n"), "{t}");
        assert!(t.ends_with(&format!("\tpartners [1]\n\t\t{peer}\n")), "{t}");
    }
}
