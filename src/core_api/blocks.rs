//! Raw blocks: `block put|get|stat|rm`.
//!
//! The [`Blocks`] group of the [core API](super): its trait, its result types, and
//! its two implementations, [`Local`] (this process's node) and [`Remote`] (a
//! daemon over the RPC API).

use super::{Local, Remote};

/// Raw blocks: `block put|get|stat|rm`.
pub trait Blocks {}

impl Blocks for Local {}

impl Blocks for Remote {}
