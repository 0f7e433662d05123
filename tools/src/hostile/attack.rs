//! The attacking side: what a hostile peer sends its target, mode by mode (see the
//! module doc of `hostile`). Each attack runs while the connection lives and starts
//! again on the next one.

use std::sync::Arc;
use std::time::Duration;

use acorn_net::bitswap::wire::{Entry, Payload, Prefix, Wantlist};
use acorn_net::bitswap::{Message, Version, WantType, MAX_MESSAGE_BYTES};
use acorn_storage::block::MAX_BLOCK_BYTES;
use acorn_storage::cids;
use async_io::{Async, Timer};
use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::{Multiaddr, PeerId, StreamProtocol};

use super::serve::read_frame;
use super::{Counters, Mode, Options, BITSWAP, LIE_BYTES, STREAM_BATCH_COUNT};
use super::{REDIAL_INTERVAL, WANTLIST_BATCH_COUNT};
use crate::rng::Rng;

/// Pause between two messages of a flood: fast enough to be a flood, slow enough
/// that the attacker does not take the machine's CPU from the daemon under test.
const FLOOD_PAUSE: Duration = Duration::from_millis(5);

/// Runs the attack on each connection to the target as it comes up.
pub(super) async fn run(
    ex: Arc<smol::Executor<'static>>,
    control: libp2p_stream::Control,
    opts: Options,
    counters: Arc<Counters>,
    connected: smol::channel::Receiver<PeerId>,
) {
    let mut rng = Rng::new(opts.seed);
    while let Ok(peer) = connected.recv().await {
        // A fresh connection: whatever ran on the last one has failed by now.
        let task = attack(
            ex.clone(),
            control.clone(),
            peer,
            opts.clone(),
            counters.clone(),
            rng.next_u64(),
        );
        ex.spawn(task).detach();
    }
}

fn add(c: &std::sync::atomic::AtomicU64) {
    Counters::add(c, 1);
}

async fn open(
    control: &mut libp2p_stream::Control,
    peer: PeerId,
    proto: &'static str,
    counters: &Counters,
) -> Option<libp2p::Stream> {
    match control.open_stream(peer, StreamProtocol::new(proto)).await {
        Ok(s) => {
            add(&counters.streams_opened);
            Some(s)
        }
        Err(_) => {
            add(&counters.stream_failures);
            None
        }
    }
}

async fn send(s: &mut libp2p::Stream, frame: &[u8], counters: &Counters) -> bool {
    let ok = s.write_all(frame).await.is_ok() && s.flush().await.is_ok();
    if ok {
        add(&counters.sent);
    }
    ok
}

