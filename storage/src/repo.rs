//! The repo directory: layout, lock, format version.
//!
//! **What.** A repo is a directory (`$ACORN_PATH`, default `~/.acorn`) holding one redb
//! database and a lock file. [`Repo::init`] creates it, [`Repo::open`] opens it for
//! exclusive use by this process; both hand back a [`Repo`] that owns the
//! [`Store`] used by blocks, pins and GC. The config file and
//! the node identity live in the same directory but are written by the binary (`src/`),
//! which finds the directory through [`Repo::path`].
//!
//! **Layout.**
//! ```text
//! <repo>/
//!   datastore.redb   the redb database (tables mapped in crate::tables)
//!   blocks/XX/<hex multihash>.data
//!                    blocks over INLINE_MAX_BYTES (16 KiB), one file each, named by
//!                    the hex of their multihash; XX = hex of its last byte (256 dirs)
//!   backup/datastore.redb.v<N>
//!                    the database as format N left it, copied before an upgrade
//!                    rewrote it (see Upgrades)
//!   repo.lock        flock(2)ed exclusively while a process has the repo open;
//!                    holds that process's PID as decimal text padded with spaces
//!                    to LOCK_PID_RECORD_BYTES, overwritten in place by each
//!                    holder, best-effort (stale after exit)
//! ```
//!
//! **Tables** of `datastore.redb` (format [`REPO_FORMAT_VERSION`]): mapped, with one
//! definition each, in `storage/src/tables.rs`.
//!
//! **Flow.** `init`: create the directory, take the lock, refuse if `datastore.redb`
//! exists, build the database under a temporary name (all tables + version) and rename
//! it into place, so a crash during init leaves no half-made repo. `open`: refuse if
//! `datastore.redb` is missing, take the lock (or report the holder's PID), write our
//! PID if the file system lets us (the flock is the lock; the PID is a courtesy, and
//! a full disk must not keep GC from running), open the database, check the format
//! version (upgrading an older one).
//!
//! **Upgrades.** A repo of an older format is upgraded in place when it is opened
//! (`acorn repo migrate` does only that; the .deb's postinst runs it): first the
//! database file is copied to `backup/datastore.redb.v<old>` (written under a
//! temporary name, synced, renamed; no room for it = no upgrade, the repo stays as
//! it was), then one durable write transaction makes every change and writes the
//! new version, so a crash leaves the old format or the new one. Block files are
//! never rewritten by an upgrade, so the backup is the database alone. To go back
//! to an older Acorn: stop the daemon, copy `backup/datastore.redb.v<old>` over
//! `datastore.redb` (blocks added since the upgrade are then unknown to the index;
//! the next GC removes their files). Steps: 1 → 2 adds the `block_files` and
//! `filestore` tables (format 1 kept every block inline); 2 → 3 adds `counts`,
//! computed from the index tables (one pass over them). A repo of a newer format
//! than this build knows is refused with [`RepoError::TooNew`], untouched.
//! Repos written by formats 1 and 2 are kept in `storage/tests/data/` (made by
//! `write_old_format_fixtures` in the tests below) and opened by the tests.
//!
//! **Limits.** [`DB_CACHE_BYTES`] (or [`set_db_cache_bytes`]) bounds redb's page cache (its default is 1 GiB, too
//! much for a 512 MiB board).
//!
//! **Full file system.** Opening needs no free block (the lock file's PID record is
//! rewritten in place, best-effort). `pin rm` and GC then commit by reusing pages
//! free inside `datastore.redb` (redb grows its file in regions and frees the
//! pages a transaction replaces), and GC removes block files, so on a full disk
//! they give space back; a commit that finds no free page in the file and needs
//! to grow it fails with an I/O error, and the way out is to free some space
//! outside the repo first.
//!
//! **Departures from Kubo.** Kubo's `repo.lock` is a `go4.org/lock` file lock; ours is
//! flock(2) on the same-named file, so the two cannot share a directory anyway (Kubo
//! uses `~/.ipfs`). Kubo keeps a `version` file; we keep the version inside the database.

use crate::blockfiles::{BlockFiles, OsFiles};
use crate::blockstore::{Counts, Opener, Store};
use crate::tables;
use nix::fcntl::{Flock, FlockArg};
use redb::ReadableDatabase;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// On-disk format version of `datastore.redb`. Bump it when a table's key or value
/// layout changes, with an upgrade step (module doc, Upgrades); [`Repo::open`]
/// upgrades older versions and refuses newer ones.
/// Version 1 had no `block_files`/`filestore` tables (its blocks were all inline);
/// version 2 had no `counts` table.
pub const REPO_FORMAT_VERSION: u64 = 3;

