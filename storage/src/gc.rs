//! Garbage collection: mark and sweep, in bounded memory, never losing pinned data.
//!
//! **What.** [`collect`] removes exactly the blocks not reachable from a recursive or
//! direct pin (`acorn repo gc`), reporting each removed block as the raw CIDv1 of its
//! multihash, as Kubo prints them (the blockstore does not know the codec).
//!
//! **Flow.**
//! 1. Take the GC lock exclusively ([`Store::begin_gc`]): wait for running adds (which
//!    hold an [`AddGuard`](crate::blockstore::AddGuard) until their root is pinned)
//!    and keep new ones waiting. `pin add` holds the same guard, so no pin can appear
//!    during a GC whose blocks the mark did not see.
//! 2. Clear the scratch tables `gc_marks` and `gc_queue` (a killed GC may have left
//!    them full).
//! 3. Mark: recursive pins first, walked to the end, then direct ones. Each root's
//!    multihash goes into `gc_marks`; a recursive root (and every new dag node it
//!    reaches) goes onto `gc_queue`, the to-visit stack kept *on disk*. Pop, read the
//!    block, decode its links, mark every unmarked link and push those that can have
//!    links (not raw). Only then are direct pins marked (a direct mark first would make
//!    the walk skip that block's children).
//!    Work is committed every [`GC_MARK_BATCH_COUNT`] steps, with non-durable commits
//!    (scratch data needs no fsync). A dag block reachable from a pin that is missing or
//!    does not decode stops the GC *before* anything is deleted: its children are
//!    unknown, so nothing may be called garbage.
//! 4. Sweep: list the blocks, block files and filestore tables
//!    [`GC_SWEEP_BATCH_COUNT`] keys at a time; delete the unmarked ones in one
//!    durable write transaction per batch (a key's copy and filestore reference
//!    together, with the `repo stat` totals); report each removed block once.
//! 5. Clear the scratch tables again, release the lock.
//!
//! **Crash safety.** Pin changes are single transactions, so a kill -9 leaves the old or
//! the new pin set. The sweep deletes only blocks the mark, run against that whole pin
//! set, found unreachable; a kill during the sweep leaves some of those deleted and the
//! rest in place. Stale scratch data is cleared by the next GC before it marks.
//!
//! **Limits.** Memory does not grow with the repo: the mark keeps one block and its
//! links in RAM plus redb's page cache; marks and the to-visit stack live in redb
//! (spilled to disk). The pin list is read into memory (≈ 50 bytes per pin).
//!
//! **Departures.** Kubo also keeps MFS roots and "best-effort" roots; Acorn has neither
//! yet. Kubo's GC keeps going past a missing block with `--stream-errors`; ours stops.
//! The database file does not shrink: redb reuses the freed pages.

use crate::block::BlockError;
use crate::blockstore::{
    db_err, key_batches, multihash_of_key, remove_block_file, Store, Which, WriteTables,
};
use crate::cids;
use crate::dag::{self, DagError};
use crate::pins::{self, PinError, PinKind};
use crate::tables::{GC_MARKS, GC_QUEUE};
use cid::Cid;
use redb::{Durability, WriteTransaction};

/// Mark steps (pins marked or dag blocks expanded) per scratch-table commit. Costs
/// about this × (fan-out × 40 bytes) of dirty pages before a commit.
pub const GC_MARK_BATCH_COUNT: usize = 4096;

/// Blocks examined per sweep read, and at most deleted per durable write transaction.
pub const GC_SWEEP_BATCH_COUNT: usize = 1024;

/// Errors of a GC run.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    /// The mark could not finish (a block reachable from a pin is missing or does not
    /// decode); nothing was deleted.
    #[error("gc stopped before deleting anything: {0}")]
    Mark(DagError),
    /// The pin set could not be read; nothing was deleted.
    #[error("gc: pin set unreadable: {0}")]
    Pins(PinError),
    /// The blockstore failed while sweeping.
    #[error("gc: {0}")]
    Store(#[from] BlockError),
}

