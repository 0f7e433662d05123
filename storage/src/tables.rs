//! The tables of the repo database `datastore.redb` (format
//! [`crate::repo::REPO_FORMAT_VERSION`]), one definition each, below every module that
//! opens them (repo, blockstore, pins, GC):
//! ```text
//! meta      &str  → u64    "format_version" → REPO_FORMAT_VERSION
//! blocks    &[u8] → &[u8]  multihash bytes (code, length, digest) → block bytes, for
//!                          blocks up to INLINE_MAX_BYTES; keyed by multihash so
//!                          CIDv0 and CIDv1 share one block
//! block_files &[u8] → u64  multihash bytes → length of a block kept as a file in
//!                          blocks/ (larger blocks: redb would round each up to a
//!                          power-of-two page, doubling what an add writes)
//! filestore &[u8] → &[u8]  multihash bytes → reference into a user's file
//!                          (`add --nocopy`; format in crate::filestore)
//! pins      &[u8] → u8     CID bytes (binary, as in links) → pin kind:
//!                          1 = direct, 2 = recursive
//! gc_marks  &[u8] → ()     GC scratch: multihash bytes of every block marked
//!                          reachable; empty except while a GC runs
//! gc_queue  u64   → &[u8]  GC scratch: the mark phase's to-visit stack, spilled to
//!                          disk (sequence number → CID bytes); empty except during GC
//! counts    &str  → u64    (format 3) running totals, updated in the same write
//!                          transaction as the three index tables above, so
//!                          `repo stat` reads them instead of walking the tables:
//!                          "objects"    distinct multihashes in blocks, block_files
//!                                       or filestore (a block with a copy and a
//!                                       reference is one object)
//!                          "bytes"      block bytes of the copies (blocks values +
//!                                       block_files lengths; references cost none)
//!                          "file_bytes" the block_files part of "bytes"
//! ```

use redb::TableDefinition;
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(crate) const BLOCKS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("blocks");
pub(crate) const BLOCK_FILES: TableDefinition<&[u8], u64> = TableDefinition::new("block_files");
pub(crate) const FILESTORE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("filestore");
pub(crate) const PINS: TableDefinition<&[u8], u8> = TableDefinition::new("pins");
pub(crate) const GC_MARKS: TableDefinition<&[u8], ()> = TableDefinition::new("gc_marks");
pub(crate) const GC_QUEUE: TableDefinition<u64, &[u8]> = TableDefinition::new("gc_queue");
pub(crate) const COUNTS: TableDefinition<&str, u64> = TableDefinition::new("counts");
