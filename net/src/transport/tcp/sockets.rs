//! Socket and interface helpers of the TCP transport: binding a listener, the
//! interface addresses a wildcard listener is reachable on and how they changed, and
//! which `accept(2)` errors are transient.

use super::*;

/// Binds a non-blocking listening socket (`SO_REUSEADDR`; `IPV6_V6ONLY` for IPv6).
pub(super) fn bind_listener(addr: SocketAddr, backlog: u16) -> io::Result<TcpListener> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd = socket::socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    socket::setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    if addr.is_ipv6() {
        socket::setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
    }
    socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(addr))?;
    let backlog = i32::from(backlog).min(i32::from(socket::Backlog::MAXCONN));
    socket::listen(&fd, socket::Backlog::new(backlog)?)?;
    Ok(TcpListener::from(fd))
}

/// Is `ip` an IPv6 link-local address (`fe80::/10`)?
pub(super) fn is_ipv6_link_local(ip: &Ipv6Addr) -> bool {
    ip.segments()[0] & 0xffc0 == 0xfe80
}

/// The addresses an unspecified-address listener on `port` is reachable on:
/// every interface address of the same family, else loopback.
pub(super) fn interface_addresses(ipv6: bool, port: u16) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    match nix::ifaddrs::getifaddrs() {
        Ok(ifaddrs) => {
            for ifaddr in ifaddrs {
                let Some(address) = ifaddr.address else {
                    continue;
                };
                let ip: IpAddr = if ipv6 {
                    match address.as_sockaddr_in6() {
                        Some(sin6) if !is_ipv6_link_local(&sin6.ip()) => sin6.ip().into(),
                        _ => continue,
                    }
                } else {
                    match address.as_sockaddr_in() {
                        Some(sin) => sin.ip().into(),
                        None => continue,
                    }
                };
                let addr = SocketAddr::new(ip, port);
                if out.contains(&addr) {
                    continue;
                }
                if out.len() == MAX_ADDRESSES_PER_LISTENER {
                    tracing::warn!(%addr, "more interface addresses than MAX_ADDRESSES_PER_LISTENER; not reported");
                    continue;
                }
                out.push(addr);
            }
        }
        Err(error) => tracing::warn!(%error, "getifaddrs failed; reporting loopback only"),
    }
    if out.is_empty() {
        let loopback: IpAddr = if ipv6 {
            Ipv6Addr::LOCALHOST.into()
        } else {
            Ipv4Addr::LOCALHOST.into()
        };
        out.push(SocketAddr::new(loopback, port));
    }
    out
}

/// The addresses in `now` but not in `before` (appeared), and those in `before` but
/// not in `now` (gone), each in its list's order.
pub(super) fn address_changes(
    before: &[SocketAddr],
    now: &[SocketAddr],
) -> (Vec<SocketAddr>, Vec<SocketAddr>) {
    let added = now
        .iter()
        .filter(|a| !before.contains(a))
        .copied()
        .collect();
    let removed = before
        .iter()
        .filter(|a| !now.contains(a))
        .copied()
        .collect();
    (added, removed)
}

/// Whether an `accept(2)` error belongs to one pending connection (the peer or the
/// network), so the next connection can be accepted at once. Resource exhaustion
/// (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`) and unknown errors are not.
pub(super) fn accept_error_is_transient(e: &io::Error) -> bool {
    use nix::errno::Errno;
    let Some(code) = e.raw_os_error() else {
        return false;
    };
    matches!(
        Errno::from_raw(code),
        Errno::ECONNABORTED
            | Errno::ECONNRESET
            | Errno::EPROTO
            | Errno::ENOPROTOOPT
            | Errno::EHOSTDOWN
            | Errno::EHOSTUNREACH
            | Errno::ENETDOWN
            | Errno::ENETUNREACH
            | Errno::ENONET
            | Errno::EOPNOTSUPP
            | Errno::ETIMEDOUT
            | Errno::EPERM
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_caused_accept_errors_are_retried_at_once_resource_errors_pause() {
        use nix::errno::Errno;
        for e in [
            Errno::ECONNABORTED,
            Errno::EPROTO,
            Errno::EHOSTUNREACH,
            Errno::ENETUNREACH,
        ] {
            let err = io::Error::from_raw_os_error(e as i32);
            assert!(accept_error_is_transient(&err), "{e}");
        }
        for e in [Errno::EMFILE, Errno::ENFILE, Errno::ENOBUFS, Errno::ENOMEM] {
            let err = io::Error::from_raw_os_error(e as i32);
            assert!(!accept_error_is_transient(&err), "{e}");
        }
        assert!(!accept_error_is_transient(&io::Error::other("no errno")));
    }

    #[test]
    fn address_changes_report_what_appeared_and_what_went() {
        let a: SocketAddr = "127.0.0.1:4001".parse().unwrap();
        let b: SocketAddr = "10.77.0.1:4001".parse().unwrap();
        let c: SocketAddr = "192.168.1.2:4001".parse().unwrap();
        assert_eq!(address_changes(&[a], &[a]), (vec![], vec![]));
        assert_eq!(address_changes(&[a], &[a, b]), (vec![b], vec![]));
        assert_eq!(address_changes(&[a, b], &[a]), (vec![], vec![b]));
        assert_eq!(address_changes(&[a, b], &[c, a]), (vec![c], vec![b]));
        assert_eq!(address_changes(&[], &[a]), (vec![a], vec![]));
    }

    #[test]
    fn listen_backlog_over_somaxconn_is_clamped() {
        let l = bind_listener("127.0.0.1:0".parse().unwrap(), u16::MAX).expect("bind");
        assert!(l.local_addr().is_ok());
    }
}
