//! `repo` commands (gc, stat, verify) and the `filestore` ones.

use acorn_storage::pins;

use super::*;

impl Node {
    // ---- repo -------------------------------------------------------------

    /// `repo gc`: calls `on_removed` for each removed block.
    pub fn repo_gc(&self, on_removed: &mut dyn FnMut(&Cid)) -> anyhow::Result<gc::GcStats> {
        let st = gc::collect(self.store(), on_removed)?;
        crate::metrics::gc_run(st.removed_blocks, st.removed_bytes);
        Ok(st)
    }

    /// The repo's directory.
    pub fn root(&self) -> &std::path::Path {
        &self.handle.root
    }

    /// `repo stat`.
    pub fn repo_stat(&self) -> anyhow::Result<RepoStat> {
        let StoreStats {
            blocks, disk_bytes, ..
        } = self.store().count_and_size()?;
        Ok(RepoStat {
            num_objects: blocks,
            repo_size: disk_bytes,
            storage_max: self.config.datastore.storage_max_bytes()?,
            repo_path: self.handle.root.display().to_string(),
            version: format!("acorn-repo@{}", acorn_storage::repo::REPO_FORMAT_VERSION),
        })
    }

    /// `repo verify`.
    pub fn repo_verify(&self) -> anyhow::Result<VerifyReport> {
        Ok(self.store().verify()?)
    }
}

// ---- filestore ----------------------------------------------------------------

/// One filestore entry as `filestore ls` / `verify` report it.
#[derive(Debug, Clone)]
pub struct FilestoreEntry {
    /// The block (as given, or the raw CIDv1 of its key when listing everything).
    pub cid: Cid,
    pub status: filestore::Status,
    /// The reference (`None` when the entry is missing or malformed).
    pub file_ref: Option<filestore::FileRef>,
    /// Why the status is not `ok`.
    pub reason: String,
}

/// Kubo's `FormatLong` from parts: `<cid padded to 50> <size padded to 6> <path>
/// <offset>`, or the CID alone without a reference (`(size, path, offset)`).
pub fn format_long(cid: &str, file_ref: Option<(u64, &str, u64)>) -> String {
    match file_ref {
        Some((size, path, offset)) if !path.is_empty() => {
            format!("{cid:<50} {size:>6} {path} {offset}")
        }
        _ => cid.to_string(),
    }
}

impl Node {
    /// Entries for `cids` (all entries, in key order, when empty), with their status
    /// when `check` (reads and hashes each block), else status `ok` for present
    /// entries. With `file_order` they are sorted by path and offset first: that
    /// holds every entry in memory (about 100 bytes each), as Kubo's `--file-order`.
    pub fn filestore_entries(
        &self,
        cids: &[Cid],
        check: bool,
        file_order: bool,
        emit: &mut dyn FnMut(FilestoreEntry) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let entry = |cid: Cid, r: Option<filestore::FileRef>| {
            let (status, reason) = match &r {
                None => (
                    filestore::Status::Missing,
                    "not in the filestore".to_string(),
                ),
                Some(r) if check => filestore::check_ref(cid.hash(), r),
                Some(_) => (filestore::Status::Ok, String::new()),
            };
            FilestoreEntry {
                cid,
                status,
                file_ref: r,
                reason,
            }
        };
        let mut sorted = Vec::new();
        let mut out = |e: FilestoreEntry| -> anyhow::Result<()> {
            if file_order {
                sorted.push(e);
                Ok(())
            } else {
                emit(e)
            }
        };
        if cids.is_empty() {
            for item in self.store().iter_refs() {
                let (mh, r) = item?;
                out(entry(cids::raw_v1_of_multihash(&mh), Some(r)))?;
            }
        } else {
            for c in cids {
                out(entry(*c, self.store().file_ref(c)?))?;
            }
        }
        if file_order {
            sorted.sort_by(|a, b| {
                let key =
                    |e: &FilestoreEntry| e.file_ref.as_ref().map(|r| (r.path.clone(), r.offset));
                key(a).cmp(&key(b))
            });
            for e in sorted {
                emit(e)?;
            }
        }
        Ok(())
    }

    /// `filestore dups`: blocks held both as a filestore reference and as a copy.
    pub fn filestore_dups(
        &self,
        emit: &mut dyn FnMut(&Cid) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        for item in self.store().iter_refs() {
            let (mh, _) = item?;
            let cid = cids::raw_v1_of_multihash(&mh);
            if self.store().has_copy(&cid)? {
                emit(&cid)?;
            }
        }
        Ok(())
    }

    /// `filestore rm`: drops a block's filestore reference (never the file). Refused
    /// when the block is pinned (directly, recursively or as part of a pinned DAG)
    /// unless a copy of it stays in the blockstore.
    pub fn filestore_rm(&self, cid: &Cid) -> anyhow::Result<()> {
        if self.store().file_ref(cid)?.is_none() {
            bail!("cannot remove {cid}: not in the filestore");
        }
        if !self.store().has_copy(cid)? {
            if let Some(t) = pins::pinned(self.store(), cid)? {
                bail!("cannot remove {cid}: pinned: {}", t.name());
            }
        }
        self.store().remove_ref(cid)?;
        Ok(())
    }
}
