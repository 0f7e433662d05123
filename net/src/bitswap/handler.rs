//! Per-peer stream tasks: one reader per inbound stream, one writer per peer.
//!
//! Spec: bitswap streams carry unsigned-varint length-prefixed protobuf messages
//! (`wire.rs`). A sender opens one long-lived stream per peer and writes messages on it;
//! a receiver reads every inbound stream until it ends. Replies go on our own outbound
//! stream, never on the peer's.
//!
//! Flow:
//! - [`read_loop`]: read the varint, check it against [`MAX_MESSAGE_BYTES`] *before*
//!   reading the body, read the body into a buffer that grows with the bytes that
//!   actually arrive, decode, hand the message to the node task; a malformed frame is
//!   reported and ends the stream.
//! - [`write_loop`]: take one message at a time from a capacity-1 channel, open a stream if
//!   there is none (trying 1.2.0, 1.1.0, 1.0.0, then `/ipfs/bitswap`), encode for the
//!   negotiated version, write; on failure reopen once and retry, then report the
//!   failure and end.
//!
//! Limits: one message per peer in flight (the core's transmit contract); inbound
//! streams are capped by the accept tasks (`Config::max_inbound_streams` in all,
//! `Config::max_inbound_streams_per_peer` per peer); writes time out after
//! `Config::send_timeout`.

use super::core::{Found, Lookup, SessionId};
use super::wire::{self, Message, Version, WireError};
use acorn_storage::block::Block;
use cid::Cid;
use futures::channel::oneshot;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::{PeerId, StreamProtocol};
use std::time::Duration;

/// What the stream and blockstore tasks tell the node task.
pub(crate) enum IoEvent {
    Inbound {
        peer: PeerId,
        result: Result<Message, WireError>,
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
}

/// Reads one length-prefixed frame and decodes it. The body buffer grows with the
/// bytes received (a peer announcing 4 MiB and sending 10 bytes costs 10 bytes).
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Message, ReadError> {
    let mut len: u64 = 0;
    let mut i = 0;
    loop {
        let mut b = [0u8; 1];
        if r.read(&mut b).await? == 0 {
            return Err(ReadError::Eof);
        }
        if i == 9 && b[0] > 1 {
            return Err(WireError::BadVarint.into());
        }
        len |= u64::from(b[0] & 0x7f) << (7 * i);
        i += 1;
        if b[0] & 0x80 == 0 {
            break;
        }
        if i == 10 {
            return Err(WireError::BadVarint.into());
        }
    }
    let len = wire::check_frame_len(len)?;
    let mut body = Vec::new();
    r.take(len as u64).read_to_end(&mut body).await?;
    if body.len() < len {
        return Err(WireError::Truncated("frame body").into());
    }
    Ok(Message::decode(&body)?)
}

/// Reads frames from one inbound stream until it ends or sends garbage.
pub(crate) async fn read_loop<S: AsyncRead + Unpin>(
    peer: PeerId,
    mut stream: S,
    io: smol::channel::Sender<IoEvent>,
) {
    loop {
        match read_frame(&mut stream).await {
            Ok(msg) => {
                let ev = IoEvent::Inbound {
                    peer,
                    result: Ok(msg),
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

async fn open(
    control: &mut libp2p_stream::Control,
    peer: PeerId,
) -> Result<(libp2p::Stream, Version), String> {
    for (proto, version) in Version::PROTOCOLS {
        match control.open_stream(peer, StreamProtocol::new(proto)).await {
            Ok(s) => return Ok((s, version)),
            Err(libp2p_stream::OpenStreamError::UnsupportedProtocol(_)) => continue,
            Err(e) => return Err(e.to_string()),
        }
    }
    Err("peer speaks no bitswap version".into())
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
    send_timeout: Duration,
) {
    let mut stream: Option<(libp2p::Stream, Version)> = None;
    while let Ok(msg) = rx.recv().await {
        let mut ok = false;
        for _attempt in 0..2 {
            let attempt = async {
                if stream.is_none() {
                    stream = Some(open(&mut control, peer).await?);
                }
                let Some((s, version)) = stream.as_mut() else {
                    return Err("no stream".to_string());
                };
                let frame = msg.encode_frame(*version);
                write_frame(s, &frame).await.map_err(|e| e.to_string())
            };
            let timed = smol::future::or(attempt, async {
                async_io::Timer::after(send_timeout).await;
                Err("send timed out".to_string())
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
    if let Some((mut s, _)) = stream {
        let _ = s.close().await;
    }
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
    fn oversize_and_truncated_frames_are_errors() {
        smol::block_on(async {
            let mut b = Vec::new();
            wire::put_varint(&mut b, MAX_MESSAGE_BYTES as u64 + 1);
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
