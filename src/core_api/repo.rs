//! The repo: `init` (with `--from-kubo`), `repo gc|stat|verify`, `stats repo`.
//!
//! **What.** The [`Repo`] group of the [core API](super): its trait, its result
//! types, and its two implementations, [`Local`] (this process's node) and
//! [`Remote`] (a daemon over the RPC API).
//!
//! **Spec.** Kubo's `core/commands/repo.go`: `repo gc` reports each removed block
//! (and with `stream-errors` an error as an item, then fails with "encountered
//! errors during gc run"); `repo stat` (and `stats repo`) the repo's figures;
//! `repo verify` each corrupt block, then a verdict.
//!
//! **Flow.** [`Local`] calls [`crate::core::Node`]; [`Remote`] calls `repo/gc`,
//! `repo/stat` and `repo/verify` and reads back the JSON that the RPC handlers
//! (`src/api/pins.rs`, `src/api/mod.rs`) write from [`Local`]'s results.
//!
//! **Limits.** `repo gc` streams; `repo verify` holds the list of corrupt blocks
//! (the node's report) before reporting them.
//!
//! **Departures.** With `size_only`, `repo stat` leaves the other figures zero or
//! empty (Kubo computes them anyway). The verdict's count of corrupt blocks comes,
//! through the daemon, from the corrupt lines it sent.

use std::path::{Path, PathBuf};

use cid::Cid;

use super::answer::cid_value;
use super::error::{bail, Context as _, Result};
use super::{Local, Remote};
use crate::config::Config;
pub use crate::core::RepoStat;
use crate::kubo_import;
pub use crate::kubo_import::{summary as kubo_import_summary, Report as KuboImportReport};
use crate::profiles;
use crate::repo_glue::{self, Mode};
pub use acorn_storage::repo::REPO_FORMAT_VERSION;

/// What `repo gc` reports as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GcEvent {
    /// A block was removed.
    Removed(Cid),
    /// The collection failed (only with `stream_errors`; the call then fails
    /// with "encountered errors during gc run").
    Error(String),
}

/// `repo verify`'s verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepoVerifySummary {
    /// Blocks re-hashed.
    pub checked: u64,
    /// Blocks found corrupt.
    pub corrupt: u64,
}

impl RepoVerifySummary {
    /// Kubo's last `repo verify` message: "verify complete, all blocks
    /// validated." or how many were corrupt.
    pub fn message(&self) -> String {
        if self.corrupt == 0 {
            "verify complete, all blocks validated.".to_string()
        } else {
            format!(
                "verify complete, {} of {} blocks were corrupt",
                self.corrupt, self.checked
            )
        }
    }
}

/// The repo: `repo gc|stat|verify`, `stats repo`.
pub trait Repo {
    /// `repo gc`: removes every block no pin reaches, calling `each` per removed
    /// block. With `stream_errors` a failure is reported to `each` first.
    fn repo_gc(
        &self,
        stream_errors: bool,
        each: &mut dyn FnMut(GcEvent) -> Result<()>,
    ) -> Result<()>;

    /// `repo stat`: the repo's figures; with `size_only` only `repo_size` and
    /// `storage_max` are filled (the rest zero or empty).
    fn repo_stat(&self, size_only: bool) -> Result<RepoStat>;

    /// `repo verify`: re-hashes every block, calling `each` with Kubo's message
    /// for each corrupt one ("block <cid> was corrupt (<why>)"), and checks the
    /// `repo stat` totals against the index (a mismatch is one more message and
    /// counts as one corrupt entry).
    fn repo_verify(&self, each: &mut dyn FnMut(String) -> Result<()>) -> Result<RepoVerifySummary>;

    /// `repo import-kubo PATH`: the blocks and pins of the Kubo repo at `kubo_root`
    /// (on this machine's disk), all checked before any is stored. Offline only.
    fn repo_import_kubo(&self, kubo_root: &std::path::Path) -> Result<crate::kubo_import::Report>;
}

