//! `acorn dag put|get|export|import`: IPLD DAGs and CAR files, as Kubo's `ipfs dag`.
//!
//! Wired to `acorn-storage` by the lead; until then "not implemented yet".

use argh::{ArgsInfo, FromArgs};

use super::{not_implemented, parse_bool, Context};

/// Work with IPLD DAGs.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "dag")]
pub struct DagCmd {
    #[argh(subcommand)]
    pub command: DagSub,
}

/// `acorn dag` subcommands.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand)]
pub enum DagSub {
    Put(DagPutCmd),
    Get(DagGetCmd),
    Export(DagExportCmd),
    Import(DagImportCmd),
}

/// Store input as an IPLD node and print its CID.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(
    subcommand,
    name = "put",
    example = "echo '{{\"a\":1}}' | acorn dag put --store-codec dag-cbor"
)]
pub struct DagPutCmd {
    /// codec of the input (default: dag-json)
    #[argh(option)]
    pub input_codec: Option<String>,
    /// codec to store with (default: dag-cbor)
    #[argh(option)]
    pub store_codec: Option<String>,
    /// pin the node (default: false)
    #[argh(option, arg_name = "bool", from_str_fn(parse_bool))]
    pub pin: Option<bool>,
    /// hash function (default: sha2-256)
    #[argh(option)]
    pub hash: Option<String>,
    /// files to read (stdin when none)
    #[argh(positional)]
    pub paths: Vec<String>,
}

/// Print an IPLD node.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "get")]
pub struct DagGetCmd {
    /// codec to print with (default: dag-json)
    #[argh(option)]
    pub output_codec: Option<String>,
    /// CID or path (<cid>[/path])
    #[argh(positional)]
    pub path: String,
}

/// Write a DAG as a CARv1 stream to stdout.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(
    subcommand,
    name = "export",
    example = "acorn dag export QmHash > dag.car"
)]
pub struct DagExportCmd {
    /// the root CID
    #[argh(positional)]
    pub cid: String,
}

/// Import CAR files and pin their roots.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "import")]
pub struct DagImportCmd {
    /// pin the roots of the CAR files (default: true)
    #[argh(option, arg_name = "bool", from_str_fn(parse_bool))]
    pub pin_roots: Option<bool>,
    /// print block and byte counts
    #[argh(switch)]
    pub stats: bool,
    /// CAR files (stdin when none)
    #[argh(positional)]
    pub paths: Vec<String>,
}

impl DagCmd {
    pub fn run(self, _ctx: &Context) -> anyhow::Result<()> {
        match self.command {
            DagSub::Put(_) => not_implemented("dag put"),
            DagSub::Get(_) => not_implemented("dag get"),
            DagSub::Export(_) => not_implemented("dag export"),
            DagSub::Import(_) => not_implemented("dag import"),
        }
    }
}
