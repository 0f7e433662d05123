//! Pins: the roots GC keeps.
//!
//! **What.** The `pins` table (map in [`crate::repo`]) holds key = CID bytes, value =
//! [`PinKind`] (1 = direct, 2 = recursive). A recursive pin keeps its whole DAG; a
//! direct pin keeps one block; a block reachable from a recursive pin (other than the
//! pin's root) is *indirectly* pinned. These are Kubo's pin semantics (`ipfs pin`):
//! pinning recursively over a direct pin upgrades it; pinning directly over a recursive
//! pin is refused ("already pinned recursively"); `pin rm` of a block pinned only
//! indirectly is refused naming the recursive pin that holds it.
//!
//! **Flow.** Every operation is one redb write transaction: `pin_add` checks, inside
//! that transaction, that the whole DAG is present (error naming the first missing
//! CID) and only then inserts the pin; a kill -9 at any instant leaves the old or the
//! new pin set. `pin_add` and `pin_update` hold an [`AddGuard`](crate::blockstore::AddGuard)
//! so a concurrent GC cannot sweep the DAG between the check and the commit; `pin_rm`
//! needs none (removing pins only makes more garbage).
//!
//! **Limits.** The completeness check and `Indirect` listings keep a set of visited
//! multihashes in memory (≈ 100 bytes per distinct block of the DAG walked); the
//! walk's stack is capped by [`crate::dag::MAX_WALK_STACK_COUNT`]. Listing pins reads
//! the whole (small) pin table into memory.
//!
//! **Departures.** Pins are keyed by CID, as Kubo's: pinning the CIDv0 and the CIDv1 of
//! one DAG makes two pins. Kubo's `pin update` walks only the difference between the two
//! DAGs; ours checks the whole new DAG.

use crate::block::{BlockError, BlockSource};
use crate::blockstore::{db_err, Store, TableSource, WriteTables};
use crate::cids;
use crate::dag::{self, DagError, MemSeen, SeenSet, Walk};
use crate::tables::PINS;
use cid::Cid;
use redb::ReadableTable;
use std::collections::HashSet;

/// How a CID is pinned in the `pins` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinKind {
    /// This block only.
    Direct,
    /// The block and every block it links to, recursively.
    Recursive,
}

impl PinKind {
    const DIRECT_BYTE: u8 = 1;
    const RECURSIVE_BYTE: u8 = 2;

    fn to_byte(self) -> u8 {
        match self {
            PinKind::Direct => Self::DIRECT_BYTE,
            PinKind::Recursive => Self::RECURSIVE_BYTE,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        match b {
            Self::DIRECT_BYTE => Some(PinKind::Direct),
            Self::RECURSIVE_BYTE => Some(PinKind::Recursive),
            _ => None,
        }
    }
}

/// The type a listed pin has (`pin ls` prints these names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinType {
    /// Pinned by itself.
    Direct,
    /// The root of a recursive pin.
    Recursive,
    /// Reachable from a recursive pin's root.
    Indirect,
}

impl PinType {
    /// Kubo's name: `direct`, `recursive`, `indirect`.
    pub fn name(self) -> &'static str {
        match self {
            PinType::Direct => "direct",
            PinType::Recursive => "recursive",
            PinType::Indirect => "indirect",
        }
    }
}

impl From<PinKind> for PinType {
    fn from(k: PinKind) -> Self {
        match k {
            PinKind::Direct => PinType::Direct,
            PinKind::Recursive => PinType::Recursive,
        }
    }
}

/// `pin ls --type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinFilter {
    /// Every type.
    All,
    /// Direct pins only.
    Direct,
    /// Recursive pins only.
    Recursive,
    /// Indirect pins only.
    Indirect,
}

