//! `acorn repo gc|stat|verify`, as Kubo's `ipfs repo`.
//!
//! Wired to `acorn-storage` by the lead; until then "not implemented yet".

use argh::{ArgsInfo, FromArgs};

use super::{not_implemented, Context};

/// Manage the repo.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "repo")]
pub struct RepoCmd {
    #[argh(subcommand)]
    pub command: RepoSub,
}

/// `acorn repo` subcommands.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand)]
pub enum RepoSub {
    Gc(RepoGcCmd),
    Stat(RepoStatCmd),
    Verify(RepoVerifyCmd),
}

/// Remove every block that no pin reaches, and print the removed CIDs.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "gc")]
pub struct RepoGcCmd {
    /// print nothing on success
    #[argh(switch, short = 'q')]
    pub quiet: bool,
}

/// Print repo statistics (NumObjects, RepoSize, StorageMax).
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "stat")]
pub struct RepoStatCmd {
    /// only print sizes (RepoSize, StorageMax)
    #[argh(switch, short = 's')]
    pub size_only: bool,
    /// print sizes in human units (MiB, GiB)
    #[argh(switch, short = 'H')]
    pub human: bool,
}

/// Re-hash every block and report the corrupt ones.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "verify")]
pub struct RepoVerifyCmd {}

impl RepoCmd {
    pub fn run(self, _ctx: &Context) -> anyhow::Result<()> {
        match self.command {
            RepoSub::Gc(_) => not_implemented("repo gc"),
            RepoSub::Stat(_) => not_implemented("repo stat"),
            RepoSub::Verify(_) => not_implemented("repo verify"),
        }
    }
}
