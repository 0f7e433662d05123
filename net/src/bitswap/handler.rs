//! Per-peer stream tasks: one reader per inbound stream, one writer per peer.
//!
//! Spec: bitswap streams carry unsigned-varint length-prefixed protobuf messages
//! (`wire.rs`). A sender opens one long-lived stream per peer and writes messages on it;
//! a receiver reads every inbound stream until it ends. Replies go on our own outbound
//! stream, never on the peer's.
//!
//! Flow:
//! - [`read_loop`]: read the varint, check it against [`MAX_MESSAGE_BYTES`] *before*
//!   reading the body, reserve that many bytes of the node's inbound [`ByteBudget`]
//!   (waiting for room: back-pressure on the peer), read exactly that many bytes into a
//!   buffer grown in [`READ_CHUNK_BYTES`] steps (never more than received + one step,
//!   never more than announced) within the frame's deadline, decode, drop the frame
//!   buffer, and hand the message with its reservation to the node task, which releases
//!   it once the core has taken the message. A malformed frame is reported and ends the
//!   stream; a frame not finished by its deadline ends the stream.
//! - [`write_loop`]: take one message at a time from a capacity-1 channel, open a stream if
//!   there is none (trying 1.2.0, 1.1.0, 1.0.0, then `/ipfs/bitswap`), encode for the
//!   negotiated version, write within [`transfer_timeout`] of its size; on failure reopen
//!   once and retry, then report the failure and end. A stream idle for
//!   `Config::outbound_idle_timeout` is closed (Helia resets inbound streams idle for
//!   5 s, and writes after that reset would be lost); the next message opens a new one.
//!
//! Limits: inbound frames being read or queued for the node task hold at most
//! `Config::max_inbound_bytes` (in [`READ_CHUNK_BYTES`] units; a frame larger than the
//! whole budget takes all of it). Decoding copies block data out of the frame, so for
//! the length of one synchronous `decode` a frame costs twice its size; on the node's
//! one executor thread only one decode runs at a time. A frame must arrive within
//! `Config::transfer_timeout(len)`. One message per peer in flight (the core's transmit
//! contract); inbound
//! streams are capped by the accept tasks (`Config::max_inbound_streams` in all,
//! `Config::max_inbound_streams_per_peer` per peer); a write (open included) times out
//! after `Config::transfer_timeout` of the message's size.

use super::core::{Found, Lookup, SessionId};
use super::wire::{self, Message, Version, WireError};
use acorn_storage::block::Block;
use acorn_storage::proto::VarintDecoder;
use cid::Cid;
use futures::channel::oneshot;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt};
use libp2p::{PeerId, StreamProtocol};
use smol::lock::{Mutex, Semaphore, SemaphoreGuardArc};
use std::sync::Arc;
use std::time::Duration;

/// Growth step of an inbound frame's buffer, and the unit of the inbound [`ByteBudget`].
pub(crate) const READ_CHUNK_BYTES: usize = 64 << 10;

/// Fixed part of a transfer's time limit (boxo's `sendMessageTimeout` base).
pub(crate) const TRANSFER_BASE_TIMEOUT: Duration = Duration::from_secs(2);

/// The slowest transfer rate we wait for, in bytes per second (100 kbit/s, boxo's
/// `minSendRate`).
pub(crate) const MIN_TRANSFER_BYTES_PER_SEC: u64 = 12_500;

/// Time allowed to move a message of `bytes` over a stream: 2 s + `bytes` at 100 kbit/s,
/// clamped to `[min, max]` (boxo's rule for sends; we use it for reads too).
pub(crate) fn transfer_timeout(bytes: usize, min: Duration, max: Duration) -> Duration {
    let t = TRANSFER_BASE_TIMEOUT
        + Duration::from_millis((bytes as u64).saturating_mul(1000) / MIN_TRANSFER_BYTES_PER_SEC);
    t.clamp(min, max.max(min))
}

/// Bytes of inbound frames in memory, in [`READ_CHUNK_BYTES`] units. Readers take their
/// frame's units in turn (one reader at a time collects units, so two half-served
/// readers cannot deadlock) and give them back when the message is consumed.
pub(crate) struct ByteBudget {
    turn: Mutex<()>,
    units: Arc<Semaphore>,
    total_units: usize,
}

/// Units of a [`ByteBudget`] held by one frame; released when dropped.
pub(crate) struct Reservation {
    _units: Vec<SemaphoreGuardArc>,
}

impl ByteBudget {
    /// A budget of `bytes` (at least one unit).
    pub(crate) fn new(bytes: usize) -> Self {
        let total_units = (bytes / READ_CHUNK_BYTES).max(1);
        ByteBudget {
            turn: Mutex::new(()),
            units: Arc::new(Semaphore::new(total_units)),
            total_units,
        }
    }

