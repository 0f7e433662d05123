//! A libp2p TCP [`Transport`](libp2p::core::Transport) on `async_io::Async`.
//!
//! **What.** Listens on and dials `/ip4/<addr>/tcp/<port>` and `/ip6/<addr>/tcp/<port>`
//! (a trailing `/p2p/<peer-id>` is accepted and ignored: the swarm appends it when
//! it dials a known peer). The output is a [`TcpStream`], a byte stream that also
//! counts the bytes it moves into a shared [`Bandwidth`] handle.
//!
//! **Why our own.** `libp2p-tcp` dropped its async-io backend after 0.43 and is
//! tokio-only; Acorn runs on one smol thread (see `shared/DESIGN.md`).
//!
//! **Flow.** `listen_on` binds a non-blocking socket (`SO_REUSEADDR`, `IPV6_V6ONLY` on
//! IPv6 so `/ip4/0.0.0.0` and `/ip6/::` can share a port, as Kubo listens) and queues
//! one `NewAddress` per address it is reachable on: the bound address, or for an
//! unspecified address (`0.0.0.0`, `::`) every interface address of that family
//! found by `getifaddrs(3)` (loopback as a fallback). `poll` hands out queued events,
//! then accepts at most [`MAX_ACCEPTS_PER_POLL`] connections per listener per call,
//! round-robin, so a busy listener cannot starve the others. `dial` connects with a
//! fresh ephemeral port, never to one of our own listen addresses (a peer's record
//! listing its loopback address would reach us instead and fail the whole dial).
//! Accepted and dialed sockets get `TCP_NODELAY` (configurable).
//!
//! A wildcard listener re-reads the interface addresses every
//! [`Config::interface_poll_interval`] (an `async_io::Timer`, no thread) and reports
//! the difference: `NewAddress` for addresses that appeared, `AddressExpired` for
//! those gone.
//!
//! **Limits.** The event queue is fed by local calls (`listen_on`,
//! `remove_listener`), at most [`MAX_ADDRESSES_PER_LISTENER`] + 1 entries each, and by
//! interface scans, at most 2 × [`MAX_ADDRESSES_PER_LISTENER`] entries per wildcard
//! listener and interval, so it is bounded by what the caller asks. Accepted connections are not queued here:
//! each one is handed to the swarm at once, whose connection limits decide. `accept`
//! errors caused by the peer or the network (`ECONNABORTED`, `EPROTO`, `EHOSTUNREACH`,
//! `ENETUNREACH`, … — Linux reports a pending connection's network error from
//! `accept(2)`) are skipped and the next connection accepted at once. Running out of
//! resources (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`) and unknown errors are reported
//! and the listener pauses [`ACCEPT_ERROR_BACKOFF`] before trying again, so a full file
//! table cannot turn the executor thread into a busy loop. The `listen(2)` backlog is
//! clamped to `SOMAXCONN`.
//!
//! **Departures from libp2p-tcp.** No port reuse on dial (`PortUse::Reuse` is
//! treated as `New`): outgoing connections come from ephemeral ports, so peers observe
//! a port that is not our listen port (harmless without hole punching). Interface
//! changes are found by polling `getifaddrs(3)`, not by a netlink subscription
//! (`if-watch`): a new address is reported up to one interval late. IPv6 link-local addresses (`fe80::/10`) are not reported, since a
//! multiaddr cannot carry their scope id.

use std::{
    collections::VecDeque,
    future::Future,
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener},
    os::fd::AsRawFd,
    pin::Pin,
    task::{Context, Poll, Waker},
    time::Duration,
};

use async_io::{Async, Timer};

use futures::{future::BoxFuture, FutureExt};

use libp2p::core::{
    multiaddr::Protocol,
    transport::{DialOpts, ListenerId, TransportError, TransportEvent},
    Multiaddr,
};
use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, SockaddrStorage};

mod sockets;
mod stream;

use sockets::*;
pub use stream::TcpStream;

