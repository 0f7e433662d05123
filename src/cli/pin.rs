//! `acorn pin add|rm|ls|update|verify`, as Kubo's `ipfs pin`.
//!
//! Wired to `acorn-storage` by the lead; until then "not implemented yet".

use std::str::FromStr;

use argh::{ArgsInfo, FromArgs};

use super::{not_implemented, parse_bool, Context};

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
    #[argh(option, short = 'r', arg_name = "bool", from_str_fn(parse_bool))]
    pub recursive: Option<bool>,
    /// CIDs or paths
    #[argh(positional)]
    pub paths: Vec<String>,
}

/// Remove pins.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "rm")]
pub struct PinRmCmd {
    /// remove recursive pins (default: true)
    #[argh(option, short = 'r', arg_name = "bool", from_str_fn(parse_bool))]
    pub recursive: Option<bool>,
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

impl FromStr for PinType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "all" => Ok(PinType::All),
            "direct" => Ok(PinType::Direct),
            "recursive" => Ok(PinType::Recursive),
            "indirect" => Ok(PinType::Indirect),
            _ => Err(format!(
                "{s:?} is not one of all, direct, recursive, indirect"
            )),
        }
    }
}

/// List pinned objects.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "ls")]
pub struct PinLsCmd {
    /// all, direct, recursive or indirect (default: all)
    #[argh(
        option,
        short = 't',
        default = "PinType::All",
        from_str_fn(parse_pin_type)
    )]
    pub r#type: PinType,
    /// print CIDs only
    #[argh(switch, short = 'q')]
    pub quiet: bool,
    /// only these CIDs or paths
    #[argh(positional)]
    pub paths: Vec<String>,
}

fn parse_pin_type(s: &str) -> Result<PinType, String> {
    s.parse()
}

/// Move a recursive pin from one root to another, sharing common blocks.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "update")]
pub struct PinUpdateCmd {
    /// remove the old pin (default: true)
    #[argh(option, arg_name = "bool", from_str_fn(parse_bool))]
    pub unpin: Option<bool>,
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
    pub fn run(self, _ctx: &Context) -> anyhow::Result<()> {
        match self.command {
            PinSub::Add(_) => not_implemented("pin add"),
            PinSub::Rm(_) => not_implemented("pin rm"),
            PinSub::Ls(_) => not_implemented("pin ls"),
            PinSub::Update(_) => not_implemented("pin update"),
            PinSub::Verify(_) => not_implemented("pin verify"),
        }
    }
}
