//! `repo stat` and `repo verify` (re-hashing every block), and the sweep of block
//! files no index entry names.

use super::counts::Counts;
use super::db::{db_err, multihash_of_key, range_after};
use super::files::{io_block_err, read_block_file};
use super::list::{KeyBatches, Which, ITER_BATCH_COUNT};
use super::store::Store;
use crate::block::{BlockError, MAX_BLOCK_BYTES};
use crate::cids;
use crate::filestore::{self};
use crate::tables::{BLOCKS, BLOCK_FILES, COUNTS, FILESTORE};
use crate::util::hex;
use cid::multihash::Multihash;
use cid::Cid;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// Sizes reported by [`Store::count_and_size`] (`repo stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreStats {
    /// Number of stored blocks (`NumObjects`): distinct multihashes, a block with a
    /// copy and a filestore reference counted once.
    pub blocks: u64,
    /// Block bytes of the copies (inline and block files; references cost none).
    pub stored_bytes: u64,
    /// The database file's size plus the block files' (`RepoSize`).
    pub disk_bytes: u64,
}

/// One bad entry found by [`Store::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptBlock {
    /// The block as a raw CIDv1 of its key, when the key is a valid multihash.
    pub cid: Option<Cid>,
    /// The key, hex.
    pub key_hex: String,
    /// What is wrong.
    pub reason: String,
}

/// Result of [`Store::verify`] (`repo verify`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Blocks examined: re-hashed, or found unreadable or malformed (so every
    /// corrupt block is among them).
    pub checked: u64,
    /// Blocks whose hash function we cannot compute (not checked).
    pub unverifiable: u64,
    /// Blocks whose bytes do not match their key, or whose key is malformed.
    pub corrupt: Vec<CorruptBlock>,
    /// The `repo stat` totals when they differ from a recount of the index tables:
    /// (stored, recounted).
    pub counts_mismatch: Option<(Counts, Counts)>,
}

impl VerifyReport {
    /// Whether no corrupt block was found and the totals match the tables.
    pub fn is_clean(&self) -> bool {
        self.corrupt.is_empty() && self.counts_mismatch.is_none()
    }
}

pub(super) fn check_entry(key: &[u8], data: &[u8], report: &mut VerifyReport) {
    let mh = match Multihash::<64>::from_bytes(key) {
        Ok(mh) => mh,
        Err(e) => {
            report.checked += 1;
            report.corrupt.push(CorruptBlock {
                cid: None,
                key_hex: hex::encode(key),
                reason: format!("key is not a multihash: {e}"),
            });
            return;
        }
    };
    let ok = match mh.code() {
        cids::SHA2_256 => Sha256::digest(data).as_slice() == mh.digest(),
        cids::IDENTITY => mh.digest() == data,
        _ => {
            report.unverifiable += 1;
            return;
        }
    };
    report.checked += 1;
    if !ok {
        report.corrupt.push(CorruptBlock {
            cid: Some(cids::raw_v1_of_multihash(&mh)),
            key_hex: hex::encode(key),
            reason: "block bytes do not match the hash".into(),
        });
    } else if data.len() > MAX_BLOCK_BYTES {
        report.corrupt.push(CorruptBlock {
            cid: Some(cids::raw_v1_of_multihash(&mh)),
            key_hex: hex::encode(key),
            reason: format!("block is {} bytes, over {MAX_BLOCK_BYTES}", data.len()),
        });
    }
}

