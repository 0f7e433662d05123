//! A small HTTP/1.1 server on `async_io::Async<TcpStream>`, shared by the RPC API
//! and the gateway, knowing neither.
//!
//! **Room.** This module and its children are the HTTP plumbing both servers use:
//! request parsing and framing (here), request slots ([`Slots`]), the streamed
//! body writer and blocking body reader ([`ChunkWriter`], [`BodyReader`]), form
//! bodies ([`multipart`]) and the browser rule ([`cors`]). Nothing here names the
//! core API or either server.
//!
//! **What.** [`serve`] accepts connections on a listener and runs each on the
//! daemon's executor; every request is handed to a handler as a [`Request`]
//! (method, path, decoded query, headers, body as a bounded channel of chunks) and
//! answered with a [`Response`] (a whole body, or a stream of chunks sent with
//! chunked encoding and Kubo's `X-Stream-Error` trailer when the stream fails).
//!
//! **Why not hyper.** hyper 1 depends on `tokio` (its `sync` feature) unconditionally,
//! and the node must build without tokio (`cargo tree -p acorn | grep tokio` prints
//! nothing). The part of HTTP/1.1 the RPC API and the gateway need is small:
//! `httparse` parses the head, and framing (Content-Length, chunked) is done here.
//!
//! **Spec.** RFC 9112 (HTTP/1.1 message syntax): keep-alive by default for 1.1,
//! `Connection: close` honoured, HTTP/1.0 closes unless it asks for keep-alive,
//! `Expect: 100-continue` answered, request bodies with `Content-Length` or
//! `Transfer-Encoding: chunked` (trailers read and ignored), responses with
//! `Content-Length` or chunked.
//!
//! **Flow, one request at a time per connection.** Admit the connection
//! ([`Config`]'s rule for a nearly full server, below) → read the head (bounded by
//! [`MAX_HEADER_BYTES`], the whole head and the idle time before it by one
//! [`Config::head_deadline`]) → build the [`Request`]
//! whose body is fed by a pump in the same task → run the handler → write the
//! response while the pump goes on (once the body is in, the pump watches for the
//! client hanging up: that drops the handler's future, cancelling its work) (so a handler may stream its output while it
//! still reads its input, as `add` does) → if the handler left body bytes unread,
//! stop writing, drain what the client still sends (bounded: [`LINGER_BYTES`],
//! [`LINGER_TIMEOUT`]) and close, else wait for the next request.
//!
//! **Limits.** Head ≤ [`MAX_HEADER_BYTES`] with ≤ [`MAX_HEADERS_COUNT`] headers
//! (431 past either); body chunks ≤ [`BODY_CHUNK_BYTES`], at most
//! [`BODY_QUEUE_COUNT`] of them queued (the pump waits when the handler is behind:
//! TCP back-pressure); a body ends with an error when the client falls silent for
//! [`Config::body_idle_timeout`] or, after [`Config::body_grace`] of reading, has
//! sent fewer than [`Config::min_body_bytes_per_sec`] on average (time spent
//! waiting for the handler does not count: that is our back-pressure, not the
//! client's pace); writes time out after [`IO_TIMEOUT`]; on shutdown, idle
//! connections close at once and the accept loop stops.
//!
//! **Connections.** At most [`Config::max_connections`] are open. While fewer than
//! `max_connections − reserved_connections` are open, a new one is admitted.
//! Past that, the server is nearly full and a new connection first closes the
//! oldest connection that waits for a request head (idle keep-alive, or a head
//! still arriving) from an address that holds at least
//! [`Config::max_connections_per_ip`]; it is then admitted. With no such
//! connection to close it is admitted only if its own address holds fewer than
//! `max_connections_per_ip` and the server is not full; otherwise it gets 503 and
//! is closed. So slow clients on one address (loopback, for the API: the CLI's
//! address too) cannot keep a new client out, and a connection in the middle of
//! a request is never closed to make room. Closed-for-room connections are
//! counted in [`Stats::evicted_connections`].
//!
//! **Departures.** No pipelining of a new request before the previous response is
//! written (requests on one connection are served in order, which is all HTTP/1.1
//! asks); no HTTP/2; no `Upgrade`.

pub mod cors;
pub mod multipart;
pub mod slots;
pub mod stream;

pub use slots::{Held, Slots, SLOT_WAIT};
pub use stream::{BodyReader, ChunkWriter};

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_io::{Async, Timer};
use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use smol::channel::{self, Receiver, Sender};