fn random_cid(rng: &mut Rng) -> cid::Cid {
    cids::cid_of(1, cids::RAW, &rng.bytes(32))
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Gives up on a connection after this many stream opens in a row failed.
const MAX_FAILED_OPENS_COUNT: u32 = 20;

async fn attack(
    ex: Arc<smol::Executor<'static>>,
    mut control: libp2p_stream::Control,
    peer: PeerId,
    opts: Options,
    counters: Arc<Counters>,
    seed: u64,
) {
    let mut rng = Rng::new(seed);
    let mut failed = 0u32;
    let mut held = 0usize;
    while failed < MAX_FAILED_OPENS_COUNT {
        let proto = match opts.mode {
            Mode::IdentifyFlood if rng.below(2) == 0 => "/ipfs/id/1.0.0",
            Mode::IdentifyFlood => "/ipfs/id/push/1.0.0",
            Mode::KadFlood if rng.below(2) == 0 => "/ipfs/kad/1.0.0",
            Mode::KadFlood => "/ipfs/lan/kad/1.0.0",
            _ => BITSWAP,
        };
        if opts.mode == Mode::ManyStreams {
            if held >= opts.count {
                // Hold them; check now and then that the connection lives.
                Timer::after(Duration::from_millis(200)).await;
                // (Not counted: `streams_opened` counts the streams held.)
                match control
                    .open_stream(peer, StreamProtocol::new(BITSWAP))
                    .await
                {
                    Ok(_) => failed = 0,
                    Err(_) => failed += 1,
                }
                continue;
            }
            let batch = STREAM_BATCH_COUNT.min(opts.count - held);
            let opens = (0..batch).map(|_| {
                let mut c = control.clone();
                let counters = counters.clone();
                async move { open(&mut c, peer, BITSWAP, &counters).await }
            });
            let got: Vec<_> = futures::future::join_all(opens).await;
            let before = held;
            for mut s in got.into_iter().flatten() {
                held += 1;
                // Hold it, writing nothing; count it when the target closes it.
                let counters = counters.clone();
                ex.spawn(async move {
                    let mut b = [0u8; 1];
                    let _ = s.read(&mut b).await;
                    add(&counters.streams_closed);
                })
                .detach();
            }
            if held == before {
                failed += 1;
                Timer::after(FLOOD_PAUSE).await;
            } else {
                failed = 0;
            }
            continue;
        }
        let Some(mut s) = open(&mut control, peer, proto, &counters).await else {
            failed += 1;
            Timer::after(FLOOD_PAUSE * 4).await;
            continue;
        };
        failed = 0;
        match opts.mode {
            Mode::WrongHash => loop {
                let msg = Message {
                    blocks: (0..4)
                        .map(|_| Payload {
                            prefix: Prefix::of(&random_cid(&mut rng)),
                            data: rng.bytes(LIE_BYTES),
                        })
                        .collect(),
                    ..Message::default()
                };
                if !send(&mut s, &msg.encode_frame(Version::V1_2_0), &counters).await {
                    break;
                }
                Timer::after(FLOOD_PAUSE * 4).await;
            },
            Mode::OversizeBlock => loop {
                let msg = Message {
                    blocks: vec![Payload {
                        prefix: Prefix::of(&random_cid(&mut rng)),
                        data: rng.bytes(MAX_BLOCK_BYTES + 1),
                    }],
                    ..Message::default()
                };
                if !send(&mut s, &msg.encode_frame(Version::V1_2_0), &counters).await {
                    break;
                }
                Timer::after(FLOOD_PAUSE * 20).await;
            },
            Mode::MalformedFrames => loop {
                // Field 1 with wire type 7: no protobuf decoder accepts it.
                let mut body = vec![0x0f];
                body.extend(rng.bytes(64));
                let mut frame = Vec::new();
                varint(body.len() as u64, &mut frame);
                frame.extend(body);
                if !send(&mut s, &frame, &counters).await {
                    break;
                }
                Timer::after(FLOOD_PAUSE * 4).await;
            },
            Mode::OversizeFrame => {
                let mut frame = Vec::new();
                varint(MAX_MESSAGE_BYTES as u64 + 1, &mut frame);
                if send(&mut s, &frame, &counters).await {
                    let chunk = rng.bytes(64 << 10);
                    for _ in 0..(MAX_MESSAGE_BYTES / chunk.len() + 1) {
                        if !send(&mut s, &chunk, &counters).await {
                            break;
                        }
                    }
                }
                Timer::after(FLOOD_PAUSE * 20).await;
            }
            Mode::EndlessWantlist => loop {
                let entries = (0..WANTLIST_BATCH_COUNT)
                    .map(|_| Entry::want(random_cid(&mut rng), WantType::Block, true))
                    .collect();
                let msg = Message {
                    wantlist: Some(Wantlist {
                        entries,
                        full: false,
                    }),
                    ..Message::default()
                };
                if !send(&mut s, &msg.encode_frame(Version::V1_2_0), &counters).await {
                    break;
                }
                Timer::after(FLOOD_PAUSE * 4).await;
            },
            Mode::NoRead => loop {
                let entries = opts
                    .wants
                    .iter()
                    .map(|c| Entry::want(*c, WantType::Block, true))
                    .collect();
                let msg = Message {
                    wantlist: Some(Wantlist {
                        entries,
                        full: true,
                    }),
                    ..Message::default()
                };
                if !send(&mut s, &msg.encode_frame(Version::V1_2_0), &counters).await {
                    break;
                }
                Timer::after(Duration::from_secs(1)).await;
            },
            Mode::IdentifyFlood if proto == "/ipfs/id/1.0.0" => {
                let mut answer = Vec::new();
                let _ = (&mut s).take(64 << 10).read_to_end(&mut answer).await;
                add(&counters.sent);
            }
            Mode::IdentifyFlood => {
                // A push whose protobuf is junk.
                let mut frame = Vec::new();
                varint(4096, &mut frame);
                frame.extend(rng.bytes(4096));
                send(&mut s, &frame, &counters).await;
                let _ = s.close().await;
            }
            Mode::KadFlood => {
                // FIND_NODE (type 4) for a random 32-byte key.
                let key = rng.bytes(32);
                let mut body = vec![0x08, 0x04, 0x12, 32];
                body.extend(key);
                let mut frame = Vec::new();
                varint(body.len() as u64, &mut frame);
                frame.extend(body);
                if send(&mut s, &frame, &counters).await {
                    let _ = read_frame(&mut s).await;
                }
            }
            _ => {}
        }
        Timer::after(FLOOD_PAUSE).await;
    }
}

/// `many-connections` and `silent`: `count` raw TCP connections to the target, each
/// replaced [`REDIAL_INTERVAL`] after the target closes it.
pub(super) async fn raw_tcp(opts: Options, target: Multiaddr, counters: Arc<Counters>) {
    let Some(addr) = acorn_net::transport::tcp::multiaddr_to_socketaddr(&target) else {
        return;
    };
    let header: &[u8] = if opts.mode == Mode::ManyConnections {
        b"\x13/multistream/1.0.0\n"
    } else {
        b""
    };
    let tasks = (0..opts.count).map(|_| {
        let counters = counters.clone();
        async move {
            loop {
                match Async::<std::net::TcpStream>::connect(addr).await {
                    Ok(mut s) => {
                        add(&counters.connections);
                        if !header.is_empty() && s.write_all(header).await.is_ok() {
                            add(&counters.sent);
                        }
                        // Read (and drop) whatever comes until the target closes.
                        let mut buf = [0u8; 512];
                        while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
                        add(&counters.disconnections);
                    }
                    Err(_) => add(&counters.stream_failures),
                }
                Timer::after(REDIAL_INTERVAL).await;
            }
        }
    });
    futures::future::join_all(tasks).await;
}
