//! `add` in this process: [`Local`](super::Local)'s add and `add --only-hash`
//! without a repo ([`add_unstored`]), and what an add takes and reports (the
//! [`Content`](super::Content) group re-exports them).
//!
//! **Flow.** The importer reads the input ([`AddInput::Paths`]: files walked here;
//! [`AddInput::Entries`]: a body being received) and stores each block; each added
//! entry is handed to the caller's `emit` as an [`AddEvent::Added`]. With
//! [`AddOptions::progress`], [`AddEvent::Progress`] events go to the same `emit`
//! (never while an entry report is being written): per
//! [`PROGRESS_STEP_BYTES`] of a streamed entry's input and at its end, or one
//! running count of the bytes stored for an add of paths. A pinned add is
//! announced to the DHT in the background when the node runs a network.

use std::cell::RefCell;
use std::io::{self, Read};

use cid::Cid;

use super::error::{Error, Kind, Result};
use crate::core::{self, AddEntry, AddSource, Node};
use crate::swarm::NetHandle;
use acorn_storage::unixfs::importer;

/// Input bytes of one entry between two [`AddEvent::Progress`] events (streamed
/// adds; Kubo's RPC `progress` lines).
pub const PROGRESS_STEP_BYTES: u64 = 256 * 1024;

/// What to add.
pub enum AddInput<'a> {
    /// Files, directories and symlinks on this machine (stdin when `paths` is
    /// empty); a directory needs `recursive`. Dot-names follow
    /// [`importer::Options::hidden`].
    Paths {
        paths: &'a [String],
        recursive: bool,
    },
    /// A tree sent entry by entry (the RPC API's multipart body).
    Entries(&'a mut dyn AddSource),
}

/// `add`'s options (Kubo's flags, resolved: `--cid-version 1` implying raw leaves,
/// `--nocopy` implying raw leaves and the `size-N` chunker are the front end's to
/// apply, each with its own error text).
#[derive(Clone, Debug)]
pub struct AddOptions {
    /// Chunking, layout, CID version, leaves, wrapping, dot-names, `nocopy`.
    pub import: importer::Options,
    /// Pin the roots (recursively) when the add ends.
    pub pin: bool,
    /// Chunk and hash only: nothing is stored or pinned.
    pub only_hash: bool,
    /// Report [`AddEvent::Progress`] events.
    pub progress: bool,
}

/// What an add reports as it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddEvent {
    /// An entry was added: its path as given (stdin data: its CID; the
    /// `wrap-with-directory` wrapper: `""`), CID and cumulative DAG size.
    Added { name: String, cid: Cid, size: u64 },
    /// `bytes` of entry `name` were read so far (see the module's departures).
    Progress { name: String, bytes: u64 },
}

/// `add --only-hash` without a repo: chunks and hashes in this process, stores
/// nothing.
pub fn add_unstored(
    input: AddInput<'_>,
    opts: &AddOptions,
    emit: &mut dyn FnMut(AddEvent) -> Result<()>,
) -> Result<Cid> {
    let opts = AddOptions {
        only_hash: true,
        ..opts.clone()
    };
    add_with(None, None, input, &opts, emit)
}

/// The add of [`Local`] (`node`: `None` hashes only).
pub(super) fn add_with(
    node: Option<&Node>,
    net: Option<&NetHandle>,
    input: AddInput<'_>,
    opts: &AddOptions,
    emit: &mut dyn FnMut(AddEvent) -> Result<()>,
) -> Result<Cid> {
    let node = node.filter(|_| !opts.only_hash);
    let pin = opts.pin && !opts.only_hash;
    let emit = RefCell::new(emit);
    // An emit error raised where only an io::Error fits (progress inside a read).
    let failed: RefCell<Option<Error>> = RefCell::new(None);
    let added = |name: &str, a: &importer::Added| -> Result<()> {
        let mut e = borrow(&emit)?;
        (*e)(AddEvent::Added {
            name: name.to_string(),
            cid: a.cid,
            size: a.size,
        })
    };
    let root = match input {
        AddInput::Paths { paths, recursive } => {
            let mut stored = 0u64;
            let r = core::add_paths(
                node,
                &opts.import,
                paths,
                recursive,
                pin,
                &mut |name, a| Ok(added(name, a)?),
                &mut |n| {
                    stored = stored.saturating_add(n);
                    if !opts.progress || failed.borrow().is_some() {
                        return;
                    }
                    let r = borrow(&emit).and_then(|mut e| {
                        (*e)(AddEvent::Progress {
                            name: String::new(),
                            bytes: stored,
                        })
                    });
                    if let Err(e) = r {
                        *failed.borrow_mut() = Some(e);
                    }
                },
            );
            if let Some(e) = failed.take() {
                return Err(e);
            }
            r?
        }
        AddInput::Entries(source) => {
            let mut counted = ProgressEntries {
                inner: source,
                emit: opts.progress.then_some(&emit),
                failed: &failed,
                name: String::new(),
                bytes: 0,
                reported: 0,
            };
            let r = core::add_entries(node, &opts.import, &mut counted, pin, &mut |name, a| {
                Ok(added(name, a)?)
            });
            if let Some(e) = failed.take() {
                return Err(e);
            }
            r?
        }
    };
    if let (true, Some(net)) = (pin, net) {
        // Pinned roots are announced to the DHT in the background.
        net.provide_later(&root);
    }
    Ok(root)
}

