//! The HTTP RPC API: Kubo's `/api/v0` dialect over [`http`], calling the core API.
//!
//! **What.** [`Api::handle`] answers one request: routes `/api/v0/<command>` to a
//! handler, parses Kubo-style parameters, runs the core API call
//! ([`crate::core_api`], its `Local` implementation) on the blocking pool, and
//! writes Kubo's JSON shapes, which the CLI's `Remote` implementation reads back. No command logic lives here: every
//! handler is parameter parsing, one core call, and output formatting.
//!
//! **Spec.** Kubo's RPC API (<https://docs.ipfs.tech/reference/kubo/rpc/>):
//! - POST only; any other method on a known command is `405 - Method Not Allowed`;
//!   an unknown command is `404 page not found` (as Kubo's mux).
//! - Positional arguments are repeated `arg=` parameters; options by long name
//!   (some short aliases too); values converted as Kubo's Go parser does ([`args`]:
//!   booleans `1 0 t f true false` in any case, an empty value meaning true;
//!   integers with `0x`/`0o`/`0b` prefixes). `enc`/`encoding` may be `json`, the
//!   only encoding served. `commands` lists the commands below in Kubo's shape
//!   ([`commands`]).
//! - Errors: `{"Message":..., "Code":0, "Type":"error"}` with HTTP 500; client
//!   errors (a missing/bad parameter, a malformed body, an invalid entry path) are
//!   `Code: 1` with HTTP 400, as Kubo's. An error after output began is sent as the
//!   `X-Stream-Error` trailer.
//! - Streams (`add`, `block/put`, `block/rm`, `dag/put`, `dag/import`, `dag/stat`,
//!   `pin/add?progress=true`, `pin/ls?stream=true`, `pin/verify`, `refs`,
//!   `refs/local`, `repo/gc`, `repo/verify`) are newline-delimited JSON with
//!   `X-Chunked-Output: 1`; `cat`, `block/get`, `dag/get`, `dag/export` and `get`
//!   are raw bytes with `X-Stream-Output: 1`.
//! - Handlers for blocks, DAGs and paths live in `dag.rs`, for pins and the repo
//!   in `pins.rs` (each file's doc lists its shapes and departures).
//!
//! **Flow.** [`Api::handle`]: path → command → CORS preflight (`OPTIONS`) → method
//! check → Origin/Referer check ([`cors`]) → request slot ([`Slots`]: wait up to
//! [`SLOT_WAIT`] while `API.MaxConcurrentRequests` are served, then 503) → handler. A handler
//! either computes a whole JSON body on the blocking pool, or [`stream`]s: the core
//! call runs on the blocking pool writing into a bounded channel; if it fails
//! before its first output the answer is a 500 error, else a 200 stream.
//!
//! **Limits.** `API.MaxConcurrentRequests` requests run at once (config, default
//! [`crate::config::DEFAULT_MAX_CONCURRENT_REQUESTS`], set per firmware profile; the
//! slot is held until a stream ends). A request past it waits for a slot up to
//! [`SLOT_WAIT`], then gets 503: instant 503s made clients under load retry in a
//! tight loop, so that only about 1 % of requests got through. The waiting requests
//! are bounded by the connection limit, `API.MaxConnections` (a connection
//! carries one request at a time), so at most that many minus the slots wait, each
//! holding only its parsed head and a body queue ([`http`]). Slow clients cannot
//! keep those connections: a head must arrive whole within `API.HeadDeadline`, a
//! body must not fall silent for `API.BodyIdleTimeout` nor crawl, and with the
//! connections nearly all taken a new one closes the oldest one still waiting for
//! a head from a busy address ([`http`]'s module doc states the rule). A streamed
//! response holds at most [`RESPONSE_QUEUE_COUNT`] × [`STREAM_CHUNK_BYTES`](http::stream::STREAM_CHUNK_BYTES) (256
//! KiB) queued; request heads and body queues as [`http`] says; multipart parts as
//! [`multipart`] says; a `block/put` part ≤ `MAX_BLOCK_BYTES`.
//!
//! **Departures.** Browser requests follow Kubo's Origin/Referer rule, with the
//! departures [`cors`] lists. `add` ignores `hidden` (the client filters hidden
//! files, as Kubo's CLI) and holds `nocopy` to `Filestore.AllowedRoots` (see
//! [`add`]). `id <peer>` of another peer is not supported yet.
//! `get` always answers a plain tar (no `archive`/`compress`). `swarm peers` fills
//! `Addr`, `Peer` and `Direction`; `Latency`, `Muxer` and `Streams` stay empty.
//! `resolve` has no `/ipns/`; `block/put` and `dag/put` hash with sha2-256 only;
//! `pin/verify` also checks direct pins; `repo/stat?size-only=true` leaves out
//! the fields Kubo sends zeroed; `pin/add` progress lines follow the walk, not a
//! timer; `dag/import` checks the 2 MiB block limit, not Kubo's 1 MiB one.
//!
//! **Files.** This file routes ([`Api::handle`]) and holds the API's state and
//! error answer; the handlers live beside it as `impl Api` blocks: `content.rs`
//! (`get`, `refs`, `cat`, `ls`, `block/get|stat`, `repo/verify`), `network.rs`
//! (`id`, `swarm/*`, `stats/bw`, `routing/*`), `dag.rs` and `pins.rs` (above),
//! [`add`], [`filestore`], [`config`] (and `config/show`), [`stats`]
//! (`stats/repo`, `stats/bitswap`, `bitswap/*`), `metrics.rs` (Kubo's
//! `/debug/metrics/prometheus`, beside `/api/v0`). `params.rs` reads Kubo-style
//! parameters, `stream.rs` builds streamed answers; [`cors`] holds the browser rule.
//!
//! **Network.** `id`, `swarm/*`, `routing/*`, `stats/bw` and `bitswap/*` are the core
//! API's `Network` group: they wait for the swarm task on their own pool
//! ([`NET_WAIT_THREADS`]), not the repo's; content commands (`cat`, `get`, `ls`,
//! `refs`, `resolve`, `pin/add`, `dag/get|export|stat`) run on the repo's pool
//! against the blockstore only, and the blocks they lack are fetched over bitswap
//! on the executor between runs ([`crate::fetch`]), so no thread waits for the
//! network. A client that hangs up ends its request ([`http`] drops the handler),
//! its walk and its wants. Every command takes Kubo's `timeout=` (a Go duration;
//! a bad one is a 400): past it the request fails with `context deadline
//! exceeded` (a stream already begun ends with that trailer).