/// Largest number of connections accepted from one listener in one `poll` call before
/// the next listener gets its turn.
pub const MAX_ACCEPTS_PER_POLL: usize = 16;

/// Most addresses reported for one listener on an unspecified address; further
/// interface addresses are logged and skipped.
pub const MAX_ADDRESSES_PER_LISTENER: usize = 16;

/// How long a listener rests after `accept` failed (e.g. `EMFILE`, out of file
/// descriptors) before it accepts again.
pub const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// Tunables of the TCP transport.
#[derive(Debug, Clone)]
pub struct Config {
    /// Set `TCP_NODELAY` on every connection. Default: `true` (libp2p's muxers
    /// batch their own writes; Nagle only adds latency).
    pub nodelay: bool,
    /// Length of the kernel's queue of connections not yet accepted (`listen(2)`
    /// backlog), in connections. Default: 128. Clamped to `SOMAXCONN`; the kernel caps
    /// it at `net.core.somaxconn`.
    pub listen_backlog: u16,
    /// How often a listener on an unspecified address (`0.0.0.0`, `::`) re-reads the
    /// interface addresses (`getifaddrs(3)`) and reports those that appeared
    /// (`NewAddress`) or went away (`AddressExpired`), so identify can tell peers.
    /// `None`: read once at `listen_on`. Cost per wildcard listener and interval: one
    /// `getifaddrs` call (a netlink dump of the interface list, a few KiB allocated
    /// and freed) on the executor thread, driven by an `async_io::Timer` (no thread).
    /// Default: 10 s.
    pub interface_poll_interval: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            nodelay: true,
            listen_backlog: 128,
            interface_poll_interval: Some(Duration::from_secs(10)),
        }
    }
}

/// The byte counters the transport counts raw TCP payload into (including pnet,
/// noise and yamux overhead): see [`crate::bandwidth`].
pub use crate::bandwidth::Bandwidth;

/// The TCP transport. See the module docs.
pub struct Transport {
    config: Config,
    bandwidth: Bandwidth,
    listeners: VecDeque<Listener>,
    /// Events produced by local calls; bounded by those calls (see module docs).
    pending: VecDeque<TransportEvent<ListenerUpgrade, io::Error>>,
    /// Waker of the last `poll`, woken when a local call queues an event.
    waker: Option<Waker>,
}

struct Listener {
    id: ListenerId,
    socket: Async<TcpListener>,
    /// Set after an `accept` error: no accepting until it fires.
    paused: Option<Timer>,
    /// For a listener on an unspecified address with interface polling on.
    watch: Option<Watch>,
}

/// The interface addresses a wildcard listener last reported, and when to look again.
struct Watch {
    ipv6: bool,
    port: u16,
    /// At most [`MAX_ADDRESSES_PER_LISTENER`].
    reported: Vec<SocketAddr>,
    interval: Duration,
    next: Timer,
}

/// What an inbound connection resolves to (it is already accepted).
pub type ListenerUpgrade = futures::future::Ready<Result<TcpStream, io::Error>>;

/// What a dial resolves to.
pub type Dial = BoxFuture<'static, Result<TcpStream, io::Error>>;

impl Transport {
    /// A transport counting its bytes into `bandwidth`.
    pub fn new(config: Config, bandwidth: Bandwidth) -> Self {
        Self {
            config,
            bandwidth,
            listeners: VecDeque::new(),
            pending: VecDeque::new(),
            waker: None,
        }
    }

    /// The byte counters of this transport's streams.
    pub fn bandwidth(&self) -> &Bandwidth {
        &self.bandwidth
    }

