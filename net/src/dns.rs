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
//! **Limits.** At most [`MAX_RESULTS`] addresses per name are returned; a name
//! longer than [`MAX_NAME_BYTES`] is refused without a lookup.
//!
//! **Not yet.** `/dnsaddr` needs DNS TXT lookups (`_dnsaddr.<name>`), which the
//! system resolver API does not offer: it returns [`Error::DnsaddrUnsupported`].

use std::net::{IpAddr, ToSocketAddrs};

use libp2p::{multiaddr::Protocol, Multiaddr};

/// Most addresses returned for one name.
pub const MAX_RESULTS: usize = 8;

/// Longest DNS name accepted (RFC 1035: 253 characters in text form).
pub const MAX_NAME_BYTES: usize = 253;

/// Why a multiaddr could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("/dnsaddr is not supported yet: {addr}")]
    DnsaddrUnsupported { addr: Multiaddr },
    #[error("DNS name is longer than {MAX_NAME_BYTES} bytes")]
    NameTooLong,
    #[error("cannot resolve {name}: {source}")]
    Lookup {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{name} has no {family} address")]
    NoAddress { name: String, family: &'static str },
}

/// Does `addr` start with a name that [`resolve`] would look up (or refuse)?
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

/// Resolves a leading `/dns`, `/dns4` or `/dns6` into up to [`MAX_RESULTS`]
/// `/ip4`/`/ip6` addresses with the same remaining components. Any other address is
/// returned unchanged (one element).
pub async fn resolve(addr: &Multiaddr) -> Result<Vec<Multiaddr>, Error> {
    let mut iter = addr.iter();
    let (name, family) = match iter.next() {
        Some(Protocol::Dns(name)) => (name, Family::Any),
        Some(Protocol::Dns4(name)) => (name, Family::V4),
        Some(Protocol::Dns6(name)) => (name, Family::V6),
        Some(Protocol::Dnsaddr(_)) => return Err(Error::DnsaddrUnsupported { addr: addr.clone() }),
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
            let addr: Multiaddr = "/dnsaddr/bootstrap.libp2p.io".parse().unwrap();
            assert!(is_dns(&addr));
            assert!(matches!(
                resolve(&addr).await,
                Err(Error::DnsaddrUnsupported { .. })
            ));
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
}
