//! The running totals behind `repo stat` (table `counts`, format 3): read in O(1),
//! kept exact by updating them in the same write transaction as the index tables
//! ([`WriteTables`](super::WriteTables) does every insert and removal), recounted
//! from the tables by the format upgrade and by `repo verify`, which compares.

use super::db::db_err;
use crate::block::BlockError;
use crate::tables::COUNTS;
use redb::ReadableTable;

/// Key of [`Counts::objects`] in the `counts` table.
const OBJECTS: &str = "objects";
/// Key of [`Counts::bytes`].
const BYTES: &str = "bytes";
/// Key of [`Counts::file_bytes`].
const FILE_BYTES: &str = "file_bytes";

/// The totals of the blockstore's index tables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Distinct multihashes stored (as a copy, a reference, or both).
    pub objects: u64,
    /// Block bytes of the copies (inline and block files; references cost none).
    pub bytes: u64,
    /// The part of `bytes` kept as block files under `blocks/`.
    pub file_bytes: u64,
}

impl Counts {
    /// Reads the totals from the `counts` table (a missing key reads as 0).
    pub(crate) fn read<T: ReadableTable<&'static str, u64>>(t: &T) -> Result<Counts, BlockError> {
        let get = |k| -> Result<u64, BlockError> {
            Ok(t.get(k).map_err(db_err)?.map(|g| g.value()).unwrap_or(0))
        };
        Ok(Counts {
            objects: get(OBJECTS)?,
            bytes: get(BYTES)?,
            file_bytes: get(FILE_BYTES)?,
        })
    }

    /// Writes the totals into the `counts` table.
    pub(crate) fn write(
        &self,
        t: &mut redb::Table<'_, &'static str, u64>,
    ) -> Result<(), BlockError> {
        t.insert(OBJECTS, self.objects).map_err(db_err)?;
        t.insert(BYTES, self.bytes).map_err(db_err)?;
        t.insert(FILE_BYTES, self.file_bytes).map_err(db_err)?;
        Ok(())
    }

    /// Recounts the totals by walking the three index tables (O(blocks); the
    /// format upgrade and `repo verify`).
    pub(crate) fn recount<B, F, S>(blocks: &B, files: &F, fstore: &S) -> Result<Counts, BlockError>
    where
        B: ReadableTable<&'static [u8], &'static [u8]>,
        F: ReadableTable<&'static [u8], u64>,
        S: ReadableTable<&'static [u8], &'static [u8]>,
    {
        let mut c = Counts::default();
        for e in blocks.iter().map_err(db_err)? {
            let (_, v) = e.map_err(db_err)?;
            c.objects += 1;
            c.bytes += v.value().len() as u64;
        }
        for e in files.iter().map_err(db_err)? {
            let (_, v) = e.map_err(db_err)?;
            c.objects += 1;
            c.bytes += v.value();
            c.file_bytes += v.value();
        }
        for e in fstore.iter().map_err(db_err)? {
            let (k, _) = e.map_err(db_err)?;
            let key = k.value();
            if blocks.get(key).map_err(db_err)?.is_none()
                && files.get(key).map_err(db_err)?.is_none()
            {
                c.objects += 1;
            }
        }
        Ok(c)
    }
}