    /// Waits until `bytes` (rounded up to units; at most the whole budget) are free.
    pub(crate) async fn reserve(&self, bytes: usize) -> Reservation {
        let need = bytes.div_ceil(READ_CHUNK_BYTES).clamp(1, self.total_units);
        let _turn = self.turn.lock().await;
        let mut units = Vec::with_capacity(need);
        for _ in 0..need {
            units.push(self.units.acquire_arc().await);
        }
        Reservation { _units: units }
    }
}

/// What a reader needs besides its stream.
#[derive(Clone)]
pub(crate) struct ReadLimits {
    pub budget: Arc<ByteBudget>,
    pub min_timeout: Duration,
    pub max_timeout: Duration,
}

/// What the stream and blockstore tasks tell the node task.
pub(crate) enum IoEvent {
    Inbound {
        peer: PeerId,
        result: Result<Message, WireError>,
        /// The frame's share of the inbound byte budget, released after the core took it.
        held: Option<Reservation>,
    },
    Sent {
        peer: PeerId,
    },
    SendFailed {
        peer: PeerId,
    },
    Lookup {
        lookup: Lookup,
        found: Found,
    },
    /// A fetch that the local blockstore could not answer: ask the network.
    FetchMiss {
        session: SessionId,
        cid: Cid,
        reply: oneshot::Sender<Result<Block, super::Error>>,
    },
}

/// Errors of reading one frame.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("stream: {0}")]
    Io(#[from] std::io::Error),
    #[error("stream ended")]
    Eof,
    #[error("frame of {len} bytes not received within {timeout:?}")]
    TimedOut { len: usize, timeout: Duration },
}

/// Reads a frame's length prefix and checks it against [`MAX_MESSAGE_BYTES`].
async fn read_len<R: AsyncRead + Unpin>(r: &mut R) -> Result<usize, ReadError> {
    let mut varint = VarintDecoder::default();
    loop {
        let mut b = [0u8; 1];
        if r.read(&mut b).await? == 0 {
            return Err(ReadError::Eof);
        }
        if let Some(len) = varint.push(b[0]).map_err(WireError::from)? {
            return Ok(wire::check_frame_len(len)?);
        }
    }
}

/// Reads exactly `len` bytes. The buffer grows in [`READ_CHUNK_BYTES`] steps as bytes
/// arrive: its capacity is never more than received + one step, nor more than `len` (a
/// peer announcing 4 MiB and sending 10 bytes costs 64 KiB).
async fn read_body<R: AsyncRead + Unpin>(r: &mut R, len: usize) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    while body.len() < len {
        let start = body.len();
        let step = (len - start).min(READ_CHUNK_BYTES);
        body.reserve_exact(step);
        body.resize(start + step, 0);
        let mut filled = start;
        while filled < start + step {
            let n = r.read(&mut body[filled..start + step]).await?;
            if n == 0 {
                return Err(WireError::Truncated("frame body").into());
            }
            filled += n;
        }
    }
    Ok(body)
}

/// Reads one length-prefixed frame and decodes it (no budget, no deadline).
#[cfg(test)]
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Message, ReadError> {
    let len = read_len(r).await?;
    let body = read_body(r, len).await?;
    Ok(Message::decode(&body)?)
}

/// Reads frames from one inbound stream until it ends, sends garbage, or is too slow
/// with a frame.
pub(crate) async fn read_loop<S: AsyncRead + Unpin>(
    peer: PeerId,
    mut stream: S,
    io: smol::channel::Sender<IoEvent>,
    limits: ReadLimits,
) {
    loop {
        // Idle between frames is fine (boxo keeps its stream open for the connection).
        let frame = match read_len(&mut stream).await {
            Ok(len) => {
                let held = limits.budget.reserve(len).await;
                let timeout = transfer_timeout(len, limits.min_timeout, limits.max_timeout);
                let body = smol::future::or(read_body(&mut stream, len), async {
                    async_io::Timer::after(timeout).await;
                    Err(ReadError::TimedOut { len, timeout })
                })
                .await;
                // The frame buffer is dropped right after decoding.
                body.and_then(|b| Ok(Message::decode(&b)?))
                    .map(|m| (m, held))
            }
            Err(e) => Err(e),
        };
        match frame {
            Ok((msg, held)) => {
                let ev = IoEvent::Inbound {
                    peer,
                    result: Ok(msg),
                    held: Some(held),
                };
                if io.send(ev).await.is_err() {
                    return;
                }
            }
            Err(ReadError::Wire(e)) => {
                tracing::debug!(%peer, error = %e, "bitswap: malformed frame");
                let _ = io
                    .send(IoEvent::Inbound {
                        peer,
                        result: Err(e),
                        held: None,
                    })
                    .await;
                return;
            }
            Err(e) => {
                tracing::trace!(%peer, error = %e, "bitswap: inbound stream closed");
                return;
            }
        }
    }
}

