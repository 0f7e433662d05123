//! The codecs' errors: [`CodecError`] for every codec, and the typed reason a
//! block is malformed in each one ([`Malformed`]). Below every codec, so that a
//! codec and the dispatch in `codec` import from here and nothing here imports a
//! codec.

use crate::proto;
use minicbor::data::Type;

/// What is wrong with bytes in their codec: each codec's own reason, typed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Malformed {
    /// A dag-pb rule broken.
    #[error(transparent)]
    DagPb(#[from] DagPbError),
    /// A DAG-CBOR rule broken.
    #[error(transparent)]
    DagCbor(#[from] DagCborError),
    /// A DAG-JSON rule broken.
    #[error("{reason} at byte {at}")]
    DagJson {
        /// The rule.
        reason: DagJsonError,
        /// Where the parser stood, in bytes from the start.
        at: usize,
    },
    /// DAG-JSON bytes that are not UTF-8.
    #[error("not UTF-8: {0}")]
    NotUtf8(std::str::Utf8Error),
}

/// Errors of decoding and encoding any codec.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CodecError {
    /// Bytes that are not valid in the codec.
    #[error("malformed {codec}: {reason}")]
    Malformed {
        /// The codec's name.
        codec: &'static str,
        /// What is wrong, and where.
        reason: Malformed,
    },
    /// A value the codec cannot represent.
    #[error("cannot encode as {codec}: {reason}")]
    Unencodable {
        /// The codec's name.
        codec: &'static str,
        /// Why.
        reason: String,
    },
    /// A multicodec we have no codec for.
    #[error("unsupported codec 0x{0:x}")]
    Unsupported(u64),
}

impl CodecError {
    pub(crate) fn malformed(codec: &'static str, reason: impl Into<Malformed>) -> Self {
        CodecError::Malformed {
            codec,
            reason: reason.into(),
        }
    }
    pub(crate) fn unencodable(codec: &'static str, reason: impl Into<String>) -> Self {
        CodecError::Unencodable {
            codec,
            reason: reason.into(),
        }
    }
}

/// Why dag-pb bytes are not a valid node (the reason in [`Malformed::DagPb`]).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DagPbError {
    /// Bad protobuf framing: a varint or a length past the end.
    #[error(transparent)]
    Protobuf(#[from] proto::Error),
    /// A link's fields are not in increasing field order, or one repeats.
    #[error("link field {field} out of order or repeated")]
    LinkFieldOrder {
        /// The field number found.
        field: u64,
    },
    /// A link's `Hash` is not CID bytes (`reason` is the cid crate's message).
    #[error("invalid Hash field found in link, expected CID ({reason})")]
    BadHash {
        /// Why the bytes are not a CID.
        reason: String,
    },
    /// A link's `Hash` has bytes after the CID.
    #[error("invalid Hash field found in link: trailing bytes after the CID")]
    HashTrailingBytes,
    /// A link has no `Hash`.
    #[error("invalid Hash field found in link, expected CID")]
    MissingHash,
    /// A link's `Name` is not UTF-8.
    #[error("link Name is not valid UTF-8")]
    NameNotUtf8,
    /// A link field number or wire type the schema does not have.
    #[error("unexpected field {field} with wire type {wire} in link")]
    UnexpectedLinkField {
        /// The field number.
        field: u64,
        /// Its wire type.
        wire: u64,
    },
    /// A node field number or wire type the schema does not have.
    #[error("unexpected field {field} with wire type {wire} in node")]
    UnexpectedNodeField {
        /// The field number.
        field: u64,
        /// Its wire type.
        wire: u64,
    },
    /// Links after the Data field (canonical order is Links, then Data).
    #[error("duplicate Links section (Links after Data)")]
    LinksAfterData,
    /// Two Data fields.
    #[error("duplicate Data field")]
    DuplicateData,
}

