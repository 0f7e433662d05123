//! Reading requests: the connection's read buffer, the request head (parsed by
//! `httparse`, bounded by the parent's `MAX_HEADER_BYTES` and `MAX_HEADERS_COUNT`)
//! and the body pump that frames `Content-Length` and chunked bodies into the
//! handler's bounded channel, checking the client's pace.

use std::io;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use async_io::Async;
use futures_lite::AsyncReadExt;
use smol::channel::{self, Sender};

use super::{
    bad_data, parse_query, with_timeout, BodyError, Config, Request, BODY_CHUNK_BYTES,
    BODY_QUEUE_COUNT, MAX_HEADERS_COUNT, MAX_HEADER_BYTES,
};

/// Longest chunk-size line or trailer line of a chunked body, in bytes.
pub(super) const MAX_CHUNK_LINE_BYTES: usize = 4096;

/// Bytes read from the socket but not yet consumed, in one read buffer per
/// connection: zero-filled once (at its first read, [`BODY_CHUNK_BYTES`]) and
/// reused by every read after, so a read costs no allocation and no fill.
pub(super) struct ConnReader<'a> {
    stream: &'a Async<TcpStream>,
    /// `start..end` is pending; reads land in `end..`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl<'a> ConnReader<'a> {
    pub(super) fn new(stream: &'a Async<TcpStream>) -> ConnReader<'a> {
        ConnReader {
            stream,
            buf: Vec::new(),
            start: 0,
            end: 0,
        }
    }

    pub(super) fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub(super) fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Room for the next read after the pending bytes: the pending bytes move to
    /// the front when the buffer's end is reached, and the buffer grows by
    /// [`BODY_CHUNK_BYTES`] only when they fill it (the parsers refuse a head or a
    /// chunk line long before that).
    fn room(&mut self) -> &mut [u8] {
        if self.end == self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            self.buf.resize(self.buf.len() + BODY_CHUNK_BYTES, 0);
        }
        &mut self.buf[self.end..]
    }

    /// Reads more bytes; `Ok(0)` at end of stream.
    pub(super) async fn fill(&mut self, timeout: Duration) -> io::Result<usize> {
        let mut s = self.stream;
        let n = with_timeout(timeout, s.read(self.room())).await?;
        self.end += n;
        Ok(n)
    }

    /// Waits for the client's next bytes, without a time limit: `Ok(0)` when it
    /// closed the connection (or its sending side).
    /// Dropping the future mid-wait leaves the buffer as it was.
    pub(super) async fn hangup(&mut self) -> io::Result<usize> {
        if !self.pending().is_empty() {
            return Ok(self.pending().len());
        }
        let mut s = self.stream;
        let n = s.read(self.room()).await?;
        self.end += n;
        Ok(n)
    }

    /// Reads more body bytes within `pace`'s limits; `Ok(0)` at end of stream.
    pub(super) async fn fill_body(&mut self, pace: &mut BodyPace<'_>) -> io::Result<usize> {
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
    pub(super) async fn line(
        &mut self,
        limit: usize,
        pace: &mut BodyPace<'_>,
    ) -> io::Result<Vec<u8>> {
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
pub(super) struct BodyPace<'a> {
    pub(super) config: &'a Config,
    pub(super) bytes: u64,
    /// Time spent in socket reads (not waiting for the handler).
    pub(super) reading: Duration,
}

impl BodyPace<'_> {
    /// An error when, past the grace, the average pace is below the minimum.
    pub(super) fn check(&self) -> io::Result<()> {
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

/// How a request body is framed.
#[derive(Clone, Copy)]
pub(super) enum Framing {
    Length(u64),
    Chunked,
}

pub(super) struct Head {
    pub(super) request: Request,
    pub(super) framing: Framing,
    pub(super) keep_alive: bool,
    pub(super) expect_continue: bool,
}

pub(super) type BodySender = Sender<Result<Vec<u8>, BodyError>>;

/// Why a request head was not read.
#[derive(Debug, thiserror::Error)]
pub(super) enum HeadError {
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
    pub(super) fn status(&self) -> u16 {
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

/// Reads a request head, the whole of it within `deadline` from now. `Ok(None)`:
/// the client closed the connection between requests.
pub(super) async fn read_head(
    r: &mut ConnReader<'_>,
    deadline: Duration,
) -> Result<Option<(Head, BodySender)>, HeadError> {
    let deadline = Instant::now() + deadline;
    loop {
        if !r.pending().is_empty() {
            if let Some((head, tx, n)) = parse_head(r.pending())? {
                r.consume(n);
                return Ok(Some((head, tx)));
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

/// Parses the bytes read so far as a request head: the head, its body's sender
/// and the head's length in bytes once it is complete, `Ok(None)` while more
/// bytes are needed. No I/O: [`read_head`] feeds it, and so does the fuzz target.
pub(super) fn parse_head(buf: &[u8]) -> Result<Option<(Head, BodySender, usize)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS_COUNT];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) if n > MAX_HEADER_BYTES => Err(HeadError::TooLarge),
        Ok(httparse::Status::Complete(n)) => {
            let (head, tx) = build_head(&req)?;
            Ok(Some((head, tx, n)))
        }
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEADER_BYTES => Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(HeadError::TooLarge),
        Err(e) => Err(HeadError::Bad(format!("bad request: {e}"))),
    }
}

pub(super) fn build_head(req: &httparse::Request<'_, '_>) -> io::Result<(Head, BodySender)> {
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

/// Moves the body from the socket into `tx`. Returns true when the whole body was
/// read (so the connection can serve another request); false when the body was
/// cut, malformed, or the handler stopped reading it.
pub(super) async fn pump_body(
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

pub(super) async fn pump_chunked(
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
