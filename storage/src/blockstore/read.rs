//! Reads: a consistent [`Snapshot`] of the blocks and the [`BlockSource`] of the store.

use super::db::db_err;
use super::files::{locate_in, read_loc, Loc};
use super::store::Store;
use crate::block::{BlockError, BlockSource};
use crate::cids;
use crate::tables::{BLOCKS, BLOCK_FILES, FILESTORE};
use cid::Cid;
use redb::ReadOnlyTable;
use std::path::PathBuf;

impl BlockSource for Store {
    fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, BlockError> {
        Store::get(self, cid)
    }

    fn has(&self, cid: &Cid) -> Result<bool, BlockError> {
        Store::has(self, cid)
    }
}

/// A consistent read-only view of the blocks (one redb read transaction).
/// Hold it briefly: while it lives, redb cannot reuse pages freed after it began.
pub struct Snapshot {
    pub(super) blocks: ReadOnlyTable<&'static [u8], &'static [u8]>,
    pub(super) files: ReadOnlyTable<&'static [u8], u64>,
    pub(super) fstore: ReadOnlyTable<&'static [u8], &'static [u8]>,
    pub(super) dir: PathBuf,
}

impl Snapshot {
    pub(super) fn locate(&self, key: &[u8]) -> Result<Option<Loc>, BlockError> {
        locate_in(&self.blocks, &self.files, &self.fstore, key)
    }
}

impl BlockSource for Snapshot {
    fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, BlockError> {
        if cid.hash().code() == cids::IDENTITY {
            return Ok(Some(cid.hash().digest().to_vec()));
        }
        let key = cid.hash().to_bytes();
        match self.locate(&key)? {
            Some(loc) => read_loc(&self.dir, &key, loc).map(Some),
            None => Ok(None),
        }
    }

    fn has(&self, cid: &Cid) -> Result<bool, BlockError> {
        if cid.hash().code() == cids::IDENTITY {
            return Ok(true);
        }
        Ok(self.locate(&cid.hash().to_bytes())?.is_some())
    }
}

impl Store {
    /// A consistent read-only view of the blocks (one read transaction).
    pub fn snapshot(&self) -> Result<Snapshot, BlockError> {
        let txn = self.begin_read()?;
        Ok(Snapshot {
            blocks: txn.open_table(BLOCKS).map_err(db_err)?,
            files: txn.open_table(BLOCK_FILES).map_err(db_err)?,
            fstore: txn.open_table(FILESTORE).map_err(db_err)?,
            dir: self.inner.blocks_dir.clone(),
        })
    }

    /// A block's bytes, or `None` (identity CIDs: their inline data). Filestore
    /// blocks are read from the user's file and checked against the hash.
    pub fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, BlockError> {
        self.snapshot()?.get(cid)
    }

    /// Whether a block is stored (without reading it out).
    pub fn has(&self, cid: &Cid) -> Result<bool, BlockError> {
        Ok(self.stat(cid)?.is_some())
    }

    /// Size of a stored block, or `None`.
    pub fn stat(&self, cid: &Cid) -> Result<Option<u64>, BlockError> {
        if cid.hash().code() == cids::IDENTITY {
            return Ok(Some(cid.hash().digest().len() as u64));
        }
        let snap = self.snapshot()?;
        let loc = snap.locate(&cid.hash().to_bytes())?;
        Ok(loc.map(|l| l.len()))
    }

    /// Whether the blockstore proper (inline or file) holds the block.
    pub fn has_copy(&self, cid: &Cid) -> Result<bool, BlockError> {
        self.has_copy_key(&cid.hash().to_bytes())
    }

    pub(super) fn has_copy_key(&self, key: &[u8]) -> Result<bool, BlockError> {
        let snap = self.snapshot()?;
        Ok(snap.blocks.get(key).map_err(db_err)?.is_some()
            || snap.files.get(key).map_err(db_err)?.is_some())
    }
}
