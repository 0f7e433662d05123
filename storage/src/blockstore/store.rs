//! The [`Store`] handle: the shared database handle (reopened after an I/O error),
//! single-block writes and removals, settings, and the GC lock's guards.

use super::counts::Counts;
use super::db::{db_err, DbRef, Opener, DB_IO_ERRORS, DB_REOPEN_WAIT};
use super::files::{remove_block_file, sync_files};
use super::gc_lock::GcLock;
use super::space::{free_bytes, inline_and_file_bytes, space_needed, DEFAULT_MIN_FREE_BYTES};
use super::tables::WriteTables;
use crate::block::{Block, BlockError, MAX_BLOCK_BYTES};
use crate::blockfiles::BlockFiles;
use crate::cids;
use crate::filestore::FileRef;
use crate::tables::FILESTORE;
use cid::Cid;
use redb::{Database, ReadableDatabase, WriteTransaction};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};

/// A [`Writer`](crate::blockstore::Writer) commits once its buffer holds this many bytes of block data, by
/// default ([`Store::set_writer_batch_bytes`] changes it per store: small boards use
/// less). Costs up to this much RAM per writer (plus one block), times
/// ([`WRITER_QUEUE_BATCHES`](crate::blockstore::WRITER_QUEUE_BATCHES) + 2), plus redb's dirty pages for one batch.
pub const WRITER_BATCH_BYTES: usize = 4 << 20;

/// One in this many [`Store::put_block_lazy`] commits is durable (with one syncfs).
pub const LAZY_COMMITS_PER_SYNC: u64 = 256;

