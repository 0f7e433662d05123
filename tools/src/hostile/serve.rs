//! The answering side: inbound bitswap streams. A liar or staller reads wants and
//! answers them its way; the attack modes drain what the target sends (so the
//! target's answers never block on us), except `no-read`, which holds the streams
//! and reads nothing.

use std::sync::Arc;

use acorn_net::bitswap::wire::{BlockPresence, Payload, Prefix, Presence};
use acorn_net::bitswap::{Message, Version, WantType, MAX_MESSAGE_BYTES};
use futures::{AsyncRead, AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{PeerId, StreamProtocol};

use super::{Counters, Mode, BITSWAP, LIE_BYTES};
use crate::rng::Rng;

/// Accepts inbound bitswap streams for as long as the peer runs.
pub(super) async fn accept(
    ex: Arc<smol::Executor<'static>>,
    mut control: libp2p_stream::Control,
    mode: Mode,
    counters: Arc<Counters>,
    seed: u64,
) {
    let Ok(mut incoming) = control.accept(StreamProtocol::new(BITSWAP)) else {
        return;
    };
    let mut n = 0u64;
    while let Some((peer, stream)) = incoming.next().await {
        n += 1;
        let task = read_stream(
            control.clone(),
            peer,
            stream,
            mode,
            counters.clone(),
            seed ^ n,
        );
        ex.spawn(task).detach();
    }
}

/// Reads one varint-prefixed frame (at most `MAX_MESSAGE_BYTES`); `None` at the end.
pub(super) async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Option<Vec<u8>> {
    let mut len: u64 = 0;
    for shift in (0..64).step_by(7) {
        let mut b = [0u8; 1];
        r.read_exact(&mut b).await.ok()?;
        len |= u64::from(b[0] & 0x7f) << shift;
        if b[0] & 0x80 == 0 {
            break;
        }
    }
    if len > MAX_MESSAGE_BYTES as u64 {
        return None;
    }
    let mut buf = vec![0u8; len as usize];
    r.read_exact(&mut buf).await.ok()?;
    Some(buf)
}

async fn read_stream(
    mut control: libp2p_stream::Control,
    peer: PeerId,
    mut stream: libp2p::Stream,
    mode: Mode,
    counters: Arc<Counters>,
    seed: u64,
) {
    if mode == Mode::NoRead {
        // Hold the stream and never read: the sender's window stays shut.
        futures::future::pending::<()>().await;
        drop(stream);
        return;
    }
    let mut rng = Rng::new(seed);
    let mut out: Option<libp2p::Stream> = None;
    while let Some(frame) = read_frame(&mut stream).await {
        let Ok(msg) = Message::decode(&frame) else {
            continue;
        };
        let Some(wl) = msg.wantlist else { continue };
        if !matches!(mode, Mode::Liar | Mode::Staller) {
            continue;
        }
        let mut answer = Message::default();
        for e in wl.entries.iter().filter(|e| !e.cancel) {
            Counters::add(&counters.wants_received, 1);
            match e.want_type {
                WantType::Have => answer.presences.push(BlockPresence {
                    cid: e.cid,
                    presence: Presence::Have,
                }),
                WantType::Block => {
                    Counters::add(&counters.want_blocks_received, 1);
                    if mode == Mode::Liar {
                        Counters::add(&counters.lies_sent, 1);
                        answer.blocks.push(Payload {
                            prefix: Prefix::of(&e.cid),
                            data: rng.bytes(LIE_BYTES),
                        });
                    }
                }
            }
        }
        if answer.is_empty() {
            continue;
        }
        if out.is_none() {
            match control
                .open_stream(peer, StreamProtocol::new(BITSWAP))
                .await
            {
                Ok(s) => {
                    Counters::add(&counters.streams_opened, 1);
                    out = Some(s);
                }
                Err(_) => {
                    Counters::add(&counters.stream_failures, 1);
                    continue;
                }
            }
        }
        if let Some(s) = out.as_mut() {
            let frame = answer.encode_frame(Version::V1_2_0);
            if s.write_all(&frame).await.is_ok() && s.flush().await.is_ok() {
                Counters::add(&counters.sent, 1);
            } else {
                out = None;
            }
        }
    }
}
