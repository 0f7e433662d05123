//! The three index tables of one write transaction, and reads through them (so a
//! check and a write happen in one transaction). Every insert and removal goes
//! through a [`WriteTables`] method, which updates the `counts` totals in the same
//! transaction (the tables themselves are read-only outside this file).

use super::counts::{open_counts, Counts};
use super::db::db_err;
use super::files::{locate_in, read_loc, write_block_file, INLINE_MAX_BYTES};
use crate::block::{BlockError, BlockSource};
use crate::blockfiles::BlockFiles;
use crate::cids;
use crate::tables::{BLOCKS, BLOCK_FILES, FILESTORE};
use cid::Cid;
use redb::{ReadableTable, WriteTransaction};
use std::path::Path;

/// The index tables of one write transaction, and the totals kept beside them.
pub(crate) struct WriteTables<'t> {
    blocks: redb::Table<'t, &'static [u8], &'static [u8]>,
    files: redb::Table<'t, &'static [u8], u64>,
    fstore: redb::Table<'t, &'static [u8], &'static [u8]>,
    counts: redb::Table<'t, &'static str, u64>,
    /// The totals as of this transaction's changes so far (written back on every
    /// change: a transaction that commits always carries exact totals).
    totals: Counts,
}

/// What [`WriteTables::remove`] took away from one key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Removed {
    /// A copy or a reference was there.
    pub(crate) any: bool,
    /// Block bytes of the copy removed (0 for a reference).
    pub(crate) bytes: u64,
    /// The copy was a block file (unlink it after the commit).
    pub(crate) file: bool,
}

impl<'t> WriteTables<'t> {
    pub(crate) fn open(txn: &'t WriteTransaction) -> Result<Self, BlockError> {
        let counts = open_counts(txn)?;
        let totals = Counts::read(&counts)?;
        Ok(WriteTables {
            blocks: txn.open_table(BLOCKS).map_err(db_err)?,
            files: txn.open_table(BLOCK_FILES).map_err(db_err)?,
            fstore: txn.open_table(FILESTORE).map_err(db_err)?,
            counts,
            totals,
        })
    }

    /// The totals including this transaction's changes.
    pub(crate) fn totals(&self) -> Counts {
        self.totals
    }

    fn save_totals(&mut self) -> Result<(), BlockError> {
        self.totals.write(&mut self.counts)
    }

    /// Whether the filestore holds a reference for the key.
    fn has_ref(&self, key: &[u8]) -> Result<bool, BlockError> {
        Ok(self.fstore.get(key).map_err(db_err)?.is_some())
    }

    /// Stores a filestore reference (replacing an older one for the key).
    pub(crate) fn insert_ref(&mut self, key: &[u8], value: &[u8]) -> Result<(), BlockError> {
        let had_copy = self.has_copy(key)?;
        let new = self.fstore.insert(key, value).map_err(db_err)?.is_none();
        if new && !had_copy {
            self.totals.objects += 1;
            self.save_totals()?;
        }
        Ok(())
    }

    /// Removes a key's copy and reference, whichever exist.
    pub(crate) fn remove(&mut self, key: &[u8]) -> Result<Removed, BlockError> {
        let mut r = Removed::default();
        if let Some(v) = self.blocks.remove(key).map_err(db_err)? {
            r.any = true;
            r.bytes += v.value().len() as u64;
        }
        if let Some(v) = self.files.remove(key).map_err(db_err)? {
            r.any = true;
            r.file = true;
            r.bytes += v.value();
            self.totals.file_bytes = self.totals.file_bytes.saturating_sub(v.value());
        }
        if self.fstore.remove(key).map_err(db_err)?.is_some() {
            r.any = true;
        }
        if r.any {
            self.totals.objects = self.totals.objects.saturating_sub(1);
            self.totals.bytes = self.totals.bytes.saturating_sub(r.bytes);
            self.save_totals()?;
        }
        Ok(r)
    }