impl Store {
    /// Removes files under `blocks/` that no index entry names: leftovers of an add
    /// killed before its index commit, or of a removal killed before its unlink.
    /// Call only while no add runs (GC holds the GC lock). Returns how many.
    pub(crate) fn sweep_orphan_files(&self) -> Result<u64, BlockError> {
        let dir = &self.inner.blocks_dir;
        let mut removed = 0;
        let shards = match std::fs::read_dir(dir) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io_block_err(dir, e)),
        };
        for shard in shards {
            let shard = shard.map_err(|e| io_block_err(dir, e))?.path();
            if !shard.is_dir() {
                continue;
            }
            let entries = std::fs::read_dir(&shard).map_err(|e| io_block_err(&shard, e))?;
            let mut names = Vec::new();
            for e in entries {
                names.push(e.map_err(|e| io_block_err(&shard, e))?.path());
                if names.len() == ITER_BATCH_COUNT {
                    removed += self.remove_unindexed(&names)?;
                    names.clear();
                }
            }
            removed += self.remove_unindexed(&names)?;
        }
        Ok(removed)
    }

    pub(super) fn remove_unindexed(&self, paths: &[PathBuf]) -> Result<u64, BlockError> {
        let txn = self.begin_read()?;
        let files = txn.open_table(BLOCK_FILES).map_err(db_err)?;
        let mut removed = 0;
        for p in paths {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let indexed = match name.strip_suffix(".data").and_then(hex::decode) {
                Some(key) => files.get(key.as_slice()).map_err(db_err)?.is_some(),
                None => false, // temporary or foreign file
            };
            if !indexed {
                match self.files().remove_file(p) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_block_err(p, e)),
                }
            }
        }
        Ok(removed)
    }

    /// The running totals (O(1): read from the `counts` table).
    pub fn counts(&self) -> Result<Counts, BlockError> {
        let txn = self.begin_read()?;
        Counts::read(&txn.open_table(COUNTS).map_err(db_err)?)
    }

    /// Block count and sizes (`repo stat`), in O(1): the totals and the database
    /// file's size.
    pub fn count_and_size(&self) -> Result<StoreStats, BlockError> {
        let c = self.counts()?;
        let db_bytes = std::fs::metadata(&self.inner.path)
            .map(|m| m.len())
            .map_err(|e| BlockError::Io(format!("{}: {e}", self.inner.path.display())))?;
        Ok(StoreStats {
            blocks: c.objects,
            stored_bytes: c.bytes,
            disk_bytes: db_bytes + c.file_bytes,
        })
    }

    /// Recounts the totals from the index tables in one read transaction and
    /// compares them with the stored ones: `Some((stored, recounted))` if they differ.
    pub fn check_counts(&self) -> Result<Option<(Counts, Counts)>, BlockError> {
        let txn = self.begin_read()?;
        let stored = Counts::read(&txn.open_table(COUNTS).map_err(db_err)?)?;
        let recounted = Counts::recount(
            &txn.open_table(BLOCKS).map_err(db_err)?,
            &txn.open_table(BLOCK_FILES).map_err(db_err)?,
            &txn.open_table(FILESTORE).map_err(db_err)?,
        )?;
        Ok((stored != recounted).then_some((stored, recounted)))
    }

    /// Re-hashes every block with its key's hash function (`repo verify`).
    /// Also checks the `repo stat` totals against a recount ([`Store::check_counts`]).
    pub fn verify(&self) -> Result<VerifyReport, BlockError> {
        let mut report = VerifyReport {
            counts_mismatch: self.check_counts()?,
            ..VerifyReport::default()
        };
        let mut after: Option<Vec<u8>> = None;
        loop {
            let txn = self.begin_read()?;
            let t = txn.open_table(BLOCKS).map_err(db_err)?;
            let mut n = 0;
            let mut last = None;
            for entry in range_after(&t, after.as_deref())? {
                let (k, v) = entry.map_err(db_err)?;
                let key = k.value();
                check_entry(key, v.value(), &mut report);
                last = Some(key.to_vec());
                n += 1;
                if n == ITER_BATCH_COUNT {
                    break;
                }
            }
            after = last;
            if n < ITER_BATCH_COUNT {
                break;
            }
        }
        let mut files = KeyBatches::new(self.clone(), Which::Files);
        loop {
            let keys = files.next_batch(ITER_BATCH_COUNT)?;
            if keys.is_empty() {
                break;
            }
            for key in keys {
                match read_block_file(&self.inner.blocks_dir, &key) {
                    Ok(data) => check_entry(&key, &data, &mut report),
                    Err(e) => {
                        report.checked += 1;
                        report.corrupt.push(CorruptBlock {
                            cid: multihash_of_key(&key)
                                .ok()
                                .map(|mh| cids::raw_v1_of_multihash(&mh)),
                            key_hex: hex::encode(&key),
                            reason: e.to_string(),
                        })
                    }
                }
            }
        }
        for entry in self.iter_refs() {
            let (mh, r) = entry?;
            let (status, why) = filestore::check_ref(&mh, &r);
            report.checked += 1;
            if status == filestore::Status::Ok {
                continue;
            }
            report.corrupt.push(CorruptBlock {
                cid: Some(cids::raw_v1_of_multihash(&mh)),
                key_hex: hex::encode(&mh.to_bytes()),
                reason: format!(
                    "filestore {status}: {} offset {}: {why}",
                    r.path.display(),
                    r.offset
                ),
            });
        }
        Ok(report)
    }
}
