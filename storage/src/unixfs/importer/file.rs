//! File layouts: the chunk reader (over [`crate::unixfs::chunker`]) and the builder that turns its chunks
//! into leaves and internal `File` nodes, balanced (boxo `balanced/builder.go`) or
//! trickle (boxo `trickle/trickledag.go`). Only the links of the nodes still open
//! are held, one list per tree level.

use super::{ImportError, Options, TRICKLE_DEPTH_REPEAT};
use crate::block::BlockSink;
use crate::cids;
use crate::codec::dagpb::{PbLink, PbNode};
use crate::unixfs::chunker::{Chunker, Splitter};
use crate::unixfs::pb::{Data, DataType};
use cid::Cid;
use std::io::Read;
use std::path::PathBuf;

/// A built child: its CID, cumulative size and file bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Child {
    pub(super) cid: Cid,
    pub(super) tsize: u64,
    pub(super) file_size: u64,
}

/// Reads the chunks of one file with its chunker, keeping their file offsets.
pub(super) struct ChunkReader<R: Read> {
    splitter: Splitter<R>,
    /// The current chunk.
    pub(super) buf: Vec<u8>,
    path: PathBuf,
    /// File offset of the chunk in `buf`.
    pub(super) offset: u64,
    /// File offset after the chunk in `buf`.
    next_offset: u64,
}

impl<R: Read> ChunkReader<R> {
    pub(super) fn new(reader: R, chunker: Chunker, path: PathBuf) -> Self {
        ChunkReader {
            splitter: Splitter::new(reader, chunker),
            buf: Vec::new(),
            path,
            offset: 0,
            next_offset: 0,
        }
    }

    /// Fills the next chunk; `Ok(false)` at end of input (buf then empty).
    fn next(&mut self) -> Result<bool, ImportError> {
        let more = self
            .splitter
            .next_into(&mut self.buf)
            .map_err(|e| ImportError::Io {
                path: self.path.clone(),
                source: e,
            })?;
        self.offset = self.next_offset;
        self.next_offset += self.buf.len() as u64;
        Ok(more)
    }
}

/// The file builder: leaves and internal nodes into the sink.
pub(super) struct FileBuilder<'a, R: Read> {
    pub(super) opts: &'a Options,
    pub(super) sink: &'a mut dyn BlockSink,
    pub(super) chunker: ChunkReader<R>,
    /// A chunk read ahead but not yet made into a leaf.
    pub(super) pending: bool,
}

impl<R: Read> FileBuilder<'_, R> {
    /// Whether input remains.
    fn more(&mut self) -> Result<bool, ImportError> {
        if !self.pending {
            self.pending = self.chunker.next()?;
        }
        Ok(self.pending)
    }

    fn put(&mut self, codec: u64, bytes: &[u8]) -> Result<Cid, ImportError> {
        let cid = self.opts.cid(codec, bytes);
        self.sink.put(&cid, bytes)?;
        Ok(cid)
    }

    /// Makes a leaf of the pending chunk (or of no data, for an empty file).
    fn leaf(&mut self, kind: DataType) -> Result<Child, ImportError> {
        let data = std::mem::take(&mut self.chunker.buf);
        self.pending = false;
        let len = data.len() as u64;
        let child = if self.opts.raw_leaves {
            let cid = self.opts.cid(cids::RAW, &data);
            self.sink.put_leaf(&cid, &data, self.chunker.offset)?;
            Child {
                cid,
                tsize: len,
                file_size: len,
            }
        } else {
            let mut d = Data::new(kind);
            d.filesize = Some(len);
            if !data.is_empty() {
                d.data = Some(data.clone());
            }
            let bytes = PbNode {
                links: vec![],
                data: Some(d.encode()),
            }
            .encode();
            let cid = self.put(cids::DAG_PB, &bytes)?;
            Child {
                cid,
                tsize: bytes.len() as u64,
                file_size: len,
            }
        };
        // Give the buffer back to the chunker so its capacity is reused.
        let mut data = data;
        data.clear();
        self.chunker.buf = data;
        Ok(child)
    }

    /// Encodes an internal `File` node over `children`.
    fn internal(&mut self, children: &[Child]) -> Result<Child, ImportError> {
        let mut d = Data::new(DataType::File);
        let file_size: u64 = children.iter().map(|c| c.file_size).sum();
        d.filesize = Some(file_size);
        d.blocksizes = children.iter().map(|c| c.file_size).collect();
        let links = children
            .iter()
            .map(|c| PbLink {
                hash: c.cid,
                name: Some(String::new()),
                tsize: Some(c.tsize),
            })
            .collect();
        let bytes = PbNode {
            links,
            data: Some(d.encode()),
        }
        .encode();
        let cid = self.put(cids::DAG_PB, &bytes)?;
        let tsize = bytes.len() as u64 + children.iter().map(|c| c.tsize).sum::<u64>();
        Ok(Child {
            cid,
            tsize,
            file_size,
        })
    }

    // ---- balanced (boxo balanced/builder.go) ----

    pub(super) fn balanced(&mut self) -> Result<Child, ImportError> {
        self.more()?;
        let mut root = self.leaf(DataType::File)?;
        let mut depth = 1;
        while self.more()? {
            let mut children = vec![root];
            self.fill_balanced(&mut children, depth)?;
            root = self.internal(&children)?;
            depth += 1;
        }
        Ok(root)
    }

    fn fill_balanced(
        &mut self,
        children: &mut Vec<Child>,
        depth: usize,
    ) -> Result<(), ImportError> {
        while children.len() < self.opts.max_links && self.more()? {
            let child = if depth == 1 {
                self.leaf(DataType::File)?
            } else {
                let mut sub = Vec::with_capacity(self.opts.max_links);
                self.fill_balanced(&mut sub, depth - 1)?;
                self.internal(&sub)?
            };
            children.push(child);
        }
        Ok(())
    }

    // ---- trickle (boxo trickle/trickledag.go) ----

    pub(super) fn trickle(&mut self) -> Result<Child, ImportError> {
        let mut children = Vec::with_capacity(self.opts.max_links);
        self.fill_trickle(&mut children, None)?;
        self.internal(&children)
    }

    fn fill_trickle(
        &mut self,
        children: &mut Vec<Child>,
        max_depth: Option<usize>,
    ) -> Result<(), ImportError> {
        while children.len() < self.opts.max_links && self.more()? {
            children.push(self.leaf(DataType::Raw)?);
        }
        let mut depth = 1;
        while max_depth.is_none_or(|m| depth < m) {
            if !self.more()? {
                break;
            }
            let mut layer = 0;
            while layer < TRICKLE_DEPTH_REPEAT && self.more()? {
                let mut sub = Vec::with_capacity(self.opts.max_links);
                self.fill_trickle(&mut sub, Some(depth))?;
                children.push(self.internal(&sub)?);
                layer += 1;
            }
            depth += 1;
        }
        Ok(())
    }
}