    /// Removes only a key's filestore reference; whether there was one.
    pub(crate) fn remove_ref(&mut self, key: &[u8]) -> Result<bool, BlockError> {
        let removed = self.fstore.remove(key).map_err(db_err)?.is_some();
        if removed && !self.has_copy(key)? {
            self.totals.objects = self.totals.objects.saturating_sub(1);
            self.save_totals()?;
        }
        Ok(removed)
    }

    /// Stores bytes inline under a key with no check at all (tests that simulate a
    /// damaged disk).
    pub(crate) fn insert_inline_unchecked(
        &mut self,
        key: &[u8],
        data: &[u8],
    ) -> Result<(), BlockError> {
        let had_ref = self.has_ref(key)?;
        let old_len = self
            .blocks
            .insert(key, data)
            .map_err(db_err)?
            .map(|v| v.value().len() as u64);
        match old_len {
            Some(n) => self.totals.bytes = self.totals.bytes.saturating_sub(n),
            None if self.files.get(key).map_err(db_err)?.is_some() || had_ref => {}
            None => self.totals.objects += 1,
        }
        self.totals.bytes += data.len() as u64;
        self.save_totals()
    }

    /// Whether the blockstore proper holds the key.
    pub(super) fn has_copy(&self, key: &[u8]) -> Result<bool, BlockError> {
        Ok(self.blocks.get(key).map_err(db_err)?.is_some()
            || self.files.get(key).map_err(db_err)?.is_some())
    }

    /// Stores a block unless a copy exists. `None`: it existed; `Some(true)`: a new
    /// block file was written (sync before commit); `Some(false)`: stored inline.
    /// Refuses with [`BlockError::RepoFull`] a new copy that would take the stored
    /// bytes past `budget` (before writing anything).
    pub(super) fn insert_if_absent(
        &mut self,
        files: &dyn BlockFiles,
        dir: &Path,
        key: &[u8],
        data: &[u8],
        budget: u64,
    ) -> Result<Option<bool>, BlockError> {
        if self.has_copy(key)? {
            return Ok(None);
        }
        let needed = data.len() as u64;
        if self.totals.bytes.saturating_add(needed) > budget {
            return Err(BlockError::RepoFull {
                used: self.totals.bytes,
                max: budget,
                needed,
            });
        }
        if !self.has_ref(key)? {
            self.totals.objects += 1;
        }
        let len = data.len() as u64;
        self.totals.bytes += len;
        let file = data.len() > INLINE_MAX_BYTES;
        if file {
            write_block_file(files, dir, key, data)?;
            self.files.insert(key, len).map_err(db_err)?;
            self.totals.file_bytes += len;
        } else {
            self.blocks.insert(key, data).map_err(db_err)?;
        }
        self.save_totals()?;
        Ok(Some(file))
    }
}

/// Reads blocks through an open write transaction's tables, so a check and a write
/// (e.g. "the DAG is complete" + "insert pin") happen in one transaction.
pub(crate) struct TableSource<'a, 't> {
    pub(crate) tables: &'a WriteTables<'t>,
    pub(crate) dir: &'a Path,
}

impl BlockSource for TableSource<'_, '_> {
    fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, BlockError> {
        if cid.hash().code() == cids::IDENTITY {
            return Ok(Some(cid.hash().digest().to_vec()));
        }
        let key = cid.hash().to_bytes();
        let t = self.tables;
        match locate_in(&t.blocks, &t.files, &t.fstore, &key)? {
            Some(loc) => read_loc(self.dir, &key, loc).map(Some),
            None => Ok(None),
        }
    }

    fn has(&self, cid: &Cid) -> Result<bool, BlockError> {
        if cid.hash().code() == cids::IDENTITY {
            return Ok(true);
        }
        let t = self.tables;
        Ok(locate_in(&t.blocks, &t.files, &t.fstore, &cid.hash().to_bytes())?.is_some())
    }
}
