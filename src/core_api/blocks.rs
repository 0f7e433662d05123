//! Raw blocks: `block put|get|stat|rm`.
//!
//! **What.** The [`Blocks`] group of the [core API](super): its trait, its result
//! types, and its two implementations, [`Local`] (this process's node) and
//! [`Remote`] (a daemon over the RPC API).
//!
//! **Spec.** Kubo's `ipfs block` (`core/commands/block.go`): `put` stores bytes as
//! one block and answers `{"Key","Size"}`; `stat` answers the same for a stored
//! block; `get` writes its bytes; `rm` answers `{"Hash"}` per removed block and
//! `{"Hash","Error"}` per block not removed, going on with the next one.
//!
//! **Flow.** [`Local`] calls [`Node`](crate::core::Node) (`block_put_version`,
//! `block_get`, `block_stat`, `block_rm_status`) and checks the options first
//! (multihash type and length, Kubo's 1 MiB soft limit). [`Remote`] sends one
//! request per call (`block/put` with a one-part multipart body) and reads Kubo's
//! JSON back into the same types.
//!
//! **Limits.** A block is at most `MAX_BLOCK_BYTES` (2 MiB), and over
//! [`SOFT_BLOCK_LIMIT_BYTES`](crate::core::SOFT_BLOCK_LIMIT_BYTES) (1 MiB) only
//! with `allow_big_block`. The caller holds one block's bytes; [`Remote`] copies
//! them once into the request body.
//!
//! **Departures.** Only sha2-256 with its 32-byte digest (`mhtype`, `mhlen`).
//! `rm` without `force` reports a block that is not stored as a per-block error
//! (`block not found`), as Kubo; with `force` it says nothing about it.

use std::io::Write;

use cid::Cid;

use super::answer::cid_field;
use super::client::RequestBody;
use super::error::{bail, ensure, Context as _, Result};
use super::{Local, Remote};
use crate::core::{check_block_size, BlockRm};
use acorn_storage::cids;

pub use crate::core::BlockStat;
pub use acorn_storage::block::MAX_BLOCK_BYTES;

/// The only multihash length we make, in bytes (sha2-256's digest).
pub const SHA2_256_LEN: u32 = 32;

/// How `block put` stores its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockPutOptions {
    /// CID version: 1, or 0 for a dag-pb block (Kubo's legacy `format=v0`).
    pub version: u8,
    /// The CID's codec (multicodec code; Kubo's default is raw).
    pub codec: u64,
    /// Multihash function (multicodec code): only [`cids::SHA2_256`].
    pub mhtype: u64,
    /// Digest length in bytes; `None` is the function's own (Kubo's `-1`).
    pub mhlen: Option<u32>,
    /// Pin the block (recursively, as Kubo).
    pub pin: bool,
    /// Allow blocks over [`SOFT_BLOCK_LIMIT_BYTES`](crate::core::SOFT_BLOCK_LIMIT_BYTES).
    pub allow_big_block: bool,
}

impl Default for BlockPutOptions {
    /// Kubo's defaults: CIDv1 raw, sha2-256, no pin, the soft limit on.
    fn default() -> Self {
        BlockPutOptions {
            version: 1,
            codec: cids::RAW,
            mhtype: cids::SHA2_256,
            mhlen: None,
            pin: false,
            allow_big_block: false,
        }
    }
}

/// One `block rm` answer: a removed block (`error: None`) or one not removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedBlock {
    pub cid: Cid,
    /// Why it was not removed (`pinned: recursive`, `block not found`).
    pub error: Option<String>,
}

/// A multihash type by name, as `--mhtype` spells it.
pub fn mhtype_from_name(name: &str) -> Result<u64> {
    match name {
        "sha2-256" => Ok(cids::SHA2_256),
        other => bail!("unsupported multihash type {other:?} (only sha2-256)"),
    }
}

/// A multihash length as `--mhlen` spells it: `-1` is the default (`None`).
pub fn mhlen_from_arg(arg: &str) -> Result<Option<u32>> {
    if arg == "-1" {
        return Ok(None);
    }
    let n = arg.parse::<u32>().ok();
    match n {
        Some(n) if n == SHA2_256_LEN => Ok(Some(n)),
        _ => bail!("unsupported multihash length {arg} (only {SHA2_256_LEN})"),
    }
}