/// Why bytes are not strict DAG-CBOR (the reason in [`Malformed::DagCbor`]); `at`
/// is the byte offset of the offending item.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DagCborError {
    /// Not well-formed CBOR (minicbor's message).
    #[error("{0}")]
    Cbor(String),
    /// A head longer than its argument needs.
    #[error("non-canonical {head_len}-byte head for argument {arg} at byte {at}")]
    NotShortest {
        /// The head's length in bytes.
        head_len: usize,
        /// Its argument.
        arg: u64,
        /// Where the item starts.
        at: usize,
    },
    /// A length that the bytes left cannot hold.
    #[error("length {count} at byte {at} exceeds the {remaining} bytes left")]
    LengthExceeds {
        /// The announced count of bytes or items.
        count: u64,
        /// Where the item starts.
        at: usize,
        /// Bytes left.
        remaining: u64,
    },
    /// An integer outside CBOR's −2⁶⁴ … 2⁶⁴−1.
    #[error("integer {0} out of range")]
    IntegerRange(i128),
    /// Lists and maps nested deeper than the codec's limit.
    #[error("nesting deeper than {limit} levels")]
    TooDeep {
        /// The limit, in levels.
        limit: usize,
    },
    /// An indefinite-length item.
    #[error("indefinite-length {what} at byte {at}")]
    Indefinite {
        /// `array`, `map` or `item`.
        what: &'static str,
        /// Where it starts.
        at: usize,
    },
    /// A map key that is not a text string.
    #[error("map key at byte {at} is not a string")]
    KeyNotString {
        /// Where the key starts.
        at: usize,
    },
    /// A map key given twice.
    #[error("repeated map key {key:?} at byte {at}")]
    RepeatedKey {
        /// The key.
        key: String,
        /// Where its second copy starts.
        at: usize,
    },
    /// Map keys not in the canonical order (length, then bytes).
    #[error("map key {key:?} at byte {at} is out of canonical order")]
    KeyOrder {
        /// The key out of place.
        key: String,
        /// Where it starts.
        at: usize,
    },
    /// A tag other than 42.
    #[error("tag {tag} at byte {at} (only 42 is allowed)")]
    Tag {
        /// The tag.
        tag: u64,
        /// Where it starts.
        at: usize,
    },
    /// Tag 42 over something else than a byte string.
    #[error("tag 42 at byte {at} does not wrap a byte string")]
    TagNotBytes {
        /// Where the tag starts.
        at: usize,
    },
    /// A link's bytes without the leading 0x00.
    #[error("CID at byte {at} lacks the 0x00 multibase prefix")]
    CidPrefix {
        /// Where the tag starts.
        at: usize,
    },
    /// A link's bytes that are not a CID.
    #[error("invalid CID at byte {at}: {reason}")]
    BadCid {
        /// Where the tag starts.
        at: usize,
        /// The cid crate's message.
        reason: String,
    },
    /// A link's CID in a non-canonical encoding.
    #[error("non-canonical CID bytes at byte {at}")]
    CidNotCanonical {
        /// Where the tag starts.
        at: usize,
    },
    /// NaN or ±Infinity.
    #[error("non-finite float {value} at byte {at}")]
    NonFinite {
        /// The value.
        value: f64,
        /// Where it starts.
        at: usize,
    },
    /// A 16- or 32-bit float.
    #[error("{ty} at byte {at} (only 64-bit floats are allowed)")]
    ShortFloat {
        /// Its CBOR type.
        ty: Type,
        /// Where it starts.
        at: usize,
    },
    /// `undefined`, a simple value or a break code.
    #[error("unsupported CBOR item {ty} at byte {at}")]
    Unsupported {
        /// Its CBOR type.
        ty: Type,
        /// Where it starts.
        at: usize,
    },
    /// Bytes after the one data item.
    #[error("{count} trailing bytes after the data item at byte {at}")]
    TrailingBytes {
        /// How many.
        count: usize,
        /// Where they start.
        at: usize,
    },
}

/// Why text is not DAG-JSON (the reason in [`Malformed::DagJson`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DagJsonError {
    /// A JSON syntax or escape rule broken; the text says which.
    #[error("{0}")]
    Syntax(&'static str),
    /// Another character than the one the grammar needs here.
    #[error("expected {0:?}")]
    Expected(char),
    /// A character that starts no JSON value.
    #[error("unexpected character {0:?}")]
    UnexpectedChar(char),
    /// Arrays and objects nested deeper than the codec's limit.
    #[error("nesting deeper than {limit} levels")]
    TooDeep {
        /// The limit, in levels.
        limit: usize,
    },
    /// An object with a key twice (the key).
    #[error("repeat map key {0:?}")]
    RepeatedKey(String),
    /// A backslash escape JSON does not have (the character after the backslash).
    #[error("invalid escape \\{0}")]
    InvalidEscape(char),
    /// Bytes that are not UTF-8 inside a string or number.
    #[error("{0}")]
    Utf8(std::str::Utf8Error),
    /// A float literal Rust cannot read.
    #[error("invalid float {text}: {reason}")]
    BadFloat {
        /// The literal.
        text: String,
        /// The parser's error.
        reason: std::num::ParseFloatError,
    },
    /// A float literal beyond `f64` (the literal).
    #[error("float {0} is out of range")]
    FloatRange(String),
    /// An integer literal that does not parse.
    #[error("invalid integer {text}: {reason}")]
    BadInteger {
        /// The literal.
        text: String,
        /// The parser's error.
        reason: std::num::ParseIntError,
    },
    /// An integer literal outside −2⁶⁴ … 2⁶⁴−1 (the literal).
    #[error("integer {0} outside -2^64..2^64-1")]
    IntegerRange(String),
    /// A link whose string is not a CID.
    #[error("invalid CID {text:?} in link: {reason}")]
    BadLink {
        /// The string.
        text: String,
        /// The cid crate's message.
        reason: String,
    },
    /// A link whose CID is not written canonically (the string).
    #[error("CID {0:?} is not in canonical form (CIDv0 base58btc or CIDv1 base32)")]
    LinkNotCanonical(String),
    /// Bytes whose string is not standard unpadded base64.
    #[error("invalid base64 (standard, unpadded) in bytes: {0}")]
    BadBase64(multibase::Error),
    /// A reserved-namespace object (link or bytes) that is not valid.
    #[error("{reason} (object at byte {at})")]
    InObject {
        /// What is wrong with it.
        reason: Box<DagJsonError>,
        /// Where the object starts.
        at: usize,
    },
}