/// The blockstore. Cheap to clone (shared handle).
#[derive(Debug, Clone)]
pub struct Store {
    pub(super) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(super) struct Inner {
    // Field order matters: the database closes before the repo lock is released.
    /// The database; `None` between closing a poisoned handle and reopening it.
    pub(super) db: RwLock<Option<Database>>,
    /// Opens the database again after an I/O error poisoned the handle.
    pub(super) opener: Opener,
    /// [`DB_IO_ERRORS`] when the handle was last found usable.
    pub(super) checked_errors: AtomicU64,
    /// False from finding the handle poisoned until a reopen succeeds.
    pub(super) usable: AtomicBool,
    /// The repo's flock: held while any clone of the store lives.
    pub(super) _lock: nix::fcntl::Flock<std::fs::File>,
    pub(super) path: PathBuf,
    /// `<repo>/blocks`: blocks over [`INLINE_MAX_BYTES`](crate::blockstore::INLINE_MAX_BYTES), one file each.
    pub(super) blocks_dir: PathBuf,
    /// Writes and syncs the block files ([`crate::blockfiles::OsFiles`] but in
    /// crash tests).
    pub(super) files: Arc<dyn BlockFiles>,
    pub(super) gc_lock: GcLock,
    pub(super) write_txns: AtomicU64,
    /// Block files written by non-durable commits ([`Store::put_block_lazy`], a
    /// [`Writer`](crate::blockstore::Writer)'s background batches) and not yet synced: every durable commit
    /// syncs them first, as it makes those commits' index entries durable too.
    pub(super) unsynced_files: std::sync::atomic::AtomicBool,
    /// Non-durable commits since the last durable one.
    pub(super) lazy_commits: AtomicU64,
    /// Free space to keep on the repo's filesystem, in bytes.
    pub(super) min_free_bytes: AtomicU64,
    /// A new [`Writer`](crate::blockstore::Writer)'s batch size, in bytes of block data.
    pub(super) writer_batch_bytes: std::sync::atomic::AtomicUsize,
    /// Writers commit intermediate batches on a thread of their own
    /// ([`Store::set_background_writer`]).
    pub(super) background_writer: AtomicBool,
    /// The repo's budget: block bytes of copies it may hold ([`Store::set_storage_max_bytes`]).
    pub(super) storage_max_bytes: AtomicU64,
    /// [`Store::stored_bytes_hint`].
    pub(super) bytes_hint: AtomicU64,
}

pub(super) fn check_size(cid: &Cid, len: usize) -> Result<(), BlockError> {
    if len > MAX_BLOCK_BYTES {
        return Err(BlockError::TooLarge {
            cid: *cid,
            len,
            limit: MAX_BLOCK_BYTES,
        });
    }
    Ok(())
}

/// Held by an add/import until its root is pinned; keeps GC from running.
/// `Send`, not tied to a borrow, so a daemon task can hold it.
#[derive(Debug)]
pub struct AddGuard {
    pub(super) store: Store,
}

impl Drop for AddGuard {
    fn drop(&mut self) {
        self.store.inner.gc_lock.unlock_shared();
    }
}

/// Held by a GC for its whole run; keeps adds from starting.
#[derive(Debug)]
pub struct GcGuard {
    pub(super) store: Store,
}

impl Drop for GcGuard {
    fn drop(&mut self) {
        self.store.inner.gc_lock.unlock_exclusive();
    }
}

impl Store {
    /// `lock` is the repo's flock, released when the last clone is dropped.
    pub(crate) fn new(
        db: Database,
        opener: Opener,
        path: PathBuf,
        blocks_dir: PathBuf,
        files: Arc<dyn BlockFiles>,
        lock: nix::fcntl::Flock<std::fs::File>,
    ) -> Store {
        let store = Store {
            inner: Arc::new(Inner {
                db: RwLock::new(Some(db)),
                opener,
                checked_errors: AtomicU64::new(DB_IO_ERRORS.load(Ordering::Acquire)),
                usable: AtomicBool::new(true),
                _lock: lock,
                path,
                blocks_dir,
                files,
                gc_lock: GcLock::default(),
                write_txns: AtomicU64::new(0),
                unsynced_files: std::sync::atomic::AtomicBool::new(false),
                lazy_commits: AtomicU64::new(0),
                min_free_bytes: AtomicU64::new(DEFAULT_MIN_FREE_BYTES),
                writer_batch_bytes: std::sync::atomic::AtomicUsize::new(WRITER_BATCH_BYTES),
                background_writer: AtomicBool::new(true),
                storage_max_bytes: AtomicU64::new(u64::MAX),
                bytes_hint: AtomicU64::new(0),
            }),
        };
        // The totals as opened (an unreadable table reads as 0 until the first commit).
        if let Ok(c) = store.counts() {
            store.inner.bytes_hint.store(c.bytes, Ordering::Relaxed);
        }
        store
    }

    /// Sets the batch size of writers made from now on (bytes of block data per
    /// write transaction; at least one block is always taken).
    pub fn set_writer_batch_bytes(&self, bytes: usize) {
        self.inner
            .writer_batch_bytes
            .store(bytes.max(1), Ordering::Relaxed);
    }

    /// Whether writers made from now on commit their intermediate batches on a
    /// thread of their own (`acorn-writer`, the default: hashing the next batch
    /// overlaps writing this one) or in the caller's thread (one thread fewer; on a
    /// one-core board nothing overlaps anyway).
    pub fn set_background_writer(&self, on: bool) {
        self.inner.background_writer.store(on, Ordering::Relaxed);
    }

    /// Whether writers commit intermediate batches on their own thread.
    pub(super) fn background_writer(&self) -> bool {
        self.inner.background_writer.load(Ordering::Relaxed)
    }

    /// Sets the repo's budget: the block bytes (copies; filestore references cost
    /// none) it may hold. A write that would pass it fails with
    /// [`BlockError::RepoFull`] and stores nothing. Unlimited (`u64::MAX`) by default.
    pub fn set_storage_max_bytes(&self, bytes: u64) {
        self.inner.storage_max_bytes.store(bytes, Ordering::Relaxed);
    }

    /// The repo's budget ([`Store::set_storage_max_bytes`]).
    pub fn storage_max_bytes(&self) -> u64 {
        self.inner.storage_max_bytes.load(Ordering::Relaxed)
    }

