//! `acorn repo gc|stat|verify|migrate`, as Kubo's `ipfs repo`, and `acorn repo
//! import-kubo PATH` (Acorn's: the blocks and pins of a Kubo repo, see
//! [`crate::kubo_import`]).
//!
//! Each command calls the core API's [`crate::core_api::Repo`] (the repo offline,
//! or the daemon's RPC API while one holds the repo) and formats its typed result
//! once, so the output is the same either way.

use argh::{ArgsInfo, FromArgs};

use std::io::Write as _;

use anyhow::Context as _;

use super::{print, Context};
use crate::core_api::repo::RepoStat;
use crate::core_api::repo::{GcEvent, Migrated};

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
    Version(RepoVersionCmd),
    Migrate(RepoMigrateCmd),
    ImportKubo(RepoImportKuboCmd),
}

/// Upgrade the repo to this build's format (a copy of the old database is kept).
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(
    subcommand,
    name = "migrate",
    note = "Offline: stop the daemon first (a daemon upgrades the repo itself when it starts). Does nothing, successfully, when the repo is current or does not exist. The old database is copied to $ACORN_PATH/backup/datastore.redb.v<N> first; to go back, stop acorn and copy it over $ACORN_PATH/datastore.redb."
)]
pub struct RepoMigrateCmd {}

/// Show the repo format version this build reads and writes.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "version")]
pub struct RepoVersionCmd {
    /// write only the version (`acorn-repo@N`)
    #[argh(switch, short = 'q')]
    pub quiet: bool,
}

/// Import the blocks and pins of a Kubo repo (checked block by block; offline).
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(
    subcommand,
    name = "import-kubo",
    example = "acorn repo import-kubo ~/.ipfs",
    note = "Reads Kubo 0.12 to 0.27 repos (flatfs + LevelDB); Kubo must not be running on it. Bad blocks are named and nothing is imported. The identity and config stay this repo's (see acorn init --from-kubo)."
)]
pub struct RepoImportKuboCmd {
    /// the Kubo repo directory (IPFS_PATH, e.g. ~/.ipfs)
    #[argh(positional)]
    pub path: String,
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
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        if let RepoSub::Version(c) = &self.command {
            return print(&render_version(ctx, c));
        }
        if let RepoSub::Migrate(_) = &self.command {
            let root = ctx.repo_root()?;
            let v = crate::core_api::repo::REPO_FORMAT_VERSION;
            return print(&match crate::core_api::repo::migrate(&root)? {
                Migrated::NoRepo => format!("no repo at {}: nothing to migrate\n", root.display()),
                Migrated::Current => {
                    format!("repo at {} is at format {v}: nothing to do\n", root.display())
                }
                Migrated::Upgraded { from, backup } => format!(
                    "repo at {} upgraded from format {from} to {v}; the old database is kept at {}\n",
                    root.display(),
                    backup.display()
                ),
            });
        }
        let core = super::core(ctx)?;
        match self.command {
            // Answered above, without the core API's node.
            RepoSub::Version(_) | RepoSub::Migrate(_) => Ok(()),
            RepoSub::Gc(c) => {
                let mut out = std::io::stdout().lock();
                core.repo_gc(false, &mut |e| {
                    let line = match e {
                        GcEvent::Removed(cid) if c.quiet => format!("{cid}\n"),
                        GcEvent::Removed(cid) => format!("removed {cid}\n"),
                        // Not asked for (`stream_errors` false).
                        GcEvent::Error(_) => return Ok(()),
                    };
                    Ok(out
                        .write_all(line.as_bytes())
                        .context("writing to stdout")?)
                })?;
                out.flush().context("writing to stdout")
            }
            RepoSub::Stat(c) => print(&render_stat(&c, &core.repo_stat(c.size_only)?)),
            RepoSub::ImportKubo(c) => {
                let report = core.repo_import_kubo(std::path::Path::new(&c.path))?;
                print(&crate::core_api::repo::kubo_import_summary(&report))
            }
            RepoSub::Verify(_) => {
                let mut out = std::io::stdout().lock();
                let summary = core.repo_verify(&mut |msg| {
                    Ok(writeln!(out, "{msg}").context("writing to stdout")?)
                })?;
                out.flush().context("writing to stdout")?;
                anyhow::ensure!(summary.corrupt == 0, "{}", summary.message());
                print(&format!("verified repo: {} blocks ok\n", summary.checked))
            }
        }
    }
}

/// Kubo: `ipfs repo version fs-repo@N`, `-q`: `fs-repo@N`; the format version this
/// build reads and writes.
fn render_version(ctx: &Context, c: &RepoVersionCmd) -> String {
    let v = crate::core_api::repo::REPO_FORMAT_VERSION;
    if super::json_out(ctx) {
        format!("{}\n", serde_json::json!({ "Version": v.to_string() }))
    } else if c.quiet {
        format!("acorn-repo@{v}\n")
    } else {
        format!("acorn repo version acorn-repo@{v}\n")
    }
}

/// `repo stat` output, offline and through the daemon.
fn render_stat(c: &RepoStatCmd, st: &RepoStat) -> String {
    let size = |n: u64| {
        if c.human {
            human_bytes(n)
        } else {
            n.to_string()
        }
    };
    let mut out = String::new();
    if !c.size_only {
        out.push_str(&format!("NumObjects: {}\n", st.num_objects));
    }
    out.push_str(&format!("RepoSize:   {}\n", size(st.repo_size)));
    out.push_str(&format!("StorageMax: {}\n", size(st.storage_max)));
    if !c.size_only {
        out.push_str(&format!("RepoPath:   {}\n", st.repo_path));
        out.push_str(&format!("Version:    {}\n", st.version));
    }
    out
}

/// `1.5 MiB`-style sizes for `repo stat -H`.
pub(crate) fn human_bytes(n: u64) -> String {
    binary_units(n, 1)
}

/// `n` bytes in binary units with `decimals` decimals (one copy, in storage).
pub(crate) use crate::core_api::bytes::binary_units;