/// Raw blocks: `block put|get|stat|rm`.
pub trait Blocks {
    /// `block put`: stores `data` as one block; its CID and size.
    fn block_put(&self, data: Vec<u8>, opts: &BlockPutOptions) -> Result<BlockStat>;

    /// `block get`: writes the stored block's bytes to `out`.
    fn block_get(&self, cid: &Cid, out: &mut dyn Write) -> Result<()>;

    /// `block stat`: a stored block's CID and size.
    fn block_stat(&self, cid: &Cid) -> Result<BlockStat>;

    /// `block rm`: removes each block (pinned ones are refused), handing `emit` a
    /// [`RemovedBlock`] per block removed or refused, in order. A block that is not
    /// stored is refused, or skipped silently with `force`. `Err` is a failure of
    /// the whole command (an empty list, the store).
    fn block_rm(
        &self,
        cids: &[Cid],
        force: bool,
        emit: &mut dyn FnMut(RemovedBlock) -> Result<()>,
    ) -> Result<()>;

    /// The gateway's raw-block answer: the stored block, or in the daemon one
    /// fetched over bitswap (within `fetch::FETCH_TIMEOUT`). No RPC command
    /// answers it (`block get` reads the store only), so [`Remote`] refuses it.
    fn block_fetch(&self, cid: &Cid) -> Result<Vec<u8>>;
}

/// The options' multihash checks (the front ends parse with [`mhtype_from_name`]
/// and [`mhlen_from_arg`], which refuse the same values with Kubo's words).
fn check_multihash(opts: &BlockPutOptions) -> Result<()> {
    ensure!(
        opts.mhtype == cids::SHA2_256,
        "unsupported multihash type 0x{:x} (only sha2-256)",
        opts.mhtype
    );
    if let Some(n) = opts.mhlen {
        ensure!(
            n == SHA2_256_LEN,
            "unsupported multihash length {n} (only {SHA2_256_LEN})"
        );
    }
    Ok(())
}

/// A block's CID and size as the daemon sends them (`{"Key","Size"}`).
fn block_stat_of(v: &serde_json::Value) -> Result<BlockStat> {
    Ok(BlockStat {
        cid: cid_field(v, "Key")?,
        size: v["Size"]
            .as_u64()
            .with_context(|| format!("no Size in the daemon's answer: {v}"))?,
    })
}

impl Blocks for Local {
    fn block_fetch(&self, cid: &Cid) -> Result<Vec<u8>> {
        Ok(self.node().block_fetch(cid)?)
    }

    fn block_put(&self, data: Vec<u8>, opts: &BlockPutOptions) -> Result<BlockStat> {
        check_multihash(opts)?;
        check_block_size(data.len(), opts.allow_big_block)?;
        let size = data.len() as u64;
        let cid = self
            .node()
            .block_put_version(data, opts.version, opts.codec, opts.pin)?;
        Ok(BlockStat { cid, size })
    }

    fn block_get(&self, cid: &Cid, out: &mut dyn Write) -> Result<()> {
        out.write_all(&self.node().block_get(cid)?)?;
        Ok(out.flush()?)
    }

    fn block_stat(&self, cid: &Cid) -> Result<BlockStat> {
        Ok(self.node().block_stat(cid)?)
    }

    fn block_rm(
        &self,
        cids: &[Cid],
        force: bool,
        emit: &mut dyn FnMut(RemovedBlock) -> Result<()>,
    ) -> Result<()> {
        ensure!(!cids.is_empty(), "argument \"cid\" is required");
        for c in cids {
            let error = match self.node().block_rm_status(c, force)? {
                BlockRm::Removed => None,
                BlockRm::Absent => continue,
                BlockRm::Refused(why) => Some(why),
            };
            emit(RemovedBlock { cid: *c, error })?;
        }
        Ok(())
    }
}

/// A `multipart/form-data` body of one part holding `data` (`block/put`,
/// `dag/put`), with a boundary that does not occur in it.
pub(super) fn one_part_body(data: &[u8]) -> RequestBody {
    let mut n = 0u64;
    let boundary = loop {
        let b = format!("acorn-part-{n:016x}");
        if !data.windows(b.len()).any(|w| w == b.as_bytes()) {
            break b;
        }
        n += 1;
    };
    let mut body = Vec::with_capacity(data.len() + 2 * boundary.len() + 128);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    RequestBody {
        content_type: format!("multipart/form-data; boundary={boundary}"),
        reader: Box::new(std::io::Cursor::new(body)),
    }
}

