//! The network: `id`, `swarm`, `routing` (and `dht`), `stats bw`, `bitswap`.
//!
//! The [`Network`] group of the [core API](super): its trait, its result types, and
//! its two implementations, [`Local`] (this process's node) and [`Remote`] (a
//! daemon over the RPC API).

use super::{Local, Remote};

/// The network: `id`, `swarm`, `routing` (and `dht`), `stats bw`, `bitswap`.
pub trait Network {}

impl Network for Local {}

impl Network for Remote {}