/// Errors of pin operations.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    /// Unpinning a CID that has no pin.
    #[error("{cid} is not pinned")]
    NotPinned {
        /// The CID.
        cid: Cid,
    },
    /// Unpinning a CID held only by another pin.
    #[error("{cid} is pinned indirectly under {root}")]
    PinnedIndirectly {
        /// The CID.
        cid: Cid,
        /// The recursive pin holding it.
        root: Box<Cid>,
    },
    /// A direct pin asked of a CID pinned recursively.
    #[error("{cid} is pinned recursively")]
    PinnedRecursively {
        /// The CID.
        cid: Cid,
    },
    /// A recursive pin asked of a CID pinned so already.
    #[error("{cid} already pinned recursively")]
    AlreadyPinnedRecursively {
        /// The CID.
        cid: Cid,
    },
    /// A recursive pin over a DAG with blocks missing.
    #[error("cannot pin {root}: block {missing} is not in the repo")]
    Incomplete {
        /// The root asked for.
        root: Box<Cid>,
        /// The first missing block.
        missing: Cid,
    },
    /// `pin update` from a CID that is not pinned recursively.
    #[error("'from' cid {cid} was not recursively pinned already")]
    FromNotPinned {
        /// The CID.
        cid: Cid,
    },
    /// The pin table holds something we did not write; the text says what.
    #[error("pin table corrupted: {0}")]
    Corrupted(String),
    /// Walking a pin's DAG failed.
    #[error(transparent)]
    Dag(DagError),
    /// The blockstore failed.
    #[error(transparent)]
    Store(#[from] BlockError),
}

impl From<DagError> for PinError {
    fn from(e: DagError) -> Self {
        match e {
            DagError::Store(b) => PinError::Store(b),
            other => PinError::Dag(other),
        }
    }
}

/// Pins `cid` (recursively: its whole DAG, which must be present). One transaction.
pub fn pin_add(store: &Store, cid: &Cid, recursive: bool) -> Result<(), PinError> {
    pin_add_all(store, &[(*cid, recursive)])
}

/// Pins every `(cid, recursive)` of `list` as [`pin_add`] does, all in one
/// transaction: on any error none of them is pinned.
pub fn pin_add_all(store: &Store, list: &[(Cid, bool)]) -> Result<(), PinError> {
    let _guard = store.begin_add();
    let txn = store.begin_write()?;
    {
        let tables = WriteTables::open(&txn)?;
        let mut pins = txn.open_table(PINS).map_err(db_err)?;
        for (cid, recursive) in list {
            let (cid, recursive) = (cid, *recursive);
            let key = cid.to_bytes();
            let current = pins.get(key.as_slice()).map_err(db_err)?.map(|g| g.value());
            let current = current.map(|b| kind_of(cid, b)).transpose()?;
            match (current, recursive) {
                (Some(PinKind::Recursive), true) | (Some(PinKind::Direct), false) => continue,
                (Some(PinKind::Recursive), false) => {
                    return Err(PinError::AlreadyPinnedRecursively { cid: *cid })
                }
                _ => {}
            }
            let src = TableSource {
                tables: &tables,
                dir: store.blocks_dir(),
            };
            check_present(&src, cid, recursive)?;
            let kind = if recursive {
                PinKind::Recursive
            } else {
                PinKind::Direct
            };
            pins.insert(key.as_slice(), kind.to_byte())
                .map_err(db_err)?;
        }
    }
    // Blocks fetched lazily become relied on: their files reach the disk first.
    store.sync_pending()?;
    txn.commit().map_err(db_err)?;
    Ok(())
}

/// Checks that `root` (and with `recursive` its whole DAG) is stored.
fn check_present<S: BlockSource + ?Sized>(
    src: &S,
    root: &Cid,
    recursive: bool,
) -> Result<(), PinError> {
    let incomplete = |e: DagError| match e {
        DagError::Missing { cid } => PinError::Incomplete {
            root: Box::new(*root),
            missing: cid,
        },
        other => other.into(),
    };
    if !recursive {
        return dag::fetch(src, root).map(|_| ()).map_err(incomplete);
    }
    let mut seen = MemSeen::new();
    dag::check_complete(src, root, &mut seen).map_err(incomplete)
}

