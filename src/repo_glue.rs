//! Glue between the CLI and the repo on disk (datastore + lock).
//!
//! TODO(lead): swap the bodies for `acorn_storage::repo::Repo::init(path)` /
//! `Repo::open(path)` once the storage helper lands them (repo dir +
//! `datastore.redb` + flock lock with the "repo is locked by PID n" error), and
//! make [`RepoHandle`] hold the `Repo` so the lock lives as long as the command.
//! Until then this only creates / checks the repo directory and takes no lock.
//!
//! Callers: `acorn init` ([`Mode::Init`], before the config file is written, so a
//! config file always means a complete repo) and `acorn config KEY VALUE` /
//! `acorn config profile apply` ([`Mode::Open`], held while the config is
//! rewritten).

use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

/// Create a new repo or open an existing one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Create the repo directory and datastore.
    Init,
    /// Open an existing repo.
    Open,
}

/// An open repo. Placeholder for `acorn_storage::repo::Repo`.
#[derive(Debug)]
pub struct RepoHandle {
    /// The repo directory.
    pub root: PathBuf,
}

/// Open (or, with [`Mode::Init`], create) the repo at `root`.
pub fn open_or_init_datastore(root: &Path, mode: Mode) -> anyhow::Result<RepoHandle> {
    match mode {
        Mode::Init => {
            // 0700: the directory holds the private key.
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(root)
                .with_context(|| format!("creating repo directory {}", root.display()))?;
        }
        Mode::Open => {
            if !root.is_dir() {
                bail!(
                    "no acorn repo found at {} (run `acorn init`)",
                    root.display()
                );
            }
        }
    }
    Ok(RepoHandle {
        root: root.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_creates_open_checks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("a/b");
        assert!(open_or_init_datastore(&root, Mode::Open).is_err());
        open_or_init_datastore(&root, Mode::Init).unwrap();
        assert!(root.is_dir());
        open_or_init_datastore(&root, Mode::Open).unwrap();
    }
}