/// Directory inside the repo holding the copies of the database made before upgrades.
pub const BACKUP_DIR: &str = "backup";

/// Directory inside the repo holding blocks kept as files.
pub const BLOCKS_DIR: &str = "blocks";

/// File name of the redb database inside the repo directory.
pub const DATASTORE_FILE: &str = "datastore.redb";

/// File name of the lock file inside the repo directory.
pub const LOCK_FILE: &str = "repo.lock";

/// Bytes of page cache redb may use, by default ([`set_db_cache_bytes`] changes it
/// for repos opened later: small boards use less). Costs up to this much RAM while
/// the repo is open.
pub const DB_CACHE_BYTES: usize = 8 << 20;

/// The page cache of databases opened from now on (process-wide: one node, one repo).
static DB_CACHE: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(DB_CACHE_BYTES);

/// Sets redb's page cache, in bytes, for every database opened after the call.
pub fn set_db_cache_bytes(bytes: usize) {
    DB_CACHE.store(bytes, std::sync::atomic::Ordering::Relaxed);
}

/// Key in the `meta` table holding [`REPO_FORMAT_VERSION`].
const META_FORMAT_VERSION: &str = "format_version";

/// Temporary name the database is built under during `init`.
const DATASTORE_TMP_FILE: &str = "datastore.redb.init";

/// Errors of creating and opening a repo.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// `init` on a repo that exists.
    #[error("repo at {path} is already initialised")]
    AlreadyInitialized {
        /// The repo.
        path: PathBuf,
    },
    /// No repo at the path.
    #[error("no repo at {path} (run `acorn init` first)")]
    NotInitialized {
        /// The path.
        path: PathBuf,
    },
    /// Another process holds the repo lock.
    #[error("repo is locked by PID {pid}")]
    Locked {
        /// Its process id.
        pid: u32,
    },
    /// A repo written by a newer Acorn (a format this build does not know).
    #[error(
        "repo at {path} has format version {found}, newer than this Acorn reads (up to \
         {supported}): it was upgraded by a newer Acorn; run that version, or restore \
         the copy an upgrade left in {}",
        path.parent().unwrap_or(path).join(BACKUP_DIR).display()
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The version it has.
        found: u64,
        /// The newest version this build reads.
        supported: u64,
    },
    /// The repo's files are damaged (repair, do not retry).
    #[error("repo at {path} is corrupted: {reason}")]
    Corrupted {
        /// The repo.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A repo file could not be read or written.
    #[error("repo at {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The index database refused to open or commit.
    #[error("repo database {path}: {reason}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// redb's message.
        reason: String,
    },
}

/// An open, locked repo. The lock is held, and the database open, until the `Repo`
/// and every clone of its [`Store`] are dropped.
#[derive(Debug)]
pub struct Repo {
    path: PathBuf,
    store: Store,
    /// The format this open upgraded from, if it upgraded.
    upgraded_from: Option<u64>,
}

impl Repo {
    /// Creates a repo at `path` (the directory may exist; a database in it may not)
    /// and returns it open and locked.
    pub fn init(path: impl AsRef<Path>) -> Result<Repo, RepoError> {
        let path = path.as_ref().to_path_buf();
        std::fs::create_dir_all(&path).map_err(|e| io_err(&path, e))?;
        let lock = take_lock(&path)?;
        let db_path = path.join(DATASTORE_FILE);
        if db_path.exists() {
            return Err(RepoError::AlreadyInitialized { path });
        }
        let tmp = path.join(DATASTORE_TMP_FILE);
        // A leftover from a crashed init is ours to replace: we hold the lock.
        if tmp.exists() {
            std::fs::remove_file(&tmp).map_err(|e| io_err(&tmp, e))?;
        }
        {
            let db = builder()
                .create(&tmp)
                .map_err(|e| db_error(&tmp, e.into()))?;
            let txn = db.begin_write().map_err(|e| db_error(&tmp, e.into()))?;
            {
                let mut meta = txn
                    .open_table(tables::META)
                    .map_err(|e| db_error(&tmp, e.into()))?;
                meta.insert(META_FORMAT_VERSION, REPO_FORMAT_VERSION)
                    .map_err(|e| db_error(&tmp, e.into()))?;
                txn.open_table(tables::BLOCKS)
                    .map_err(|e| db_error(&tmp, e.into()))?;
                txn.open_table(tables::BLOCK_FILES)
                    .map_err(|e| db_error(&tmp, e.into()))?;
                txn.open_table(tables::FILESTORE)
                    .map_err(|e| db_error(&tmp, e.into()))?;
                txn.open_table(tables::PINS)
                    .map_err(|e| db_error(&tmp, e.into()))?;
                txn.open_table(tables::GC_MARKS)
                    .map_err(|e| db_error(&tmp, e.into()))?;
                txn.open_table(tables::GC_QUEUE)
                    .map_err(|e| db_error(&tmp, e.into()))?;
                let mut counts = txn
                    .open_table(tables::COUNTS)
                    .map_err(|e| db_error(&tmp, e.into()))?;
                Counts::default()
                    .write(&mut counts)
                    .map_err(|e| store_error(&tmp, e))?;
            }
            txn.commit().map_err(|e| db_error(&tmp, e.into()))?;
        }
        std::fs::rename(&tmp, &db_path).map_err(|e| io_err(&db_path, e))?;
        // Make the rename durable before anyone relies on the repo existing.
        if let Ok(dir) = File::open(&path) {
            let _ = dir.sync_all();
        }
        Self::open_locked(path, lock)
    }

