//! RPC handlers for blocks, DAGs and paths: `block/put`, `block/rm`, `dag/put`,
//! `dag/get`, `dag/export`, `dag/import`, `dag/stat`, `refs/local`, `resolve`.
//!
//! **Spec.** Kubo's RPC API (`core/commands/block.go`, `core/commands/dag/*.go`,
//! `refs.go`, `resolve.go`), field for field:
//! - `block/put` → one `{"Key","Size"}` line per multipart part; options
//!   `cid-codec` (default raw), legacy `format`/`f` (`v0` = CIDv0 dag-pb), `mhtype`,
//!   `mhlen`, `pin`, `allow-big-block` (over 1 MiB refused without it).
//! - `block/rm` → `{"Hash"}` per removed block (none with `quiet`), `{"Hash","Error"}`
//!   per block not removed; the command goes on with the next block.
//! - `dag/put` → `{"Cid":{"/":cid}}` per part; `store-codec` (dag-cbor),
//!   `input-codec` (dag-json), `pin`, `hash`, `allow-big-block`.
//! - `dag/get` → the node (or the value at an IPLD path) in `output-codec`
//!   (dag-json); `dag/export` → a CARv1 stream.
//! - `dag/import` → `{"Root":{"Cid":{"/":cid},"PinErrorMsg":""}}` per root (with
//!   `pin-roots`, default true), then `{"Stats":{"BlockCount","BlockBytesCount"}}`
//!   with `stats`. Every CAR is read whole and checked before anything is stored.
//! - `dag/stat` → Kubo 0.2x's `DagStatSummary`: `{"UniqueBlocks","TotalSize",
//!   "SharedSize","Ratio","DagStats":[{"Cid","Size","NumBlocks"}]}` (zero fields
//!   left out, as Go's `omitempty`); with `progress` (default true) the summary so
//!   far after each block, the last line being the whole one.
//! - `refs/local` → `{"Ref","Err"}` lines; `resolve` → `{"Path":"/ipfs/<cid>"}`.
//!
//! **Flow.** The block and DAG handlers parse Kubo's parameters, then get their
//! data only from the [`Blocks`](crate::core_api::Blocks) and
//! [`Dag`](crate::core_api::Dag) core API (on the blocking pool, streaming into the
//! response) and write Kubo's JSON; [`crate::core_api::Remote`] reads that JSON
//! back. `dag/import` hands the multipart parts to the core as CAR streams named
//! by their filenames (errors name the CAR as the client gave it).
//!
//! **Limits.** A `block/put` part ≤ `MAX_BLOCK_BYTES` (≤ 1 MiB unless
//! `allow-big-block`); a `dag/put` part ≤ `MAX_DAG_INPUT_BYTES`; `dag/import` spools
//! each CAR to a temporary file in the repo (disk, not memory).
//!
//! **Departures.** `mhtype` is sha2-256 only; `dag/import` does not apply the
//! 1 MiB soft limit per block (the 2 MiB hard limit holds); `resolve` ignores
//! `recursive` and refuses `/ipns/` names; `dag/export` ignores `progress`.

use std::io::Read;

use serde_json::{json, Value};

use super::{
    fetching_stream, json_dag_stream, json_line, json_response, multipart_body, stream, Api,
    ApiError, ApiResult, Query, Slot,
};
use crate::core_api::blocks::{mhlen_from_arg, mhtype_from_name, BlockPutOptions, Blocks as _};
use crate::core_api::dag::{
    hash_from_name, Car, CarSource, Dag as _, DagPutOptions, DagStatSummary, MAX_DAG_INPUT_BYTES,
};
use crate::core_api::error::{ensure, Error as CoreError};
use crate::core_api::fetch::{Reach, Resume};
use crate::core_api::Content as _;
use crate::core_api::{cids, parse_cid_arg};
use crate::http::multipart::Multipart;
use crate::http::Request;

/// Exactly `names.len()` positional arguments, as Kubo's command parser checks them.
pub(super) fn exact_args(q: &Query<'_>, names: &[&str]) -> Result<Vec<String>, ApiError> {
    let args = q.args();
    if args.len() < names.len() {
        return Err(ApiError::Client(format!(
            "argument \"{}\" is required",
            names[args.len()]
        )));
    }
    if args.len() > names.len() {
        return Err(ApiError::Client(format!(
            "expected {} argument(s), got {}",
            names.len(),
            args.len()
        )));
    }
    Ok(args)
}