/// Largest request head (request line + headers), in bytes.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Most headers one request may carry.
pub const MAX_HEADERS_COUNT: usize = 64;
/// Default [`Config::head_deadline`]: how long a connection may wait for a whole
/// request head, idle time before its first byte included. One deadline for the
/// head, not one per read: a client sending a byte every few seconds would
/// otherwise hold its connection for days.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(20);
/// Default [`Config::body_idle_timeout`]: longest silence inside a request body
/// (also right after `100 Continue`) before the body ends with an error.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// Default [`Config::body_grace`]: reading time before the body rate is checked
/// (TCP slow start, a client opening its file).
pub const BODY_GRACE: Duration = Duration::from_secs(10);
/// Default [`Config::min_body_bytes_per_sec`]: slowest average pace of a request
/// body after [`BODY_GRACE`], in bytes per second of reading time. A 2 MiB block
/// at this pace takes about 34 minutes, well beyond any honest link.
pub const MIN_BODY_BYTES_PER_SEC: u64 = 1024;
/// Default [`Config::reserved_connections`]: connections kept for new clients
/// (see the module doc's rule for a nearly full server).
pub const RESERVED_CONNECTIONS_COUNT: usize = 8;
/// Default [`Config::max_connections_per_ip`]: connections from one address
/// above which, with the server nearly full, that address's waiting
/// connections make room for new ones.
pub const MAX_CONNECTIONS_PER_IP_COUNT: usize = 8;
/// Longest wait for one socket write.
pub const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest body chunk handed to a handler, in bytes.
pub const BODY_CHUNK_BYTES: usize = 64 * 1024;
/// Most request-body bytes read and dropped after an answer that left the body
/// unread (see [`linger`]).
pub const LINGER_BYTES: usize = 1 << 20;
/// Longest wait for the client to finish sending a body the answer left unread.
pub const LINGER_TIMEOUT: Duration = Duration::from_secs(2);
/// Body chunks queued between the socket and the handler. Worst case per request:
/// this × [`BODY_CHUNK_BYTES`] = 256 KiB.
pub const BODY_QUEUE_COUNT: usize = 4;
/// The whole answer to a connection past the limit.
const REFUSED_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\
Content-Length: 27\r\nConnection: close\r\n\r\n503 - too many connections\n";

/// Longest chunk-size line or trailer line of a chunked body, in bytes.
const MAX_CHUNK_LINE_BYTES: usize = 4096;

/// One server's connection and timing limits (defaults: the constants above).
#[derive(Clone, Debug)]
pub struct Config {
    /// Open connections at most (each costs a task, a socket and a read buffer of
    /// [`BODY_CHUNK_BYTES`] while it reads).
    pub max_connections: usize,
    /// Connections kept for new clients; default [`RESERVED_CONNECTIONS_COUNT`].
    pub reserved_connections: usize,
    /// Connections one address may hold before, with the server nearly full, its
    /// waiting ones are closed for new clients; default
    /// [`MAX_CONNECTIONS_PER_IP_COUNT`].
    pub max_connections_per_ip: usize,
    /// Whole request head, idle time included; default [`HEAD_DEADLINE`].
    pub head_deadline: Duration,
    /// Longest silence inside a body; default [`BODY_IDLE_TIMEOUT`].
    pub body_idle_timeout: Duration,
    /// Reading time before the body rate is checked; default [`BODY_GRACE`].
    pub body_grace: Duration,
    /// Slowest average body pace after the grace; default [`MIN_BODY_BYTES_PER_SEC`].
    pub min_body_bytes_per_sec: u64,
}

impl Config {
    /// The defaults, with `max_connections` open connections at most.
    pub fn new(max_connections: usize) -> Config {
        Config {
            max_connections,
            reserved_connections: RESERVED_CONNECTIONS_COUNT,
            max_connections_per_ip: MAX_CONNECTIONS_PER_IP_COUNT,
            head_deadline: HEAD_DEADLINE,
            body_idle_timeout: BODY_IDLE_TIMEOUT,
            body_grace: BODY_GRACE,
            min_body_bytes_per_sec: MIN_BODY_BYTES_PER_SEC,
        }
    }
}

/// A request head and its body.
pub struct Request {
    pub method: String,
    /// The path, percent-decoded, without the query.
    pub path: String,
    /// Query parameters in order, percent-decoded (`+` is a space).
    pub query: Vec<(String, String)>,
    /// Headers with lower-case names.
    pub headers: Vec<(String, String)>,
    /// The body, chunk by chunk; ends (channel closed) at the end of the body. An
    /// `Err` item means the client's body was cut or malformed.
    pub body: Receiver<Result<Vec<u8>, BodyError>>,
}

impl Request {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One piece of a streamed response body.
pub enum Chunk {
    Data(Vec<u8>),
    /// The stream failed: sent as the `X-Stream-Error` trailer, then the body ends.
    Error(String),
}

/// A response body.
pub enum Body {
    Full(Vec<u8>),
    /// A first chunk already taken, then chunks until the sender is dropped
    /// (chunked encoding).
    Stream(Option<Chunk>, Receiver<Chunk>),
    /// A body of exactly this many bytes (sent with `Content-Length`), as a first
    /// chunk already taken, then chunks until the sender is dropped. A stream that
    /// fails, ends short or runs long closes the connection (the client sees a short
    /// body: HTTP has no other way to say it).
    Sized(u64, Option<Chunk>, Receiver<Chunk>),
    /// No body bytes: the answer to `HEAD`, or a 304. `Some(n)` sends
    /// `Content-Length: n` (the length a `GET` would have had).
    Empty(Option<u64>),
}

/// A response.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
}

impl Response {
    /// A whole-body response.
    pub fn full(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type", content_type.to_string())],
            body: Body::Full(body.into()),
        }
    }
}