    /// Opens an initialised repo for exclusive use by this process.
    pub fn open(path: impl AsRef<Path>) -> Result<Repo, RepoError> {
        let path = path.as_ref().to_path_buf();
        if !Self::is_initialized(&path) {
            return Err(RepoError::NotInitialized { path });
        }
        let lock = take_lock(&path)?;
        Self::open_locked(path, lock)
    }

    /// Whether `path` holds an initialised repo (its database exists).
    pub fn is_initialized(path: impl AsRef<Path>) -> bool {
        path.as_ref().join(DATASTORE_FILE).is_file()
    }

    /// Opens an initialised repo whose block files go through `files` instead of
    /// the file system directly (crash tests put a fault-injecting layer there).
    pub fn open_with_files(
        path: impl AsRef<Path>,
        files: Arc<dyn BlockFiles>,
    ) -> Result<Repo, RepoError> {
        let path = path.as_ref().to_path_buf();
        if !Self::is_initialized(&path) {
            return Err(RepoError::NotInitialized { path });
        }
        let lock = take_lock(&path)?;
        Self::open_locked_with(path, lock, files)
    }

    fn open_locked(path: PathBuf, lock: Flock<File>) -> Result<Repo, RepoError> {
        Self::open_locked_with(path, lock, Arc::new(OsFiles))
    }

    fn open_locked_with(
        path: PathBuf,
        lock: Flock<File>,
        files: Arc<dyn BlockFiles>,
    ) -> Result<Repo, RepoError> {
        let db_path = path.join(DATASTORE_FILE);
        let opener = {
            let db_path = db_path.clone();
            Opener(Box::new(move || builder().open(&db_path)))
        };
        Self::open_db_with(path, lock, files, opener)
    }

    /// Opens the database with `opener` (tests pass one with a failing backend).
    pub(crate) fn open_db_with(
        path: PathBuf,
        lock: Flock<File>,
        files: Arc<dyn BlockFiles>,
        opener: Opener,
    ) -> Result<Repo, RepoError> {
        let db_path = path.join(DATASTORE_FILE);
        let db = (opener.0)().map_err(|e| db_error(&db_path, e.into()))?;
        let found = {
            let txn = db.begin_read().map_err(|e| db_error(&db_path, e.into()))?;
            let meta = txn
                .open_table(tables::META)
                .map_err(|e| db_error(&db_path, e.into()))?;
            let v = meta
                .get(META_FORMAT_VERSION)
                .map_err(|e| db_error(&db_path, e.into()))?;
            v.map(|g| g.value())
        };
        let upgraded_from = match found {
            None => {
                return Err(RepoError::Corrupted {
                    path: db_path,
                    reason: "no format version in the meta table".into(),
                })
            }
            Some(v) if v > REPO_FORMAT_VERSION => {
                return Err(RepoError::TooNew {
                    path: db_path,
                    found: v,
                    supported: REPO_FORMAT_VERSION,
                })
            }
            Some(0) => {
                return Err(RepoError::Corrupted {
                    path: db_path,
                    reason: "format version 0 does not exist".into(),
                })
            }
            Some(v) if v < REPO_FORMAT_VERSION => {
                backup_database(&path, &db_path, v)?;
                upgrade(&db, &db_path, v)?;
                Some(v)
            }
            Some(_) => None,
        };
        let blocks_dir = path.join(BLOCKS_DIR);
        std::fs::create_dir_all(&blocks_dir).map_err(|e| io_err(&blocks_dir, e))?;
        Ok(Repo {
            store: Store::new(db, opener, db_path, blocks_dir, files, lock),
            path,
            upgraded_from,
        })
    }

