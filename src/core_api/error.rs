//! The core API's error: one kind per way a call can fail, and the one table that
//! maps a kind to what each front end answers.
//!
//! **What.** [`Error`] is what the core API's calls fail with. Each variant is a
//! kind (what the caller can do about it: fix the input, retry, repair the repo)
//! and carries the failure itself as its source, so the text a user reads is the
//! node's message, unchanged (Kubo's message where Kubo has one): an [`Error`]
//! prints as its cause does, and its `source()` chain is the cause's.
//!
//! **The table.** [`Kind::rpc`] (HTTP status, Kubo's `Code` and `Type` for the
//! RPC API), [`Kind::gateway_status`] (the gateway's HTTP status) and
//! [`Kind::exit_code`] (the CLI's exit status; [`Error::exit_code_of`]) are the only places where a kind
//! becomes an answer. The front ends ask them and never look inside an error.
//!
//! **Where kinds come from.** At the core API's boundary: the `From` impls below
//! for the storage, network and fetch errors, and [`Error::classify`] for the
//! `anyhow` errors the node's logic still returns (it reads the chain once, here,
//! so no front end has to). The storage and network errors say:
//! - `NotFound`: a link name not in its directory, a CID that is not pinned, a
//!   peer not connected, a repo not initialised;
//! - `Unavailable`: a block not stored (`BlockError::NotFound`, a DAG walk's or a
//!   pin's missing block) or not sent in time, a peer we cannot reach, no daemon;
//! - `TooLarge`: a block, CAR section or DAG over its limit;
//! - `NoSpace`: a full disk (`BlockError::NoSpace`/`DiskFull`, `ENOSPC`);
//! - `RepoFull`: a write past `Datastore.StorageMax` (`BlockError::RepoFull`; the
//!   message names the budget and what the repo holds);
//! - `Corrupted`: bytes that do not match their CID, a stored block that does not
//!   decode, a broken pin table or repo, a `nocopy` file that changed;
//! - `Io`: any other I/O failure, the `io::Error` as its source;
//! - `BadInput`: a malformed request body or peer address.
//!
//! The core API's own calls fail with these too (`bail!`/`ensure!` here, with a
//! kind or `Other`, and [`Context`], `anyhow`'s `context` for [`Result`]).
//!
//! | kind          | RPC status, `Code` | gateway | exit |
//! |---------------|--------------------|---------|------|
//! | `BadInput`    | 400, 1             | 400     | 1    |
//! | `InvalidPath` | 500, 0             | 400     | 1    |
//! | `NotFound`    | 500, 0             | 404     | 1    |
//! | `Unavailable` | 500, 0             | 504     | 1    |
//! | `TooLarge`, `NoSpace`, `RepoFull`, `Corrupted`, `Other` | 500, 0 | 500 | 1 |
//! | `Io`          | 500, 0             | 500     | 1 (0 on a broken pipe) |
//!
//! Kubo answers every failure of a command that is not an argument error with
//! HTTP 500 and `Code: 0`; the gateway speaks plain HTTP (404 for a missing path
//! component, 504 for a block no one sent in time).

use std::error::Error as StdError;
use std::io;

// The failures' own types, from where they are defined (the group files import
// this one).
use acorn_storage::block::BlockError;
use acorn_storage::car::CarError;
use acorn_storage::dag::DagError;
use acorn_storage::gc::GcError;
use acorn_storage::pins::PinError;
use acorn_storage::repo::RepoError;
use acorn_storage::unixfs::exporter::ExportError;
use acorn_storage::unixfs::importer::ImportError;

use crate::core::AddEntryError;
use crate::fetch::WaitError;
use crate::http::MalformedBody;
use crate::swarm::NetError;

/// A failure's cause, as it prints.
pub type Cause = Box<dyn StdError + Send + Sync + 'static>;

