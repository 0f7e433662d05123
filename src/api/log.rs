//! Kubo's `log/ls` and `log/level?arg=<subsystem>&arg=<level>`: the daemon's
//! log subsystems and changing their level at run time ([`crate::logs`]);
//! `log/tail`: the lines the daemon logs from now on, streamed as plain text
//! until the client hangs up.
//!
//! **Limits.** `log/tail` holds no request slot; a slow reader loses lines
//! (counted in a note line) rather than growing a queue: see [`crate::logs`]
//! (`TAIL_BUFFER_LINES`, `MAX_TAIL_SUBSCRIBERS`).
//!
//! **Departures.** Kubo's lines are go-log JSON objects; ours are the daemon's
//! own log lines, as on its stderr.

use serde_json::json;
use smol::channel;

use super::http::{Body, Chunk, Response};
use super::{json_response, Api, ApiError, ApiResult, Query};

pub(super) fn log_ls() -> ApiResult {
    Ok(json_response(
        &json!({ "Strings": crate::logs::SUBSYSTEMS }),
    ))
}

pub(super) fn log_level(req: &super::Request) -> ApiResult {
    let args = Query(&req.query).args();
    let [subsystem, level] = args.as_slice() else {
        return Err(ApiError::Client(
            "log level takes two arguments: <subsystem> <level>".into(),
        ));
    };
    let msg =
        crate::logs::set_level(subsystem, level).map_err(|e| ApiError::Client(e.to_string()))?;
    Ok(json_response(&json!({ "Message": msg })))
}

impl Api {
    pub(super) fn log_tail(&self) -> ApiResult {
        let lines = crate::logs::subscribe().map_err(|e| ApiError::Server(e.to_string()))?;
        let (tx, rx) = channel::bounded(1);
        let spawned = self.spawner.spawn(async move {
            // Ends once the client is gone (the response's receiver is dropped);
            // dropping `lines` then ends the subscription.
            while let Ok(line) = lines.recv().await {
                if tx.send(Chunk::Data(line)).await.is_err() {
                    break;
                }
            }
        });
        if !spawned {
            return Err(ApiError::Server("the daemon is shutting down".into()));
        }
        Ok(Response {
            status: 200,
            headers: vec![
                ("Content-Type", "text/plain".to_string()),
                ("X-Stream-Output", "1".to_string()),
            ],
            body: Body::Stream(None, rx),
        })
    }
}