impl From<DagError> for GcError {
    fn from(e: DagError) -> Self {
        match e {
            DagError::Store(b) => GcError::Store(b),
            other => GcError::Mark(other),
        }
    }
}

/// What a GC run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcStats {
    /// Blocks found reachable (including identity and missing raw leaves).
    pub marked: u64,
    /// Blocks removed.
    pub removed_blocks: u64,
    /// Bytes of removed blocks.
    pub removed_bytes: u64,
    /// Block files under `blocks/` that no index entry named (left by a killed add).
    pub orphan_files: u64,
}

/// Runs a full GC; calls `on_removed` with each removed block (raw CIDv1 of its
/// multihash) right after the transaction deleting it commits.
pub fn collect(store: &Store, on_removed: &mut dyn FnMut(&Cid)) -> Result<GcStats, GcError> {
    let _gc = store.begin_gc();
    clear_scratch(store)?;
    let result = mark(store).and_then(|marked| {
        let mut stats = sweep(store, on_removed)?;
        stats.marked = marked;
        Ok(stats)
    });
    let cleared = clear_scratch(store);
    let stats = result?;
    cleared?;
    tracing::info!(
        removed = stats.removed_blocks,
        bytes = stats.removed_bytes,
        "gc done"
    );
    Ok(stats)
}

fn clear_scratch(store: &Store) -> Result<(), GcError> {
    let txn = scratch_txn(store)?;
    txn.delete_table(GC_MARKS).map_err(db_err)?;
    txn.delete_table(GC_QUEUE).map_err(db_err)?;
    txn.open_table(GC_MARKS).map_err(db_err)?;
    txn.open_table(GC_QUEUE).map_err(db_err)?;
    txn.commit().map_err(db_err)?;
    Ok(())
}

/// A write transaction for scratch data only: not fsynced (a crash loses it, and the
/// next GC clears it anyway).
fn scratch_txn(store: &Store) -> Result<WriteTransaction, GcError> {
    let mut txn = store.begin_write()?;
    txn.set_durability(Durability::None).map_err(db_err)?;
    Ok(txn)
}

/// Whether a block of this codec can link to others (raw cannot: no need to read it).
fn may_link(cid: &Cid) -> bool {
    cid.codec() != cids::RAW
}

/// The mark phase; returns the number of blocks marked.
///
/// Recursive pins are marked *and fully walked* before any direct pin is marked: the
/// walk skips children already marked, which is right only if every mark so far came
/// from a walk (a block marked by a direct pin alone has unexplored children).
fn mark(store: &Store) -> Result<u64, GcError> {
    let (recursive, direct): (Vec<_>, Vec<_>) = pins::read_all(store)
        .map_err(GcError::Pins)?
        .into_iter()
        .partition(|(_, k)| *k == PinKind::Recursive);
    let mut m = Marker {
        store,
        marked: 0,
        seq: 0,
    };
    m.mark_roots(recursive.iter().map(|(c, _)| c), true)?;
    m.drain()?;
    m.mark_roots(direct.iter().map(|(c, _)| c), false)?;
    Ok(m.marked)
}

struct Marker<'s> {
    store: &'s Store,
    marked: u64,
    /// Next `gc_queue` key (the queue is a stack: `pop_last`).
    seq: u64,
}

