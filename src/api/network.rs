//! The `Network` group's endpoints: `id`, `swarm/*`, `stats/bw` and
//! `routing/*` (and their `dht/*` names). Each waits for the swarm task on the
//! network-wait pool, not the repo's.

use serde_json::{json, Value};

use super::{json_response, Api, ApiError, ApiResult, Query};
use crate::core_api::{network, parse_cid_arg, Network as _};
use crate::http::{Request, Response};

impl Api {
    pub(super) async fn id(&self, req: Request) -> ApiResult {
        let peer = Query(&req.query).args().into_iter().next();
        let info = self.on_net(move |c| c.id(peer.as_deref())).await?;
        Ok(json_response(&json!({
            "ID": info.id,
            "PublicKey": info.public_key,
            "Addresses": info.addresses,
            "AgentVersion": info.agent_version,
            "Protocols": info.protocols,
        })))
    }

    pub(super) async fn swarm_connect(&self, req: Request) -> ApiResult {
        let addrs = Query(&req.query).required_args("address")?;
        let peers = self.on_net(move |c| c.swarm_connect(&addrs)).await?;
        let out: Vec<String> = peers
            .iter()
            .map(|p| format!("connect {p} success"))
            .collect();
        Ok(json_response(&json!({ "Strings": out })))
    }

    pub(super) async fn swarm_disconnect(&self, req: Request) -> ApiResult {
        let addrs = Query(&req.query).required_args("address")?;
        let peers = self.on_net(move |c| c.swarm_disconnect(&addrs)).await?;
        let out: Vec<String> = peers
            .iter()
            .map(|p| format!("disconnect {p} success"))
            .collect();
        Ok(json_response(&json!({ "Strings": out })))
    }

    pub(super) async fn swarm_peers(&self) -> ApiResult {
        let peers = self.on_net(|c| c.swarm_peers()).await?;
        let list: Vec<Value> = peers
            .iter()
            .map(|p| {
                json!({
                    "Addr": p.addr.to_string(),
                    "Peer": p.peer.to_base58(),
                    "Latency": "",
                    "Muxer": "",
                    "Direction": if p.outbound { 2 } else { 1 },
                    "Streams": Value::Null,
                })
            })
            .collect();
        Ok(json_response(&json!({ "Peers": list })))
    }

    pub(super) async fn swarm_addrs(&self) -> ApiResult {
        let known = self.on_net(|c| c.swarm_addrs()).await?;
        let mut addrs = serde_json::Map::new();
        for (peer, list) in known {
            let list: Vec<String> = list.iter().map(ToString::to_string).collect();
            addrs.insert(peer.to_base58(), json!(list));
        }
        Ok(json_response(&json!({ "Addrs": addrs })))
    }

    pub(super) async fn swarm_addrs_local(&self, req: Request) -> ApiResult {
        let with_id = Query(&req.query).bool(&["id"])?.unwrap_or(false);
        let list = self.on_net(move |c| c.swarm_addrs_local(with_id)).await?;
        let list: Vec<String> = list.iter().map(ToString::to_string).collect();
        Ok(json_response(&json!({ "Strings": list })))
    }

    /// Kubo's `stats bw`: totals, or one protocol (`proto`), or one peer (`peer`);
    /// not both. An untracked protocol or unknown peer answers zeros, as Kubo does.
    /// `poll` is not supported (one answer).
    pub(super) async fn stats_bw(&self, req: Request) -> ApiResult {
        let q = Query(&req.query);
        let scope = network::bw_scope(q.get(&["peer", "p"]), q.get(&["proto", "t"]))
            .map_err(|e| ApiError::Client(e.to_string()))?;
        if q.bool(&["poll"])? == Some(true) {
            return Err(ApiError::Client("stats bw: --poll is not supported".into()));
        }
        let bw = self.on_net(move |c| c.stats_bw(&scope)).await?;
        Ok(json_response(&json!({
            "TotalIn": bw.total_in,
            "TotalOut": bw.total_out,
            "RateIn": bw.rate_in,
            "RateOut": bw.rate_out,
        })))
    }

    /// Kubo's `routing findprovs`: one `{"Type":4,"Responses":[{"ID","Addrs"}]}`
    /// line per provider (Type 4 = Provider).
    pub(super) async fn routing_findprovs(&self, req: Request) -> ApiResult {
        let q = Query(&req.query);
        let arg = q.required_args("key")?.swap_remove(0);
        let cid = parse_cid_arg(&arg).map_err(|e| ApiError::Client(e.to_string()))?;
        let max = q.int(&["num-providers", "n"])?.map_or(
            crate::core_api::network::DEFAULT_NUM_PROVIDERS as i64,
            |n| n,
        );
        if max < 1 {
            return Err(ApiError::Client(
                "number of providers must be greater than 0".into(),
            ));
        }
        let max = max as usize;
        let body = self
            .on_net(move |c| {
                let mut body = String::new();
                c.find_providers(&cid, max, &mut |p| {
                    let addrs: Vec<String> = p.addrs.iter().map(ToString::to_string).collect();
                    let line = json!({
                        "Extra": "",
                        "ID": "",
                        "Responses": [{"Addrs": addrs, "ID": p.peer.to_base58()}],
                        "Type": 4,
                    });
                    body.push_str(&format!("{line}\n"));
                    Ok(())
                })?;
                Ok(body)
            })
            .await?;
        Ok(Response::full(200, "application/json", body))
    }

    /// Kubo's `routing findpeer`: `{"Type":2,"Responses":[{"ID","Addrs"}]}` (FinalPeer).
    pub(super) async fn routing_findpeer(&self, req: Request) -> ApiResult {
        let arg = Query(&req.query).required_args("peerID")?.swap_remove(0);
        let peer = network::parse_peer(&arg).map_err(|e| ApiError::Client(e.to_string()))?;
        let addrs = self.on_net(move |c| c.find_peer(&peer)).await?;
        let addrs: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        Ok(json_response(&json!({
            "Extra": "",
            "ID": "",
            "Responses": [{"Addrs": addrs, "ID": peer.to_base58()}],
            "Type": 2,
        })))
    }

    /// Kubo's `routing provide`: announces each CID (which must be stored here).
    pub(super) async fn routing_provide(&self, req: Request) -> ApiResult {
        let args = Query(&req.query).required_args("key")?;
        let mut cids = Vec::with_capacity(args.len());
        for a in &args {
            cids.push(parse_cid_arg(a).map_err(|e| ApiError::Client(e.to_string()))?);
        }
        self.on_net(move |c| c.provide(&cids)).await?;
        Ok(Response::full(200, "application/json", ""))
    }
}