/// How a core API call failed. Prints as its cause (the node's message).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The caller's input is wrong: a bad argument, address or request body.
    #[error(transparent)]
    BadInput(Cause),
    /// A content path that does not parse or cannot be walked as asked.
    #[error(transparent)]
    InvalidPath(Cause),
    /// A path component (a link name) that does not exist.
    #[error(transparent)]
    NotFound(Cause),
    /// Something the node could not reach: a block not stored and not sent by a
    /// peer in time, a deadline passed, the network or the daemon not answering.
    #[error(transparent)]
    Unavailable(Cause),
    /// Input over a limit of the node.
    #[error(transparent)]
    TooLarge(Cause),
    /// The disk is full.
    #[error(transparent)]
    NoSpace(Cause),
    /// The repo is at its budget (`Datastore.StorageMax`) with data GC may not remove.
    #[error(transparent)]
    RepoFull(Cause),
    /// Stored data that does not decode or check: repair, do not retry.
    #[error(transparent)]
    Corrupted(Cause),
    /// An I/O failure (retry may help).
    #[error(transparent)]
    Io(io::Error),
    /// Any other failure of the node.
    #[error(transparent)]
    Other(Cause),
}

/// A kind of [`Error`], without its cause: the key of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    BadInput,
    InvalidPath,
    NotFound,
    Unavailable,
    TooLarge,
    NoSpace,
    RepoFull,
    Corrupted,
    Io,
    Other,
}

/// What the RPC API answers for an error: Kubo's JSON error fields and the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RpcAnswer {
    pub status: u16,
    /// Kubo's `Code`: 1 for a client error, 0 for the node's.
    pub code: u8,
    /// Kubo's `Type`.
    pub kind: &'static str,
}

impl Kind {
    /// The RPC API's answer (Kubo's `cmds` error: `Code` 1 is `ErrClient`).
    pub fn rpc(self) -> RpcAnswer {
        match self {
            Kind::BadInput => RpcAnswer {
                status: 400,
                code: 1,
                kind: "error",
            },
            _ => RpcAnswer {
                status: 500,
                code: 0,
                kind: "error",
            },
        }
    }

    /// The gateway's HTTP status.
    pub fn gateway_status(self) -> u16 {
        match self {
            Kind::BadInput | Kind::InvalidPath => 400,
            Kind::NotFound => 404,
            Kind::Unavailable => 504,
            _ => 500,
        }
    }

    /// The CLI's exit status for a command that failed with this kind.
    pub fn exit_code(self) -> u8 {
        1
    }

    /// The error of this kind around `cause`.
    pub fn wrap(self, cause: Cause) -> Error {
        match self {
            Kind::BadInput => Error::BadInput(cause),
            Kind::InvalidPath => Error::InvalidPath(cause),
            Kind::NotFound => Error::NotFound(cause),
            Kind::Unavailable => Error::Unavailable(cause),
            Kind::TooLarge => Error::TooLarge(cause),
            Kind::NoSpace => Error::NoSpace(cause),
            Kind::RepoFull => Error::RepoFull(cause),
            Kind::Corrupted => Error::Corrupted(cause),
            // An I/O failure keeps its cause as the `io::Error`'s own (it prints as
            // the cause does).
            Kind::Io => match cause.downcast::<io::Error>() {
                Ok(e) => Error::Io(*e),
                Err(cause) => Error::Io(io::Error::other(cause)),
            },
            Kind::Other => Error::Other(cause),
        }
    }
}

impl Error {
    /// An error of kind `kind` with the message `msg`.
    pub fn new(kind: Kind, msg: impl Into<String>) -> Error {
        kind.wrap(msg.into().into())
    }

    /// Its text with its causes', as `anyhow` prints an error with `{:#}`
    /// (`outer: inner: ...`).
    pub fn full_text(&self) -> String {
        let mut text = self.to_string();
        let mut cause = self.source();
        while let Some(c) = cause {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cause = c.source();
        }
        text
    }

    /// Its kind.
    pub fn kind(&self) -> Kind {
        match self {
            Error::BadInput(_) => Kind::BadInput,
            Error::InvalidPath(_) => Kind::InvalidPath,
            Error::NotFound(_) => Kind::NotFound,
            Error::Unavailable(_) => Kind::Unavailable,
            Error::TooLarge(_) => Kind::TooLarge,
            Error::NoSpace(_) => Kind::NoSpace,
            Error::RepoFull(_) => Kind::RepoFull,
            Error::Corrupted(_) => Kind::Corrupted,
            Error::Io(_) => Kind::Io,
            Error::Other(_) => Kind::Other,
        }
    }

