//! The three index tables of one write transaction, and reads through them (so a
//! check and a write happen in one transaction).

use super::db::db_err;
use super::files::{locate_in, read_loc, write_block_file, INLINE_MAX_BYTES};
use crate::block::{BlockError, BlockSource};
use crate::blockfiles::BlockFiles;
use crate::cids;
use crate::tables::{BLOCKS, BLOCK_FILES, FILESTORE};
use cid::Cid;
use redb::{ReadableTable, WriteTransaction};
use std::path::Path;

/// The index tables of one write transaction.
pub(crate) struct WriteTables<'t> {
    pub(crate) blocks: redb::Table<'t, &'static [u8], &'static [u8]>,
    pub(crate) files: redb::Table<'t, &'static [u8], u64>,
    pub(crate) fstore: redb::Table<'t, &'static [u8], &'static [u8]>,
}

impl<'t> WriteTables<'t> {
    pub(crate) fn open(txn: &'t WriteTransaction) -> Result<Self, BlockError> {
        Ok(WriteTables {
            blocks: txn.open_table(BLOCKS).map_err(db_err)?,
            files: txn.open_table(BLOCK_FILES).map_err(db_err)?,
            fstore: txn.open_table(FILESTORE).map_err(db_err)?,
        })
    }

    /// Whether the blockstore proper holds the key.
    pub(super) fn has_copy(&self, key: &[u8]) -> Result<bool, BlockError> {
        Ok(self.blocks.get(key).map_err(db_err)?.is_some()
            || self.files.get(key).map_err(db_err)?.is_some())
    }

    /// Stores a block unless a copy exists. `None`: it existed; `Some(true)`: a new
    /// block file was written (sync before commit); `Some(false)`: stored inline.
    pub(super) fn insert_if_absent(
        &mut self,
        files: &dyn BlockFiles,
        dir: &Path,
        key: &[u8],
        data: &[u8],
    ) -> Result<Option<bool>, BlockError> {
        if self.has_copy(key)? {
            return Ok(None);
        }
        if data.len() > INLINE_MAX_BYTES {
            write_block_file(files, dir, key, data)?;
            self.files.insert(key, data.len() as u64).map_err(db_err)?;
            Ok(Some(true))
        } else {
            self.blocks.insert(key, data).map_err(db_err)?;
            Ok(Some(false))
        }
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
