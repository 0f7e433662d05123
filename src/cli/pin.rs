//! `acorn pin add|rm|ls|update|verify`, as Kubo's `ipfs pin`.
//!
//! Offline against the repo, or through the daemon's RPC API while one holds the
//! repo, with the same output.

use std::str::FromStr;

use argh::{ArgsInfo, FromArgs};

use super::{parse_bool, print, Context};
use crate::core::Node;
use acorn_storage::pins::PinFilter;

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
    /// `pin add|rm|ls` through the daemon, with the offline output.
    fn run_api(self, c: &super::client::Client) -> anyhow::Result<()> {
        let args = |paths: &[String]| -> Vec<(&'static str, String)> {
            paths.iter().map(|p| ("arg", p.clone())).collect()
        };
        match self.command {
            PinSub::Add(a) => {
                anyhow::ensure!(!a.paths.is_empty(), "argument \"ipfs-path\" is required");
                let recursive = a.recursive.unwrap_or(true);
                let mut q = args(&a.paths);
                q.push(("recursive", recursive.to_string()));
                let v = c.json("pin/add", &q)?;
                let how = if recursive { "recursively" } else { "directly" };
                let mut out = String::new();
                for p in v["Pins"].as_array().map(Vec::as_slice).unwrap_or_default() {
                    out.push_str(&format!(
                        "pinned {} {how}\n",
                        p.as_str().unwrap_or_default()
                    ));
                }
                print(&out)
            }
            PinSub::Rm(r) => {
                anyhow::ensure!(!r.paths.is_empty(), "argument \"ipfs-path\" is required");
                let mut q = args(&r.paths);
                q.push(("recursive", r.recursive.unwrap_or(true).to_string()));
                let v = c.json("pin/rm", &q)?;
                let mut out = String::new();
                for p in v["Pins"].as_array().map(Vec::as_slice).unwrap_or_default() {
                    out.push_str(&format!("unpinned {}\n", p.as_str().unwrap_or_default()));
                }
                print(&out)
            }
            PinSub::Ls(l) => {
                let mut q = args(&l.paths);
                let t = match l.r#type {
                    PinType::All => "all",
                    PinType::Direct => "direct",
                    PinType::Recursive => "recursive",
                    PinType::Indirect => "indirect",
                };
                q.push(("type", t.to_string()));
                let v = c.json("pin/ls", &q)?;
                let mut out = String::new();
                if let Some(keys) = v["Keys"].as_object() {
                    for (cid, info) in keys {
                        if l.quiet {
                            out.push_str(&format!("{cid}\n"));
                        } else {
                            let t = info["Type"].as_str().unwrap_or_default();
                            out.push_str(&format!("{cid} {t}\n"));
                        }
                    }
                }
                print(&out)
            }
            PinSub::Update(u) => {
                let q = vec![
                    ("arg", u.from),
                    ("arg", u.to),
                    ("unpin", u.unpin.unwrap_or(true).to_string()),
                ];
                let v = c.json("pin/update", &q)?;
                print(&format!(
                    "updated {} to {}\n",
                    v["Pins"][0].as_str().unwrap_or_default(),
                    v["Pins"][1].as_str().unwrap_or_default()
                ))
            }
            PinSub::Verify(p) => {
                let q = vec![
                    ("verbose", (p.verbose && !p.quiet).to_string()),
                    ("quiet", p.quiet.to_string()),
                ];
                let resp = c.post("pin/verify", &q, None)?;
                let (mut out, mut broken) = (String::new(), 0usize);
                resp.ndjson(&mut |v| {
                    let cid = v["Cid"].as_str().unwrap_or_default();
                    if v["Ok"].as_bool() == Some(true) {
                        out.push_str(&format!("{cid} ok\n"));
                        return Ok(());
                    }
                    broken += 1;
                    if p.quiet {
                        out.push_str(&format!("{cid}\n"));
                        return Ok(());
                    }
                    out.push_str(&format!("{cid} broken\n"));
                    for b in v["BadNodes"]
                        .as_array()
                        .map(Vec::as_slice)
                        .unwrap_or_default()
                    {
                        out.push_str(&format!(
                            "  {}: {}\n",
                            b["Cid"].as_str().unwrap_or_default(),
                            b["Err"].as_str().unwrap_or_default()
                        ));
                    }
                    Ok(())
                })?;
                print(&out)?;
                anyhow::ensure!(broken == 0, "{broken} pin(s) broken");
                Ok(())
            }
        }
    }

    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        if let Some(c) = super::daemon_client(ctx)? {
            return self.run_api(&c);
        }
        let node = Node::open(&ctx.repo_root()?)?;
        match self.command {
            PinSub::Add(c) => {
                anyhow::ensure!(!c.paths.is_empty(), "argument \"ipfs-path\" is required");
                let recursive = c.recursive.unwrap_or(true);
                for p in &c.paths {
                    let cid = node.resolve_arg(p)?;
                    node.pin_add(&cid, recursive)?;
                    let how = if recursive { "recursively" } else { "directly" };
                    print(&format!("pinned {cid} {how}\n"))?;
                }
                Ok(())
            }
            PinSub::Rm(c) => {
                anyhow::ensure!(!c.paths.is_empty(), "argument \"ipfs-path\" is required");
                for p in &c.paths {
                    let cid = node.resolve_arg(p)?;
                    node.pin_rm(&cid, c.recursive.unwrap_or(true))?;
                    print(&format!("unpinned {cid}\n"))?;
                }
                Ok(())
            }
            PinSub::Ls(c) => {
                let filter = match c.r#type {
                    PinType::All => PinFilter::All,
                    PinType::Direct => PinFilter::Direct,
                    PinType::Recursive => PinFilter::Recursive,
                    PinType::Indirect => PinFilter::Indirect,
                };
                let cids = c
                    .paths
                    .iter()
                    .map(|p| node.resolve_arg(p))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let mut out = String::new();
                for (cid, t) in node.pin_ls(filter, &cids)? {
                    if c.quiet {
                        out.push_str(&format!("{cid}\n"));
                    } else {
                        out.push_str(&format!("{cid} {}\n", t.name()));
                    }
                }
                print(&out)
            }
            PinSub::Update(c) => {
                let from = node.resolve_arg(&c.from)?;
                let to = node.resolve_arg(&c.to)?;
                node.pin_update(&from, &to, c.unpin.unwrap_or(true))?;
                print(&format!("updated {from} to {to}\n"))
            }
            PinSub::Verify(c) => {
                let mut broken = 0usize;
                let mut out = String::new();
                for st in node.pin_verify()? {
                    if st.ok() {
                        if c.verbose && !c.quiet {
                            out.push_str(&format!("{} ok\n", st.cid));
                        }
                        continue;
                    }
                    broken += 1;
                    if c.quiet {
                        out.push_str(&format!("{}\n", st.cid));
                    } else {
                        out.push_str(&format!("{} broken\n", st.cid));
                        for b in &st.bad_nodes {
                            out.push_str(&format!("  {}: {}\n", b.cid, b.error));
                        }
                    }
                }
                print(&out)?;
                anyhow::ensure!(broken == 0, "{broken} pin(s) broken");
                Ok(())
            }
        }
    }
}
