//! A hostile test peer: a libp2p node built from Acorn's own network crate (our TCP
//! transport, noise, yamux, identify, ping, Kademlia client, `libp2p-stream`) that
//! speaks `/ipfs/bitswap/1.2.0` and misbehaves on command ([`Mode`]).
//!
//! **What.** [`HostilePeer::start`] runs the peer on a thread of its own (its own smol
//! executor, so it never shares the daemon's). It listens on the address given and,
//! with a target (`/ip4/…/tcp/…/p2p/<id>`), dials it and attacks it; when the target
//! closes the connection it dials again every [`REDIAL_INTERVAL`], so a test sees
//! whether a dropped peer is let back in. [`Counters`] say what it did and what it
//! saw; the `hostile-peer` binary prints them once a second.
//!
//! **Modes.** Answering modes serve whoever asks them:
//! - `liar`: HAVE to every want-have, a block of wrong bytes (under the wanted CID's
//!   prefix, [`LIE_BYTES`] long) to every want-block;
//! - `staller`: HAVE to every want-have, nothing to a want-block (reads everything).
//!
//! Attack modes need a target:
//! - `wrong-hash`: unsolicited blocks whose bytes hash to nothing the target wants;
//! - `oversize-block`: one block of `MAX_BLOCK_BYTES + 1` bytes per message;
//! - `malformed-frames`: frames of bytes that are not a bitswap protobuf;
//! - `oversize-frame`: a length prefix past `MAX_MESSAGE_BYTES`, then bytes;
//! - `endless-wantlist`: wantlists of [`WANTLIST_BATCH_COUNT`] random want-blocks,
//!   message after message, reading the answers;
//! - `many-streams`: opens bitswap streams and holds them, [`STREAM_BATCH_COUNT`] at a
//!   time, up to `count` (counting those the target closes or resets);
//! - `no-read`: wants the given CIDs (blocks it knows the target has) and never reads
//!   a byte of the target's streams: the target's yamux send window never reopens;
//! - `identify-flood`: `/ipfs/id/1.0.0` requests and `/ipfs/id/push/1.0.0` pushes of
//!   junk, as fast as the target answers;
//! - `kad-flood`: `FIND_NODE` requests on `/ipfs/kad/1.0.0` and `/ipfs/lan/kad/1.0.0`;
//! - `many-connections`: `count` raw TCP connections that send multistream-select's
//!   header and then nothing, replaced as the target closes them;
//! - `silent`: `count` raw TCP connections that send nothing at all.
//!
//! **Limits.** Every loop is paced (a message at a time per stream, batches of
//! streams); `count` bounds streams and connections. A test-only tool: it keeps no
//! state that grows with what the target sends.
//!
//! **Why our own.** There is no crate for a misbehaving IPFS peer; it reuses our
//! transport and bitswap codec, so it speaks exactly what the daemon expects until
//! it chooses not to.

mod attack;
mod serve;

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use acorn_net::swarm::{build_swarm, Config, DhtMode, Executor};
use cid::Cid;
use futures::StreamExt;
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId};

/// The bitswap protocol the peer speaks.
pub const BITSWAP: &str = "/ipfs/bitswap/1.2.0";
/// Length of a liar's wrong block: over bitswap's small-block size, so it cannot
/// pass for a block sent in answer to a want-have.
pub const LIE_BYTES: usize = 4096;
/// Want-blocks per message in `endless-wantlist`.
pub const WANTLIST_BATCH_COUNT: usize = 1000;
/// Streams opened at once in `many-streams`.
pub const STREAM_BATCH_COUNT: usize = 64;
/// Time between two dials of a target that closed the connection.
pub const REDIAL_INTERVAL: Duration = Duration::from_millis(500);

/// How the peer misbehaves (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Answers want-blocks with wrong bytes.
    Liar,
    /// Says HAVE, never sends a block.
    Staller,
    /// Unsolicited blocks of wrong bytes.
    WrongHash,
    /// Blocks over the block size limit.
    OversizeBlock,
    /// Frames that do not decode.
    MalformedFrames,
    /// A frame length over the message size limit.
    OversizeFrame,
    /// Wantlist after wantlist of random CIDs.
    EndlessWantlist,
    /// Thousands of bitswap streams.
    ManyStreams,
    /// Wants blocks and never reads the answers.
    NoRead,
    /// Identify requests and pushes as fast as possible.
    IdentifyFlood,
    /// Kademlia requests as fast as possible.
    KadFlood,
    /// Many TCP connections stuck in negotiation.
    ManyConnections,
    /// TCP connections that say nothing.
    Silent,
}

/// Every mode, by its command-line name.
pub const MODES: [(&str, Mode); 13] = [
    ("liar", Mode::Liar),
    ("staller", Mode::Staller),
    ("wrong-hash", Mode::WrongHash),
    ("oversize-block", Mode::OversizeBlock),
    ("malformed-frames", Mode::MalformedFrames),
    ("oversize-frame", Mode::OversizeFrame),
    ("endless-wantlist", Mode::EndlessWantlist),
    ("many-streams", Mode::ManyStreams),
    ("no-read", Mode::NoRead),
    ("identify-flood", Mode::IdentifyFlood),
    ("kad-flood", Mode::KadFlood),
    ("many-connections", Mode::ManyConnections),
    ("silent", Mode::Silent),
];

