//! RPC handlers for pins and the repo: `pin/add`, `pin/rm`, `pin/ls`,
//! `pin/update`, `pin/verify`, `repo/gc`, `repo/stat`.
//!
//! **Spec.** Kubo's `core/commands/pin/pin.go` and `repo.go`, the shapes IPFS
//! Cluster's `ipfshttp` connector reads:
//! - `pin/add` → `{"Pins":[cid,..]}`; with `progress=true` a stream instead:
//!   `{"Progress":N}` lines (blocks checked or fetched so far, at most one per
//!   [`PIN_PROGRESS_INTERVAL`]), a last `{"Progress":N}`, then `{"Pins":[..]}`.
//! - `pin/rm` → `{"Pins":[..]}`; `pin/update` (from, to; `unpin` default true) →
//!   `{"Pins":[from,to]}`.
//! - `pin/ls` → `{"Keys":{cid:{"Type","Name"}}}`; with `stream=true` one
//!   `{"Cid","Type"}` line per pin; `type` = all|direct|recursive|indirect.
//! - `pin/verify` → one line per pin: `{"Cid","Ok":true}` (only with `verbose`)
//!   or `{"Cid","BadNodes":[{"Cid","Err"}]}` (`BadNodes` left out with `quiet`).
//! - `repo/gc` → `{"Key":{"/":cid}}` per removed block; with `stream-errors` an
//!   error is a `{"Key":null,"Error":..}` line and the stream then ends with
//!   "encountered errors during gc run"; `quiet` only changes Kubo's text output.
//! - `repo/stat` → `{"RepoSize","StorageMax","NumObjects","RepoPath","Version"}`;
//!   `size-only` leaves only `RepoSize` and `StorageMax`; `human` only changes
//!   Kubo's text output.
//!
//! **Departures.** `pin/verify` checks direct pins too (Kubo: recursive only).
//! `repo/stat?size-only=true` leaves out the other fields (Kubo sends them zeroed).
//! Progress lines come as blocks are reached, not on a timer: a stalled fetch
//! sends none.

use std::time::{Duration, Instant};

use acorn_storage::pins::{PinFilter, PinType};
use serde_json::{json, Value};

use super::dag::exact_args;
use super::http::Request;
use super::{json_line, json_response, stream, Api, ApiError, ApiResult, Query, Slot};
use crate::core::Node;

/// Least time between two `{"Progress":N}` lines of `pin/add` (Kubo's ticker).
pub const PIN_PROGRESS_INTERVAL: Duration = Duration::from_millis(500);

impl Api {
    pub(super) async fn pin_add(&self, req: Request, slot: Slot) -> ApiResult {
        let q = Query(&req.query);
        if !q.bool(&["progress"])?.unwrap_or(false) {
            return self.pin_change(req, Node::pin_add).await;
        }
        let paths = q.required_args("ipfs-path")?;
        let recursive = q.bool(&["recursive", "r"])?.unwrap_or(true);
        let node = self.node.clone();
        stream(slot, "application/json", "X-Chunked-Output", move |w| {
            let mut count = 0u64;
            let mut last = Instant::now();
            let mut failed = None;
            let mut pins = Vec::with_capacity(paths.len());
            for p in &paths {
                let cid = node.resolve_arg(p)?;
                node.pin_add_progress(&cid, recursive, &mut || {
                    count += 1;
                    if failed.is_none() && last.elapsed() >= PIN_PROGRESS_INTERVAL {
                        last = Instant::now();
                        failed = json_line(w, &json!({ "Progress": count })).err();
                    }
                })?;
                if let Some(e) = failed.take() {
                    return Err(e.into());
                }
                pins.push(cid.to_string());
            }
            if count != 0 {
                json_line(w, &json!({ "Progress": count }))?;
            }
            json_line(w, &json!({ "Pins": pins }))?;
            Ok(())
        })
        .await
    }

    pub(super) async fn pin_rm(&self, req: Request) -> ApiResult {
        self.pin_change(req, Node::pin_rm).await
    }

    /// `pin/add` and `pin/rm`: `op` on each path's CID; Kubo's `{"Pins": [...]}`.
    async fn pin_change(
        &self,
        req: Request,
        op: fn(&Node, &cid::Cid, bool) -> anyhow::Result<()>,
    ) -> ApiResult {
        let q = Query(&req.query);
        let paths = q.required_args("ipfs-path")?;
        let recursive = q.bool(&["recursive", "r"])?.unwrap_or(true);
        let pins = self
            .blocking(move |n| {
                let mut out = Vec::with_capacity(paths.len());
                for p in &paths {
                    let cid = n.resolve_arg(p)?;
                    op(n, &cid, recursive)?;
                    out.push(cid.to_string());
                }
                Ok(out)
            })
            .await?;
        Ok(json_response(&json!({ "Pins": pins })))
    }

