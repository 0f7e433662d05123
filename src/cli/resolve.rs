//! `acorn resolve <path>`: Kubo's `ipfs resolve`, the CID a path names, printed as
//! `/ipfs/<cid>`. Offline against the repo, or through the daemon's RPC API while
//! one holds the repo.
//!
//! **Departures.** `/ipns/` names are an error (no IPNS yet); `--recursive` is
//! accepted and changes nothing (an `/ipfs/` path always resolves all the way).

use argh::{ArgsInfo, FromArgs};

use super::{parse_bool, print, Context};
use crate::core::Node;

/// Resolve a path to the CID it names.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(
    subcommand,
    name = "resolve",
    example = "acorn resolve /ipfs/QmHash/dir/file"
)]
pub struct ResolveCmd {
    /// resolve until the result is not an IPNS name (default: true)
    #[argh(option, short = 'r', arg_name = "bool", from_str_fn(parse_bool))]
    pub recursive: Option<bool>,
    /// the path (/ipfs/<cid>[/path] or <cid>[/path])
    #[argh(positional)]
    pub name: String,
}

impl ResolveCmd {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let path = if let Some(c) = super::daemon_client(ctx)? {
            let q = vec![
                ("arg", self.name),
                ("recursive", self.recursive.unwrap_or(true).to_string()),
            ];
            let v = c.json("resolve", &q)?;
            v["Path"].as_str().unwrap_or_default().to_string()
        } else {
            let node = Node::open(&ctx.repo_root()?)?;
            format!("/ipfs/{}", node.resolve_path(&self.name)?)
        };
        print(&format!("{path}\n"))
    }
}
