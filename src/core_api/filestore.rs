//! The filestore: `filestore ls|verify|dups|rm`.
//!
//! **What.** The [`Filestore`] group of the [core API](super): its trait, its
//! result types, and its two implementations, [`Local`] (this process's node) and
//! [`Remote`] (a daemon over the RPC API).
//!
//! **Spec.** Kubo's `core/commands/filestore.go` and boxo `filestore/util.go`:
//! an entry is Kubo's `ListRes` (status, error message, key, file path, offset,
//! size); `dups` lists the blocks held both as a reference and as a copy.
//! `filestore rm` is ours (Kubo has none).
//!
//! **Flow.** [`Local`] calls [`crate::core::Node`]'s `filestore_*`; [`Remote`]
//! calls `filestore/ls`, `filestore/verify` and `filestore/dups` and reads back
//! the JSON the RPC handlers (`src/api/filestore.rs`) write from [`Local`]'s
//! entries.
//!
//! **Limits.** Entries stream, one at a time, except with `file_order`: the node
//! then sorts every entry in memory (about 100 bytes each), as Kubo does.
//!
//! **Departures.** `filestore rm` runs offline only: the RPC API has no
//! `filestore/rm`, so [`Remote`] answers [`RM_NEEDS_OFFLINE`].

pub use acorn_storage::filestore::Status;
use cid::Cid;
use serde_json::Value;

use super::answer::cid_value;
use super::error::{bail, ensure, Result};
use super::{Local, Remote};
use crate::core::FilestoreEntry;

/// `filestore rm` through a daemon.
pub const RM_NEEDS_OFFLINE: &str =
    "filestore rm does not run through the daemon yet: stop the daemon first";

/// One filestore entry (Kubo's `ListRes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilestoreItem {
    /// The block (as named, or the raw CIDv1 of its key when listing all).
    pub cid: Cid,
    pub status: Status,
    /// Why the status is not `ok` (empty when it is).
    pub error_msg: String,
    /// The file the block lives in; empty when there is no reference.
    pub file_path: String,
    /// Where in the file, in bytes.
    pub offset: u64,
    /// The block's length, in bytes.
    pub size: u64,
}

impl FilestoreItem {
    /// Kubo's long form: `<cid padded to 50> <size padded to 6> <path> <offset>`,
    /// or the CID alone without a reference.
    pub fn format_long(&self) -> String {
        crate::core::format_long(
            &self.cid.to_string(),
            Some((self.size, &self.file_path, self.offset)),
        )
    }
}

impl From<FilestoreEntry> for FilestoreItem {
    fn from(e: FilestoreEntry) -> Self {
        let (file_path, offset, size) = match &e.file_ref {
            Some(r) => (r.path.display().to_string(), r.offset, r.len),
            None => (String::new(), 0, 0),
        };
        FilestoreItem {
            cid: e.cid,
            status: e.status,
            error_msg: e.reason,
            file_path,
            offset,
            size,
        }
    }
}

/// The filestore: `filestore ls|verify|dups|rm`.
pub trait Filestore {
    /// `filestore ls` (`check` false: status `ok` for present entries, `missing`
    /// for named blocks without one) and `filestore verify` (`check` true: each
    /// block read back from its file and hashed). `cids` empty means every entry,
    /// in key order; `file_order` sorts by path and offset.
    fn filestore_list(
        &self,
        cids: &[Cid],
        check: bool,
        file_order: bool,
        each: &mut dyn FnMut(FilestoreItem) -> Result<()>,
    ) -> Result<()>;

    /// `filestore dups`: the blocks held both as a reference and as a copy.
    fn filestore_dups(&self, each: &mut dyn FnMut(Cid) -> Result<()>) -> Result<()>;

    /// `filestore rm`: drops each block's reference (never the file), calling
    /// `each` with it. Offline only.
    fn filestore_rm(&self, cids: &[Cid], each: &mut dyn FnMut(Cid) -> Result<()>) -> Result<()>;
}

impl Filestore for Local {
    fn filestore_list(
        &self,
        cids: &[Cid],
        check: bool,
        file_order: bool,
        each: &mut dyn FnMut(FilestoreItem) -> Result<()>,
    ) -> Result<()> {
        self.node()
            .filestore_entries(cids, check, file_order, &mut |e| Ok(each(e.into())?))?;
        Ok(())
    }

