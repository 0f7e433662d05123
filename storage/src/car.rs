//! CARv1: reading, streaming writing, DAG export and import.
//!
//! Spec: ipld/specs `transport/car/carv1`. A CAR is a varint-prefixed DAG-CBOR
//! header `{"roots": [CID], "version": 1}` followed by sections, each
//! `varint(len) ‖ CID bytes ‖ block bytes`.
//!
//! Flow: [`CarReader`] parses the header (bounded by [`MAX_HEADER_BYTES`]), then yields
//! one block per call; each section length is checked against
//! [`MAX_SECTION_BYTES`] before anything is allocated, and every block is hashed
//! and checked against its CID. [`export_dag`] walks a DAG depth-first (each block
//! once, links in order, as Kubo's `dag export`) and streams sections out.
//! [`import`] streams a CAR into a [`BlockSink`]; all-or-nothing is the caller's
//! job (validate a whole CAR with [`NullSink`](crate::block::NullSink) first, then
//! import it; the CLI does this).
//!
//! **Limits**: header ≤ [`MAX_HEADER_BYTES`]; section ≤ [`MAX_SECTION_BYTES`]
//! (a 2 MiB block plus its CID); `export_dag` keeps a set of visited CIDs in
//! memory (about 100 bytes per block of the DAG).

use crate::block::{BlockError, BlockSink, BlockSource, MAX_BLOCK_BYTES};
use crate::cids;
use crate::codec::dagpb::{varint_len, write_varint};
use crate::codec::{self, dagcbor, Ipld};
use cid::Cid;
use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};

/// Largest CAR header we read, in bytes.
pub const MAX_HEADER_BYTES: usize = 1 << 20;
/// Largest section (CID + block) we read, in bytes.
pub const MAX_SECTION_BYTES: usize = MAX_BLOCK_BYTES + 128;
/// Most roots a header may list.
pub const MAX_ROOTS_COUNT: usize = 1024;

/// Errors of CAR handling.
#[derive(Debug, thiserror::Error)]
pub enum CarError {
    #[error("invalid CAR header: {0}")]
    BadHeader(String),
    #[error("unsupported CAR version {0} (only 1)")]
    Version(i128),
    #[error("truncated CAR: {0}")]
    Truncated(String),
    #[error("CAR section of {len} bytes is over the limit of {limit}")]
    SectionTooLarge { len: u64, limit: usize },
    #[error("invalid CID in CAR section: {0}")]
    BadCid(String),
    #[error("block {cid} in CAR does not match its CID")]
    HashMismatch { cid: Cid },
    #[error("block {cid}: {source}")]
    Links {
        cid: Cid,
        source: Box<codec::CodecError>,
    },
    #[error("CAR I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Block(#[from] BlockError),
}

/// Reads a varint from `r`: `Ok(None)` at a clean end of input.
fn read_varint(r: &mut impl Read) -> Result<Option<u64>, CarError> {
    let mut v: u64 = 0;
    for i in 0..10 {
        let mut b = [0u8; 1];
        if r.read(&mut b)? == 0 {
            if i == 0 {
                return Ok(None);
            }
            return Err(CarError::Truncated("inside a length varint".into()));
        }
        if i == 9 && b[0] > 1 {
            return Err(CarError::Truncated("varint overflows 64 bits".into()));
        }
        v |= u64::from(b[0] & 0x7f) << (7 * i);
        if b[0] & 0x80 == 0 {
            return Ok(Some(v));
        }
    }
    Err(CarError::Truncated("varint longer than 10 bytes".into()))
}

fn read_exact_or_truncated(r: &mut impl Read, buf: &mut [u8], what: &str) -> Result<(), CarError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => CarError::Truncated(what.to_string()),
        _ => CarError::Io(e),
    })
}

/// Encodes a CARv1 header.
pub fn encode_header(roots: &[Cid]) -> Vec<u8> {
    let mut m = BTreeMap::new();
    m.insert(
        "roots".to_string(),
        Ipld::List(roots.iter().map(|c| Ipld::Link(*c)).collect()),
    );
    m.insert("version".to_string(), Ipld::Integer(1));
    // A map of links and an integer always encodes: cannot fail.
    let body = dagcbor::encode(&Ipld::Map(m)).expect("CAR header encodes");
    let mut out = Vec::with_capacity(body.len() + 10);
    write_varint(&mut out, body.len() as u64);
    out.extend_from_slice(&body);
    out
}

/// Streaming CARv1 writer.
pub struct CarWriter<W: Write> {
    out: W,
    blocks: u64,
}

