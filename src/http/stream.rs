//! Bodies between a server's handler on the blocking pool and the connection: the
//! request body as a blocking `Read` ([`BodyReader`]) and a streamed response
//! written in chunks ([`ChunkWriter`]).
//!
//! **Limits.** A response is cut into [`STREAM_CHUNK_BYTES`] chunks; how many may
//! queue is the capacity of the channel the server hands the writer.

use std::io::{self, Read, Write};

use smol::channel::{Receiver, Sender};

use super::{BodyError, Chunk};

/// Size of the chunks a streamed response is cut into, in bytes.
pub const STREAM_CHUNK_BYTES: usize = 64 * 1024;

/// Chunks the RPC API and the gateway queue between a handler and the socket (the
/// handler waits when the client reads slower than it produces): a streamed
/// response holds at most this × [`STREAM_CHUNK_BYTES`] = 256 KiB.
pub const RESPONSE_QUEUE_COUNT: usize = 4;

/// The request body as a blocking `Read` (used on the blocking pool only).
pub struct BodyReader {
    rx: Receiver<Result<Vec<u8>, BodyError>>,
    cur: Vec<u8>,
    pos: usize,
}

impl BodyReader {
    /// Reads the chunks a request's body channel delivers.
    pub fn new(rx: Receiver<Result<Vec<u8>, BodyError>>) -> BodyReader {
        BodyReader {
            rx,
            cur: Vec::new(),
            pos: 0,
        }
    }
}

impl Read for BodyReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv_blocking() {
                Ok(Ok(c)) => {
                    self.cur = c;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e.into_io()),
                Err(_) => return Ok(0),
            }
        }
        let n = (self.cur.len() - self.pos).min(out.len());
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Writes into a streamed response, [`STREAM_CHUNK_BYTES`] at a time.
pub struct ChunkWriter {
    tx: Sender<Chunk>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    pub fn new(tx: Sender<Chunk>) -> Self {
        ChunkWriter {
            tx,
            buf: Vec::with_capacity(STREAM_CHUNK_BYTES),
        }
    }

    /// Ends the stream with an error (after what was sent).
    pub fn fail(&self, msg: String) {
        let _ = self.tx.send_blocking(Chunk::Error(msg));
    }

    /// Sends what is buffered.
    pub fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(STREAM_CHUNK_BYTES));
        self.tx
            .send_blocking(Chunk::Data(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(STREAM_CHUNK_BYTES - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == STREAM_CHUNK_BYTES {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}