    /// The repo directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The blockstore (also the handle pins and GC work on). Cheap to clone.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The format version this open upgraded the repo from (`None`: it was current).
    pub fn upgraded_from(&self) -> Option<u64> {
        self.upgraded_from
    }

    /// Where the copy of the database an upgrade from `version` made is kept.
    pub fn backup_path(repo: impl AsRef<Path>, version: u64) -> PathBuf {
        repo.as_ref()
            .join(BACKUP_DIR)
            .join(format!("{DATASTORE_FILE}.v{version}"))
    }
}

/// Copies the database (format `version`, open, no transaction running) to
/// [`Repo::backup_path`]: to a temporary name, synced, renamed, directory synced.
fn backup_database(repo: &Path, db_path: &Path, version: u64) -> Result<(), RepoError> {
    let dest = Repo::backup_path(repo, version);
    let dir = repo.join(BACKUP_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
    let tmp = dest.with_extension("tmp");
    let copy = || -> std::io::Result<()> {
        std::fs::copy(db_path, &tmp)?;
        File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &dest)?;
        File::open(&dir)?.sync_all()
    };
    if let Err(e) = copy() {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(&dest, e));
    }
    tracing::info!(backup = %dest.display(), "repo database copied before its upgrade from format {version}");
    Ok(())
}

/// Upgrades format `from` to [`REPO_FORMAT_VERSION`] in one durable transaction,
/// so a crash leaves the old version or the new one, never a mix. 1 → 2: the
/// (empty) `block_files` and `filestore` tables; 2 → 3: the `counts` table,
/// computed from the index tables.
fn upgrade(db: &redb::Database, db_path: &Path, from: u64) -> Result<(), RepoError> {
    let e = |e: redb::Error| db_error(db_path, e);
    let txn = db.begin_write().map_err(|x| e(x.into()))?;
    {
        let blocks = txn.open_table(tables::BLOCKS).map_err(|x| e(x.into()))?;
        let files = txn
            .open_table(tables::BLOCK_FILES)
            .map_err(|x| e(x.into()))?;
        let fstore = txn.open_table(tables::FILESTORE).map_err(|x| e(x.into()))?;
        let counts =
            Counts::recount(&blocks, &files, &fstore).map_err(|x| store_error(db_path, x))?;
        let mut table = txn.open_table(tables::COUNTS).map_err(|x| e(x.into()))?;
        counts
            .write(&mut table)
            .map_err(|x| store_error(db_path, x))?;
        txn.open_table(tables::META)
            .map_err(|x| e(x.into()))?
            .insert(META_FORMAT_VERSION, REPO_FORMAT_VERSION)
            .map_err(|x| e(x.into()))?;
    }
    txn.commit().map_err(|x| e(x.into()))?;
    tracing::info!("repo upgraded from format {from} to {REPO_FORMAT_VERSION}");
    Ok(())
}

