//! Bitswap behind the core: the repo as bitswap's blockstore, and the core's
//! [`Fetcher`] over bitswap sessions.

use acorn_net::bitswap;
use acorn_storage::block::{Block, BlockError};
use acorn_storage::blockstore::Store;
use cid::Cid;
use smol::channel::Receiver;

use crate::fetch::{FetchSession, Fetcher, Window};

/// The repo as bitswap sees it. Calls run on bitswap's own pool
/// ([`BITSWAP_BLOCKING_THREADS`]), never on the executor thread; each block is one
/// non-durable transaction ([`Store::put_block_lazy`]: one durable commit in 256)
/// taken under an add guard, so it never lands in the middle of a GC sweep. Blocks
/// fetched for `pin add` stay protected by the pin's own guard until the pin commits.
pub(super) struct RepoBlocks(pub(super) Store);

impl bitswap::Blockstore for RepoBlocks {
    fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, BlockError> {
        self.0.get(cid)
    }
    fn has(&self, cid: &Cid) -> Result<bool, BlockError> {
        self.0.has(cid)
    }
    fn put(&self, block: &Block) -> Result<(), BlockError> {
        let _guard = self.0.begin_add();
        // Fetched blocks are a cache until pinned: no fsync per block (SD wear); a
        // pin syncs them first.
        self.0.put_block_lazy(block).map(drop)
    }
}

/// The core's fetcher: bitswap sessions, awaited on the executor ([`crate::fetch`]).
///
/// A fetch waits for bitswap's reply or for the daemon's shutdown (`stop` closes),
/// whichever comes first (the caller bounds the wait: [`FETCH_TIMEOUT`](crate::fetch::FETCH_TIMEOUT) at most).
/// The shutdown arm makes a pending fetch fail at once without relying on
/// bitswap's tasks: a reply can sit in a task or channel queue of bitswap's (a miss
/// on its way to the driver, a block being stored) that is only dropped with the
/// executor. Dropping a fetch drops its reply channel; dropping the session
/// cancels its wants.
pub(super) struct BitswapFetcher {
    pub(super) bitswap: bitswap::Handle,
    pub(super) stop: Receiver<()>,
    /// Each request's walk window (`Acorn.FetchWindow*`, `Acorn.FetchPendingLinks`).
    pub(super) window: Window,
}

struct BitswapSession {
    session: bitswap::Session,
    stop: Receiver<()>,
}

async fn or_stop<T>(
    stop: &Receiver<()>,
    f: impl std::future::Future<Output = Result<T, BlockError>>,
) -> Result<T, BlockError> {
    if stop.is_closed() {
        return Err(shutting_down());
    }
    let stopped = async {
        // Nothing is ever sent: this returns when the channel closes.
        let _ = stop.recv().await;
        Err(shutting_down())
    };
    smol::future::or(f, stopped).await
}

fn shutting_down() -> BlockError {
    BlockError::Io("bitswap: the node is shutting down".into())
}

impl Fetcher for BitswapFetcher {
    fn window(&self) -> Window {
        self.window
    }

    fn open(
        &self,
    ) -> futures::future::BoxFuture<'static, Result<Box<dyn FetchSession>, BlockError>> {
        let (bitswap, stop) = (self.bitswap.clone(), self.stop.clone());
        Box::pin(async move {
            let s = or_stop(&stop, async {
                bitswap
                    .new_session()
                    .await
                    .map_err(|e| BlockError::Io(format!("bitswap: {e}")))
            })
            .await?;
            Ok(Box::new(BitswapSession { session: s, stop }) as Box<dyn FetchSession>)
        })
    }
}

impl FetchSession for BitswapSession {
    fn fetch(
        &self,
        cid: Cid,
    ) -> futures::future::BoxFuture<'_, Result<Option<Vec<u8>>, BlockError>> {
        Box::pin(or_stop(&self.stop, async move {
            match self.session.fetch(cid).await {
                Ok(b) => Ok(Some(b.into_parts().1)),
                Err(bitswap::Error::NotFound { .. }) => Ok(None),
                Err(bitswap::Error::Store(e)) => Err(e),
                Err(e) => Err(BlockError::Io(format!("bitswap: {e}"))),
            }
        }))
    }
}
