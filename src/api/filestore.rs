//! `filestore/ls`, `filestore/verify`, `filestore/dups`: Kubo's filestore commands.
//!
//! **What.** Each streams newline-delimited JSON from the core API's
//! [`Filestore`] group (`filestore_list`, `filestore_dups`), one line per entry
//! as it is read (with `file-order`, after the sort the core does in memory).
//! There is no `filestore/rm`: `acorn filestore rm` runs offline only.
//!
//! **Spec.** Kubo `core/commands/filestore.go` and boxo `filestore/util.go`:
//! `ls` and `verify` lines are `ListRes`
//! `{"Status","ErrorMsg","Key":{"/":cid},"FilePath","Offset","Size"}` with Kubo's
//! status codes ([`status_code`](crate::core_api::filestore::status_code)); `dups` lines are `{"Ref": cid, "Err": ""}`.
//! Options: `file-order` (bool), positional `arg` CIDs.
//!
//! **Departures.** A malformed CID argument is a 400 error for the whole request
//! (Kubo emits a status-20 line for it and goes on); the CLI checks its arguments
//! first, as it does offline. `Key` is the CID as given (Kubo: the raw CIDv1 of its
//! multihash) when CIDs are named; listing everything gives raw CIDv1s, as Kubo.

use serde_json::json;

use super::{json_line, stream, Api, ApiError, ApiResult, Query, Slot};
use crate::core_api::filestore::status_code;
use crate::core_api::parse_cid_arg;
use crate::core_api::Filestore;
use crate::http::Request;

impl Api {
    /// `filestore/ls` (`check` false) and `filestore/verify` (`check` true).
    pub(super) async fn filestore_list(&self, req: Request, slot: Slot, check: bool) -> ApiResult {
        let q = Query(&req.query);
        let file_order = q.bool(&["file-order"])?.unwrap_or(false);
        let cids = q
            .args()
            .iter()
            .map(|a| parse_cid_arg(a).map_err(|e| ApiError::Client(format!("{a}: {e:#}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let core = self.core.clone();
        stream(slot, "application/json", "X-Chunked-Output", move |w| {
            core.filestore_list(&cids, check, file_order, &mut |e| {
                let line = json!({
                    "Status": status_code(e.status),
                    "ErrorMsg": e.error_msg,
                    "Key": {"/": e.cid.to_string()},
                    "FilePath": e.file_path,
                    "Offset": e.offset,
                    "Size": e.size,
                });
                Ok(json_line(w, &line)?)
            })
        })
        .await
    }

    /// `filestore/dups`: `{"Ref","Err"}` per block held both ways.
    pub(super) async fn filestore_dups(&self, slot: Slot) -> ApiResult {
        let core = self.core.clone();
        stream(slot, "application/json", "X-Chunked-Output", move |w| {
            core.filestore_dups(&mut |c| {
                Ok(json_line(w, &json!({"Ref": c.to_string(), "Err": ""}))?)
            })
        })
        .await
    }
}