    fn wake(&mut self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    /// Whether `target` is an address one of our listeners accepts on: the bound
    /// address, or for a wildcard listener, its port on a loopback or reported
    /// interface address (go-libp2p also never dials its own listen addresses).
    fn is_own_listen_address(&self, target: SocketAddr) -> bool {
        self.listeners.iter().any(|l| {
            let Ok(local) = l.socket.get_ref().local_addr() else {
                return false;
            };
            if local.port() != target.port() || local.is_ipv6() != target.is_ipv6() {
                return false;
            }
            if !local.ip().is_unspecified() {
                return local.ip() == target.ip();
            }
            target.ip().is_loopback()
                || l.watch
                    .as_ref()
                    .is_some_and(|w| w.reported.contains(&target))
        })
    }

    fn wrap(&self, stream: Async<std::net::TcpStream>) -> io::Result<TcpStream> {
        if self.config.nodelay {
            stream.get_ref().set_nodelay(true)?;
        }
        Ok(TcpStream {
            inner: stream,
            bandwidth: self.bandwidth.clone(),
        })
    }
}

/// Turns `/ip4|ip6/<addr>/tcp/<port>[/p2p/<id>]` into a socket address; `None` for
/// anything else.
pub fn multiaddr_to_socketaddr(addr: &Multiaddr) -> Option<SocketAddr> {
    let mut iter = addr.iter();
    let ip: IpAddr = match iter.next()? {
        Protocol::Ip4(ip) => ip.into(),
        Protocol::Ip6(ip) => ip.into(),
        _ => return None,
    };
    let port = match iter.next()? {
        Protocol::Tcp(port) => port,
        _ => return None,
    };
    match iter.next() {
        None | Some(Protocol::P2p(_)) => {}
        Some(_) => return None,
    }
    if iter.next().is_some() {
        return None;
    }
    Some(SocketAddr::new(ip, port))
}

/// `/ip4|ip6/<addr>/tcp/<port>` for a socket address.
pub fn socketaddr_to_multiaddr(addr: SocketAddr) -> Multiaddr {
    Multiaddr::empty()
        .with(Protocol::from(addr.ip()))
        .with(Protocol::Tcp(addr.port()))
}

impl libp2p::core::Transport for Transport {
    type Output = TcpStream;
    type Error = io::Error;
    type ListenerUpgrade = ListenerUpgrade;
    type Dial = Dial;

    fn listen_on(
        &mut self,
        id: ListenerId,
        addr: Multiaddr,
    ) -> Result<(), TransportError<Self::Error>> {
        let Some(socket_addr) = multiaddr_to_socketaddr(&addr) else {
            return Err(TransportError::MultiaddrNotSupported(addr));
        };
        let listener = bind_listener(socket_addr, self.config.listen_backlog)
            .map_err(TransportError::Other)?;
        let local = listener.local_addr().map_err(TransportError::Other)?;
        let socket = Async::new(listener).map_err(TransportError::Other)?;
        let addresses = if local.ip().is_unspecified() {
            interface_addresses(local.is_ipv6(), local.port())
        } else {
            vec![local]
        };
        let watch = match self.config.interface_poll_interval {
            Some(interval) if local.ip().is_unspecified() => Some(Watch {
                ipv6: local.is_ipv6(),
                port: local.port(),
                reported: addresses.clone(),
                interval,
                next: Timer::after(interval),
            }),
            _ => None,
        };
        for address in addresses {
            self.pending.push_back(TransportEvent::NewAddress {
                listener_id: id,
                listen_addr: socketaddr_to_multiaddr(address),
            });
        }
        tracing::debug!(%addr, %local, "listening");
        self.listeners.push_back(Listener {
            id,
            socket,
            paused: None,
            watch,
        });
        self.wake();
        Ok(())
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        let Some(index) = self.listeners.iter().position(|l| l.id == id) else {
            return false;
        };
        // Dropping the listener closes its socket.
        self.listeners.remove(index);
        self.pending.push_back(TransportEvent::ListenerClosed {
            listener_id: id,
            reason: Ok(()),
        });
        self.wake();
        true
    }