/// Shared counters of one server.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections open now.
    pub open_connections: AtomicUsize,
    /// Connections refused with 503 by the admission rule.
    pub refused_connections: AtomicUsize,
    /// Connections waiting for a head closed to make room for a new one.
    pub evicted_connections: AtomicUsize,
}

/// Accepts connections on `listener` until `shutdown` closes, running each on
/// `spawn`'s executor with `handler`.
pub async fn serve<H, F>(
    listener: Async<TcpListener>,
    handler: Arc<H>,
    config: Config,
    stats: Arc<Stats>,
    shutdown: Receiver<()>,
    spawn: impl Fn(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>),
) where
    H: Fn(Request) -> F + Send + Sync + 'static,
    F: Future<Output = Response> + Send + 'static,
{
    let conns = Arc::new(Conns::new(&config));
    let config = Arc::new(config);
    loop {
        let accepted = future::or(async { Some(listener.accept().await) }, async {
            let _ = shutdown.recv().await;
            None
        })
        .await;
        let (stream, peer) = match accepted {
            None => return,
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                // EMFILE and the like: wait a little instead of spinning.
                tracing::warn!("api: accept failed: {e}");
                Timer::after(Duration::from_millis(100)).await;
                continue;
            }
        };
        stats.open_connections.fetch_add(1, Ordering::SeqCst);
        let guard = ConnGuard(stats.clone());
        let admitted = conns.admit(peer.ip(), Instant::now(), &stats);
        let Some((id, evict)) = admitted else {
            stats.refused_connections.fetch_add(1, Ordering::Relaxed);
            // Answered and closed here, with one non-blocking write into the new
            // socket's empty send buffer: no task, no buffer and no open socket is
            // left behind per refused connection, however many clients keep
            // reconnecting past the limit.
            let _ = std::io::Write::write(&mut stream.get_ref(), REFUSED_RESPONSE);
            drop((stream, guard));
            continue;
        };
        let handler = handler.clone();
        let shutdown = shutdown.clone();
        let entry = ConnEntry {
            conns: conns.clone(),
            id,
            evict,
        };
        let config = config.clone();
        spawn(Box::pin(async move {
            let _guard = guard;
            if let Err(e) = serve_conn(stream, handler, shutdown, &config, &entry).await {
                tracing::debug!("api: connection {peer}: {e}");
            }
        }));
    }
}

struct ConnGuard(Arc<Stats>);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.open_connections.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The open connections of one server, for the admission rule (module doc).
/// Holds at most `max_connections` entries: one is added only after the rule
/// made room for it.
struct Conns {
    table: std::sync::Mutex<Vec<ConnState>>,
    next_id: std::sync::atomic::AtomicU64,
    max: usize,
    reserved: usize,
    per_ip: usize,
}

struct ConnState {
    id: u64,
    ip: IpAddr,
    /// Since when it has waited for a request head; `None` while it serves one.
    waiting_since: Option<Instant>,
    /// Dropping it closes the connection if it waits for a head.
    _evict: Sender<()>,
}

