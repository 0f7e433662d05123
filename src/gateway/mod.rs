//! The HTTP gateway: read-only `/ipfs/{cid}[/path]` over [`http`], calling the
//! core API.
//!
//! **What.** [`Gateway::handle`] answers one `GET`/`HEAD`: a UnixFS file (streamed,
//! with a `Range` of it), a directory (its `index.html`, else an HTML listing), or,
//! on a trustless request, one raw block or a CAR of the DAG. Missing blocks are
//! fetched over bitswap on the executor between runs of the pool job
//! ([`crate::fetch`]), each waited for at most `Gateway.RetrievalTimeout`; a
//! client that hangs up ends its request and its wants.
//!
//! **Spec.** IPFS path gateway and trustless gateway
//! (<https://specs.ipfs.tech/http-gateways/path-gateway/>,
//! <https://specs.ipfs.tech/http-gateways/trustless-gateway/>):
//! - Responses carry `ETag: "<cid>"` of the resolved content, `X-Ipfs-Path`, and
//!   `Cache-Control: public, max-age=29030400, immutable`; a matching
//!   `If-None-Match` is answered 304.
//! - Files: `Content-Type` from the file name's extension ([`content_type`]; the
//!   name is `?filename=` when given), else from the first bytes ([`sniff`]);
//!   `?filename=` adds Kubo's `Content-Disposition` (`inline`, or `attachment`
//!   with `download=true`; [`content_disposition`]); one `Range` (`bytes=a-b`, `a-`, `-n`) → 206 with `Content-Range`, past the end
//!   → 416 with `Content-Range: bytes */size`.
//! - Directories: a URL without a trailing slash is redirected (301) to the slash
//!   form, as Kubo; then `index.html` if present, else an HTML listing.
//! - Trustless: `?format=raw` or `Accept: application/vnd.ipld.raw` → the block of
//!   the resolved CID; `?format=car` or `Accept: application/vnd.ipld.car` → a
//!   CARv1 (`dag-scope=all` by default, `block` → the root block only).
//! - Errors as plain text: bad CID or parameter → 400; no such path → 404; a block
//!   no peer gave us in time → 504; methods other than GET/HEAD → 405.
//!
//! - Hosts: `Gateway.PublicGateways` (default: `localhost`) makes a host a
//!   subdomain gateway (`<cid>.ipfs.<host>`, path requests redirected there) or a
//!   path gateway limited to its `Paths` ([`subdomain`]); other hosts get the path
//!   gateway.
//!
//! **Flow.** Method → host ([`subdomain::Hosts::route`]: serve, redirect or 404) → `/ipfs/` prefix → CID (400) → format → request slot (wait up
//! to [`crate::http::SLOT_WAIT`] while `Gateway.MaxConcurrentRequests` are served,
//! then 503) → resolve the path on the blocking pool →
//! answer. File bodies and CARs are produced by a pool job into a bounded channel.
//! Every read goes through the core API ([`Local`]: `resolve`, `cat`, `ls` of the
//! [`Content`](crate::core_api::Content) group, and [`Local::stat`]), except two
//! that fetch missing blocks and have no core-API method yet: a raw block
//! (`Node::block_fetch`) and a CAR (`Node::car_export`), called through
//! [`Local::node`].
//!
//! **Limits.** `Gateway.MaxConcurrentRequests` requests at once (config, default
//! [`crate::config::DEFAULT_MAX_CONCURRENT_REQUESTS`], set per firmware profile; the
//! slot is held until a streamed body ends); a request past it waits up to
//! [`crate::http::SLOT_WAIT`] for a slot, then gets 503; the waiters are bounded by
//! `Gateway.MaxConnections` (one request per connection at a time); that many
//! connections, admitted, timed and made room for as the shared server does
//! ([`crate::http`], with `Gateway.HeadDeadline` and `Gateway.BodyIdleTimeout`); a streamed
//! body holds at most [`RESPONSE_QUEUE_COUNT`] × [`crate::http::stream::STREAM_CHUNK_BYTES`] (256 KiB)
//! queued; a listing shows at most [`MAX_LISTING_ENTRIES_COUNT`] entries.
//!
//! **Departures.** Content sniffing knows fewer types than Kubo's ([`sniff`]);
//! `dag-scope=entity` is served as `all` (for a file that is the file's whole
//! DAG, which is what entity means; for a directory it adds the children);
//! no `dag-scope` byte ranges (`entity-bytes`), no CAR `order`/`dups` parameters
//! (blocks depth-first, each once); a CAR's ETag is `"<cid>.car"` and a raw
//! block's `"<cid>.raw"`; non-UnixFS content (dag-cbor, dag-json) and symlinks
//! are 501 on the path gateway (ask for `format=raw` or `car`); no `/ipns/` and no
//! DNSLink (also on subdomains); a failure after a file body began closes
//! the connection (a CAR gets Kubo's `X-Stream-Error` trailer).
//! `Gateway.RetrievalTimeout` (Kubo's key and default, 30 s; set per firmware
//! profile) bounds the wait for each block, not the time since the last byte
//! written: a block no peer has answers 504 when it passes or when bitswap gives
//! up, whichever is first. A listing reads the whole directory (`ls`) before
//! showing its first [`MAX_LISTING_ENTRIES_COUNT`] entries.

