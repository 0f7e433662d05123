//! `block` commands: put, get, stat, rm, and the gateway's fetching read.

use acorn_storage::block::BlockError;
use acorn_storage::pins;

use super::*;

impl Node {
    /// The bytes of block `cid`, fetched when missing (the gateway's raw blocks;
    /// `block get` reads the blockstore only).
    pub fn block_fetch(&self, cid: &Cid) -> anyhow::Result<Vec<u8>> {
        Ok(self.source().get_required(cid)?)
    }

    // ---- blocks -----------------------------------------------------------

    /// `block put`: stores `data` as one block of `codec` with CID `version` (Kubo's
    /// default CIDv1; 0 only for dag-pb: Kubo's legacy `--format=v0`), sha2-256,
    /// and with `pin` pins it recursively, as Kubo (a single block's recursive pin
    /// needs its links present).
    pub fn block_put_version(
        &self,
        data: Vec<u8>,
        version: u8,
        codec: u64,
        pin: bool,
    ) -> anyhow::Result<Cid> {
        anyhow::ensure!(
            version == 1 || codec == cids::DAG_PB,
            "CIDv0 is only for dag-pb blocks"
        );
        if codec != cids::RAW {
            // The bytes must decode as the claimed codec.
            acorn_storage::codec::decode(codec, &data).with_context(|| {
                format!(
                    "block is not valid {}",
                    cids::codec_name(codec).unwrap_or("?")
                )
            })?;
        }
        let block = Block::encode(version, codec, data);
        if block.data().len() > acorn_storage::block::MAX_BLOCK_BYTES {
            bail!(
                "produced block is over {} bytes (got {})",
                acorn_storage::block::MAX_BLOCK_BYTES,
                block.data().len()
            );
        }
        let _guard = self.store().begin_add();
        self.store().put_block(&block)?;
        if pin {
            pins::pin_add(self.store(), block.cid(), true)?;
        }
        Ok(*block.cid())
    }

    /// `block get`.
    pub fn block_get(&self, cid: &Cid) -> anyhow::Result<Vec<u8>> {
        Ok(self.store().get_required(cid)?)
    }

    /// `block stat`.
    pub fn block_stat(&self, cid: &Cid) -> anyhow::Result<BlockStat> {
        match self.store().stat(cid)? {
            Some(size) => Ok(BlockStat { cid: *cid, size }),
            None => Err(BlockError::NotFound { cid: *cid }.into()),
        }
    }

    /// `block rm` of one block, as Kubo reports it per block: a refusal is a
    /// value (the command goes on with the next block); `Err` is a store failure.
    pub fn block_rm_status(&self, cid: &Cid, force: bool) -> anyhow::Result<BlockRm> {
        if let Some(t) = pins::pinned(self.store(), cid)? {
            return Ok(BlockRm::Refused(format!("pinned: {}", t.name())));
        }
        Ok(match self.store().remove(cid)? {
            true => BlockRm::Removed,
            false if force => BlockRm::Absent,
            false => BlockRm::Refused("block not found".into()),
        })
    }
}