impl FromStr for Mode {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Mode> {
        MODES
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, m)| *m)
            .ok_or_else(|| {
                let names: Vec<&str> = MODES.iter().map(|(n, _)| *n).collect();
                anyhow::anyhow!("unknown mode {s:?}; one of: {}", names.join(", "))
            })
    }
}

impl Mode {
    /// Whether the mode needs a target to attack.
    pub fn needs_target(self) -> bool {
        !matches!(self, Mode::Liar | Mode::Staller)
    }
    /// Whether the mode works on raw TCP (no libp2p connection to the target).
    fn raw_tcp(self) -> bool {
        matches!(self, Mode::ManyConnections | Mode::Silent)
    }
}

/// What the peer did and saw, updated as it runs.
#[derive(Debug, Default)]
pub struct Counters {
    /// libp2p connections established (any peer), or raw TCP connections opened.
    pub connections: AtomicU64,
    /// Connections closed (by either side).
    pub disconnections: AtomicU64,
    /// Frames (or requests) sent.
    pub sent: AtomicU64,
    /// Streams opened successfully.
    pub streams_opened: AtomicU64,
    /// Stream opens that failed (refused, reset, connection gone).
    pub stream_failures: AtomicU64,
    /// Streams opened by `many-streams` that the target then closed or reset.
    pub streams_closed: AtomicU64,
    /// Wantlist entries received (want-have and want-block).
    pub wants_received: AtomicU64,
    /// Want-blocks received.
    pub want_blocks_received: AtomicU64,
    /// Wrong blocks sent in answer to want-blocks (liar).
    pub lies_sent: AtomicU64,
}

impl Counters {
    fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
    /// One line: `connections=… disconnections=… …`.
    pub fn line(&self) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "connections={} disconnections={} sent={} streams_opened={} stream_failures={} streams_closed={} wants_received={} want_blocks_received={} lies_sent={}",
            g(&self.connections),
            g(&self.disconnections),
            g(&self.sent),
            g(&self.streams_opened),
            g(&self.stream_failures),
            g(&self.streams_closed),
            g(&self.wants_received),
            g(&self.want_blocks_received),
            g(&self.lies_sent),
        )
    }
    /// A counter's value by its name in [`Counters::line`].
    pub fn get(&self, name: &str) -> Option<u64> {
        self.line()
            .split(' ')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
    }
}

/// How to start a peer.
#[derive(Debug, Clone)]
pub struct Options {
    /// The misbehaviour.
    pub mode: Mode,
    /// Where to listen (`/ip4/127.0.0.1/tcp/0` by default).
    pub listen: Multiaddr,
    /// Whom to dial and attack: `/ip4/…/tcp/…/p2p/<id>`.
    pub target: Option<Multiaddr>,
    /// Streams or connections for `many-streams`, `many-connections`, `silent`.
    pub count: usize,
    /// CIDs to want (`no-read`).
    pub wants: Vec<Cid>,
    /// Seed of the random CIDs and bytes.
    pub seed: u64,
}

impl Options {
    /// Defaults for `mode`: loopback listener, no target, `count` 1000, seed 1.
    pub fn new(mode: Mode) -> Options {
        Options {
            mode,
            listen: "/ip4/127.0.0.1/tcp/0".parse().expect("a valid multiaddr"),
            target: None,
            count: 1000,
            wants: Vec::new(),
            seed: 1,
        }
    }
}

