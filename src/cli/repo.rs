//! `acorn repo gc|stat|verify`, as Kubo's `ipfs repo`.
//!
//! Wired to `acorn-storage` by the lead; until then "not implemented yet".

use argh::{ArgsInfo, FromArgs};

use std::io::Write as _;

use anyhow::Context as _;

use super::{print, Context};
use crate::core::{Node, RepoStat};

/// Manage the repo.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "repo")]
pub struct RepoCmd {
    #[argh(subcommand)]
    pub command: RepoSub,
}

/// `acorn repo` subcommands.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand)]
pub enum RepoSub {
    Gc(RepoGcCmd),
    Stat(RepoStatCmd),
    Verify(RepoVerifyCmd),
}

/// Remove every block that no pin reaches, and print the removed CIDs.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "gc")]
pub struct RepoGcCmd {
    /// print nothing on success
    #[argh(switch, short = 'q')]
    pub quiet: bool,
}

/// Print repo statistics (NumObjects, RepoSize, StorageMax).
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "stat")]
pub struct RepoStatCmd {
    /// only print sizes (RepoSize, StorageMax)
    #[argh(switch, short = 's')]
    pub size_only: bool,
    /// print sizes in human units (MiB, GiB)
    #[argh(switch, short = 'H')]
    pub human: bool,
}

/// Re-hash every block and report the corrupt ones.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "verify")]
pub struct RepoVerifyCmd {}

impl RepoCmd {
    /// `repo gc|stat|verify` through the daemon, with the offline output.
    fn run_api(self, c: &super::client::Client) -> anyhow::Result<()> {
        match self.command {
            RepoSub::Gc(g) => {
                let resp = c.post("repo/gc", &[], None)?;
                let mut out = std::io::stdout().lock();
                resp.ndjson(&mut |v| {
                    let cid = v["Key"]["/"].as_str().unwrap_or_default();
                    if g.quiet {
                        writeln!(out, "{cid}")?;
                    } else {
                        writeln!(out, "removed {cid}")?;
                    }
                    Ok(())
                })?;
                out.flush()?;
                Ok(())
            }
            RepoSub::Stat(s) => {
                let v = c.json("repo/stat", &[])?;
                let st = RepoStat {
                    num_objects: v["NumObjects"].as_u64().unwrap_or(0),
                    repo_size: v["RepoSize"].as_u64().unwrap_or(0),
                    storage_max: v["StorageMax"].as_u64().unwrap_or(0),
                    repo_path: v["RepoPath"].as_str().unwrap_or_default().to_string(),
                    version: v["Version"].as_str().unwrap_or_default().to_string(),
                };
                print(&render_stat(&s, &st))
            }
            RepoSub::Verify(_) => {
                let resp = c.post("repo/verify", &[], None)?;
                // All lines but the last name corrupt blocks; the last carries the
                // verdict and the count of checked blocks.
                let mut out = String::new();
                let mut last: Option<serde_json::Value> = None;
                resp.ndjson(&mut |v| {
                    if let Some(prev) = last.replace(v) {
                        out.push_str(&format!("{}\n", prev["Msg"].as_str().unwrap_or_default()));
                    }
                    Ok(())
                })?;
                print(&out)?;
                let v = last.ok_or_else(|| anyhow::anyhow!("no answer from repo/verify"))?;
                let msg = v["Msg"].as_str().unwrap_or_default();
                if msg.starts_with("verify complete, all") {
                    print(&format!("verified repo: {} blocks ok\n", v["Progress"]))
                } else {
                    anyhow::bail!("{msg}")
                }
            }
        }
    }

    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        if let Some(c) = super::daemon_client(ctx)? {
            return self.run_api(&c);
        }
        let node = Node::open(&ctx.repo_root()?)?;
        match self.command {
            RepoSub::Gc(c) => {
                let mut out = std::io::stdout().lock();
                let mut failed = None;
                node.repo_gc(&mut |cid| {
                    let line = if c.quiet {
                        format!("{cid}\n")
                    } else {
                        format!("removed {cid}\n")
                    };
                    if let Err(e) = out.write_all(line.as_bytes()) {
                        failed.get_or_insert(e);
                    }
                })?;
                out.flush()?;
                match failed {
                    Some(e) => Err(e).context("writing to stdout"),
                    None => Ok(()),
                }
            }
            RepoSub::Stat(c) => print(&render_stat(&c, &node.repo_stat()?)),
            RepoSub::Verify(_) => {
                let report = node.repo_verify()?;
                let mut out = String::new();
                for b in &report.corrupt {
                    match &b.cid {
                        Some(cid) => {
                            out.push_str(&format!("block {cid} was corrupt ({})\n", b.reason))
                        }
                        None => out.push_str(&format!(
                            "block key {} was corrupt ({})\n",
                            b.key_hex, b.reason
                        )),
                    }
                }
                if report.is_clean() {
                    out.push_str(&format!("verified repo: {} blocks ok\n", report.checked));
                    print(&out)
                } else {
                    print(&out)?;
                    anyhow::bail!(
                        "verify complete, {} of {} blocks were corrupt",
                        report.corrupt.len(),
                        report.checked
                    )
                }
            }
        }
    }
}

/// `repo stat` output, offline and through the daemon.
fn render_stat(c: &RepoStatCmd, st: &RepoStat) -> String {
    let size = |n: u64| {
        if c.human {
            human_bytes(n)
        } else {
            n.to_string()
        }
    };
    let mut out = String::new();
    if !c.size_only {
        out.push_str(&format!("NumObjects: {}\n", st.num_objects));
    }
    out.push_str(&format!("RepoSize:   {}\n", size(st.repo_size)));
    out.push_str(&format!("StorageMax: {}\n", size(st.storage_max)));
    if !c.size_only {
        out.push_str(&format!("RepoPath:   {}\n", st.repo_path));
        out.push_str(&format!("Version:    {}\n", st.version));
    }
    out
}

/// `1.5 MiB`-style sizes for `repo stat -H`.
pub(crate) fn human_bytes(n: u64) -> String {
    binary_units(n, 1)
}

/// `n` bytes in binary units (`B`, `KiB`, ... `TiB`) with `decimals` decimals
/// (whole bytes have none).
pub(crate) fn binary_units(n: u64, decimals: usize) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.decimals$} {}", UNITS[u])
    }
}