/// A blockstore error met while opening or upgrading the repo.
fn store_error(path: &Path, e: crate::BlockError) -> RepoError {
    match e {
        crate::BlockError::Corrupted(reason) => RepoError::Corrupted {
            path: path.to_path_buf(),
            reason,
        },
        other => RepoError::Database {
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    }
}

fn builder() -> redb::Builder {
    let mut b = redb::Builder::new();
    b.set_cache_size(DB_CACHE.load(std::sync::atomic::Ordering::Relaxed));
    b
}

fn io_err(path: &Path, source: std::io::Error) -> RepoError {
    RepoError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn db_error(path: &Path, e: redb::Error) -> RepoError {
    match e {
        redb::Error::Corrupted(reason) => RepoError::Corrupted {
            path: path.to_path_buf(),
            reason,
        },
        redb::Error::TableDoesNotExist(t) => RepoError::Corrupted {
            path: path.to_path_buf(),
            reason: format!("table {t} is missing"),
        },
        redb::Error::Io(source) => RepoError::Io {
            path: path.to_path_buf(),
            source,
        },
        other => RepoError::Database {
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    }
}

/// Number of times a locker re-reads the lock file when the holder has not written
/// its PID yet (it writes right after locking), and the pause between reads.
const LOCK_PID_READ_TRIES: u32 = 20;
const LOCK_PID_READ_PAUSE: std::time::Duration = std::time::Duration::from_millis(5);

/// Bytes of the PID record in `repo.lock`: a `u32` in decimal (at most 10 digits),
/// padded with spaces, then a newline. Every holder writes the same length at
/// offset 0, so once `init` has written it a later holder rewrites bytes that
/// already have their block: taking the lock needs no free space.
const LOCK_PID_RECORD_BYTES: usize = 11;

/// Takes the exclusive flock on `<path>/repo.lock` and records our PID in it.
///
/// The flock alone is the lock; the PID is only for the "locked by PID" message, so
/// it is written best-effort (a full file system must not keep `repo gc` or
/// `pin rm` from opening the repo to free space). The file is never truncated:
/// the record is overwritten in place, and a reader that comes between our flock and
/// our write may see the previous holder's PID.
fn take_lock(path: &Path) -> Result<Flock<File>, RepoError> {
    let lock_path = path.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|e| io_err(&lock_path, e))?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(mut locked) => {
            if let Err(error) = write_pid_record(&mut locked) {
                tracing::warn!(path = %lock_path.display(), %error, "could not record our PID in the lock file; holding the lock without it");
            }
            Ok(locked)
        }
        Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
            let mut pid = 0;
            for _ in 0..LOCK_PID_READ_TRIES {
                let mut s = String::new();
                let read = file
                    .seek(SeekFrom::Start(0))
                    .and_then(|_| file.read_to_string(&mut s));
                if let Ok(p) = s.trim().parse::<u32>() {
                    if read.is_ok() {
                        pid = p;
                        break;
                    }
                }
                std::thread::sleep(LOCK_PID_READ_PAUSE);
            }
            Err(RepoError::Locked { pid })
        }
        Err((_, errno)) => Err(io_err(&lock_path, std::io::Error::from(errno))),
    }
}