pub mod sniff;
pub mod subdomain;

use std::sync::Arc;

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS, NON_ALPHANUMERIC};
use smol::channel;

use crate::core_api::content::EntryKind;
use crate::core_api::content::PathStat;
use crate::core_api::error::Error as CoreError;
use crate::core_api::fetch::{self, Reach, Resume, Spawner, Walker};
use crate::core_api::{cids, Cid};
use crate::core_api::{Blocks as _, Content as _, Dag as _, Local};
use crate::http::{Body, Chunk, Request, Response};
use crate::http::{Held as Slot, Slots, SLOT_WAIT};
use crate::pool::Pool;

// Streamed bodies are cut into the API's chunks (crate::http::stream::STREAM_CHUNK_BYTES).
/// Chunks queued between a pool job and the socket; the job waits when the client
/// reads slower than it produces.
pub const RESPONSE_QUEUE_COUNT: usize = 4;
/// Most entries a directory listing shows (the rest are counted, not listed).
pub const MAX_LISTING_ENTRIES_COUNT: usize = 10_000;
/// `Cache-Control` of immutable `/ipfs/` content (Kubo's value: 336 days).
pub const CACHE_CONTROL: &str = "public, max-age=29030400, immutable";

const RAW_TYPE: &str = "application/vnd.ipld.raw";
const CAR_TYPE: &str = "application/vnd.ipld.car";

/// Characters escaped in a path put back into a URL or a header.
pub(crate) const PATH_SET: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|');

/// The gateway's state.
pub struct Gateway {
    /// The core API it reads through (the daemon's node and network).
    core: Arc<Local>,
    pool: Pool,
    /// Request slots (`Gateway.MaxConcurrentRequests`).
    slots: Slots,
    /// Where streamed bodies' fetch loops run (the daemon's executor).
    spawner: Spawner,
    /// Longest wait for one block from the network (`Gateway.RetrievalTimeout`).
    retrieval_timeout: std::time::Duration,
    /// The known hosts (`Gateway.PublicGateways`): subdomain or path gateways.
    hosts: subdomain::Hosts,
}

/// What the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// The path gateway: files, `index.html`, listings.
    Unixfs,
    /// One block.
    Raw,
    /// A CARv1; `true` = the root block only (`dag-scope=block`).
    Car { root_only: bool },
}

/// An error answer: a status and a one-line message.
#[derive(Debug)]
struct Fail(u16, String);

fn text(status: u16, msg: &str) -> Response {
    Response::full(status, "text/plain; charset=utf-8", format!("{msg}\n"))
}

impl Fail {
    fn response(self) -> Response {
        text(self.0, &format!("{} {}", self.0, self.1))
    }
}

