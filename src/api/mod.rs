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
//! **Files.** Handlers beyond the first set live beside this file as `impl Api`
//! blocks: `dag.rs` and `pins.rs` (above), [`add`], [`filestore`], [`config`] (and
//! `config/show`), [`stats`] (`stats/repo`, `stats/bitswap`, `bitswap/*`); [`cors`]
//! holds the browser rule.
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
mod dag;
pub mod filestore;
mod log;
mod ping;
mod pins;
mod refs;
pub mod stats;

use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use smol::channel::{self, Sender};

use crate::core_api::content::EntryKind;
use crate::core_api::error::{Error as CoreError, Kind, RpcAnswer};
use crate::core_api::fetch::{self, Reach, Resume, Spawner, Walker};
use crate::core_api::parse_cid_arg;
use crate::core_api::{network, Content as _, Local, Network as _, Settings as _};
use crate::http::multipart::{self, Multipart};
use crate::http::{
    self, cors, Body, BodyReader, Chunk, ChunkWriter, Held, Request, Response, Slots, SLOT_WAIT,
};
use crate::pool::Pool;
use refs::refs_options;

/// Threads on which the API's network commands (`id`, `swarm/*`, `routing/*`,
/// `stats/bw`, `bitswap/*`) wait for the swarm task, apart from the repo's
/// blocking pool; started on use, gone when idle (`pool::IDLE_EXIT`).
pub const NET_WAIT_THREADS: usize = 1;
/// Chunks queued between a core call and the socket; the core call waits when
/// the client reads slower than it produces.
pub const RESPONSE_QUEUE_COUNT: usize = 4;
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

    /// Answers one request.
    pub async fn handle(self: Arc<Api>, req: Request) -> Response {
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

    async fn id(&self, req: Request) -> ApiResult {
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

    /// Kubo's `get`: a tar stream (no `archive`/`compress` options: always plain tar,
    /// which is what Kubo's CLI asks for and unpacks).
    async fn get(&self, req: Request, slot: Slot) -> ApiResult {
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
    async fn refs(&self, req: Request, slot: Slot) -> ApiResult {
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

    async fn swarm_connect(&self, req: Request) -> ApiResult {
        let addrs = Query(&req.query).required_args("address")?;
        let peers = self.on_net(move |c| c.swarm_connect(&addrs)).await?;
        let out: Vec<String> = peers
            .iter()
            .map(|p| format!("connect {p} success"))
            .collect();
        Ok(json_response(&json!({ "Strings": out })))
    }

    async fn swarm_disconnect(&self, req: Request) -> ApiResult {
        let addrs = Query(&req.query).required_args("address")?;
        let peers = self.on_net(move |c| c.swarm_disconnect(&addrs)).await?;
        let out: Vec<String> = peers
            .iter()
            .map(|p| format!("disconnect {p} success"))
            .collect();
        Ok(json_response(&json!({ "Strings": out })))
    }

    async fn swarm_peers(&self) -> ApiResult {
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

    async fn swarm_addrs(&self) -> ApiResult {
        let known = self.on_net(|c| c.swarm_addrs()).await?;
        let mut addrs = serde_json::Map::new();
        for (peer, list) in known {
            let list: Vec<String> = list.iter().map(ToString::to_string).collect();
            addrs.insert(peer.to_base58(), json!(list));
        }
        Ok(json_response(&json!({ "Addrs": addrs })))
    }

    async fn swarm_addrs_local(&self, req: Request) -> ApiResult {
        let with_id = Query(&req.query).bool(&["id"])?.unwrap_or(false);
        let list = self.on_net(move |c| c.swarm_addrs_local(with_id)).await?;
        let list: Vec<String> = list.iter().map(ToString::to_string).collect();
        Ok(json_response(&json!({ "Strings": list })))
    }

    /// Kubo's `stats bw`: totals, or one protocol (`proto`), or one peer (`peer`);
    /// not both. An untracked protocol or unknown peer answers zeros, as Kubo does.
    /// `poll` is not supported (one answer).
    async fn stats_bw(&self, req: Request) -> ApiResult {
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

    async fn cat(&self, req: Request, slot: Slot) -> ApiResult {
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

    async fn ls(&self, req: Request) -> ApiResult {
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

    /// Kubo's `routing findprovs`: one `{"Type":4,"Responses":[{"ID","Addrs"}]}`
    /// line per provider (Type 4 = Provider).
    async fn routing_findprovs(&self, req: Request) -> ApiResult {
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
    async fn routing_findpeer(&self, req: Request) -> ApiResult {
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
    async fn routing_provide(&self, req: Request) -> ApiResult {
        let args = Query(&req.query).required_args("key")?;
        let mut cids = Vec::with_capacity(args.len());
        for a in &args {
            cids.push(parse_cid_arg(a).map_err(|e| ApiError::Client(e.to_string()))?);
        }
        self.on_net(move |c| c.provide(&cids)).await?;
        Ok(Response::full(200, "application/json", ""))
    }

    async fn block_get(&self, req: Request, slot: Slot) -> ApiResult {
        use crate::core_api::Blocks as _;
        let q = Query(&req.query);
        let cid = one_cid(&q)?;
        let core = self.core.clone();
        stream(slot, "text/plain", "X-Stream-Output", move |w| {
            core.block_get(&cid, w)
        })
        .await
    }

    async fn block_stat(&self, req: Request) -> ApiResult {
        use crate::core_api::Blocks as _;
        let cid = one_cid(&Query(&req.query))?;
        let st = self.on_core(move |c| c.block_stat(&cid)).await?;
        Ok(json_response(
            &json!({"Key": st.cid.to_string(), "Size": st.size}),
        ))
    }

    async fn repo_verify(&self, slot: Slot) -> ApiResult {
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

/// The answers' only encoding; Kubo's `enc`/`encoding` option may name it.
const ENCODING_JSON: &str = "json";

/// Refuses an encoding other than JSON (Kubo also has `text` and `xml` for some
/// commands; Acorn answers every command in one shape).
fn check_encoding(q: &Query<'_>) -> Result<(), ApiError> {
    match q.get(&["encoding", "enc"]) {
        None => Ok(()),
        Some(e) if e == ENCODING_JSON => Ok(()),
        Some(e) => Err(ApiError::Client(format!(
            "invalid encoding: {e:?} (Acorn's API answers {ENCODING_JSON} only)"
        ))),
    }
}

trait WithStatus {
    fn with_status(self, status: u16) -> Self;
}

impl WithStatus for Response {
    fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
}

/// Kubo's UnixFS type codes as `ls` reports them (Directory 1, File 2, Symlink 4).
fn unixfs_type_code(k: EntryKind) -> u8 {
    match k {
        EntryKind::Directory => 1,
        EntryKind::File | EntryKind::Raw => 2,
        EntryKind::Symlink => 4,
        EntryKind::Other => 0,
    }
}

/// Runs `f` with `core` on `pool`.
async fn on_pool<T: Send + 'static>(
    pool: &Pool,
    core: Arc<Local>,
    f: impl FnOnce(&Local) -> crate::core_api::error::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    match pool.run(move || f(&core)).await {
        Some(r) => Ok(r?),
        None => Err(ApiError::Server(
            "internal error: the command panicked".into(),
        )),
    }
}

fn json_response(v: &Value) -> Response {
    Response::full(200, "application/json", format!("{v}\n"))
}

fn json_line(w: &mut dyn Write, v: &Value) -> io::Result<()> {
    w.write_all(format!("{v}\n").as_bytes())?;
    w.flush()
}

fn one_cid(q: &Query<'_>) -> Result<cid::Cid, ApiError> {
    let args = q.required_args("cid")?;
    parse_cid_arg(&args[0]).map_err(|e| ApiError::Client(format!("{e:#}")))
}

/// The request's multipart body, read on the blocking pool.
fn multipart_body(req: &Request) -> Result<Multipart<BodyReader>, ApiError> {
    let ct = req.header("content-type").unwrap_or("");
    let boundary = multipart::boundary(ct).ok_or_else(|| {
        ApiError::Client("request body must be multipart/form-data with a boundary".into())
    })?;
    Multipart::new(BodyReader::new(req.body.clone()), &boundary)
        .map_err(|e| ApiError::Client(e.to_string()))
}

/// Kubo-style query parameters.
struct Query<'a>(&'a [(String, String)]);

impl Query<'_> {
    fn args(&self) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == "arg")
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn required_args(&self, name: &str) -> Result<Vec<String>, ApiError> {
        let a = self.args();
        if a.is_empty() {
            return Err(ApiError::Client(format!("argument \"{name}\" is required")));
        }
        Ok(a)
    }

    fn get(&self, names: &[&str]) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| names.contains(&k.as_str()))
            .map(|(_, v)| v.as_str())
    }

    /// A boolean option, as Kubo reads it ([`args::parse_bool`]).
    fn bool(&self, names: &[&str]) -> Result<Option<bool>, ApiError> {
        self.convert(names, "bool", args::parse_bool)
    }

    /// A Go `int` option (32 bits on the boards Kubo ships for, and in its parser).
    fn int(&self, names: &[&str]) -> Result<Option<i64>, ApiError> {
        self.convert(names, "int", |v| args::parse_int(v, 32))
    }

    /// A Go `int64` option.
    fn int64(&self, names: &[&str]) -> Result<Option<i64>, ApiError> {
        self.convert(names, "int64", |v| args::parse_int(v, 64))
    }

    fn convert<T>(
        &self,
        names: &[&str],
        kind: &'static str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, ApiError> {
        let Some(v) = self.get(names) else {
            return Ok(None);
        };
        match parse(v) {
            Some(x) => Ok(Some(x)),
            None => Err(ApiError::Client(
                args::BadValue {
                    option: names[0].to_string(),
                    kind,
                    value: v.to_string(),
                }
                .to_string(),
            )),
        }
    }

    /// A non-negative Go `int64` option (`offset`, `length`): Kubo's message for a
    /// negative one.
    fn non_negative(&self, names: &[&str]) -> Result<Option<u64>, ApiError> {
        match self.int64(names)? {
            Some(n) if n < 0 => Err(ApiError::Client(format!(
                "cannot specify negative {}",
                names[0]
            ))),
            n => Ok(n.map(|n| n as u64)),
        }
    }
}

/// Kubo's `timeout=` (any command): a Go duration (`30s`, `1m30s`, `500ms`) after
/// which the request fails with `context deadline exceeded`; `0` or none: no limit.
fn timeout_arg(req: &Request) -> Result<Option<Duration>, ApiError> {
    match Query(&req.query).get(&["timeout"]) {
        None => Ok(None),
        Some(v) => match crate::config::parse_duration(v) {
            Ok(d) if d.is_zero() => Ok(None),
            Ok(d) => Ok(Some(d)),
            Err(_) => Err(ApiError::Client(format!("time: invalid duration \"{v}\""))),
        },
    }
}

/// A [`fetching_stream`] of JSON lines over a whole DAG (Kubo's chunked output),
/// replayed from the start after each fetch.
async fn json_dag_stream(
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
async fn fetching_stream(
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
async fn stream(
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
async fn stream_response(
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
