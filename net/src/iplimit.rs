//! Inbound connection limits per remote address and subnet: one host, or one
//! network, cannot take every inbound slot.
//!
//! **What.** A [`libp2p::swarm::NetworkBehaviour`] with no protocol of its own. It
//! counts inbound connections by remote IP address and by subnet (IPv4
//! /[`IPV4_SUBNET_PREFIX_BITS`], IPv6 /[`IPV6_SUBNET_PREFIX_BITS`]), pending (TCP
//! accepted, handshake running, which may last the whole handshake timeout) apart
//! from established. A pending inbound connection is denied, and its socket closed
//! before any handshake byte, when its address or subnet already has the most
//! pending connections allowed; an established one when its address or subnet
//! already has the most established. Without it one host that opens TCP
//! connections and then stays silent holds every one of the swarm's pending
//! inbound slots for the handshake timeout, and no real peer can connect.
//!
//! **Spec.** Kubo's resource manager (go-libp2p `rcmgr`) limits inbound connections
//! per IP: 8 per IPv4 address and 64 per IPv6 /56 by default; the numbers here are
//! [`Limits`] fields, set from `Swarm.ResourceMgr` in the node's config.
//!
//! **Flow.** `handle_pending_inbound_connection` checks and counts the pending
//! connection; `handle_established_inbound_connection` moves it to the established
//! count (or denies it); a failed upgrade or denial (`ListenFailure`) and a closed
//! connection (`ConnectionClosed`) take it off. Addresses without an IP (relayed
//! circuits, memory transports) are not counted, nor loopback addresses unless
//! [`Limits::limit_loopback`] is set.
//!
//! **Limits.** One map entry per inbound connection and per address and subnet
//! that has one: bounded by the swarm's own connection limits (pending and
//! established inbound).
//!
//! **Departures.** go-libp2p gives loopback (127.0.0.0/8) 128 connections; we
//! exempt it by default (local tools and test peers all come from one address, and
//! a local process can already do worse), or limit it like any other address with
//! [`Limits::limit_loopback`].

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::task::{Context, Poll};

use libp2p::core::{multiaddr::Protocol, transport::PortUse, Endpoint, Multiaddr};
use libp2p::identity::PeerId;
use libp2p::swarm::{
    dummy, ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, ListenFailure,
    NetworkBehaviour, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};

/// IPv4 addresses with this many leading bits in common share a subnet limit (/24).
pub const IPV4_SUBNET_PREFIX_BITS: u8 = 24;
/// IPv6 addresses with this many leading bits in common share a subnet limit (/56,
/// the usual smallest allocation to one customer).
pub const IPV6_SUBNET_PREFIX_BITS: u8 = 56;

/// The limits; each is a count of inbound connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Pending (handshaking) inbound connections from one IP address.
    pub max_pending_per_ip: u32,
    /// Pending inbound connections from one subnet.
    pub max_pending_per_subnet: u32,
    /// Established inbound connections from one IP address.
    pub max_established_per_ip: u32,
    /// Established inbound connections from one subnet.
    pub max_established_per_subnet: u32,
    /// Count loopback addresses too (default: `false`, they are not limited).
    pub limit_loopback: bool,
}

impl Default for Limits {
    /// 4 / 8 pending, 8 / 32 established (per address / per subnet): Kubo's 8
    /// connections per address; a quarter of the swarm's 32 pending slots per
    /// subnet, so filling them takes hosts in four subnets.
    fn default() -> Self {
        Limits {
            max_pending_per_ip: 4,
            max_pending_per_subnet: 8,
            max_established_per_ip: 8,
            max_established_per_subnet: 32,
            limit_loopback: false,
        }
    }
}

/// Which limit refused a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Pending connections from one address.
    PendingPerIp,
    /// Pending connections from one subnet.
    PendingPerSubnet,
    /// Established connections from one address.
    EstablishedPerIp,
    /// Established connections from one subnet.
    EstablishedPerSubnet,
}

