//! `acorn dag put|get|export|import`: IPLD DAGs and CAR files, as Kubo's `ipfs dag`.
//!
//! Wired to `acorn-storage` by the lead; until then "not implemented yet".

use argh::{ArgsInfo, FromArgs};

use std::io::Write as _;

use acorn_storage::cids;

use super::{parse_bool, print, read_input_limited, Context};
use crate::core::{Node, MAX_DAG_INPUT_BYTES};

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
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let node = Node::open(&ctx.repo_root()?)?;
        match self.command {
            DagSub::Put(c) => {
                let input = cids::codec_from_name(c.input_codec.as_deref().unwrap_or("dag-json"))?;
                let store = cids::codec_from_name(c.store_codec.as_deref().unwrap_or("dag-cbor"))?;
                match c.hash.as_deref() {
                    None | Some("sha2-256") => {}
                    Some(other) => anyhow::bail!("unsupported hash {other:?} (only sha2-256)"),
                }
                let inputs: Vec<Option<&str>> = if c.paths.is_empty() {
                    vec![None]
                } else {
                    c.paths.iter().map(|p| Some(p.as_str())).collect()
                };
                for i in inputs {
                    let data = read_input_limited(i, MAX_DAG_INPUT_BYTES)?;
                    let cid = node.dag_put(&data, input, store, c.pin.unwrap_or(false))?;
                    print(&format!("{cid}\n"))?;
                }
                Ok(())
            }
            DagSub::Get(c) => {
                let codec = cids::codec_from_name(c.output_codec.as_deref().unwrap_or("dag-json"))?;
                let value = node.dag_get(&c.path)?;
                let bytes = acorn_storage::codec::encode(codec, &value)?;
                let mut out = std::io::stdout().lock();
                out.write_all(&bytes)?;
                out.flush()?;
                Ok(())
            }
            DagSub::Export(c) => {
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                node.dag_export(&c.cid, &mut out)?;
                out.flush()?;
                Ok(())
            }
            DagSub::Import(c) => {
                let paths: Vec<Option<&std::path::Path>> = if c.paths.is_empty() {
                    vec![None]
                } else {
                    c.paths
                        .iter()
                        .map(|p| Some(std::path::Path::new(p.as_str())))
                        .collect()
                };
                let done = node.dag_import(&paths, c.pin_roots.unwrap_or(true))?;
                let mut out = String::new();
                for (r, failed) in &done.pinned {
                    match failed {
                        None => out.push_str(&format!("Pinned root\t{r}\tsuccess\n")),
                        Some(e) => {
                            print(&out)?;
                            anyhow::bail!("pinning root \"{r}\" FAILED: {e}")
                        }
                    }
                }
                if c.stats {
                    out.push_str(&format!(
                        "Imported {} blocks ({} bytes)\n",
                        done.summary.blocks, done.summary.bytes
                    ));
                }
                print(&out)
            }
        }
    }
}
