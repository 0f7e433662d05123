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
//!
//! **Files.** This file holds the gateway's state, routing ([`Gateway::handle`])
//! and error answers; `unixfs.rs` the path gateway's file, `index.html` and
//! listing answers; `trustless.rs` the raw block and CAR answers and the streamed
//! body; `headers.rs` content types, ranges, ETags and escaping; [`subdomain`] the
//! hosts; [`sniff`] content sniffing.

mod headers;
pub mod sniff;
pub mod subdomain;
mod trustless;
mod unixfs;

use headers::{
    common_headers, html_escape, none_match, not_modified, parse_format, parse_range, query_value,
    type_by_extension, RangeReq,
};
pub use headers::{content_disposition, content_type};

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
/// Chunks queued between a handler and the socket (the one value both servers use).
pub use crate::http::stream::RESPONSE_QUEUE_COUNT;
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

    /// Answers one request, counted in the metrics by route and status.
    pub async fn handle(self: Arc<Gateway>, req: Request) -> Response {
        let started = std::time::Instant::now();
        let route = crate::metrics::gateway_route(&req.path);
        let resp = self.answer(req).await;
        crate::metrics::gateway_request(route, resp.status, started.elapsed());
        resp
    }

    /// Answers one request.
    async fn answer(self: Arc<Gateway>, mut req: Request) -> Response {
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
}

#[cfg(test)]
mod tests {
    use super::headers::path_escape;
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
