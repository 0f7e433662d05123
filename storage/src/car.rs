//! CARv1: the content-addressed archive format of `dag export` / `dag import` and
//! the gateway's `application/vnd.ipld.car` responses.
//!
//! Spec: ipld/specs `transport/car/carv1`. Layout:
//! `varint(header_len) header` then sections `varint(len) CID-bytes block-bytes`
//! until EOF. The header is DAG-CBOR `{"roots": [CID...], "version": 1}`; it is
//! written and read by hand with minicbor's low-level encoder/decoder, strictly:
//! after decoding, the header is re-encoded canonically and must equal the input
//! byte for byte (so no other keys, no non-shortest integers, no indefinite
//! lengths, keys in canonical order "roots" then "version").
//!
//! Flow:
//! - [`CarWriter`] writes the header on creation, then one section per
//!   [`CarWriter::write_block`]; [`export_dag`] walks a DAG depth-first (parent
//!   first, links in order, each distinct CID once) as Kubo's `dag export` does and
//!   streams it through a writer.
//! - [`CarReader`] parses the header on creation; [`CarReader::next_block`] reads one
//!   section: the length is checked against the limit **before** any allocation,
//!   the bytes are read, the CID parsed, the block's hash verified.
//! - [`import`] reads every block into a [`BlockSink`]. Atomicity is the caller's:
//!   give it a sink that batches (a write transaction) and commit only when
//!   `import` returned `Ok`, so a truncated or corrupt CAR leaves the store as it was.
//!
//! Limits:
//! - [`MAX_HEADER_BYTES`] for the header, [`MAX_BLOCK_BYTES`] per block plus
//!   [`MAX_CID_BYTES`] for its CID: at most one section (≈ 2 MiB) is in memory.
//! - [`export_dag`] remembers every CID it wrote (to write each once): memory grows
//!   by about 100 bytes per distinct block of the DAG.
//!
//! Departures: blocks whose hash function we cannot compute (not sha2-256 or
//! identity) are refused on read rather than passed through unverified; an empty
//! section (length 0) is an error, not end-of-file.

use crate::block::{BlockError, BlockSink, BlockSource, MAX_BLOCK_BYTES};
use crate::cids;
use crate::codec::{self, CodecError};
use crate::proto;
use cid::Cid;
use minicbor::data::{Tag, Type};
use std::collections::HashSet;
use std::io::{self, Read, Write};

/// Largest CAR header we read, in bytes. A header holding 1000 CIDv1 sha2-256 roots
/// is about 41 KiB.
pub const MAX_HEADER_BYTES: usize = 64 << 10;

/// Largest CID we accept in a section, in bytes (a 64-byte digest plus varints).
pub const MAX_CID_BYTES: usize = 128;

/// Largest section body: a CID plus a block of at most [`MAX_BLOCK_BYTES`].
pub const MAX_SECTION_BYTES: usize = MAX_BLOCK_BYTES + MAX_CID_BYTES;

/// The DAG-CBOR tag for CIDs.
const CID_TAG: u64 = 42;