/// A running hostile peer; it stops when dropped.
pub struct HostilePeer {
    /// Its peer ID.
    pub peer: PeerId,
    /// Its listen address with `/p2p/<id>`.
    pub addr: Multiaddr,
    /// What it did so far.
    pub counters: Arc<Counters>,
    stop: Option<smol::channel::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for HostilePeer {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl HostilePeer {
    /// Starts the peer on its own thread; returns once it listens.
    pub fn start(opts: Options) -> anyhow::Result<HostilePeer> {
        if opts.mode.needs_target() && opts.target.is_none() {
            anyhow::bail!("mode {:?} needs a target to attack", opts.mode);
        }
        let target_peer = match &opts.target {
            Some(t) => Some(peer_of(t)?),
            None => None,
        };
        let keypair = Keypair::generate_ed25519();
        let peer = keypair.public().to_peer_id();
        let counters = Arc::new(Counters::default());
        let (stop_tx, stop_rx) = smol::channel::bounded::<()>(1);
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<anyhow::Result<Multiaddr>>(1);
        let c = counters.clone();
        let thread = std::thread::Builder::new()
            .name("hostile-peer".into())
            .spawn(move || {
                let ex = Arc::new(smol::Executor::new());
                let run = run(ex.clone(), keypair, opts, target_peer, c, stop_rx, ready_tx);
                smol::block_on(ex.run(run));
            })?;
        let addr = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| anyhow::anyhow!("hostile peer did not start listening"))??;
        Ok(HostilePeer {
            peer,
            addr: addr.with(Protocol::P2p(peer)),
            counters,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

/// The `/p2p/<id>` of an address.
pub fn peer_of(addr: &Multiaddr) -> anyhow::Result<PeerId> {
    addr.iter()
        .find_map(|p| match p {
            Protocol::P2p(id) => Some(id),
            _ => None,
        })
        .ok_or_else(|| anyhow::anyhow!("{addr} has no /p2p/<peer id>"))
}

/// The peer's main task: the swarm's event loop, the answering tasks and the attack.
async fn run(
    ex: Arc<smol::Executor<'static>>,
    keypair: Keypair,
    opts: Options,
    target_peer: Option<PeerId>,
    counters: Arc<Counters>,
    stop: smol::channel::Receiver<()>,
    ready: std::sync::mpsc::SyncSender<anyhow::Result<Multiaddr>>,
) {
    let config = Config {
        agent_version: "hostile-peer/0.1".into(),
        dht_mode: DhtMode::Client,
        // Room for the attacks' streams; the target sets its own limits.
        max_streams_per_connection: 2048,
        max_negotiating_inbound_streams: 1024,
        idle_connection_timeout: Duration::from_secs(120),
        ..Config::default()
    };
    let built = build_swarm(&keypair, &config, None, Executor::new(ex.clone()));
    let mut swarm = match built {
        Ok((s, _)) => s,
        Err(e) => {
            let _ = ready.send(Err(e.into()));
            return;
        }
    };
    if let Err(e) = swarm.listen_on(opts.listen.clone()) {
        let _ = ready.send(Err(e.into()));
        return;
    }
    let control = swarm.behaviour().stream.new_control();
    if opts.mode.raw_tcp() {
        if let Some(t) = &opts.target {
            ex.spawn(attack::raw_tcp(opts.clone(), t.clone(), counters.clone()))
                .detach();
        }
    } else {
        ex.spawn(serve::accept(
            ex.clone(),
            control.clone(),
            opts.mode,
            counters.clone(),
            opts.seed,
        ))
        .detach();
    }
    let (connected_tx, connected_rx) = smol::channel::bounded::<PeerId>(16);
    if target_peer.is_some() && opts.mode.needs_target() && !opts.mode.raw_tcp() {
        ex.spawn(attack::run(
            ex.clone(),
            control.clone(),
            opts.clone(),
            counters.clone(),
            connected_rx,
        ))
        .detach();
    }
    let dial = |swarm: &mut libp2p::Swarm<acorn_net::swarm::Behaviour>| {
        if let (Some(t), false) = (&opts.target, opts.mode.raw_tcp()) {
            let _ = swarm.dial(t.clone());
        }
    };
    dial(&mut swarm);
    let mut ready = Some(ready);
    let mut redial_at: Option<async_io::Timer> = None;
    loop {
        let redial = async {
            match redial_at.as_mut() {
                Some(t) => {
                    t.await;
                }
                None => futures::future::pending::<()>().await,
            }
            Event::Redial
        };
        let stopped = async {
            let _ = stop.recv().await;
            Event::Stop
        };
        let swarm_ev = async { Event::Swarm(Box::new(swarm.select_next_some().await)) };
        let ev = smol::future::or(stopped, smol::future::or(redial, swarm_ev)).await;
        match ev {
            Event::Stop => return,
            Event::Swarm(ev) => match *ev {
                SwarmEvent::NewListenAddr { address, .. } => {
                    if let Some(r) = ready.take() {
                        let _ = r.send(Ok(address));
                    }
                }
                SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                    Counters::add(&counters.connections, 1);
                    if Some(peer_id) == target_peer {
                        let _ = connected_tx.try_send(peer_id);
                    }
                }
                SwarmEvent::ConnectionClosed {
                    peer_id,
                    num_established,
                    ..
                } => {
                    Counters::add(&counters.disconnections, 1);
                    if Some(peer_id) == target_peer && num_established == 0 {
                        redial_at = Some(async_io::Timer::after(REDIAL_INTERVAL));
                    }
                }
                SwarmEvent::OutgoingConnectionError { peer_id, .. }
                    if peer_id.is_some() && peer_id == target_peer =>
                {
                    redial_at = Some(async_io::Timer::after(REDIAL_INTERVAL));
                }
                _ => {}
            },
            Event::Redial => {
                redial_at = None;
                if target_peer.is_some_and(|p| !swarm.is_connected(&p)) {
                    dial(&mut swarm);
                }
            }
        }
    }
}

enum Event {
    Stop,
    Redial,
    Swarm(Box<SwarmEvent<acorn_net::swarm::BehaviourEvent>>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_by_name_and_unknown_names_list_the_choices() {
        for (name, mode) in MODES {
            assert_eq!(name.parse::<Mode>().unwrap(), mode);
        }
        let e = "rude".parse::<Mode>().unwrap_err().to_string();
        assert!(e.contains("liar") && e.contains("silent"), "{e}");
    }

    #[test]
    fn attack_modes_need_a_target() {
        let e = HostilePeer::start(Options::new(Mode::WrongHash))
            .err()
            .expect("refused");
        assert!(e.to_string().contains("needs a target"), "{e}");
    }
}