impl Blocks for Remote {
    fn block_fetch(&self, cid: &Cid) -> Result<Vec<u8>> {
        bail!("fetching block {cid} is done by the daemon's gateway, not over the RPC API")
    }

    fn block_put(&self, data: Vec<u8>, opts: &BlockPutOptions) -> Result<BlockStat> {
        check_multihash(opts)?;
        let mut q: Vec<(&str, String)> = vec![
            ("pin", opts.pin.to_string()),
            ("allow-big-block", opts.allow_big_block.to_string()),
            ("mhtype", "sha2-256".into()),
        ];
        if opts.version == 0 {
            ensure!(
                opts.codec == cids::DAG_PB,
                "CIDv0 is only for dag-pb blocks"
            );
            q.push(("format", "v0".into()));
        } else {
            let name = cids::codec_name(opts.codec)
                .with_context(|| format!("unknown codec 0x{:x}", opts.codec))?;
            q.push(("cid-codec", name.into()));
        }
        if let Some(n) = opts.mhlen {
            q.push(("mhlen", n.to_string()));
        }
        let resp = self
            .client()
            .post("block/put", &q, Some(one_part_body(&data)))?;
        let mut put = None;
        resp.ndjson(&mut |v| {
            put = Some(block_stat_of(&v)?);
            Ok(())
        })?;
        put.context("no answer from the daemon to block/put")
    }

    fn block_get(&self, cid: &Cid, out: &mut dyn Write) -> Result<()> {
        let mut resp = self
            .client()
            .post("block/get", &[("arg", cid.to_string())], None)?;
        std::io::copy(&mut resp, out)?;
        out.flush()?;
        resp.finish()
    }

    fn block_stat(&self, cid: &Cid) -> Result<BlockStat> {
        let v = self
            .client()
            .json("block/stat", &[("arg", cid.to_string())])?;
        block_stat_of(&v)
    }

    fn block_rm(
        &self,
        cids: &[Cid],
        force: bool,
        emit: &mut dyn FnMut(RemovedBlock) -> Result<()>,
    ) -> Result<()> {
        let mut q: Vec<(&str, String)> = cids.iter().map(|c| ("arg", c.to_string())).collect();
        q.push(("force", force.to_string()));
        let resp = self.client().post("block/rm", &q, None)?;
        resp.ndjson(&mut |v| {
            emit(RemovedBlock {
                cid: cid_field(&v, "Hash")?,
                error: v["Error"].as_str().map(str::to_string),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn multihash_options_parse_as_kubo_spells_them() {
        assert_eq!(mhtype_from_name("sha2-256").unwrap(), cids::SHA2_256);
        assert_eq!(
            mhtype_from_name("blake3").unwrap_err().to_string(),
            "unsupported multihash type \"blake3\" (only sha2-256)"
        );
        assert_eq!(mhlen_from_arg("-1").unwrap(), None);
        assert_eq!(mhlen_from_arg("32").unwrap(), Some(32));
        for bad in ["20", "x", ""] {
            assert_eq!(
                mhlen_from_arg(bad).unwrap_err().to_string(),
                format!("unsupported multihash length {bad} (only 32)")
            );
        }
        let mut o = BlockPutOptions {
            mhlen: Some(20),
            ..Default::default()
        };
        assert!(check_multihash(&o).is_err());
        o.mhlen = Some(32);
        check_multihash(&o).unwrap();
        o.mhtype = 0x1e;
        assert!(check_multihash(&o).is_err());
    }

    /// The one-part body reads back as one part holding the data, even when the
    /// data holds the first boundary we would pick.
    #[test]
    fn one_part_body_round_trips() {
        use crate::http::multipart::{boundary, Multipart};
        for data in [
            &b"plain"[..],
            b"x\r\n--acorn-part-0000000000000000--\r\n",
            b"",
        ] {
            let body = one_part_body(data);
            let b = boundary(&body.content_type).unwrap();
            let mut m = Multipart::new(body.reader, &b).unwrap();
            let part = m.next_part().unwrap().expect("one part");
            assert_eq!(part.filename, None);
            let mut got = Vec::new();
            m.read_to_end(&mut got).unwrap();
            assert_eq!(got, data);
            assert!(m.next_part().unwrap().is_none());
        }
    }
}
