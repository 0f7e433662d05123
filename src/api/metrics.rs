//! `/debug/metrics/prometheus` on the API address, as Kubo serves it: the
//! daemon's metrics in the OpenMetrics text format ([`crate::metrics`] lists them).
//!
//! **Flow.** A scrape takes a request slot like any command (so scrapes count
//! against `API.MaxConcurrentRequests` and wait at most [`SLOT_WAIT`]), reads the
//! repo's figures (`repo stat`'s) and the process's on the blocking pool, the
//! network's on the network-wait pool (one round trip to the swarm task), then
//! writes the text on the executor: a fixed set of series, a few tens of KiB.
//!
//! **Departures.** Kubo answers any method here; we answer `GET` and `POST`
//! (others get 405). No Origin check: the answer is read-only and carries
//! no CORS header, so a browser page elsewhere cannot read it. A figure that
//! cannot be read (the repo's, the network's) is left out of the scrape rather
//! than failing it, and logged.

use crate::core_api::Repo as _;
use crate::http::{Request, Response, SLOT_WAIT};
use crate::metrics::{self, RepoFigures, Snapshot};

use super::Api;

impl Api {
    /// One scrape.
    pub(super) async fn metrics(&self, req: &Request) -> Response {
        if !matches!(req.method.as_str(), "GET" | "POST") {
            return Response::full(405, "text/plain", "405 - Method Not Allowed\n");
        }
        let Some(_held) = self.slots.acquire(SLOT_WAIT).await else {
            return Response::full(
                503,
                "text/plain",
                format!(
                    "too many requests: {} are being served and none ended within {}s\n",
                    self.slots.limit(),
                    SLOT_WAIT.as_secs()
                ),
            );
        };
        let local = self
            .on_core(|c| Ok((c.repo_stat(false), metrics::process())))
            .await;
        let mut snapshot = Snapshot::default();
        match local {
            Ok((repo, process)) => {
                snapshot.process = process;
                match repo {
                    Ok(r) => {
                        snapshot.repo = Some(RepoFigures {
                            size_bytes: r.repo_size,
                            objects: r.num_objects,
                            storage_max_bytes: r.storage_max,
                        })
                    }
                    Err(e) => tracing::warn!("metrics: repo figures left out: {e}"),
                }
            }
            Err(e) => tracing::warn!("metrics: local figures left out: {e:?}"),
        }
        match self.on_net(|c| c.net_metrics()).await {
            Ok(net) => snapshot.net = net,
            Err(e) => tracing::warn!("metrics: network figures left out: {e:?}"),
        }
        Response::full(200, metrics::CONTENT_TYPE, metrics::render(snapshot))
    }
}
