//! Resolving `/dns`, `/dns4` and `/dns6` multiaddrs into `/ip4` and `/ip6` ones.
//!
//! **What.** libp2p-dns is tokio-only, so the swarm's transport only understands IP
//! addresses; names (bootstrap peers, `swarm connect /dns4/...`) are resolved here
//! before dialling. [`resolve`] replaces the leading name component and keeps the
//! rest (`/tcp/4001/p2p/...`) as it was.
//!
//! **Spec.** <https://github.com/multiformats/multiaddr/blob/master/protocols/DNS.md>:
//! `/dns4` yields IPv4 addresses only, `/dns6` IPv6 only, `/dns` both.
//!
//! **Flow.** The lookup is the system resolver (`getaddrinfo(3)` through std's
//! `ToSocketAddrs`), which blocks; it runs on the `blocking` crate's pool via
//! `smol::unblock`, so the executor thread never waits on it. That pool is bounded by
//! the `BLOCKING_MAX_THREADS` environment variable, which the daemon sets (see
//! `shared/DESIGN.md`). A lookup cannot be cancelled: dropping the future leaves the
//! pool thread to finish it.
//!
//! `/dnsaddr/<name>` (<https://github.com/multiformats/multiaddr/blob/master/protocols/DNSADDR.md>)
//! needs TXT records, which the system resolver API does not offer, so [`Resolver`]
//! asks the nameservers of `/etc/resolv.conf` itself: one UDP query per name
//! (`_dnsaddr.<name>`, TXT, recursion desired; [`wire`] encodes and parses; the
//! lookup is the sans-IO [`TxtQuery`], stepped by `(now, datagram)`, around which
//! [`Resolver::txt`] is a thin socket loop), each
//! `dnsaddr=<multiaddr>` record is queued and resolved in turn (it may be another
//! `/dnsaddr` or a `/dns4`), and a trailing `/p2p/<id>` on the input keeps only the
//! records for that peer. Only addresses our TCP transport can dial are returned
//! from a `/dnsaddr` (QUIC, WebSocket and WebTransport records are dropped).
//!
//! **Limits.** At most [`MAX_RESULTS`] addresses per name are returned; a name
//! longer than [`MAX_NAME_BYTES`] is refused without a lookup. A `/dnsaddr`
//! resolution makes at most [`MAX_LOOKUPS`] lookups, follows at most
//! [`MAX_DNSADDR_DEPTH`] levels, keeps at most [`MAX_PENDING`] queued records and
//! returns at most [`MAX_DNSADDR_RESULTS`] addresses. Each UDP query waits
//! [`Resolver::query_timeout`] per nameserver, and at most [`MAX_NAMESERVERS`] are
//! tried.
//!
//! **Departures.** No TCP fallback for truncated answers, no EDNS, no DNSSEC, no
//! caching; the query id comes from std's `RandomState` (not a CSPRNG), the source
//! port from the kernel. `/dnsaddr` results are not cached between calls.

pub mod query;
pub mod wire;

use std::{
    collections::VecDeque,
    hash::BuildHasher,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket},
    time::{Duration, Instant},
};

use async_io::{Async, Timer};
use libp2p::{multiaddr::Protocol, Multiaddr, PeerId};

use crate::transport::tcp::multiaddr_to_socketaddr;
pub use query::TxtQuery;

/// Most nameservers taken from `resolv.conf` (glibc's `MAXNS`).
pub const MAX_NAMESERVERS: usize = 3;

/// Default time one UDP query waits for its answer, per nameserver.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(3);

/// Most DNS lookups (TXT or address) one `/dnsaddr` resolution makes.
pub const MAX_LOOKUPS: usize = 32;

/// Most nested `/dnsaddr` levels followed (bootstrap.libp2p.io uses 2).
pub const MAX_DNSADDR_DEPTH: usize = 4;

/// Most records waiting to be resolved during one `/dnsaddr` resolution.
pub const MAX_PENDING: usize = 64;

/// Most addresses one `/dnsaddr` resolution returns.
pub const MAX_DNSADDR_RESULTS: usize = 32;