pub mod add;
pub mod args;
pub mod commands;
pub mod config;
mod content;
mod dag;
pub mod filestore;
mod log;
mod metrics;
mod network;
mod params;
mod ping;
mod pins;
mod refs;
pub mod stats;
mod stream;

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use smol::channel::Sender;

use crate::core_api::error::{Error as CoreError, Kind, RpcAnswer};
use crate::core_api::fetch::{self, Reach, Spawner, Walker};
use crate::core_api::{Local, Settings as _};
use crate::http::{self, cors, ChunkWriter, Held, Request, Response, Slots, SLOT_WAIT};
use crate::pool::Pool;
use params::{
    check_encoding, json_line, json_response, multipart_body, on_pool, one_cid, timeout_arg,
    unixfs_type_code, Query, WithStatus,
};
use refs::refs_options;
use stream::{fetching_stream, json_dag_stream, stream, stream_response};

/// Threads on which the API's network commands (`id`, `swarm/*`, `routing/*`,
/// `stats/bw`, `bitswap/*`) wait for the swarm task, apart from the repo's
/// blocking pool; started on use, gone when idle (`pool::IDLE_EXIT`).
pub const NET_WAIT_THREADS: usize = 1;
/// Chunks queued between a handler and the socket (the one value both servers use).
pub use crate::http::stream::RESPONSE_QUEUE_COUNT;
/// Where the commands live.
pub const API_PREFIX: &str = "/api/v0/";

