//! Blocks and the two traits content code uses to reach storage.
//!
//! [`BlockSink`] receives blocks produced by an importer (UnixFS add, `dag put`,
//! CAR import); [`BlockSource`] serves blocks to exporters and DAG walks. The redb
//! blockstore implements both; tests use [`MemStore`]; `--only-hash` uses
//! [`NullSink`]. Keeping these traits small keeps UnixFS and CAR free of disk code.

use crate::cids;
use cid::Cid;
use std::collections::HashMap;

/// Largest block Acorn stores or serves, in bytes (Kubo's `--allow-big-block` limit
/// is 1 MiB for bitswap; we accept up to 2 MiB locally as the issue asks).
pub const MAX_BLOCK_BYTES: usize = 2 << 20;

/// Errors of block handling, shared by sinks and sources.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// A block over the size limit.
    #[error("block {cid} is {len} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// The block.
        cid: Cid,
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The bytes do not hash to the CID they came with.
    #[error("block bytes do not match CID {cid}")]
    HashMismatch {
        /// The CID.
        cid: Cid,
    },
    /// No block with this CID in the store.
    #[error("block {cid} not found")]
    NotFound {
        /// The CID.
        cid: Cid,
    },
    /// A CID that cannot be parsed or hashed.
    #[error(transparent)]
    Cid(#[from] cids::CidError),
    /// The store's own data is damaged (repair, do not retry); the text says where.
    #[error("storage corrupted: {0}")]
    Corrupted(String),
    /// A write would eat into the free-space reserve.
    #[error("disk full: {} has {free} bytes free, this write needs {needed} (Acorn.MinFreeSpace reserve included)", path.display())]
    DiskFull {
        /// The file system written to.
        path: std::path::PathBuf,
        /// Bytes free there.
        free: u64,
        /// Bytes this write needs, reserve included.
        needed: u64,
    },
    /// A write would take the repo past its budget (`Datastore.StorageMax`) and
    /// what is stored cannot be collected (pinned, or the automatic GC is off or
    /// has not run yet). Nothing of the write was stored.
    #[error("repo full: storing {needed} more bytes would take the repo past its {max}-byte budget (Datastore.StorageMax); it holds {used} bytes: unpin something and run `acorn repo gc`, or raise Datastore.StorageMax")]
    RepoFull {
        /// Block bytes stored.
        used: u64,
        /// The budget.
        max: u64,
        /// Block bytes this write adds.
        needed: u64,
    },
    /// The file system reported ENOSPC.
    #[error("disk full: no space left on device while writing the repo")]
    NoSpace,
    /// Any other I/O failure (retry may help); the text says what failed.
    #[error("storage I/O: {0}")]
    Io(String),
    /// A `--nocopy` file is gone.
    #[error("filestore: {} no longer exists (added with --nocopy; re-add it or `acorn filestore rm` its blocks)", path.display())]
    FileMissing {
        /// The file.
        path: std::path::PathBuf,
    },
    /// A `--nocopy` file's bytes no longer hash to the block.
    #[error("filestore: {} changed since it was added with --nocopy (at offset {offset}: {reason})", path.display())]
    FileChanged {
        /// The file.
        path: std::path::PathBuf,
        /// Where the block starts in the file.
        offset: u64,
        /// What differs.
        reason: String,
    },
}

/// A block whose bytes have been checked against its CID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    cid: Cid,
    data: Vec<u8>,
}

impl Block {
    /// Checks size and hash, then wraps.
    pub fn new(cid: Cid, data: Vec<u8>) -> Result<Self, BlockError> {
        if data.len() > MAX_BLOCK_BYTES {
            return Err(BlockError::TooLarge {
                cid,
                len: data.len(),
                limit: MAX_BLOCK_BYTES,
            });
        }
        if !cids::verify(&cid, &data)? {
            return Err(BlockError::HashMismatch { cid });
        }
        Ok(Block { cid, data })
    }

