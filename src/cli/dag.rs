//! `acorn dag put|get|export|import|stat`: IPLD DAGs and CAR files, as Kubo's
//! `ipfs dag`.
//!
//! Each command parses its arguments, calls the [`Dag`](crate::core_api::Dag)
//! core API (the repo offline, or the daemon's RPC API while one holds the repo)
//! and formats its typed answer once, so the output is the same either way.
//!
//! **Departures.** `dag put` has no `--allow-big-block`: blocks up to the 2 MiB
//! hard limit are stored without Kubo's 1 MiB soft limit. `dag stat` prints no
//! progress. `dag import` reads CAR files where they are offline; stdin, and every
//! CAR sent to the daemon, is spooled in the repo first.

use argh::{ArgsInfo, FromArgs};

use std::io::Write as _;

use super::{flag, print, read_input_limited, Context, Flag};
use crate::core_api::cids;
use crate::core_api::dag::{
    hash_from_name, Car, CarSource, DagPutOptions, DagStatSummary, MAX_DAG_INPUT_BYTES,
};

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
    Stat(DagStatCmd),
    Resolve(DagResolveCmd),
}

/// Resolve an IPLD path: the CID of the last block it reaches, then the rest of
/// the path inside that block, if any (`<cid>[/<rest>]`).
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(
    subcommand,
    name = "resolve",
    example = "acorn dag resolve /ipfs/QmHash/dir/file"
)]
pub struct DagResolveCmd {
    /// the path (/ipfs/<cid>[/path] or <cid>[/path])
    #[argh(positional)]
    pub path: String,
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
    #[argh(option, arg_name = "bool")]
    pub pin: Option<Flag>,
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
    #[argh(option, arg_name = "bool")]
    pub pin_roots: Option<Flag>,
    /// print block and byte counts
    #[argh(switch)]
    pub stats: bool,
    /// CAR files (stdin when none)
    #[argh(positional)]
    pub paths: Vec<String>,
}

/// Print the size and block count of DAGs.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "stat", example = "acorn dag stat QmHash")]
pub struct DagStatCmd {
    /// print progress while walking (accepted; Acorn prints none)
    #[argh(option, short = 'p', arg_name = "bool")]
    pub progress: Option<Flag>,
    /// the DAG roots (CIDs or paths)
    #[argh(positional)]
    pub roots: Vec<String>,
}

/// Kubo's text form of `dag stat`: a tab-separated table, then the summary.
pub fn render_dag_stat(s: &DagStatSummary) -> String {
    let width = s.dags.first().map_or(3, |d| d.cid.to_string().len());
    let mut out = format!("\n{:<width$}\t{:<15}\tSize\n", "CID", "Blocks");
    for d in &s.dags {
        out.push_str(&format!(
            "{}\t{:<15}\t{}\n",
            d.cid,
            d.num_blocks.to_string(),
            d.size
        ));
    }
    out.push_str(&format!(
        "\nSummary\nTotal Size: {}\nUnique Blocks: {}\nShared Size: {}\nRatio: {:.6}\n\n\n",
        s.total_size,
        s.unique_blocks,
        s.shared_size(),
        s.ratio()
    ));
    out
}

/// Prints `dag import` results as Kubo's CLI does; a root that failed to pin is
/// the command's error.
fn print_import(
    pinned: &[(String, Option<String>)],
    stats: Option<(u64, u64)>,
) -> anyhow::Result<()> {
    let mut out = String::new();
    for (r, failed) in pinned {
        match failed {
            None => out.push_str(&format!("Pinned root\t{r}\tsuccess\n")),
            Some(e) => {
                print(&out)?;
                anyhow::bail!("pinning root \"{r}\" FAILED: {e}")
            }
        }
    }
    if let Some((blocks, bytes)) = stats {
        out.push_str(&format!("Imported {blocks} blocks ({bytes} bytes)\n"));
    }
    print(&out)
}

/// The CARs named on the command line (stdin when none), read where they are.
struct ArgCars<'a> {
    paths: &'a [String],
    next: usize,
    stdin: std::io::Stdin,
}

impl CarSource for ArgCars<'_> {
    fn next_car(&mut self) -> anyhow::Result<Option<Car<'_>>> {
        let i = self.next;
        self.next += 1;
        if self.paths.is_empty() {
            return Ok((i == 0).then(|| Car::Stream {
                name: "stdin".into(),
                reader: &mut self.stdin,
            }));
        }
        Ok(self
            .paths
            .get(i)
            .map(|p| Car::File(std::path::Path::new(p.as_str()))))
    }
}

impl DagCmd {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let core = super::core(ctx)?;
        match self.command {
            DagSub::Put(c) => {
                let opts = DagPutOptions {
                    input_codec: cids::codec_from_name(
                        c.input_codec.as_deref().unwrap_or("dag-json"),
                    )?,
                    store_codec: cids::codec_from_name(
                        c.store_codec.as_deref().unwrap_or("dag-cbor"),
                    )?,
                    hash: hash_from_name(c.hash.as_deref().unwrap_or("sha2-256"))?,
                    pin: flag(c.pin).unwrap_or(false),
                    // No soft limit from the CLI (see the module doc).
                    allow_big_block: true,
                };
                let inputs: Vec<Option<&str>> = if c.paths.is_empty() {
                    vec![None]
                } else {
                    c.paths.iter().map(|p| Some(p.as_str())).collect()
                };
                for i in inputs {
                    let data = read_input_limited(i, MAX_DAG_INPUT_BYTES)?;
                    let cid = core.dag_put(&data, &opts)?;
                    print(&format!("{cid}\n"))?;
                }
                Ok(())
            }
            DagSub::Get(c) => {
                let codec = cids::codec_from_name(c.output_codec.as_deref().unwrap_or("dag-json"))?;
                let mut out = std::io::stdout().lock();
                core.dag_get(&c.path, codec, &mut out)?;
                out.flush()?;
                Ok(())
            }
            DagSub::Export(c) => {
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                core.dag_export(&c.cid, &mut out)?;
                out.flush()?;
                Ok(())
            }
            DagSub::Import(c) => {
                let mut cars = ArgCars {
                    paths: &c.paths,
                    next: 0,
                    stdin: std::io::stdin(),
                };
                let done = core.dag_import(&mut cars, flag(c.pin_roots).unwrap_or(true))?;
                let pinned: Vec<_> = done
                    .roots
                    .into_iter()
                    .map(|r| (r.cid.to_string(), r.pin_error))
                    .collect();
                let stats = c
                    .stats
                    .then_some((done.block_count, done.block_bytes_count));
                print_import(&pinned, stats)
            }
            // Every path resolves to its end (as `resolve`), so Kubo's remainder
            // path is always empty.
            DagSub::Resolve(r) => {
                // Kubo prints `<cid>` or `<cid>/<rest of the path>`.
                let (cid, rem) = core.dag_resolve(&r.path)?;
                if rem.is_empty() {
                    print(&format!("{cid}\n"))
                } else {
                    print(&format!("{cid}/{rem}\n"))
                }
            }
            DagSub::Stat(s) => {
                anyhow::ensure!(!s.roots.is_empty(), "argument \"root\" is required");
                let sum = core.dag_stat(&s.roots, None)?;
                print(&render_dag_stat(&sum))
            }
        }
    }
}
