//! The redb blockstore: blocks keyed by multihash.
//!
//! **What.** [`Store`] keeps every block in the `blocks` table of the repo's redb
//! database (map in [`crate::repo`]), key = multihash bytes, value = block bytes, so
//! CIDv0 and CIDv1 (and raw / dag-pb views) of the same bytes share one entry, as in
//! Kubo's flatfs/leveldb blockstore. It implements [`BlockSource`](crate::block::BlockSource); writes go through
//! [`Store::put_block`] (one block, one transaction) or a batching [`Writer`]
//! ([`BlockSink`](crate::block::BlockSink)) that commits one write transaction per [`WRITER_BATCH_BYTES`] or
//! [`WRITER_BATCH_BLOCKS`], never one per block: SD cards wear and are slow at small
//! random writes.
//!
//! **In-flight protection (the GC lock).** Blocks of an add that is still running are
//! not yet reachable from any pin, so a GC would sweep them. Every add, import or
//! `pin add` holds an [`AddGuard`] ([`Store::begin_add`]) from its first put until its
//! root is pinned (or it gives up); [`crate::gc`] takes the lock exclusively
//! ([`Store::begin_gc`]), waiting for running adds, and new adds wait for a running GC.
//! This is Kubo's `GCLocker` (`blockstore.GCLocker`: `PinLock` for adds, `GCLock` for
//! the collector, over one RW mutex). Between processes the repo flock already
//! excludes; the guard matters in the daemon, which runs adds and GC in one process.
//! Unlike Go's `RWMutex` the lock prefers adds: a new add does not wait for a GC that is
//! only *waiting*, so an add may take nested guards (an import calling `pin_add`)
//! without deadlock. The price: a steady stream of adds can postpone a GC.
//!
//! **Flow.** `Writer::put` checks the size limit and buffers; when a batch is full it
//! opens one write transaction, inserts the blocks not already stored, commits.
//! `flush`/`finish` commit the rest. Reads open a short read transaction each
//! (or use [`Store::snapshot`] for many reads against one consistent view).
//!
//! **I/O errors.** After one I/O error inside a write (ENOSPC when another process
//! filled the disk between the free-space check and the commit), redb fails every
//! later call on that handle. `db_err` counts such errors; before its next
//! transaction the store checks its handle and, if it is poisoned, closes the
//! database and opens it again (redb recovers its last commit), logging why.
//! [`Store::is_usable`] says whether that is pending or failed (the daemon feeds the
//! systemd watchdog only while it holds).
//!
//! **Durability of block files.** Block files go through a
//! [`BlockFiles`](crate::blockfiles::BlockFiles) layer and are synced (one
//! `syncfs`) before any durable commit that can name them, including files written
//! by earlier non-durable commits of any writer.
//!
//! **Limits.** Blocks over [`MAX_BLOCK_BYTES`](crate::block::MAX_BLOCK_BYTES) are refused. A `Writer` buffers at most
//! [`WRITER_BATCH_BYTES`] (+ one block) of block data. Streaming listings hold
//! [`ITER_BATCH_COUNT`] keys at a time, each batch from a fresh read transaction, so a
//! long listing does not pin old pages.
//!
//! **Departures.** Identity-hash CIDs are never stored (their data is the digest) and
//! always "present". A [`Writer`] dropped without `flush`/`finish` discards its buffer:
//! an add that failed half-way leaves only whole, unpinned batches behind, for GC.

mod counts;
mod db;
mod files;
mod gc_lock;
mod list;
mod read;
mod space;
mod store;
mod tables;
mod verify;
mod writer;

pub use counts::Counts;
pub use db::DB_REOPEN_WAIT;
pub(crate) use db::{db_err, multihash_of_key, Opener};
pub(crate) use files::remove_block_file;
pub use files::INLINE_MAX_BYTES;
pub(crate) use list::{key_batches, Which};
pub use list::{MultihashIter, RefIter, ITER_BATCH_COUNT};
pub use read::Snapshot;
pub use space::{
    free_bytes, space_needed, DEFAULT_MIN_FREE_BYTES, FS_BLOCK_BYTES, INLINE_SPACE_FACTOR,
};
pub use store::{AddGuard, GcGuard, Store, LAZY_COMMITS_PER_SYNC, WRITER_BATCH_BYTES};
pub(crate) use tables::{TableSource, WriteTables};
pub use verify::{CorruptBlock, StoreStats, VerifyReport};
pub use writer::{Writer, WriterStats, WRITER_BATCH_BLOCKS, WRITER_QUEUE_BATCHES};