    /// The kind of an error of the node's logic (or of a front end that wraps a
    /// core error with context): the first cause in its chain that says one.
    pub fn classify(e: &(dyn StdError + 'static)) -> Kind {
        let mut cause = Some(e);
        // The RPC rule first: a client's fault anywhere in the chain is a bad input.
        while let Some(c) = cause {
            if client_fault(c) {
                return Kind::BadInput;
            }
            cause = c.source();
        }
        let mut cause = Some(e);
        while let Some(c) = cause {
            if let Some(k) = kind_of_cause(c) {
                return k;
            }
            cause = c.source();
        }
        Kind::Other
    }

    /// [`Error::classify`] of an `anyhow` error's chain.
    pub fn classify_anyhow(e: &anyhow::Error) -> Kind {
        Error::classify(AsRef::<dyn StdError + 'static>::as_ref(e))
    }

    /// The CLI's exit status for a command's error (which may wrap a core error
    /// in the CLI's context): [`Kind::exit_code`] of its kind, 0 on a broken pipe.
    pub fn exit_code_of(e: &anyhow::Error) -> u8 {
        // A reader of our output that went away is not a failure.
        if e.chain().any(is_broken_pipe) {
            0
        } else {
            Error::classify_anyhow(e).exit_code()
        }
    }
}

fn is_broken_pipe(c: &(dyn StdError + 'static)) -> bool {
    if let Some(Error::Io(e)) = c.downcast_ref::<Error>() {
        return e.kind() == io::ErrorKind::BrokenPipe;
    }
    c.downcast_ref::<io::Error>()
        .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
}

/// A failure that is the client's fault: an unparsable peer address, a malformed
/// request body, a bad entry of an upload (a body reader's error arrives inside an
/// `io::Error`).
fn client_fault(c: &(dyn StdError + 'static)) -> bool {
    if let Some(e) = c.downcast_ref::<Error>() {
        return e.kind() == Kind::BadInput;
    }
    if let Some(NetError::BadAddr { .. }) = c.downcast_ref::<NetError>() {
        return true;
    }
    let c = match c.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
        Some(inner) => inner as &(dyn StdError + 'static),
        None => c,
    };
    c.is::<MalformedBody>() || c.is::<AddEntryError>()
}

/// The kind a cause says by its type, if it says one.
fn kind_of_cause(c: &(dyn StdError + 'static)) -> Option<Kind> {
    if let Some(e) = c.downcast_ref::<Error>() {
        return match e {
            // Its cause may say more (an error kept as `Other` at first).
            Error::Other(_) => None,
            e => Some(e.kind()),
        };
    }
    if let Some(e) = c.downcast_ref::<WaitError>() {
        return wait_kind(e);
    }
    if let Some(e) = c.downcast_ref::<ExportError>() {
        return Some(export_kind(e));
    }
    if let Some(e) = c.downcast_ref::<BlockError>() {
        return block_kind(e);
    }
    if let Some(e) = c.downcast_ref::<CarError>() {
        return car_kind(e);
    }
    if let Some(e) = c.downcast_ref::<DagError>() {
        return dag_kind(e);
    }
    if let Some(e) = c.downcast_ref::<PinError>() {
        return pin_kind(e);
    }
    if let Some(e) = c.downcast_ref::<GcError>() {
        return match e {
            GcError::Mark(d) => dag_kind(d),
            GcError::Pins(p) => pin_kind(p),
            GcError::Store(b) => block_kind(b),
        };
    }
    if let Some(e) = c.downcast_ref::<RepoError>() {
        return repo_kind(e);
    }
    if let Some(e) = c.downcast_ref::<ImportError>() {
        return import_kind(e);
    }
    if let Some(e) = c.downcast_ref::<NetError>() {
        return net_kind(e);
    }
    if let Some(e) = c.downcast_ref::<io::Error>() {
        return Some(io_kind(e));
    }
    None
}

/// An `io::Error`: a full disk is [`Kind::NoSpace`], else [`Kind::Io`].
fn io_kind(e: &io::Error) -> Kind {
    if e.kind() == io::ErrorKind::StorageFull {
        Kind::NoSpace
    } else {
        Kind::Io
    }
}

fn wait_kind(e: &WaitError) -> Option<Kind> {
    match e {
        WaitError::Retrieval { .. } | WaitError::Deadline => Some(Kind::Unavailable),
        _ => None,
    }
}

/// A block's failure. A block that is not stored is [`Kind::Unavailable`] (a
/// peer may still send it: the gateway's 504), bytes that do not match their CID
/// or a store that does not read back are [`Kind::Corrupted`].
fn block_kind(e: &BlockError) -> Option<Kind> {
    match e {
        BlockError::NotFound { .. } => Some(Kind::Unavailable),
        BlockError::TooLarge { .. } => Some(Kind::TooLarge),
        BlockError::HashMismatch { .. }
        | BlockError::Corrupted(_)
        | BlockError::FileMissing { .. }
        | BlockError::FileChanged { .. } => Some(Kind::Corrupted),
        BlockError::DiskFull { .. } | BlockError::NoSpace => Some(Kind::NoSpace),
        BlockError::RepoFull { .. } => Some(Kind::RepoFull),
        BlockError::Io(_) => Some(Kind::Io),
        BlockError::Cid(_) => None,
    }
}

fn export_kind(e: &ExportError) -> Kind {
    match e {
        ExportError::NotFound { .. } => Kind::NotFound,
        ExportError::InvalidPath { .. } => Kind::InvalidPath,
        ExportError::Block(b) => block_kind(b).unwrap_or(Kind::Other),
        ExportError::Malformed { .. } | ExportError::NotUnixfs { .. } => Kind::Corrupted,
        ExportError::TooDeep { .. } => Kind::TooLarge,
        ExportError::Io { source, .. } | ExportError::Output(source) => io_kind(source),
        _ => Kind::Other,
    }
}

fn car_kind(e: &CarError) -> Option<Kind> {
    match e {
        CarError::Block(b) => block_kind(b),
        CarError::HeaderTooLarge { .. } | CarError::SectionTooLarge { .. } => Some(Kind::TooLarge),
        CarError::Io(io) => Some(io_kind(io)),
        _ => None,
    }
}

/// A DAG walk's failure: a block not stored as [`block_kind`] says, a stored block
/// that does not decode is [`Kind::Corrupted`].
fn dag_kind(e: &DagError) -> Option<Kind> {
    match e {
        DagError::Missing { .. } => Some(Kind::Unavailable),
        DagError::Decode { .. } => Some(Kind::Corrupted),
        DagError::TooWide { .. } => Some(Kind::TooLarge),
        DagError::Store(b) => block_kind(b),
    }
}

fn pin_kind(e: &PinError) -> Option<Kind> {
    match e {
        PinError::NotPinned { .. } | PinError::FromNotPinned { .. } => Some(Kind::NotFound),
        PinError::Incomplete { .. } => Some(Kind::Unavailable),
        PinError::Corrupted(_) => Some(Kind::Corrupted),
        PinError::Dag(d) => dag_kind(d),
        PinError::Store(b) => block_kind(b),
        _ => None,
    }
}

fn repo_kind(e: &RepoError) -> Option<Kind> {
    match e {
        RepoError::NotInitialized { .. } => Some(Kind::NotFound),
        RepoError::Corrupted { .. } => Some(Kind::Corrupted),
        RepoError::Io { source, .. } => Some(io_kind(source)),
        _ => None,
    }
}

fn import_kind(e: &ImportError) -> Option<Kind> {
    match e {
        ImportError::Io { source, .. } => Some(io_kind(source)),
        ImportError::TooDeep { .. } => Some(Kind::TooLarge),
        ImportError::Block(b) => block_kind(b),
        _ => None,
    }
}

/// A network command's failure: a peer that cannot be reached, or a network that
/// is going away, is [`Kind::Unavailable`] (a bad address is the client's fault,
/// read first by [`client_fault`]).
fn net_kind(e: &NetError) -> Option<Kind> {
    match e {
        NetError::Closed | NetError::Connect { .. } => Some(Kind::Unavailable),
        NetError::NotConnected { .. } => Some(Kind::NotFound),
        _ => None,
    }
}

/// A typed cause: the error of its kind around it.
fn typed<E: StdError + Send + Sync + 'static>(e: E) -> Error {
    let kind = Error::classify(&e);
    kind.wrap(Box::new(e))
}

impl From<anyhow::Error> for Error {
    /// The node's logic still returns `anyhow` errors: the kind is read from the
    /// chain here, once, and the chain is kept as the cause.
    fn from(e: anyhow::Error) -> Error {
        let e = match e.downcast::<Error>() {
            Ok(e) => return e,
            Err(e) => e,
        };
        let kind = Error::classify_anyhow(&e);
        kind.wrap(e.into())
    }
}

impl From<io::Error> for Error {
    /// [`Kind::NoSpace`] for a full disk (`ENOSPC`), [`Kind::BadInput`] for a
    /// request body the client got wrong (its reader's error inside), else
    /// [`Kind::Io`].
    fn from(e: io::Error) -> Error {
        typed(e)
    }
}

impl From<BlockError> for Error {
    fn from(e: BlockError) -> Error {
        typed(e)
    }
}

impl From<ExportError> for Error {
    fn from(e: ExportError) -> Error {
        typed(e)
    }
}

impl From<CarError> for Error {
    fn from(e: CarError) -> Error {
        typed(e)
    }
}

impl From<DagError> for Error {
    fn from(e: DagError) -> Error {
        typed(e)
    }
}

impl From<PinError> for Error {
    fn from(e: PinError) -> Error {
        typed(e)
    }
}

impl From<GcError> for Error {
    fn from(e: GcError) -> Error {
        typed(e)
    }
}

impl From<RepoError> for Error {
    fn from(e: RepoError) -> Error {
        typed(e)
    }
}

impl From<ImportError> for Error {
    fn from(e: ImportError) -> Error {
        typed(e)
    }
}

/// Errors that say no kind of their own: [`Kind::Other`] unless their chain says
/// one ([`Error::classify`]).
macro_rules! typed_from {
    ($($t:ty),* $(,)?) => {
        $(impl From<$t> for Error {
            fn from(e: $t) -> Error {
                typed(e)
            }
        })*
    };
}

typed_from!(
    acorn_storage::cids::CidError,
    acorn_storage::codec::CodecError,
    acorn_storage::kubo::KuboError,
    crate::config::ConfigError,
    crate::profiles::ProfileError,
    crate::budget::BudgetError,
);

impl From<WaitError> for Error {
    fn from(e: WaitError) -> Error {
        typed(e)
    }
}

impl From<NetError> for Error {
    fn from(e: NetError) -> Error {
        typed(e)
    }
}

/// The core API's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `anyhow`'s `context` for the core API: the context on top of the error's chain,
/// as an [`Error`] of the kind the chain says (the text prints as `anyhow`'s).
pub trait Context<T, E> {
    /// The error with `context` on top.
    fn context<C>(self, context: C) -> Result<T>
    where
        C: std::fmt::Display + Send + Sync + 'static;
    /// The error with the context `f` gives on top (called on failure only).
    fn with_context<C, F>(self, f: F) -> Result<T>
    where
        C: std::fmt::Display + Send + Sync + 'static,
        F: FnOnce() -> C;
}

impl<T, E, R: anyhow::Context<T, E>> Context<T, E> for R {
    fn context<C>(self, context: C) -> Result<T>
    where
        C: std::fmt::Display + Send + Sync + 'static,
    {
        anyhow::Context::context(self, context).map_err(Error::from)
    }

    fn with_context<C, F>(self, f: F) -> Result<T>
    where
        C: std::fmt::Display + Send + Sync + 'static,
        F: FnOnce() -> C,
    {
        anyhow::Context::with_context(self, f).map_err(Error::from)
    }
}

/// Returns an [`Error`] of [`Kind::Other`] with a formatted message, or of the
/// kind named first (`bail!(BadInput, "...")`): `anyhow::bail!` for the core API.
macro_rules! bail {
    ($kind:ident, $fmt:literal $($arg:tt)*) => {
        return Err($crate::core_api::error::Error::new(
            $crate::core_api::error::Kind::$kind,
            format!($fmt $($arg)*),
        ))
    };
    ($fmt:literal $($arg:tt)*) => {
        return Err($crate::core_api::error::Error::new(
            $crate::core_api::error::Kind::Other,
            format!($fmt $($arg)*),
        ))
    };
    ($msg:expr) => {
        return Err($crate::core_api::error::Error::new(
            $crate::core_api::error::Kind::Other,
            $msg,
        ))
    };
}

/// [`bail!`] unless `cond` holds: `anyhow::ensure!` for the core API.
macro_rules! ensure {
    ($cond:expr, $($rest:tt)*) => {
        if !$cond {
            $crate::core_api::error::bail!($($rest)*);
        }
    };
}

pub(crate) use {bail, ensure};

#[cfg(test)]
mod tests {
    use super::*;
    use acorn_storage::cids;

    fn cid() -> crate::core_api::Cid {
        cids::cid_of(1, 0x55, b"x")
    }

    #[test]
    fn kinds_from_the_node_errors() {
        let cid = cid();
        let nf = anyhow::Error::from(ExportError::NotFound {
            name: "x".into(),
            parent: cid,
        });
        assert_eq!(Error::from(nf).kind().gateway_status(), 404);
        let missing = anyhow::Error::from(BlockError::NotFound { cid }).context("fetching");
        let e = Error::from(missing);
        assert_eq!(e.kind().gateway_status(), 504);
        assert_eq!(e.kind().rpc().status, 500);
        // The text is the chain's, unchanged.
        assert_eq!(
            format!("{:#}", anyhow::Error::from(e)),
            format!("fetching: {}", BlockError::NotFound { cid })
        );
        let bad = Error::from(NetError::BadAddr {
            addr: "x".into(),
            reason: "y".into(),
        });
        assert_eq!((bad.kind().rpc().status, bad.kind().rpc().code), (400, 1));
        let body = io::Error::new(io::ErrorKind::InvalidData, MalformedBody("m".into()));
        assert_eq!(
            Error::classify_anyhow(&anyhow::Error::from(body)),
            Kind::BadInput
        );
        assert_eq!(
            Error::from(anyhow::anyhow!("other"))
                .kind()
                .gateway_status(),
            500
        );
    }

    fn gateway_status(e: &anyhow::Error) -> u16 {
        Error::classify_anyhow(e).gateway_status()
    }

    #[test]
    fn gateway_statuses() {
        let cid = cids::parse("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o").unwrap();
        let nf = anyhow::Error::from(ExportError::NotFound {
            name: "x".into(),
            parent: cid,
        });
        assert_eq!(gateway_status(&nf), 404);
        let missing = anyhow::Error::from(ExportError::from(BlockError::NotFound { cid }));
        assert_eq!(gateway_status(&missing), 504);
        let missing = anyhow::Error::from(BlockError::NotFound { cid }).context("fetching");
        assert_eq!(gateway_status(&missing), 504);
        let car = anyhow::Error::from(CarError::Block(BlockError::NotFound { cid }));
        assert_eq!(gateway_status(&car), 504);
        assert_eq!(gateway_status(&anyhow::anyhow!("other")), 500);
    }

    #[test]
    fn a_broken_pipe_exits_zero() {
        let e = anyhow::Error::from(Error::from(io::Error::from(io::ErrorKind::BrokenPipe)))
            .context("writing");
        assert_eq!(Error::exit_code_of(&e), 0);
        assert_eq!(Error::exit_code_of(&anyhow::anyhow!("x")), 1);
        let raw = anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(Error::exit_code_of(&raw), 0);
    }

    #[test]
    fn a_kind_survives_a_round_trip_through_anyhow() {
        let e = Error::new(Kind::BadInput, "nope");
        let back = Error::from(anyhow::Error::from(e).context("ctx"));
        assert_eq!(back.kind(), Kind::BadInput);
    }

    /// Each kind the storage and network errors say, with its answers: every one
    /// keeps the node's text.
    #[test]
    fn kinds_of_the_storage_and_network_errors() {
        use acorn_storage::codec::CodecError;
        let cid = cid();
        let kind = |e: Error| e.kind();
        // A block not stored: Unavailable (RPC 500 with Kubo's `Code` 0, the
        // gateway's 504, exit 1).
        let missing = Error::from(BlockError::NotFound { cid });
        assert_eq!(missing.to_string(), format!("block {cid} not found"));
        assert_eq!(missing.kind(), Kind::Unavailable);
        assert_eq!(
            (missing.kind().rpc(), missing.kind().gateway_status()),
            (
                RpcAnswer {
                    status: 500,
                    code: 0,
                    kind: "error"
                },
                504
            )
        );
        assert_eq!(kind(DagError::Missing { cid }.into()), Kind::Unavailable);
        assert_eq!(
            kind(
                PinError::Incomplete {
                    root: Box::new(cid),
                    missing: cid
                }
                .into()
            ),
            Kind::Unavailable
        );
        // Not found: a pin that is not there (RPC 500, `Code` 0 as Kubo).
        let unpinned = Error::from(PinError::NotPinned { cid });
        assert_eq!(unpinned.kind(), Kind::NotFound);
        assert_eq!(
            (unpinned.kind().rpc().status, unpinned.kind().rpc().code),
            (500, 0)
        );
        assert_eq!(unpinned.to_string(), format!("{cid} is not pinned"));
        // A full disk, however it is said.
        for e in [
            Error::from(BlockError::NoSpace),
            Error::from(BlockError::DiskFull {
                path: "/r".into(),
                free: 1,
                needed: 2,
            }),
            Error::from(io::Error::from_raw_os_error(28)),
            Error::from(PinError::Store(BlockError::NoSpace)),
            Error::from(RepoError::Io {
                path: "/r".into(),
                source: io::Error::from_raw_os_error(28),
            }),
            Error::from(anyhow::Error::from(BlockError::NoSpace).context("adding")),
        ] {
            assert_eq!(e.kind(), Kind::NoSpace, "{e}");
            assert_eq!(e.kind().rpc().status, 500);
        }
        assert_eq!(
            Error::from(BlockError::NoSpace).to_string(),
            BlockError::NoSpace.to_string()
        );
        // Corrupted: bytes that do not match their CID, a stored block that does
        // not decode, a broken pin table.
        assert_eq!(
            kind(BlockError::HashMismatch { cid }.into()),
            Kind::Corrupted
        );
        assert_eq!(
            kind(BlockError::Corrupted("x".into()).into()),
            Kind::Corrupted
        );
        let undecodable = DagError::Decode {
            cid,
            source: Box::new(CodecError::Unsupported(0x99)),
        };
        assert_eq!(kind(GcError::Mark(undecodable).into()), Kind::Corrupted);
        assert_eq!(
            kind(PinError::Corrupted("x".into()).into()),
            Kind::Corrupted
        );
        // Over a limit.
        let big = BlockError::TooLarge {
            cid,
            len: 3,
            limit: 2,
        };
        assert_eq!(kind(big.into()), Kind::TooLarge);
        let section = CarError::SectionTooLarge {
            index: 0,
            len: 3,
            limit: 2,
        };
        assert_eq!(kind(section.into()), Kind::TooLarge);
        // I/O, with the `io::Error` as the source the caller can read.
        let io_err = Error::from(BlockError::Io("disk said no".into()));
        assert_eq!(io_err.kind(), Kind::Io);
        assert_eq!(io_err.to_string(), "storage I/O: disk said no");
        let Error::Io(inner) = Error::from(io::Error::other("eio")) else {
            panic!("not Io")
        };
        assert_eq!(inner.to_string(), "eio");
        // The network: a peer we cannot reach, a peer not connected.
        let peer = libp2p::PeerId::random();
        let unreachable = NetError::Connect {
            peer,
            reason: "timeout".into(),
        };
        assert_eq!(kind(unreachable.into()), Kind::Unavailable);
        assert_eq!(kind(NetError::NotConnected { peer }.into()), Kind::NotFound);
        // A request body the client got wrong, read through an `io::Error`.
        let body = io::Error::new(io::ErrorKind::InvalidData, MalformedBody("m".into()));
        assert_eq!(kind(body.into()), Kind::BadInput);
        // What says no kind stays Other.
        let cid_err = acorn_storage::cids::CidError::UnknownCodec("x".into());
        assert_eq!(kind(cid_err.into()), Kind::Other);
    }

    #[test]
    fn bail_and_context_keep_the_text_and_say_the_kind() {
        fn over(n: usize) -> Result<()> {
            ensure!(n < 2, TooLarge, "{n} is over the limit");
            ensure!(n != 1, "one is refused");
            Ok(())
        }
        let e = over(3).unwrap_err();
        assert_eq!(
            (e.kind(), e.to_string()),
            (Kind::TooLarge, "3 is over the limit".into())
        );
        let e = over(1).unwrap_err();
        assert_eq!(
            (e.kind(), e.to_string()),
            (Kind::Other, "one is refused".into())
        );
        over(0).unwrap();
        let e = std::result::Result::<(), _>::Err(BlockError::NoSpace)
            .context("storing")
            .unwrap_err();
        assert_eq!(e.kind(), Kind::NoSpace);
        assert_eq!(e.full_text(), format!("storing: {}", BlockError::NoSpace));
        assert_eq!(
            format!("{:#}", anyhow::Error::from(e)),
            format!("storing: {}", BlockError::NoSpace)
        );
    }
}
