//! `acorn bitswap stat|wantlist` and `acorn stats bitswap|repo`, as Kubo's.
//!
//! Bitswap runs in the daemon, so `bitswap` and `stats bitswap` need it (Kubo's
//! "this command must be run in online mode" case); `stats repo` is `repo stat`.
//! Output is Kubo's text: `bitswap status` then tab-indented counters, the wantlist
//! CIDs, and the partner count (peer IDs with `--verbose`); `--human` prints byte
//! counts in SI units. Departure: no `provides buffer` line (Acorn has no bitswap
//! provide buffer; the API's `ProvideBufLen` is always 0).

use argh::{ArgsInfo, FromArgs};
use serde_json::Value;

use super::net::humanize_bytes;
use super::{print, Context};
use crate::api::NEEDS_DAEMON;

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

fn client(ctx: &Context) -> anyhow::Result<super::client::Client> {
    super::daemon_client(ctx)?.ok_or_else(|| anyhow::anyhow!(NEEDS_DAEMON))
}

/// Kubo's `bitswap stat` text from the API's answer.
pub fn render_stat(v: &Value, verbose: bool, human: bool) -> String {
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    let bytes = |k: &str| {
        if human {
            humanize_bytes(n(k) as f64)
        } else {
            n(k).to_string()
        }
    };
    let list = |k: &str| v[k].as_array().cloned().unwrap_or_default();
    let mut out = String::from("bitswap status\n");
    out.push_str(&format!("\tblocks received: {}\n", n("BlocksReceived")));
    out.push_str(&format!("\tblocks sent: {}\n", n("BlocksSent")));
    out.push_str(&format!("\tdata received: {}\n", bytes("DataReceived")));
    out.push_str(&format!("\tdata sent: {}\n", bytes("DataSent")));
    out.push_str(&format!(
        "\tdup blocks received: {}\n",
        n("DupBlksReceived")
    ));
    out.push_str(&format!(
        "\tdup data received: {}\n",
        bytes("DupDataReceived")
    ));
    let wants = list("Wantlist");
    out.push_str(&format!("\twantlist [{} keys]\n", wants.len()));
    for w in &wants {
        out.push_str(&format!("\t\t{}\n", w["/"].as_str().unwrap_or_default()));
    }
    let peers = list("Peers");
    out.push_str(&format!("\tpartners [{}]\n", peers.len()));
    if verbose {
        for p in &peers {
            out.push_str(&format!("\t\t{}\n", p.as_str().unwrap_or_default()));
        }
    }
    out
}

/// `bitswap stat` / `stats bitswap`.
pub fn run_stat(ctx: &Context, verbose: bool, human: bool) -> anyhow::Result<()> {
    let v = client(ctx)?.json("bitswap/stat", &[])?;
    print(&render_stat(&v, verbose, human))
}

impl BitswapCmd {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        match self.command {
            BitswapSub::Stat(s) => run_stat(ctx, s.verbose, s.human),
            BitswapSub::Wantlist(w) => {
                let q: Vec<(&str, String)> = w.peer.into_iter().map(|p| ("peer", p)).collect();
                let v = client(ctx)?.json("bitswap/wantlist", &q)?;
                let mut out = String::new();
                for k in v["Keys"].as_array().map(Vec::as_slice).unwrap_or_default() {
                    out.push_str(&format!("{}\n", k["/"].as_str().unwrap_or_default()));
                }
                print(&out)
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
    use serde_json::json;

    #[test]
    fn stat_text_is_kubos() {
        let v = json!({
            "ProvideBufLen": 0, "Wantlist": [{"/": "bafkqaaa"}], "Peers": ["12D3KooWA"],
            "BlocksReceived": 4, "DataReceived": 614400, "BlocksSent": 1, "DataSent": 10,
            "DupBlksReceived": 0, "DupDataReceived": 0, "MessagesReceived": 3,
        });
        assert_eq!(
            render_stat(&v, false, false),
            "bitswap status\n\tblocks received: 4\n\tblocks sent: 1\n\tdata received: 614400\n\
             \tdata sent: 10\n\tdup blocks received: 0\n\tdup data received: 0\n\
             \twantlist [1 keys]\n\t\tbafkqaaa\n\tpartners [1]\n"
        );
        let t = render_stat(&v, true, true);
        assert!(t.contains("\tdata received: 614 kB\n"), "{t}");
        assert!(t.ends_with("\tpartners [1]\n\t\t12D3KooWA\n"), "{t}");
    }
}
