//! `acorn resolve <path>`: Kubo's `ipfs resolve`, the CID a path names, printed as
//! `/ipfs/<cid>`, from the core API's [`Content::resolve`](crate::core_api::Content::resolve)
//! (offline against the repo, or through the daemon's RPC API while one holds it).
//!
//! **Departures.** `/ipns/` names are an error (no IPNS yet); `--recursive` is
//! accepted and changes nothing (an `/ipfs/` path always resolves all the way).

use argh::{ArgsInfo, FromArgs};

use super::{print, Context, Flag};

/// Resolve a path to the CID it names.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(
    subcommand,
    name = "resolve",
    example = "acorn resolve /ipfs/QmHash/dir/file"
)]
pub struct ResolveCmd {
    /// resolve until the result is not an IPNS name (default: true)
    #[argh(option, short = 'r', arg_name = "bool")]
    pub recursive: Option<Flag>,
    /// the path (/ipfs/<cid>[/path] or <cid>[/path])
    #[argh(positional)]
    pub name: String,
}

impl ResolveCmd {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        // `--recursive` changes nothing (see the module's departures).
        let cid = super::core(ctx)?.resolve(&self.name)?;
        print(&format!("/ipfs/{cid}\n"))
    }
}
