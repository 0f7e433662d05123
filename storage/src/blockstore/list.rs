//! Streaming listings of the index tables, [`ITER_BATCH_COUNT`] keys per read
//! transaction, so a long listing does not pin old pages.

use super::db::{db_err, multihash_of_key, range_after};
use super::store::Store;
use crate::block::BlockError;
use crate::filestore::FileRef;
use crate::tables::{BLOCKS, BLOCK_FILES, FILESTORE};
use cid::multihash::Multihash;
use redb::ReadableTable;
use std::collections::VecDeque;

/// Keys fetched per read transaction by streaming listings ([`Store::iter_multihashes`],
/// [`Store::verify`]). Costs about this × 70 bytes of RAM.
pub const ITER_BATCH_COUNT: usize = 1024;

/// Which index table a key listing walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Which {
    Blocks,
    Files,
    Filestore,
}

/// Streams keys of one index table, one read transaction per batch.
pub(super) struct KeyBatches {
    pub(super) store: Store,
    pub(super) which: Which,
    pub(super) after: Option<Vec<u8>>,
    pub(super) done: bool,
}

pub(super) fn keys_after<T, V>(
    t: &T,
    after: Option<&[u8]>,
    n: usize,
) -> Result<Vec<Vec<u8>>, BlockError>
where
    T: ReadableTable<&'static [u8], V>,
    V: redb::Value + 'static,
{
    let mut out = Vec::with_capacity(n.min(ITER_BATCH_COUNT));
    for entry in range_after(t, after)? {
        let (k, _) = entry.map_err(db_err)?;
        out.push(k.value().to_vec());
        if out.len() == n {
            break;
        }
    }
    Ok(out)
}

impl KeyBatches {
    pub(super) fn new(store: Store, which: Which) -> Self {
        KeyBatches {
            store,
            which,
            after: None,
            done: false,
        }
    }

    /// The next batch of up to `n` keys (empty when done).
    pub(super) fn next_batch(&mut self, n: usize) -> Result<Vec<Vec<u8>>, BlockError> {
        if self.done {
            return Ok(Vec::new());
        }
        let txn = self.store.begin_read()?;
        let after = self.after.as_deref();
        let out = match self.which {
            Which::Blocks => keys_after(&txn.open_table(BLOCKS).map_err(db_err)?, after, n)?,
            Which::Files => keys_after(&txn.open_table(BLOCK_FILES).map_err(db_err)?, after, n)?,
            Which::Filestore => keys_after(&txn.open_table(FILESTORE).map_err(db_err)?, after, n)?,
        };
        if out.len() < n {
            self.done = true;
        }
        self.after = out.last().cloned();
        Ok(out)
    }
}

/// Iterator returned by [`Store::iter_refs`]: (multihash, reference) pairs.
pub struct RefIter {
    pub(super) store: Store,
    pub(super) after: Option<Vec<u8>>,
    pub(super) buf: VecDeque<(Vec<u8>, Vec<u8>)>,
    pub(super) done: bool,
}

impl RefIter {
    pub(super) fn fill(&mut self) -> Result<(), BlockError> {
        let txn = self.store.begin_read()?;
        let t = txn.open_table(FILESTORE).map_err(db_err)?;
        let mut n = 0;
        for entry in range_after(&t, self.after.as_deref())? {
            let (k, v) = entry.map_err(db_err)?;
            self.buf.push_back((k.value().to_vec(), v.value().to_vec()));
            n += 1;
            if n == ITER_BATCH_COUNT {
                break;
            }
        }
        if n < ITER_BATCH_COUNT {
            self.done = true;
        }
        self.after = self.buf.back().map(|(k, _)| k.clone());
        Ok(())
    }
}

impl Iterator for RefIter {
    type Item = Result<(Multihash<64>, FileRef), BlockError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() && !self.done {
            if let Err(e) = self.fill() {
                self.done = true;
                return Some(Err(e));
            }
        }
        let (k, v) = self.buf.pop_front()?;
        Some(multihash_of_key(&k).and_then(|mh| Ok((mh, FileRef::decode(&v)?))))
    }
}

/// Iterator returned by [`Store::iter_multihashes`]. Yields an error (and then ends)
/// if the database fails; a key that is not a multihash yields `Corrupted` and the
/// listing goes on.
pub struct MultihashIter {
    pub(super) batches: KeyBatches,
    pub(super) buf: VecDeque<Vec<u8>>,
}

impl Iterator for MultihashIter {
    type Item = Result<Multihash<64>, BlockError>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.buf.is_empty() {
            match self.batches.next_batch(ITER_BATCH_COUNT) {
                Ok(b) if b.is_empty() => {
                    let next = match self.batches.which {
                        Which::Blocks => Which::Files,
                        Which::Files => Which::Filestore,
                        Which::Filestore => return None,
                    };
                    self.batches = KeyBatches::new(self.batches.store.clone(), next);
                }
                Ok(b) => {
                    if self.batches.which == Which::Filestore {
                        // A block stored both ways is listed once (as a copy).
                        let store = &self.batches.store;
                        for k in b {
                            match store.has_copy_key(&k) {
                                Ok(true) => {}
                                Ok(false) => self.buf.push_back(k),
                                Err(e) => return Some(Err(e)),
                            }
                        }
                    } else {
                        self.buf.extend(b)
                    }
                }
                Err(e) => {
                    self.batches.done = true;
                    self.batches.which = Which::Filestore;
                    return Some(Err(e));
                }
            }
        }
        let key = self.buf.pop_front()?;
        Some(multihash_of_key(&key))
    }
}

/// Pub(crate) access for GC's sweep: key batches of one index table.
pub(crate) fn key_batches(
    store: &Store,
    which: Which,
) -> impl FnMut(usize) -> Result<Vec<Vec<u8>>, BlockError> {
    let mut kb = KeyBatches::new(store.clone(), which);
    move |n| kb.next_batch(n)
}

impl Store {
    /// Streams every filestore entry in key order, [`ITER_BATCH_COUNT`] per read
    /// transaction (`filestore ls`/`verify`/`dups`).
    pub fn iter_refs(&self) -> RefIter {
        RefIter {
            store: self.clone(),
            after: None,
            buf: VecDeque::new(),
            done: false,
        }
    }

    /// Streams the multihash of every stored block, [`ITER_BATCH_COUNT`] at a time:
    /// inline blocks, then file blocks, then filestore blocks not also stored as a
    /// copy (`refs local`; print each as [`cids::raw_v1_of_multihash`](crate::cids::raw_v1_of_multihash)).
    pub fn iter_multihashes(&self) -> MultihashIter {
        MultihashIter {
            batches: KeyBatches::new(self.clone(), Which::Blocks),
            buf: VecDeque::new(),
        }
    }
}
