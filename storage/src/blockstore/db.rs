//! The database handle's plumbing: redb errors mapped to [`BlockError`] (and counted,
//! so a poisoned handle is reopened), the reopen hook, key parsing and key ranges.

use crate::block::BlockError;
use crate::util::hex;
use cid::multihash::Multihash;
use redb::{Database, ReadableTable};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLockReadGuard;

/// How long a reopen after a database I/O error waits for threads that are
/// beginning a transaction (one may wait for a running write) to let go of the
/// handle; after that the request fails and a later one reopens.
pub const DB_REOPEN_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Database I/O errors seen by this process (any store): after one, each store
/// checks its handle before the next transaction ([`Store::is_usable`](crate::blockstore::Store::is_usable)).
pub(super) static DB_IO_ERRORS: AtomicU64 = AtomicU64::new(0);

/// Opens the repo's database (again).
pub(crate) struct Opener(
    pub(crate) Box<dyn Fn() -> Result<Database, redb::DatabaseError> + Send + Sync>,
);

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Opener")
    }
}

/// A read lock on the open database handle.
pub(super) struct DbRef<'a>(pub(super) RwLockReadGuard<'a, Option<Database>>);

impl std::ops::Deref for DbRef<'_> {
    type Target = Database;
    fn deref(&self) -> &Database {
        // `Store::db` builds a `DbRef` only after checking the slot holds a handle,
        // and the slot cannot change while this read lock is held.
        self.0.as_ref().expect("checked by Store::db")
    }
}

/// Maps any redb error to a [`BlockError`], keeping corruption apart from I/O.
/// Counts (and logs) I/O errors: redb fails every later operation after one,
/// until the database is reopened ([`Store::is_usable`](crate::blockstore::Store::is_usable)).
pub(crate) fn db_err(e: impl Into<redb::Error>) -> BlockError {
    let e = e.into();
    match &e {
        redb::Error::Io(io) => {
            tracing::error!(error = %io, "repo database I/O error");
            DB_IO_ERRORS.fetch_add(1, Ordering::AcqRel);
        }
        redb::Error::PreviousIo | redb::Error::DatabaseClosed => {
            DB_IO_ERRORS.fetch_add(1, Ordering::AcqRel);
        }
        _ => {}
    }
    match e {
        redb::Error::Io(io) if io.raw_os_error() == Some(nix::libc::ENOSPC) => BlockError::NoSpace,
        redb::Error::Corrupted(s) => BlockError::Corrupted(s),
        redb::Error::TableDoesNotExist(t) => BlockError::Corrupted(format!("table {t} is missing")),
        other => BlockError::Io(other.to_string()),
    }
}

/// Parses a `blocks` key back into a multihash.
pub(crate) fn multihash_of_key(key: &[u8]) -> Result<Multihash<64>, BlockError> {
    Multihash::<64>::from_bytes(key).map_err(|e| {
        BlockError::Corrupted(format!(
            "blocks key {} is not a multihash: {e}",
            hex::encode(key)
        ))
    })
}

/// `table.range(after..)` excluding `after` itself; from the start when `None`.
pub(crate) fn range_after<'a, T, V>(
    t: &'a T,
    after: Option<&'a [u8]>,
) -> Result<redb::Range<'a, &'static [u8], V>, BlockError>
where
    T: ReadableTable<&'static [u8], V>,
    V: redb::Value + 'static,
{
    let lower = match after {
        Some(k) => Bound::Excluded(k),
        None => Bound::Unbounded,
    };
    t.range::<&[u8]>((lower, Bound::Unbounded)).map_err(db_err)
}