impl Conns {
    fn new(config: &Config) -> Conns {
        let max = config.max_connections.max(1);
        Conns {
            table: std::sync::Mutex::new(Vec::with_capacity(max)),
            next_id: Default::default(),
            max,
            reserved: config.reserved_connections.min(max - 1),
            per_ip: config.max_connections_per_ip.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<ConnState>> {
        // A panic while the lock is held leaves a table still worth using.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies the admission rule to a connection from `ip` arriving at `now`: its
    /// id and the receiver that ends when it is closed for room, or `None` (503).
    fn admit(&self, ip: IpAddr, now: Instant, stats: &Stats) -> Option<(u64, Receiver<()>)> {
        let ip = ip.to_canonical();
        let mut table = self.lock();
        if table.len() >= self.max - self.reserved {
            let count = |ip: IpAddr, t: &[ConnState]| t.iter().filter(|c| c.ip == ip).count();
            let victim = table
                .iter()
                .enumerate()
                .filter(|(_, c)| c.waiting_since.is_some() && count(c.ip, &table) >= self.per_ip)
                .min_by_key(|(_, c)| c.waiting_since)
                .map(|(i, _)| i);
            if let Some(i) = victim {
                table.swap_remove(i);
                stats.evicted_connections.fetch_add(1, Ordering::Relaxed);
            } else if table.len() >= self.max || count(ip, &table) >= self.per_ip {
                return None;
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = channel::bounded(1);
        table.push(ConnState {
            id,
            ip,
            waiting_since: Some(now),
            _evict: tx,
        });
        Some((id, rx))
    }

    /// Marks connection `id` as waiting for a head since `since`, or (`None`)
    /// serving a request.
    fn set_waiting(&self, id: u64, since: Option<Instant>) {
        if let Some(c) = self.lock().iter_mut().find(|c| c.id == id) {
            c.waiting_since = since;
        }
    }

    fn remove(&self, id: u64) {
        let mut table = self.lock();
        if let Some(i) = table.iter().position(|c| c.id == id) {
            table.swap_remove(i);
        }
    }
}

/// A connection's place in [`Conns`]; dropping it frees the place.
struct ConnEntry {
    conns: Arc<Conns>,
    id: u64,
    /// Ends (closed) when the admission rule closed this connection for room.
    evict: Receiver<()>,
}

impl Drop for ConnEntry {
    fn drop(&mut self) {
        self.conns.remove(self.id);
    }
}

/// Bytes read from the socket but not yet consumed.
struct ConnReader<'a> {
    stream: &'a Async<TcpStream>,
    buf: Vec<u8>,
    start: usize,
}

impl ConnReader<'_> {
    fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    /// Reads more bytes; `Ok(0)` at end of stream.
    async fn fill(&mut self, timeout: Duration) -> io::Result<usize> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + BODY_CHUNK_BYTES, 0);
        let mut s = self.stream;
        let n = with_timeout(timeout, s.read(&mut self.buf[old..])).await;
        self.buf.truncate(old + *n.as_ref().unwrap_or(&0));
        n
    }

    /// Waits for the client's next bytes, without a time limit: `Ok(0)` when it
    /// closed the connection (or its sending side).
    /// Dropping the future mid-wait leaves the buffer as it was.
    async fn hangup(&mut self) -> io::Result<usize> {
        if !self.pending().is_empty() {
            return Ok(self.pending().len());
        }
        let mut got = [0u8; 1024];
        let mut s = self.stream;
        let n = s.read(&mut got).await?;
        self.buf.extend_from_slice(&got[..n]);
        Ok(n)
    }

    /// Reads more body bytes within `pace`'s limits; `Ok(0)` at end of stream.
    async fn fill_body(&mut self, pace: &mut BodyPace<'_>) -> io::Result<usize> {
        let t = Instant::now();
        let n = self.fill(pace.config.body_idle_timeout).await;
        pace.reading += t.elapsed();
        let n = n.map_err(|e| {
            if e.kind() == io::ErrorKind::TimedOut {
                io::Error::new(io::ErrorKind::TimedOut, "request body fell silent")
            } else {
                e
            }
        })?;
        pace.bytes += n as u64;
        pace.check()?;
        Ok(n)
    }

    /// Reads one CRLF-terminated line (without the CRLF), at most `limit` bytes.
    async fn line(&mut self, limit: usize, pace: &mut BodyPace<'_>) -> io::Result<Vec<u8>> {
        loop {
            if let Some(i) = self.pending().windows(2).position(|w| w == b"\r\n") {
                let line = self.pending()[..i].to_vec();
                self.consume(i + 2);
                return Ok(line);
            }
            if self.pending().len() > limit {
                return Err(bad_data("chunk line too long"));
            }
            if self.fill_body(pace).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }
}

/// How fast a request body arrives: bytes and the time spent waiting for them.
struct BodyPace<'a> {
    config: &'a Config,
    bytes: u64,
    /// Time spent in socket reads (not waiting for the handler).
    reading: Duration,
}

impl BodyPace<'_> {
    /// An error when, past the grace, the average pace is below the minimum.
    fn check(&self) -> io::Result<()> {
        let Some(paced) = self.reading.checked_sub(self.config.body_grace) else {
            return Ok(());
        };
        let owed = (self.config.min_body_bytes_per_sec as f64 * paced.as_secs_f64()) as u64;
        if self.bytes < owed {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "request body too slow: {} bytes in {:?}, under {} bytes/s",
                    self.bytes, self.reading, self.config.min_body_bytes_per_sec
                ),
            ));
        }
        Ok(())
    }
}

fn bad_data(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// A request body the client framed wrongly (chunked encoding here, multipart in
/// the API): the client's fault, which the APIs answer 400. It reaches a handler
/// inside the `io::Error` its body reader returns.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MalformedBody(pub String);

/// Why a request body could not be read, as the body channel carries it.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The framing is wrong (bad chunk size line, missing CRLF after a chunk).
    #[error("bad request body: {0}")]
    Malformed(String),
    /// The body was cut short or the socket failed.
    #[error("reading request body: {0}")]
    Io(String),
}

impl BodyError {
    /// The error a blocking reader of the body returns.
    pub fn into_io(self) -> io::Error {
        match self {
            BodyError::Malformed(m) => io::Error::new(io::ErrorKind::InvalidData, MalformedBody(m)),
            e @ BodyError::Io(_) => io::Error::other(e.to_string()),
        }
    }
}

async fn with_timeout<T>(d: Duration, f: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    future::or(f, async {
        Timer::after(d).await;
        Err(io::ErrorKind::TimedOut.into())
    })
    .await
}

/// How a request body is framed.
#[derive(Clone, Copy)]
enum Framing {
    Length(u64),
    Chunked,
}

struct Head {
    request: Request,
    framing: Framing,
    keep_alive: bool,
    expect_continue: bool,
}