/// Overwrites the PID record at offset 0 of the (locked) lock file, then drops any
/// longer leftover after it (shrinking needs no space).
fn write_pid_record(file: &mut File) -> std::io::Result<()> {
    let record = format!(
        "{:<width$}\n",
        std::process::id(),
        width = LOCK_PID_RECORD_BYTES - 1
    );
    debug_assert_eq!(record.len(), LOCK_PID_RECORD_BYTES);
    file.seek(SeekFrom::Start(0))?;
    file.write_all(record.as_bytes())?;
    if file.metadata()?.len() > LOCK_PID_RECORD_BYTES as u64 {
        file.set_len(LOCK_PID_RECORD_BYTES as u64)?;
    }
    file.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::{BackendError, Database};
    use std::ops::Bound;

    #[test]
    fn init_then_open_and_lock() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("repo");
        let repo = Repo::init(&p).unwrap();
        assert_eq!(repo.path(), p);
        let s = std::fs::read_to_string(p.join(LOCK_FILE)).unwrap();
        assert_eq!(s.len(), LOCK_PID_RECORD_BYTES);
        assert_eq!(s.trim(), std::process::id().to_string());
        match Repo::open(&p) {
            Err(RepoError::Locked { pid }) => assert_eq!(pid, std::process::id()),
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(repo);
        let repo = Repo::open(&p).unwrap();
        drop(repo);
        match Repo::init(&p) {
            Err(RepoError::AlreadyInitialized { path }) => assert_eq!(path, p),
            other => panic!("expected AlreadyInitialized, got {other:?}"),
        }
    }

    /// A lock file left longer by someone else is overwritten in place and cut to
    /// one PID record, which a refused locker reads back.
    #[test]
    fn lock_file_is_rewritten_in_place() {
        let dir = tempfile::tempdir().unwrap();
        drop(Repo::init(dir.path()).unwrap());
        std::fs::write(dir.path().join(LOCK_FILE), "4294967295 and more text\n").unwrap();
        let repo = Repo::open(dir.path()).unwrap();
        let s = std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert_eq!(s, format!("{:<10}\n", std::process::id()));
        match Repo::open(dir.path()) {
            Err(RepoError::Locked { pid }) => assert_eq!(pid, std::process::id()),
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(repo);
    }

    #[test]
    fn store_clone_keeps_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::init(dir.path()).unwrap();
        let store = repo.store().clone();
        drop(repo);
        assert!(matches!(
            Repo::open(dir.path()),
            Err(RepoError::Locked { .. })
        ));
        drop(store);
        Repo::open(dir.path()).unwrap();
    }

    /// A store written by format 1 (blocks inline only, no `block_files` or
    /// `filestore` table) opens, is upgraded to the current format, and keeps its data.
    #[test]
    fn format_1_store_is_upgraded_in_place() {
        use crate::block::Block;
        let dir = tempfile::tempdir().unwrap();
        drop(Repo::init(dir.path()).unwrap());
        let b = Block::encode(1, crate::cids::RAW, b"written by format 1".to_vec());
        {
            // Rewrite the database as format 1 wrote it.
            let db = Database::open(dir.path().join(DATASTORE_FILE)).unwrap();
            let txn = db.begin_write().unwrap();
            assert!(txn.delete_table(tables::BLOCK_FILES).unwrap());
            assert!(txn.delete_table(tables::FILESTORE).unwrap());
            assert!(txn.delete_table(tables::COUNTS).unwrap());
            txn.open_table(tables::META)
                .unwrap()
                .insert(META_FORMAT_VERSION, 1)
                .unwrap();
            txn.open_table(tables::BLOCKS)
                .unwrap()
                .insert(b.cid().hash().to_bytes().as_slice(), b.data())
                .unwrap();
            txn.commit().unwrap();
        }
        std::fs::remove_dir_all(dir.path().join(BLOCKS_DIR)).unwrap();
        let repo = Repo::open(dir.path()).unwrap();
        assert_eq!(
            repo.store().get(b.cid()).unwrap().as_deref(),
            Some(b.data())
        );
        assert!(repo.store().verify().unwrap().is_clean());
        let big = Block::encode(1, crate::cids::RAW, vec![7u8; 100_000]);
        repo.store().put_block(&big).unwrap();
        assert_eq!(repo.store().get(big.cid()).unwrap().unwrap().len(), 100_000);
        drop(repo);
        let db = Database::open(dir.path().join(DATASTORE_FILE)).unwrap();
        let txn = db.begin_read().unwrap();
        let v = txn.open_table(tables::META).unwrap();
        assert_eq!(
            v.get(META_FORMAT_VERSION).unwrap().unwrap().value(),
            REPO_FORMAT_VERSION
        );
    }

    /// The blocks in the committed old-format repos: inline ones, and for format 2
    /// one kept as a block file.
    fn fixture_blocks(version: u64) -> Vec<crate::block::Block> {
        let mut v: Vec<_> = (0..3)
            .map(|i| {
                crate::block::Block::encode(
                    1,
                    crate::cids::RAW,
                    format!("acorn repo format {version}, block {i}").into_bytes(),
                )
            })
            .collect();
        if version >= 2 {
            v.push(crate::block::Block::encode(
                1,
                crate::cids::RAW,
                vec![version as u8; 20_000],
            ));
        }
        v
    }

    fn fixture_dir(version: u64) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(format!("repo-v{version}"))
    }

    /// Writes the committed old-format repos `storage/tests/data/repo-v1` and
    /// `repo-v2`: a repo of today's format holding [`fixture_blocks`] (the first
    /// pinned directly), with the tables and version number taken back to what that
    /// format had. Run by `ACORN_BLESS_REPO_FIXTURES=1 cargo test -p acorn-storage
    /// old_format_repos`; only needed if the fixtures are lost (they are what an old
    /// Acorn wrote and must not change with the code).
    fn write_old_format_fixtures() {
        for version in [1u64, 2] {
            let tmp = tempfile::tempdir().unwrap();
            let repo = Repo::init(tmp.path()).unwrap();
            let blocks = fixture_blocks(version);
            for b in &blocks {
                repo.store().put_block(b).unwrap();
            }
            crate::pins::pin_add(repo.store(), blocks[0].cid(), false).unwrap();
            drop(repo);
            let mut db = Database::open(tmp.path().join(DATASTORE_FILE)).unwrap();
            let txn = db.begin_write().unwrap();
            assert!(txn.delete_table(tables::COUNTS).unwrap());
            if version == 1 {
                assert!(txn.delete_table(tables::BLOCK_FILES).unwrap());
                assert!(txn.delete_table(tables::FILESTORE).unwrap());
            }
            txn.open_table(tables::META)
                .unwrap()
                .insert(META_FORMAT_VERSION, version)
                .unwrap();
            txn.commit().unwrap();
            while db.compact().unwrap() {}
            drop(db);
            let out = fixture_dir(version);
            let _ = std::fs::remove_dir_all(&out);
            std::fs::create_dir_all(&out).unwrap();
            copy_tree(tmp.path(), &out);
            std::fs::remove_file(out.join(LOCK_FILE)).unwrap();
        }
    }

    fn copy_tree(from: &Path, to: &Path) {
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let dest = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                std::fs::create_dir_all(&dest).unwrap();
                copy_tree(&e.path(), &dest);
            } else {
                std::fs::copy(e.path(), &dest).unwrap();
            }
        }
    }

    /// The committed repos of formats 1 and 2 open, are upgraded in place (after a
    /// backup equal to the old database), keep their blocks and pins, get exact
    /// totals, verify clean, and open again without a second upgrade.
    #[test]
    fn old_format_repos_are_upgraded_with_a_backup() {
        if std::env::var_os("ACORN_BLESS_REPO_FIXTURES").is_some() {
            write_old_format_fixtures();
        }
        for version in [1u64, 2] {
            let tmp = tempfile::tempdir().unwrap();
            copy_tree(&fixture_dir(version), tmp.path());
            let repo = Repo::open(tmp.path()).unwrap();
            assert_eq!(repo.upgraded_from(), Some(version));
            // (Compared below by restoring it: redb rewrites its header when it
            // opens a file, so the bytes differ from the fixture's.)
            let backup = Repo::backup_path(tmp.path(), version);
            assert!(backup.is_file(), "v{version} backup");
            let s = repo.store();
            let blocks = fixture_blocks(version);
            let mut bytes = 0;
            for b in &blocks {
                assert_eq!(s.get(b.cid()).unwrap().as_deref(), Some(b.data()));
                bytes += b.data().len() as u64;
            }
            let c = s.counts().unwrap();
            assert_eq!((c.objects, c.bytes), (blocks.len() as u64, bytes));
            let report = s.verify().unwrap();
            assert!(report.is_clean(), "v{version}: {report:?}");
            assert_eq!(report.checked, blocks.len() as u64);
            let pins = crate::pins::read_all(s).unwrap();
            assert_eq!(pins.len(), 1);
            assert_eq!(pins[0].0, *blocks[0].cid());
            drop(repo);
            let repo = Repo::open(tmp.path()).unwrap();
            assert_eq!(repo.upgraded_from(), None);
            drop(repo);
            // Restoring the backup (the documented way back) gives the old format.
            std::fs::copy(&backup, tmp.path().join(DATASTORE_FILE)).unwrap();
            let db = Database::open(tmp.path().join(DATASTORE_FILE)).unwrap();
            let txn = db.begin_read().unwrap();
            let meta = txn.open_table(tables::META).unwrap();
            assert_eq!(
                meta.get(META_FORMAT_VERSION).unwrap().unwrap().value(),
                version
            );
            let stored = txn.open_table(tables::BLOCKS).unwrap();
            for b in blocks.iter().filter(|b| b.data().len() <= 16 << 10) {
                let key = b.cid().hash().to_bytes();
                assert_eq!(
                    stored.get(key.as_slice()).unwrap().unwrap().value(),
                    b.data()
                );
            }
        }
    }

    #[test]
    fn version_mismatch_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(Repo::init(dir.path()).unwrap());
        {
            let db = Database::open(dir.path().join(DATASTORE_FILE)).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(tables::META)
                .unwrap()
                .insert(META_FORMAT_VERSION, REPO_FORMAT_VERSION + 1)
                .unwrap();
            txn.commit().unwrap();
        }
        let e = Repo::open(dir.path()).unwrap_err();
        assert!(
            matches!(e, RepoError::TooNew { found, supported, .. }
                if found == REPO_FORMAT_VERSION + 1 && supported == REPO_FORMAT_VERSION),
            "{e}"
        );
        let msg = e.to_string();
        assert!(msg.contains("newer than this Acorn reads"), "{msg}");
        assert!(
            msg.contains(&format!("format version {}", REPO_FORMAT_VERSION + 1)),
            "{msg}"
        );
        assert!(
            msg.contains(&dir.path().join(BACKUP_DIR).display().to_string()),
            "{msg}"
        );
        // Untouched: still the newer version, no backup made.
        assert!(!dir.path().join(BACKUP_DIR).exists());
        let db = Database::open(dir.path().join(DATASTORE_FILE)).unwrap();
        let txn = db.begin_read().unwrap();
        let meta = txn.open_table(tables::META).unwrap();
        assert_eq!(
            meta.get(META_FORMAT_VERSION).unwrap().unwrap().value(),
            REPO_FORMAT_VERSION + 1
        );
    }

    /// A redb backend over the database file whose writes fail with ENOSPC while
    /// `fail` is set, as on a full card.
    #[derive(Debug)]
    struct FailingBackend {
        file: redb::backends::FileBackend,
        fail: Arc<std::sync::atomic::AtomicBool>,
    }

    impl FailingBackend {
        fn check(&self) -> std::io::Result<()> {
            if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(std::io::Error::from_raw_os_error(nix::libc::ENOSPC));
            }
            Ok(())
        }
    }

    impl redb::StorageBackend for FailingBackend {
        fn len(&self) -> std::io::Result<u64> {
            self.file.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
            self.file.read(offset, out)
        }
        fn set_len(&self, len: u64) -> std::io::Result<()> {
            self.check()?;
            self.file.set_len(len)
        }
        fn sync_data(&self) -> std::io::Result<()> {
            self.check()?;
            self.file.sync_data()
        }
        fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
            self.check()?;
            self.file.write(offset, data)
        }
        fn close(&self) -> std::io::Result<()> {
            self.file.close()
        }
        fn try_lock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<bool, BackendError> {
            self.file.try_lock_range(s, e)
        }
        fn try_lock_shared_range(
            &self,
            s: Bound<u64>,
            e: Bound<u64>,
        ) -> Result<bool, BackendError> {
            self.file.try_lock_shared_range(s, e)
        }
        fn lock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<(), BackendError> {
            self.file.lock_range(s, e)
        }
        fn lock_shared_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<(), BackendError> {
            self.file.lock_shared_range(s, e)
        }
        fn unlock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<(), BackendError> {
            self.file.unlock_range(s, e)
        }
        fn query_lock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<bool, BackendError> {
            self.file.query_lock_range(s, e)
        }
    }

    /// One ENOSPC inside a database write poisons redb's handle ("Previous I/O
    /// error occurred"); the store notices, reopens the database on the next
    /// request, and everything committed before is still there.
    #[test]
    fn store_reopens_the_database_after_an_io_error() {
        use crate::block::Block;
        use std::sync::atomic::Ordering;
        let dir = tempfile::tempdir().unwrap();
        drop(Repo::init(dir.path()).unwrap());
        let fail = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let opener = {
            let (path, fail) = (dir.path().join(DATASTORE_FILE), fail.clone());
            Opener(Box::new(move || {
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&path)
                    .map_err(|e| redb::DatabaseError::Storage(redb::StorageError::Io(e)))?;
                let file = redb::backends::FileBackend::new(file)?;
                builder().create_with_backend(FailingBackend {
                    file,
                    fail: fail.clone(),
                })
            }))
        };
        let lock = take_lock(dir.path()).unwrap();
        let repo =
            Repo::open_db_with(dir.path().to_path_buf(), lock, Arc::new(OsFiles), opener).unwrap();
        let s = repo.store();
        let a = Block::encode(1, crate::cids::RAW, b"before the full disk".to_vec());
        s.put_block(&a).unwrap();
        assert!(s.is_usable());

        fail.store(true, Ordering::SeqCst);
        let b = Block::encode(1, crate::cids::RAW, b"during the full disk".to_vec());
        let e = s.put_block(&b).unwrap_err();
        assert!(
            matches!(e, crate::BlockError::NoSpace | crate::BlockError::Io(_)),
            "{e}"
        );
        assert!(
            !s.is_usable(),
            "the poisoned handle must not count as usable"
        );

        fail.store(false, Ordering::SeqCst);
        // The next request reopens the database: no restart needed.
        assert!(s.put_block(&b).unwrap());
        assert!(s.is_usable());
        assert_eq!(s.get(a.cid()).unwrap().as_deref(), Some(a.data()));
        assert_eq!(s.get(b.cid()).unwrap().as_deref(), Some(b.data()));
        assert!(s.verify().unwrap().is_clean());

        // Poisoned again; a health check (what the daemon's watchdog runs) reopens.
        fail.store(true, Ordering::SeqCst);
        let c = Block::encode(1, crate::cids::RAW, b"again".to_vec());
        assert!(s.put_block(&c).is_err());
        assert!(!s.is_usable());
        fail.store(false, Ordering::SeqCst);
        s.check_health().unwrap();
        assert!(s.is_usable());
        assert!(crate::pins::read_all(s).unwrap().is_empty());
    }

    #[test]
    fn missing_repo_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nope");
        let e = Repo::open(&p).unwrap_err();
        assert!(e.to_string().contains(&p.display().to_string()), "{e}");
        assert!(!p.exists(), "open must not create the directory");
    }
}
