//! A testnet on one machine: network namespaces for an "internet" and home
//! networks behind NAT routers, joined by emulated links with delay, jitter, loss,
//! rate and reordering, and `acorn` daemons running inside them.
//!
//! Why a crate of its own rather than more of `acorn-tools`: it only runs on Linux
//! as root, it needs an `unsafe` ioctl (`TUNSETIFF`, in [`tun`]) that the other
//! tools' `deny(unsafe_code)` should not have to excuse, and it brings a TOML
//! parser for its scenario files. It uses `acorn-tools` for what they share (the
//! seeded [`acorn_tools::rng::Rng`], pseudo-random files, `/proc` figures).
//!
//! The kernel here has no `netem` qdisc, so delay, loss and reordering are done in
//! userspace: one `testnet-link` process per link moves IP packets between two TUN
//! devices, one in each namespace ([`emulator`]), through the sans-I/O scheduler
//! in [`link`].
#![deny(unsafe_code)]

pub mod emulator;
pub mod ladder;
pub mod link;
pub mod netns;
pub mod node;
pub mod runner;
pub mod scenario;
pub mod testnet;
pub mod tun;