    fn dial(
        &mut self,
        addr: Multiaddr,
        _opts: DialOpts,
    ) -> Result<Self::Dial, TransportError<Self::Error>> {
        let socket_addr = match multiaddr_to_socketaddr(&addr) {
            Some(sa) if !sa.ip().is_unspecified() && sa.port() != 0 => sa,
            _ => return Err(TransportError::MultiaddrNotSupported(addr)),
        };
        if self.is_own_listen_address(socket_addr) {
            // A peer's record often lists its loopback address (Kubo announces it):
            // dialled, it reaches us, not the peer, and wins the race against the
            // peer's real addresses, failing the whole dial with a wrong peer id.
            return Err(TransportError::MultiaddrNotSupported(addr));
        }
        let nodelay = self.config.nodelay;
        let bandwidth = self.bandwidth.clone();
        Ok(async move {
            let stream = Async::<std::net::TcpStream>::connect(socket_addr).await?;
            if nodelay {
                stream.get_ref().set_nodelay(true)?;
            }
            Ok(TcpStream {
                inner: stream,
                bandwidth,
            })
        }
        .boxed())
    }

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        let this = &mut *self;
        if let Some(event) = this.pending.pop_front() {
            return Poll::Ready(event);
        }
        this.waker = Some(cx.waker().clone());
        // Interface changes of wildcard listeners, at most one scan per interval.
        for listener in this.listeners.iter_mut() {
            let id = listener.id;
            if let Some(watch) = listener.watch.as_mut() {
                if Pin::new(&mut watch.next).poll(cx).is_ready() {
                    let now = interface_addresses(watch.ipv6, watch.port);
                    let (added, removed) = address_changes(&watch.reported, &now);
                    for address in removed {
                        tracing::debug!(%address, "interface address gone");
                        this.pending.push_back(TransportEvent::AddressExpired {
                            listener_id: id,
                            listen_addr: socketaddr_to_multiaddr(address),
                        });
                    }
                    for address in added {
                        tracing::debug!(%address, "new interface address");
                        this.pending.push_back(TransportEvent::NewAddress {
                            listener_id: id,
                            listen_addr: socketaddr_to_multiaddr(address),
                        });
                    }
                    watch.reported = now;
                    watch.next = Timer::after(watch.interval);
                    // Registers the waker for the next scan.
                    let _ = Pin::new(&mut watch.next).poll(cx);
                }
            }
        }
        if let Some(event) = this.pending.pop_front() {
            return Poll::Ready(event);
        }
        // Round-robin: each listener gets up to MAX_ACCEPTS_PER_POLL turns, then is
        // moved to the back.
        for _ in 0..this.listeners.len() {
            let Some(mut listener) = this.listeners.pop_front() else {
                break;
            };
            let listener_id = listener.id;
            let event = poll_listener(&mut listener, cx);
            this.listeners.push_back(listener);
            match event {
                Some(Ok((stream, remote))) => {
                    let wrapped = stream
                        .get_ref()
                        .local_addr()
                        .and_then(|local| Ok((local, this.wrap(stream)?)));
                    match wrapped {
                        Ok((local, stream)) => {
                            return Poll::Ready(TransportEvent::Incoming {
                                listener_id,
                                upgrade: futures::future::ready(Ok(stream)),
                                local_addr: socketaddr_to_multiaddr(local),
                                send_back_addr: socketaddr_to_multiaddr(remote),
                            });
                        }
                        Err(error) => {
                            tracing::debug!(%error, %remote, "dropping accepted connection");
                            // More connections may wait in the backlog, and nothing
                            // registered a waker for them: come back.
                            cx.waker().wake_by_ref();
                        }
                    }
                }
                Some(Err(error)) => {
                    return Poll::Ready(TransportEvent::ListenerError { listener_id, error });
                }
                None => {}
            }
        }
        Poll::Pending
    }
}

type Accepted = (Async<std::net::TcpStream>, SocketAddr);