/// Most addresses returned for one name.
pub const MAX_RESULTS: usize = 8;

/// Longest DNS name accepted (RFC 1035: 253 characters in text form).
pub const MAX_NAME_BYTES: usize = 253;

/// Why a multiaddr could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Every address the name resolves to is of a kind we cannot dial.
    #[error("{addr} resolves to no address Acorn can dial")]
    NoDialableAddress {
        /// The multiaddr.
        addr: Multiaddr,
    },
    /// A nameserver's answer could not be used.
    #[error("DNS query for {name}: {source}")]
    Wire {
        /// The name looked up.
        name: String,
        /// Why the answer was refused.
        #[source]
        source: wire::WireError,
    },
    /// No nameserver answered in time.
    #[error("DNS query for {name}: no answer from any nameserver within {timeout:?}")]
    Timeout {
        /// The name looked up.
        name: String,
        /// How long we waited.
        timeout: Duration,
    },
    /// The UDP socket failed.
    #[error("DNS query for {name}: {source}")]
    Socket {
        /// The name looked up.
        name: String,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// A name over [`MAX_NAME_BYTES`].
    #[error("DNS name is longer than {MAX_NAME_BYTES} bytes")]
    NameTooLong,
    /// The system resolver (`/dns4`, `/dns6`) failed.
    #[error("cannot resolve {name}: {source}")]
    Lookup {
        /// The name looked up.
        name: String,
        /// The resolver's error.
        #[source]
        source: std::io::Error,
    },
    /// The name has no address of the asked family.
    #[error("{name} has no {family} address")]
    NoAddress {
        /// The name.
        name: String,
        /// `IPv4` or `IPv6`.
        family: &'static str,
    },
}

/// Does `addr` start with a name that [`resolve`] looks up?
pub fn is_dns(addr: &Multiaddr) -> bool {
    matches!(
        addr.iter().next(),
        Some(Protocol::Dns(_) | Protocol::Dns4(_) | Protocol::Dns6(_) | Protocol::Dnsaddr(_))
    )
}

/// Which addresses a name component admits.
#[derive(Clone, Copy)]
enum Family {
    Any,
    V4,
    V6,
}

