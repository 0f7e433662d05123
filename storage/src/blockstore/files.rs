//! Where a block's bytes live: inline in the `blocks` table, as a block file under
//! `<repo>/blocks/` (over [`INLINE_MAX_BYTES`]), or in a user's file (filestore).
//! Block files are written to a temporary name and renamed into place, and made
//! durable by one `syncfs` before the commit that names them.

use super::db::{db_err, multihash_of_key};
use crate::block::BlockError;
use crate::blockfiles::BlockFiles;
use crate::filestore::{self, FileRef};
use crate::util::hex;
use redb::ReadableTable;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Blocks up to this size live inside the database (`blocks` table); larger ones are
/// files under `<repo>/blocks/` indexed by `block_files`. redb stores a large value in
/// a power-of-two run of pages, so a 256 KiB chunk (plus its header) would take 512
/// KiB; as a file it takes its size rounded to the filesystem block (4 KiB).
pub const INLINE_MAX_BYTES: usize = 16 << 10;

/// Where a block's bytes are.
#[derive(Debug)]
pub(crate) enum Loc {
    /// In the `blocks` table (these bytes).
    Inline(Vec<u8>),
    /// A file under `blocks/` of this length.
    File(u64),
    /// A filestore reference into a user's file.
    Ref(FileRef),
}

impl Loc {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Loc::Inline(v) => v.len() as u64,
            Loc::File(n) => *n,
            Loc::Ref(r) => r.len,
        }
    }
}

/// Looks a key up in the three index tables: blockstore copies first, then the
/// filestore.
pub(super) fn locate_in<B, F, S>(
    blocks: &B,
    files: &F,
    fstore: &S,
    key: &[u8],
) -> Result<Option<Loc>, BlockError>
where
    B: ReadableTable<&'static [u8], &'static [u8]>,
    F: ReadableTable<&'static [u8], u64>,
    S: ReadableTable<&'static [u8], &'static [u8]>,
{
    if let Some(v) = blocks.get(key).map_err(db_err)? {
        return Ok(Some(Loc::Inline(v.value().to_vec())));
    }
    if let Some(n) = files.get(key).map_err(db_err)? {
        return Ok(Some(Loc::File(n.value())));
    }
    if let Some(v) = fstore.get(key).map_err(db_err)? {
        return Ok(Some(Loc::Ref(FileRef::decode(v.value())?)));
    }
    Ok(None)
}

/// Reads the bytes at a location (filestore bytes are hash-checked).
pub(super) fn read_loc(dir: &Path, key: &[u8], loc: Loc) -> Result<Vec<u8>, BlockError> {
    match loc {
        Loc::Inline(v) => Ok(v),
        Loc::File(len) => {
            let data = read_block_file(dir, key)?;
            if data.len() as u64 != len {
                return Err(BlockError::Corrupted(format!(
                    "block file {} is {} bytes, the index says {len}",
                    block_file_path(dir, key).display(),
                    data.len()
                )));
            }
            Ok(data)
        }
        Loc::Ref(r) => filestore::read_ref(&multihash_of_key(key)?, &r),
    }
}

/// `<blocks_dir>/XX/<hex multihash>.data`, XX = hex of the key's last byte.
pub(crate) fn block_file_path(dir: &Path, key: &[u8]) -> PathBuf {
    let shard = format!("{:02x}", key.last().copied().unwrap_or(0));
    dir.join(shard).join(format!("{}.data", hex::encode(key)))
}

pub(super) fn io_block_err(path: &Path, e: std::io::Error) -> BlockError {
    if e.raw_os_error() == Some(nix::libc::ENOSPC) {
        return BlockError::NoSpace;
    }
    BlockError::Io(format!("{}: {e}", path.display()))
}

pub(super) fn read_block_file(dir: &Path, key: &[u8]) -> Result<Vec<u8>, BlockError> {
    let path = block_file_path(dir, key);
    match std::fs::read(&path) {
        Ok(v) => Ok(v),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(BlockError::Corrupted(format!(
            "block file {} is missing",
            path.display()
        ))),
        Err(e) => Err(io_block_err(&path, e)),
    }
}

/// Sequence for temporary names (several writers may write the same block at once).
pub(super) static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// Writes a block file: to a temporary name, then renamed into place, so a reader
/// (or a second writer of the same block) never sees a partial file. Not synced:
/// callers sync the filesystem once before the index commit that names the file.
pub(super) fn write_block_file(
    files: &dyn BlockFiles,
    dir: &Path,
    key: &[u8],
    data: &[u8],
) -> Result<(), BlockError> {
    let path = block_file_path(dir, key);
    let tmp = path.with_extension(format!(
        "tmp-{}-{}",
        std::process::id(),
        TMP_SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let write = |p: &Path| files.write(p, data);
    if let Err(e) = write(&tmp) {
        if e.kind() != std::io::ErrorKind::NotFound {
            let _ = files.remove_file(&tmp);
            return Err(io_block_err(&tmp, e));
        }
        // The shard directory does not exist yet.
        if let Some(parent) = tmp.parent() {
            files
                .create_dir_all(parent)
                .map_err(|e| io_block_err(parent, e))?;
        }
        if let Err(e) = write(&tmp) {
            let _ = files.remove_file(&tmp);
            return Err(io_block_err(&tmp, e));
        }
    }
    files.rename(&tmp, &path).map_err(|e| {
        let _ = files.remove_file(&tmp);
        io_block_err(&path, e)
    })
}

/// Unlinks a block file whose index entry is gone (a missing file is fine).
pub(crate) fn remove_block_file(files: &dyn BlockFiles, dir: &Path, key: &[u8]) {
    let path = block_file_path(dir, key);
    if let Err(e) = files.remove_file(&path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!("removing {}: {e}", path.display());
        }
    }
}

/// One `syncfs(2)` of the filesystem holding the block files: makes every block
/// file written so far durable, before the index that names them is committed.
/// One call per add, not one fsync per block.
pub(super) fn sync_files(files: &dyn BlockFiles, dir: &Path) -> Result<(), BlockError> {
    files
        .sync(dir)
        .map_err(|e| BlockError::Io(format!("syncfs {}: {e}", dir.display())))
}
