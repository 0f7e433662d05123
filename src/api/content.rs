//! Endpoints that read content: `get` (a plain tar), `refs`, `cat`, `ls`,
//! `block/get`, `block/stat`, and `repo/verify`. Reads run on the repo's pool
//! against the blockstore only; blocks they lack are fetched between runs.

use serde_json::{json, Value};

use super::{
    fetching_stream, json_line, json_response, one_cid, refs_options, stream, unixfs_type_code,
    Api, ApiError, ApiResult, Query, Slot,
};
use crate::core_api::fetch::{Reach, Resume};
use crate::core_api::Content as _;
use crate::http::Request;

impl Api {
    /// Kubo's `get`: a tar stream (no `archive`/`compress` options: always plain tar,
    /// which is what Kubo's CLI asks for and unpacks).
    pub(super) async fn get(&self, req: Request, slot: Slot) -> ApiResult {
        let q = Query(&req.query);
        let arg = q.required_args("ipfs-path")?.swap_remove(0);
        if q.bool(&["compress", "C"])?.unwrap_or(false) {
            return Err(ApiError::Client("get: compress is not supported".into()));
        }
        crate::core_api::content::parse_ipfs_path(&arg)
            .map_err(|e| ApiError::Client(e.to_string()))?;
        fetching_stream(
            slot,
            "application/x-tar",
            "X-Stream-Output",
            Reach::Dag,
            Resume::Replay,
            move |c, w, _| c.get_tar(&arg, w),
        )
        .await
    }

    /// Kubo's `refs`: `{"Ref": cid, "Err": ""}` lines.
    pub(super) async fn refs(&self, req: Request, slot: Slot) -> ApiResult {
        let q = Query(&req.query);
        let paths = q.required_args("ipfs-path")?;
        let recursive = q.bool(&["recursive", "r"])?.unwrap_or(false);
        let unique = q.bool(&["unique", "u"])?.unwrap_or(false);
        let opts = refs_options(&q, recursive, unique)?;
        let reach = if recursive { Reach::Dag } else { Reach::Block };
        fetching_stream(
            slot,
            "application/json",
            "X-Chunked-Output",
            reach,
            Resume::Replay,
            move |core, w, _| {
                core.refs_formatted(&paths, &opts, &mut |line| {
                    Ok(json_line(w, &json!({"Ref": line, "Err": ""}))?)
                })
            },
        )
        .await
    }

    pub(super) async fn cat(&self, req: Request, slot: Slot) -> ApiResult {
        let q = Query(&req.query);
        let paths = q.required_args("ipfs-path")?;
        let offset = q.non_negative(&["offset", "o"])?.unwrap_or(0);
        let length = q.non_negative(&["length", "l"])?;
        // A rerun resumes after the bytes already sent.
        fetching_stream(
            slot,
            "text/plain",
            "X-Stream-Output",
            Reach::Block,
            Resume::Offset,
            move |c, w, done| {
                let length = length.map(|l| l.saturating_sub(done));
                if length == Some(0) && done > 0 {
                    return Ok(());
                }
                c.cat(&paths, offset + done, length, w)
            },
        )
        .await
    }

    pub(super) async fn ls(&self, req: Request) -> ApiResult {
        let q = Query(&req.query);
        let paths = q.required_args("ipfs-path")?;
        let objects = self
            .on_content(Reach::Block, move |c| {
                let mut objects = Vec::with_capacity(paths.len());
                for p in &paths {
                    let links: Vec<Value> = c
                        .ls(p)?
                        .into_iter()
                        .map(|e| {
                            json!({
                                "Name": e.name,
                                "Hash": e.cid.to_string(),
                                "Size": e.size,
                                "Type": unixfs_type_code(e.kind),
                                "Target": "",
                            })
                        })
                        .collect();
                    objects.push(json!({"Hash": p, "Links": links}));
                }
                Ok(objects)
            })
            .await?;
        Ok(json_response(&json!({ "Objects": objects })))
    }

    pub(super) async fn block_get(&self, req: Request, slot: Slot) -> ApiResult {
        use crate::core_api::Blocks as _;
        let q = Query(&req.query);
        let cid = one_cid(&q)?;
        let core = self.core.clone();
        stream(slot, "text/plain", "X-Stream-Output", move |w| {
            core.block_get(&cid, w)
        })
        .await
    }

    pub(super) async fn block_stat(&self, req: Request) -> ApiResult {
        use crate::core_api::Blocks as _;
        let cid = one_cid(&Query(&req.query))?;
        let st = self.on_core(move |c| c.block_stat(&cid)).await?;
        Ok(json_response(
            &json!({"Key": st.cid.to_string(), "Size": st.size}),
        ))
    }

    pub(super) async fn repo_verify(&self, slot: Slot) -> ApiResult {
        let core = self.core.clone();
        stream(slot, "application/json", "X-Chunked-Output", move |w| {
            use crate::core_api::Repo;
            let summary = core
                .repo_verify(&mut |msg| Ok(json_line(w, &json!({"Msg": msg, "Progress": 0}))?))?;
            json_line(
                w,
                &json!({"Msg": summary.message(), "Progress": summary.checked}),
            )?;
            Ok(())
        })
        .await
    }
}