    pub(super) async fn pin_ls(&self, req: Request, slot: Slot) -> ApiResult {
        let q = Query(&req.query);
        let filter = match q.get(&["type", "t"]).unwrap_or("all") {
            "all" => PinFilter::All,
            "direct" => PinFilter::Direct,
            "recursive" => PinFilter::Recursive,
            "indirect" => PinFilter::Indirect,
            other => {
                return Err(ApiError::Client(format!(
                    "invalid type '{other}', must be one of {{direct, indirect, recursive, all}}"
                )))
            }
        };
        let paths = q.args();
        let streamed = q.bool(&["stream", "s"])?.unwrap_or(false);
        let list = move |n: &Node| -> anyhow::Result<Vec<(cid::Cid, PinType)>> {
            let cids = paths
                .iter()
                .map(|p| n.resolve_arg(p))
                .collect::<anyhow::Result<Vec<_>>>()?;
            n.pin_ls(filter, &cids)
        };
        if streamed {
            let node = self.node.clone();
            return stream(slot, "application/json", "X-Chunked-Output", move |w| {
                for (cid, t) in list(&node)? {
                    json_line(w, &json!({"Cid": cid.to_string(), "Type": t.name()}))?;
                }
                Ok(())
            })
            .await;
        }
        let pins = self.blocking(list).await?;
        let mut keys = serde_json::Map::new();
        for (cid, t) in pins {
            keys.insert(cid.to_string(), json!({"Type": t.name(), "Name": ""}));
        }
        Ok(json_response(&json!({ "Keys": keys })))
    }

    pub(super) async fn pin_update(&self, req: Request) -> ApiResult {
        let q = Query(&req.query);
        let args = exact_args(&q, &["from-path", "to-path"])?;
        let unpin = q.bool(&["unpin"])?.unwrap_or(true);
        let pins = self
            .blocking(move |n| {
                let from = n.resolve_arg(&args[0])?;
                let to = n.resolve_arg(&args[1])?;
                n.pin_update(&from, &to, unpin)?;
                Ok([from.to_string(), to.to_string()])
            })
            .await?;
        Ok(json_response(&json!({ "Pins": pins })))
    }

    pub(super) async fn pin_verify(&self, req: Request, slot: Slot) -> ApiResult {
        let q = Query(&req.query);
        let verbose = q.bool(&["verbose"])?.unwrap_or(false);
        let quiet = q.bool(&["quiet", "q"])?.unwrap_or(false);
        if verbose && quiet {
            return Err(ApiError::Client(
                "the --verbose and --quiet options can not be used at the same time".into(),
            ));
        }
        let node = self.node.clone();
        stream(slot, "application/json", "X-Chunked-Output", move |w| {
            for st in node.pin_verify()? {
                let line = if st.ok() {
                    if !verbose {
                        continue;
                    }
                    json!({"Cid": st.cid.to_string(), "Ok": true})
                } else if quiet {
                    json!({"Cid": st.cid.to_string()})
                } else {
                    let bad: Vec<Value> = st
                        .bad_nodes
                        .iter()
                        .map(|b| json!({"Cid": b.cid.to_string(), "Err": b.error}))
                        .collect();
                    json!({"Cid": st.cid.to_string(), "BadNodes": bad})
                };
                json_line(w, &line)?;
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn repo_stat(&self, req: Request) -> ApiResult {
        let q = Query(&req.query);
        let size_only = q.bool(&["size-only", "s"])?.unwrap_or(false);
        q.bool(&["human", "H"])?;
        let st = self.blocking(|n| n.repo_stat()).await?;
        let v = if size_only {
            json!({"RepoSize": st.repo_size, "StorageMax": st.storage_max})
        } else {
            json!({
                "RepoSize": st.repo_size,
                "StorageMax": st.storage_max,
                "NumObjects": st.num_objects,
                "RepoPath": st.repo_path,
                "Version": st.version,
            })
        };
        Ok(json_response(&v))
    }

    pub(super) async fn repo_gc(&self, req: Request, slot: Slot) -> ApiResult {
        let q = Query(&req.query);
        let stream_errors = q.bool(&["stream-errors"])?.unwrap_or(false);
        q.bool(&["quiet", "q"])?;
        let node = self.node.clone();
        stream(slot, "application/json", "X-Chunked-Output", move |w| {
            let mut failed = None;
            let r = node.repo_gc(&mut |cid| {
                if failed.is_none() {
                    failed = json_line(w, &json!({"Key": {"/": cid.to_string()}})).err();
                }
            });
            if let Some(e) = failed {
                return Err(e.into());
            }
            match r {
                Err(e) if stream_errors => {
                    json_line(w, &json!({"Key": null, "Error": format!("{e:#}")}))?;
                    anyhow::bail!("encountered errors during gc run")
                }
                r => r.map(drop),
            }
        })
        .await
    }
}
