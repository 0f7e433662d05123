//! Bandwidth counters: all bytes, per protocol, per peer (Kubo's `stats bw`).
//!
//! **What.** One [`Bandwidth`] handle per swarm holds three kinds of [`Meter`]s
//! (totals plus Kubo's 1 s EWMA rates, see [`meter`]):
//! - **total**: raw TCP bytes of every connection, counted by the TCP transport
//!   (so pnet, noise and yamux framing are included);
//! - **per protocol**: substream payload bytes, for a fixed table of protocols
//!   ([`TRACKED_PROTOCOLS`]) plus one bucket for everything else;
//! - **per peer**: substream payload bytes of every connection to that peer.
//!
//! So a protocol's or a peer's counter is always ≤ the total.
//!
//! **Flow.** [`Bandwidth::wrap_muxer`] wraps each connection's yamux muxer (see
//! `swarm::build_transport`) in a [`Muxer`] whose [`Substream`]s count every byte read
//! or written into the peer's meter at once, and hold the bytes back until the
//! substream's protocol is known. The protocol comes from multistream-select, read off
//! the substream itself by a [`sniff::Sniffer`] (libp2p hands no protocol to the
//! muxer): our writes on inbound substreams, our reads on outbound ones. Once the
//! listener echoes a protocol, the held bytes and every later byte go to its meter;
//! a substream that closes undecided, or agrees on an untracked protocol, counts in
//! the "other" bucket. Negotiation bytes count towards the protocol agreed.
//!
//! **Limits.** The protocol table is fixed at compile time; nothing sent by a peer
//! adds an entry. The peer table holds at most the `peer_capacity` given to
//! [`Bandwidth::new`] (the swarm's `Config::bandwidth_peers`): a peer with a live
//! connection keeps its entry; when the table is full a new peer takes the entry of
//! the peer idle longest without a connection, and if every entry is live the new
//! peer is not tracked (its bytes still count in the total and per protocol;
//! [`Bandwidth::untracked_peers`] counts such connections). Each substream looks at
//! most [`sniff::MAX_SNIFF_BYTES`] bytes. Counting costs a clock read and one
//! uncontended lock per meter per read or write.
//!
//! **Departures from Kubo.** Kubo's total is the sum of its stream bytes; ours is raw
//! TCP, so it also counts handshakes and muxer framing. Rates are folded in lazily on
//! the first record or read after each second (same numbers as a 1 s ticker, no timer
//! wakeups). A protocol we do not track reads as zeros, as Kubo answers for a
//! protocol it never saw. Peers beyond the table read as zeros.

pub mod meter;
pub mod sniff;

use std::{
    io,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, PoisonError,
    },
    task::{Context, Poll},
    time::Instant,
};

use futures::{AsyncRead, AsyncWrite};
use libp2p::{
    core::muxing::{StreamMuxer, StreamMuxerEvent},
    PeerId,
};

pub use meter::{Direction, Meter, Stats};
use sniff::{Sniffer, Verdict};

/// Protocols with their own counters. Bytes of any other protocol count in one
/// "other" bucket that is not reachable by name.
pub const TRACKED_PROTOCOLS: [&str; 8] = [
    "/ipfs/bitswap/1.2.0",
    "/ipfs/bitswap/1.1.0",
    "/ipfs/bitswap/1.0.0",
    "/ipfs/bitswap",
    "/ipfs/kad/1.0.0",
    "/ipfs/id/1.0.0",
    "/ipfs/id/push/1.0.0",
    "/ipfs/ping/1.0.0",
];

/// Index of the "other" bucket in the protocol meters.
const OTHER: usize = TRACKED_PROTOCOLS.len();

/// Default most peers with their own counters (the swarm's default connection limit
/// plus its pending connections, rounded up). About 200 bytes each.
pub const DEFAULT_PEER_CAPACITY: usize = 256;

/// The node's byte counters: a cheap, cloneable handle. See the module docs.
#[derive(Debug, Clone)]
pub struct Bandwidth(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    start: Instant,
    total: Meter,
    protocols: [Meter; OTHER + 1],
    /// At most `peer_capacity` entries; see the module docs.
    peers: Mutex<Vec<(PeerId, Arc<Meter>)>>,
    peer_capacity: usize,
    untracked_peers: AtomicU64,
}

impl Default for Bandwidth {
    fn default() -> Self {
        Self::new(DEFAULT_PEER_CAPACITY)
    }
}

impl Bandwidth {
    /// Counters keeping at most `peer_capacity` peers.
    pub fn new(peer_capacity: usize) -> Self {
        Self(Arc::new(Inner {
            start: Instant::now(),
            total: Meter::default(),
            protocols: Default::default(),
            peers: Mutex::new(Vec::new()),
            peer_capacity,
            untracked_peers: AtomicU64::new(0),
        }))
    }

