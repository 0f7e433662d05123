//! `acorn filestore ls|verify|dups|rm`: blocks added with `add --nocopy`, as Kubo's
//! `ipfs filestore` (plus `rm`, which Kubo lacks).
//!
//! Output is Kubo's: `ls` prints `<cid> <size> <path> <offset>` (CID padded to 50
//! columns, size to 6); `verify` prefixes the status padded to 7 columns (`ok`,
//! `changed`, `no-file`, `error`, `missing`). `verify` exits non-zero when any entry
//! is not `ok`, so scripts can use it.
//!
//! Each command calls the core API's [`crate::core_api::Filestore`] (the repo
//! offline, or the daemon's RPC API while one holds the repo) and formats its
//! typed result once, so the output is the same either way. `rm` runs offline
//! only: through the daemon it fails with "stop the daemon first". CID arguments
//! are checked here first, in both cases.

use argh::{ArgsInfo, FromArgs};

use std::io::Write as _;

use super::Context;
use crate::core_api::filestore::Status;
use crate::core_api::parse_cid_arg;

/// Work with blocks that reference files in place (`add --nocopy`).
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "filestore")]
pub struct FilestoreCmd {
    #[argh(subcommand)]
    pub command: FilestoreSub,
}

/// `acorn filestore` subcommands.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand)]
pub enum FilestoreSub {
    Ls(LsCmd),
    Verify(VerifyCmd),
    Dups(DupsCmd),
    Rm(RmCmd),
}

/// List filestore entries: <cid> <size> <path> <offset>.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "ls")]
pub struct LsCmd {
    /// sort by file path and offset
    #[argh(switch)]
    pub file_order: bool,
    /// only these blocks (default: all)
    #[argh(positional)]
    pub cids: Vec<String>,
}

/// Check every filestore entry against its file: ok, changed, no-file, error, missing.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "verify")]
pub struct VerifyCmd {
    /// sort by file path and offset
    #[argh(switch)]
    pub file_order: bool,
    /// only these blocks (default: all)
    #[argh(positional)]
    pub cids: Vec<String>,
}

/// List blocks stored both as a filestore reference and as a copy.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "dups")]
pub struct DupsCmd {}

/// Drop filestore references (the files themselves are never touched).
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "rm")]
pub struct RmCmd {
    /// blocks whose references to drop
    #[argh(positional)]
    pub cids: Vec<String>,
}

impl FilestoreCmd {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let parse = |v: &[String]| -> anyhow::Result<Vec<_>> {
            v.iter().map(|c| parse_cid_arg(c)).collect()
        };
        let core = super::core(ctx)?;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        match self.command {
            FilestoreSub::Ls(c) => {
                let cids = parse(&c.cids)?;
                let mut missing = 0;
                core.filestore_list(&cids, false, c.file_order, &mut |e| {
                    if e.status == Status::Missing {
                        missing += 1;
                        eprintln!("Error: {}: not in the filestore", e.cid);
                    } else {
                        writeln!(out, "{}", e.format_long())?;
                    }
                    Ok(())
                })?;
                out.flush()?;
                if missing > 0 {
                    anyhow::bail!("{missing} of the blocks asked for are not in the filestore");
                }
            }
            FilestoreSub::Verify(c) => {
                let cids = parse(&c.cids)?;
                let mut bad = 0;
                core.filestore_list(&cids, true, c.file_order, &mut |e| {
                    if e.status != Status::Ok {
                        bad += 1;
                        eprintln!("{}: {}", e.cid, e.error_msg);
                    }
                    writeln!(out, "{:<7} {}", e.status, e.format_long())?;
                    Ok(())
                })?;
                out.flush()?;
                if bad > 0 {
                    anyhow::bail!("{bad} filestore entries are not ok");
                }
            }
            FilestoreSub::Dups(_) => {
                core.filestore_dups(&mut |c| {
                    writeln!(out, "{c}")?;
                    Ok(())
                })?;
                out.flush()?;
            }
            FilestoreSub::Rm(c) => {
                let cids = parse(&c.cids)?;
                core.filestore_rm(&cids, &mut |cid| {
                    writeln!(out, "removed {cid}")?;
                    Ok(())
                })?;
                out.flush()?;
            }
        }
        Ok(())
    }
}