/// Why one attempt to send a message to a peer failed (logged, then retried once).
#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("{0}")]
    Open(libp2p_stream::OpenStreamError),
    #[error("peer speaks no bitswap version")]
    NoVersion,
    #[error("peer changed its bitswap version on reopen")]
    VersionChanged,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("send timed out")]
    TimedOut,
}

async fn open(
    control: &mut libp2p_stream::Control,
    peer: PeerId,
) -> Result<(libp2p::Stream, Version), SendError> {
    for (proto, version) in Version::PROTOCOLS {
        match control.open_stream(peer, StreamProtocol::new(proto)).await {
            Ok(s) => return Ok((s, version)),
            Err(libp2p_stream::OpenStreamError::UnsupportedProtocol(_)) => continue,
            Err(e) => return Err(SendError::Open(e)),
        }
    }
    Err(SendError::NoVersion)
}

async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, frame: &[u8]) -> std::io::Result<()> {
    w.write_all(frame).await?;
    w.flush().await
}

/// Writes the node's messages for `peer`, one at a time, on one outbound stream.
pub(crate) async fn write_loop(
    peer: PeerId,
    mut control: libp2p_stream::Control,
    rx: smol::channel::Receiver<Message>,
    io: smol::channel::Sender<IoEvent>,
    limits: WriteLimits,
) {
    let mut stream: Option<(libp2p::Stream, Version)> = None;
    loop {
        let next = match stream.is_some() {
            // Helia resets an inbound stream after 5 s without a message; close ours
            // first when idle and open a new one for the next message.
            true => {
                smol::future::or(async { Some(rx.recv().await) }, async {
                    async_io::Timer::after(limits.idle_timeout).await;
                    None
                })
                .await
            }
            false => Some(rx.recv().await),
        };
        let msg = match next {
            Some(Ok(msg)) => msg,
            Some(Err(_)) => break, // the node dropped us
            None => {
                if let Some((s, _)) = stream.take() {
                    close(s, limits.min_timeout).await;
                }
                continue;
            }
        };
        let send_timeout = transfer_timeout(
            msg.encoded_len(Version::V1_2_0),
            limits.min_timeout,
            limits.max_timeout,
        );
        let mut ok = false;
        // Encoded once, for the stream's version; the message is dropped then, so a
        // message in flight costs its frame only.
        let mut msg = Some(msg);
        let mut frame: Option<(Vec<u8>, Version)> = None;
        for _attempt in 0..2 {
            let attempt = async {
                let (s, version) = match stream {
                    Some(ref mut open_stream) => open_stream,
                    None => stream.insert(open(&mut control, peer).await?),
                };
                let f = match frame {
                    Some((ref f, v)) if v == *version => f,
                    _ => {
                        let m = msg.take().ok_or(SendError::VersionChanged)?;
                        &frame.insert((m.encode_frame(*version), *version)).0
                    }
                };
                Ok(write_frame(s, f).await?)
            };
            let timed = smol::future::or(attempt, async {
                async_io::Timer::after(send_timeout).await;
                Err(SendError::TimedOut)
            });
            match timed.await {
                Ok(()) => {
                    ok = true;
                    break;
                }
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "bitswap: send failed");
                    stream = None;
                }
            }
        }
        let ev = if ok {
            IoEvent::Sent { peer }
        } else {
            IoEvent::SendFailed { peer }
        };
        if io.send(ev).await.is_err() || !ok {
            return;
        }
    }
    if let Some((s, _)) = stream {
        close(s, limits.min_timeout).await;
    }
}

/// Closes our side of a stream, giving up after `timeout`.
async fn close(mut s: libp2p::Stream, timeout: Duration) {
    smol::future::or(
        async {
            let _ = s.close().await;
        },
        async_io::Timer::after(timeout).map(|_| ()),
    )
    .await;
}

