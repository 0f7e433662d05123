//! `acorn block put|get|stat|rm`: raw blocks, as Kubo's `ipfs block`.
//!
//! Offline against the repo, or through the daemon's RPC API while one holds the
//! repo, with the same output.

use argh::{ArgsInfo, FromArgs};

use std::io::Write as _;

use acorn_storage::cids;

use super::{parse_bool, print, read_input_limited, Context};
use crate::core::{parse_cid_arg, Node};

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
    /// `block put|get|stat` through the daemon, with the offline output.
    fn run_api(self, c: &super::client::Client) -> anyhow::Result<()> {
        match self.command {
            BlockSub::Put(p) => {
                let mut q: Vec<(&str, String)> = vec![("pin", p.pin.unwrap_or(false).to_string())];
                if let Some(codec) = p.cid_codec {
                    q.push(("cid-codec", codec));
                }
                if let Some(mh) = p.mhtype {
                    q.push(("mhtype", mh));
                }
                let body = super::client::MultipartBody::for_files(&p.paths);
                let resp = c.post(
                    "block/put",
                    &q,
                    Some(super::client::RequestBody {
                        content_type: body.content_type(),
                        reader: Box::new(body),
                    }),
                )?;
                resp.ndjson(&mut |v| print(&format!("{}\n", v["Key"].as_str().unwrap_or_default())))
            }
            BlockSub::Get(g) => {
                let mut resp = c.post("block/get", &[("arg", g.cid)], None)?;
                let mut out = std::io::stdout().lock();
                std::io::copy(&mut resp, &mut out)?;
                out.flush()?;
                resp.finish()
            }
            BlockSub::Stat(s) => {
                let v = c.json("block/stat", &[("arg", s.cid)])?;
                print(&format!(
                    "Key: {}\nSize: {}\n",
                    v["Key"].as_str().unwrap_or_default(),
                    v["Size"]
                ))
            }
            BlockSub::Rm(r) => {
                anyhow::ensure!(!r.cids.is_empty(), "argument \"cid\" is required");
                let mut q: Vec<(&str, String)> =
                    r.cids.iter().map(|c| ("arg", c.clone())).collect();
                q.push(("force", r.force.to_string()));
                q.push(("quiet", r.quiet.to_string()));
                let resp = c.post("block/rm", &q, None)?;
                let mut errors = Vec::new();
                resp.ndjson(&mut |v| {
                    let hash = v["Hash"].as_str().unwrap_or_default();
                    match v["Error"].as_str() {
                        Some(e) => errors.push(anyhow::anyhow!("cannot remove {hash}: {e}")),
                        None => print(&format!("removed {hash}\n"))?,
                    }
                    Ok(())
                })?;
                rm_outcome(errors, r.cids.len())
            }
        }
    }

    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        if let Some(c) = super::daemon_client(ctx)? {
            return self.run_api(&c);
        }
        let node = Node::open(&ctx.repo_root()?)?;
        match self.command {
            BlockSub::Put(c) => {
                let codec = cids::codec_from_name(c.cid_codec.as_deref().unwrap_or("raw"))?;
                match c.mhtype.as_deref() {
                    None | Some("sha2-256") => {}
                    Some(other) => {
                        anyhow::bail!("unsupported multihash type {other:?} (only sha2-256)")
                    }
                }
                let pin = c.pin.unwrap_or(false);
                let limit = acorn_storage::block::MAX_BLOCK_BYTES;
                let inputs: Vec<Option<&str>> = if c.paths.is_empty() {
                    vec![None]
                } else {
                    c.paths.iter().map(|p| Some(p.as_str())).collect()
                };
                for input in inputs {
                    let data = read_input_limited(input, limit)?;
                    let cid = node.block_put(data, codec, pin)?;
                    print(&format!("{cid}\n"))?;
                }
                Ok(())
            }
            BlockSub::Get(c) => {
                let cid = parse_cid_arg(&c.cid)?;
                let data = node.block_get(&cid)?;
                let mut out = std::io::stdout().lock();
                out.write_all(&data)?;
                out.flush()?;
                Ok(())
            }
            BlockSub::Stat(c) => {
                let st = node.block_stat(&parse_cid_arg(&c.cid)?)?;
                print(&format!("Key: {}\nSize: {}\n", st.cid, st.size))
            }
            BlockSub::Rm(c) => {
                anyhow::ensure!(!c.cids.is_empty(), "argument \"cid\" is required");
                let mut errors = Vec::new();
                for s in &c.cids {
                    let res = parse_cid_arg(s)
                        .and_then(|cid| node.block_rm(&cid, c.force).map(|r| (cid, r)));
                    match res {
                        Ok((cid, true)) if !c.quiet => print(&format!("removed {cid}\n"))?,
                        Ok(_) => {}
                        Err(e) => errors.push(e),
                    }
                }
                rm_outcome(errors, c.cids.len())
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