/// The HTTP status of a core error, from the core API's table
/// ([`crate::core_api::error::Kind::gateway_status`]): 404 for a missing path component, 504 for a
/// block we could not get (not stored, and no peer gave it before the fetch
/// timeout), 400 for a bad path, else 500.
fn status_of(e: &anyhow::Error) -> u16 {
    CoreError::classify_anyhow(e).gateway_status()
}

fn fail(e: anyhow::Error) -> Fail {
    match status_of(&e) {
        504 => Fail(
            504,
            format!("retrieval failed (not stored, no peer sent it in time): {e:#}"),
        ),
        s => Fail(s, format!("{e:#}")),
    }
}

/// `Content-Type` from a file name's extension; `application/octet-stream` when
/// unknown.
pub fn content_type(name: &str) -> &'static str {
    type_by_extension(name).unwrap_or("application/octet-stream")
}

/// `Content-Type` from a file name's extension, if it is one we know.
fn type_by_extension(name: &str) -> Option<&'static str> {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    Some(match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "mp4" => "video/mp4",
        "pdf" => "application/pdf",
        _ => return None,
    })
}

/// Kubo's `Content-Disposition` for `?filename=` (`download=true`: attachment):
/// an ASCII `filename` (other characters as `_`) and the UTF-8 `filename*`
/// (RFC 6266, RFC 5987), both escaped as Go's `url.PathEscape` does.
pub fn content_disposition(filename: &str, download: bool) -> String {
    let kind = if download { "attachment" } else { "inline" };
    let ascii: String = filename
        .chars()
        .map(|c| if (' '..'\x7f').contains(&c) { c } else { '_' })
        .collect();
    format!(
        "{kind}; filename=\"{}\"; filename*=UTF-8''{}",
        path_escape(&ascii),
        path_escape(filename)
    )
}

/// Go's `url.PathEscape`: all but `A-Za-z0-9-_.~$&+:=@` percent-encoded.
fn path_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~$&+:=@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A satisfiable byte range `[start, end]` (inclusive), or why not.
#[derive(Debug, PartialEq, Eq)]
enum RangeReq {
    /// No `Range`, or one we ignore (not bytes, several ranges, malformed): 200.
    Whole,
    Part(u64, u64),
    /// 416.
    Unsatisfiable,
}

/// Parses a `Range` header against a body of `size` bytes (RFC 9110 §14.1.2).
/// Several ranges are answered with the whole body, which the RFC allows.
fn parse_range(header: Option<&str>, size: u64) -> RangeReq {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeReq::Whole;
    };
    if spec.contains(',') {
        return RangeReq::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeReq::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        // Suffix: the last n bytes.
        return match b.parse::<u64>() {
            Ok(0) => RangeReq::Unsatisfiable,
            Ok(_) if size == 0 => RangeReq::Unsatisfiable,
            Ok(n) => RangeReq::Part(size - n.min(size), size - 1),
            Err(_) => RangeReq::Whole,
        };
    }
    let Ok(start) = a.parse::<u64>() else {
        return RangeReq::Whole;
    };
    let end = if b.is_empty() {
        u64::MAX
    } else {
        match b.parse::<u64>() {
            Ok(e) if e >= start => e,
            _ => return RangeReq::Whole,
        }
    };
    if start >= size {
        return RangeReq::Unsatisfiable;
    }
    RangeReq::Part(start, end.min(size - 1))
}

/// Whether an `If-None-Match` header matches `etag` (weak comparison).
fn none_match(header: Option<&str>, etag: &str) -> bool {
    header.is_some_and(|h| {
        h.split(',').map(str::trim).any(|t| {
            t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag.strip_prefix("W/").unwrap_or(etag)
        })
    })
}

