//! `acorn filestore ls|verify|dups|rm`: blocks added with `add --nocopy`, as Kubo's
//! `ipfs filestore` (plus `rm`, which Kubo lacks).
//!
//! Output is Kubo's: `ls` prints `<cid> <size> <path> <offset>` (CID padded to 50
//! columns, size to 6); `verify` prefixes the status padded to 7 columns (`ok`,
//! `changed`, `no-file`, `error`, `missing`). `verify` exits non-zero when any entry
//! is not `ok`, so scripts can use it.

use argh::{ArgsInfo, FromArgs};

use std::io::Write as _;

use super::Context;
use crate::core::{format_long, parse_cid_arg, Node};
use acorn_storage::filestore::Status;

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

/// One `filestore/ls|verify` line from the daemon as the core's entry parts:
/// (cid, status, reason, long form).
fn api_entry(v: &serde_json::Value) -> anyhow::Result<(String, Status, String, String)> {
    let cid = v["Key"]["/"].as_str().unwrap_or_default().to_string();
    let code = v["Status"].as_u64().unwrap_or(u64::MAX);
    let status = crate::api::filestore::status_from_code(code)
        .ok_or_else(|| anyhow::anyhow!("unknown filestore status {code} from the daemon"))?;
    let long = format_long(
        &cid,
        Some((
            v["Size"].as_u64().unwrap_or(0),
            v["FilePath"].as_str().unwrap_or_default(),
            v["Offset"].as_u64().unwrap_or(0),
        )),
    );
    let reason = v["ErrorMsg"].as_str().unwrap_or_default().to_string();
    Ok((cid, status, reason, long))
}

impl FilestoreCmd {
    /// `ls`, `verify`, `dups` through the daemon, with the offline output.
    fn run_api(self, c: &super::client::Client) -> anyhow::Result<()> {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let list = |cids: &[String], file_order: bool| -> anyhow::Result<Vec<(&str, String)>> {
            let mut q = Vec::with_capacity(cids.len() + 1);
            for cid in cids {
                parse_cid_arg(cid)?;
                q.push(("arg", cid.clone()));
            }
            q.push(("file-order", file_order.to_string()));
            Ok(q)
        };
        match self.command {
            FilestoreSub::Ls(l) => {
                let mut missing = 0;
                c.post("filestore/ls", &list(&l.cids, l.file_order)?, None)?
                    .ndjson(&mut |v| {
                        let (cid, status, _, long) = api_entry(&v)?;
                        if status == Status::Missing {
                            missing += 1;
                            eprintln!("Error: {cid}: not in the filestore");
                        } else {
                            writeln!(out, "{long}")?;
                        }
                        Ok(())
                    })?;
                out.flush()?;
                if missing > 0 {
                    anyhow::bail!("{missing} of the blocks asked for are not in the filestore");
                }
            }
            FilestoreSub::Verify(l) => {
                let mut bad = 0;
                c.post("filestore/verify", &list(&l.cids, l.file_order)?, None)?
                    .ndjson(&mut |v| {
                        let (cid, status, reason, long) = api_entry(&v)?;
                        if status != Status::Ok {
                            bad += 1;
                            eprintln!("{cid}: {reason}");
                        }
                        writeln!(out, "{status:<7} {long}")?;
                        Ok(())
                    })?;
                out.flush()?;
                if bad > 0 {
                    anyhow::bail!("{bad} filestore entries are not ok");
                }
            }
            FilestoreSub::Dups(_) => {
                c.post("filestore/dups", &[], None)?.ndjson(&mut |v| {
                    match v["Err"].as_str() {
                        Some(e) if !e.is_empty() => anyhow::bail!("{e}"),
                        _ => writeln!(out, "{}", v["Ref"].as_str().unwrap_or_default())?,
                    }
                    Ok(())
                })?;
                out.flush()?;
            }
            FilestoreSub::Rm(_) => {
                anyhow::bail!(
                    "filestore rm does not run through the daemon yet: stop the daemon first"
                )
            }
        }
        Ok(())
    }

    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        if let Some(c) = super::daemon_client(ctx)? {
            return self.run_api(&c);
        }
        let node = Node::open(&ctx.repo_root()?)?;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let parse = |v: &[String]| -> anyhow::Result<Vec<_>> {
            v.iter().map(|c| parse_cid_arg(c)).collect()
        };
        match self.command {
            FilestoreSub::Ls(c) => {
                let cids = parse(&c.cids)?;
                let mut missing = 0;
                node.filestore_entries(&cids, false, c.file_order, &mut |e| {
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
                node.filestore_entries(&cids, true, c.file_order, &mut |e| {
                    if e.status != Status::Ok {
                        bad += 1;
                        eprintln!("{}: {}", e.cid, e.reason);
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
                node.filestore_dups(&mut |c| {
                    writeln!(out, "{c}")?;
                    Ok(())
                })?;
                out.flush()?;
            }
            FilestoreSub::Rm(c) => {
                if c.cids.is_empty() {
                    anyhow::bail!("filestore rm needs at least one CID");
                }
                for cid in parse(&c.cids)? {
                    node.filestore_rm(&cid)?;
                    writeln!(out, "removed {cid}")?;
                }
                out.flush()?;
            }
        }
        Ok(())
    }
}