/// A CID argument, 400 when it does not parse.
fn cid_arg(s: &str) -> Result<cid::Cid, ApiError> {
    parse_cid_arg(s).map_err(|e| ApiError::Client(format!("{e:#}")))
}

/// Multipart parts as the CARs of `dag/import`, named by their filename.
struct PartCars<'a, R: Read> {
    parts: &'a mut Multipart<R>,
    count: usize,
}

impl<R: Read> CarSource for PartCars<'_, R> {
    fn next_car(&mut self) -> anyhow::Result<Option<Car<'_>>> {
        let Some(part) = self.parts.next_part()? else {
            return Ok(None);
        };
        self.count += 1;
        Ok(Some(Car::Stream {
            name: part
                .filename
                .unwrap_or_else(|| format!("part {}", self.count)),
            reader: &mut *self.parts,
        }))
    }
}

/// Kubo's `DagStatSummary` JSON (Go `omitempty`: zero fields left out).
fn dag_stat_json(s: &DagStatSummary, done: bool) -> Value {
    let mut v = serde_json::Map::new();
    let mut put = |k: &str, n: u64| {
        if n != 0 {
            v.insert(k.to_string(), json!(n));
        }
    };
    if done {
        put("UniqueBlocks", s.unique_blocks);
    }
    put("TotalSize", s.total_size);
    if done {
        put("SharedSize", s.shared_size());
        if s.ratio() != 0.0 {
            v.insert("Ratio".into(), json!(s.ratio()));
        }
    }
    let dags: Vec<Value> = s
        .dags
        .iter()
        .map(|d| {
            let mut o = serde_json::Map::new();
            o.insert("Cid".into(), json!(d.cid.to_string()));
            if d.size != 0 {
                o.insert("Size".into(), json!(d.size));
            }
            if d.num_blocks != 0 {
                o.insert("NumBlocks".into(), json!(d.num_blocks));
            }
            Value::Object(o)
        })
        .collect();
    if !dags.is_empty() {
        v.insert("DagStats".into(), Value::Array(dags));
    }
    Value::Object(v)
}

