//! `add`: Kubo's add over the RPC API — a multipart body in, NDJSON out.
//!
//! **What.** The query becomes [`AddOptions`]; the multipart parts (see
//! [`super::multipart`]) go to the core API's
//! [`Content::add`](crate::core_api::Content::add) as [`AddInput::Entries`], as they
//! arrive. Each added entry is answered with `{"Name","Hash","Size"}` (only the
//! last with `quieter`), once its blocks are durable: the core holds these lines
//! until a durable commit ([`ADD_HELD_ENTRIES_COUNT`] at most, then the rest after
//! the add's last commit and pin), so a client may take a streamed CID as stored.
//!
//! [`ADD_HELD_ENTRIES_COUNT`]: crate::core::ADD_HELD_ENTRIES_COUNT With `progress=true`, `{"Name","Bytes"}` lines report the
//! bytes of the current file read so far: one per [`PROGRESS_STEP_BYTES`] and one
//! at the end of each file.
//!
//! [`PROGRESS_STEP_BYTES`]: crate::core_api::content::PROGRESS_STEP_BYTES
//!
//! **Spec.** Kubo `core/commands/add.go` (options `cid-version`, `raw-leaves`,
//! `chunker`, `trickle`, `pin`, `quieter`, `wrap-with-directory`, `only-hash`,
//! `progress`, `nocopy`, `inline`, `inline-limit`); boxo's multipart reader for the `Abspath` part header.
//!
//! **Security.** `nocopy=true` makes the daemon reference a file on its own disk
//! by the path the client names in `Abspath`, so the file's bytes can later be read
//! back through the API. Only paths under config `Filestore.AllowedRoots` are
//! accepted (default: none); anything else is refused with a clear error, never
//! silently copied instead. The bytes sent must be as many as the file holds.
//!
//! **Limits.** `inline-limit` ≤ [`importer::MAX_INLINE_LIMIT_BYTES`]. Progress lines: at most one per [`PROGRESS_STEP_BYTES`] of input per
//! file, plus one per file; they go through the response's bounded queue like every
//! other line.
//!
//! **Departures.** `hidden` is ignored (the client filters hidden files, as Kubo's
//! CLI); Kubo's `progress` lines also carry `Size`-less events for directories,
//! ours only for files and unnamed data. `nocopy` needs each file's `Abspath`
//! (Kubo also falls back to nothing and then fails on read).

use std::io::{self, Read};

use serde_json::json;

use super::{json_line, multipart_body, stream, Api, ApiError, ApiResult, Query, Slot};
use crate::core_api::content::{
    importer, AddEntry, AddEntryKind, AddEvent, AddInput, AddOptions, AddSource,
};
use crate::core_api::Content as _;
use crate::http::multipart::{Multipart, PartKind};
use crate::http::Request;

impl Api {
    pub(super) async fn add(&self, req: Request, slot: Slot) -> ApiResult {
        let q = Query(&req.query);
        let version = match q.int(&["cid-version"])?.unwrap_or(0) {
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
        let mut import = importer::Options::default().with_cid_version(version, raw_leaves);
        import.nocopy = nocopy;
        if let Some(c) = q.get(&["chunker", "s"]) {
            import.chunker =
                importer::parse_chunker(c).map_err(|e| ApiError::Client(e.to_string()))?;
        }
        if q.bool(&["trickle", "t"])?.unwrap_or(false) {
            import.layout = importer::Layout::Trickle;
        }
        import.wrap_with_directory = q.bool(&["wrap-with-directory", "w"])?.unwrap_or(false);
        if q.bool(&["inline"])?.unwrap_or(false) {
            let limit = q
                .int(&["inline-limit"])?
                .unwrap_or(importer::DEFAULT_INLINE_LIMIT_BYTES as i64);
            if !(0..=importer::MAX_INLINE_LIMIT_BYTES as i64).contains(&limit) {
                return Err(ApiError::Client(format!(
                    "inline-limit {limit} is out of range (0 to {} bytes)",
                    importer::MAX_INLINE_LIMIT_BYTES
                )));
            }
            import.inline_limit = Some(limit as usize);
        }
        let opts = AddOptions {
            import,
            pin: q.bool(&["pin"])?.unwrap_or(true),
            only_hash: q.bool(&["only-hash", "n"])?.unwrap_or(false),
            progress: q.bool(&["progress", "p"])?.unwrap_or(false),
        };
        let quieter = q.bool(&["quieter", "Q"])?.unwrap_or(false);
        let mut parts = multipart_body(&req)?;
        let core = self.core.clone();
        stream(slot, "application/json", "X-Chunked-Output", move |w| {
            let mut last = None;
            let mut source = PartSource { parts: &mut parts };
            core.add(AddInput::Entries(&mut source), &opts, &mut |e| {
                let line = match e {
                    AddEvent::Progress { name, bytes } => json!({"Name": name, "Bytes": bytes}),
                    AddEvent::Added { name, cid, size } => {
                        let line =
                            json!({"Name": name, "Hash": cid.to_string(), "Size": size.to_string()});
                        if quieter {
                            last = Some(line);
                            return Ok(());
                        }
                        line
                    }
                };
                Ok(json_line(w, &line)?)
            })?;
            if let Some(line) = last {
                json_line(w, &line)?;
            }
            Ok(())
        })
        .await
    }
}

/// Multipart parts as the core's add entries.
struct PartSource<'a, R: Read> {
    parts: &'a mut Multipart<R>,
}

impl<R: Read> Read for PartSource<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.parts.read(out)
    }
}

impl<R: Read> AddSource for PartSource<'_, R> {
    fn next_entry(&mut self) -> io::Result<Option<AddEntry>> {
        let Some(p) = self.parts.next_part()? else {
            return Ok(None);
        };
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
