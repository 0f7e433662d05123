//! Pins: `pin add|rm|ls|update|verify`.
//!
//! The [`Pins`] group of the [core API](super): its trait, its result types, and
//! its two implementations, [`Local`] (this process's node) and [`Remote`] (a
//! daemon over the RPC API).

use super::{Local, Remote};

/// Pins: `pin add|rm|ls|update|verify`.
pub trait Pins {}

impl Pins for Local {}

impl Pins for Remote {}