/// Escapes text for HTML.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The format a request asks for: `?format=` first, then `Accept`.
fn parse_format(req: &Request) -> Result<Format, Fail> {
    let q = |name: &str| {
        req.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let root_only = match q("dag-scope") {
        None | Some("all") | Some("entity") => false,
        Some("block") => true,
        Some(other) => return Err(Fail(400, format!("unsupported dag-scope {other:?}"))),
    };
    match q("format") {
        Some("raw") => return Ok(Format::Raw),
        Some("car") => return Ok(Format::Car { root_only }),
        None | Some("") => {}
        Some(other) => return Err(Fail(400, format!("unsupported format {other:?}"))),
    }
    for media in req.header("accept").unwrap_or("").split(',') {
        match media.split(';').next().unwrap_or("").trim() {
            RAW_TYPE => return Ok(Format::Raw),
            CAR_TYPE => return Ok(Format::Car { root_only }),
            _ => {}
        }
    }
    Ok(Format::Unixfs)
}

/// The first value of query parameter `name`.
fn query_value<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Headers every content answer carries.
fn common_headers(etag: &str, ipfs_path: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ETag", etag.to_string()),
        ("Cache-Control", CACHE_CONTROL.to_string()),
        ("X-Ipfs-Path", ipfs_path.to_string()),
        ("Accept-Ranges", "bytes".to_string()),
    ]
}

fn not_modified(etag: &str, ipfs_path: &str) -> Response {
    Response {
        status: 304,
        headers: common_headers(etag, ipfs_path),
        body: Body::Empty(None),
    }
}

/// How the client's URL names what is served.
#[derive(Clone, Copy)]
struct Urls<'a> {
    /// `X-Ipfs-Path`: the content path, encoded.
    ipfs_path: &'a str,
    /// The request's path as the client's URL shows it (without a subdomain's
    /// `/ipfs/<cid>`), encoded: where redirects inside the content point.
    visible: &'a str,
    /// The gateway host's URL on a subdomain (links to other content go there),
    /// else empty.
    gateway: &'a str,
}

/// What a path names, as resolved on the pool.
enum Target {
    File {
        cid: Cid,
        size: u64,
    },
    Directory {
        cid: Cid,
        /// `index.html`: its CID and size.
        index: Option<(Cid, u64)>,
    },
    /// A symlink or a non-UnixFS node.
    Other {
        cid: Cid,
    },
}

impl Gateway {
    /// This server's HTTP settings: the config's `Gateway` section.
    pub fn http_config(&self) -> crate::http::Config {
        self.core.config().gateway.http_config()
    }

    pub fn new(core: Arc<Local>, pool: Pool, spawner: Spawner) -> Arc<Gateway> {
        let gw = &core.config().gateway;
        let limit = usize::from(gw.max_concurrent_requests);
        let retrieval_timeout = gw.retrieval_timeout();
        let hosts = subdomain::Hosts::new(&gw.public_gateways);
        Arc::new(Gateway {
            core,
            pool,
            slots: Slots::new(limit),
            spawner,
            retrieval_timeout,
            hosts,
        })
    }

    /// Requests being served now.
    pub fn active_requests(&self) -> usize {
        self.slots.active()
    }

    /// A request's walker: fetches through the node's bitswap, waiting at most
    /// `Gateway.RetrievalTimeout` for each block.
    fn walker(&self) -> Walker {
        self.core
            .walker(self.pool.clone(), Some(self.retrieval_timeout))
    }

