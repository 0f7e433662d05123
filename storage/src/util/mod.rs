//! Small primitives shared by the whole house, one copy each, found by name:
//!
//! - [`hex`]: lowercase hex encoding and checked decoding.
//! - [`bytes`]: human-readable byte sizes (binary units as `repo stat -H` prints
//!   them, SI units as go-humanize prints them for `stats bw`).
//!
//! Varint and protobuf field reading live in [`crate::proto`].

pub mod bytes;
pub mod hex;
