//! The batching [`Writer`]: one write transaction per [`WRITER_BATCH_BYTES`](crate::blockstore::WRITER_BATCH_BYTES) or
//! [`WRITER_BATCH_BLOCKS`], intermediate batches committed without fsync on a
//! background thread, the last one durable.

use super::db::db_err;
use super::space::{inline_and_file_bytes, FS_BLOCK_BYTES};
use super::store::{check_size, Store};
use super::tables::WriteTables;
use crate::block::{Block, BlockError, BlockSink, MAX_BLOCK_BYTES};
use crate::cids;
use crate::filestore::{self, FileRef};
use cid::Cid;
use std::sync::atomic::Ordering;

/// A [`Writer`] commits once its buffer holds this many blocks (small-block imports).
pub const WRITER_BATCH_BLOCKS: usize = 1024;

/// What a [`Writer`] has committed so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Blocks put (including ones already stored).
    pub blocks_put: u64,
    /// Blocks that were new to the store.
    pub blocks_new: u64,
    /// Bytes of new blocks.
    pub bytes_new: u64,
    /// New blocks written as files under `blocks/` (counted in `blocks_new`).
    pub files_new: u64,
    /// Filestore references recorded (`--nocopy` leaves).
    pub refs: u64,
    /// Write transactions committed.
    pub commits: u64,
}

/// Batching block writer: one write transaction per [`WRITER_BATCH_BYTES`](crate::blockstore::WRITER_BATCH_BYTES) /
/// [`WRITER_BATCH_BLOCKS`]. Call [`BlockSink::flush`] or [`Writer::finish`] at the end:
/// dropping it discards what is still buffered.
pub struct Writer {
    pub(super) store: Store,
    pub(super) buf: Batch,
    pub(super) buf_bytes: usize,
    pub(super) stats: WriterStats,
    /// A batch was committed without fsync since the last durable commit.
    pub(super) undurable: bool,
    /// The background thread writing intermediate batches, once started.
    pub(super) bg: Option<Background>,
    /// Commit once the buffer holds this many bytes ([`Store::set_writer_batch_bytes`]).
    pub(super) batch_bytes: usize,
}

impl Writer {
    /// Puts a verified block.
    pub fn put_block(&mut self, block: &Block) -> Result<(), BlockError> {
        self.put(block.cid(), block.data())
    }

    /// Records a filestore reference for `cid` (its bytes stay in the user's file).
    pub fn put_ref(&mut self, cid: &Cid, r: FileRef) -> Result<(), BlockError> {
        if r.len > MAX_BLOCK_BYTES as u64 {
            return Err(BlockError::TooLarge {
                cid: *cid,
                // Saturate: `as usize` wraps on 32-bit targets (2^32 + 1 -> 1).
                len: usize::try_from(r.len).unwrap_or(usize::MAX),
                limit: MAX_BLOCK_BYTES,
            });
        }
        self.stats.blocks_put += 1;
        if cid.hash().code() == cids::IDENTITY {
            return Ok(());
        }
        self.buf.push((cid.hash().to_bytes(), Item::Ref(r)));
        if self.buf.len() >= WRITER_BATCH_BLOCKS {
            self.commit(false)?;
        }
        Ok(())
    }

    /// Commits what is buffered, durably, and returns the totals.
    pub fn finish(mut self) -> Result<WriterStats, BlockError> {
        self.commit(true)?;
        Ok(self.stats)
    }

    /// Totals so far (committed batches only).
    pub fn stats(&self) -> WriterStats {
        self.stats
    }