/// What a writer needs besides its channel.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WriteLimits {
    pub min_timeout: Duration,
    pub max_timeout: Duration,
    pub idle_timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitswap::wire::{Entry, WantType, Wantlist, MAX_MESSAGE_BYTES};
    use acorn_storage::cids;

    fn sample() -> Message {
        Message {
            wantlist: Some(Wantlist {
                entries: vec![Entry::want(
                    cids::cid_of(1, cids::RAW, b"x"),
                    WantType::Have,
                    true,
                )],
                full: false,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn frames_read_back_in_sequence() {
        smol::block_on(async {
            let m = sample();
            let mut bytes = m.encode_frame(Version::V1_2_0);
            bytes.extend(m.encode_frame(Version::V1_2_0));
            let mut r = futures::io::Cursor::new(bytes);
            assert_eq!(read_frame(&mut r).await.unwrap(), m);
            assert_eq!(read_frame(&mut r).await.unwrap(), m);
            assert!(matches!(read_frame(&mut r).await, Err(ReadError::Eof)));
        });
    }

    #[test]
    fn body_buffer_is_never_larger_than_the_frame() {
        smol::block_on(async {
            let len = 1_000_003;
            let mut r = futures::io::Cursor::new(vec![7u8; len]);
            let body = read_body(&mut r, len).await.unwrap();
            assert_eq!(body.len(), len);
            assert_eq!(body.capacity(), len, "no doubling past the frame");
        });
    }

    /// Yields `data`, then never anything again (a peer that stalls mid-frame).
    struct Stall(Vec<u8>);
    impl AsyncRead for Stall {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
            buf: &mut [u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            if self.0.is_empty() {
                return std::task::Poll::Pending;
            }
            let n = buf.len().min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0.drain(..n);
            std::task::Poll::Ready(Ok(n))
        }
    }

    fn limits(budget_bytes: usize, timeout: Duration) -> ReadLimits {
        ReadLimits {
            budget: Arc::new(ByteBudget::new(budget_bytes)),
            min_timeout: timeout,
            max_timeout: timeout,
        }
    }

    #[test]
    fn a_stalled_frame_ends_the_stream_at_its_deadline() {
        smol::block_on(async {
            let mut b = Vec::new();
            acorn_storage::proto::write_varint(&mut b, 1000);
            b.extend_from_slice(&[0u8; 10]);
            let (tx, rx) = smol::channel::bounded(1);
            let l = limits(1 << 20, Duration::from_millis(50));
            let budget = l.budget.clone();
            let done = smol::future::or(
                async {
                    read_loop(PeerId::random(), Stall(b), tx, l).await;
                    true
                },
                async {
                    async_io::Timer::after(Duration::from_secs(5)).await;
                    false
                },
            )
            .await;
            assert!(done, "reader still waiting on a stalled frame");
            assert!(rx.try_recv().is_err(), "nothing delivered");
            // The reservation was given back.
            let all = budget.reserve(1 << 20).await;
            drop(all);
        });
    }

    #[test]
    fn budget_holds_readers_until_bytes_are_released() {
        smol::block_on(async {
            let budget = ByteBudget::new(2 * READ_CHUNK_BYTES);
            let a = budget.reserve(READ_CHUNK_BYTES + 1).await; // two units: all of it
            let mut b = Box::pin(budget.reserve(10));
            assert!(futures::poll!(b.as_mut()).is_pending(), "budget is full");
            drop(a);
            let _b = b.await;
            // Larger than the whole budget: takes all of it rather than waiting forever.
            drop(_b);
            let _all = budget.reserve(MAX_MESSAGE_BYTES).await;
        });
    }

    #[test]
    fn transfer_timeout_scales_with_size() {
        let (min, max) = (Duration::from_secs(10), Duration::from_secs(120));
        assert_eq!(transfer_timeout(100, min, max), min);
        // 2 s + 1 MB at 12.5 kB/s = 82 s.
        assert_eq!(
            transfer_timeout(1_000_000, min, max),
            Duration::from_secs(82)
        );
        assert_eq!(transfer_timeout(MAX_MESSAGE_BYTES, min, max), max);
    }

    #[test]
    fn oversize_and_truncated_frames_are_errors() {
        smol::block_on(async {
            let mut b = Vec::new();
            acorn_storage::proto::write_varint(&mut b, MAX_MESSAGE_BYTES as u64 + 1);
            let mut r = futures::io::Cursor::new(b);
            assert!(matches!(
                read_frame(&mut r).await,
                Err(ReadError::Wire(WireError::TooLarge { .. }))
            ));
            // Announces 100 bytes, sends 3: truncated, and only 3 bytes were buffered.
            let mut r = futures::io::Cursor::new(vec![100u8, 1, 2, 3]);
            assert!(matches!(
                read_frame(&mut r).await,
                Err(ReadError::Wire(WireError::Truncated(_)))
            ));
            let mut r = futures::io::Cursor::new(vec![0xffu8; 11]);
            assert!(matches!(
                read_frame(&mut r).await,
                Err(ReadError::Wire(WireError::BadVarint))
            ));
        });
    }
}