type Emit<'e> = RefCell<&'e mut dyn FnMut(AddEvent) -> Result<()>>;

/// The add's one `emit`, shared by the entry reports and the progress reports
/// (never both at once: progress is reported while an entry is read, entries
/// after).
fn borrow<'a, 'e>(
    emit: &'a Emit<'e>,
) -> Result<std::cell::RefMut<'a, &'e mut dyn FnMut(AddEvent) -> Result<()>>> {
    emit.try_borrow_mut()
        .map_err(|_| Error::new(Kind::Other, "add output written from two places at once"))
}

/// A streamed add's entries, reporting the bytes read of each.
struct ProgressEntries<'a, 'e> {
    inner: &'a mut dyn AddSource,
    /// Where progress goes, when asked for.
    emit: Option<&'a Emit<'e>>,
    failed: &'a RefCell<Option<Error>>,
    /// The current entry's name (`""` for unnamed data).
    name: String,
    /// Bytes of the current entry read so far, and when last reported.
    bytes: u64,
    reported: u64,
}

impl Read for ProgressEntries<'_, '_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        self.bytes += n as u64;
        if let Some(emit) = self.emit {
            let due = self.bytes - self.reported >= PROGRESS_STEP_BYTES
                || (n == 0 && self.bytes > self.reported);
            if due {
                self.reported = self.bytes;
                let r = borrow(emit).and_then(|mut e| {
                    (*e)(AddEvent::Progress {
                        name: self.name.clone(),
                        bytes: self.bytes,
                    })
                });
                if let Err(e) = r {
                    let msg = e.full_text();
                    *self.failed.borrow_mut() = Some(e);
                    return Err(io::Error::other(msg));
                }
            }
        }
        Ok(n)
    }
}

impl AddSource for ProgressEntries<'_, '_> {
    fn next_entry(&mut self) -> io::Result<Option<AddEntry>> {
        let e = self.inner.next_entry()?;
        self.name = e.as_ref().and_then(|e| e.path.clone()).unwrap_or_default();
        self.bytes = 0;
        self.reported = 0;
        Ok(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Streamed entries report progress per step and at each entry's end, named.
    #[test]
    fn streamed_progress_is_per_entry() {
        struct Two {
            at: usize,
            data: io::Cursor<Vec<u8>>,
        }
        impl Read for Two {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                self.data.read(out)
            }
        }
        impl AddSource for Two {
            fn next_entry(&mut self) -> io::Result<Option<AddEntry>> {
                self.at += 1;
                let len = match self.at {
                    1 => PROGRESS_STEP_BYTES as usize * 2 + 5,
                    2 => 3,
                    _ => return Ok(None),
                };
                self.data = io::Cursor::new(vec![7u8; len]);
                Ok(Some(AddEntry {
                    path: Some(format!("f{}", self.at)),
                    kind: core::AddEntryKind::File,
                    abspath: None,
                }))
            }
        }
        let mut src = Two {
            at: 0,
            data: io::Cursor::new(Vec::new()),
        };
        let opts = AddOptions {
            import: importer::Options::default(),
            pin: false,
            only_hash: true,
            progress: true,
        };
        let mut events = Vec::new();
        let root = add_unstored(AddInput::Entries(&mut src), &opts, &mut |e| {
            events.push(e);
            Ok(())
        })
        .unwrap();
        let progress: Vec<(String, u64)> = events
            .iter()
            .filter_map(|e| match e {
                AddEvent::Progress { name, bytes } => Some((name.clone(), *bytes)),
                AddEvent::Added { .. } => None,
            })
            .collect();
        // f1: about one event per step (reads need not end on a step), its total
        // last; f2: one event at its end.
        let f1: Vec<u64> = progress
            .iter()
            .filter(|(n, _)| n == "f1")
            .map(|(_, b)| *b)
            .collect();
        assert!(f1.windows(2).all(|w| w[0] < w[1]), "{f1:?}");
        assert_eq!(f1.last(), Some(&(2 * PROGRESS_STEP_BYTES + 5)));
        assert!((3..=4).contains(&f1.len()), "{f1:?}");
        assert_eq!(progress.last(), Some(&("f2".to_string(), 3)));
        assert_eq!(progress.len(), f1.len() + 1);
        let added: Vec<&AddEvent> = events
            .iter()
            .filter(|e| matches!(e, AddEvent::Added { .. }))
            .collect();
        assert_eq!(added.len(), 2);
        assert!(
            matches!(added[1], AddEvent::Added { name, cid, .. } if name == "f2" && *cid == root)
        );
    }
}