    /// Runs `f` with the core API on the blocking pool; blocks it lacks are
    /// fetched on the executor between runs ([`fetch::run_value`]).
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl Fn(&Local) -> anyhow::Result<T> + Send + Sync + 'static,
    ) -> Result<T, Fail> {
        let core = self.core.clone();
        let mut walker = self.walker();
        fetch::run_value(&mut walker, Reach::Block, Arc::new(move || f(&core)))
            .await
            .map_err(fail)
    }

    /// Answers one request.
    pub async fn handle(self: Arc<Gateway>, mut req: Request) -> Response {
        let head_only = match req.method.as_str() {
            "GET" => false,
            "HEAD" => true,
            _ => {
                let mut r = text(405, "405 - Method Not Allowed");
                r.headers.push(("Allow", "GET, HEAD".into()));
                return r;
            }
        };
        let https = req
            .header("x-forwarded-proto")
            .is_some_and(|p| p.eq_ignore_ascii_case("https"));
        let host = req.header("x-forwarded-host").or(req.header("host"));
        let query =
            crate::http::encode_query(req.query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        // The part of the served path the client's URL does not show (a subdomain).
        let (hidden, gateway) = match self.hosts.route(host, &req.path, &query, https) {
            subdomain::Route::Serve {
                path,
                hidden,
                gateway,
            } => {
                req.path = path;
                (hidden, gateway)
            }
            subdomain::Route::Redirect(url) => {
                let mut r = text(301, &format!("301 Moved Permanently: {url}"));
                r.headers.push(("Location", url));
                return r;
            }
            subdomain::Route::NotFound => return text(404, "404 page not found"),
            subdomain::Route::BadRequest(m) => return Fail(400, m).response(),
        };
        let Some(rest) = req.path.strip_prefix("/ipfs/") else {
            return text(404, "404 page not found");
        };
        let (cid_text, sub) = rest.split_once('/').unwrap_or((rest, ""));
        let cid = match cids::parse(cid_text) {
            Ok(c) => c,
            Err(e) => {
                return Fail(400, format!("invalid CID {cid_text:?} in path: {e}")).response()
            }
        };
        let format = match parse_format(&req) {
            Ok(f) => f,
            Err(e) => return e.response(),
        };
        let Some(slot) = self.slots.acquire(SLOT_WAIT).await else {
            return text(
                503,
                &format!(
                    "503 too many requests: {} are being served and none ended within {}s",
                    self.slots.limit(),
                    SLOT_WAIT.as_secs()
                ),
            );
        };
        let segments: Vec<String> = sub
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let arg = std::iter::once(cid.to_string())
            .chain(segments.iter().cloned())
            .collect::<Vec<_>>()
            .join("/");
        let ipfs_path = utf8_percent_encode(&req.path, PATH_SET).to_string();
        let r = match format {
            Format::Raw => self.raw(&req, &arg, &ipfs_path, head_only).await,
            Format::Car { root_only } => {
                self.car(&req, &arg, &ipfs_path, root_only, head_only, slot)
                    .await
            }
            Format::Unixfs => {
                let name = segments.last().cloned().unwrap_or_default();
                let visible = match &hidden {
                    Some(prefix) => req.path[prefix.len()..].to_string(),
                    None => req.path.clone(),
                };
                let visible = utf8_percent_encode(&visible, PATH_SET).to_string();
                let urls = Urls {
                    ipfs_path: &ipfs_path,
                    visible: &visible,
                    gateway: gateway.as_deref().unwrap_or(""),
                };
                self.unixfs(&req, &arg, &name, &urls, head_only, slot).await
            }
        };
        r.unwrap_or_else(Fail::response)
    }

    async fn raw(
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

    async fn car(
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
    async fn stream(
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

    /// The path gateway's answer.
    async fn unixfs(
        &self,
        req: &Request,
        arg: &str,
        name: &str,
        urls: &Urls<'_>,
        head_only: bool,
        slot: Slot,
    ) -> Result<Response, Fail> {
        let Urls {
            ipfs_path,
            visible,
            gateway,
        } = *urls;
        let a = arg.to_string();
        let target = self
            .blocking(move |c| {
                let PathStat { cid, kind, size } = c.stat(&a)?;
                Ok(match kind {
                    EntryKind::File | EntryKind::Raw => Target::File { cid, size },
                    EntryKind::Directory => {
                        let index = match c.stat(&format!("{cid}/index.html")) {
                            Ok(PathStat {
                                cid,
                                kind: EntryKind::File | EntryKind::Raw,
                                size,
                            }) => Some((cid, size)),
                            Ok(_) => None,
                            Err(e) if e.kind().gateway_status() == 404 => None,
                            Err(e) => return Err(e.into()),
                        };
                        Target::Directory { cid, index }
                    }
                    EntryKind::Symlink | EntryKind::Other => Target::Other { cid },
                })
            })
            .await?;
        match target {
            Target::File { cid, size } => {
                // `?filename=` names the file, for its type and the download.
                let filename = query_value(req, "filename").filter(|f| !f.is_empty());
                let ctype = match type_by_extension(filename.unwrap_or(name)) {
                    Some(t) => t,
                    None => {
                        let head = self
                            .blocking(move |c| {
                                let mut head = Vec::with_capacity(sniff::SNIFF_BYTES);
                                let len = Some(sniff::SNIFF_BYTES as u64);
                                c.cat(&[cid.to_string()], 0, len, &mut head)?;
                                Ok(head)
                            })
                            .await?;
                        sniff::sniff(&head)
                    }
                };
                let mut r = self
                    .file(req, cid, size, ctype, ipfs_path, head_only, slot)
                    .await?;
                if let Some(f) = filename {
                    let download = query_value(req, "download") == Some("true");
                    r.headers
                        .push(("Content-Disposition", content_disposition(f, download)));
                }
                Ok(r)
            }
            Target::Directory { cid, index } => {
                if !req.path.ends_with('/') {
                    let mut location = format!("{visible}/");
                    if !req.query.is_empty() {
                        let q = crate::http::encode_query(
                            req.query.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                        );
                        location = format!("{location}?{q}");
                    }
                    let mut r = text(301, &format!("301 Moved Permanently: {location}"));
                    r.headers.push(("Location", location));
                    return Ok(r);
                }
                match index {
                    Some((icid, size)) => {
                        let ct = content_type("index.html");
                        self.file(req, icid, size, ct, ipfs_path, head_only, slot)
                            .await
                    }
                    None => self.listing(req, cid, ipfs_path, gateway, head_only).await,
                }
            }
            Target::Other { cid } => Err(Fail(
                501,
                format!(
                    "{cid} is not a UnixFS file or directory; ask for ?format=raw or ?format=car"
                ),
            )),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn file(
        &self,
        req: &Request,
        cid: Cid,
        size: u64,
        ctype: &str,
        ipfs_path: &str,
        head_only: bool,
        slot: Slot,
    ) -> Result<Response, Fail> {
        let etag = format!("\"{cid}\"");
        if none_match(req.header("if-none-match"), &etag) {
            return Ok(not_modified(&etag, ipfs_path));
        }
        let mut headers = common_headers(&etag, ipfs_path);
        headers.push(("Content-Type", ctype.to_string()));
        let (status, start, len) = match parse_range(req.header("range"), size) {
            RangeReq::Whole => (200, 0, size),
            RangeReq::Part(a, b) => {
                headers.push(("Content-Range", format!("bytes {a}-{b}/{size}")));
                (206, a, b - a + 1)
            }
            RangeReq::Unsatisfiable => {
                let mut r = text(416, "416 Range Not Satisfiable");
                r.headers.push(("Content-Range", format!("bytes */{size}")));
                return Ok(r);
            }
        };
        if head_only || len == 0 {
            return Ok(Response {
                status,
                headers,
                body: Body::Empty(Some(len)),
            });
        }
        // A rerun resumes after the bytes already sent.
        let (first, rx) = self
            .stream(slot, Reach::Block, Resume::Offset, move |c, w, done| {
                if done >= len {
                    return Ok(());
                }
                Ok(c.cat(&[cid.to_string()], start + done, Some(len - done), w)?)
            })
            .await?;
        Ok(Response {
            status,
            headers,
            body: Body::Sized(len, first, rx),
        })
    }

    /// An HTML listing; links to content are `{gateway}/ipfs/<cid>` (`gateway`
    /// empty on the path gateway).
    async fn listing(
        &self,
        req: &Request,
        cid: Cid,
        ipfs_path: &str,
        gateway: &str,
        head_only: bool,
    ) -> Result<Response, Fail> {
        let etag = format!("\"DirIndex-acorn-{}_CID-{cid}\"", env!("CARGO_PKG_VERSION"));
        if none_match(req.header("if-none-match"), &etag) {
            return Ok(not_modified(&etag, ipfs_path));
        }
        let entries = self.blocking(move |c| Ok(c.ls(&cid.to_string())?)).await?;
        let title = html_escape(&req.path);
        let gateway = html_escape(gateway);
        let mut html = format!(
            "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
             <body>\n<h1>Index of {title}</h1>\n<p><a href=\"{gateway}/ipfs/{cid}\">{cid}</a></p>\n\
             <table>\n<tr><th>Name</th><th>Size</th><th>CID</th></tr>\n"
        );
        for e in entries.iter().take(MAX_LISTING_ENTRIES_COUNT) {
            let slash = if e.kind == EntryKind::Directory {
                "/"
            } else {
                ""
            };
            let href = utf8_percent_encode(&e.name, NON_ALPHANUMERIC);
            let size = if e.kind == EntryKind::Directory {
                "-".to_string()
            } else {
                e.size.to_string()
            };
            html.push_str(&format!(
                "<tr><td><a href=\"./{href}{slash}\">{}{slash}</a></td><td>{size}</td>\
                 <td><a href=\"{gateway}/ipfs/{c}\">{c}</a></td></tr>\n",
                html_escape(&e.name),
                c = e.cid,
            ));
        }
        html.push_str("</table>\n");
        if entries.len() > MAX_LISTING_ENTRIES_COUNT {
            html.push_str(&format!(
                "<p>{} more entries not shown</p>\n",
                entries.len() - MAX_LISTING_ENTRIES_COUNT
            ));
        }
        html.push_str("</body>\n</html>\n");
        let mut headers = common_headers(&etag, ipfs_path);
        headers.retain(|(n, _)| *n != "Accept-Ranges");
        headers.push(("Content-Type", "text/html; charset=utf-8".into()));
        let body = if head_only {
            Body::Empty(Some(html.len() as u64))
        } else {
            Body::Full(html.into_bytes())
        };
        Ok(Response {
            status: 200,
            headers,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeReq::*;
        assert_eq!(parse_range(None, 10), Whole);
        assert_eq!(parse_range(Some("bytes=0-3"), 10), Part(0, 3));
        assert_eq!(parse_range(Some("bytes=4-"), 10), Part(4, 9));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Part(7, 9));
        assert_eq!(parse_range(Some("bytes=-30"), 10), Part(0, 9));
        assert_eq!(parse_range(Some("bytes=5-100"), 10), Part(5, 9));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-0"), 0), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), Whole);
        assert_eq!(parse_range(Some("bytes=5-2"), 10), Whole);
        assert_eq!(parse_range(Some("items=0-1"), 10), Whole);
        assert_eq!(parse_range(Some("bytes=x-1"), 10), Whole);
    }

    #[test]
    fn etag_matching() {
        let tag = "\"bafy\"";
        assert!(none_match(Some("\"bafy\""), tag));
        assert!(none_match(Some("\"x\", W/\"bafy\""), tag));
        assert!(none_match(Some("*"), tag));
        assert!(!none_match(Some("\"other\""), tag));
        assert!(!none_match(None, tag));
    }

    #[test]
    fn content_types_and_escaping() {
        assert_eq!(content_type("a/b.HTML"), "text/html; charset=utf-8");
        assert_eq!(content_type("x.png"), "image/png");
        assert_eq!(content_type("x.wasm"), "application/wasm");
        assert_eq!(content_type("noext"), "application/octet-stream");
        assert_eq!(content_type("x.exe"), "application/octet-stream");
        assert_eq!(
            html_escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn content_disposition_as_kubo() {
        assert_eq!(
            content_disposition("cat.jpg", false),
            "inline; filename=\"cat.jpg\"; filename*=UTF-8''cat.jpg"
        );
        assert_eq!(
            content_disposition("a b\"/;,?.txt", true),
            "attachment; filename=\"a%20b%22%2F%3B%2C%3F.txt\"; \
             filename*=UTF-8''a%20b%22%2F%3B%2C%3F.txt"
        );
        // Non-ASCII: `_` in the plain name, UTF-8 in the extended one.
        assert_eq!(
            content_disposition("Łódź€.txt", false),
            "inline; filename=\"__d__.txt\"; \
             filename*=UTF-8''%C5%81%C3%B3d%C5%BA%E2%82%AC.txt"
        );
        assert_eq!(path_escape("$&+:=@~-_."), "$&+:=@~-_.");
    }
}