impl Marker<'_> {
    /// Marks roots; with `walk`, queues them for the drain.
    fn mark_roots<'c>(
        &mut self,
        roots: impl Iterator<Item = &'c Cid>,
        walk: bool,
    ) -> Result<(), GcError> {
        let mut roots = roots.peekable();
        while roots.peek().is_some() {
            let txn = scratch_txn(self.store)?;
            {
                let mut marks = txn.open_table(GC_MARKS).map_err(db_err)?;
                let mut queue = txn.open_table(GC_QUEUE).map_err(db_err)?;
                for cid in roots.by_ref().take(GC_MARK_BATCH_COUNT) {
                    let new = marks
                        .insert(cid.hash().to_bytes().as_slice(), ())
                        .map_err(db_err)?
                        .is_none();
                    if new {
                        self.marked += 1;
                        if walk && may_link(cid) {
                            queue
                                .insert(self.seq, cid.to_bytes().as_slice())
                                .map_err(db_err)?;
                            self.seq += 1;
                        }
                    }
                }
            }
            txn.commit().map_err(db_err)?;
        }
        Ok(())
    }

    /// Walks everything queued: pop, read, mark unmarked links, queue those that can
    /// have links.
    fn drain(&mut self) -> Result<(), GcError> {
        loop {
            let snap = self.store.snapshot()?;
            let txn = scratch_txn(self.store)?;
            let mut empty = false;
            {
                let mut marks = txn.open_table(GC_MARKS).map_err(db_err)?;
                let mut queue = txn.open_table(GC_QUEUE).map_err(db_err)?;
                for _ in 0..GC_MARK_BATCH_COUNT {
                    let popped = queue
                        .pop_last()
                        .map_err(db_err)?
                        .map(|(_, v)| v.value().to_vec());
                    let Some(bytes) = popped else {
                        empty = true;
                        break;
                    };
                    let cid = Cid::try_from(bytes.as_slice()).map_err(|e| {
                        BlockError::Corrupted(format!("gc_queue entry is not a CID: {e}"))
                    })?;
                    let data = dag::fetch(&snap, &cid)?;
                    for link in dag::links_of(&cid, &data)? {
                        let new = marks
                            .insert(link.hash().to_bytes().as_slice(), ())
                            .map_err(db_err)?
                            .is_none();
                        if new {
                            self.marked += 1;
                            if may_link(&link) {
                                queue
                                    .insert(self.seq, link.to_bytes().as_slice())
                                    .map_err(db_err)?;
                                self.seq += 1;
                            }
                        }
                    }
                }
            }
            txn.commit().map_err(db_err)?;
            if empty {
                return Ok(());
            }
        }
    }
}

/// The sweep phase: inline blocks, block files, filestore references (the user's
/// files are never touched), then block files no index names.
fn sweep(store: &Store, on_removed: &mut dyn FnMut(&Cid)) -> Result<GcStats, GcError> {
    let mut stats = GcStats::default();
    for which in [Which::Blocks, Which::Files, Which::Filestore] {
        sweep_table(store, which, &mut stats, on_removed)?;
    }
    stats.orphan_files = store.sweep_orphan_files()?;
    Ok(stats)
}