impl Family {
    fn admits(self, ip: &IpAddr) -> bool {
        match self {
            Family::Any => true,
            Family::V4 => ip.is_ipv4(),
            Family::V6 => ip.is_ipv6(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Family::Any => "IP",
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }
}

/// Resolves `addr` with the system's nameservers ([`Resolver::system`]). See
/// [`Resolver::resolve`].
pub async fn resolve(addr: &Multiaddr) -> Result<Vec<Multiaddr>, Error> {
    Resolver::system().resolve(addr).await
}

/// Resolves a leading `/dns`, `/dns4` or `/dns6` into up to [`MAX_RESULTS`]
/// `/ip4`/`/ip6` addresses with the same remaining components. Any other address is
/// returned unchanged (one element).
async fn resolve_name(addr: &Multiaddr) -> Result<Vec<Multiaddr>, Error> {
    let mut iter = addr.iter();
    let (name, family) = match iter.next() {
        Some(Protocol::Dns(name)) => (name, Family::Any),
        Some(Protocol::Dns4(name)) => (name, Family::V4),
        Some(Protocol::Dns6(name)) => (name, Family::V6),
        _ => return Ok(vec![addr.clone()]),
    };
    if name.len() > MAX_NAME_BYTES {
        return Err(Error::NameTooLong);
    }
    let rest: Vec<Protocol<'static>> = iter.map(|p| p.acquire()).collect();
    let name = name.into_owned();
    let lookup_name = name.clone();
    // Port 0: we only want the addresses; the port (if any) stays in `rest`.
    let ips = smol::unblock(move || {
        (lookup_name.as_str(), 0u16)
            .to_socket_addrs()
            .map(|addrs| addrs.map(|sa| sa.ip()).collect::<Vec<_>>())
    })
    .await
    .map_err(|source| Error::Lookup {
        name: name.clone(),
        source,
    })?;
    let out = select(&ips, family, &rest);
    if out.is_empty() {
        return Err(Error::NoAddress {
            name,
            family: family.name(),
        });
    }
    Ok(out)
}

/// Where TXT queries go, and how long each waits.
#[derive(Debug, Clone)]
pub struct Resolver {
    nameservers: Vec<SocketAddr>,
    /// Time one UDP query waits for its answer, per nameserver. Default:
    /// [`QUERY_TIMEOUT`].
    pub query_timeout: Duration,
}

impl Resolver {
    /// The nameservers of `/etc/resolv.conf` (at most [`MAX_NAMESERVERS`]), or
    /// `127.0.0.1:53` when it lists none. Reads a small local file: call it once at
    /// start-up, not per lookup.
    pub fn system() -> Self {
        let conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        Self::with_nameservers(parse_resolv_conf(&conf))
    }

    /// Queries go to `nameservers` (at most [`MAX_NAMESERVERS`] are kept; none means
    /// `127.0.0.1:53`).
    pub fn with_nameservers(nameservers: impl IntoIterator<Item = SocketAddr>) -> Self {
        let mut nameservers: Vec<SocketAddr> =
            nameservers.into_iter().take(MAX_NAMESERVERS).collect();
        if nameservers.is_empty() {
            nameservers.push(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 53));
        }
        Self {
            nameservers,
            query_timeout: QUERY_TIMEOUT,
        }
    }

    /// The nameservers in use.
    pub fn nameservers(&self) -> &[SocketAddr] {
        &self.nameservers
    }

    /// The TXT records of `name` (empty if the name does not exist), from the first
    /// nameserver that answers.
    pub async fn txt(&self, name: &str) -> Result<Vec<Vec<u8>>, Error> {
        let id = std::collections::hash_map::RandomState::new().hash_one(name) as u16;
        let mut q = TxtQuery::new(name, id, &self.nameservers, self.query_timeout)?;
        loop {
            if let Some(r) = q.poll_result() {
                return r;
            }
            let Some((server, datagram)) = q.poll_transmit(Instant::now()) else {
                // Not reached: a query that awaits nobody has either a result or a
                // nameserver left to ask.
                return Err(Error::Timeout {
                    name: name.to_owned(),
                    timeout: self.query_timeout,
                });
            };
            let datagram = datagram.to_vec();
            ask(&mut q, server, &datagram).await;
        }
    }

    /// Resolves `addr`: `/dns`, `/dns4`, `/dns6` as [the module docs](self) say,
    /// `/dnsaddr` through TXT records into addresses our TCP transport can dial; any
    /// other address is returned unchanged.
    pub async fn resolve(&self, addr: &Multiaddr) -> Result<Vec<Multiaddr>, Error> {
        if !matches!(addr.iter().next(), Some(Protocol::Dnsaddr(_))) {
            return resolve_name(addr).await;
        }
        let mut pending: VecDeque<(Multiaddr, usize)> = VecDeque::from([(addr.clone(), 0)]);
        let mut out: Vec<Multiaddr> = Vec::new();
        let mut lookups = 0;
        let mut last_error = None;
        while let Some((next, depth)) = pending.pop_front() {
            if out.len() >= MAX_DNSADDR_RESULTS || lookups == MAX_LOOKUPS {
                break;
            }
            match next.iter().next() {
                Some(Protocol::Dnsaddr(name)) => {
                    if depth == MAX_DNSADDR_DEPTH {
                        tracing::debug!(%next, "dnsaddr nested too deep; skipped");
                        continue;
                    }
                    lookups += 1;
                    let records = match self.txt(&format!("_dnsaddr.{name}")).await {
                        Ok(records) => records,
                        Err(error) => {
                            last_error = Some(error);
                            continue;
                        }
                    };
                    let wanted = peer_of(&next);
                    for record in records {
                        let Some(found) = parse_dnsaddr_record(&record) else {
                            continue;
                        };
                        if wanted.is_some() && peer_of(&found) != wanted {
                            continue;
                        }
                        if pending.len() == MAX_PENDING {
                            tracing::debug!(%found, "too many dnsaddr records; skipped");
                            continue;
                        }
                        pending.push_back((found, depth + 1));
                    }
                }
                Some(Protocol::Dns(_) | Protocol::Dns4(_) | Protocol::Dns6(_)) => {
                    lookups += 1;
                    match resolve_name(&next).await {
                        Ok(addrs) => out.extend(addrs.into_iter().filter(dialable)),
                        Err(error) => last_error = Some(error),
                    }
                }
                _ if dialable(&next) => out.push(next),
                _ => {}
            }
        }
        let mut unique: Vec<Multiaddr> = Vec::with_capacity(out.len());
        for addr in out {
            if !unique.contains(&addr) {
                unique.push(addr);
            }
        }
        let mut out = unique;
        out.truncate(MAX_DNSADDR_RESULTS);
        if out.is_empty() {
            return Err(last_error.unwrap_or(Error::NoDialableAddress { addr: addr.clone() }));
        }
        Ok(out)
    }
}

/// Can our TCP transport dial `addr`?
fn dialable(addr: &Multiaddr) -> bool {
    multiaddr_to_socketaddr(addr).is_some()
}

/// The peer id of a trailing `/p2p/<id>`.
fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    match addr.iter().last() {
        Some(Protocol::P2p(peer)) => Some(peer),
        _ => None,
    }
}

