//! `stats/repo`, `stats/bitswap`, `bitswap/stat`, `bitswap/wantlist`: Kubo's
//! statistics commands over the RPC API.
//!
//! **What.** `stats/repo` is `repo/stat` under another name (as Kubo). `bitswap/stat`
//! (and its alias `stats/bitswap`) asks the bitswap task (the core API's `Network` group) for its
//! counters, our wantlist and its connected peers; `bitswap/wantlist` for our wants
//! or, with `peer=<id>`, what that peer wants from us.
//!
//! **Spec.** Kubo `core/commands/bitswap.go`: `bitswap stat` answers
//! `{"ProvideBufLen","Wantlist":[{"/":cid}],"Peers":[id],"BlocksReceived",
//! "DataReceived","BlocksSent","DataSent","DupBlksReceived","DupDataReceived",
//! "MessagesReceived"}` (`verbose` and `human` shape only Kubo's text output);
//! `bitswap wantlist` answers `{"Keys":[{"/":cid}]}`.
//!
//! **Limits.** The wantlist is bounded by bitswap's want cap, peers by the swarm's
//! connection limit, a peer's wantlist by bitswap's per-peer cap.
//!
//! **Departures.** `ProvideBufLen` is always 0: provides go to the swarm task's
//! bounded command queue, not to a bitswap buffer. Without a network (never, in
//! the daemon) these answer the "needs a running daemon" error.

use serde_json::{json, Value};

use super::{json_response, Api, ApiError, ApiResult, Query};
use crate::core_api::{network, Network as _};
use crate::http::Request;

impl Api {
    /// `stats/repo`: `repo/stat`'s answer.
    pub(super) async fn stats_repo(&self, req: Request) -> ApiResult {
        self.repo_stat(req).await
    }

    /// `bitswap/stat` and `stats/bitswap`.
    pub(super) async fn bitswap_stat(&self, req: Request) -> ApiResult {
        let q = Query(&req.query);
        q.bool(&["verbose", "v"])?;
        q.bool(&["human"])?;
        let s = self.on_net(|c| c.bitswap_stat()).await?;
        Ok(json_response(&json!({
            "ProvideBufLen": 0,
            "Wantlist": cid_links(&s.wantlist),
            "Peers": s.peers.iter().map(|p| p.to_base58()).collect::<Vec<_>>(),
            "BlocksReceived": s.blocks_received,
            "DataReceived": s.data_received,
            "BlocksSent": s.blocks_sent,
            "DataSent": s.data_sent,
            "DupBlksReceived": s.dup_blks_received,
            "DupDataReceived": s.dup_data_received,
            "MessagesReceived": s.messages_received,
        })))
    }

    /// `bitswap/wantlist [peer=<id>]`.
    pub(super) async fn bitswap_wantlist(&self, req: Request) -> ApiResult {
        let q = Query(&req.query);
        let peer = match q.get(&["peer", "p"]) {
            None | Some("") => None,
            Some(p) => Some(network::parse_peer(p).map_err(|e| ApiError::Client(e.to_string()))?),
        };
        let keys = self
            .on_net(move |c| c.bitswap_wantlist(peer.as_ref()))
            .await?;
        Ok(json_response(&json!({ "Keys": cid_links(&keys) })))
    }
}

/// CIDs as Kubo's JSON links (the core API sorts them).
fn cid_links(cids: &[cid::Cid]) -> Vec<Value> {
    cids.iter().map(|c| json!({ "/": c.to_string() })).collect()
}