    /// Whole seconds from this handle's creation to `now` (the meters' clock).
    fn second(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.0.start).as_secs()
    }

    /// Counts raw connection bytes (the TCP transport calls this).
    pub fn record_total(&self, now: Instant, direction: Direction, bytes: usize) {
        self.0
            .total
            .record(self.second(now), direction, bytes as u64);
    }

    /// Bytes received so far, all connections.
    pub fn inbound_bytes(&self) -> u64 {
        self.0.total.total_in()
    }

    /// Bytes sent so far, all connections.
    pub fn outbound_bytes(&self) -> u64 {
        self.0.total.total_out()
    }

    /// All connections (raw TCP bytes), as of `now`.
    pub fn total(&self, now: Instant) -> Stats {
        self.0.total.stats(self.second(now))
    }

    /// Substream bytes of `protocol` (e.g. `/ipfs/bitswap/1.2.0`); zeros for a
    /// protocol not in [`TRACKED_PROTOCOLS`].
    pub fn protocol(&self, protocol: &str, now: Instant) -> Stats {
        match TRACKED_PROTOCOLS.iter().position(|p| *p == protocol) {
            Some(i) => self.0.protocols[i].stats(self.second(now)),
            None => Stats::default(),
        }
    }

    /// Substream bytes of every protocol not in [`TRACKED_PROTOCOLS`], and of
    /// substreams whose negotiation never finished.
    pub fn other_protocols(&self, now: Instant) -> Stats {
        self.0.protocols[OTHER].stats(self.second(now))
    }

    /// Substream bytes exchanged with `peer`; zeros for a peer not in the table.
    pub fn peer(&self, peer: &PeerId, now: Instant) -> Stats {
        let second = self.second(now);
        self.lock_peers()
            .iter()
            .find(|(p, _)| p == peer)
            .map_or_else(Stats::default, |(_, m)| m.stats(second))
    }

    /// Connections whose peer found the peer table full of live peers.
    pub fn untracked_peers(&self) -> u64 {
        self.0.untracked_peers.load(Ordering::Relaxed)
    }

    fn lock_peers(&self) -> std::sync::MutexGuard<'_, Vec<(PeerId, Arc<Meter>)>> {
        self.0.peers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The meter of `peer`, making room as the module docs say; `None` when every
    /// entry belongs to a peer with a live connection.
    fn peer_meter(&self, peer: PeerId) -> Option<Arc<Meter>> {
        let mut peers = self.lock_peers();
        if let Some((_, m)) = peers.iter().find(|(p, _)| *p == peer) {
            return Some(m.clone());
        }
        let meter = Arc::new(Meter::default());
        if peers.len() < self.0.peer_capacity {
            peers.push((peer, meter.clone()));
            return Some(meter);
        }
        // Only the table holds a meter of a peer without connections or substreams.
        let idle = peers
            .iter_mut()
            .filter(|(_, m)| Arc::strong_count(m) == 1)
            .min_by_key(|(_, m)| m.last_active());
        match idle {
            Some(entry) => {
                *entry = (peer, meter.clone());
                Some(meter)
            }
            None => {
                self.0.untracked_peers.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, "bandwidth peer table full of live peers; not tracked");
                None
            }
        }
    }

    /// Wraps a connection's muxer so its substreams count into these meters.
    pub fn wrap_muxer<M>(&self, peer: PeerId, muxer: M) -> Muxer<M> {
        Muxer {
            inner: muxer,
            peer: self.peer_meter(peer),
            bandwidth: self.clone(),
        }
    }
}

/// A stream muxer whose substreams count their bytes. See the module docs.
pub struct Muxer<M> {
    inner: M,
    peer: Option<Arc<Meter>>,
    bandwidth: Bandwidth,
}

impl<M> Muxer<M> {
    fn substream<S>(&self, inner: S, inbound: bool) -> Substream<S> {
        Substream {
            inner,
            sniffer: Some((
                Sniffer::new(&TRACKED_PROTOCOLS),
                // The listener's half: what we write when the peer opened the
                // substream, what we read when we did.
                if inbound {
                    Direction::Out
                } else {
                    Direction::In
                },
            )),
            protocol: None,
            held: (0, 0),
            peer: self.peer.clone(),
            bandwidth: self.bandwidth.clone(),
        }
    }
}