impl<W: Write> CarWriter<W> {
    /// Writes the header.
    pub fn new(mut out: W, roots: &[Cid]) -> Result<Self, CarError> {
        out.write_all(&encode_header(roots))?;
        Ok(CarWriter { out, blocks: 0 })
    }

    /// Writes one section.
    pub fn write_block(&mut self, cid: &Cid, data: &[u8]) -> Result<(), CarError> {
        let c = cid.to_bytes();
        let mut head = Vec::with_capacity(10 + c.len());
        write_varint(&mut head, (c.len() + data.len()) as u64);
        head.extend_from_slice(&c);
        self.out.write_all(&head)?;
        self.out.write_all(data)?;
        self.blocks += 1;
        Ok(())
    }

    /// Flushes and returns the writer.
    pub fn finish(mut self) -> Result<W, CarError> {
        self.out.flush()?;
        Ok(self.out)
    }

    /// Sections written so far.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }
}

/// Bytes a section takes for `cid` and a block of `len` bytes.
pub fn section_len(cid: &Cid, len: usize) -> usize {
    let n = cid.encoded_len() + len;
    varint_len(n as u64) + n
}

/// Streaming CARv1 reader.
pub struct CarReader<R: Read> {
    r: R,
    roots: Vec<Cid>,
}

impl<R: Read> CarReader<R> {
    /// Reads and checks the header.
    pub fn new(mut r: R) -> Result<Self, CarError> {
        let len = read_varint(&mut r)?
            .ok_or_else(|| CarError::Truncated("empty input, no header".into()))?;
        if len == 0 || len > MAX_HEADER_BYTES as u64 {
            return Err(CarError::BadHeader(format!(
                "header length {len} (limit {MAX_HEADER_BYTES})"
            )));
        }
        let mut buf = vec![0u8; len as usize];
        read_exact_or_truncated(&mut r, &mut buf, "inside the header")?;
        let v = dagcbor::decode(&buf).map_err(|e| CarError::BadHeader(e.to_string()))?;
        let Ipld::Map(m) = v else {
            return Err(CarError::BadHeader("not a map".into()));
        };
        match m.get("version") {
            Some(Ipld::Integer(1)) => {}
            Some(Ipld::Integer(v)) => return Err(CarError::Version(*v)),
            _ => return Err(CarError::BadHeader("missing version".into())),
        }
        let Some(Ipld::List(list)) = m.get("roots") else {
            return Err(CarError::BadHeader("missing roots".into()));
        };
        if list.len() > MAX_ROOTS_COUNT {
            return Err(CarError::BadHeader(format!(
                "{} roots (limit {MAX_ROOTS_COUNT})",
                list.len()
            )));
        }
        let roots = list
            .iter()
            .map(|x| match x {
                Ipld::Link(c) => Ok(*c),
                _ => Err(CarError::BadHeader("a root is not a CID".into())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CarReader { r, roots })
    }

    /// The header's roots.
    pub fn roots(&self) -> &[Cid] {
        &self.roots
    }

    /// The next verified block, or `None` at the end.
    pub fn next_block(&mut self) -> Result<Option<(Cid, Vec<u8>)>, CarError> {
        let Some(len) = read_varint(&mut self.r)? else {
            return Ok(None);
        };
        if len > MAX_SECTION_BYTES as u64 {
            return Err(CarError::SectionTooLarge {
                len,
                limit: MAX_SECTION_BYTES,
            });
        }
        let mut buf = vec![0u8; len as usize];
        read_exact_or_truncated(&mut self.r, &mut buf, "inside a section")?;
        let mut cur = std::io::Cursor::new(&buf[..]);
        let cid = Cid::read_bytes(&mut cur).map_err(|e| CarError::BadCid(e.to_string()))?;
        let data = buf.split_off(cur.position() as usize);
        if data.len() > MAX_BLOCK_BYTES {
            return Err(CarError::Block(BlockError::TooLarge {
                cid,
                len: data.len(),
                limit: MAX_BLOCK_BYTES,
            }));
        }
        if !cids::verify(&cid, &data).map_err(BlockError::from)? {
            return Err(CarError::HashMismatch { cid });
        }
        Ok(Some((cid, data)))
    }
}

/// What [`import`] read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub roots: Vec<Cid>,
    pub blocks: u64,
    pub bytes: u64,
}

/// Reads a whole CAR into `sink` (each block verified).
pub fn import<S: BlockSink + ?Sized>(
    r: impl Read,
    sink: &mut S,
) -> Result<ImportSummary, CarError> {
    let mut reader = CarReader::new(r)?;
    let mut s = ImportSummary {
        roots: reader.roots().to_vec(),
        ..Default::default()
    };
    while let Some((cid, data)) = reader.next_block()? {
        sink.put(&cid, &data)?;
        s.blocks += 1;
        s.bytes += data.len() as u64;
    }
    Ok(s)
}

/// Streams the DAG under `root` as a CARv1 with that root: depth-first, links in
/// order, each block once. Returns the number of blocks written.
pub fn export_dag<S: BlockSource + ?Sized>(
    src: &S,
    root: &Cid,
    out: impl Write,
) -> Result<u64, CarError> {
    let mut w = CarWriter::new(out, &[*root])?;
    let mut seen: HashSet<Cid> = HashSet::new();
    // Stack of pending links, reversed so that pop yields link order.
    let mut stack = vec![*root];
    while let Some(cid) = stack.pop() {
        if !seen.insert(cid) {
            continue;
        }
        if cid.hash().code() == cids::IDENTITY {
            continue; // inline data: nothing to ship (as Kubo)
        }
        let data = src.get_required(&cid)?;
        let links = codec::links(cid.codec(), &data).map_err(|e| CarError::Links {
            cid,
            source: Box::new(e),
        })?;
        w.write_block(&cid, &data)?;
        stack.extend(links.into_iter().rev());
    }
    let n = w.blocks();
    w.finish()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{MemStore, NullSink};
    use crate::unixfs::importer::{self, Options};

    fn sample() -> (MemStore, Cid) {
        let mut s = MemStore::new();
        let data: Vec<u8> = (0..50_000u32).map(|i| (i % 253) as u8).collect();
        let opts = Options {
            chunk_size: 1000,
            max_links: 8,
            ..Options::default()
        };
        let root = importer::add_file(&opts, &mut s, &data[..]).unwrap().cid;
        (s, root)
    }

    #[test]
    fn export_import_round_trip() {
        let (s, root) = sample();
        let mut car = Vec::new();
        let n = export_dag(&s, &root, &mut car).unwrap();
        assert_eq!(n as usize, s.len());
        let mut back = MemStore::new();
        let sum = import(&car[..], &mut back).unwrap();
        assert_eq!(sum.roots, vec![root]);
        assert_eq!(sum.blocks, n);
        let mut out = Vec::new();
        crate::unixfs::exporter::cat(&back, &root, 0, None, &mut out).unwrap();
        assert_eq!(out.len(), 50_000);
        // The first section is the root (depth-first from the root).
        let mut r = CarReader::new(&car[..]).unwrap();
        assert_eq!(r.next_block().unwrap().unwrap().0, root);
    }

    #[test]
    fn header_is_canonical_dag_cbor() {
        let c = cids::cid_of(1, cids::RAW, b"x");
        let h = encode_header(&[c]);
        // varint, then map(2) "roots" first (shorter key), then "version".
        assert_eq!(h[1], 0xa2);
        assert_eq!(&h[2..8], b"\x65roots");
        let r = CarReader::new(&h[..]).unwrap();
        assert_eq!(r.roots(), &[c]);
    }

    #[test]
    fn bad_cars_are_refused() {
        let (s, root) = sample();
        let mut car = Vec::new();
        export_dag(&s, &root, &mut car).unwrap();
        // Truncated anywhere after the header: an error, never a silent short import.
        let header_len = encode_header(&[root]).len();
        for cut in [header_len + 1, header_len + 40, car.len() - 1] {
            let e = import(&car[..cut], &mut NullSink).unwrap_err();
            assert!(matches!(e, CarError::Truncated(_)), "cut at {cut}: {e}");
        }
        assert!(matches!(
            import(&car[..3], &mut NullSink),
            Err(CarError::Truncated(_))
        ));
        assert!(import(&[][..], &mut NullSink).is_err());
        // A flipped byte in the last block's data.
        let mut bad = car.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(matches!(
            import(&bad[..], &mut NullSink),
            Err(CarError::HashMismatch { .. })
        ));
        // Oversize section length, before allocation.
        let mut big = encode_header(&[root]);
        write_varint(&mut big, 1 << 40);
        assert!(matches!(
            import(&big[..], &mut NullSink),
            Err(CarError::SectionTooLarge { .. })
        ));
        // Bad header: not CBOR / version 2.
        assert!(matches!(
            CarReader::new(&b"\x03abc"[..]),
            Err(CarError::BadHeader(_))
        ));
        let mut m = BTreeMap::new();
        m.insert("roots".to_string(), Ipld::List(vec![]));
        m.insert("version".to_string(), Ipld::Integer(2));
        let body = dagcbor::encode(&Ipld::Map(m)).unwrap();
        let mut v2 = Vec::new();
        write_varint(&mut v2, body.len() as u64);
        v2.extend_from_slice(&body);
        assert!(matches!(CarReader::new(&v2[..]), Err(CarError::Version(2))));
    }
}
