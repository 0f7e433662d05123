//! `acorn pin add|rm|ls|update|verify`, as Kubo's `ipfs pin`.
//!
//! Each command calls the core API's [`crate::core_api::Pins`] (the repo offline,
//! or the daemon's RPC API while one holds the repo) and formats its typed result
//! once, so the output is the same either way.

use std::str::FromStr;

use argh::{ArgsInfo, FromArgs};

use std::io::Write as _;

use anyhow::Context as _;

use super::{flag, print, Context, Flag};
use crate::core_api::pins::{PinAddEvent, PinAddOptions, PinFilter, PinVerifyOptions};

/// Pin objects so that GC keeps them.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "pin")]
pub struct PinCmd {
    #[argh(subcommand)]
    pub command: PinSub,
}

/// `acorn pin` subcommands.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand)]
pub enum PinSub {
    Add(PinAddCmd),
    Rm(PinRmCmd),
    Ls(PinLsCmd),
    Update(PinUpdateCmd),
    Verify(PinVerifyCmd),
}

/// Pin objects.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(
    subcommand,
    name = "add",
    example = "acorn pin add --recursive=false QmHash"
)]
pub struct PinAddCmd {
    /// pin the whole DAG (default: true); false pins the block only (direct)
    #[argh(option, short = 'r', arg_name = "bool")]
    pub recursive: Option<Flag>,
    /// show how many blocks were fetched/checked, on stderr
    #[argh(switch)]
    pub progress: bool,
    /// CIDs or paths
    #[argh(positional)]
    pub paths: Vec<String>,
}

/// Remove pins.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "rm")]
pub struct PinRmCmd {
    /// remove recursive pins (default: true)
    #[argh(option, short = 'r', arg_name = "bool")]
    pub recursive: Option<Flag>,
    /// CIDs or paths
    #[argh(positional)]
    pub paths: Vec<String>,
}

/// Which pins `pin ls` lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PinType {
    #[default]
    All,
    Direct,
    Recursive,
    Indirect,
}

/// A `--type` that is not one of [`PinType`]'s.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not one of all, direct, recursive, indirect")]
pub struct BadPinType(String);

impl FromStr for PinType {
    type Err = BadPinType;
    fn from_str(s: &str) -> Result<Self, BadPinType> {
        match s {
            "all" => Ok(PinType::All),
            "direct" => Ok(PinType::Direct),
            "recursive" => Ok(PinType::Recursive),
            "indirect" => Ok(PinType::Indirect),
            _ => Err(BadPinType(s.to_string())),
        }
    }
}

/// List pinned objects.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "ls")]
pub struct PinLsCmd {
    /// all, direct, recursive or indirect (default: all)
    #[argh(option, short = 't', default = "PinType::All")]
    pub r#type: PinType,
    /// print CIDs only
    #[argh(switch, short = 'q')]
    pub quiet: bool,
    /// only these CIDs or paths
    #[argh(positional)]
    pub paths: Vec<String>,
}

/// Move a recursive pin from one root to another, sharing common blocks.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "update")]
pub struct PinUpdateCmd {
    /// remove the old pin (default: true)
    #[argh(option, arg_name = "bool")]
    pub unpin: Option<Flag>,
    /// the pinned CID or path
    #[argh(positional)]
    pub from: String,
    /// the CID or path to pin instead
    #[argh(positional)]
    pub to: String,
}

/// Check that every recursively pinned DAG is complete and intact.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "verify")]
pub struct PinVerifyCmd {
    /// also print pins that are fine
    #[argh(switch)]
    pub verbose: bool,
    /// print only the CIDs of broken pins
    #[argh(switch, short = 'q')]
    pub quiet: bool,
}

impl PinCmd {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let core = super::core(ctx)?;
        match self.command {
            PinSub::Add(c) => {
                anyhow::ensure!(!c.paths.is_empty(), "argument \"ipfs-path\" is required");
                let recursive = flag(c.recursive).unwrap_or(true);
                let how = if recursive { "recursively" } else { "directly" };
                let opts = PinAddOptions {
                    recursive,
                    progress: c.progress,
                };
                let mut shown = false;
                let done = core.pin_add(&c.paths, opts, &mut |e| match e {
                    PinAddEvent::Pinned(cid) => Ok(print(&format!("pinned {cid} {how}\n"))?),
                    PinAddEvent::Progress(n) => {
                        // Kubo's line, rewritten in place.
                        shown = true;
                        eprint!("Fetched/Processed {n} nodes\r");
                        Ok(())
                    }
                });
                if shown {
                    eprintln!();
                }
                Ok(done?)
            }
            PinSub::Rm(c) => {
                anyhow::ensure!(!c.paths.is_empty(), "argument \"ipfs-path\" is required");
                Ok(
                    core.pin_rm(&c.paths, flag(c.recursive).unwrap_or(true), &mut |cid| {
                        Ok(print(&format!("unpinned {cid}\n"))?)
                    })?,
                )
            }
            PinSub::Ls(c) => {
                let filter = match c.r#type {
                    PinType::All => PinFilter::All,
                    PinType::Direct => PinFilter::Direct,
                    PinType::Recursive => PinFilter::Recursive,
                    PinType::Indirect => PinFilter::Indirect,
                };
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                core.pin_ls(filter, &c.paths, &mut |p| {
                    Ok(if c.quiet {
                        writeln!(out, "{}", p.cid)
                    } else {
                        writeln!(out, "{} {}", p.cid, p.pin_type.name())
                    }
                    .context("writing to stdout")?)
                })?;
                out.flush().context("writing to stdout")
            }
            PinSub::Update(c) => {
                let (from, to) = core.pin_update(&c.from, &c.to, flag(c.unpin).unwrap_or(true))?;
                print(&format!("updated {from} to {to}\n"))
            }
            PinSub::Verify(c) => {
                let opts = PinVerifyOptions {
                    verbose: c.verbose && !c.quiet,
                    quiet: c.quiet,
                };
                let mut broken = 0usize;
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                core.pin_verify(opts, &mut |st| {
                    let text = if st.ok {
                        format!("{} ok\n", st.cid)
                    } else if c.quiet {
                        broken += 1;
                        format!("{}\n", st.cid)
                    } else {
                        broken += 1;
                        let mut t = format!("{} broken\n", st.cid);
                        for b in &st.bad_nodes {
                            t.push_str(&format!("  {}: {}\n", b.cid, b.err));
                        }
                        t
                    };
                    Ok(out
                        .write_all(text.as_bytes())
                        .context("writing to stdout")?)
                })?;
                out.flush().context("writing to stdout")?;
                anyhow::ensure!(broken == 0, "{broken} pin(s) broken");
                Ok(())
            }
        }
    }
}