    fn filestore_dups(&self, each: &mut dyn FnMut(Cid) -> Result<()>) -> Result<()> {
        Ok(self.node().filestore_dups(&mut |c| Ok(each(*c)?))?)
    }

    fn filestore_rm(&self, cids: &[Cid], each: &mut dyn FnMut(Cid) -> Result<()>) -> Result<()> {
        ensure!(!cids.is_empty(), "filestore rm needs at least one CID");
        for cid in cids {
            self.node().filestore_rm(cid)?;
            each(*cid)?;
        }
        Ok(())
    }
}

/// One `filestore/ls|verify` line from the daemon.
fn item_of(v: &Value) -> Result<FilestoreItem> {
    let code = v["Status"].as_u64().unwrap_or(u64::MAX);
    let status = status_from_code(code)
        .ok_or_else(|| anyhow::anyhow!("unknown filestore status {code} from the daemon"))?;
    Ok(FilestoreItem {
        cid: cid_value(&v["Key"]["/"])?,
        status,
        error_msg: v["ErrorMsg"].as_str().unwrap_or_default().to_string(),
        file_path: v["FilePath"].as_str().unwrap_or_default().to_string(),
        offset: v["Offset"].as_u64().unwrap_or(0),
        size: v["Size"].as_u64().unwrap_or(0),
    })
}

impl Filestore for Remote {
    fn filestore_list(
        &self,
        cids: &[Cid],
        check: bool,
        file_order: bool,
        each: &mut dyn FnMut(FilestoreItem) -> Result<()>,
    ) -> Result<()> {
        let mut q: Vec<(&str, String)> = cids.iter().map(|c| ("arg", c.to_string())).collect();
        q.push(("file-order", file_order.to_string()));
        let cmd = if check {
            "filestore/verify"
        } else {
            "filestore/ls"
        };
        self.client()
            .post(cmd, &q, None)?
            .ndjson(&mut |v| each(item_of(&v)?))
    }

    fn filestore_dups(&self, each: &mut dyn FnMut(Cid) -> Result<()>) -> Result<()> {
        self.client()
            .post("filestore/dups", &[], None)?
            .ndjson(&mut |v| match v["Err"].as_str() {
                Some(e) if !e.is_empty() => bail!("{e}"),
                _ => each(cid_value(&v["Ref"])?),
            })
    }

    fn filestore_rm(&self, _cids: &[Cid], _each: &mut dyn FnMut(Cid) -> Result<()>) -> Result<()> {
        bail!(RM_NEEDS_OFFLINE)
    }
}

/// Kubo's numeric filestore status (boxo `filestore.Status`).
pub fn status_code(s: Status) -> u32 {
    match s {
        Status::Ok => 0,
        Status::Error => 10,
        Status::NoFile => 11,
        Status::Changed => 12,
        Status::Corrupt => 20,
        Status::Missing => 30,
    }
}

/// The status a Kubo code stands for (`None` for an unknown code).
pub fn status_from_code(code: u64) -> Option<Status> {
    Some(match code {
        0 => Status::Ok,
        10 => Status::Error,
        11 => Status::NoFile,
        12 => Status::Changed,
        20 => Status::Corrupt,
        30 => Status::Missing,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_daemon_line_formats_as_offline() {
        let v = json!({
            "Status": 11, "ErrorMsg": "gone", "Key": {"/": "bafkqaaa"},
            "FilePath": "/data/a.bin", "Offset": 262144, "Size": 1000,
        });
        let it = item_of(&v).unwrap();
        assert_eq!(it.status, Status::NoFile);
        assert_eq!(it.error_msg, "gone");
        assert_eq!(
            it.format_long(),
            format!("{:<50} {:>6} /data/a.bin 262144", "bafkqaaa", 1000)
        );
        let missing = json!({"Status": 30, "Key": {"/": "bafkqaaa"}, "FilePath": ""});
        assert_eq!(item_of(&missing).unwrap().format_long(), "bafkqaaa");
        assert!(item_of(&json!({"Status": 7, "Key": {"/": "bafkqaaa"}})).is_err());
    }

    #[test]
    fn status_codes_round_trip() {
        for s in [
            Status::Ok,
            Status::Error,
            Status::NoFile,
            Status::Changed,
            Status::Corrupt,
            Status::Missing,
        ] {
            assert_eq!(status_from_code(u64::from(status_code(s))), Some(s));
        }
        assert_eq!(status_code(Status::Missing), 30);
        assert_eq!(status_from_code(1), None);
    }
}
