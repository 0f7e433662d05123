//! Where a running daemon's servers can be reached: the `api` and `gateway` files
//! it writes into the repo (the API multiaddr, the gateway URL), and the
//! `/ip4|ip6/<a>/tcp/<port>` multiaddrs the API is configured and found with.
//! The daemon writes these files; the CLI's RPC client reads the `api` one.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

/// Name of the file in the repo holding the API multiaddr while the daemon runs.
pub const API_FILE: &str = "api";

/// Path of the api file of the repo at `root`.
pub fn api_file(root: &Path) -> PathBuf {
    root.join(API_FILE)
}

/// Parses `/ip4/<a>/tcp/<port>` or `/ip6/<a>/tcp/<port>`.
pub fn parse_tcp_multiaddr(s: &str) -> anyhow::Result<SocketAddr> {
    let parts: Vec<&str> = s.trim().split('/').collect();
    match parts.as_slice() {
        ["", proto @ ("ip4" | "ip6"), ip, "tcp", port] => {
            let ip: IpAddr = ip
                .parse()
                .with_context(|| format!("bad IP address in {s:?}"))?;
            anyhow::ensure!(
                ip.is_ipv4() == (*proto == "ip4"),
                "address family does not match /{proto} in {s:?}"
            );
            let port: u16 = port.parse().with_context(|| format!("bad port in {s:?}"))?;
            Ok(SocketAddr::new(ip, port))
        }
        _ => bail!("unsupported API address {s:?} (use /ip4/<ip>/tcp/<port> or /ip6/...)"),
    }
}

/// The multiaddr of a socket address.
pub fn tcp_multiaddr(a: SocketAddr) -> String {
    match a.ip() {
        IpAddr::V4(ip) => format!("/ip4/{ip}/tcp/{}", a.port()),
        IpAddr::V6(ip) => format!("/ip6/{ip}/tcp/{}", a.port()),
    }
}

/// Name of the file in the repo holding the gateway URL while the daemon runs.
pub const GATEWAY_FILE: &str = "gateway";

/// Path of the gateway file of the repo at `root`.
pub fn gateway_file(root: &Path) -> PathBuf {
    root.join(GATEWAY_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiaddr_round_trip() {
        for s in ["/ip4/127.0.0.1/tcp/5001", "/ip6/::1/tcp/0"] {
            assert_eq!(tcp_multiaddr(parse_tcp_multiaddr(s).unwrap()), s);
        }
        for bad in [
            "/ip4/::1/tcp/1",
            "/ip4/1.2.3.4/udp/1",
            "/dns4/x/tcp/1",
            "/ip4/1.2.3.4/tcp/70000",
            "",
        ] {
            assert!(parse_tcp_multiaddr(bad).is_err(), "{bad}");
        }
    }
}
