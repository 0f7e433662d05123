//! Settings: `config` get/set/show, `version`.
//!
//! The [`Settings`] group of the [core API](super): its trait, its result types, and
//! its two implementations, [`Local`] (this process's node) and [`Remote`] (a
//! daemon over the RPC API).

use super::{Local, Remote};

/// Settings: `config` get/set/show, `version`.
pub trait Settings {}

impl Settings for Local {}

impl Settings for Remote {}