/// Unpins `cid`. `recursive = false` refuses to remove a recursive pin (Kubo's
/// `pin rm --recursive=false`). A CID that is only indirectly pinned is refused with
/// the recursive pin that holds it.
pub fn pin_rm(store: &Store, cid: &Cid, recursive: bool) -> Result<(), PinError> {
    let txn = store.begin_write()?;
    {
        let mut pins = txn.open_table(PINS).map_err(db_err)?;
        let key = cid.to_bytes();
        let current = pins.get(key.as_slice()).map_err(db_err)?.map(|g| g.value());
        match current.map(|b| kind_of(cid, b)).transpose()? {
            Some(PinKind::Recursive) if !recursive => {
                return Err(PinError::PinnedRecursively { cid: *cid })
            }
            Some(_) => {
                pins.remove(key.as_slice()).map_err(db_err)?;
            }
            None => {
                drop(pins);
                drop(txn);
                return Err(match indirect_root(store, cid)? {
                    Some(root) => PinError::PinnedIndirectly {
                        cid: *cid,
                        root: Box::new(root),
                    },
                    None => PinError::NotPinned { cid: *cid },
                });
            }
        }
    }
    txn.commit().map_err(db_err)?;
    Ok(())
}

/// Moves a recursive pin from `from` to `to` (pinning `to` recursively; with `unpin`
/// also removing `from`), in one transaction. `from` must be pinned recursively.
pub fn pin_update(store: &Store, from: &Cid, to: &Cid, unpin: bool) -> Result<(), PinError> {
    let _guard = store.begin_add();
    let txn = store.begin_write()?;
    {
        let tables = WriteTables::open(&txn)?;
        let mut pins = txn.open_table(PINS).map_err(db_err)?;
        let from_key = from.to_bytes();
        let current = pins
            .get(from_key.as_slice())
            .map_err(db_err)?
            .map(|g| g.value());
        if current.map(|b| kind_of(from, b)).transpose()? != Some(PinKind::Recursive) {
            return Err(PinError::FromNotPinned { cid: *from });
        }
        let src = TableSource {
            tables: &tables,
            dir: store.blocks_dir(),
        };
        check_present(&src, to, true)?;
        if unpin && from != to {
            pins.remove(from_key.as_slice()).map_err(db_err)?;
        }
        pins.insert(to.to_bytes().as_slice(), PinKind::Recursive.to_byte())
            .map_err(db_err)?;
    }
    store.sync_pending()?;
    txn.commit().map_err(db_err)?;
    Ok(())
}

/// The direct or recursive pin on exactly this CID, if any (no DAG walk).
pub fn pin_kind(store: &Store, cid: &Cid) -> Result<Option<PinKind>, PinError> {
    let txn = store.begin_read()?;
    let pins = txn.open_table(PINS).map_err(db_err)?;
    let b = pins
        .get(cid.to_bytes().as_slice())
        .map_err(db_err)?
        .map(|g| g.value());
    b.map(|b| kind_of(cid, b)).transpose()
}

/// How `cid` is pinned, if at all, including indirectly (walks recursive pins on a miss;
/// `block rm` uses this to refuse removing pinned blocks).
pub fn pinned(store: &Store, cid: &Cid) -> Result<Option<PinType>, PinError> {
    if let Some(k) = pin_kind(store, cid)? {
        return Ok(Some(k.into()));
    }
    Ok(indirect_root(store, cid)?.map(|_| PinType::Indirect))
}

/// All pins, read in one transaction.
pub fn read_all(store: &Store) -> Result<Vec<(Cid, PinKind)>, PinError> {
    let txn = store.begin_read()?;
    let pins = txn.open_table(PINS).map_err(db_err)?;
    let mut out = Vec::new();
    for entry in pins.iter().map_err(db_err)? {
        let (k, v) = entry.map_err(db_err)?;
        let cid = Cid::try_from(k.value()).map_err(|e| {
            PinError::Corrupted(format!(
                "key {} is not a CID: {e}",
                crate::util::hex::encode(k.value())
            ))
        })?;
        out.push((cid, kind_of(&cid, v.value())?));
    }
    Ok(out)
}

fn kind_of(cid: &Cid, b: u8) -> Result<PinKind, PinError> {
    PinKind::from_byte(b)
        .ok_or_else(|| PinError::Corrupted(format!("pin {cid} has unknown kind byte {b}")))
}

