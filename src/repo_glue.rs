//! Glue between the CLI and the repo on disk (datastore + lock).
//!
//! [`open_or_init_datastore`] creates (`acorn init`) or opens the repo through
//! `acorn_storage::repo::Repo`, which takes the repo's flock: a second writer gets
//! "repo is locked by PID n". [`RepoHandle`] holds the `Repo`, so the lock lives as
//! long as the command holds the handle.
//!
//! Callers: `acorn init` ([`Mode::Init`], before the config file is written, so a
//! config file always means a complete repo), `acorn config KEY VALUE` /
//! `acorn config profile apply` and every content command ([`Mode::Open`]).

use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use acorn_storage::repo::Repo;
use anyhow::{bail, Context as _};

/// Create a new repo or open an existing one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Create the repo directory and datastore.
    Init,
    /// Open an existing repo.
    Open,
}

/// An open, locked repo.
pub struct RepoHandle {
    /// The repo directory.
    pub root: PathBuf,
    /// The datastore; dropping the handle releases the lock.
    pub repo: Repo,
}

/// Open (or, with [`Mode::Init`], create) the repo at `root`.
pub fn open_or_init_datastore(root: &Path, mode: Mode) -> anyhow::Result<RepoHandle> {
    let repo = match mode {
        Mode::Init => {
            // 0700: the directory holds the private key.
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(root)
                .with_context(|| format!("creating repo directory {}", root.display()))?;
            Repo::init(root)?
        }
        Mode::Open => {
            if !root.is_dir() || !crate::config::config_path(root).exists() {
                bail!(
                    "no acorn repo found at {} (run `acorn init`)",
                    root.display()
                );
            }
            Repo::open(root)?
        }
    };
    Ok(RepoHandle {
        root: root.to_owned(),
        repo,
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
        let h = open_or_init_datastore(&root, Mode::Init).unwrap();
        assert!(root.is_dir());
        // Held lock: a second open is refused, naming our PID.
        std::fs::write(crate::config::config_path(&root), "{}").unwrap();
        let err = open_or_init_datastore(&root, Mode::Open).err().unwrap();
        assert!(
            err.to_string()
                .contains(&format!("locked by PID {}", std::process::id())),
            "{err}"
        );
        drop(h);
        open_or_init_datastore(&root, Mode::Open).unwrap();
    }
}