    /// Commits the buffer. Batches in the middle of an import commit without fsync
    /// (`Durability::None`) on a background thread, so hashing the next batch overlaps
    /// writing this one; SD cards get one fsync per import, in the final durable
    /// commit, which also makes every earlier batch durable. A crash before it rolls
    /// back to the last durable state: the import's blocks are gone, never half-there
    /// under a pin (pins commit durably after the import finishes).
    pub(super) fn commit(&mut self, durable: bool) -> Result<(), BlockError> {
        let batch = std::mem::take(&mut self.buf);
        self.buf_bytes = 0;
        if !durable {
            if batch.is_empty() {
                return Ok(());
            }
            self.undurable = true;
            if !self.store.background_writer() {
                return commit_batch(&self.store, &batch, false, false, &mut self.stats);
            }
            if self.bg.is_none() {
                let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(WRITER_QUEUE_BATCHES);
                let store = self.store.clone();
                let handle = std::thread::Builder::new()
                    .name("acorn-writer".into())
                    .spawn(move || {
                        let mut stats = WriterStats::default();
                        for b in rx {
                            commit_batch(&store, &b, false, false, &mut stats)?;
                        }
                        Ok(stats)
                    })
                    .map_err(|e| BlockError::Io(format!("starting the writer thread: {e}")))?;
                self.bg = Some((tx, handle));
            }
            let sent = self.bg.as_ref().map(|(tx, _)| tx.send(batch));
            if let Some(Err(_)) = sent {
                // The thread stopped on an error: collect it.
                return self
                    .join_background()
                    .and(Err(BlockError::Io("writer thread stopped".into())));
            }
            return Ok(());
        }
        self.join_background()?;
        if batch.is_empty() && !self.undurable {
            return Ok(());
        }
        // Block files written by earlier (background) batches are synced with this
        // batch's, in one syncfs before the durable commit.
        let sync = self.stats.files_new > 0;
        commit_batch(&self.store, &batch, true, sync, &mut self.stats)?;
        self.undurable = false;
        Ok(())
    }

    /// Waits for the background batches and adds their totals.
    pub(super) fn join_background(&mut self) -> Result<(), BlockError> {
        if let Some((tx, handle)) = self.bg.take() {
            drop(tx);
            let st = handle
                .join()
                .map_err(|_| BlockError::Io("writer thread panicked".into()))??;
            self.stats.blocks_new += st.blocks_new;
            self.stats.bytes_new += st.bytes_new;
            self.stats.files_new += st.files_new;
            self.stats.refs += st.refs;
            self.stats.commits += st.commits;
        }
        Ok(())
    }
}

/// One batched write: a block's bytes or a filestore reference.
pub(super) enum Item {
    Data(Vec<u8>),
    Ref(FileRef),
}

/// One batch of (multihash key, item).
pub(super) type Batch = Vec<(Vec<u8>, Item)>;

/// A writer's background thread: its queue and its handle.
pub(super) type Background = (
    std::sync::mpsc::SyncSender<Batch>,
    std::thread::JoinHandle<Result<WriterStats, BlockError>>,
);

/// Batches a [`Writer`] queues for its background thread beyond the one being
/// written. RAM: (this + 2) × [`WRITER_BATCH_BYTES`](crate::blockstore::WRITER_BATCH_BYTES) per writer at most.
pub const WRITER_QUEUE_BATCHES: usize = 1;

/// Commits one batch in one write transaction.
/// Block files are written (unsynced) inside the transaction; a durable commit first
/// syncs the filesystem when this batch or, with `sync_earlier`, an earlier
/// non-durable one wrote files, so the index never names a file that is not on disk.
/// A non-durable batch that wrote files marks them unsynced, so whichever durable
/// commit comes next, from any writer, syncs them ([`Store::sync_pending`]).
pub(super) fn commit_batch(
    store: &Store,
    batch: &Batch,
    durable: bool,
    sync_earlier: bool,
    stats: &mut WriterStats,
) -> Result<(), BlockError> {
    let (mut inline, mut files) = (0u64, 0u64);
    for (k, v) in batch {
        let (i, f) = match v {
            Item::Data(d) => inline_and_file_bytes(k.len(), d.len()),
            Item::Ref(r) => ((k.len() + r.path.as_os_str().len() + 64) as u64, 0),
        };
        inline += i;
        files += f.div_ceil(FS_BLOCK_BYTES) * FS_BLOCK_BYTES;
    }
    store.check_write_space(inline, files)?;
    let mut txn = store.begin_write()?;
    if !durable {
        txn.set_durability(redb::Durability::None).map_err(db_err)?;
    }
    let mut wrote_files = false;
    let totals = {
        let mut t = WriteTables::open(&txn)?;
        let budget = store.storage_max_bytes();
        for (k, v) in batch {
            match v {
                Item::Data(d) => {
                    if let Some(file) =
                        t.insert_if_absent(store.files(), &store.inner.blocks_dir, k, d, budget)?
                    {
                        stats.blocks_new += 1;
                        stats.bytes_new += d.len() as u64;
                        if file {
                            stats.files_new += 1;
                            wrote_files = true;
                        }
                    }
                }
                Item::Ref(r) => {
                    t.insert_ref(k, &r.encode())?;
                    stats.refs += 1;
                }
            }
        }
        t.totals()
    };
    if durable && (wrote_files || sync_earlier) {
        store.sync_all_files()?;
    } else if durable {
        store.sync_pending()?;
    } else if wrote_files {
        // Set while this transaction holds the write lock: any durable commit after
        // ours (a pin, another import's last batch) makes our index entries durable
        // too, so it must sync these files first.
        store.inner.unsynced_files.store(true, Ordering::SeqCst);
    }
    store.commit_with(txn, totals)?;
    stats.commits += 1;
    Ok(())
}