async fn serve_conn<H, F>(
    stream: Async<TcpStream>,
    handler: Arc<H>,
    shutdown: Receiver<()>,
    config: &Config,
    entry: &ConnEntry,
) -> io::Result<()>
where
    H: Fn(Request) -> F + Send + Sync + 'static,
    F: Future<Output = Response> + Send + 'static,
{
    let mut reader = ConnReader {
        stream: &stream,
        buf: Vec::new(),
        start: 0,
    };
    loop {
        // Idle or reading a head: shutdown, or the admission rule making room,
        // closes the connection at once.
        entry.conns.set_waiting(entry.id, Some(Instant::now()));
        // The close arm is polled first: a connection closed for room must not
        // serve a request whose bytes arrived meanwhile (it is no longer counted).
        let head = future::or(
            async {
                let _ = future::or(shutdown.recv(), entry.evict.recv()).await;
                Err(HeadError::Io(io::Error::other(
                    "shutting down or closed for room",
                )))
            },
            read_head(&mut reader, config.head_deadline),
        )
        .await;
        entry.conns.set_waiting(entry.id, None);
        let (head, tx) = match head {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(()),
            Err(HeadError::Io(e)) => return Err(e),
            Err(e) => {
                let status = e.status();
                let r = Response::full(status, "text/plain", format!("{status} - {e}\n"));
                write_response(&stream, r, false).await?;
                return Ok(());
            }
        };
        let Head {
            request,
            framing,
            keep_alive,
            expect_continue,
        } = head;
        if expect_continue {
            let mut s = &stream;
            with_timeout(IO_TIMEOUT, s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")).await?;
        }
        let body_done = AtomicBool::new(false);
        let pump = async {
            let done = pump_body(&mut reader, framing, &tx, config).await;
            drop(tx);
            if done {
                body_done.store(true, Ordering::Relaxed);
                // The request is in: a hang-up from now on ends the request (its
                // handler future is dropped, and with it its work and its wants),
                // as Go's server cancels a request's context. Bytes of a next
                // request stay buffered for it.
                if let Ok(0) = reader.hangup().await {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "the client closed the connection",
                    ));
                }
            }
            future::pending::<io::Result<()>>().await
        };
        let respond = async {
            let response = handler(request).await;
            write_response(&stream, response, keep_alive).await
        };
        // The pump is polled first: an empty or already-buffered body is marked
        // done before a fast handler answers, so the connection stays open.
        let written = future::or(pump, respond).await;
        written?;
        if !body_done.load(Ordering::Relaxed) {
            linger(&stream).await;
            return Ok(());
        }
        if !keep_alive {
            return Ok(());
        }
    }
}

/// After answering a request whose body was not read whole: stop writing, then
/// read and drop what the client still sends (at most [`LINGER_BYTES`], for at
/// most [`LINGER_TIMEOUT`]), so that closing with unread bytes does not reset the
/// connection before the client has read the answer (RFC 9112 §9.6).
async fn linger(stream: &Async<TcpStream>) {
    let _ = stream.get_ref().shutdown(std::net::Shutdown::Write);
    let drain = async {
        let mut s = stream;
        let mut buf = [0u8; 4096];
        let mut left = LINGER_BYTES;
        while left > 0 {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    future::or(drain, async {
        Timer::after(LINGER_TIMEOUT).await;
    })
    .await;
}

type BodySender = Sender<Result<Vec<u8>, BodyError>>;

/// Reads a request head, the whole of it within `deadline` from now. `Ok(None)`:
/// the client closed the connection between requests.
/// Why a request head was not read.
#[derive(Debug, thiserror::Error)]
enum HeadError {
    /// The head is over [`MAX_HEADER_BYTES`] or [`MAX_HEADERS_COUNT`] (HTTP 431).
    #[error("request header fields too large")]
    TooLarge,
    /// The head does not parse (HTTP 400).
    #[error("{0}")]
    Bad(String),
    /// The connection failed, closed or timed out: no answer.
    #[error(transparent)]
    Io(io::Error),
}

impl HeadError {
    /// The status of the answer to a head that could not be read.
    fn status(&self) -> u16 {
        match self {
            HeadError::TooLarge => 431,
            HeadError::Bad(_) | HeadError::Io(_) => 400,
        }
    }
}

impl From<io::Error> for HeadError {
    /// The head's parsers report a malformed head as [`io::ErrorKind::InvalidData`].
    fn from(e: io::Error) -> HeadError {
        if e.kind() == io::ErrorKind::InvalidData {
            HeadError::Bad(e.to_string())
        } else {
            HeadError::Io(e)
        }
    }
}

async fn read_head(
    r: &mut ConnReader<'_>,
    deadline: Duration,
) -> Result<Option<(Head, BodySender)>, HeadError> {
    let deadline = Instant::now() + deadline;
    loop {
        if !r.pending().is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS_COUNT];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(r.pending()) {
                Ok(httparse::Status::Complete(n)) if n > MAX_HEADER_BYTES => {
                    return Err(HeadError::TooLarge)
                }
                Ok(httparse::Status::Complete(n)) => {
                    let head = build_head(&req)?;
                    r.consume(n);
                    return Ok(Some(head));
                }
                Ok(httparse::Status::Partial) => {}
                Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
                Err(e) => return Err(HeadError::Bad(format!("bad request: {e}"))),
            }
            if r.pending().len() > MAX_HEADER_BYTES {
                return Err(HeadError::TooLarge);
            }
        }
        let was_empty = r.pending().is_empty();
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HeadError::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                "request head deadline passed",
            )));
        }
        if r.fill(left).await? == 0 {
            if was_empty {
                return Ok(None);
            }
            return Err(HeadError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
    }
}

