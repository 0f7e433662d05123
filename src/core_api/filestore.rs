//! The filestore: `filestore ls|verify|dups|rm`.
//!
//! The [`Filestore`] group of the [core API](super): its trait, its result types, and
//! its two implementations, [`Local`] (this process's node) and [`Remote`] (a
//! daemon over the RPC API).

use super::{Local, Remote};

/// The filestore: `filestore ls|verify|dups|rm`.
pub trait Filestore {}

impl Filestore for Local {}

impl Filestore for Remote {}