/// The recursive pin whose DAG contains `cid` (other than as its root), if any.
fn indirect_root(store: &Store, cid: &Cid) -> Result<Option<Cid>, PinError> {
    enum Stop {
        Found,
        Dag(DagError),
    }
    impl From<DagError> for Stop {
        fn from(e: DagError) -> Self {
            Stop::Dag(e)
        }
    }
    let target = cid.hash().to_bytes();
    let snap = store.snapshot()?;
    let mut seen = MemSeen::new();
    for (root, kind) in read_all(store)? {
        if kind != PinKind::Recursive {
            continue;
        }
        let r = dag::walk::<_, Stop>(&snap, &root, Some(&mut seen), &mut |c, _| {
            if *c != root && c.hash().to_bytes() == target {
                Err(Stop::Found)
            } else {
                Ok(Walk::Continue)
            }
        });
        match r {
            Ok(()) => {}
            Err(Stop::Found) => return Ok(Some(root)),
            Err(Stop::Dag(e)) => return Err(e.into()),
        }
    }
    Ok(None)
}

/// `pin ls --type`: calls `emit` for each pin of the asked type: recursive pins, then
/// direct ones, then indirect ones (each block reachable from a recursive pin, once,
/// excluding recursive roots).
pub fn pin_ls(
    store: &Store,
    filter: PinFilter,
    emit: &mut dyn FnMut(&Cid, PinType),
) -> Result<(), PinError> {
    let all = read_all(store)?;
    let want = |t: PinType| {
        matches!(
            (filter, t),
            (PinFilter::All, _)
                | (PinFilter::Direct, PinType::Direct)
                | (PinFilter::Recursive, PinType::Recursive)
                | (PinFilter::Indirect, PinType::Indirect)
        )
    };
    for kind in [PinKind::Recursive, PinKind::Direct] {
        if want(kind.into()) {
            for (c, _) in all.iter().filter(|(_, k)| *k == kind) {
                emit(c, kind.into());
            }
        }
    }
    if !want(PinType::Indirect) {
        return Ok(());
    }
    let roots: HashSet<Vec<u8>> = all
        .iter()
        .filter(|(_, k)| *k == PinKind::Recursive)
        .map(|(c, _)| c.hash().to_bytes())
        .collect();
    let snap = store.snapshot()?;
    let mut seen = MemSeen::new();
    for (root, _) in all.iter().filter(|(_, k)| *k == PinKind::Recursive) {
        dag::walk::<_, DagError>(&snap, root, Some(&mut seen), &mut |c, _| {
            if !roots.contains(&c.hash().to_bytes()) {
                emit(c, PinType::Indirect);
            }
            Ok(Walk::Continue)
        })?;
    }
    Ok(())
}

/// Convenience: [`pin_ls`] into a `Vec`.
pub fn pin_ls_vec(store: &Store, filter: PinFilter) -> Result<Vec<(Cid, PinType)>, PinError> {
    let mut out = Vec::new();
    pin_ls(store, filter, &mut |c, t| out.push((*c, t)))?;
    Ok(out)
}

/// One bad block found by [`pin_verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadNode {
    /// The block.
    pub cid: Cid,
    /// Why it is bad.
    pub error: String,
}

/// `pin verify` result for one pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinStatus {
    /// The pinned CID.
    pub cid: Cid,
    /// Its pin kind.
    pub kind: PinKind,
    /// Missing, corrupt or undecodable blocks of the pin's DAG (empty = ok).
    pub bad_nodes: Vec<BadNode>,
}

impl PinStatus {
    /// Whether every block of the pin's DAG is present and sound.
    pub fn ok(&self) -> bool {
        self.bad_nodes.is_empty()
    }
}

