//! Disk space accounting: what a commit may take on disk, and the free space it
//! must leave ([`DEFAULT_MIN_FREE_BYTES`]).

use super::files::INLINE_MAX_BYTES;
use crate::block::BlockError;
use std::path::Path;

/// Default free space a repo keeps on its filesystem (`Acorn.MinFreeSpace`): writes
/// that would go below it fail with [`BlockError::DiskFull`] before anything is written.
pub const DEFAULT_MIN_FREE_BYTES: u64 = 64 << 20;

/// Disk bytes a commit may take in the database per byte of key and value stored
/// inline. redb writes every touched B-tree page anew (copy on write) and can reuse
/// the old ones only after a durable commit that no reader predates; keys are
/// hashes, so a batch of 1 KiB blocks touches about one 4 KiB leaf per block, plus
/// branch pages, split leaves and the allocator state. Measured (the unit test
/// below): up to 6.3× per commit of 1 KiB blocks. redb grows its file by doubling
/// it, but with `ftruncate`: the new room is sparse, and only the pages written
/// take disk space, which is what this counts.
pub const INLINE_SPACE_FACTOR: u64 = 8;

/// A block file takes its size rounded up to this (the file system block).
pub const FS_BLOCK_BYTES: u64 = 4096;

/// Disk space a commit may take: `inline_bytes` of keys and values in the database
/// ([`INLINE_SPACE_FACTOR`] each) and `file_bytes` of files (rounded up to
/// [`FS_BLOCK_BYTES`]). Callers add the reserve.
pub fn space_needed(inline_bytes: u64, file_bytes: u64) -> u64 {
    let files = file_bytes
        .div_ceil(FS_BLOCK_BYTES)
        .saturating_mul(FS_BLOCK_BYTES);
    inline_bytes
        .saturating_mul(INLINE_SPACE_FACTOR)
        .saturating_add(files)
}

/// Keys and values a block adds to the database: all of it when stored inline;
/// the key and its length entry when it is a file ([`INLINE_MAX_BYTES`]).
pub(super) fn inline_and_file_bytes(key_len: usize, data_len: usize) -> (u64, u64) {
    if data_len > INLINE_MAX_BYTES {
        ((key_len + 8) as u64, data_len as u64)
    } else {
        ((key_len + data_len) as u64, 0)
    }
}

/// Free bytes available to us on the filesystem holding `path` (statvfs).
pub fn free_bytes(path: &Path) -> Result<u64, BlockError> {
    let st = nix::sys::statvfs::statvfs(path)
        .map_err(|e| BlockError::Io(format!("statvfs {}: {e}", path.display())))?;
    Ok((st.blocks_available() as u64).saturating_mul(st.fragment_size() as u64))
}