/// One accepted connection, an accept error, or `None` when the listener has nothing
/// (its waker is registered) or has had its turns.
fn poll_listener(listener: &mut Listener, cx: &mut Context<'_>) -> Option<io::Result<Accepted>> {
    if let Some(timer) = listener.paused.as_mut() {
        if Pin::new(timer).poll(cx).is_pending() {
            return None;
        }
        listener.paused = None;
    }
    for _ in 0..MAX_ACCEPTS_PER_POLL {
        match listener.socket.get_ref().accept() {
            Ok((stream, remote)) => {
                return match Async::new(stream) {
                    Ok(stream) => Some(Ok((stream, remote))),
                    Err(error) => Some(Err(error)),
                };
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                match listener.socket.poll_readable(cx) {
                    Poll::Ready(Ok(())) => continue,
                    Poll::Ready(Err(error)) => return Some(Err(error)),
                    Poll::Pending => return None,
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if accept_error_is_transient(&e) => {
                tracing::trace!(error = %e, "accept: connection failed before accept, skipped");
                continue;
            }
            Err(error) => {
                let mut timer = Timer::after(ACCEPT_ERROR_BACKOFF);
                // Register the waker now so the listener is polled again.
                let _ = Pin::new(&mut timer).poll(cx);
                listener.paused = Some(timer);
                return Some(Err(error));
            }
        }
    }
    // Had its turns; make sure we come back.
    cx.waker().wake_by_ref();
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};

    use libp2p::core::{transport::PortUse, Endpoint, Transport as _};

    fn dial_opts() -> DialOpts {
        DialOpts {
            role: Endpoint::Dialer,
            port_use: PortUse::New,
        }
    }

    /// Next event of the transport, as a future.
    async fn next_event(transport: &mut Transport) -> TransportEvent<ListenerUpgrade, io::Error> {
        futures::future::poll_fn(|cx| Pin::new(&mut *transport).poll(cx)).await
    }

    #[test]
    fn listen_dial_echo_and_count() {
        smol::block_on(async {
            let bandwidth = Bandwidth::default();
            let mut listener = Transport::new(Config::default(), bandwidth.clone());
            let id = ListenerId::next();
            listener
                .listen_on(id, "/ip4/127.0.0.1/tcp/0".parse().unwrap())
                .unwrap();
            let addr = match next_event(&mut listener).await {
                TransportEvent::NewAddress {
                    listener_id,
                    listen_addr,
                } => {
                    assert_eq!(listener_id, id);
                    listen_addr
                }
                _ => panic!("expected NewAddress"),
            };
            let port = match multiaddr_to_socketaddr(&addr) {
                Some(sa) => sa.port(),
                None => panic!("bad listen address {addr}"),
            };
            assert_ne!(port, 0, "the real port is reported, not 0");

            let mut dialer = Transport::new(Config::default(), Bandwidth::default());
            let dial = dialer.dial(addr.clone(), dial_opts()).unwrap();
            let server = async {
                match next_event(&mut listener).await {
                    TransportEvent::Incoming {
                        upgrade,
                        local_addr,
                        ..
                    } => {
                        assert_eq!(local_addr, addr);
                        let mut stream = upgrade.await.unwrap();
                        assert!(stream.get_ref().nodelay().unwrap());
                        let mut buf = [0u8; 5];
                        stream.read_exact(&mut buf).await.unwrap();
                        stream.write_all(&buf).await.unwrap();
                        stream.flush().await.unwrap();
                    }
                    _ => panic!("expected Incoming"),
                }
            };
            let client = async {
                let mut stream = dial.await.unwrap();
                stream.write_all(b"hello").await.unwrap();
                let mut buf = [0u8; 5];
                stream.read_exact(&mut buf).await.unwrap();
                buf
            };
            let ((), echoed) = futures::join!(server, client);
            assert_eq!(&echoed, b"hello");
            assert_eq!(bandwidth.inbound_bytes(), 5);
            assert_eq!(bandwidth.outbound_bytes(), 5);
        });
    }

    /// A record listing a peer's loopback address is the common case: in another
    /// network namespace (or host) that address is ours, and a dial to it would reach
    /// us and fail the whole dial. Our own listen addresses are never dialled; other
    /// ports on loopback still are.
    #[test]
    fn own_listen_addresses_are_not_dialled() {
        smol::block_on(async {
            let mut t = Transport::new(Config::default(), Bandwidth::default());
            t.listen_on(ListenerId::next(), "/ip4/0.0.0.0/tcp/0".parse().unwrap())
                .unwrap();
            let own = match next_event(&mut t).await {
                TransportEvent::NewAddress { listen_addr, .. } => listen_addr,
                _ => panic!("expected NewAddress"),
            };
            let port = multiaddr_to_socketaddr(&own).unwrap().port();
            let loopback: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap();
            for addr in [own, loopback] {
                assert!(
                    matches!(
                        t.dial(addr.clone(), dial_opts()),
                        Err(TransportError::MultiaddrNotSupported(_))
                    ),
                    "{addr} is ours"
                );
            }
            let mut other = Transport::new(Config::default(), Bandwidth::default());
            other
                .listen_on(ListenerId::next(), "/ip4/127.0.0.1/tcp/0".parse().unwrap())
                .unwrap();
            let theirs = match next_event(&mut other).await {
                TransportEvent::NewAddress { listen_addr, .. } => listen_addr,
                _ => panic!("expected NewAddress"),
            };
            t.dial(theirs, dial_opts())
                .unwrap()
                .await
                .expect("another port on loopback is dialled");
        });
    }

    #[test]
    fn ipv6_loopback_listen_and_dial() {
        smol::block_on(async {
            let mut listener = Transport::new(Config::default(), Bandwidth::default());
            // Hosts without IPv6 cannot run this test meaningfully; they fail to bind.
            if listener
                .listen_on(ListenerId::next(), "/ip6/::1/tcp/0".parse().unwrap())
                .is_err()
            {
                assert!(std::net::TcpListener::bind("[::1]:0").is_err());
                return;
            }
            let TransportEvent::NewAddress { listen_addr, .. } = next_event(&mut listener).await
            else {
                panic!("expected NewAddress");
            };
            assert!(listen_addr.to_string().starts_with("/ip6/::1/tcp/"));
            let mut dialer = Transport::new(Config::default(), Bandwidth::default());
            let dial = dialer.dial(listen_addr, dial_opts()).unwrap();
            let (stream, event) = futures::join!(dial, next_event(&mut listener));
            assert!(stream.is_ok());
            assert!(matches!(event, TransportEvent::Incoming { .. }));
        });
    }

    #[test]
    fn unspecified_address_reports_interfaces() {
        smol::block_on(async {
            let mut listener = Transport::new(Config::default(), Bandwidth::default());
            let id = ListenerId::next();
            listener
                .listen_on(id, "/ip4/0.0.0.0/tcp/0".parse().unwrap())
                .unwrap();
            let mut addrs = Vec::new();
            while let Some(event) = listener.pending.pop_front() {
                match event {
                    TransportEvent::NewAddress { listen_addr, .. } => addrs.push(listen_addr),
                    _ => panic!("expected only NewAddress"),
                }
            }
            assert!(!addrs.is_empty());
            for addr in &addrs {
                let sa = multiaddr_to_socketaddr(addr).unwrap();
                assert!(sa.is_ipv4() && !sa.ip().is_unspecified() && sa.port() != 0);
            }
            assert!(
                addrs
                    .iter()
                    .any(|a| a.to_string().starts_with("/ip4/127.0.0.1/tcp/")),
                "loopback among {addrs:?}"
            );
            // Every reported address is dialable.
            let mut dialer = Transport::new(Config::default(), Bandwidth::default());
            let dial = dialer.dial(addrs[0].clone(), dial_opts()).unwrap();
            let (stream, event) = futures::join!(dial, next_event(&mut listener));
            assert!(stream.is_ok());
            assert!(matches!(event, TransportEvent::Incoming { .. }));
        });
    }

    #[test]
    fn ip4_and_ip6_unspecified_share_a_port() {
        let mut transport = Transport::new(Config::default(), Bandwidth::default());
        transport
            .listen_on(ListenerId::next(), "/ip4/0.0.0.0/tcp/0".parse().unwrap())
            .unwrap();
        let port = transport.listeners[0]
            .socket
            .get_ref()
            .local_addr()
            .unwrap()
            .port();
        if std::net::TcpListener::bind("[::1]:0").is_err() {
            return; // no IPv6 on this host
        }
        let addr: Multiaddr = format!("/ip6/::/tcp/{port}").parse().unwrap();
        transport.listen_on(ListenerId::next(), addr).unwrap();
    }

    #[test]
    fn bad_multiaddrs_are_rejected() {
        let mut transport = Transport::new(Config::default(), Bandwidth::default());
        for bad in [
            "/ip4/127.0.0.1/udp/4001",
            "/ip4/127.0.0.1/udp/4001/quic-v1",
            "/dns4/example.com/tcp/4001",
            "/ip4/127.0.0.1",
            "/tcp/4001",
            "/ip4/127.0.0.1/tcp/4001/ws",
            "/memory/5",
            "/ip4/1.2.3.4/tcp/1/tcp/2",
        ] {
            let addr: Multiaddr = bad.parse().unwrap();
            assert!(
                matches!(
                    transport.listen_on(ListenerId::next(), addr.clone()),
                    Err(TransportError::MultiaddrNotSupported(a)) if a == addr
                ),
                "listen on {bad}"
            );
            assert!(
                matches!(
                    transport.dial(addr.clone(), dial_opts()),
                    Err(TransportError::MultiaddrNotSupported(a)) if a == addr
                ),
                "dial {bad}"
            );
        }
        // Unspecified or zero-port targets cannot be dialled.
        for bad in [
            "/ip4/0.0.0.0/tcp/4001",
            "/ip4/127.0.0.1/tcp/0",
            "/ip6/::/tcp/1",
        ] {
            let addr: Multiaddr = bad.parse().unwrap();
            assert!(
                matches!(
                    transport.dial(addr, dial_opts()),
                    Err(TransportError::MultiaddrNotSupported(_))
                ),
                "dial {bad}"
            );
        }
        assert!(transport.listeners.is_empty());
    }

    #[test]
    fn trailing_p2p_is_accepted() {
        let peer = libp2p::identity::PeerId::random();
        let addr: Multiaddr = format!("/ip4/10.0.0.1/tcp/4001/p2p/{peer}")
            .parse()
            .unwrap();
        assert_eq!(
            multiaddr_to_socketaddr(&addr),
            Some("10.0.0.1:4001".parse().unwrap())
        );
    }

    #[test]
    fn dial_refused_is_an_error() {
        smol::block_on(async {
            // Bind then drop to find a port nobody listens on.
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut transport = Transport::new(Config::default(), Bandwidth::default());
            let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap();
            let err = transport
                .dial(addr, dial_opts())
                .unwrap()
                .await
                .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        });
    }

    #[test]
    fn remove_listener_closes_socket() {
        smol::block_on(async {
            let mut transport = Transport::new(Config::default(), Bandwidth::default());
            let id = ListenerId::next();
            transport
                .listen_on(id, "/ip4/127.0.0.1/tcp/0".parse().unwrap())
                .unwrap();
            let TransportEvent::NewAddress { listen_addr, .. } = next_event(&mut transport).await
            else {
                panic!("expected NewAddress");
            };
            assert!(transport.remove_listener(id));
            assert!(!transport.remove_listener(id), "only once");
            match next_event(&mut transport).await {
                TransportEvent::ListenerClosed {
                    listener_id,
                    reason: Ok(()),
                } => assert_eq!(listener_id, id),
                _ => panic!("expected ListenerClosed"),
            }
            let sa = multiaddr_to_socketaddr(&listen_addr).unwrap();
            assert!(std::net::TcpStream::connect(sa).is_err(), "socket closed");
            // The transport is still usable as a stream of events (nothing pending).
            let next = futures::stream::poll_fn(|cx| Pin::new(&mut transport).poll(cx).map(Some));
            futures::pin_mut!(next);
            assert!(futures::poll!(next.next()).is_pending());
        });
    }
}