impl Api {
    pub(super) async fn block_put(&self, req: Request, slot: Slot) -> ApiResult {
        let q = Query(&req.query);
        let cid_codec = q.get(&["cid-codec"]);
        let (version, codec_name) = match q.get(&["format", "f"]) {
            None | Some("") => (1, cid_codec.unwrap_or("raw")),
            Some(f) => {
                if cid_codec.is_some_and(|c| c != "raw") {
                    return Err(ApiError::Client(
                        "unable to use \"format\" (deprecated) and a custom \"cid-codec\" at \
                         the same time"
                            .into(),
                    ));
                }
                match f {
                    "v0" => (0, "dag-pb"),
                    other => (1, other),
                }
            }
        };
        let client = |e: CoreError| ApiError::Client(e.to_string());
        let opts = BlockPutOptions {
            version,
            codec: cids::codec_from_name(codec_name).map_err(|e| client(e.into()))?,
            mhtype: mhtype_from_name(q.get(&["mhtype"]).unwrap_or("sha2-256")).map_err(client)?,
            // A Go int in Kubo (`0x20` is 32), then the core's check.
            mhlen: mhlen_from_arg(&q.int(&["mhlen"])?.unwrap_or(-1).to_string()).map_err(client)?,
            pin: q.bool(&["pin"])?.unwrap_or(false),
            allow_big_block: q.bool(&["allow-big-block"])?.unwrap_or(false),
        };
        let mut parts = multipart_body(&req)?;
        let core = self.core.clone();
        stream(slot, "application/json", "X-Chunked-Output", move |w| {
            let limit = crate::core_api::blocks::MAX_BLOCK_BYTES;
            while parts.next_part()?.is_some() {
                let mut data = Vec::new();
                (&mut parts).take(limit as u64 + 1).read_to_end(&mut data)?;
                ensure!(
                    data.len() <= limit,
                    TooLarge,
                    "block is over the {limit}-byte block limit"
                );
                let put = core.block_put(data, &opts)?;
                json_line(w, &json!({"Key": put.cid.to_string(), "Size": put.size}))?;
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn block_rm(&self, req: Request, slot: Slot) -> ApiResult {
        let q = Query(&req.query);
        let args = q.required_args("cid")?;
        let force = q.bool(&["force", "f"])?.unwrap_or(false);
        let quiet = q.bool(&["quiet", "q"])?.unwrap_or(false);
        let cids = args
            .iter()
            .map(|a| cid_arg(a))
            .collect::<Result<Vec<_>, _>>()?;
        let core = self.core.clone();
        stream(slot, "application/json", "X-Chunked-Output", move |w| {
            core.block_rm(&cids, force, &mut |r| {
                let hash = r.cid.to_string();
                match r.error {
                    None if quiet => {}
                    None => json_line(w, &json!({ "Hash": hash }))?,
                    Some(e) => json_line(w, &json!({"Hash": hash, "Error": e}))?,
                }
                Ok(())
            })
        })
        .await
    }

    pub(super) async fn dag_put(&self, req: Request, slot: Slot) -> ApiResult {
        let q = Query(&req.query);
        let codec = |names: &[&str], default: &str| {
            cids::codec_from_name(q.get(names).unwrap_or(default))
                .map_err(|e| ApiError::Client(e.to_string()))
        };
        let opts = DagPutOptions {
            store_codec: codec(&["store-codec"], "dag-cbor")?,
            input_codec: codec(&["input-codec"], "dag-json")?,
            hash: hash_from_name(q.get(&["hash"]).unwrap_or("sha2-256"))
                .map_err(|e| ApiError::Client(e.to_string()))?,
            pin: q.bool(&["pin"])?.unwrap_or(false),
            allow_big_block: q.bool(&["allow-big-block"])?.unwrap_or(false),
        };
        let mut parts = multipart_body(&req)?;
        let core = self.core.clone();
        stream(slot, "application/json", "X-Chunked-Output", move |w| {
            let mut n = 0;
            while parts.next_part()?.is_some() {
                let mut data = Vec::new();
                (&mut parts)
                    .take(MAX_DAG_INPUT_BYTES as u64 + 1)
                    .read_to_end(&mut data)?;
                ensure!(
                    data.len() <= MAX_DAG_INPUT_BYTES,
                    TooLarge,
                    "input is over the {MAX_DAG_INPUT_BYTES}-byte limit"
                );
                let cid = core.dag_put(&data, &opts)?;
                json_line(w, &json!({"Cid": {"/": cid.to_string()}}))?;
                n += 1;
            }
            ensure!(n > 0, "argument \"object data\" is required");
            Ok(())
        })
        .await
    }

    pub(super) async fn dag_get(&self, req: Request, slot: Slot) -> ApiResult {
        let q = Query(&req.query);
        let arg = exact_args(&q, &["ref"])?.swap_remove(0);
        let codec = cids::codec_from_name(q.get(&["output-codec"]).unwrap_or("dag-json"))
            .map_err(|e| ApiError::Client(e.to_string()))?;
        fetching_stream(
            slot,
            "text/plain",
            "X-Stream-Output",
            Reach::Block,
            Resume::Replay,
            move |c, w, _| c.dag_get(&arg, codec, w),
        )
        .await
    }

    pub(super) async fn dag_export(&self, req: Request, slot: Slot) -> ApiResult {
        let q = Query(&req.query);
        let arg = exact_args(&q, &["root"])?.swap_remove(0);
        fetching_stream(
            slot,
            "application/vnd.ipld.car",
            "X-Stream-Output",
            Reach::Dag,
            Resume::Replay,
            move |c, w, _| c.dag_export(&arg, w),
        )
        .await
    }

    pub(super) async fn dag_import(&self, req: Request, slot: Slot) -> ApiResult {
        let q = Query(&req.query);
        let pin_roots = q.bool(&["pin-roots"])?.unwrap_or(true);
        let stats = q.bool(&["stats"])?.unwrap_or(false);
        q.bool(&["silent"])?;
        let mut parts = multipart_body(&req)?;
        let core = self.core.clone();
        stream(slot, "application/json", "X-Chunked-Output", move |w| {
            let mut cars = PartCars {
                parts: &mut parts,
                count: 0,
            };
            let done = core.dag_import(&mut cars, pin_roots)?;
            for r in &done.roots {
                let root = json!({
                    "Cid": {"/": r.cid.to_string()},
                    "PinErrorMsg": r.pin_error.as_deref().unwrap_or(""),
                });
                json_line(w, &json!({ "Root": root }))?;
            }
            if stats {
                let s = json!({
                    "BlockCount": done.block_count,
                    "BlockBytesCount": done.block_bytes_count,
                });
                json_line(w, &json!({ "Stats": s }))?;
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn dag_stat(&self, req: Request, slot: Slot) -> ApiResult {
        let q = Query(&req.query);
        let args = q.required_args("root")?;
        let progress = q.bool(&["progress", "p"])?.unwrap_or(true);
        json_dag_stream(slot, move |core, w, _| {
            let mut show = |s: &DagStatSummary| Ok(json_line(w, &dag_stat_json(s, false))?);
            let sum = core.dag_stat(&args, progress.then_some(&mut show as _))?;
            json_line(w, &dag_stat_json(&sum, true))?;
            Ok(())
        })
        .await
    }

    pub(super) async fn refs_local(&self, slot: Slot) -> ApiResult {
        let core = self.core.clone();
        stream(slot, "application/json", "X-Chunked-Output", move |w| {
            core.refs_local(&mut |c| Ok(json_line(w, &json!({"Ref": c.to_string(), "Err": ""}))?))
        })
        .await
    }

    /// Kubo's `dag/resolve`: `{"Cid":{"/":…},"RemPath":…}`.
    pub(super) async fn dag_resolve(&self, req: Request) -> ApiResult {
        let q = Query(&req.query);
        let arg = exact_args(&q, &["ref"])?.swap_remove(0);
        let (cid, rem) = self
            .on_content(Reach::Block, move |c| c.dag_resolve(&arg))
            .await?;
        Ok(json_response(
            &json!({ "Cid": {"/": cid.to_string()}, "RemPath": rem }),
        ))
    }

    pub(super) async fn resolve(&self, req: Request) -> ApiResult {
        let q = Query(&req.query);
        let arg = exact_args(&q, &["name"])?.swap_remove(0);
        q.bool(&["recursive", "r"])?;
        let cid = self
            .on_content(Reach::Block, move |c| c.resolve(&arg))
            .await?;
        Ok(json_response(&json!({ "Path": format!("/ipfs/{cid}") })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core_api::dag::DagStat;

    fn cid(s: &str) -> cid::Cid {
        cids::parse(s).unwrap()
    }

    /// Kubo's shapes: zero fields left out, the progress form without the totals.
    #[test]
    fn dag_stat_json_matches_kubo() {
        let c = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4";
        let mut s = DagStatSummary {
            unique_blocks: 2,
            total_size: 10,
            redundant_size: 15,
            dags: vec![
                DagStat {
                    cid: cid(c),
                    size: 10,
                    num_blocks: 2,
                },
                DagStat {
                    cid: cid(c),
                    size: 5,
                    num_blocks: 1,
                },
            ],
        };
        assert_eq!(
            dag_stat_json(&s, true),
            json!({"UniqueBlocks": 2, "TotalSize": 10, "SharedSize": 5, "Ratio": 1.5,
                   "DagStats": [{"Cid": c, "Size": 10, "NumBlocks": 2},
                                {"Cid": c, "Size": 5, "NumBlocks": 1}]})
        );
        assert_eq!(
            dag_stat_json(&s, false),
            json!({"TotalSize": 10, "DagStats": [{"Cid": c, "Size": 10, "NumBlocks": 2},
                                                 {"Cid": c, "Size": 5, "NumBlocks": 1}]})
        );
        s.redundant_size = 10;
        s.dags.truncate(1);
        assert_eq!(
            dag_stat_json(&s, true),
            json!({"UniqueBlocks": 2, "TotalSize": 10, "Ratio": 1.0,
                   "DagStats": [{"Cid": c, "Size": 10, "NumBlocks": 2}]})
        );
    }

    #[test]
    fn exact_args_counts_like_kubo() {
        let q = vec![("arg".to_string(), "a".to_string())];
        assert_eq!(exact_args(&Query(&q), &["x"]).unwrap(), ["a"]);
        let e = exact_args(&Query(&q), &["from-path", "to-path"]).unwrap_err();
        assert!(matches!(e, ApiError::Client(m) if m == "argument \"to-path\" is required"));
        let e = exact_args(&Query(&q), &[]).unwrap_err();
        assert!(matches!(e, ApiError::Client(m) if m == "expected 0 argument(s), got 1"));
    }
}