/// Why an inbound connection was refused.
#[derive(Debug, thiserror::Error)]
#[error("{ip} already has {limit} inbound connections ({scope:?})")]
pub struct TooManyFromAddress {
    /// The remote address.
    pub ip: IpAddr,
    /// Which limit it reached.
    pub scope: Scope,
    /// That limit's value.
    pub limit: u32,
}

/// Counts of one address or subnet.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    pending: u32,
    established: u32,
}

/// The behaviour: see the module docs.
pub struct Behaviour {
    limits: Limits,
    /// Inbound connections counted: their address and whether established.
    conns: HashMap<ConnectionId, (IpAddr, bool)>,
    by_ip: HashMap<IpAddr, Counts>,
    by_subnet: HashMap<IpAddr, Counts>,
}

/// The subnet of `ip`: its address with the bits past the prefix cleared.
pub fn subnet_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let mask = u32::MAX << (32 - u32::from(IPV4_SUBNET_PREFIX_BITS));
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX << (128 - u32::from(IPV6_SUBNET_PREFIX_BITS));
            IpAddr::V6((u128::from(a) & mask).into())
        }
    }
}

/// The IP address a multiaddr starts with, if any.
fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    match addr.iter().next()? {
        Protocol::Ip4(a) => Some(a.into()),
        Protocol::Ip6(a) => Some(a.into()),
        _ => None,
    }
}

impl Behaviour {
    /// Enforces `limits` on inbound connections.
    pub fn new(limits: Limits) -> Self {
        Behaviour {
            limits,
            conns: HashMap::new(),
            by_ip: HashMap::new(),
            by_subnet: HashMap::new(),
        }
    }

    /// Current (pending, established) inbound counts of `ip`'s address.
    pub fn counts(&self, ip: IpAddr) -> (u32, u32) {
        self.by_ip
            .get(&ip)
            .map_or((0, 0), |c| (c.pending, c.established))
    }

    /// The address of `remote` if it is one this behaviour limits.
    fn limited(&self, remote: &Multiaddr) -> Option<IpAddr> {
        ip_of(remote).filter(|ip| self.limits.limit_loopback || !ip.is_loopback())
    }

    /// Checks a new pending connection from `ip` and counts it.
    fn open(&mut self, id: ConnectionId, ip: IpAddr) -> Result<(), TooManyFromAddress> {
        let l = self.limits;
        let deny = |scope, limit| TooManyFromAddress { ip, scope, limit };
        let sub = subnet_of(ip);
        if self.by_ip.get(&ip).map_or(0, |c| c.pending) >= l.max_pending_per_ip {
            return Err(deny(Scope::PendingPerIp, l.max_pending_per_ip));
        }
        if self.by_subnet.get(&sub).map_or(0, |c| c.pending) >= l.max_pending_per_subnet {
            return Err(deny(Scope::PendingPerSubnet, l.max_pending_per_subnet));
        }
        self.by_ip.entry(ip).or_default().pending += 1;
        self.by_subnet.entry(sub).or_default().pending += 1;
        self.conns.insert(id, (ip, false));
        Ok(())
    }

    /// Moves a pending connection to the established count, if the limits allow.
    fn establish(&mut self, id: ConnectionId, ip: IpAddr) -> Result<(), TooManyFromAddress> {
        self.close(id);
        let l = self.limits;
        let deny = |scope, limit| TooManyFromAddress { ip, scope, limit };
        let sub = subnet_of(ip);
        if self.by_ip.get(&ip).map_or(0, |c| c.established) >= l.max_established_per_ip {
            return Err(deny(Scope::EstablishedPerIp, l.max_established_per_ip));
        }
        if self.by_subnet.get(&sub).map_or(0, |c| c.established) >= l.max_established_per_subnet {
            return Err(deny(
                Scope::EstablishedPerSubnet,
                l.max_established_per_subnet,
            ));
        }
        self.by_ip.entry(ip).or_default().established += 1;
        self.by_subnet.entry(sub).or_default().established += 1;
        self.conns.insert(id, (ip, true));
        Ok(())
    }

