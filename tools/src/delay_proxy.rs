//! A TCP proxy on loopback that delays bytes by a fixed time each way, and
//! optionally limits their rate: a link with a round trip for benchmarks, where the
//! kernel has no `netem`.
//!
//! **Flow.** [`DelayProxy::start`] listens on `127.0.0.1:0`; each accepted
//! connection is paired with a new connection to the target. Per direction, one
//! thread reads whatever arrives (up to [`CHUNK_BYTES`] at a time), stamps it with
//! the time it may leave (arrival + `delay`), and queues it; another thread writes
//! each chunk once its time has come, paced to `rate` bytes per second when one is
//! set. A round trip through the proxy so costs 2 × `delay` on top of loopback. An
//! end of stream is passed on (as a write shutdown) after the same delay.
//!
//! **Limits.** Each direction of a connection queues at most [`QUEUE_CHUNKS`]
//! chunks (64 MiB); a full queue stops the reader, so TCP pushes back on the
//! sender. That caps a direction at 64 MiB per `delay` (640 MiB/s at 100 ms), far
//! above what the benchmarks reach. Only loopback targets are accepted.
//!
//! **Departures from a real link.** The proxy reads as fast as its side sends, so
//! the sender's TCP never sees the round trip (no slow start over the delay, no
//! loss); what the delay does to the protocols above TCP (request → answer round
//! trips, flow-control windows of multiplexers) is what it models.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Most bytes read (and so queued) at once.
pub const CHUNK_BYTES: usize = 64 << 10;

/// Chunks queued per direction of a connection before its reader stops.
pub const QUEUE_CHUNKS: usize = 1024;

/// The link a proxy emulates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Link {
    /// Added one way (the round trip grows by twice this).
    pub delay: Duration,
    /// Bytes per second each way; `None`: as fast as loopback.
    pub rate_bytes_per_s: Option<u64>,
}

/// A running proxy; stops (closing every connection it carries) on drop.
pub struct DelayProxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl DelayProxy {
    /// Listens on a free loopback port and forwards every connection to `target`
    /// (a loopback address) over `link`.
    pub fn start(target: SocketAddr, link: Link) -> std::io::Result<DelayProxy> {
        if !target.ip().is_loopback() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("delay proxy: target {target} is not a loopback address"),
            ));
        }
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let (s, c) = (stop.clone(), conns.clone());
        thread::Builder::new()
            .name("delay-proxy".into())
            .spawn(move || accept_loop(listener, target, link, s, c))?;
        Ok(DelayProxy { addr, stop, conns })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees `stop`.
        let _ = TcpStream::connect(self.addr);
        if let Ok(conns) = self.conns.lock() {
            for c in conns.iter() {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    link: Link,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
) {
    for client in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let Ok(server) = TcpStream::connect(target) else {
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        if let (Ok(mut list), Ok(a), Ok(b)) = (conns.lock(), client.try_clone(), server.try_clone())
        {
            list.push(a);
            list.push(b);
        }
        for (from, to) in [(&client, &server), (&server, &client)] {
            let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) else {
                continue;
            };
            let (tx, rx) = sync_channel(QUEUE_CHUNKS);
            let _ = thread::Builder::new()
                .name("delay-proxy-rd".into())
                .spawn(move || read_side(from, tx, link.delay));
            let _ = thread::Builder::new()
                .name("delay-proxy-wr".into())
                .spawn(move || write_side(to, rx, link.rate_bytes_per_s));
        }
    }
}

/// A chunk and when it may leave; an empty chunk is the end of the stream.
type Stamped = (Instant, Vec<u8>);

fn read_side(mut from: TcpStream, tx: SyncSender<Stamped>, delay: Duration) {
    let mut buf = vec![0u8; CHUNK_BYTES];
    loop {
        let n = from.read(&mut buf).unwrap_or(0);
        let due = Instant::now() + delay;
        if tx.send((due, buf[..n].to_vec())).is_err() || n == 0 {
            return;
        }
    }
}

fn write_side(mut to: TcpStream, rx: Receiver<Stamped>, rate: Option<u64>) {
    // With a rate: when the link is free again (no bursts after an idle spell).
    let mut free_at = Instant::now();
    while let Ok((due, chunk)) = rx.recv() {
        let now = Instant::now();
        if due > now {
            thread::sleep(due - now);
        }
        if chunk.is_empty() {
            let _ = to.shutdown(Shutdown::Write);
            return;
        }
        if let Some(r) = rate.filter(|r| *r > 0) {
            let now = Instant::now();
            if free_at > now {
                thread::sleep(free_at - now);
            }
            free_at = free_at.max(now) + Duration::from_secs_f64(chunk.len() as f64 / r as f64);
        }
        if to.write_all(&chunk).is_err() {
            let _ = to.shutdown(Shutdown::Both);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on loopback; returns its address.
    fn echo() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        thread::spawn(move || {
            for s in l.incoming() {
                let mut s = s.unwrap();
                thread::spawn(move || {
                    let mut r = s.try_clone().unwrap();
                    let _ = std::io::copy(&mut r, &mut s);
                    let _ = s.shutdown(Shutdown::Write);
                });
            }
        });
        addr
    }

    #[test]
    fn bytes_come_back_unchanged_and_a_round_trip_takes_at_least_twice_the_delay() {
        let link = Link {
            delay: Duration::from_millis(40),
            rate_bytes_per_s: None,
        };
        let p = DelayProxy::start(echo(), link).unwrap();
        let mut c = TcpStream::connect(p.addr()).unwrap();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7) as u8).collect();
        let t = Instant::now();
        c.write_all(&data).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        c.read_to_end(&mut back).unwrap();
        assert!(t.elapsed() >= Duration::from_millis(80));
        assert_eq!(back, data);
    }

    #[test]
    fn a_rate_limit_paces_the_bytes() {
        let link = Link {
            delay: Duration::ZERO,
            rate_bytes_per_s: Some(1 << 20),
        };
        let p = DelayProxy::start(echo(), link).unwrap();
        let mut c = TcpStream::connect(p.addr()).unwrap();
        let data = vec![5u8; 512 << 10];
        let t = Instant::now();
        c.write_all(&data).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        c.read_to_end(&mut back).unwrap();
        // 512 KiB at 1 MiB/s, paced on the way there and on the way back: the
        // last chunk of each way leaves no sooner than (512 - 64) KiB / 1 MiB/s.
        assert!(t.elapsed() >= Duration::from_millis(430));
        assert_eq!(back.len(), data.len());
    }

    #[test]
    fn only_loopback_targets_are_accepted() {
        let far: SocketAddr = "192.0.2.1:4001".parse().unwrap();
        assert!(DelayProxy::start(far, Link::default()).is_err());
    }
}