impl filestore::RefSink for Writer {
    fn put_ref(&mut self, cid: &Cid, r: FileRef) -> Result<(), BlockError> {
        Writer::put_ref(self, cid, r)
    }
}

impl BlockSink for Writer {
    fn put(&mut self, cid: &Cid, data: &[u8]) -> Result<(), BlockError> {
        check_size(cid, data.len())?;
        self.stats.blocks_put += 1;
        if cid.hash().code() == cids::IDENTITY {
            return Ok(());
        }
        self.buf
            .push((cid.hash().to_bytes(), Item::Data(data.to_vec())));
        self.buf_bytes += data.len();
        if self.buf_bytes >= self.batch_bytes || self.buf.len() >= WRITER_BATCH_BLOCKS {
            self.commit(false)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        self.commit(true)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            tracing::debug!(
                blocks = self.buf.len(),
                "block writer dropped without flush: discarding buffered blocks"
            );
        }
    }
}

impl Store {
    /// A batching writer ([`BlockSink`]).
    pub fn writer(&self) -> Writer {
        Writer {
            store: self.clone(),
            buf: Vec::new(),
            buf_bytes: 0,
            stats: WriterStats::default(),
            undurable: false,
            bg: None,
            batch_bytes: self.inner.writer_batch_bytes.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blockstore::space::space_needed;
    use crate::blockstore::store::tests::repo;
    use crate::repo::Repo;
    use std::path::PathBuf;
    use std::sync::Arc;

    #[test]
    fn writer_rejects_oversize() {
        let (_d, repo) = repo();
        let mut w = repo.store().writer();
        let data = vec![0u8; MAX_BLOCK_BYTES + 1];
        let cid = cids::cid_of(1, cids::RAW, &data);
        assert!(matches!(
            w.put(&cid, &data),
            Err(BlockError::TooLarge { len, .. }) if len == MAX_BLOCK_BYTES + 1
        ));
        assert_eq!(w.finish().unwrap().blocks_new, 0);
        assert!(!repo.store().has(&cid).unwrap());
    }

    #[test]
    fn oversize_ref_error_keeps_its_length_on_32_bit() {
        // A reference longer than 4 GiB: on a 32-bit target `len as usize` would wrap
        // to 1 and the error would report a 1-byte block as too large.
        let (_d, repo) = repo();
        let mut w = repo.store().writer();
        let cid = cids::cid_of(1, cids::RAW, b"big");
        let r = FileRef {
            path: PathBuf::from("/data/big.iso"),
            offset: 0,
            len: (1u64 << 32) + 1,
            file_size: (1u64 << 33),
            mtime: (0, 0),
        };
        let err = w.put_ref(&cid, r).unwrap_err();
        assert!(
            matches!(err, BlockError::TooLarge { len, .. } if len > MAX_BLOCK_BYTES),
            "{err}"
        );
        assert_eq!(w.finish().unwrap().blocks_new, 0);
    }

    #[test]
    fn filestore_ref_beyond_4_gib_reads_back() {
        // u64 offsets all the way: a block 4 GiB + 12345 bytes into a (sparse) 5 GiB
        // file is stored as a reference and read back intact, also on 32-bit targets.
        use std::io::{Seek, SeekFrom, Write};
        let (d, repo) = repo();
        let path = d.path().join("big.img");
        let offset = (1u64 << 32) + 12_345;
        let data: Vec<u8> = (0..262_144u32).map(|i| (i * 7 + 3) as u8).collect();
        {
            let mut f = std::fs::File::create(&path).unwrap();
            f.set_len(5 << 30).unwrap();
            f.seek(SeekFrom::Start(offset)).unwrap();
            f.write_all(&data).unwrap();
        }
        let (file_size, mtime) = filestore::file_stamp(&std::fs::metadata(&path).unwrap());
        assert_eq!(file_size, 5 << 30);
        let cid = cids::cid_of(1, cids::RAW, &data);
        let mut w = repo.store().writer();
        let r = FileRef {
            path: path.clone(),
            offset,
            len: data.len() as u64,
            file_size,
            mtime,
        };
        w.put_ref(&cid, r).unwrap();
        w.finish().unwrap();
        assert_eq!(repo.store().stat(&cid).unwrap(), Some(data.len() as u64));
        assert_eq!(repo.store().get(&cid).unwrap().as_deref(), Some(&data[..]));
    }

    /// With the background writer off, intermediate batches commit in the caller's
    /// thread (no `acorn-writer` thread is started) and every block lands.
    #[test]
    fn inline_writer_commits_batches_without_a_thread() {
        let (_d, repo) = repo();
        let s = repo.store();
        s.set_background_writer(false);
        s.set_writer_batch_bytes(64 * 1024);
        let blocks: Vec<Block> = (0..10u32)
            .map(|i| Block::encode(1, cids::RAW, vec![i as u8; 40_000]))
            .collect();
        let mut w = s.writer();
        for b in &blocks {
            w.put_block(b).unwrap();
            assert!(w.bg.is_none(), "a writer thread was started");
        }
        // Batches of 64 KiB: several committed before the end, in this thread.
        assert!(w.stats().commits >= 3, "{:?}", w.stats());
        let st = w.finish().unwrap();
        assert_eq!(st.blocks_new, 10);
        for b in &blocks {
            assert_eq!(s.get(b.cid()).unwrap().as_deref(), Some(b.data()));
        }
    }

    #[test]
    fn dropped_writer_discards_buffer() {
        let (_d, repo) = repo();
        let b = Block::encode(1, cids::RAW, b"x".to_vec());
        {
            let mut w = repo.store().writer();
            w.put_block(&b).unwrap();
        }
        assert!(!repo.store().has(b.cid()).unwrap());
    }

    #[test]
    fn durable_commit_syncs_files_of_earlier_background_batches() {
        use crate::blockfiles::LossyFiles;
        let dir = tempfile::tempdir().unwrap();
        drop(Repo::init(dir.path()).unwrap());
        let files = Arc::new(LossyFiles::default());
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 31 + 7) as u8).collect();
        let b = Block::encode(1, cids::RAW, data.clone());
        {
            let repo = Repo::open_with_files(dir.path(), files.clone()).unwrap();
            let s = repo.store();
            // What a writer's background thread does with a full batch.
            let batch: Batch = vec![(b.cid().hash().to_bytes(), Item::Data(data.clone()))];
            let mut stats = WriterStats::default();
            commit_batch(s, &batch, false, false, &mut stats).unwrap();
            assert_eq!(stats.files_new, 1);
            // A durable commit of its own that writes no file.
            crate::pins::pin_add(s, b.cid(), false).unwrap();
        }
        let lost = files.power_cut();
        let repo = Repo::open(dir.path()).unwrap();
        assert_eq!(
            crate::pins::pin_kind(repo.store(), b.cid()).unwrap(),
            Some(crate::pins::PinKind::Direct)
        );
        assert_eq!(lost, 0, "an unsynced block file was under a durable pin");
        assert_eq!(
            repo.store().get(b.cid()).unwrap().as_deref(),
            Some(&data[..])
        );
        assert!(repo.store().verify().unwrap().is_clean());
    }