    /// Sets the free space writes must leave on the repo's filesystem.
    pub fn set_min_free_bytes(&self, bytes: u64) {
        self.inner.min_free_bytes.store(bytes, Ordering::Relaxed);
    }

    /// Checks that writing a file of `incoming` bytes (a spool, a block file)
    /// leaves the reserve free.
    pub fn check_space(&self, incoming: u64) -> Result<(), BlockError> {
        self.check_write_space(0, incoming)
    }

    /// Checks that a commit storing `inline_bytes` of keys and values in the
    /// database and `file_bytes` of block files leaves the reserve free
    /// ([`space_needed`]).
    pub(super) fn check_write_space(
        &self,
        inline_bytes: u64,
        file_bytes: u64,
    ) -> Result<(), BlockError> {
        let reserve = self.inner.min_free_bytes.load(Ordering::Relaxed);
        let free = free_bytes(&self.inner.path)?;
        let needed = reserve.saturating_add(space_needed(inline_bytes, file_bytes));
        if free < needed {
            return Err(BlockError::DiskFull {
                path: self.inner.path.clone(),
                free,
                needed,
            });
        }
        Ok(())
    }

    /// Begins a read transaction on the database (reopened first if an I/O error
    /// poisoned it).
    pub(crate) fn begin_read(&self) -> Result<redb::ReadTransaction, BlockError> {
        self.db()?.begin_read().map_err(db_err)
    }

    /// The open database. When a database I/O error was seen since the last check,
    /// first checks the handle and, if the error poisoned it, reopens the database.
    pub(super) fn db(&self) -> Result<DbRef<'_>, BlockError> {
        let seen = DB_IO_ERRORS.load(Ordering::Acquire);
        if seen != self.inner.checked_errors.load(Ordering::Acquire)
            || !self.inner.usable.load(Ordering::Acquire)
        {
            self.check_db(seen)?;
        }
        let slot = self.db_slot();
        if slot.is_none() {
            return Err(BlockError::Io(
                "the repo database is closed after an I/O error and could not be reopened yet"
                    .into(),
            ));
        }
        Ok(DbRef(slot))
    }

    pub(super) fn db_slot(&self) -> RwLockReadGuard<'_, Option<Database>> {
        // A panic while holding the lock leaves a handle or `None`: both valid.
        self.inner.db.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the database works, as far as this handle knows without I/O: false
    /// from a database I/O error until a check finds the handle fine or a reopen
    /// succeeds. The daemon feeds the systemd watchdog only while this holds.
    pub fn is_usable(&self) -> bool {
        self.inner.usable.load(Ordering::Acquire)
            && DB_IO_ERRORS.load(Ordering::Acquire)
                == self.inner.checked_errors.load(Ordering::Acquire)
    }

    /// Checks the database handle now, reopening the database if an I/O error
    /// poisoned it. `Ok` when it is usable afterwards.
    pub fn check_health(&self) -> Result<(), BlockError> {
        self.check_db(DB_IO_ERRORS.load(Ordering::Acquire))
    }

    /// Whether the handle is poisoned (redb fails everything after one I/O error
    /// until the database is closed and opened again). Does no I/O; never waits.
    pub(super) fn poisoned(db: Option<&Database>) -> bool {
        let Some(db) = db else { return true };
        match db.try_begin_write() {
            // Dropped unused: an aborted, empty transaction.
            Ok(_) => false,
            Err(e) => matches!(
                redb::Error::from(e),
                redb::Error::PreviousIo | redb::Error::Io(_) | redb::Error::DatabaseClosed
            ),
        }
    }

    pub(super) fn check_db(&self, seen: u64) -> Result<(), BlockError> {
        if !Self::poisoned(self.db_slot().as_ref()) {
            self.inner.checked_errors.store(seen, Ordering::Release);
            self.inner.usable.store(true, Ordering::Release);
            return Ok(());
        }
        self.inner.usable.store(false, Ordering::Release);
        self.reopen()?;
        self.inner.checked_errors.store(seen, Ordering::Release);
        self.inner.usable.store(true, Ordering::Release);
        Ok(())
    }

