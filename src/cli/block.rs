//! `acorn block put|get|stat|rm`: raw blocks, as Kubo's `ipfs block`.
//!
//! Wired to `acorn-storage` by the lead; until then "not implemented yet".

use argh::{ArgsInfo, FromArgs};

use super::{not_implemented, parse_bool, Context};

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
    /// pin the block (default: false)
    #[argh(option, arg_name = "bool", from_str_fn(parse_bool))]
    pub pin: Option<bool>,
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
    pub fn run(self, _ctx: &Context) -> anyhow::Result<()> {
        match self.command {
            BlockSub::Put(_) => not_implemented("block put"),
            BlockSub::Get(_) => not_implemented("block get"),
            BlockSub::Stat(_) => not_implemented("block stat"),
            BlockSub::Rm(_) => not_implemented("block rm"),
        }
    }
}
