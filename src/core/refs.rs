//! `refs` and `refs local`.

use acorn_storage::dag;

use super::*;

impl Node {
    // ---- refs -------------------------------------------------------------

    /// `refs` with Kubo's `--max-depth` (`None`: no limit), each link with its
    /// source block and name.
    pub fn refs_edges(
        &self,
        root: &Cid,
        max_depth: Option<u64>,
        unique: bool,
        emit: &mut dyn FnMut(&dag::RefEdge) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        dag::refs_edges(
            &self.source(),
            root,
            max_depth,
            unique,
            &mut |e: &dag::RefEdge| -> Result<(), RefsErr> { emit(e).map_err(RefsErr::Emit) },
        )
        .map_err(|e| match e {
            RefsErr::Dag(d) => anyhow::Error::from(d),
            RefsErr::Emit(e) => e,
        })
    }

    /// `refs local`: every stored block as a raw CIDv1 of its multihash.
    pub fn refs_local(
        &self,
        emit: &mut dyn FnMut(&Cid) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        for mh in self.store().iter_multihashes() {
            emit(&cids::raw_v1_of_multihash(&mh?))?;
        }
        Ok(())
    }
}

enum RefsErr {
    Dag(dag::DagError),
    Emit(anyhow::Error),
}

impl From<dag::DagError> for RefsErr {
    fn from(e: dag::DagError) -> Self {
        RefsErr::Dag(e)
    }
}