/// Errors of reading and writing CAR files.
#[derive(Debug, thiserror::Error)]
pub enum CarError {
    /// The input ends inside an item.
    #[error("CAR truncated: {what}")]
    Truncated {
        /// The item.
        what: &'static str,
    },
    /// A varint over 64 bits.
    #[error("CAR {what}: varint longer than 64 bits")]
    BadVarint {
        /// The item it prefixes.
        what: &'static str,
    },
    /// The header is not a DAG-CBOR map of `roots` and `version`.
    #[error("bad CAR header: {reason}")]
    BadHeader {
        /// What is wrong.
        reason: String,
    },
    /// A CAR version other than 1.
    #[error("unsupported CAR version {0} (only version 1)")]
    UnsupportedVersion(u64),
    /// The header's length is over [`MAX_HEADER_BYTES`].
    #[error("CAR header is {len} bytes, over the limit of {limit} bytes")]
    HeaderTooLarge {
        /// The announced length.
        len: u64,
        /// The limit in bytes.
        limit: usize,
    },
    /// A section's length is over the largest block plus its CID.
    #[error("CAR section {index} is {len} bytes, over the limit of {limit} bytes")]
    SectionTooLarge {
        /// The section's position, from 0.
        index: u64,
        /// The announced length.
        len: u64,
        /// The limit in bytes.
        limit: usize,
    },
    /// A section's CID does not parse.
    #[error("CAR section {index}: {reason}")]
    BadSection {
        /// The section's position, from 0.
        index: u64,
        /// Why.
        reason: String,
    },
    /// A section's bytes do not hash to its CID.
    #[error("CAR section {index}: block bytes do not match CID {cid}")]
    HashMismatch {
        /// The section's position, from 0.
        index: u64,
        /// The CID.
        cid: Cid,
    },
    /// A block's links could not be read while exporting.
    #[error("cannot read links of block {cid}: {source}")]
    Codec {
        /// The block.
        cid: Cid,
        /// The codec's error.
        source: Box<CodecError>,
    },
    /// Reading or writing the CAR stream failed.
    #[error("CAR I/O: {0}")]
    Io(#[from] io::Error),
    /// The blockstore failed.
    #[error(transparent)]
    Block(#[from] BlockError),
}

// ---- varints ---------------------------------------------------------------

fn write_uvarint(out: &mut impl Write, v: u64) -> io::Result<()> {
    let mut buf = [0u8; proto::MAX_VARINT_BYTES];
    let n = proto::encode_varint(v, &mut buf);
    out.write_all(&buf[..n])
}

/// Reads an unsigned LEB128 varint (≤ 10 bytes). `Ok(None)` on EOF before the
/// first byte; EOF inside the varint is [`CarError::Truncated`].
fn read_uvarint(r: &mut impl Read, what: &'static str) -> Result<Option<u64>, CarError> {
    let mut d = proto::VarintDecoder::default();
    loop {
        let mut b = [0u8];
        match r.read(&mut b) {
            Ok(0) if d.is_empty() => return Ok(None),
            Ok(0) => return Err(CarError::Truncated { what }),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
        match d.push(b[0]) {
            Ok(Some(v)) => return Ok(Some(v)),
            Ok(None) => {}
            Err(_) => return Err(CarError::BadVarint { what }),
        }
    }
}

/// `read_exact` into a new buffer of `len` bytes (len already bounded by the caller),
/// growing as bytes arrive so a lying length does not allocate up front.
fn read_body(r: &mut impl Read, len: usize, what: &'static str) -> Result<Vec<u8>, CarError> {
    let mut buf = Vec::with_capacity(len.min(64 << 10));
    r.take(len as u64).read_to_end(&mut buf)?;
    if buf.len() != len {
        return Err(CarError::Truncated { what });
    }
    Ok(buf)
}

// ---- header ----------------------------------------------------------------

/// The canonical DAG-CBOR header for `roots`.
fn encode_header(roots: &[Cid]) -> Vec<u8> {
    let mut e = minicbor::Encoder::new(Vec::new());
    let mut write = || -> Result<(), minicbor::encode::Error<std::convert::Infallible>> {
        e.map(2)?.str("roots")?;
        e.array(roots.len() as u64)?;
        for r in roots {
            let mut b = Vec::with_capacity(1 + r.encoded_len());
            b.push(0); // multibase identity prefix, as DAG-CBOR requires
            b.extend_from_slice(&r.to_bytes());
            e.tag(Tag::new(CID_TAG))?.bytes(&b)?;
        }
        e.str("version")?.u64(1)?;
        Ok(())
    };
    // A Vec's write error type is `Infallible`.
    write().expect("writing into a Vec cannot fail");
    e.into_writer()
}

/// Decodes the header strictly (see module doc) and returns its roots.
fn decode_header(buf: &[u8]) -> Result<Vec<Cid>, CarError> {
    let bad = |reason: String| CarError::BadHeader { reason };
    let cbor = |e: minicbor::decode::Error| bad(e.to_string());
    let mut d = minicbor::Decoder::new(buf);
    let n = d
        .map()
        .map_err(cbor)?
        .ok_or_else(|| bad("indefinite-length map".into()))?;
    let mut roots = None;
    let mut version = None;
    for _ in 0..n {
        match d.str().map_err(cbor)? {
            "roots" if roots.is_none() => {
                let count = d
                    .array()
                    .map_err(cbor)?
                    .ok_or_else(|| bad("indefinite-length roots".into()))?;
                // Each root takes at least 1 byte: bound before allocating.
                if count > buf.len() as u64 {
                    return Err(bad(format!("{count} roots in {} bytes", buf.len())));
                }
                let mut v = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    if d.datatype().map_err(cbor)? != Type::Tag
                        || d.tag().map_err(cbor)? != Tag::new(CID_TAG)
                    {
                        return Err(bad("root is not a CID (tag 42)".into()));
                    }
                    let b = d.bytes().map_err(cbor)?;
                    let cid = match b.split_first() {
                        Some((0, rest)) => Cid::try_from(rest)
                            .map_err(|e| bad(format!("invalid root CID: {e}")))?,
                        _ => return Err(bad("root CID lacks the 0x00 prefix".into())),
                    };
                    v.push(cid);
                }
                roots = Some(v);
            }
            "version" if version.is_none() => version = Some(d.u64().map_err(cbor)?),
            other => return Err(bad(format!("unexpected or repeated key {other:?}"))),
        }
    }
    if d.position() != buf.len() {
        return Err(bad("trailing bytes after the header map".into()));
    }
    match version {
        Some(1) => {}
        Some(v) => return Err(CarError::UnsupportedVersion(v)),
        None => return Err(bad("missing version".into())),
    }
    let roots = roots.ok_or_else(|| bad("missing roots".into()))?;
    if encode_header(&roots) != buf {
        return Err(bad("header is not canonical DAG-CBOR".into()));
    }
    Ok(roots)
}

// ---- writer ----------------------------------------------------------------

/// Streams a CARv1: the header on [`CarWriter::new`], one section per block.
pub struct CarWriter<W: Write> {
    out: W,
}

impl<W: Write> CarWriter<W> {
    /// Writes the header for `roots`.
    pub fn new(mut out: W, roots: &[Cid]) -> Result<Self, CarError> {
        let h = encode_header(roots);
        write_uvarint(&mut out, h.len() as u64)?;
        out.write_all(&h)?;
        Ok(CarWriter { out })
    }

    /// Writes one section. The caller vouches that `data` matches `cid`.
    pub fn write_block(&mut self, cid: &Cid, data: &[u8]) -> Result<(), CarError> {
        let c = cid.to_bytes();
        write_uvarint(&mut self.out, (c.len() + data.len()) as u64)?;
        self.out.write_all(&c)?;
        self.out.write_all(data)?;
        Ok(())
    }

    /// The underlying writer (e.g. to measure bytes written so far).
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Flushes and returns the writer.
    pub fn finish(mut self) -> Result<W, CarError> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes the DAG under `root` as a CARv1 with that one root, depth-first as Kubo's
/// `dag export` (parent before children, links in order, each CID once). Returns
/// the number of blocks written. Missing blocks fail with [`BlockError::NotFound`].
pub fn export_dag(src: &impl BlockSource, root: &Cid, out: impl Write) -> Result<u64, CarError> {
    let mut w = CarWriter::new(out, std::slice::from_ref(root))?;
    let mut seen: HashSet<Cid> = HashSet::new();
    let mut stack = vec![*root];
    let mut count = 0u64;
    while let Some(cid) = stack.pop() {
        if !seen.insert(cid) {
            continue;
        }
        let data = src.get_required(&cid)?;
        w.write_block(&cid, &data)?;
        count += 1;
        let links = codec::links(cid.codec(), &data).map_err(|e| CarError::Codec {
            cid,
            source: Box::new(e),
        })?;
        stack.extend(links.into_iter().rev().filter(|c| !seen.contains(c)));
    }
    w.finish()?;
    Ok(count)
}

// ---- reader ----------------------------------------------------------------

/// Reads a CARv1 section by section, verifying each block.
pub struct CarReader<R: Read> {
    r: R,
    roots: Vec<Cid>,
    /// Index of the next section (for error messages).
    index: u64,
}

impl<R: Read> CarReader<R> {
    /// Reads and checks the header.
    pub fn new(mut r: R) -> Result<Self, CarError> {
        let len = read_uvarint(&mut r, "header length")?.ok_or(CarError::Truncated {
            what: "empty input, no header",
        })?;
        if len > MAX_HEADER_BYTES as u64 {
            return Err(CarError::HeaderTooLarge {
                len,
                limit: MAX_HEADER_BYTES,
            });
        }
        if len == 0 {
            return Err(CarError::BadHeader {
                reason: "empty header".into(),
            });
        }
        let buf = read_body(&mut r, len as usize, "header")?;
        let roots = decode_header(&buf)?;
        Ok(CarReader { r, roots, index: 0 })
    }

    /// The roots the header names.
    pub fn roots(&self) -> &[Cid] {
        &self.roots
    }

    /// The next block, or `None` at a clean end of file.
    pub fn next_block(&mut self) -> Result<Option<(Cid, Vec<u8>)>, CarError> {
        let index = self.index;
        let Some(len) = read_uvarint(&mut self.r, "section length")? else {
            return Ok(None);
        };
        if len > MAX_SECTION_BYTES as u64 {
            return Err(CarError::SectionTooLarge {
                index,
                len,
                limit: MAX_SECTION_BYTES,
            });
        }
        let bad = |reason: String| CarError::BadSection { index, reason };
        if len == 0 {
            return Err(bad("empty section".into()));
        }
        let buf = read_body(&mut self.r, len as usize, "section")?;
        let mut cursor = io::Cursor::new(&buf[..]);
        let cid = Cid::read_bytes(&mut cursor).map_err(|e| bad(format!("invalid CID: {e}")))?;
        let at = cursor.position() as usize;
        if at > MAX_CID_BYTES {
            return Err(bad(format!("CID of {at} bytes")));
        }
        let data = buf[at..].to_vec();
        if data.len() > MAX_BLOCK_BYTES {
            return Err(BlockError::TooLarge {
                cid,
                len: data.len(),
                limit: MAX_BLOCK_BYTES,
            }
            .into());
        }
        if !cids::verify(&cid, &data).map_err(BlockError::from)? {
            return Err(CarError::HashMismatch { index, cid });
        }
        self.index += 1;
        Ok(Some((cid, data)))
    }
}

/// What [`import`] read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// The roots the header names.
    pub roots: Vec<Cid>,
    /// Blocks read.
    pub blocks: u64,
    /// Bytes of block data read.
    pub bytes: u64,
}

/// Reads a whole CAR into `sink`, verifying every block. On error some blocks may
/// already be in `sink`: all-or-nothing is the caller's job (import into a batch
/// and commit only on `Ok`). Does not check that the roots are present (Kubo
/// checks that when pinning them).
pub fn import<S: BlockSink>(r: impl Read, sink: &mut S) -> Result<ImportSummary, CarError> {
    let mut reader = CarReader::new(r)?;
    let (mut blocks, mut bytes) = (0u64, 0u64);
    while let Some((cid, data)) = reader.next_block()? {
        sink.put(&cid, &data)?;
        blocks += 1;
        bytes += data.len() as u64;
    }
    Ok(ImportSummary {
        roots: reader.roots,
        blocks,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::MemStore;

    /// The header example of the CARv1 spec (two dag-cbor roots).
    const SPEC_HEADER_HEX: &str = "63a265726f6f747382d82a58250001711220f88bc853804cf294fe417e4fa83028689fcdb1b1592c5102e1474dbc200fab8bd82a5825000171122069ea0740f9807a28f4d932c62e7c1c83be055e55072c90266ab3e79df63a365b6776657273696f6e01";

    fn hex(s: &str) -> Vec<u8> {
        crate::util::hex::decode(s).unwrap_or_else(|| panic!("bad hex {s}"))
    }

    #[test]
    fn spec_header_both_ways() {
        let bytes = hex(SPEC_HEADER_HEX);
        let r = CarReader::new(&bytes[..]).unwrap();
        let roots: Vec<String> = r.roots().iter().map(|c| c.to_string()).collect();
        assert_eq!(
            roots,
            [
                "bafyreihyrpefhacm6kkp4ql6j6udakdit7g3dmkzfriqfykhjw6cad5lrm",
                "bafyreidj5idub6mapiupjwjsyyxhyhedxycv4vihfsicm2vt46o7morwlm"
            ]
        );
        let w = CarWriter::new(Vec::new(), r.roots()).unwrap();
        assert_eq!(w.finish().unwrap(), bytes);
    }

    #[test]
    fn header_strictness() {
        let root = cids::cid_of(1, cids::RAW, b"x");
        let good = encode_header(&[root]);
        assert_eq!(decode_header(&good).unwrap(), vec![root]);
        // version 2
        let mut v2 = good.clone();
        *v2.last_mut().unwrap() = 2;
        assert!(matches!(
            decode_header(&v2),
            Err(CarError::UnsupportedVersion(2))
        ));
        // keys in the wrong order
        let mut e = minicbor::Encoder::new(Vec::new());
        e.map(2).unwrap().str("version").unwrap().u64(1).unwrap();
        e.str("roots").unwrap().array(0).unwrap();
        assert!(matches!(
            decode_header(&e.into_writer()),
            Err(CarError::BadHeader { .. })
        ));
        // non-shortest integer for the version (0x18 0x01)
        let mut long = good[..good.len() - 1].to_vec();
        long.extend_from_slice(&[0x18, 0x01]);
        assert!(matches!(
            decode_header(&long),
            Err(CarError::BadHeader { .. })
        ));
        // trailing garbage, extra key, not a map
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(decode_header(&trailing).is_err());
        assert!(decode_header(&[0x01]).is_err());
        let mut e = minicbor::Encoder::new(Vec::new());
        e.map(3).unwrap().str("roots").unwrap().array(0).unwrap();
        e.str("version").unwrap().u64(1).unwrap();
        e.str("x").unwrap().u64(1).unwrap();
        assert!(decode_header(&e.into_writer()).is_err());
    }

    #[test]
    fn varints() {
        for v in [0u64, 1, 127, 128, 300, u64::MAX] {
            let mut b = Vec::new();
            write_uvarint(&mut b, v).unwrap();
            assert_eq!(read_uvarint(&mut &b[..], "t").unwrap(), Some(v));
        }
        assert!(matches!(
            read_uvarint(&mut &[0x80u8][..], "t"),
            Err(CarError::Truncated { .. })
        ));
        assert_eq!(read_uvarint(&mut &[][..], "t").unwrap(), None);
        let overflow = [0xffu8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(matches!(
            read_uvarint(&mut &overflow[..], "t"),
            Err(CarError::BadVarint { .. })
        ));
    }

    #[test]
    fn one_block_round_trip() {
        let data = b"hello".to_vec();
        let cid = cids::cid_of(1, cids::RAW, &data);
        let mut w = CarWriter::new(Vec::new(), &[cid]).unwrap();
        w.write_block(&cid, &data).unwrap();
        let car = w.finish().unwrap();
        let mut store = MemStore::new();
        let s = import(&car[..], &mut store).unwrap();
        assert_eq!(s.roots, vec![cid]);
        assert_eq!(s.blocks, 1);
        assert_eq!(store.get(&cid).unwrap(), Some(data));
    }
}