fn build_head(req: &httparse::Request<'_, '_>) -> io::Result<(Head, BodySender)> {
    let method = req.method.unwrap_or("").to_string();
    let target = req.path.unwrap_or("/");
    let (raw_path, raw_query) = target.split_once('?').unwrap_or((target, ""));
    let path = percent_encoding::percent_decode_str(raw_path)
        .decode_utf8()
        .map_err(|_| bad_data("bad request: path is not UTF-8"))?
        .into_owned();
    let query = parse_query(raw_query)?;
    let mut headers = Vec::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let v = std::str::from_utf8(h.value)
            .map_err(|_| bad_data("bad request: header value is not UTF-8"))?;
        headers.push((h.name.to_ascii_lowercase(), v.trim().to_string()));
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    let framing = match (get("transfer-encoding"), get("content-length")) {
        (Some(te), None) if te == "chunked" => Framing::Chunked,
        (Some(_), _) => return Err(bad_data("bad request: unsupported transfer-encoding")),
        (None, Some(cl)) => Framing::Length(
            cl.parse()
                .map_err(|_| bad_data("bad request: bad content-length"))?,
        ),
        (None, None) => Framing::Length(0),
    };
    let connection = get("connection").unwrap_or_default();
    let keep_alive = if req.version == Some(0) {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };
    let expect_continue = get("expect").is_some_and(|e| e == "100-continue")
        && !matches!(framing, Framing::Length(0));
    let (tx, rx) = channel::bounded(BODY_QUEUE_COUNT);
    let request = Request {
        method,
        path,
        query,
        headers,
        body: rx,
    };
    Ok((
        Head {
            request,
            framing,
            keep_alive,
            expect_continue,
        },
        tx,
    ))
}

/// Splits and percent-decodes a query string (`a=1&arg=x+y`).
pub fn parse_query(raw: &str) -> io::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let dec = |s: &str| {
            let s = s.replace('+', " ");
            percent_encoding::percent_decode_str(&s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| bad_data("bad request: query is not UTF-8"))
        };
        out.push((dec(k)?, dec(v)?));
    }
    Ok(out)
}

/// Moves the body from the socket into `tx`. Returns true when the whole body was
/// read (so the connection can serve another request); false when the body was
/// cut, malformed, or the handler stopped reading it.
async fn pump_body(
    r: &mut ConnReader<'_>,
    framing: Framing,
    tx: &BodySender,
    config: &Config,
) -> bool {
    let mut pace = BodyPace {
        config,
        bytes: 0,
        reading: Duration::ZERO,
    };
    match framing {
        Framing::Length(mut left) => {
            while left > 0 {
                if r.pending().is_empty() {
                    match r.fill_body(&mut pace).await {
                        Ok(0) => {
                            let cut = BodyError::Io("request body cut short".into());
                            let _ = tx.send(Err(cut)).await;
                            return false;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            let _ = tx.send(Err(BodyError::Io(e.to_string()))).await;
                            return false;
                        }
                    }
                }
                let n = (r.pending().len() as u64).min(left) as usize;
                let n = n.min(BODY_CHUNK_BYTES);
                let chunk = r.pending()[..n].to_vec();
                r.consume(n);
                left -= n as u64;
                if tx.send(Ok(chunk)).await.is_err() {
                    return false;
                }
            }
            true
        }
        Framing::Chunked => match pump_chunked(r, tx, &mut pace).await {
            Ok(done) => done,
            Err(e) => {
                // Framing errors are made with `bad_data`; anything else is the socket.
                let e = if e.kind() == io::ErrorKind::InvalidData {
                    BodyError::Malformed(e.to_string())
                } else {
                    BodyError::Io(e.to_string())
                };
                let _ = tx.send(Err(e)).await;
                false
            }
        },
    }
}

