//! Kubo's `ping?arg=<peer>&count=N`: one JSON line per round trip
//! (`{"Success": true, "Time": <ns>, "Text": ""}`), framed by Kubo's note lines
//! (`Looking up peer …`, `Average latency: …`); a failure is a line with
//! `Success: false` and the reason. Each line is streamed as it happens (at most
//! [`MAX_PING_COUNT`] round trips of at most `PING_TIMEOUT` each), from the
//! network-wait pool, never a repo thread.

use serde_json::json;

use smol::channel;

use super::{
    json_line, stream_response, Api, ApiError, ApiResult, ChunkWriter, Query, Slot,
    RESPONSE_QUEUE_COUNT,
};
use crate::core_api::network::parse_peer;
use crate::core_api::network::MAX_PING_COUNT;
use crate::core_api::{Local, Network as _};

/// Kubo's default `count`.
pub const DEFAULT_PING_COUNT: usize = 10;

impl Api {
    pub(super) async fn ping(&self, req: super::Request, slot: Slot) -> ApiResult {
        let q = Query(&req.query);
        let arg = q.required_args("peer ID")?.swap_remove(0);
        let peer = parse_peer(arg.trim_start_matches("/p2p/"))
            .map_err(|e| ApiError::Client(e.to_string()))?;
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
        // Each line goes out as it happens: a slow or failing peer shows its
        // progress, and a client that hangs up ends the run at its next line.
        let (tx, rx) = channel::bounded(RESPONSE_QUEUE_COUNT);
        let (etx, erx) = channel::bounded(1);
        let core = self.core.clone();
        self.net_pool.spawn(move || {
            let _slot = slot;
            let mut w = ChunkWriter::new(tx);
            let r = ping_lines(&core, &peer, count, &mut w);
            if let Err(e) = r {
                let msg = format!("{e:#}");
                let _ = etx.try_send(ApiError::from(e));
                w.fail(msg);
            }
        });
        stream_response(rx, erx, "application/json", "X-Chunked-Output").await
    }
}

/// Writes Kubo's ping lines to `w`, each flushed as soon as it is known.
fn ping_lines(
    core: &Local,
    peer: &libp2p::PeerId,
    count: usize,
    w: &mut ChunkWriter,
) -> anyhow::Result<()> {
    let line = |w: &mut ChunkWriter, success: bool, ns: u128, text: String| {
        json_line(
            w,
            &json!({"Success": success, "Time": ns as u64, "Text": text}),
        )
    };
    line(w, true, 0, format!("Looking up peer {peer}"))?;
    line(w, true, 0, format!("PING {peer}."))?;
    let mut times = Vec::new();
    core.ping(peer, count, &mut |r| {
        match r {
            Ok(t) => {
                times.push(t);
                line(w, true, t.as_nanos(), String::new())?;
            }
            Err(e) => line(w, false, 0, e.to_string())?,
        }
        Ok(())
    })?;
    if !times.is_empty() {
        let avg = times.iter().sum::<std::time::Duration>() / times.len() as u32;
        line(
            w,
            true,
            0,
            format!("Average latency: {:.2}ms", avg.as_secs_f64() * 1000.0),
        )?;
    }
    Ok(())
}
