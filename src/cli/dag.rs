//! `acorn dag put|get|export|import|stat`: IPLD DAGs and CAR files, as Kubo's
//! `ipfs dag`. Offline against the repo, or through the daemon's RPC API while one
//! holds the repo, with the same output.

use argh::{ArgsInfo, FromArgs};

use std::io::Write as _;

use acorn_storage::cids;

use super::client::{Client, MultipartBody, RequestBody};
use super::{parse_bool, print, read_input_limited, Context};
use crate::core::{DagStat, DagStatSummary, Node, MAX_DAG_INPUT_BYTES};

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

/// Print the size and block count of DAGs.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "stat", example = "acorn dag stat QmHash")]
pub struct DagStatCmd {
    /// print progress while walking (accepted; Acorn prints none)
    #[argh(option, short = 'p', arg_name = "bool", from_str_fn(parse_bool))]
    pub progress: Option<bool>,
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

/// A `dag/stat` answer (Kubo's JSON, zero fields left out) as a summary.
fn parse_dag_stat(v: &serde_json::Value) -> anyhow::Result<DagStatSummary> {
    let n = |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap_or(0);
    let total_size = n(v, "TotalSize");
    let mut dags = Vec::new();
    for d in v["DagStats"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        dags.push(DagStat {
            cid: cids::parse(d["Cid"].as_str().unwrap_or_default())?,
            size: n(d, "Size"),
            num_blocks: n(d, "NumBlocks"),
        });
    }
    Ok(DagStatSummary {
        unique_blocks: n(v, "UniqueBlocks"),
        total_size,
        redundant_size: total_size + n(v, "SharedSize"),
        dags,
    })
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

impl DagCmd {
    /// The subcommands through the daemon, with the offline output.
    fn run_api(self, c: &Client) -> anyhow::Result<()> {
        let upload = |paths: &[String]| {
            let body = MultipartBody::for_files(paths);
            Some(RequestBody {
                content_type: body.content_type(),
                reader: Box::new(body),
            })
        };
        match self.command {
            DagSub::Put(p) => {
                let mut q: Vec<(&str, String)> = vec![
                    ("pin", p.pin.unwrap_or(false).to_string()),
                    // Offline `dag put` has no 1 MiB soft limit: keep the same.
                    ("allow-big-block", "true".into()),
                ];
                for (k, v) in [
                    ("input-codec", p.input_codec),
                    ("store-codec", p.store_codec),
                    ("hash", p.hash),
                ] {
                    if let Some(v) = v {
                        q.push((k, v));
                    }
                }
                let resp = c.post("dag/put", &q, upload(&p.paths))?;
                let mut out = std::io::stdout().lock();
                resp.ndjson(&mut |v| {
                    Ok(writeln!(
                        out,
                        "{}",
                        v["Cid"]["/"].as_str().unwrap_or_default()
                    )?)
                })?;
                Ok(out.flush()?)
            }
            DagSub::Get(g) => {
                let mut q = vec![("arg", g.path)];
                if let Some(codec) = g.output_codec {
                    q.push(("output-codec", codec));
                }
                let mut resp = c.post("dag/get", &q, None)?;
                let mut out = std::io::stdout().lock();
                std::io::copy(&mut resp, &mut out)?;
                out.flush()?;
                resp.finish()
            }
            DagSub::Export(e) => {
                let mut resp = c.post("dag/export", &[("arg", e.cid)], None)?;
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                std::io::copy(&mut resp, &mut out)?;
                out.flush()?;
                resp.finish()
            }
            DagSub::Import(i) => {
                let q = vec![
                    ("pin-roots", i.pin_roots.unwrap_or(true).to_string()),
                    ("stats", i.stats.to_string()),
                ];
                let resp = c.post("dag/import", &q, upload(&i.paths))?;
                let (mut pinned, mut stats) = (Vec::new(), None);
                resp.ndjson(&mut |v| {
                    if let Some(r) = v.get("Root") {
                        let msg = r["PinErrorMsg"].as_str().unwrap_or_default();
                        pinned.push((
                            r["Cid"]["/"].as_str().unwrap_or_default().to_string(),
                            (!msg.is_empty()).then(|| msg.to_string()),
                        ));
                    } else if let Some(s) = v.get("Stats") {
                        stats = Some((
                            s["BlockCount"].as_u64().unwrap_or(0),
                            s["BlockBytesCount"].as_u64().unwrap_or(0),
                        ));
                    }
                    Ok(())
                })?;
                print_import(&pinned, stats)
            }
            DagSub::Stat(s) => {
                anyhow::ensure!(!s.roots.is_empty(), "argument \"root\" is required");
                let mut q: Vec<(&str, String)> = s.roots.into_iter().map(|r| ("arg", r)).collect();
                q.push(("progress", "false".into()));
                let v = c.json("dag/stat", &q)?;
                print(&render_dag_stat(&parse_dag_stat(&v)?))
            }
        }
    }

    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        if let Some(c) = super::daemon_client(ctx)? {
            return self.run_api(&c);
        }
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
                let pinned: Vec<_> = done
                    .pinned
                    .into_iter()
                    .map(|(r, e)| (r.to_string(), e))
                    .collect();
                let stats = c.stats.then_some((done.summary.blocks, done.summary.bytes));
                print_import(&pinned, stats)
            }
            DagSub::Stat(s) => {
                anyhow::ensure!(!s.roots.is_empty(), "argument \"root\" is required");
                let roots = s
                    .roots
                    .iter()
                    .map(|r| node.resolve_arg(r))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let sum = node.dag_stat(&roots, &mut |_| Ok(()))?;
                print(&render_dag_stat(&sum))
            }
        }
    }
}
