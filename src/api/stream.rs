//! Streamed answers: a core call on the blocking pool writes into a bounded
//! channel (at most `RESPONSE_QUEUE_COUNT` chunks queued); the answer is an error
//! of the failure's kind if the call fails before its first output, else a 200
//! stream ending with `X-Stream-Error` on a later failure.

use std::sync::Arc;

use smol::channel;

use std::io::Write;

use super::{ApiError, ApiResult, Slot, RESPONSE_QUEUE_COUNT};
use crate::core_api::fetch::{self, Reach, Resume};
use crate::core_api::Local;
use crate::http::{Body, Chunk, ChunkWriter, Response};

/// A [`fetching_stream`] of JSON lines over a whole DAG (Kubo's chunked output),
/// replayed from the start after each fetch.
pub(super) async fn json_dag_stream(
    slot: Slot,
    work: impl Fn(&Local, &mut dyn Write, u64) -> crate::core_api::error::Result<()>
        + Send
        + Sync
        + 'static,
) -> ApiResult {
    fetching_stream(
        slot,
        "application/json",
        "X-Chunked-Output",
        Reach::Dag,
        Resume::Replay,
        work,
    )
    .await
}

/// A streamed answer of a command that reads content: `work` runs on the blocking
/// pool writing the stream, and a loop on the executor ([`fetch::run_stream`])
/// fetches the blocks it lacks between runs, each rerun resuming as `resume` says.
/// The loop ends with the request's deadline or when the client goes away (the
/// stream's receiver is dropped), cancelling its wants. Fails as a whole (an
/// error answer) if `work` fails before its first output.
pub(super) async fn fetching_stream(
    slot: Slot,
    content_type: &str,
    marker: &'static str,
    reach: Reach,
    resume: Resume,
    work: impl Fn(&Local, &mut dyn Write, u64) -> crate::core_api::error::Result<()>
        + Send
        + Sync
        + 'static,
) -> ApiResult {
    let (tx, rx) = channel::bounded(RESPONSE_QUEUE_COUNT);
    // The failure's kind, for an answer that fails before its first output.
    let (etx, erx) = channel::bounded(1);
    let api = slot.0.clone();
    let deadline = slot.2;
    let mut walker = api.walker();
    let core = api.core.clone();
    let job: fetch::StreamJob = Arc::new(move |w, done| Ok(work(&core, w, done)?));
    let writer_tx = tx.clone();
    let make_writer = Arc::new(move || ChunkWriter::new(writer_tx.clone()));
    let gone = tx.clone();
    let driver = async move {
        let _slot = slot;
        let run = fetch::run_stream(&mut walker, reach, resume, job, make_writer);
        if let Err(e) = fetch::until(deadline, run).await {
            let msg = format!("{e:#}");
            // The kind first: the handler reads it once it sees the error chunk.
            let _ = etx.try_send(ApiError::from(e));
            let _ = tx.send(Chunk::Error(msg)).await;
        }
    };
    let spawned = api.spawner.spawn(async move {
        futures_lite::future::or(driver, gone.closed()).await;
    });
    if !spawned {
        return Err(ApiError::Server("the daemon is shutting down".into()));
    }
    stream_response(rx, erx, content_type, marker).await
}

/// Runs `work` on the blocking pool writing a streamed response. Fails as a whole
/// (HTTP 500) if `work` fails before its first output.
pub(super) async fn stream(
    slot: Slot,
    content_type: &str,
    marker: &'static str,
    work: impl FnOnce(&mut ChunkWriter) -> crate::core_api::error::Result<()> + Send + 'static,
) -> ApiResult {
    let (tx, rx) = channel::bounded(RESPONSE_QUEUE_COUNT);
    // The failure's kind, for an answer that fails before its first output.
    let (etx, erx) = channel::bounded(1);
    let pool = slot.0.pool.clone();
    // Past the request's deadline the stream ends with Kubo's error; the job then
    // fails at its next write (the answer's receiver is gone).
    let (done_tx, done_rx) = channel::bounded::<()>(1);
    if let Some(at) = slot.2 {
        let tx = tx.clone();
        slot.0.spawner.spawn(async move {
            let expired = async {
                async_io::Timer::at(at).await;
                let _ = tx
                    .send(Chunk::Error(fetch::WaitError::Deadline.to_string()))
                    .await;
            };
            // Nothing is ever sent: `recv` returns when the job ends.
            futures_lite::future::or(expired, async {
                let _ = done_rx.recv().await;
            })
            .await;
        });
    }
    // Not awaited: the job ends when its output is written or the client is gone.
    pool.spawn(move || {
        let _slot = slot;
        let _done = done_tx;
        let mut w = ChunkWriter::new(tx);
        let r = work(&mut w)
            .map_err(anyhow::Error::from)
            .and_then(|()| Ok(w.send()?));
        if let Err(e) = r {
            let _ = w.send();
            let msg = format!("{e:#}");
            // The kind first: the handler reads it once it sees the error chunk.
            let _ = etx.try_send(ApiError::from(e));
            w.fail(msg);
        }
    });
    stream_response(rx, erx, content_type, marker).await
}

/// The answer of a streamed command once its first output (or failure) is in: an
/// error answer of the failure's kind (`erx`) if the stream fails before any
/// output, else a 200 streaming `rx`.
pub(super) async fn stream_response(
    rx: channel::Receiver<Chunk>,
    erx: channel::Receiver<ApiError>,
    content_type: &str,
    marker: &'static str,
) -> ApiResult {
    let first = match rx.recv().await {
        Ok(Chunk::Error(e)) => return Err(erx.try_recv().unwrap_or(ApiError::Server(e))),
        Ok(c) => Some(c),
        Err(_) => None,
    };
    Ok(Response {
        status: 200,
        headers: vec![
            ("Content-Type", content_type.to_string()),
            (marker, "1".to_string()),
        ],
        body: Body::Stream(first, rx),
    })
}
