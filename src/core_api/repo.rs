//! The repo: `repo gc|stat|verify`, `stats repo`.
//!
//! The [`Repo`] group of the [core API](super): its trait, its result types, and
//! its two implementations, [`Local`] (this process's node) and [`Remote`] (a
//! daemon over the RPC API).

use super::{Local, Remote};

/// The repo: `repo gc|stat|verify`, `stats repo`.
pub trait Repo {}

impl Repo for Local {}

impl Repo for Remote {}