    /// Takes a connection off the counts (no-op when it is not counted).
    fn close(&mut self, id: ConnectionId) {
        let Some((ip, established)) = self.conns.remove(&id) else {
            return;
        };
        for (map, key) in [(&mut self.by_ip, ip), (&mut self.by_subnet, subnet_of(ip))] {
            if let Some(c) = map.get_mut(&key) {
                if established {
                    c.established = c.established.saturating_sub(1);
                } else {
                    c.pending = c.pending.saturating_sub(1);
                }
                if c.pending == 0 && c.established == 0 {
                    map.remove(&key);
                }
            }
        }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        match self.limited(remote) {
            Some(ip) => self.open(id, ip).map_err(ConnectionDenied::new),
            None => Ok(()),
        }
    }

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        _peer: PeerId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        if let Some(ip) = self.limited(remote) {
            self.establish(id, ip).map_err(ConnectionDenied::new)?;
        }
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

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ListenFailure(ListenFailure { connection_id, .. })
            | FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. }) => {
                self.close(connection_id)
            }
            _ => {}
        }
    }

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

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn subnets() {
        assert_eq!(subnet_of(ip("192.0.2.77")), ip("192.0.2.0"));
        assert_eq!(subnet_of(ip("2001:db8:1:2ff::9")), ip("2001:db8:1:200::"));
        let a: Multiaddr = "/ip4/127.0.0.2/tcp/1".parse().unwrap();
        assert_eq!(ip_of(&a), Some(ip("127.0.0.2")));
        let r: Multiaddr = "/p2p-circuit".parse().unwrap();
        assert_eq!(ip_of(&r), None);
    }

    #[test]
    fn pending_and_established_limits_per_ip_and_subnet() {
        let limits = Limits {
            max_pending_per_ip: 2,
            max_pending_per_subnet: 3,
            max_established_per_ip: 1,
            max_established_per_subnet: 2,
            limit_loopback: false,
        };
        let mut b = Behaviour::new(limits);
        let id = ConnectionId::new_unchecked;
        let (a, a2, other) = (ip("10.1.1.1"), ip("10.1.1.2"), ip("10.1.2.1"));
        b.open(id(1), a).unwrap();
        b.open(id(2), a).unwrap();
        let e = b.open(id(3), a).unwrap_err();
        assert_eq!((e.scope, e.limit), (Scope::PendingPerIp, 2));
        b.open(id(4), a2).unwrap();
        let e = b.open(id(5), a2).unwrap_err();
        assert_eq!(e.scope, Scope::PendingPerSubnet);
        // Another subnet is not affected.
        b.open(id(6), other).unwrap();
        // Established: one per address; the pending count goes down as it does.
        b.establish(id(1), a).unwrap();
        assert_eq!(b.counts(a), (1, 1));
        let e = b.establish(id(2), a).unwrap_err();
        assert_eq!(e.scope, Scope::EstablishedPerIp);
        assert_eq!(b.counts(a), (0, 1), "a denied connection is not counted");
        b.establish(id(4), a2).unwrap();
        b.open(id(7), ip("10.1.1.3")).unwrap();
        let e = b.establish(id(7), ip("10.1.1.3")).unwrap_err();
        assert_eq!(e.scope, Scope::EstablishedPerSubnet);
        // Closing frees the slot; unknown ids are ignored.
        b.close(id(1));
        b.close(id(99));
        assert_eq!(b.counts(a), (0, 0));
        b.open(id(8), a).unwrap();
        b.establish(id(8), a).unwrap();
        assert!(!b.by_ip.contains_key(&ip("10.1.1.3")));
        // Loopback is not limited unless asked.
        let lo: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        assert_eq!(b.limited(&lo), None);
        b.limits.limit_loopback = true;
        assert_eq!(b.limited(&lo), Some(ip("127.0.0.1")));
    }
}