impl<M> StreamMuxer for Muxer<M>
where
    M: StreamMuxer + Unpin,
    M::Substream: Unpin,
{
    type Substream = Substream<M::Substream>;
    type Error = M::Error;

    fn poll_inbound(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        let s = futures::ready!(Pin::new(&mut self.inner).poll_inbound(cx))?;
        Poll::Ready(Ok(self.substream(s, true)))
    }

    fn poll_outbound(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        let s = futures::ready!(Pin::new(&mut self.inner).poll_outbound(cx))?;
        Poll::Ready(Ok(self.substream(s, false)))
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<StreamMuxerEvent, Self::Error>> {
        Pin::new(&mut self.inner).poll(cx)
    }
}

/// A substream counting its bytes per peer and per protocol. See the module docs.
pub struct Substream<S> {
    inner: S,
    /// Until the protocol is known: the watcher and the direction it watches.
    sniffer: Option<(Sniffer, Direction)>,
    /// Index into the protocol meters, once known.
    protocol: Option<usize>,
    /// Bytes (in, out) moved before the protocol was known.
    held: (u64, u64),
    peer: Option<Arc<Meter>>,
    bandwidth: Bandwidth,
}

impl<S> Substream<S> {
    fn count(&mut self, direction: Direction, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let second = self.bandwidth.second(Instant::now());
        let bytes = data.len() as u64;
        if let Some(peer) = &self.peer {
            peer.record(second, direction, bytes);
        }
        if let Some(i) = self.protocol {
            self.bandwidth.0.protocols[i].record(second, direction, bytes);
            return;
        }
        match direction {
            Direction::In => self.held.0 += bytes,
            Direction::Out => self.held.1 += bytes,
        }
        let verdict = match &mut self.sniffer {
            Some((sniffer, watched)) if *watched == direction => sniffer.feed(data),
            _ => None,
        };
        if let Some(verdict) = verdict {
            let i = match verdict {
                Verdict::Known(i) => i,
                Verdict::Other => OTHER,
            };
            self.sniffer = None;
            self.protocol = Some(i);
            self.release(second, i);
        }
    }

    /// Moves the held bytes to protocol meter `i`.
    fn release(&mut self, second: u64, i: usize) {
        let (held_in, held_out) = std::mem::take(&mut self.held);
        let meter = &self.bandwidth.0.protocols[i];
        meter.record(second, Direction::In, held_in);
        meter.record(second, Direction::Out, held_out);
    }
}

impl<S> Drop for Substream<S> {
    fn drop(&mut self) {
        if self.protocol.is_none() && self.held != (0, 0) {
            let second = self.bandwidth.second(Instant::now());
            self.release(second, OTHER);
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Substream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let n = futures::ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        // `n <= buf.len()` by AsyncRead's contract; `get` keeps a broken inner
        // stream from panicking us.
        self.count(Direction::In, buf.get(..n).unwrap_or(&[]));
        Poll::Ready(Ok(n))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Substream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let n = futures::ready!(Pin::new(&mut self.inner).poll_write(cx, buf))?;
        self.count(Direction::Out, buf.get(..n).unwrap_or(&[]));
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::{io::Cursor, AsyncReadExt, AsyncWriteExt};

    /// Reads from a fixed buffer, writes into another.
    struct Duplex {
        read: Cursor<Vec<u8>>,
        written: Vec<u8>,
    }

    impl AsyncRead for Duplex {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.read).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Duplex {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.written.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn msg(s: &[u8]) -> Vec<u8> {
        let mut v = vec![s.len() as u8];
        v.extend_from_slice(s);
        v
    }

    /// A substream over an in-memory buffer, as `Muxer::substream` makes them.
    fn substream(bw: &Bandwidth, peer: PeerId, inbound: bool, data: Vec<u8>) -> Substream<Duplex> {
        let muxer = bw.wrap_muxer(peer, ());
        muxer.substream(
            Duplex {
                read: Cursor::new(data),
                written: Vec::new(),
            },
            inbound,
        )
    }

    #[test]
    fn outbound_substream_counts_into_the_echoed_protocol() {
        let bw = Bandwidth::default();
        let peer = PeerId::random();
        // What the remote listener sends us: header, na, echo, then 100 bytes.
        let mut remote = msg(sniff::HEADER);
        remote.extend(msg(sniff::NA));
        remote.extend(msg(b"/ipfs/bitswap/1.2.0\n"));
        let negotiation = remote.len() as u64;
        remote.extend([7u8; 100]);
        let mut s = substream(&bw, peer, false, remote);
        smol::block_on(async {
            // Our proposals go out before the answer: held until it comes.
            s.write_all(&msg(b"/ipfs/bitswap/1.2.0\n")).await.unwrap();
            let now = Instant::now();
            assert_eq!(bw.protocol("/ipfs/bitswap/1.2.0", now).total_out, 0);
            let mut got = Vec::new();
            // Read in small pieces so the echo is split across reads.
            let mut buf = [0u8; 3];
            loop {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
        });
        let now = Instant::now();
        let b = bw.protocol("/ipfs/bitswap/1.2.0", now);
        assert_eq!(b.total_in, negotiation + 100);
        assert_eq!(b.total_out, 21);
        let p = bw.peer(&peer, now);
        assert_eq!((p.total_in, p.total_out), (b.total_in, b.total_out));
        assert_eq!(bw.protocol("/ipfs/bitswap/1.1.0", now), Stats::default());
        assert_eq!(bw.other_protocols(now), Stats::default());
    }

    #[test]
    fn inbound_substream_watches_our_writes() {
        let bw = Bandwidth::default();
        let peer = PeerId::random();
        let mut dialer = msg(sniff::HEADER);
        dialer.extend(msg(b"/ipfs/id/1.0.0\n"));
        let mut s = substream(&bw, peer, true, dialer.clone());
        smol::block_on(async {
            let mut buf = vec![0u8; dialer.len()];
            s.read_exact(&mut buf).await.unwrap();
            // A dialer's proposal read by us decides nothing.
            assert_eq!(bw.protocol("/ipfs/id/1.0.0", Instant::now()).total_in, 0);
            s.write_all(&msg(sniff::HEADER)).await.unwrap();
            s.write_all(&msg(b"/ipfs/id/1.0.0\n")).await.unwrap();
            s.write_all(b"payload").await.unwrap();
        });
        let id = bw.protocol("/ipfs/id/1.0.0", Instant::now());
        assert_eq!(id.total_in, dialer.len() as u64);
        assert_eq!(id.total_out, 20 + 16 + 7);
    }

    #[test]
    fn undecided_or_untracked_substreams_count_as_other() {
        let bw = Bandwidth::default();
        let peer = PeerId::random();
        let mut s = substream(&bw, peer, true, Vec::new());
        // 'n' reads as a 110-byte message: undecided until the substream drops.
        smol::block_on(s.write_all(b"not multistream at all")).unwrap();
        drop(s);
        let mut t = substream(&bw, peer, true, Vec::new());
        smol::block_on(t.write_all(&msg(sniff::HEADER))).unwrap();
        drop(t); // closed mid-negotiation: held bytes go to other on drop
        let mut u = substream(&bw, peer, true, Vec::new());
        let mut out = msg(sniff::HEADER);
        out.extend(msg(b"/meshsub/1.1.0\n"));
        smol::block_on(u.write_all(&out)).unwrap();
        let now = Instant::now();
        let other = bw.other_protocols(now);
        assert_eq!(other.total_out, 22 + 20 + out.len() as u64);
        // Kubo answers zeros for a protocol it never saw.
        assert_eq!(bw.protocol("/meshsub/1.1.0", now), Stats::default());
        for p in TRACKED_PROTOCOLS {
            assert_eq!(bw.protocol(p, now).total_out, 0);
        }
        assert_eq!(bw.peer(&peer, now).total_out, other.total_out);
    }

    #[test]
    fn peer_table_is_bounded_and_keeps_live_peers() {
        let bw = Bandwidth::new(2);
        let (a, b, c, d) = (
            PeerId::random(),
            PeerId::random(),
            PeerId::random(),
            PeerId::random(),
        );
        let ma = bw.wrap_muxer(a, ());
        let mb = bw.wrap_muxer(b, ());
        // Full of live peers: c is not tracked, a and b stay.
        let mc = bw.wrap_muxer(c, ());
        assert!(mc.peer.is_none());
        assert_eq!(bw.untracked_peers(), 1);
        // a's connection closes: d takes a's entry; b (live) stays.
        let mut s = ma.substream(
            Duplex {
                read: Cursor::new(Vec::new()),
                written: Vec::new(),
            },
            true,
        );
        smol::block_on(s.write_all(b"x")).unwrap();
        drop((s, ma));
        let md = bw.wrap_muxer(d, ());
        assert!(md.peer.is_some());
        let now = Instant::now();
        assert_eq!(bw.peer(&a, now), Stats::default(), "a was evicted");
        assert!(mb.peer.is_some());
        assert_eq!(bw.lock_peers().len(), 2);
        // A second connection to a tracked peer shares its meter.
        let mb2 = bw.wrap_muxer(b, ());
        assert!(Arc::ptr_eq(
            mb.peer.as_ref().unwrap(),
            mb2.peer.as_ref().unwrap()
        ));
    }

    #[test]
    fn totals_come_from_record_total() {
        let bw = Bandwidth::default();
        let now = Instant::now();
        bw.record_total(now, Direction::In, 5);
        bw.record_total(now, Direction::Out, 3);
        assert_eq!((bw.inbound_bytes(), bw.outbound_bytes()), (5, 3));
        let t = bw.total(now);
        assert_eq!((t.total_in, t.total_out), (5, 3));
    }
}