fn sweep_table(
    store: &Store,
    which: Which,
    stats: &mut GcStats,
    on_removed: &mut dyn FnMut(&Cid),
) -> Result<(), GcError> {
    let mut next_batch = key_batches(store, which);
    loop {
        let keys = next_batch(GC_SWEEP_BATCH_COUNT)?;
        if keys.is_empty() {
            return Ok(());
        }
        let victims: Vec<Vec<u8>> = {
            let txn = store.begin_read()?;
            let marks = txn.open_table(GC_MARKS).map_err(db_err)?;
            let mut v = Vec::new();
            for k in keys {
                if marks.get(k.as_slice()).map_err(db_err)?.is_none() {
                    v.push(k);
                }
            }
            v
        };
        if victims.is_empty() {
            continue;
        }
        let mut removed = Vec::with_capacity(victims.len());
        let mut unlink = Vec::new();
        let txn = store.begin_write()?;
        let totals = {
            let mut t = WriteTables::open(&txn)?;
            for k in victims {
                // All of the key at once (copy and reference): one block, reported
                // once, and gone from the tables swept after this one.
                let r = t.remove(&k)?;
                if r.any {
                    stats.removed_blocks += 1;
                    stats.removed_bytes += r.bytes;
                    if r.file {
                        unlink.push(k.clone());
                    }
                    removed.push(k);
                }
            }
            t.totals()
        };
        store.commit_with(txn, totals)?;
        // After the commit: a kill between leaves orphans, swept at the end.
        for k in &unlink {
            remove_block_file(store.files(), store.blocks_dir(), k);
        }
        for k in removed {
            match multihash_of_key(&k) {
                Ok(mh) => on_removed(&cids::raw_v1_of_multihash(&mh)),
                // Unreachable by definition (no CID can name it): removed, reported
                // in the log only.
                Err(e) => tracing::warn!("gc removed a malformed entry: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::Block;
    use crate::codec::dagpb::PbNode;
    use crate::repo::Repo;

    fn node(links: &[Cid]) -> Block {
        Block::encode(
            0,
            cids::DAG_PB,
            PbNode::with_links(links, Some(b"n".to_vec())).encode(),
        )
    }

    #[test]
    fn sweeps_unpinned_keeps_pinned() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::init(dir.path()).unwrap();
        let s = repo.store();
        let a = Block::encode(1, cids::RAW, b"a".to_vec());
        let b = Block::encode(1, cids::RAW, b"b".to_vec());
        let root = node(&[*a.cid()]);
        let loose = node(&[*b.cid()]);
        for blk in [&a, &b, &root, &loose] {
            s.put_block(blk).unwrap();
        }
        pins::pin_add(s, root.cid(), true).unwrap();
        let mut removed = vec![];
        let st = collect(s, &mut |c| removed.push(*c)).unwrap();
        removed.sort();
        let mut want = vec![
            cids::raw_v1_of_multihash(b.cid().hash()),
            cids::raw_v1_of_multihash(loose.cid().hash()),
        ];
        want.sort();
        assert_eq!(removed, want);
        assert_eq!(st.removed_blocks, 2);
        assert_eq!(st.marked, 2);
        assert!(s.has(a.cid()).unwrap() && s.has(root.cid()).unwrap());
    }

    /// A block stored both as a copy and as a filestore reference is one block:
    /// GC removes both entries and reports it once.
    #[test]
    fn block_with_copy_and_reference_is_reported_once() {
        use crate::filestore::FileRef;
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::init(dir.path()).unwrap();
        let s = repo.store();
        let small = Block::encode(1, cids::RAW, b"inline and referenced".to_vec());
        let big = Block::encode(1, cids::RAW, vec![3u8; 100_000]);
        let mut w = s.writer();
        for (b, len) in [(&small, 21u64), (&big, 100_000)] {
            crate::block::BlockSink::put(&mut w, b.cid(), b.data()).unwrap();
            w.put_ref(
                b.cid(),
                FileRef {
                    path: dir.path().join("user-file"),
                    offset: 0,
                    len,
                    file_size: len,
                    mtime: (0, 0),
                },
            )
            .unwrap();
        }
        w.finish().unwrap();
        let mut removed = vec![];
        let st = collect(s, &mut |c| removed.push(*c)).unwrap();
        removed.sort();
        let mut want = vec![
            cids::raw_v1_of_multihash(small.cid().hash()),
            cids::raw_v1_of_multihash(big.cid().hash()),
        ];
        want.sort();
        assert_eq!(removed, want);
        assert_eq!(st.removed_blocks, 2);
        assert_eq!(st.removed_bytes, 21 + 100_000);
        assert!(!s.has(small.cid()).unwrap() && !s.has(big.cid()).unwrap());
    }

    #[test]
    fn missing_dag_block_stops_before_deleting() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::init(dir.path()).unwrap();
        let s = repo.store();
        let a = Block::encode(1, cids::RAW, b"a".to_vec());
        let mid = node(&[*a.cid()]);
        let root = node(&[*mid.cid()]);
        let junk = Block::encode(1, cids::RAW, b"junk".to_vec());
        for blk in [&a, &mid, &root, &junk] {
            s.put_block(blk).unwrap();
        }
        pins::pin_add(s, root.cid(), true).unwrap();
        s.remove(mid.cid()).unwrap();
        let e = collect(s, &mut |_| {}).unwrap_err();
        assert!(
            matches!(&e, GcError::Mark(DagError::Missing { cid }) if cid == mid.cid()),
            "{e}"
        );
        assert!(s.has(junk.cid()).unwrap(), "nothing deleted");
    }
}
