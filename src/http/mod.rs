//! A small HTTP/1.1 server on `async_io::Async<TcpStream>`, shared by the RPC API
//! and the gateway, knowing neither.
//!
//! **Room.** This module and its children are the HTTP plumbing both servers use:
//! the accept loop and one connection's request loop (here), connection admission
//! (`conns`), request parsing and body framing (`read`), response writing
//! (`write`), query strings ([`parse_query`], [`encode_query`]), request slots ([`Slots`]), the streamed
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

mod conns;
pub mod cors;
pub mod multipart;
mod query;
mod read;
pub mod slots;
pub mod stream;
mod write;

pub use query::{encode_query, parse_query};
pub use slots::{Held, Slots, SLOT_WAIT};
pub use stream::{BodyReader, ChunkWriter};

use conns::{ConnEntry, ConnGuard, Conns};
use read::{pump_body, read_head, ConnReader, Head, HeadError};
use write::{write_response, Out};

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_io::{Async, Timer};
use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use smol::channel::Receiver;

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

/// One server's connection and timing limits (defaults: the constants above).
#[derive(Clone, Debug)]
pub struct Config {
    /// Open connections at most (each costs a task, a socket, and from its first
    /// request a read buffer and a write buffer of [`BODY_CHUNK_BYTES`] each, kept
    /// and reused while it is open: worst case 128 KiB × this).
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

async fn with_timeout<T>(d: Duration, f: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    future::or(f, async {
        Timer::after(d).await;
        Err(io::ErrorKind::TimedOut.into())
    })
    .await
}

/// The fuzz target of the request head parser (`fuzz/`, built with
/// `--cfg fuzzing` only): any bytes give a head no longer than the input and
/// [`MAX_HEADER_BYTES`], a need for more bytes (only below that size), or a 400
/// or 431.
#[cfg(fuzzing)]
pub fn fuzz_request(bytes: &[u8]) {
    match read::parse_head(bytes) {
        Ok(Some((head, _tx, n))) => {
            assert!(n <= bytes.len() && n <= MAX_HEADER_BYTES);
            assert!(head.request.headers.len() <= MAX_HEADERS_COUNT);
            assert!(!head.request.method.is_empty());
        }
        Ok(None) => assert!(bytes.len() <= MAX_HEADER_BYTES),
        Err(e) => assert!(matches!(e.status(), 400 | 431)),
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
    let mut reader = ConnReader::new(&stream);
    let mut out = Out::new(&stream);
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
                write_response(&mut out, r, false).await?;
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
            write_response(&mut out, response, keep_alive).await
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

/// Binds a listener (non-blocking, registered with the reactor).
pub fn bind(addr: SocketAddr) -> io::Result<Async<TcpListener>> {
    Async::<TcpListener>::bind(addr)
}

#[cfg(test)]
mod tests {
    use super::read::BodyPace;
    use super::*;
    use smol::channel;
    use std::net::IpAddr;

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

    /// The head parser without a socket: more bytes wanted until the blank line,
    /// then the head and its length (the body's bytes left for the pump); too
    /// long while still partial is 431, garbage 400.
    #[test]
    fn parse_head_needs_the_whole_head_and_no_more() {
        let raw = b"PUT /a%20b?x=1 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
        let head_len = raw.len() - 3;
        for cut in [1, 10, head_len - 1] {
            assert!(matches!(read::parse_head(&raw[..cut]), Ok(None)), "{cut}");
        }
        let Ok(Some((head, _tx, n))) = read::parse_head(raw) else {
            panic!("a whole head parses");
        };
        assert_eq!(n, head_len);
        assert_eq!(
            (head.request.method.as_str(), head.request.path.as_str()),
            ("PUT", "/a b")
        );
        assert!(matches!(head.framing, read::Framing::Length(3)));
        let mut long = b"GET / HTTP/1.1\r\nX: ".to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_HEADER_BYTES));
        assert_eq!(read::parse_head(&long).err().map(|e| e.status()), Some(431));
        assert_eq!(
            read::parse_head(b"\x01\x02 / HTTP/1.1\r\n\r\n")
                .err()
                .map(|e| e.status()),
            Some(400)
        );
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