/// `dnsaddr=<multiaddr>` → the multiaddr; anything else → `None`.
fn parse_dnsaddr_record(record: &[u8]) -> Option<Multiaddr> {
    let text = std::str::from_utf8(record).ok()?;
    crate::peer::parse_multiaddr(text.strip_prefix("dnsaddr=")?).ok()
}

/// `nameserver <ip>` lines of a `resolv.conf`, port 53.
fn parse_resolv_conf(conf: &str) -> Vec<SocketAddr> {
    conf.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            match (words.next(), words.next()) {
                (Some("nameserver"), Some(ip)) => {
                    // Drop an IPv6 zone (`fe80::1%eth0`); std cannot parse it.
                    let ip = ip.split('%').next().unwrap_or(ip);
                    ip.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53))
                }
                _ => None,
            }
        })
        .take(MAX_NAMESERVERS)
        .collect()
}

/// Sends `datagram` to `server` from a fresh UDP socket connected to it (so the
/// kernel drops datagrams from anyone else) and feeds `q` what comes back, until it
/// stops waiting for that server.
async fn ask(q: &mut TxtQuery, server: SocketAddr, datagram: &[u8]) {
    let local: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = async {
        let socket = Async::<UdpSocket>::bind(local)?;
        socket.get_ref().connect(server)?;
        socket.send(datagram).await?;
        Ok::<_, std::io::Error>(socket)
    };
    let socket = match socket.await {
        Ok(socket) => socket,
        Err(e) => return q.on_socket_error(e),
    };
    let mut buf = [0u8; wire::MAX_MESSAGE_BYTES];
    while let Some(deadline) = q.poll_timeout() {
        let recv = async { Some(socket.recv(&mut buf).await) };
        let expired = async {
            Timer::at(deadline).await;
            None
        };
        match smol::future::or(recv, expired).await {
            Some(Ok(n)) => q.on_datagram(Instant::now(), server, &buf[..n]),
            Some(Err(e)) => q.on_socket_error(e),
            None => q.on_timeout(Instant::now()),
        }
    }
}