/// The commands this server knows.
const COMMANDS: &[&str] = &[
    "add",
    "bitswap/stat",
    "bitswap/wantlist",
    "block/get",
    "block/put",
    "block/rm",
    "block/stat",
    "cat",
    "commands",
    "config",
    "config/replace",
    "config/show",
    "dag/export",
    "dag/get",
    "dag/import",
    "dag/put",
    "dag/resolve",
    "dag/stat",
    "diag/sys",
    "filestore/dups",
    "filestore/ls",
    "filestore/verify",
    "get",
    "id",
    "log/level",
    "log/ls",
    "log/tail",
    "ls",
    "pin/add",
    "pin/ls",
    "pin/rm",
    "pin/update",
    "pin/verify",
    "ping",
    "refs",
    "refs/local",
    "repo/gc",
    "repo/stat",
    "repo/verify",
    "resolve",
    "shutdown",
    "stats/bitswap",
    "stats/bw",
    "stats/repo",
    "routing/findprovs",
    "routing/findpeer",
    "routing/provide",
    "dht/findprovs",
    "dht/findpeer",
    "dht/provide",
    "swarm/addrs",
    "swarm/addrs/local",
    "swarm/connect",
    "swarm/disconnect",
    "swarm/peers",
    "version",
];

/// The metrics label of a request path: its command (from [`COMMANDS`], so the
/// label values are a fixed set), or `other`.
fn command_label(path: &str) -> &'static str {
    path.strip_prefix(API_PREFIX)
        .map(|c| c.trim_end_matches('/'))
        .and_then(|c| COMMANDS.iter().find(|k| **k == c))
        .copied()
        .unwrap_or(crate::metrics::OTHER_COMMAND)
}

/// The API's state: the node and the daemon's shutdown switch.
pub struct Api {
    /// The core API every handler calls (the node, and the network in the daemon).
    core: Arc<Local>,
    pool: Pool,
    /// Where `Network` calls wait for the swarm task ([`NET_WAIT_THREADS`]).
    net_pool: Pool,
    /// Closing it asks the daemon to shut down.
    shutdown: Sender<()>,
    /// Request slots (`API.MaxConcurrentRequests`).
    slots: Slots,
    /// The browser rule (config `API.HTTPHeaders`), set once the ports are known.
    cors: std::sync::OnceLock<cors::Cors>,
    /// Where streamed answers' fetch loops run (the daemon's executor).
    spawner: Spawner,
}

/// An error answer.
#[derive(Debug)]
pub enum ApiError {
    /// A failed command: Kubo's JSON error with the status, `Code` and `Type` of
    /// its kind (the core API's table, [`core_api::Error::rpc`]).
    Failed(RpcAnswer, String),
    /// A bad request (HTTP 400, `Code: 1`).
    Client(String),
    /// The command failed (HTTP 500, `Code: 0`).
    Server(String),
    /// No such command (`404 page not found`).
    NotFound,
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        let answer = CoreError::classify_anyhow(&e).rpc();
        ApiError::Failed(answer, format!("{e:#}"))
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        ApiError::from(anyhow::Error::from(e))
    }
}

impl ApiError {
    fn into_response(self) -> Response {
        let (answer, msg) = match self {
            ApiError::Failed(a, m) => (a, m),
            ApiError::Client(m) => (Kind::BadInput.rpc(), m),
            ApiError::Server(m) => (Kind::Other.rpc(), m),
            ApiError::NotFound => return Response::full(404, "text/plain", "404 page not found\n"),
        };
        let body = json!({"Message": msg, "Code": answer.code, "Type": answer.kind});
        Response::full(answer.status, "application/json", format!("{body}\n"))
    }
}

type ApiResult = Result<Response, ApiError>;

