//! `add`: Kubo's add over the RPC API — a multipart body in, NDJSON out.
//!
//! **What.** The multipart parts (see [`super::multipart`]) go to the core's
//! [`core::add_entries`] as they arrive; each added entry is answered with
//! `{"Name","Hash","Size"}` (only the last with `quieter`). With `progress=true`,
//! `{"Name","Bytes"}` lines report the bytes of the current file read so far: one
//! per [`PROGRESS_STEP_BYTES`] and one at the end of each file.
//!
//! **Spec.** Kubo `core/commands/add.go` (options `cid-version`, `raw-leaves`,
//! `chunker`, `trickle`, `pin`, `quieter`, `wrap-with-directory`, `only-hash`,
//! `progress`, `nocopy`); boxo's multipart reader for the `Abspath` part header.
//!
//! **Security.** `nocopy=true` makes the daemon reference a file on its own disk
//! by the path the client names in `Abspath`, so the file's bytes can later be read
//! back through the API. Only paths under config `Filestore.AllowedRoots` are
//! accepted (default: none); anything else is refused with a clear error, never
//! silently copied instead. The bytes sent must be as many as the file holds.
//!
//! **Limits.** Progress lines: at most one per [`PROGRESS_STEP_BYTES`] of input per
//! file, plus one per file; they go through the response's bounded queue like every
//! other line.
//!
//! **Departures.** `hidden` is ignored (the client filters hidden files, as Kubo's
//! CLI); Kubo's `progress` lines also carry `Size`-less events for directories,
//! ours only for files and unnamed data. `nocopy` needs each file's `Abspath`
//! (Kubo also falls back to nothing and then fails on read).

use std::cell::RefCell;
use std::io::{self, Read};

use acorn_storage::unixfs::importer;
use serde_json::json;

use super::multipart::{Multipart, PartKind};
use super::{
    json_line, multipart_body, stream, Api, ApiError, ApiResult, ChunkWriter, Query, Slot,
};
use crate::api::http::Request;
use crate::core::{self, AddEntry, AddEntryKind, AddSource};

/// Input bytes of one file between two `progress` lines.
pub const PROGRESS_STEP_BYTES: u64 = 256 * 1024;

impl Api {
    pub(super) async fn add(&self, req: Request, slot: Slot) -> ApiResult {
        let q = Query(&req.query);
        let version = match q.u64(&["cid-version"])?.unwrap_or(0) {
            v @ (0 | 1) => v as u8,
            v => return Err(ApiError::Client(format!("unknown CID version {v}"))),
        };
        let nocopy = q.bool(&["nocopy"])?.unwrap_or(false);
        let mut raw_leaves = q.bool(&["raw-leaves"])?;
        if nocopy {
            if raw_leaves == Some(false) {
                return Err(ApiError::Client(
                    "nocopy option requires '--raw-leaves' to be enabled as well".into(),
                ));
            }
            raw_leaves = Some(true);
        }
        let mut opts = importer::Options::default().with_cid_version(version, raw_leaves);
        opts.nocopy = nocopy;
        if let Some(c) = q.get(&["chunker", "s"]) {
            opts.chunk_size =
                importer::parse_chunker(c).map_err(|e| ApiError::Client(e.to_string()))?;
        }
        if q.bool(&["trickle", "t"])?.unwrap_or(false) {
            opts.layout = importer::Layout::Trickle;
        }
        opts.wrap_with_directory = q.bool(&["wrap-with-directory", "w"])?.unwrap_or(false);
        let only_hash = q.bool(&["only-hash", "n"])?.unwrap_or(false);
        let pin = q.bool(&["pin"])?.unwrap_or(true) && !only_hash;
        let quieter = q.bool(&["quieter", "Q"])?.unwrap_or(false);
        let progress = q.bool(&["progress", "p"])?.unwrap_or(false);
        let mut parts = multipart_body(&req)?;
        let node = self.node.clone();
        // Roots of pinned adds are announced to the DHT in the background.
        let net = self.net.clone().filter(|_| pin);
        stream(slot, "application/json", "X-Chunked-Output", move |w| {
            let node = (!only_hash).then_some(&*node);
            let w = RefCell::new(w);
            let mut last = None;
            let mut source = PartSource {
                parts: &mut parts,
                progress: progress.then_some(&w),
                name: String::new(),
                bytes: 0,
                reported: 0,
            };
            let root = core::add_entries(node, &opts, &mut source, pin, &mut |name, a| {
                let line =
                    json!({"Name": name, "Hash": a.cid.to_string(), "Size": a.size.to_string()});
                if quieter {
                    last = Some(line);
                    Ok(())
                } else {
                    json_line(&mut **borrow(&w)?, &line)
                }
            })?;
            if let Some(net) = net {
                net.provide_later(&root);
            }
            if let Some(line) = last {
                json_line(&mut **borrow(&w)?, &line)?;
            }
            Ok(())
        })
        .await
    }
}

/// The response writer, shared by the progress reports and the add's own lines
/// (never both at once: progress is written while a file is read, lines after).
fn borrow<'a, 'w>(
    w: &'a RefCell<&'w mut ChunkWriter>,
) -> io::Result<std::cell::RefMut<'a, &'w mut ChunkWriter>> {
    w.try_borrow_mut()
        .map_err(|_| io::Error::other("add output written from two places at once"))
}

/// Multipart parts as the core's add entries, reporting read progress.
struct PartSource<'a, 'w, R: Read> {
    parts: &'a mut Multipart<R>,
    /// Where `progress` lines go, when asked for.
    progress: Option<&'a RefCell<&'w mut ChunkWriter>>,
    /// The current entry's name ("" for unnamed data).
    name: String,
    /// Bytes of the current entry read so far, and when last reported.
    bytes: u64,
    reported: u64,
}

impl<R: Read> Read for PartSource<'_, '_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.parts.read(out)?;
        self.bytes += n as u64;
        if let Some(w) = self.progress {
            let due = self.bytes - self.reported >= PROGRESS_STEP_BYTES
                || (n == 0 && self.bytes > self.reported);
            if due {
                self.reported = self.bytes;
                json_line(
                    &mut **borrow(w)?,
                    &json!({"Name": self.name, "Bytes": self.bytes}),
                )?;
            }
        }
        Ok(n)
    }
}

impl<R: Read> AddSource for PartSource<'_, '_, R> {
    fn next_entry(&mut self) -> io::Result<Option<AddEntry>> {
        let Some(p) = self.parts.next_part()? else {
            return Ok(None);
        };
        self.name = p.filename.clone().unwrap_or_default();
        self.bytes = 0;
        self.reported = 0;
        Ok(Some(AddEntry {
            path: p.filename,
            kind: match p.kind {
                PartKind::File => AddEntryKind::File,
                PartKind::Directory => AddEntryKind::Directory,
                PartKind::Symlink => AddEntryKind::Symlink,
            },
            abspath: p.abspath.map(std::path::PathBuf::from),
        }))
    }
}
