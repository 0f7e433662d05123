//! RPC handlers for pins and the repo: `pin/add`, `pin/rm`, `pin/ls`,
//! `pin/update`, `pin/verify`, `repo/gc`, `repo/stat`.
//!
//! **Spec.** Kubo's `core/commands/pin/pin.go` and `repo.go`, the shapes IPFS
//! Cluster's `ipfshttp` connector reads:
//! - `pin/add` → `{"Pins":[cid,..]}`; with `progress=true` a stream instead:
//!   `{"Progress":N}` lines (blocks checked or fetched so far, at most one per
//!   [`crate::core_api::pins::PIN_PROGRESS_INTERVAL`]), a last `{"Progress":N}`,
//!   then `{"Pins":[..]}`.
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
//! **Flow.** Each handler parses Kubo's parameters, calls the [`Pins`] or
//! [`Repo`] group of the core API ([`crate::core_api`]) on the blocking pool,
//! and writes Kubo's JSON from its typed results (streams as they come).
//!
//! **Departures.** `pin/verify` checks direct pins too (Kubo: recursive only).
//! `repo/stat?size-only=true` leaves out the other fields (Kubo sends them zeroed).
//! Progress lines come as blocks are reached, not on a timer: a stalled fetch
//! sends none.

use serde_json::{json, Value};

use super::dag::exact_args;
use super::{
    json_dag_stream, json_line, json_response, stream, Api, ApiError, ApiResult, Query, Slot,
};
use crate::core_api::fetch::Reach;
use crate::core_api::pins::{PinAddEvent, PinAddOptions, PinFilter, PinVerifyOptions};
use crate::core_api::repo::GcEvent;
use crate::core_api::{Pins, Repo};
use crate::http::Request;

impl Api {
    pub(super) async fn pin_add(&self, req: Request, slot: Slot) -> ApiResult {
        let q = Query(&req.query);
        let progress = q.bool(&["progress"])?.unwrap_or(false);
        let paths = q.required_args("ipfs-path")?;
        let opts = PinAddOptions {
            recursive: q.bool(&["recursive", "r"])?.unwrap_or(true),
            progress,
        };
        if !opts.progress {
            let pins = self
                .on_content(Reach::Dag, move |c| {
                    let mut pins = Vec::with_capacity(paths.len());
                    c.pin_add(&paths, opts, &mut |e| {
                        if let PinAddEvent::Pinned(cid) = e {
                            pins.push(cid.to_string());
                        }
                        Ok(())
                    })?;
                    Ok(pins)
                })
                .await?;
            return Ok(json_response(&json!({ "Pins": pins })));
        }
        json_dag_stream(slot, move |core, w, _| {
            let mut pins = Vec::with_capacity(paths.len());
            core.pin_add(&paths, opts, &mut |e| {
                match e {
                    PinAddEvent::Progress(n) => json_line(w, &json!({ "Progress": n }))?,
                    PinAddEvent::Pinned(cid) => pins.push(cid.to_string()),
                }
                Ok(())
            })?;
            json_line(w, &json!({ "Pins": pins }))?;
            Ok(())
        })
        .await
    }

    pub(super) async fn pin_rm(&self, req: Request) -> ApiResult {
        let q = Query(&req.query);
        let paths = q.required_args("ipfs-path")?;
        let recursive = q.bool(&["recursive", "r"])?.unwrap_or(true);
        let pins = self
            .on_core(move |c| {
                let mut pins = Vec::with_capacity(paths.len());
                c.pin_rm(&paths, recursive, &mut |cid| {
                    pins.push(cid.to_string());
                    Ok(())
                })?;
                Ok(pins)
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
        if streamed {
            let core = self.core.clone();
            return stream(slot, "application/json", "X-Chunked-Output", move |w| {
                core.pin_ls(filter, &paths, &mut |p| {
                    let line = json!({"Cid": p.cid.to_string(), "Type": p.pin_type.name()});
                    Ok(json_line(w, &line)?)
                })
            })
            .await;
        }
        // One JSON object: the whole listing is held (Kubo's shape).
        let keys = self
            .on_core(move |c| {
                let mut keys = serde_json::Map::new();
                c.pin_ls(filter, &paths, &mut |p| {
                    keys.insert(
                        p.cid.to_string(),
                        json!({"Type": p.pin_type.name(), "Name": ""}),
                    );
                    Ok(())
                })?;
                Ok(keys)
            })
            .await?;
        Ok(json_response(&json!({ "Keys": keys })))
    }

    pub(super) async fn pin_update(&self, req: Request) -> ApiResult {
        let q = Query(&req.query);
        let args = exact_args(&q, &["from-path", "to-path"])?;
        let unpin = q.bool(&["unpin"])?.unwrap_or(true);
        let (from, to) = self
            .on_core(move |c| c.pin_update(&args[0], &args[1], unpin))
            .await?;
        Ok(json_response(
            &json!({ "Pins": [from.to_string(), to.to_string()] }),
        ))
    }

    pub(super) async fn pin_verify(&self, req: Request, slot: Slot) -> ApiResult {
        let q = Query(&req.query);
        let opts = PinVerifyOptions {
            verbose: q.bool(&["verbose"])?.unwrap_or(false),
            quiet: q.bool(&["quiet", "q"])?.unwrap_or(false),
        };
        if opts.verbose && opts.quiet {
            return Err(ApiError::Client(
                "the --verbose and --quiet options can not be used at the same time".into(),
            ));
        }
        let core = self.core.clone();
        stream(slot, "application/json", "X-Chunked-Output", move |w| {
            core.pin_verify(opts, &mut |st| {
                let line = if st.ok {
                    json!({"Cid": st.cid.to_string(), "Ok": true})
                } else if opts.quiet {
                    json!({"Cid": st.cid.to_string()})
                } else {
                    let bad: Vec<Value> = st
                        .bad_nodes
                        .iter()
                        .map(|b| json!({"Cid": b.cid.to_string(), "Err": b.err}))
                        .collect();
                    json!({"Cid": st.cid.to_string(), "BadNodes": bad})
                };
                Ok(json_line(w, &line)?)
            })
        })
        .await
    }

    pub(super) async fn repo_stat(&self, req: Request) -> ApiResult {
        let q = Query(&req.query);
        let size_only = q.bool(&["size-only", "s"])?.unwrap_or(false);
        q.bool(&["human", "H"])?;
        let st = self.on_core(move |c| c.repo_stat(size_only)).await?;
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
        let core = self.core.clone();
        stream(slot, "application/json", "X-Chunked-Output", move |w| {
            core.repo_gc(stream_errors, &mut |e| {
                let line = match e {
                    GcEvent::Removed(cid) => json!({"Key": {"/": cid.to_string()}}),
                    GcEvent::Error(e) => json!({"Key": null, "Error": e}),
                };
                Ok(json_line(w, &line)?)
            })
        })
        .await
    }
}