/// A held request slot, with the API (for its pool) and the request's deadline
/// (`timeout=`).
struct Slot(Arc<Api>, #[allow(dead_code)] Held, Option<Instant>);

impl Api {
    /// This server's HTTP settings: the config's `API` section.
    pub fn http_config(&self) -> http::Config {
        self.core.config().api.http_config()
    }

    /// The API over `core`, running repo work on `pool`.
    pub fn new(core: Arc<Local>, pool: Pool, shutdown: Sender<()>, spawner: Spawner) -> Arc<Api> {
        let limit = usize::from(core.config().api.max_concurrent_requests);
        Arc::new(Api {
            core,
            pool,
            net_pool: Pool::named("acorn-net-wait", NET_WAIT_THREADS),
            shutdown,
            slots: Slots::new(limit),
            cors: std::sync::OnceLock::new(),
            spawner,
        })
    }

    /// Allows the API's own localhost origins on `ports` (call once, before
    /// serving; later calls change nothing).
    pub fn set_listen_ports(&self, ports: &[u16]) {
        let _ = self
            .cors
            .set(cors::Cors::new(&self.core.config().api.http_headers, ports));
    }

    fn cors(&self) -> &cors::Cors {
        self.cors
            .get_or_init(|| cors::Cors::new(&self.core.config().api.http_headers, &[]))
    }

    /// Requests being served now.
    pub fn active_requests(&self) -> usize {
        self.slots.active()
    }

    /// Answers one request, counted in the metrics by command and status (the
    /// scrape itself at [`crate::metrics::PATH`] too, as `other`).
    pub async fn handle(self: Arc<Api>, req: Request) -> Response {
        let started = Instant::now();
        let command = command_label(&req.path);
        let resp = if req.path == crate::metrics::PATH {
            self.metrics(&req).await
        } else {
            self.answer(req).await
        };
        crate::metrics::rpc_request(command, resp.status, started.elapsed());
        resp
    }

    /// Answers one `/api/v0` request.
    async fn answer(self: Arc<Api>, req: Request) -> Response {
        let not_found = || Response::full(404, "text/plain", "404 page not found\n");
        let Some(cmd) = req.path.strip_prefix(API_PREFIX) else {
            return not_found();
        };
        let cmd = cmd.trim_end_matches('/').to_string();
        if !COMMANDS.contains(&cmd.as_str()) {
            return not_found();
        }
        let origin = req
            .header("origin")
            .filter(|o| !o.is_empty())
            .map(str::to_string);
        if req.method == "OPTIONS" {
            if let (Some(o), Some(m)) = (&origin, req.header("access-control-request-method")) {
                return self
                    .cors()
                    .preflight(o, m, req.header("access-control-request-headers"));
            }
        }
        if req.method != "POST" {
            return Response::full(405, "text/plain", "405 - Method Not Allowed\n");
        }
        if !self.cors().allows(origin.as_deref(), req.header("referer")) {
            tracing::warn!("API blocked request to {} (possible CSRF)", req.path);
            return Response::full(403, "text/plain", "403 - Forbidden\n");
        }
        let cors_headers = origin.map(|o| self.cors().headers(&o));
        let mut resp = match check_encoding(&Query(&req.query)) {
            Ok(()) => self.clone().dispatch(cmd, req).await,
            Err(e) => e.into_response(),
        };
        if let Some(h) = cors_headers {
            resp.headers.extend(h);
        }
        resp
    }

    /// Runs command `cmd` in a request slot.
    async fn dispatch(self: Arc<Api>, cmd: String, req: Request) -> Response {
        let not_found = || Response::full(404, "text/plain", "404 page not found\n");
        let deadline = match timeout_arg(&req) {
            Ok(t) => t.map(|t| Instant::now() + t),
            Err(e) => return e.into_response(),
        };
        let Some(held) = self.slots.acquire(SLOT_WAIT).await else {
            return ApiError::Server(format!(
                "too many requests: {} are being served and none ended within {}s",
                self.slots.limit(),
                SLOT_WAIT.as_secs()
            ))
            .into_response()
            .with_status(503);
        };
        let slot = Slot(self.clone(), held, deadline);
        let run = async {
            match fetch::until(deadline, async { Ok(self.run(&cmd, req, slot).await) }).await {
                Ok(r) => r,
                Err(e) => Err(ApiError::from(e)),
            }
        };
        match run.await {
            Ok(r) => r,
            Err(ApiError::NotFound) => not_found(),
            Err(e) => e.into_response(),
        }
    }

    /// The handler of command `cmd`.
    async fn run(&self, cmd: &str, req: Request, slot: Slot) -> ApiResult {
        tracing::debug!("api: {cmd}");
        let result = match cmd {
            "add" => self.add(req, slot).await,
            "block/get" => self.block_get(req, slot).await,
            "block/put" => self.block_put(req, slot).await,
            "block/rm" => self.block_rm(req, slot).await,
            "block/stat" => self.block_stat(req).await,
            "cat" => self.cat(req, slot).await,
            "commands" => Ok(json_response(&commands::tree(COMMANDS))),
            "config" => self.config(req).await,
            "config/replace" => self.config_replace(req).await,
            "config/show" => self.config_show().await,
            "filestore/ls" => self.filestore_list(req, slot, false).await,
            "filestore/verify" => self.filestore_list(req, slot, true).await,
            "filestore/dups" => self.filestore_dups(slot).await,
            "dag/export" => self.dag_export(req, slot).await,
            "dag/get" => self.dag_get(req, slot).await,
            "dag/import" => self.dag_import(req, slot).await,
            "dag/put" => self.dag_put(req, slot).await,
            "dag/stat" => self.dag_stat(req, slot).await,
            "dag/resolve" => self.dag_resolve(req).await,
            "get" => self.get(req, slot).await,
            "id" => self.id(req).await,
            "refs" => self.refs(req, slot).await,
            "log/level" => log::log_level(&req),
            "log/ls" => log::log_ls(),
            "diag/sys" => {
                let v = self.on_core(|c| c.diag_sys()).await?;
                Ok(json_response(&v))
            }
            "log/tail" => self.log_tail(),
            "ls" => self.ls(req).await,
            "pin/add" => self.pin_add(req, slot).await,
            "pin/ls" => self.pin_ls(req, slot).await,
            "pin/rm" => self.pin_rm(req).await,
            "pin/update" => self.pin_update(req).await,
            "pin/verify" => self.pin_verify(req, slot).await,
            "ping" => self.ping(req, slot).await,
            "refs/local" => self.refs_local(slot).await,
            "repo/gc" => self.repo_gc(req, slot).await,
            "repo/stat" => self.repo_stat(req).await,
            "repo/verify" => self.repo_verify(slot).await,
            "resolve" => self.resolve(req).await,
            "stats/bw" => self.stats_bw(req).await,
            "stats/repo" => self.stats_repo(req).await,
            "stats/bitswap" | "bitswap/stat" => self.bitswap_stat(req).await,
            "bitswap/wantlist" => self.bitswap_wantlist(req).await,
            "routing/findprovs" | "dht/findprovs" => self.routing_findprovs(req).await,
            "routing/findpeer" | "dht/findpeer" => self.routing_findpeer(req).await,
            "routing/provide" | "dht/provide" => self.routing_provide(req).await,
            "swarm/addrs" => self.swarm_addrs().await,
            "swarm/addrs/local" => self.swarm_addrs_local(req).await,
            "swarm/connect" => self.swarm_connect(req).await,
            "swarm/disconnect" => self.swarm_disconnect(req).await,
            "swarm/peers" => self.swarm_peers().await,
            "shutdown" => {
                self.shutdown.close();
                Ok(Response::full(200, "text/plain", ""))
            }
            "version" => self.version().await,
            _ => Err(ApiError::NotFound),
        };
        result
    }

    /// Runs `f` with the core API on the blocking pool.
    async fn on_core<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Local) -> crate::core_api::error::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        on_pool(&self.pool, self.core.clone(), f).await
    }

    /// Runs `f`, a command that reads content, on the blocking pool; blocks it
    /// lacks are fetched on the executor between runs ([`fetch::run_value`]).
    async fn on_content<T: Send + 'static>(
        &self,
        reach: Reach,
        f: impl Fn(&Local) -> crate::core_api::error::Result<T> + Send + Sync + 'static,
    ) -> Result<T, ApiError> {
        let core = self.core.clone();
        let mut walker = self.walker();
        let job = Arc::new(move || f(&core).map_err(anyhow::Error::from));
        Ok(fetch::run_value(&mut walker, reach, job).await?)
    }

    /// A request's walker: fetches through the node's bitswap, as long as bitswap
    /// waits (the request's `timeout=` bounds the whole request).
    fn walker(&self) -> Walker {
        self.core.walker(self.pool.clone(), None)
    }

    /// Runs a `Network` call on the network-wait pool ([`NET_WAIT_THREADS`]): it
    /// mostly waits on the swarm task (a DHT query can take a while), which must not
    /// hold the repo's blocking threads.
    async fn on_net<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Local) -> crate::core_api::error::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        on_pool(&self.net_pool, self.core.clone(), f).await
    }

    async fn version(&self) -> ApiResult {
        let v = self.on_core(|c| c.version()).await?;
        Ok(json_response(&json!({
            "Version": v.version,
            "Commit": "",
            "Repo": v.repo,
            "System": v.system,
            "Golang": "",
        })))
    }
}