    #[test]
    fn inline_space_estimate_covers_small_blocks() {
        use std::os::unix::fs::MetadataExt;
        let (_d, repo) = repo();
        let s = repo.store();
        let disk = || std::fs::metadata(s.db_path()).unwrap().blocks() * 512;
        let before = disk();
        let (mut stored, mut worst, mut largest) = (0u64, 0u64, 0u64);
        for round in 0..16u64 {
            let batch: Batch = (0..1024u64)
                .map(|i| {
                    let data = (round * 1024 + i).to_le_bytes().repeat(128);
                    let cid = cids::cid_of(1, cids::RAW, &data);
                    (cid.hash().to_bytes(), Item::Data(data))
                })
                .collect();
            let inline: u64 = batch
                .iter()
                .map(|(k, v)| match v {
                    Item::Data(d) => (k.len() + d.len()) as u64,
                    Item::Ref(_) => 0,
                })
                .sum();
            stored += inline;
            let mut stats = WriterStats::default();
            let start = disk();
            commit_batch(s, &batch, round % 4 == 3, false, &mut stats).unwrap();
            let grew = disk() - start;
            assert!(
                grew <= space_needed(inline, 0),
                "one commit of {inline} bytes grew the database by {grew}, over the estimate {}",
                space_needed(inline, 0)
            );
            worst = worst.max(grew);
            largest = largest.max(inline);
        }
        assert!(
            worst > 2 * largest,
            "a commit grew the database by {worst} at most: the old 2x estimate was enough"
        );
        assert!(disk() - before <= space_needed(stored, 0));
    }
}