async fn pump_chunked(
    r: &mut ConnReader<'_>,
    tx: &BodySender,
    pace: &mut BodyPace<'_>,
) -> io::Result<bool> {
    loop {
        let line = r.line(MAX_CHUNK_LINE_BYTES, pace).await?;
        let line = std::str::from_utf8(&line).map_err(|_| bad_data("bad chunk size"))?;
        let size = line.split(';').next().unwrap_or("").trim();
        let mut left = u64::from_str_radix(size, 16).map_err(|_| bad_data("bad chunk size"))?;
        if left == 0 {
            // Trailers, then an empty line.
            while !r.line(MAX_CHUNK_LINE_BYTES, pace).await?.is_empty() {}
            return Ok(true);
        }
        while left > 0 {
            if r.pending().is_empty() && r.fill_body(pace).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let n = ((r.pending().len() as u64).min(left) as usize).min(BODY_CHUNK_BYTES);
            let chunk = r.pending()[..n].to_vec();
            r.consume(n);
            left -= n as u64;
            if tx.send(Ok(chunk)).await.is_err() {
                return Ok(false);
            }
        }
        if !r.line(2, pace).await?.is_empty() {
            return Err(bad_data("chunk not followed by CRLF"));
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        206 => "Partial Content",
        301 => "Moved Permanently",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// Writes `response`; a streamed body is sent chunked, flushed whenever the
/// producer has nothing ready.
async fn write_response(
    stream: &Async<TcpStream>,
    response: Response,
    keep_alive: bool,
) -> io::Result<()> {
    let mut out = futures_lite::io::BufWriter::with_capacity(BODY_CHUNK_BYTES, stream);
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason(response.status)
    );
    for (n, v) in &response.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    if !keep_alive {
        head.push_str("Connection: close\r\n");
    }
    match response.body {
        Body::Full(bytes) => {
            head.push_str(&format!("Content-Length: {}\r\n\r\n", bytes.len()));
            with_timeout(IO_TIMEOUT, out.write_all(head.as_bytes())).await?;
            with_timeout(IO_TIMEOUT, out.write_all(&bytes)).await?;
        }
        Body::Empty(len) => {
            if let Some(n) = len {
                head.push_str(&format!("Content-Length: {n}\r\n"));
            }
            head.push_str("\r\n");
            with_timeout(IO_TIMEOUT, out.write_all(head.as_bytes())).await?;
        }
        Body::Sized(len, mut first, rx) => {
            head.push_str(&format!("Content-Length: {len}\r\n\r\n"));
            with_timeout(IO_TIMEOUT, out.write_all(head.as_bytes())).await?;
            let mut left = len;
            loop {
                let item = next_chunk(&mut first, &rx, &mut out).await?;
                match item {
                    None if left == 0 => break,
                    None => return Err(io::ErrorKind::UnexpectedEof.into()),
                    Some(Chunk::Data(d)) => {
                        if d.len() as u64 > left {
                            return Err(io::Error::other("sized body ran past its length"));
                        }
                        left -= d.len() as u64;
                        with_timeout(IO_TIMEOUT, out.write_all(&d)).await?;
                    }
                    Some(Chunk::Error(e)) => return Err(io::Error::other(e)),
                }
            }
        }
        Body::Stream(mut first, rx) => {
            head.push_str("Transfer-Encoding: chunked\r\nTrailer: X-Stream-Error\r\n\r\n");
            with_timeout(IO_TIMEOUT, out.write_all(head.as_bytes())).await?;
            with_timeout(IO_TIMEOUT, out.flush()).await?;
            let mut trailer = String::new();
            loop {
                let item = next_chunk(&mut first, &rx, &mut out).await?;
                match item {
                    None => break,
                    Some(Chunk::Data(d)) if d.is_empty() => {}
                    Some(Chunk::Data(d)) => {
                        let size = format!("{:x}\r\n", d.len());
                        with_timeout(IO_TIMEOUT, out.write_all(size.as_bytes())).await?;
                        with_timeout(IO_TIMEOUT, out.write_all(&d)).await?;
                        with_timeout(IO_TIMEOUT, out.write_all(b"\r\n")).await?;
                    }
                    Some(Chunk::Error(e)) => {
                        let one_line = e.replace(['\r', '\n'], " ");
                        trailer = format!("X-Stream-Error: {one_line}\r\n");
                        break;
                    }
                }
            }
            let end = format!("0\r\n{trailer}\r\n");
            with_timeout(IO_TIMEOUT, out.write_all(end.as_bytes())).await?;
        }
    }
    with_timeout(IO_TIMEOUT, out.flush()).await
}

/// A query string from `(name, value)` pairs, percent-encoded (`a=1&b=x%20y`).
pub fn encode_query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    pairs
        .into_iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, NON_ALPHANUMERIC),
                utf8_percent_encode(v, NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The next chunk of a streamed body: `first` if still there, else the channel
/// (flushing what was written before waiting); `None` when the producer is done.
async fn next_chunk(
    first: &mut Option<Chunk>,
    rx: &channel::Receiver<Chunk>,
    out: &mut (impl futures_lite::AsyncWrite + Unpin),
) -> io::Result<Option<Chunk>> {
    Ok(
        match first.take().map(Ok).unwrap_or_else(|| rx.try_recv()) {
            Ok(c) => Some(c),
            Err(channel::TryRecvError::Empty) => {
                with_timeout(IO_TIMEOUT, out.flush()).await?;
                rx.recv().await.ok()
            }
            Err(channel::TryRecvError::Closed) => None,
        },
    )
}

/// Binds a listener (non-blocking, registered with the reactor).
pub fn bind(addr: SocketAddr) -> io::Result<Async<TcpListener>> {
    Async::<TcpListener>::bind(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let q = parse_query("arg=a%2Fb&arg=c+d&flag&x=").unwrap();
        assert_eq!(
            q,
            vec![
                ("arg".into(), "a/b".into()),
                ("arg".into(), "c d".into()),
                ("flag".into(), String::new()),
                ("x".into(), String::new()),
            ]
        );
        assert!(parse_query("a=%ff").is_err());
    }

    /// Runs one server on a loopback port and sends raw requests to it.
    fn with_server(raw: &[u8]) -> String {
        use std::io::{Read, Write};
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.get_ref().local_addr().unwrap();
        let (stop_tx, stop_rx) = channel::bounded::<()>(1);
        let handler = Arc::new(|req: Request| async move {
            if req.query.iter().any(|(k, _)| k == "fast") {
                // Answers without waiting for the body, as `version` does.
                return Response::full(200, "text/plain", "fast");
            }
            let mut n = 0usize;
            while let Ok(Ok(c)) = req.body.recv().await {
                n += c.len();
            }
            let q: Vec<String> = req.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            Response::full(
                200,
                "text/plain",
                format!("{} {} {} {n}", req.method, req.path, q.join(",")),
            )
        });
        let ex = Arc::new(smol::Executor::new());
        let ex2 = ex.clone();
        let raw = raw.to_vec();
        let client = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(&raw).unwrap();
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out);
            let out = String::from_utf8_lossy(&out).into_owned();
            drop(stop_tx);
            out
        });
        smol::block_on(ex.run(serve(
            listener,
            handler,
            Config::new(4),
            Arc::new(Stats::default()),
            stop_rx,
            move |f| ex2.spawn(f).detach(),
        )));
        client.join().unwrap()
    }

    #[test]
    fn keep_alive_content_length_and_chunked() {
        let out = with_server(
            b"POST /a%20b?x=1 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello\
              POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;e=1\r\nde\r\n0\r\nT: x\r\n\r\n\
              GET /d HTTP/1.1\r\nConnection: close\r\n\r\n",
        );
        assert!(out.contains("POST /a b x=1 5"), "{out}");
        assert!(out.contains("POST /c  5"), "{out}");
        assert!(out.contains("GET /d  0"), "{out}");
        assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 3, "{out}");
    }

    #[test]
    fn keep_alive_when_the_answer_is_faster_than_the_empty_body() {
        let out = with_server(
            b"POST /v?fast HTTP/1.1\r\n\r\n\
              POST /v?fast HTTP/1.1\r\nContent-Length: 0\r\n\r\n\
              GET /d HTTP/1.1\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 3, "{out}");
    }

    #[test]
    fn oversize_head_is_431() {
        let mut raw = b"POST / HTTP/1.1\r\nX: ".to_vec();
        raw.extend(std::iter::repeat_n(b'a', MAX_HEADER_BYTES + 10));
        raw.extend_from_slice(b"\r\n\r\n");
        let out = with_server(&raw);
        assert!(out.starts_with("HTTP/1.1 431"), "{out}");
    }

    /// The admission rule: past `max − reserved`, a waiting connection of a busy
    /// address makes room; connections serving a request are never closed; with
    /// none to close, only an address holding few gets the last places.
    #[test]
    fn admission_makes_room_from_busy_addresses() {
        let mut config = Config::new(4);
        config.reserved_connections = 1;
        config.max_connections_per_ip = 2;
        let conns = Conns::new(&config);
        let stats = Stats::default();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let held: Vec<_> = (1..3)
            .map(|s| conns.admit(a, at(s), &stats).unwrap())
            .collect();
        let first = conns.admit(a, at(3), &stats).unwrap();
        // `first` has waited longest for its head (the others sent one since).
        for (id, _) in &held {
            conns.set_waiting(*id, Some(at(4)));
        }
        // Nearly full: the oldest waiting connection of `a` is closed for room.
        let fourth = conns.admit(a, at(5), &stats).unwrap();
        assert!(first.1.try_recv() == Err(channel::TryRecvError::Closed));
        assert_eq!(stats.evicted_connections.load(Ordering::Relaxed), 1);
        assert_eq!(conns.lock().len(), 3);
        // All serving requests: nothing is closed; `a` is refused, `b` gets the
        // last place, then the server is full.
        for (id, _) in held.iter().chain([&fourth]) {
            conns.set_waiting(*id, None);
        }
        assert!(conns.admit(a, at(6), &stats).is_none());
        let from_b = conns.admit(b, at(6), &stats).unwrap();
        assert!(held
            .iter()
            .all(|(_, rx)| rx.try_recv() == Err(channel::TryRecvError::Empty)));
        conns.set_waiting(from_b.0, None);
        assert!(conns.admit(b, at(7), &stats).is_none());
        // A connection that ends frees its place.
        conns.remove(fourth.0);
        assert!(conns.admit(b, at(8), &stats).is_some());
    }

    /// The body pace: nothing is owed during the grace, then the minimum rate
    /// over the reading time past it.
    #[test]
    fn body_pace_is_checked_after_the_grace() {
        let config = Config::new(4);
        let pace = |bytes, secs| BodyPace {
            config: &config,
            bytes,
            reading: Duration::from_secs(secs),
        };
        assert!(pace(0, BODY_GRACE.as_secs()).check().is_ok());
        let past = BODY_GRACE.as_secs() + 5;
        assert!(pace(5 * MIN_BODY_BYTES_PER_SEC, past).check().is_ok());
        let err = pace(5 * MIN_BODY_BYTES_PER_SEC - 1, past)
            .check()
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn garbage_is_400() {
        let out = with_server(b"\x01\x02 nonsense\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    }
}
