//! Transports: how bytes reach a peer before any libp2p upgrade.
//!
//! Only TCP for now ([`tcp`]); private-network protection ([`crate::pnet`]) and the
//! noise + yamux upgrades are layered on top in [`crate::swarm`].

pub mod tcp;
