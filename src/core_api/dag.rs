//! IPLD DAGs: `dag put|get|import|export|stat`.
//!
//! The [`Dag`] group of the [core API](super): its trait, its result types, and
//! its two implementations, [`Local`] (this process's node) and [`Remote`] (a
//! daemon over the RPC API).

use super::{Local, Remote};

/// IPLD DAGs: `dag put|get|import|export|stat`.
pub trait Dag {}

impl Dag for Local {}

impl Dag for Remote {}
