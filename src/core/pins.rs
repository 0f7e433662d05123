//! `pin` commands: add (fetching missing blocks first), rm, ls, update, verify.

use acorn_storage::{dag, pins};

use super::*;

impl Node {
    // ---- pins -------------------------------------------------------------

    /// `pin add`: pins `cid` (recursively by default). With a fetcher (daemon),
    /// missing blocks of the DAG are fetched first, under an add guard so that a GC
    /// cannot sweep them before the pin commits.
    pub fn pin_add(&self, cid: &Cid, recursive: bool) -> anyhow::Result<()> {
        let _guard = self.store().begin_add();
        if self.fetcher.get().is_some() {
            let src = self.source();
            if recursive {
                dag::check_complete(&src, cid, &mut dag::MemSeen::new())?;
            } else {
                dag::fetch(&src, cid)?;
            }
        }
        pins::pin_add(self.store(), cid, recursive)?;
        Ok(())
    }

    /// `pin add` reporting progress: `on_node` is called once per distinct block
    /// of the DAG as it is checked (and fetched, while the daemon runs), as Kubo's
    /// `pin add --progress` counts them.
    pub fn pin_add_progress(
        &self,
        cid: &Cid,
        recursive: bool,
        on_node: &mut dyn FnMut(),
    ) -> anyhow::Result<()> {
        let _guard = self.store().begin_add();
        let src = self.source();
        if recursive {
            let mut seen = CountingSeen {
                seen: dag::MemSeen::new(),
                on_new: on_node,
            };
            dag::check_complete(&src, cid, &mut seen)?;
        } else {
            dag::fetch(&src, cid)?;
            on_node();
        }
        pins::pin_add(self.store(), cid, recursive)?;
        Ok(())
    }

    /// `pin rm`.
    pub fn pin_rm(&self, cid: &Cid, recursive: bool) -> anyhow::Result<()> {
        pins::pin_rm(self.store(), cid, recursive)?;
        Ok(())
    }

    /// `pin ls`: with `cids` empty lists every pin of `filter`; else reports how each
    /// given CID is pinned (an error for one that is not).
    pub fn pin_ls(&self, filter: PinFilter, cids: &[Cid]) -> anyhow::Result<Vec<(Cid, PinType)>> {
        if cids.is_empty() {
            return Ok(pins::pin_ls_vec(self.store(), filter)?);
        }
        let mut out = Vec::with_capacity(cids.len());
        for c in cids {
            match pins::pinned(self.store(), c)? {
                Some(t) if filter_accepts(filter, t) => out.push((*c, t)),
                _ => bail!("path '{c}' is not pinned"),
            }
        }
        Ok(out)
    }

    /// `pin update`.
    pub fn pin_update(&self, from: &Cid, to: &Cid, unpin: bool) -> anyhow::Result<()> {
        pins::pin_update(self.store(), from, to, unpin)?;
        Ok(())
    }

    /// `pin verify`.
    pub fn pin_verify(&self) -> anyhow::Result<Vec<PinStatus>> {
        Ok(pins::pin_verify(self.store())?)
    }
}

fn filter_accepts(filter: PinFilter, t: PinType) -> bool {
    match filter {
        PinFilter::All => true,
        PinFilter::Direct => t == PinType::Direct,
        PinFilter::Recursive => t == PinType::Recursive,
        PinFilter::Indirect => t == PinType::Indirect,
    }
}