impl Repo for Local {
    fn repo_gc(
        &self,
        stream_errors: bool,
        each: &mut dyn FnMut(GcEvent) -> Result<()>,
    ) -> Result<()> {
        // The collection goes on after `each` fails (the removals are committed
        // as it goes); the first failure is returned.
        let mut failed = None;
        let r = self.node().repo_gc(&mut |cid| {
            if failed.is_none() {
                failed = each(GcEvent::Removed(*cid)).err();
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        match r {
            Err(e) if stream_errors => {
                each(GcEvent::Error(format!("{e:#}")))?;
                bail!("encountered errors during gc run")
            }
            r => Ok(r.map(drop)?),
        }
    }

    fn repo_stat(&self, size_only: bool) -> Result<RepoStat> {
        let st = self.node().repo_stat()?;
        Ok(if size_only {
            RepoStat {
                num_objects: 0,
                repo_size: st.repo_size,
                storage_max: st.storage_max,
                repo_path: String::new(),
                version: String::new(),
            }
        } else {
            st
        })
    }

    fn repo_verify(&self, each: &mut dyn FnMut(String) -> Result<()>) -> Result<RepoVerifySummary> {
        let report = self.node().repo_verify()?;
        for b in &report.corrupt {
            each(match &b.cid {
                Some(cid) => format!("block {cid} was corrupt ({})", b.reason),
                None => format!("block key {} was corrupt ({})", b.key_hex, b.reason),
            })?;
        }
        let mut corrupt = report.corrupt.len() as u64;
        if let Some((stored, recounted)) = report.counts_mismatch {
            corrupt += 1;
            each(format!(
                "repo totals were wrong: repo stat says {} objects, {} bytes; the index holds {} objects, {} bytes",
                stored.objects, stored.bytes, recounted.objects, recounted.bytes
            ))?;
        }
        Ok(RepoVerifySummary {
            checked: report.checked,
            corrupt,
        })
    }

    fn repo_import_kubo(&self, kubo_root: &std::path::Path) -> Result<crate::kubo_import::Report> {
        Ok(self.node().import_kubo(kubo_root)?)
    }
}

impl Repo for Remote {
    fn repo_gc(
        &self,
        stream_errors: bool,
        each: &mut dyn FnMut(GcEvent) -> Result<()>,
    ) -> Result<()> {
        let q = [("stream-errors", stream_errors.to_string())];
        self.client()
            .post("repo/gc", &q, None)?
            .ndjson(&mut |v| match v["Error"].as_str() {
                Some(e) => each(GcEvent::Error(e.to_string())),
                None => each(GcEvent::Removed(cid_value(&v["Key"]["/"])?)),
            })
    }

    fn repo_stat(&self, size_only: bool) -> Result<RepoStat> {
        let v = self
            .client()
            .json("repo/stat", &[("size-only", size_only.to_string())])?;
        let n = |k: &str| v[k].as_u64().with_context(|| format!("repo/stat: no {k}"));
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        Ok(RepoStat {
            num_objects: if size_only { 0 } else { n("NumObjects")? },
            repo_size: n("RepoSize")?,
            storage_max: n("StorageMax")?,
            repo_path: s("RepoPath"),
            version: s("Version"),
        })
    }

    fn repo_verify(&self, each: &mut dyn FnMut(String) -> Result<()>) -> Result<RepoVerifySummary> {
        // Every line but the last names a corrupt block; the last carries the
        // verdict and (as `Progress`) the count of checked blocks.
        let mut last: Option<serde_json::Value> = None;
        let mut corrupt = 0u64;
        self.client()
            .post("repo/verify", &[], None)?
            .ndjson(&mut |v| {
                if let Some(prev) = last.replace(v) {
                    corrupt += 1;
                    each(prev["Msg"].as_str().unwrap_or_default().to_string())?;
                }
                Ok(())
            })?;
        let v = last.context("no answer from repo/verify")?;
        Ok(RepoVerifySummary {
            checked: v["Progress"].as_u64().unwrap_or(0),
            corrupt,
        })
    }

    fn repo_import_kubo(&self, _: &std::path::Path) -> Result<crate::kubo_import::Report> {
        bail!("repo import-kubo does not run through the daemon: stop the daemon first")
    }
}

/// `acorn init`: creates the repo at `root` (directory and datastore) and writes
/// `config` last, never replacing one ([`Config::create_new`]), so a config file
/// means a complete repo. Returns the repo's root.
pub fn init(root: &Path, config: &Config) -> Result<PathBuf> {
    let repo = repo_glue::open_or_init_datastore(root, Mode::Init)?;
    config.create_new(&repo.root)?;
    Ok(repo.root)
}

/// What `acorn repo migrate` found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Migrated {
    /// No repo at the path: nothing to do.
    NoRepo,
    /// The repo was already of the current format.
    Current,
    /// The repo was upgraded from format `from`; the old database is at `backup`.
    Upgraded {
        /// The format it had.
        from: u64,
        /// The copy of its database made first.
        backup: PathBuf,
    },
}

/// `acorn repo migrate`: upgrades the repo at `root` to this build's format if it
/// is older (offline: the repo must not be held by a daemon, which upgrades it
/// itself when it starts). Safe to repeat and when no repo exists.
pub fn migrate(root: &Path) -> Result<Migrated> {
    if !acorn_storage::repo::Repo::is_initialized(root) {
        return Ok(Migrated::NoRepo);
    }
    let repo = acorn_storage::repo::Repo::open(root).map_err(|e| match e {
        acorn_storage::repo::RepoError::Locked { pid } => super::Error::new(
            super::error::Kind::Other,
            format!(
                "repo at {} is in use by PID {pid} (a running daemon?): stop it first, \
                 or let it upgrade the repo when it next starts",
                root.display()
            ),
        ),
        other => other.into(),
    })?;
    Ok(match repo.upgraded_from() {
        None => Migrated::Current,
        Some(from) => Migrated::Upgraded {
            from,
            backup: acorn_storage::repo::Repo::backup_path(root, from),
        },
    })
}

/// `acorn init --from-kubo`: makes the repo at `root` from the Kubo repo at
/// `kubo_root` ([`crate::kubo_import`]), with the `chosen` profiles applied to the
/// config taken from Kubo; every block and pin is checked before the repo is
/// created, and on any error what this call created in `root` is removed again.
/// `say` gets the progress lines. Returns the import report, the Kubo config keys
/// that kept Acorn's value, and the config written.
pub fn init_from_kubo(
    root: &std::path::Path,
    kubo_root: &std::path::Path,
    chosen: Vec<&'static profiles::Profile>,
    say: &mut dyn FnMut(&str) -> Result<()>,
) -> Result<(KuboImportReport, Vec<kubo_import::Skipped>, Config)> {
    let kubo = acorn_storage::kubo::KuboRepo::open(kubo_root)?;
    say(&format!(
        "importing Kubo repo at {} (repo version {})\n",
        kubo_root.display(),
        kubo.version
    ))?;
    let (mut cfg, skipped) = kubo_import::config_from_kubo(&kubo.config)?;
    say(&format!("peer identity: {}\n", cfg.identity.peer_id))?;
    for p in chosen {
        profiles::apply(&mut cfg, p)?;
    }
    cfg.validate()
        .context("the chosen profiles give an invalid config")?;

    let existed = root.exists();
    let before: std::collections::HashSet<std::ffi::OsString> = if existed {
        std::fs::read_dir(root)
            .with_context(|| format!("reading {}", root.display()))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?
    } else {
        Default::default()
    };
    let result = (|| -> Result<kubo_import::Report> {
        {
            use std::os::unix::fs::DirBuilderExt as _;
            // 0700: the directory holds the private key.
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(root)
                .with_context(|| format!("creating repo directory {}", root.display()))?;
        }
        let scratch = kubo_import::Scratch::new(root)?;
        let checked = kubo.check(scratch.path(), &mut |_, _| {})?;
        drop(scratch);
        say(&format!(
            "checked {} blocks ({} bytes) and {} pins\n",
            checked.blocks.len(),
            checked.bytes,
            checked.pins.len()
        ))?;
        say(&format!("initializing IPFS node at {}\n", root.display()))?;
        let repo = repo_glue::open_or_init_datastore(root, Mode::Init)?;
        let store = repo.repo.store();
        store.set_min_free_bytes(cfg.acorn.min_free_space_bytes()?);
        let report = kubo_import::write(store, &checked)?;
        cfg.create_new(&repo.root)?;
        Ok(report)
    })();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            // Leave the directory as it was: remove what this run made.
            if !existed {
                let _ = std::fs::remove_dir_all(root);
            } else if let Ok(entries) = std::fs::read_dir(root) {
                for entry in entries.flatten() {
                    if !before.contains(&entry.file_name()) {
                        let p = entry.path();
                        let _ = if p.is_dir() {
                            std::fs::remove_dir_all(&p)
                        } else {
                            std::fs::remove_file(&p)
                        };
                    }
                }
            }
            return Err(e);
        }
    };
    Ok((report, skipped, cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_kubos() {
        let clean = RepoVerifySummary {
            checked: 3,
            corrupt: 0,
        };
        assert_eq!(clean.message(), "verify complete, all blocks validated.");
        let bad = RepoVerifySummary {
            checked: 9,
            corrupt: 2,
        };
        assert_eq!(bad.message(), "verify complete, 2 of 9 blocks were corrupt");
    }

    #[test]
    fn gc_reports_removed_blocks_and_size_only_stat_leaves_the_rest_out() {
        let (_d, l) = super::super::pins::tests::local();
        let node = l.node();
        let kept = node
            .block_put_version(b"kept".to_vec(), 1, 0x55, true)
            .unwrap();
        let gone = node
            .block_put_version(b"gone".to_vec(), 1, 0x55, false)
            .unwrap();
        let mut removed = Vec::new();
        l.repo_gc(true, &mut |e| {
            removed.push(e);
            Ok(())
        })
        .unwrap();
        assert_eq!(removed, [GcEvent::Removed(gone)]);
        assert!(node.store().has(&kept).unwrap());
        let full = l.repo_stat(false).unwrap();
        assert_eq!(full.num_objects, 1);
        assert!(full.version.starts_with("acorn-repo@"));
        let sizes = l.repo_stat(true).unwrap();
        assert_eq!(
            (
                sizes.num_objects,
                sizes.repo_path.as_str(),
                sizes.version.as_str()
            ),
            (0, "", "")
        );
        assert_eq!(sizes.storage_max, full.storage_max);
        assert!(sizes.repo_size > 0);
        let mut msgs = Vec::new();
        let v = l
            .repo_verify(&mut |m| {
                msgs.push(m);
                Ok(())
            })
            .unwrap();
        assert_eq!((v.checked, v.corrupt, msgs.len()), (1, 0, 0));
    }
}
