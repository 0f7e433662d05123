//! The file layer under the blockstore's block files.
//!
//! **What.** Blocks over the inline limit are files under `<repo>/blocks/`
//! ([`crate::blockstore`]). Every write, rename, unlink and sync of those files goes
//! through a [`BlockFiles`], so crash tests can put a layer underneath that forgets
//! what a power cut would forget. [`OsFiles`] is the real one: plain `std::fs` calls
//! and one `syncfs(2)` per sync.
//!
//! **Contract.** A file written with [`BlockFiles::write`] (and renamed into place) is
//! on disk, with its full length, only after a later [`BlockFiles::sync`] returned
//! `Ok`; until then a power cut may leave it missing or empty (ext4's delayed
//! allocation does exactly this after a rename). The blockstore therefore syncs
//! before any durable index commit that can name a file written since the last sync,
//! including files written by earlier non-durable commits.
//!
//! **Test layer.** `LossyFiles` (tests only) writes real files and remembers which
//! ones no sync has covered; `LossyFiles::power_cut` empties them, as redb's crash
//! tests drop the writes their backend was never asked to sync.

use std::io;
use std::path::Path;

/// Writes and syncs block files. Reads go to the file system directly.
pub trait BlockFiles: Send + Sync + std::fmt::Debug {
    /// Creates (or replaces) `path` with `data`. Not synced.
    fn write(&self, path: &Path, data: &[u8]) -> io::Result<()>;
    /// Renames `from` to `to` (same directory). Not synced.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Creates a directory and its parents.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Unlinks a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes every file written so far under `dir`'s file system durable.
    fn sync(&self, dir: &Path) -> io::Result<()>;
}

/// The real file layer: `std::fs`, and `syncfs(2)` of the file system holding the
/// block files (one call syncs a whole import, not one fsync per block).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsFiles;

impl BlockFiles for OsFiles {
    fn write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        std::fs::write(path, data)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn sync(&self, dir: &Path) -> io::Result<()> {
        let d = std::fs::File::open(dir)?;
        nix::unistd::syncfs(&d).map_err(io::Error::from)
    }
}

/// A file layer that loses unsynced data on [`LossyFiles::power_cut`] (tests only).
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct LossyFiles {
    /// Files written or renamed into place since the last sync.
    unsynced: std::sync::Mutex<std::collections::BTreeSet<std::path::PathBuf>>,
}

#[cfg(test)]
impl LossyFiles {
    fn unsynced(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::BTreeSet<std::path::PathBuf>> {
        self.unsynced.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Simulates a power cut: every file no sync has covered comes back empty, as
    /// after a rename whose data blocks were never allocated. Returns how many.
    pub(crate) fn power_cut(&self) -> usize {
        let lost = std::mem::take(&mut *self.unsynced());
        let mut n = 0;
        for p in lost {
            if std::fs::File::create(&p).is_ok() {
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
impl BlockFiles for LossyFiles {
    fn write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        std::fs::write(path, data)?;
        self.unsynced().insert(path.to_path_buf());
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)?;
        let mut u = self.unsynced();
        if u.remove(from) {
            u.insert(to.to_path_buf());
        }
        Ok(())
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)?;
        self.unsynced().remove(path);
        Ok(())
    }

    fn sync(&self, _dir: &Path) -> io::Result<()> {
        self.unsynced().clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_cut_empties_only_unsynced_files() {
        let d = tempfile::tempdir().unwrap();
        let f = LossyFiles::default();
        let (a, b, tmp) = (d.path().join("a"), d.path().join("b"), d.path().join("t"));
        f.write(&a, b"synced").unwrap();
        f.sync(d.path()).unwrap();
        f.write(&tmp, b"not synced").unwrap();
        f.rename(&tmp, &b).unwrap();
        assert_eq!(f.power_cut(), 1);
        assert_eq!(std::fs::read(&a).unwrap(), b"synced");
        assert_eq!(std::fs::read(&b).unwrap(), b"");
    }
}
