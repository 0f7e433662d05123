//! Files and paths: `add`, `cat`, `get`, `ls`, `refs`, `refs local`, `resolve`.
//!
//! The [`Content`] group of the [core API](super): its trait, its result types, and
//! its two implementations, [`Local`] (this process's node) and [`Remote`] (a
//! daemon over the RPC API).

use super::{Local, Remote};

/// Files and paths: `add`, `cat`, `get`, `ls`, `refs`, `refs local`, `resolve`.
pub trait Content {}

impl Content for Local {}

impl Content for Remote {}