/// `pin verify`: for every pin, checks that each block of its DAG (its root for a
/// direct pin) is present, matches its hash and decodes. Children of a bad block are
/// not reached. Blocks shared between pins are checked once per pin.
pub fn pin_verify(store: &Store) -> Result<Vec<PinStatus>, PinError> {
    let snap = store.snapshot()?;
    let mut out = Vec::new();
    for (root, kind) in read_all(store)? {
        let mut bad = Vec::new();
        let mut seen = MemSeen::new();
        let mut stack = vec![root];
        while let Some(cid) = stack.pop() {
            if !seen.insert(&cid)? {
                continue;
            }
            let bytes = match snap.get(&cid) {
                Ok(Some(b)) => b,
                Ok(None) => {
                    bad.push(BadNode {
                        cid,
                        error: "block not found".into(),
                    });
                    continue;
                }
                // A filestore block whose file is gone or changed is a broken
                // node of this pin (as Kubo lists it), not a failed command.
                Err(e @ (BlockError::FileMissing { .. } | BlockError::FileChanged { .. })) => {
                    bad.push(BadNode {
                        cid,
                        error: e.to_string(),
                    });
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            match cids::verify(&cid, &bytes) {
                Ok(true) => {}
                Ok(false) => {
                    bad.push(BadNode {
                        cid,
                        error: "block bytes do not match the hash".into(),
                    });
                    continue;
                }
                // A hash we cannot compute: not checked, still walked.
                Err(_) => {}
            }
            if kind == PinKind::Direct {
                continue;
            }
            match dag::links_of(&cid, &bytes) {
                Ok(links) => {
                    if stack.len() + links.len() > dag::MAX_WALK_STACK_COUNT {
                        bad.push(BadNode {
                            cid,
                            error: format!(
                                "DAG too wide to walk (over {} pending links)",
                                dag::MAX_WALK_STACK_COUNT
                            ),
                        });
                        break;
                    }
                    stack.extend(links.into_iter().rev());
                }
                Err(e) => bad.push(BadNode {
                    cid,
                    error: e.to_string(),
                }),
            }
        }
        out.push(PinStatus {
            cid: root,
            kind,
            bad_nodes: bad,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::Block;
    use crate::codec::dagpb::PbNode;
    use crate::repo::Repo;

    fn node(links: &[Cid]) -> Block {
        Block::encode(0, cids::DAG_PB, PbNode::with_links(links, None).encode())
    }

    #[test]
    fn pin_add_all_is_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::init(dir.path()).unwrap();
        let s = repo.store();
        let a = Block::encode(1, cids::RAW, b"a".to_vec());
        let b = Block::encode(1, cids::RAW, b"b".to_vec());
        let absent = Block::encode(1, cids::RAW, b"absent".to_vec());
        s.put_block(&a).unwrap();
        s.put_block(&b).unwrap();
        let e = pin_add_all(s, &[(*a.cid(), true), (*absent.cid(), true)]).unwrap_err();
        assert!(matches!(e, PinError::Incomplete { .. }), "{e}");
        assert_eq!(pin_kind(s, a.cid()).unwrap(), None);
        pin_add_all(s, &[(*a.cid(), true), (*b.cid(), false)]).unwrap();
        assert_eq!(pin_kind(s, a.cid()).unwrap(), Some(PinKind::Recursive));
        assert_eq!(pin_kind(s, b.cid()).unwrap(), Some(PinKind::Direct));
    }

    #[test]
    fn kinds_and_upgrades() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::init(dir.path()).unwrap();
        let s = repo.store();
        let leaf = Block::encode(1, cids::RAW, b"leaf".to_vec());
        let root = node(&[*leaf.cid()]);
        s.put_block(&leaf).unwrap();
        s.put_block(&root).unwrap();
        pin_add(s, root.cid(), false).unwrap();
        assert_eq!(pin_kind(s, root.cid()).unwrap(), Some(PinKind::Direct));
        pin_add(s, root.cid(), true).unwrap();
        assert_eq!(pin_kind(s, root.cid()).unwrap(), Some(PinKind::Recursive));
        assert!(matches!(
            pin_add(s, root.cid(), false),
            Err(PinError::AlreadyPinnedRecursively { .. })
        ));
        assert!(matches!(
            pin_rm(s, root.cid(), false),
            Err(PinError::PinnedRecursively { .. })
        ));
        assert_eq!(pinned(s, leaf.cid()).unwrap(), Some(PinType::Indirect));
        let e = pin_rm(s, leaf.cid(), true).unwrap_err();
        assert!(
            matches!(&e, PinError::PinnedIndirectly { cid, root: r } if cid == leaf.cid() && **r == *root.cid()),
            "{e}"
        );
        pin_rm(s, root.cid(), true).unwrap();
        assert!(matches!(
            pin_rm(s, root.cid(), true),
            Err(PinError::NotPinned { .. })
        ));
    }
}