    /// Hashes `data` with sha2-256 and builds the CID (`version` 0 only for dag-pb).
    pub fn encode(version: u8, codec: u64, data: Vec<u8>) -> Self {
        let cid = cids::cid_of(version, codec, &data);
        Block { cid, data }
    }

    /// The block's CID.
    pub fn cid(&self) -> &Cid {
        &self.cid
    }
    /// The block's bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }
    /// Takes the block apart without copying.
    pub fn into_parts(self) -> (Cid, Vec<u8>) {
        (self.cid, self.data)
    }
}

/// Where importers put blocks. Implementations batch writes; [`BlockSink::flush`]
/// makes everything put so far durable.
pub trait BlockSink {
    /// Stores a block whose CID the caller computed from `data` (so no re-hash).
    fn put(&mut self, cid: &Cid, data: &[u8]) -> Result<(), BlockError>;
    /// An importer starts reading the file at `path` (for `--nocopy` sinks, which
    /// record where leaves come from). Default: nothing.
    fn begin_file(&mut self, _path: &std::path::Path) -> Result<(), BlockError> {
        Ok(())
    }
    /// A raw leaf holding the bytes at `offset` of the file named by the last
    /// [`BlockSink::begin_file`] (or of a stream, with no such call). Default: [`BlockSink::put`].
    fn put_leaf(&mut self, cid: &Cid, data: &[u8], _offset: u64) -> Result<(), BlockError> {
        self.put(cid, data)
    }
    /// The importer finished the file named by the last [`BlockSink::begin_file`].
    fn end_file(&mut self) -> Result<(), BlockError> {
        Ok(())
    }
    /// Makes all puts durable. Default: nothing to do.
    fn flush(&mut self) -> Result<(), BlockError> {
        Ok(())
    }
}

/// Where exporters and DAG walks read blocks from.
pub trait BlockSource {
    /// The block's bytes, or `Ok(None)` when it is not stored.
    fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, BlockError>;
    /// Whether a block is stored.
    fn has(&self, cid: &Cid) -> Result<bool, BlockError> {
        Ok(self.get(cid)?.is_some())
    }
    /// Like `get` but missing is an error.
    fn get_required(&self, cid: &Cid) -> Result<Vec<u8>, BlockError> {
        match cid.hash().code() {
            // Identity CIDs carry their data inline.
            cids::IDENTITY => Ok(cid.hash().digest().to_vec()),
            _ => self.get(cid)?.ok_or(BlockError::NotFound { cid: *cid }),
        }
    }
}

impl<T: BlockSource + ?Sized> BlockSource for &T {
    fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, BlockError> {
        (**self).get(cid)
    }
}

impl<T: BlockSink + ?Sized> BlockSink for &mut T {
    fn put(&mut self, cid: &Cid, data: &[u8]) -> Result<(), BlockError> {
        (**self).put(cid, data)
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        (**self).flush()
    }
}

/// A sink that drops every block (`add --only-hash`).
#[derive(Debug, Default)]
pub struct NullSink;

impl BlockSink for NullSink {
    fn put(&mut self, _cid: &Cid, _data: &[u8]) -> Result<(), BlockError> {
        Ok(())
    }
}

/// An in-memory store keyed by multihash, for tests and tools.
#[derive(Debug, Default, Clone)]
pub struct MemStore {
    blocks: HashMap<Vec<u8>, Vec<u8>>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
    /// Blocks held.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }
    /// Whether no block is held.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }
    /// Inserts without checks (tests build malicious DAGs with this).
    pub fn insert(&mut self, cid: &Cid, data: Vec<u8>) {
        self.blocks.insert(cid.hash().to_bytes(), data);
    }
}

impl BlockSink for MemStore {
    fn put(&mut self, cid: &Cid, data: &[u8]) -> Result<(), BlockError> {
        self.blocks.insert(cid.hash().to_bytes(), data.to_vec());
        Ok(())
    }
}

impl BlockSource for MemStore {
    fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, BlockError> {
        Ok(self.blocks.get(&cid.hash().to_bytes()).cloned())
    }
}
