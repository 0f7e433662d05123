//! The trustless gateway's answers (one raw block, a CAR of the DAG) and the
//! streamed body both they and file answers use: a pool job writing into a
//! bounded channel while the executor fetches the blocks it lacks.

use super::*;

impl Gateway {
    pub(super) async fn raw(
        &self,
        req: &Request,
        arg: &str,
        ipfs_path: &str,
        head_only: bool,
    ) -> Result<Response, Fail> {
        let arg = arg.to_string();
        let (cid, data) = self
            .blocking(move |c| {
                let cid = c.resolve(&arg)?;
                Ok((cid, c.block_fetch(&cid)?))
            })
            .await?;
        let etag = format!("\"{cid}.raw\"");
        if none_match(req.header("if-none-match"), &etag) {
            return Ok(not_modified(&etag, ipfs_path));
        }
        let mut headers = common_headers(&etag, ipfs_path);
        headers.push(("Content-Type", RAW_TYPE.into()));
        headers.push(("X-Content-Type-Options", "nosniff".into()));
        let body = if head_only {
            Body::Empty(Some(data.len() as u64))
        } else {
            Body::Full(data)
        };
        Ok(Response {
            status: 200,
            headers,
            body,
        })
    }

    pub(super) async fn car(
        &self,
        req: &Request,
        arg: &str,
        ipfs_path: &str,
        root_only: bool,
        head_only: bool,
        slot: Slot,
    ) -> Result<Response, Fail> {
        let a = arg.to_string();
        let cid = self.blocking(move |c| Ok(c.resolve(&a)?)).await?;
        let etag = format!("\"{cid}.car\"");
        if none_match(req.header("if-none-match"), &etag) {
            return Ok(not_modified(&etag, ipfs_path));
        }
        let mut headers = common_headers(&etag, ipfs_path);
        headers.retain(|(n, _)| *n != "Accept-Ranges");
        headers.push(("Content-Type", format!("{CAR_TYPE}; version=1")));
        headers.push(("X-Content-Type-Options", "nosniff".into()));
        if head_only {
            return Ok(Response {
                status: 200,
                headers,
                body: Body::Empty(None),
            });
        }
        let reach = if root_only { Reach::Block } else { Reach::Dag };
        let (first, rx) = self
            .stream(slot, reach, Resume::Replay, move |c, w, _| {
                c.car_export(&cid, root_only, w)?;
                Ok(())
            })
            .await?;
        Ok(Response {
            status: 200,
            headers,
            body: Body::Stream(first, rx),
        })
    }

    /// Runs `work` on the pool writing into a bounded channel, with a loop on the
    /// executor fetching the blocks it lacks between runs ([`fetch::run_stream`]);
    /// the loop ends when the client goes away (the receiver is dropped),
    /// cancelling its wants. Fails as a whole if `work` fails before its first
    /// output.
    pub(super) async fn stream(
        &self,
        slot: Slot,
        reach: Reach,
        resume: Resume,
        work: impl Fn(&Local, &mut dyn std::io::Write, u64) -> anyhow::Result<()>
            + Send
            + Sync
            + 'static,
    ) -> Result<(Option<Chunk>, channel::Receiver<Chunk>), Fail> {
        let (tx, rx) = channel::bounded(RESPONSE_QUEUE_COUNT);
        let (etx, erx) = channel::bounded::<Fail>(1);
        let mut walker = self.walker();
        let core = self.core.clone();
        let job: fetch::StreamJob = Arc::new(move |w, done| work(&core, w, done));
        let writer_tx = tx.clone();
        let make_writer = Arc::new(move || crate::http::ChunkWriter::new(writer_tx.clone()));
        let gone = tx.clone();
        let driver = async move {
            let _slot = slot;
            let run = fetch::run_stream(&mut walker, reach, resume, job, make_writer);
            if let Err(e) = run.await {
                let f = fail(e);
                let msg = f.1.clone();
                // The status first: the handler reads it once it sees the error chunk.
                let _ = etx.try_send(f);
                let _ = tx.send(Chunk::Error(msg)).await;
            }
        };
        let spawned = self.spawner.spawn(async move {
            futures_lite::future::or(driver, gone.closed()).await;
        });
        if !spawned {
            return Err(Fail(503, "the daemon is shutting down".into()));
        }
        match rx.recv().await {
            Ok(Chunk::Error(e)) => Err(erx.try_recv().unwrap_or(Fail(500, e))),
            Ok(c) => Ok((Some(c), rx)),
            Err(_) => Ok((None, rx)),
        }
    }
}
