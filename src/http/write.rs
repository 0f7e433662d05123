//! Writing responses: the status line and headers, then a whole body, a sized
//! stream (`Content-Length`) or a chunked stream ending with Kubo's
//! `X-Stream-Error` trailer when it fails.

use std::io;
use std::net::TcpStream;

use async_io::Async;
use futures_lite::AsyncWriteExt;
use smol::channel;

use super::{with_timeout, Body, Chunk, Response, BODY_CHUNK_BYTES, IO_TIMEOUT};

pub(super) fn reason(status: u16) -> &'static str {
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

/// A connection's write buffer, reused by every response on it: its
/// [`BODY_CHUNK_BYTES`] are allocated at the first write (never zero-filled) and
/// kept while the connection is open. Writes smaller than that are gathered and
/// sent when it would overflow or on [`Out::flush`]; larger ones go straight to
/// the socket after what is gathered.
pub(super) struct Out<'a> {
    stream: &'a Async<TcpStream>,
    buf: Vec<u8>,
}

impl<'a> Out<'a> {
    pub(super) fn new(stream: &'a Async<TcpStream>) -> Out<'a> {
        Out {
            stream,
            buf: Vec::new(),
        }
    }

    async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        if self.buf.len() + data.len() > BODY_CHUNK_BYTES {
            self.send().await?;
        }
        if data.len() >= BODY_CHUNK_BYTES {
            let mut s = self.stream;
            return s.write_all(data).await;
        }
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact(BODY_CHUNK_BYTES);
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// Sends what is gathered.
    async fn send(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let mut s = self.stream;
            s.write_all(&self.buf).await?;
            self.buf.clear();
        }
        Ok(())
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.send().await?;
        let mut s = self.stream;
        s.flush().await
    }
}

/// Writes `response` through the connection's buffer; a streamed body is sent
/// chunked, flushed whenever the producer has nothing ready.
pub(super) async fn write_response(
    out: &mut Out<'_>,
    response: Response,
    keep_alive: bool,
) -> io::Result<()> {
    // Whatever a failed write left gathered is not part of this response.
    out.buf.clear();
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
                let item = next_chunk(&mut first, &rx, out).await?;
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
                let item = next_chunk(&mut first, &rx, out).await?;
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

/// The next chunk of a streamed body: `first` if still there, else the channel
/// (flushing what was written before waiting); `None` when the producer is done.
pub(super) async fn next_chunk(
    first: &mut Option<Chunk>,
    rx: &channel::Receiver<Chunk>,
    out: &mut Out<'_>,
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
