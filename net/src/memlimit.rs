//! Memory-aware connection limit: new connections are refused while the process's
//! resident memory is above a ceiling.
//!
//! **What.** A [`libp2p::swarm::NetworkBehaviour`] with no protocol of its own. Before a
//! pending inbound connection is upgraded and before an outbound dial, it reads the
//! process's RSS (`VmRSS` in `/proc/self/status`) (at most once per [`RSS_REFRESH`]) and denies
//! the connection with [`MemoryExceeded`] when it is at or above the ceiling.
//! Existing connections are never closed. Kubo's resource manager plays this part
//! (`Swarm.ResourceMgr.MaxMemory`); libp2p's memory-connection-limits crate does the
//! same with two more dependencies.
//!
//! **Limits.** One `/proc` read per [`RSS_REFRESH`]; no allocation per connection.
//! Off (`None`) by default.

use std::convert::Infallible;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use libp2p::core::{transport::PortUse, Endpoint, Multiaddr};
use libp2p::identity::PeerId;
use libp2p::swarm::{
    dummy, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};

/// How often the RSS is re-read at most.
pub const RSS_REFRESH: Duration = Duration::from_millis(100);

/// Why a connection was refused.
#[derive(Debug, thiserror::Error)]
#[error("process memory {rss_bytes} bytes is at or above the limit of {max_bytes} bytes")]
pub struct MemoryExceeded {
    /// The process's resident set size when the connection came.
    pub rss_bytes: u64,
    /// The configured ceiling.
    pub max_bytes: u64,
}

/// The behaviour: see the module docs.
pub struct Behaviour {
    max_bytes: Option<u64>,
    last: Option<(Instant, u64)>,
    read_rss: fn() -> Option<u64>,
}

impl Behaviour {
    /// Refuses new connections while the RSS is at or above `max_bytes`; `None` never
    /// refuses.
    pub fn new(max_bytes: Option<u64>) -> Self {
        Behaviour {
            max_bytes,
            last: None,
            read_rss: process_rss_bytes,
        }
    }

    #[cfg(test)]
    fn with_reader(max_bytes: Option<u64>, read_rss: fn() -> Option<u64>) -> Self {
        Behaviour {
            max_bytes,
            last: None,
            read_rss,
        }
    }

    fn check(&mut self) -> Result<(), ConnectionDenied> {
        let Some(max) = self.max_bytes else {
            return Ok(());
        };
        let now = Instant::now();
        let rss = match self.last {
            Some((at, rss)) if now.duration_since(at) < RSS_REFRESH => rss,
            _ => {
                // Unreadable (not Linux): never refuse on a guess.
                let Some(rss) = (self.read_rss)() else {
                    return Ok(());
                };
                self.last = Some((now, rss));
                rss
            }
        };
        if rss >= max {
            return Err(ConnectionDenied::new(MemoryExceeded {
                rss_bytes: rss,
                max_bytes: max,
            }));
        }
        Ok(())
    }
}

/// Resident set size of this process, from `VmRSS` in `/proc/self/status`.
pub fn process_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib.saturating_mul(1024))
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        _id: ConnectionId,
        _local: &Multiaddr,
        _remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.check()
    }

    fn handle_pending_outbound_connection(
        &mut self,
        _id: ConnectionId,
        _peer: Option<PeerId>,
        _addresses: &[Multiaddr],
        _effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.check()?;
        Ok(vec![])
    }

    fn handle_established_inbound_connection(
        &mut self,
        _id: ConnectionId,
        _peer: PeerId,
        _local: &Multiaddr,
        _remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _id: ConnectionId,
        _peer: PeerId,
        _addr: &Multiaddr,
        _role_override: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, _event: FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        _peer: PeerId,
        _id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(
        &mut self,
        _cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_at_or_above_the_ceiling_only() {
        let mut off = Behaviour::with_reader(None, || Some(u64::MAX));
        assert!(off.check().is_ok());
        let mut low = Behaviour::with_reader(Some(1000), || Some(1000));
        let e = low
            .check()
            .unwrap_err()
            .downcast::<MemoryExceeded>()
            .unwrap();
        assert_eq!((e.rss_bytes, e.max_bytes), (1000, 1000));
        let mut high = Behaviour::with_reader(Some(1001), || Some(1000));
        assert!(high.check().is_ok());
        let mut unknown = Behaviour::with_reader(Some(1), || None);
        assert!(unknown.check().is_ok(), "unreadable RSS never refuses");
    }

    #[test]
    fn reads_this_process_rss() {
        let rss = process_rss_bytes().expect("/proc/self/status");
        assert!(rss > 1 << 20, "{rss}");
        let mut b = Behaviour::new(Some(rss / 2));
        assert!(b.check().is_err(), "over half of our own RSS");
        let mut b = Behaviour::new(Some(u64::MAX));
        assert!(b.check().is_ok());
    }
}
