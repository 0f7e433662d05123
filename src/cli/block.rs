//! `acorn block put|get|stat|rm`: raw blocks, as Kubo's `ipfs block`.
//!
//! Each command parses its arguments, calls the [`Blocks`](crate::core_api::Blocks)
//! core API (the repo offline, or the daemon's RPC API while one holds the repo)
//! and formats its typed answer once, so the output is the same either way.
//!
//! **Departures.** `block put` reads each input (at most `MAX_BLOCK_BYTES`) before
//! sending it, and has no `--allow-big-block`: blocks up to the 2 MiB hard limit
//! are stored without Kubo's 1 MiB soft limit, offline as through the daemon.

use argh::{ArgsInfo, FromArgs};

use std::io::Write as _;

use super::{flag, print, read_input_limited, Context, Flag};
use crate::core_api::blocks::{mhlen_from_arg, mhtype_from_name, BlockPutOptions};
use crate::core_api::{cids, parse_cid_arg};

/// Work with raw blocks.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "block")]
pub struct BlockCmd {
    #[argh(subcommand)]
    pub command: BlockSub,
}

/// `acorn block` subcommands.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand)]
pub enum BlockSub {
    Put(BlockPutCmd),
    Get(BlockGetCmd),
    Stat(BlockStatCmd),
    Rm(BlockRmCmd),
}

/// Store input as a block and print its CID.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(
    subcommand,
    name = "put",
    example = "acorn block put --cid-codec dag-cbor obj.cbor"
)]
pub struct BlockPutCmd {
    /// codec of the CID (default: raw)
    #[argh(option)]
    pub cid_codec: Option<String>,
    /// multihash type (default: sha2-256)
    #[argh(option)]
    pub mhtype: Option<String>,
    /// multihash length in bytes (default: -1, the hash's own)
    #[argh(option, arg_name = "int")]
    pub mhlen: Option<String>,
    /// pin the block (default: false)
    #[argh(option, arg_name = "bool")]
    pub pin: Option<Flag>,
    /// files to store (stdin when none)
    #[argh(positional)]
    pub paths: Vec<String>,
}

/// Write a block's bytes to stdout.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "get")]
pub struct BlockGetCmd {
    /// the CID
    #[argh(positional)]
    pub cid: String,
}

/// Print a block's CID and size.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "stat")]
pub struct BlockStatCmd {
    /// the CID
    #[argh(positional)]
    pub cid: String,
}

/// Remove blocks from the repo.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "rm")]
pub struct BlockRmCmd {
    /// ignore blocks that do not exist
    #[argh(switch, short = 'f')]
    pub force: bool,
    /// print nothing on success
    #[argh(switch, short = 'q')]
    pub quiet: bool,
    /// the CIDs
    #[argh(positional)]
    pub cids: Vec<String>,
}

impl BlockCmd {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let core = super::core(ctx)?;
        match self.command {
            BlockSub::Put(c) => {
                let opts = BlockPutOptions {
                    codec: cids::codec_from_name(c.cid_codec.as_deref().unwrap_or("raw"))?,
                    mhtype: mhtype_from_name(c.mhtype.as_deref().unwrap_or("sha2-256"))?,
                    mhlen: mhlen_from_arg(c.mhlen.as_deref().unwrap_or("-1"))?,
                    pin: flag(c.pin).unwrap_or(false),
                    // No soft limit from the CLI (see the module doc).
                    allow_big_block: true,
                    ..BlockPutOptions::default()
                };
                let limit = crate::core_api::blocks::MAX_BLOCK_BYTES;
                let inputs: Vec<Option<&str>> = if c.paths.is_empty() {
                    vec![None]
                } else {
                    c.paths.iter().map(|p| Some(p.as_str())).collect()
                };
                for input in inputs {
                    let data = read_input_limited(input, limit)?;
                    let put = core.block_put(data, &opts)?;
                    print(&format!("{}\n", put.cid))?;
                }
                Ok(())
            }
            BlockSub::Get(c) => {
                let cid = parse_cid_arg(&c.cid)?;
                let mut out = std::io::stdout().lock();
                core.block_get(&cid, &mut out)?;
                out.flush()?;
                Ok(())
            }
            BlockSub::Stat(c) => {
                let cid = parse_cid_arg(&c.cid)?;
                let st = core.block_stat(&cid)?;
                print(&format!("Key: {}\nSize: {}\n", st.cid, st.size))
            }
            BlockSub::Rm(c) => {
                anyhow::ensure!(!c.cids.is_empty(), "argument \"cid\" is required");
                // Errors by argument position: a CID that does not parse is one
                // of them, and the others are still removed.
                let mut errors: Vec<(usize, anyhow::Error)> = Vec::new();
                let (mut cids, mut at) = (Vec::new(), Vec::new());
                for (i, s) in c.cids.iter().enumerate() {
                    match parse_cid_arg(s) {
                        Ok(cid) => {
                            cids.push(cid);
                            at.push(i);
                        }
                        Err(e) => errors.push((i, e)),
                    }
                }
                if !cids.is_empty() {
                    // Answers come in order, skipping blocks absent under --force.
                    let mut next = 0;
                    core.block_rm(&cids, c.force, &mut |r| {
                        while next < cids.len() && cids[next] != r.cid {
                            next += 1;
                        }
                        let i = at.get(next).copied().unwrap_or(usize::MAX);
                        next += 1;
                        match r.error {
                            Some(e) => {
                                errors.push((i, anyhow::anyhow!("cannot remove {}: {e}", r.cid)))
                            }
                            None if !c.quiet => print(&format!("removed {}\n", r.cid))?,
                            None => {}
                        }
                        Ok(())
                    })?;
                }
                errors.sort_by_key(|(i, _)| *i);
                rm_outcome(errors.into_iter().map(|(_, e)| e).collect(), c.cids.len())
            }
        }
    }
}

/// The end of `block rm`: one failure is the error itself; several are listed on
/// stderr, then summed up.
fn rm_outcome(mut errors: Vec<anyhow::Error>, total: usize) -> anyhow::Result<()> {
    if errors.len() == 1 && total == 1 {
        return Err(errors.remove(0));
    }
    for e in &errors {
        eprintln!("{e:#}");
    }
    let n = errors.len();
    anyhow::ensure!(n == 0, "{n} of {total} blocks not removed");
    Ok(())
}
