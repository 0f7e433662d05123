//! Kubo's `ping?arg=<peer>&count=N`: one JSON line per round trip
//! (`{"Success": true, "Time": <ns>, "Text": ""}`), framed by Kubo's note lines
//! (`Looking up peer …`, `Average latency: …`); a failure is a line with
//! `Success: false` and the reason. The lines are written once the run ends
//! (at most [`MAX_PING_COUNT`] round trips of at most `PING_TIMEOUT` each),
//! on the network-wait pool, never a repo thread.

use serde_json::json;

use super::{http::Response, Api, ApiError, ApiResult, Query};
use crate::core_api::network::parse_peer;
use crate::core_api::network::MAX_PING_COUNT;
use crate::core_api::Network as _;

/// Kubo's default `count`.
pub const DEFAULT_PING_COUNT: usize = 10;

impl Api {
    pub(super) async fn ping(&self, req: super::Request) -> ApiResult {
        let q = Query(&req.query);
        let arg = q.required_args("peer ID")?.swap_remove(0);
        let peer = parse_peer(arg.trim_start_matches("/p2p/")).map_err(ApiError::Client)?;
        let count = match q.non_negative(&["count", "n"])? {
            None => DEFAULT_PING_COUNT,
            Some(0) => return Err(ApiError::Client("ping count must be greater than 0".into())),
            Some(n) if n as usize > MAX_PING_COUNT => {
                return Err(ApiError::Client(format!(
                    "ping count {n} is over the limit of {MAX_PING_COUNT}"
                )))
            }
            Some(n) => n as usize,
        };
        let results = self
            .on_net(move |c| {
                let mut all = Vec::new();
                c.ping(&peer, count, &mut |r| {
                    all.push(r);
                    Ok(())
                })?;
                Ok(all)
            })
            .await?;
        let line = |success: bool, ns: u128, text: String| {
            format!(
                "{}\n",
                json!({"Success": success, "Time": ns as u64, "Text": text})
            )
        };
        let mut body = line(true, 0, format!("Looking up peer {peer}"));
        body.push_str(&line(true, 0, format!("PING {peer}.")));
        let mut times = Vec::new();
        for r in results {
            match r {
                Ok(t) => {
                    times.push(t);
                    body.push_str(&line(true, t.as_nanos(), String::new()));
                }
                Err(e) => body.push_str(&line(false, 0, e)),
            }
        }
        if !times.is_empty() {
            let avg = times.iter().sum::<std::time::Duration>() / times.len() as u32;
            body.push_str(&line(
                true,
                0,
                format!("Average latency: {:.2}ms", avg.as_secs_f64() * 1000.0),
            ));
        }
        Ok(Response::full(200, "application/json", body))
    }
}