/// Opens the `counts` table of a write transaction.
pub(crate) fn open_counts(
    txn: &redb::WriteTransaction,
) -> Result<redb::Table<'_, &'static str, u64>, BlockError> {
    txn.open_table(COUNTS).map_err(db_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{Block, BlockSink};
    use crate::blockstore::store::tests::repo;
    use crate::cids;
    use crate::filestore::FileRef;
    use crate::repo::Repo;

    fn raw(data: Vec<u8>) -> Block {
        Block::encode(1, cids::RAW, data)
    }

    fn file_ref(len: u64) -> FileRef {
        FileRef {
            path: "/nonexistent/user-file".into(),
            offset: 0,
            len,
            file_size: len,
            mtime: (0, 0),
        }
    }

    /// The totals after every kind of change equal a recount of the tables, and
    /// the figures a reader expects; they survive closing and reopening the repo.
    #[test]
    fn totals_stay_exact_across_add_rm_gc_and_reopen() {
        let (dir, repo) = repo();
        let s = repo.store();
        assert_eq!(s.counts().unwrap(), Counts::default());
        let small = raw(b"small".to_vec());
        let big = raw(vec![1u8; 40_000]);
        let both = raw(vec![2u8; 30_000]);
        let only_ref = raw(b"only a reference".to_vec());
        // One at a time, then a batch with a copy + reference and a reference alone.
        assert!(s.put_block(&small).unwrap());
        assert!(s.put_block_lazy(&big).unwrap());
        assert!(!s.put_block(&small).unwrap());
        let mut w = s.writer();
        w.put(both.cid(), both.data()).unwrap();
        w.put_ref(both.cid(), file_ref(30_000)).unwrap();
        w.put_ref(only_ref.cid(), file_ref(16)).unwrap();
        w.put_ref(only_ref.cid(), file_ref(16)).unwrap(); // replaced, not added
        w.finish().unwrap();
        let want = Counts {
            objects: 4,
            bytes: 5 + 40_000 + 30_000,
            file_bytes: 40_000 + 30_000,
        };
        assert_eq!(s.counts().unwrap(), want);
        assert_eq!(s.check_counts().unwrap(), None);
        assert_eq!(s.stored_bytes_hint(), want.bytes);
        let st = s.count_and_size().unwrap();
        assert_eq!((st.blocks, st.stored_bytes), (4, want.bytes));

        // The reference of a block with a copy goes: still one object, same bytes.
        assert!(s.remove_ref(both.cid()).unwrap());
        assert_eq!(s.counts().unwrap(), want);
        // A reference alone goes: one object less.
        assert!(s.remove_ref(only_ref.cid()).unwrap());
        assert_eq!(s.counts().unwrap().objects, 3);
        // `block rm` of a file block.
        assert!(s.remove(big.cid()).unwrap());
        let want = Counts {
            objects: 2,
            bytes: 5 + 30_000,
            file_bytes: 30_000,
        };
        assert_eq!(s.counts().unwrap(), want);
        assert_eq!(s.check_counts().unwrap(), None);

        // GC with one pin: the other block goes.
        crate::pins::pin_add(s, small.cid(), false).unwrap();
        crate::gc::collect(s, &mut |_| {}).unwrap();
        let want = Counts {
            objects: 1,
            bytes: 5,
            file_bytes: 0,
        };
        assert_eq!(s.counts().unwrap(), want);
        assert_eq!(s.check_counts().unwrap(), None);
        assert!(s.verify().unwrap().is_clean());

        drop(repo);
        let repo = Repo::open(dir.path()).unwrap();
        assert_eq!(repo.store().counts().unwrap(), want);
        assert_eq!(repo.store().stored_bytes_hint(), 5);
        assert_eq!(repo.store().check_counts().unwrap(), None);
    }

    /// `repo verify` notices totals that do not match the tables.
    #[test]
    fn verify_reports_wrong_totals() {
        let (_dir, repo) = repo();
        let s = repo.store();
        s.put_block(&raw(b"one".to_vec())).unwrap();
        assert!(s.verify().unwrap().is_clean());
        let txn = s.begin_write().unwrap();
        Counts {
            objects: 7,
            bytes: 3,
            file_bytes: 0,
        }
        .write(&mut open_counts(&txn).unwrap())
        .unwrap();
        txn.commit().unwrap();
        let report = s.verify().unwrap();
        assert!(!report.is_clean());
        let (stored, recounted) = report.counts_mismatch.unwrap();
        assert_eq!((stored.objects, recounted.objects), (7, 1));
        assert_eq!(recounted.bytes, 3);
    }

    /// A write past the budget fails with both sizes and stores nothing; under
    /// the budget, and for blocks already stored, writes go on.
    #[test]
    fn writes_past_the_budget_are_refused_and_store_nothing() {
        let (_dir, repo) = repo();
        let s = repo.store();
        s.set_storage_max_bytes(50_000);
        let a = raw(vec![1u8; 30_000]);
        let b = raw(vec![2u8; 30_000]);
        assert!(s.put_block(&a).unwrap());
        let e = s.put_block(&b).unwrap_err();
        assert!(
            matches!(
                e,
                BlockError::RepoFull {
                    used: 30_000,
                    max: 50_000,
                    needed: 30_000
                }
            ),
            "{e}"
        );
        let msg = e.to_string();
        assert!(msg.contains("repo full") && msg.contains("50000") && msg.contains("30000"));
        assert!(matches!(
            s.put_block_lazy(&b),
            Err(BlockError::RepoFull { .. })
        ));
        // A batch: nothing of it is stored.
        let c = raw(b"small".to_vec());
        let mut w = s.writer();
        w.put(c.cid(), c.data()).unwrap();
        w.put(b.cid(), b.data()).unwrap();
        assert!(matches!(w.finish(), Err(BlockError::RepoFull { .. })));
        assert!(!s.has(b.cid()).unwrap() && !s.has(c.cid()).unwrap());
        assert_eq!(s.counts().unwrap().bytes, 30_000);
        assert_eq!(s.check_counts().unwrap(), None);
        // Already stored: no new bytes, no error. Room again after a removal.
        assert!(!s.put_block(&a).unwrap());
        s.put_block(&c).unwrap();
        s.remove(a.cid()).unwrap();
        assert!(s.put_block(&b).unwrap());
        assert!(s.verify().unwrap().is_clean());
    }
}