    /// Closes the poisoned database and opens it again (redb recovers the last
    /// committed state). Waits up to [`DB_REOPEN_WAIT`] for transactions being
    /// begun to let go of the handle.
    pub(super) fn reopen(&self) -> Result<(), BlockError> {
        let deadline = std::time::Instant::now() + DB_REOPEN_WAIT;
        let mut slot = loop {
            match self.inner.db.try_write() {
                Ok(g) => break g,
                Err(std::sync::TryLockError::Poisoned(p)) => break p.into_inner(),
                Err(std::sync::TryLockError::WouldBlock)
                    if std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(5))
                }
                Err(std::sync::TryLockError::WouldBlock) => {
                    return Err(BlockError::Io(
                        "the repo database failed with an I/O error and is busy; \
                         it is reopened on a later request"
                            .into(),
                    ))
                }
            }
        };
        // Another thread may have reopened it while we waited.
        if !Self::poisoned(slot.as_ref()) {
            return Ok(());
        }
        if let Some(old) = slot.take() {
            tracing::error!(
                path = %self.inner.path.display(),
                "the repo database failed with an I/O error (see the error logged before); closing and reopening it"
            );
            // Its error is the one that poisoned it, already logged.
            let _ = old.close();
        }
        match (self.inner.opener.0)() {
            Ok(db) => {
                *slot = Some(db);
                tracing::warn!(path = %self.inner.path.display(), "repo database reopened");
                Ok(())
            }
            Err(e) => {
                tracing::error!(path = %self.inner.path.display(), error = %e, "reopening the repo database failed; retrying on the next request");
                Err(BlockError::Io(format!(
                    "the repo database failed with an I/O error and reopening it failed: {e}"
                )))
            }
        }
    }

    /// Path of the database file.
    pub fn db_path(&self) -> &Path {
        &self.inner.path
    }

    /// Begins a write transaction and counts it (see [`Store::write_txn_count`]).
    pub(crate) fn begin_write(&self) -> Result<WriteTransaction, BlockError> {
        let txn = self.db()?.begin_write().map_err(db_err)?;
        self.inner.write_txns.fetch_add(1, Ordering::Relaxed);
        Ok(txn)
    }

    /// Commits a transaction that changed the index tables, then publishes its
    /// totals for [`Store::stored_bytes_hint`].
    pub(crate) fn commit_with(
        &self,
        txn: WriteTransaction,
        totals: Counts,
    ) -> Result<(), BlockError> {
        txn.commit().map_err(db_err)?;
        self.inner.bytes_hint.store(totals.bytes, Ordering::Relaxed);
        Ok(())
    }

    /// The block bytes stored as of the last commit this handle made (no I/O: an
    /// atomic read, for a daemon's watermark check; two commits finishing at once
    /// may publish out of order, so read [`Store::counts`] for the exact figure).
    pub fn stored_bytes_hint(&self) -> u64 {
        self.inner.bytes_hint.load(Ordering::Relaxed)
    }

    /// Number of write transactions this handle has begun since the repo was opened
    /// (tests check that writes are batched).
    pub fn write_txn_count(&self) -> u64 {
        self.inner.write_txns.load(Ordering::Relaxed)
    }

    /// Directory of the blocks kept as files.
    pub fn blocks_dir(&self) -> &Path {
        &self.inner.blocks_dir
    }

    /// Stores one verified block in its own durable transaction. Returns whether it
    /// was new to the blockstore (a filestore reference does not count).
    pub fn put_block(&self, block: &Block) -> Result<bool, BlockError> {
        check_size(block.cid(), block.data().len())?;
        if block.cid().hash().code() == cids::IDENTITY {
            return Ok(false);
        }
        let key_len = block.cid().hash().encoded_len();
        let (inline, files) = inline_and_file_bytes(key_len, block.data().len());
        self.check_write_space(inline, files)?;
        let txn = self.begin_write()?;
        let (new, totals) = {
            let mut t = WriteTables::open(&txn)?;
            let key = block.cid().hash().to_bytes();
            let new = t.insert_if_absent(
                self.files(),
                &self.inner.blocks_dir,
                &key,
                block.data(),
                self.storage_max_bytes(),
            )?;
            if new == Some(true) {
                self.sync_all_files()?;
            } else {
                self.sync_pending()?;
            }
            (new.is_some(), t.totals())
        };
        self.commit_with(txn, totals)?;
        Ok(new)
    }

    /// Stores one verified block like [`Store::put_block`] but without waiting for the
    /// disk: the commit is non-durable (no fsync) and its block file is not synced, so
    /// a crash may lose it (never half-store it). For blocks fetched from the network,
    /// which are a cache until pinned: pinning syncs first ([`Store::sync_pending`]).
    /// Every [`LAZY_COMMITS_PER_SYNC`]th commit is durable, bounding what a crash loses.
    pub fn put_block_lazy(&self, block: &Block) -> Result<bool, BlockError> {
        check_size(block.cid(), block.data().len())?;
        if block.cid().hash().code() == cids::IDENTITY {
            return Ok(false);
        }
        let key_len = block.cid().hash().encoded_len();
        let (inline, files) = inline_and_file_bytes(key_len, block.data().len());
        self.check_write_space(inline, files)?;
        let durable =
            self.inner.lazy_commits.fetch_add(1, Ordering::Relaxed) + 1 >= LAZY_COMMITS_PER_SYNC;
        let mut txn = self.begin_write()?;
        if !durable {
            txn.set_durability(redb::Durability::None).map_err(db_err)?;
        }
        let (new, totals) = {
            let mut t = WriteTables::open(&txn)?;
            let key = block.cid().hash().to_bytes();
            let new = t.insert_if_absent(
                self.files(),
                &self.inner.blocks_dir,
                &key,
                block.data(),
                self.storage_max_bytes(),
            )?;
            if new == Some(true) {
                self.inner.unsynced_files.store(true, Ordering::SeqCst);
            }
            (new.is_some(), t.totals())
        };
        if durable {
            self.sync_pending()?;
            self.inner.lazy_commits.store(0, Ordering::Relaxed);
        }
        self.commit_with(txn, totals)?;
        Ok(new)
    }

    /// Syncs block files written by non-durable commits, if any. Call before a
    /// durable commit that makes blocks relied on (a pin).
    pub fn sync_pending(&self) -> Result<(), BlockError> {
        if self.inner.unsynced_files.swap(false, Ordering::SeqCst) {
            if let Err(e) = sync_files(self.files(), &self.inner.blocks_dir) {
                self.inner.unsynced_files.store(true, Ordering::SeqCst);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Syncs every block file written so far (this commit's and earlier unsynced
    /// ones: one `syncfs` covers both).
    pub(super) fn sync_all_files(&self) -> Result<(), BlockError> {
        self.inner.unsynced_files.store(false, Ordering::SeqCst);
        if let Err(e) = sync_files(self.files(), &self.inner.blocks_dir) {
            self.inner.unsynced_files.store(true, Ordering::SeqCst);
            return Err(e);
        }
        Ok(())
    }

    /// The block files' layer.
    pub(crate) fn files(&self) -> &dyn BlockFiles {
        &*self.inner.files
    }

    /// Removes a block (whatever CID version or codec names it) from the blockstore
    /// and the filestore (the referenced file itself is never touched). Returns
    /// whether it was stored. Does not look at pins: callers (`block rm`) check those.
    pub fn remove(&self, cid: &Cid) -> Result<bool, BlockError> {
        if cid.hash().code() == cids::IDENTITY {
            return Ok(false);
        }
        let key = cid.hash().to_bytes();
        let txn = self.begin_write()?;
        let mut t = WriteTables::open(&txn)?;
        let removed = t.remove(&key)?;
        let totals = t.totals();
        drop(t);
        self.commit_with(txn, totals)?;
        if removed.file {
            remove_block_file(self.files(), &self.inner.blocks_dir, &key);
        }
        Ok(removed.any)
    }

    /// Removes only the filestore reference of a block (`filestore rm`); the user's
    /// file is never touched. Returns whether there was one.
    pub fn remove_ref(&self, cid: &Cid) -> Result<bool, BlockError> {
        let txn = self.begin_write()?;
        let mut t = WriteTables::open(&txn)?;
        let removed = t.remove_ref(&cid.hash().to_bytes())?;
        let totals = t.totals();
        drop(t);
        self.commit_with(txn, totals)?;
        Ok(removed)
    }

    /// The filestore reference of a block, if it has one.
    pub fn file_ref(&self, cid: &Cid) -> Result<Option<FileRef>, BlockError> {
        let txn = self.begin_read()?;
        let t = txn.open_table(FILESTORE).map_err(db_err)?;
        let v = t.get(cid.hash().to_bytes().as_slice()).map_err(db_err)?;
        v.map(|g| FileRef::decode(g.value())).transpose()
    }

    /// Writes `data` under `cid`'s key with no size or hash check. Only for tests that
    /// simulate a corrupted disk; never call it from node code.
    #[doc(hidden)]
    pub fn debug_put_unverified(&self, cid: &Cid, data: &[u8]) -> Result<(), BlockError> {
        let txn = self.begin_write()?;
        let mut t = WriteTables::open(&txn)?;
        t.insert_inline_unchecked(&cid.hash().to_bytes(), data)?;
        let totals = t.totals();
        drop(t);
        self.commit_with(txn, totals)
    }

    /// Marks the start of an add/import: until the returned guard is dropped (after the
    /// root is pinned), no GC runs. Waits while a GC is running.
    pub fn begin_add(&self) -> AddGuard {
        self.inner.gc_lock.lock_shared();
        AddGuard {
            store: self.clone(),
        }
    }

    /// Takes the GC lock exclusively: waits until no add is in flight, then keeps new
    /// adds waiting until the guard is dropped. [`crate::gc::collect`] calls this.
    pub fn begin_gc(&self) -> GcGuard {
        self.inner.gc_lock.lock_exclusive();
        GcGuard {
            store: self.clone(),
        }
    }

    /// Number of adds holding an [`AddGuard`] now.
    pub fn adds_in_flight(&self) -> usize {
        self.inner.gc_lock.state().adds
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::repo::Repo;

    /// A fresh repo in a temporary directory (the directory goes with the guard).
    pub(in crate::blockstore) fn repo() -> (tempfile::TempDir, Repo) {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::init(dir.path()).unwrap();
        (dir, repo)
    }

    #[test]
    fn put_get_remove() {
        let (_d, repo) = repo();
        let s = repo.store();
        let b = Block::encode(1, cids::RAW, b"hello".to_vec());
        assert!(s.put_block(&b).unwrap());
        assert!(!s.put_block(&b).unwrap());
        assert_eq!(s.get(b.cid()).unwrap().as_deref(), Some(&b"hello"[..]));
        assert_eq!(s.stat(b.cid()).unwrap(), Some(5));
        assert!(s.remove(b.cid()).unwrap());
        assert!(!s.has(b.cid()).unwrap());
        assert!(!s.remove(b.cid()).unwrap());
    }

    #[test]
    fn gc_lock_excludes() {
        let (_d, repo) = repo();
        let s = repo.store();
        let a = s.begin_add();
        let nested = s.begin_add(); // nested shared guards never deadlock
        assert_eq!(s.adds_in_flight(), 2);
        drop(nested);
        drop(a);
        let g = s.begin_gc();
        assert_eq!(s.adds_in_flight(), 0);
        drop(g);
        let _a = s.begin_add();
    }
}