/// The first [`MAX_RESULTS`] distinct addresses of `family`, each followed by `rest`.
fn select(ips: &[IpAddr], family: Family, rest: &[Protocol<'static>]) -> Vec<Multiaddr> {
    let mut out: Vec<Multiaddr> = Vec::new();
    for ip in ips.iter().filter(|ip| family.admits(ip)) {
        let mut addr = Multiaddr::empty().with(Protocol::from(*ip));
        for p in rest {
            addr.push(p.clone());
        }
        if !out.contains(&addr) {
            out.push(addr);
        }
        if out.len() == MAX_RESULTS {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_dns4_keeps_the_rest() {
        smol::block_on(async {
            let peer = libp2p::identity::PeerId::random();
            let addr: Multiaddr = format!("/dns4/localhost/tcp/4001/p2p/{peer}")
                .parse()
                .unwrap();
            let out = resolve(&addr).await.unwrap();
            let expected: Multiaddr = format!("/ip4/127.0.0.1/tcp/4001/p2p/{peer}")
                .parse()
                .unwrap();
            assert!(out.contains(&expected), "{out:?}");
            assert!(out
                .iter()
                .all(|a| matches!(a.iter().next(), Some(Protocol::Ip4(_)))));
        });
    }

    #[test]
    fn ip_addresses_pass_through() {
        smol::block_on(async {
            let addr: Multiaddr = "/ip4/10.1.2.3/tcp/4001".parse().unwrap();
            assert!(!is_dns(&addr));
            assert_eq!(resolve(&addr).await.unwrap(), vec![addr]);
        });
    }

    #[test]
    fn family_filter_dedup_and_cap() {
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let rest = [Protocol::Tcp(4001)];
        let got = select(&[v4, v6, v4], Family::V4, &rest);
        assert_eq!(
            got,
            vec!["/ip4/192.0.2.1/tcp/4001".parse::<Multiaddr>().unwrap()]
        );
        let got = select(&[v4, v6], Family::V6, &rest);
        assert_eq!(
            got,
            vec!["/ip6/2001:db8::1/tcp/4001".parse::<Multiaddr>().unwrap()]
        );
        assert_eq!(select(&[v4, v6], Family::Any, &rest).len(), 2);
        let many: Vec<IpAddr> = (0..50u8).map(|i| IpAddr::from([10, 0, 0, i])).collect();
        assert_eq!(select(&many, Family::Any, &rest).len(), MAX_RESULTS);
        assert!(select(&[v6], Family::V4, &rest).is_empty());
    }

    #[test]
    fn errors() {
        smol::block_on(async {
            assert!(is_dns(&"/dnsaddr/bootstrap.libp2p.io".parse().unwrap()));
            let long = format!("/dns4/{}/tcp/1", "a".repeat(300));
            let addr: Multiaddr = long.parse().unwrap();
            assert!(matches!(resolve(&addr).await, Err(Error::NameTooLong)));
            // `.invalid` never resolves (RFC 2606).
            let addr: Multiaddr = "/dns4/acorn-test.invalid/tcp/1".parse().unwrap();
            assert!(matches!(
                resolve(&addr).await,
                Err(Error::Lookup { .. } | Error::NoAddress { .. })
            ));
        });
    }

    /// A nameserver on loopback answering TXT queries from `zone` (name → records);
    /// unknown names get no records. Runs until the returned task is dropped.
    fn fake_nameserver(
        ex: &smol::Executor<'static>,
        zone: Vec<(String, Vec<String>)>,
    ) -> (SocketAddr, smol::Task<()>) {
        let socket = Async::<UdpSocket>::bind(([127, 0, 0, 1], 0)).unwrap();
        let addr = socket.get_ref().local_addr().unwrap();
        let task = ex.spawn(async move {
            let mut buf = [0u8; 512];
            loop {
                let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let id = u16::from_be_bytes([buf[0], buf[1]]);
                // Question name: labels from offset 12.
                let mut labels = Vec::new();
                let mut at = 12;
                while at < n && buf[at] != 0 {
                    let len = usize::from(buf[at]);
                    labels.push(String::from_utf8_lossy(&buf[at + 1..at + 1 + len]).into_owned());
                    at += 1 + len;
                }
                let name = labels.join(".");
                let records: Vec<&str> = zone
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, r)| r.iter().map(String::as_str).collect())
                    .unwrap_or_default();
                let reply = wire::response(id, &name, &records);
                let _ = socket.send_to(&reply, from).await;
            }
        });
        (addr, task)
    }

    #[test]
    fn dnsaddr_resolves_nested_records_and_filters_by_peer() {
        let p1 = PeerId::random();
        let p2 = PeerId::random();
        let zone = vec![
            (
                "_dnsaddr.boot.test".to_owned(),
                vec![
                    format!("dnsaddr=/dnsaddr/a.boot.test/p2p/{p1}"),
                    format!("dnsaddr=/dnsaddr/b.boot.test/p2p/{p2}"),
                    "not a dnsaddr record".to_owned(),
                    "dnsaddr=/not/a/multiaddr".to_owned(),
                ],
            ),
            (
                "_dnsaddr.a.boot.test".to_owned(),
                vec![
                    format!("dnsaddr=/ip4/10.0.0.1/tcp/4001/p2p/{p1}"),
                    format!("dnsaddr=/ip4/10.0.0.1/udp/4001/quic-v1/p2p/{p1}"),
                    format!("dnsaddr=/dns4/localhost/tcp/4002/p2p/{p1}"),
                ],
            ),
            (
                "_dnsaddr.b.boot.test".to_owned(),
                vec![format!("dnsaddr=/ip6/::1/tcp/4001/p2p/{p2}")],
            ),
            (
                "_dnsaddr.loop.test".to_owned(),
                vec!["dnsaddr=/dnsaddr/loop.test".to_owned()],
            ),
        ];
        let ex = smol::Executor::new();
        let (server, _task) = fake_nameserver(&ex, zone);
        smol::block_on(ex.run(async {
            let resolver = Resolver::with_nameservers([server]);
            let all = resolver
                .resolve(&"/dnsaddr/boot.test".parse().unwrap())
                .await
                .unwrap();
            let expected: Vec<Multiaddr> = [
                format!("/ip4/10.0.0.1/tcp/4001/p2p/{p1}"),
                format!("/ip6/::1/tcp/4001/p2p/{p2}"),
                format!("/ip4/127.0.0.1/tcp/4002/p2p/{p1}"),
            ]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
            for addr in &expected {
                assert!(all.contains(addr), "{addr} missing from {all:?}");
            }
            assert!(all.iter().all(dialable), "only TCP addresses: {all:?}");

            let only_p2 = resolver
                .resolve(&format!("/dnsaddr/boot.test/p2p/{p2}").parse().unwrap())
                .await
                .unwrap();
            assert_eq!(only_p2, vec![expected[1].clone()]);

            // A record pointing at itself ends at MAX_DNSADDR_DEPTH, with an error.
            assert!(resolver
                .resolve(&"/dnsaddr/loop.test".parse().unwrap())
                .await
                .is_err());
            // An unknown name has no records: a clear error.
            assert!(matches!(
                resolver
                    .resolve(&"/dnsaddr/none.test".parse().unwrap())
                    .await,
                Err(Error::NoDialableAddress { .. })
            ));
        }));
    }

    #[test]
    fn silent_nameserver_times_out() {
        smol::block_on(async {
            // Bound but never answers.
            let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
            let mut resolver = Resolver::with_nameservers([silent.local_addr().unwrap()]);
            resolver.query_timeout = Duration::from_millis(100);
            let started = std::time::Instant::now();
            let err = resolver
                .resolve(&"/dnsaddr/boot.test".parse().unwrap())
                .await
                .unwrap_err();
            assert!(matches!(err, Error::Timeout { .. }), "{err}");
            assert!(started.elapsed() < Duration::from_secs(2));
        });
    }

    #[test]
    fn resolv_conf() {
        let conf = "# comment\nsearch lan\nnameserver 192.168.1.1\nnameserver fe80::1%eth0\n\
                    nameserver bogus\nnameserver 1.1.1.1\nnameserver 8.8.8.8\n";
        let got = parse_resolv_conf(conf);
        assert_eq!(
            got,
            vec![
                "192.168.1.1:53".parse().unwrap(),
                "[fe80::1]:53".parse().unwrap(),
                "1.1.1.1:53".parse().unwrap(),
            ]
        );
        assert_eq!(
            Resolver::with_nameservers([]).nameservers(),
            &["127.0.0.1:53".parse::<SocketAddr>().unwrap()]
        );
    }
}
