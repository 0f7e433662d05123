//! `cat`, `get` and `ls`: reading files and directories out of the DAG.

use acorn_storage::dag;

use super::*;

impl Node {
    /// `cat`: streams `[offset, offset+length)` of the file at `arg` to `out`.
    pub fn cat(
        &self,
        arg: &str,
        offset: u64,
        length: Option<u64>,
        out: &mut dyn std::io::Write,
    ) -> anyhow::Result<u64> {
        let src = self.source();
        let cid = self.resolve_in(&src, arg)?;
        Ok(exporter::cat(&src, &cid, offset, length, out)?)
    }

    /// `cat` of several paths: `offset` and `length` apply to their concatenation,
    /// as Kubo. Returns the bytes written.
    pub fn cat_many(
        &self,
        paths: &[String],
        offset: u64,
        length: Option<u64>,
        out: &mut dyn std::io::Write,
    ) -> anyhow::Result<u64> {
        let (mut offset, mut length, mut total) = (offset, length, 0);
        for (i, p) in paths.iter().enumerate() {
            if length == Some(0) {
                break;
            }
            let size = self.cat(p, offset, length, out)?;
            total += size;
            if let Some(l) = length.as_mut() {
                *l -= size.min(*l);
            }
            if offset > 0 && i + 1 < paths.len() {
                offset = offset.saturating_sub(self.file_size(p)?);
            }
        }
        Ok(total)
    }

    /// The content size of the file at `arg` (0 for non-files).
    pub fn file_size(&self, arg: &str) -> anyhow::Result<u64> {
        let src = self.source();
        let cid = self.resolve_in(&src, arg)?;
        Ok(exporter::file_size(&src, &cid)?.unwrap_or(0))
    }

    /// What `arg` names, for the gateway: its CID, its kind, and (for files) its
    /// content size. One fetch session for the whole walk.
    pub fn resolve_kind(&self, arg: &str) -> anyhow::Result<(Cid, exporter::EntryKind, u64)> {
        let src = self.source();
        let cid = self.resolve_in(&src, arg)?;
        let kind = exporter::kind(&src, &cid)?;
        let size = match kind {
            exporter::EntryKind::File | exporter::EntryKind::Raw => {
                exporter::file_size(&src, &cid)?.unwrap_or(0)
            }
            _ => 0,
        };
        Ok((cid, kind, size))
    }

    /// `ls`: the entries of the directory (or chunks of the file) at `arg`.
    pub fn ls(&self, arg: &str) -> anyhow::Result<Vec<exporter::Entry>> {
        let src = self.source();
        let cid = self.resolve_in(&src, arg)?;
        Ok(exporter::ls(&src, &cid)?)
    }

    /// `get`: writes what `arg` names to `target` (which must not exist).
    /// `progress` is called with the bytes of each block read.
    pub fn get_with_progress(
        &self,
        arg: &str,
        target: &Path,
        progress: &mut dyn FnMut(u64),
    ) -> anyhow::Result<()> {
        let src = self.source();
        let cid = self.resolve_in(&src, arg)?;
        let counted = ProgressSource {
            inner: &src,
            progress: std::cell::RefCell::new(progress),
        };
        exporter::get(&counted, &cid, target)?;
        Ok(())
    }

    /// `get` as Kubo's RPC API answers it: a tar stream of what `arg` names, under
    /// `name` (files, directories, symlinks; GNU long names). Blocks missing locally
    /// are fetched (daemon). Directory entries come in `ls` order.
    pub fn get_tar(
        &self,
        arg: &str,
        name: &str,
        out: &mut dyn std::io::Write,
    ) -> anyhow::Result<()> {
        let src = self.source();
        let cid = self.resolve_in(&src, arg)?;
        let mut tar = tar::Builder::new(out);
        tar.mode(tar::HeaderMode::Deterministic);
        // (tar path, cid), depth-first; bounded like any DAG walk.
        let mut stack = vec![(name.to_string(), cid)];
        while let Some((path, cid)) = stack.pop() {
            let mut h = tar::Header::new_gnu();
            h.set_mtime(0);
            match exporter::kind(&src, &cid)? {
                exporter::EntryKind::Directory => {
                    // Names are checked before the directory is sent, so a bad one
                    // in the root fails the request before any byte of the tar.
                    let entries = exporter::ls(&src, &cid)?;
                    exporter::check_names(&cid, entries.iter().map(|e| e.name.as_str()))?;
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(0o755);
                    h.set_size(0);
                    tar.append_data(&mut h, &path, std::io::empty())?;
                    if stack.len() + entries.len() > dag::MAX_WALK_STACK_COUNT {
                        bail!("directory {cid} is too wide to export");
                    }
                    for e in entries.into_iter().rev() {
                        stack.push((format!("{path}/{}", e.name), e.cid));
                    }
                }
                exporter::EntryKind::Symlink => {
                    let mut target = Vec::new();
                    exporter::cat(&src, &cid, 0, None, &mut target)?;
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_mode(0o777);
                    h.set_size(0);
                    let target = String::from_utf8(target)
                        .with_context(|| format!("symlink {cid} target is not UTF-8"))?;
                    tar.append_link(&mut h, &path, target)?;
                }
                exporter::EntryKind::File | exporter::EntryKind::Raw => {
                    let size = exporter::file_size(&src, &cid)?.unwrap_or(0);
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(0o644);
                    h.set_size(size);
                    // Streamed: the reader cats one window at a time.
                    let reader = CatReader {
                        src: &src,
                        cid,
                        pos: 0,
                        size,
                        buf: Vec::new(),
                        at: 0,
                    };
                    tar.append_data(&mut h, &path, reader)?;
                }
                exporter::EntryKind::Other => bail!("{cid} is not UnixFS"),
            }
        }
        tar.finish()?;
        Ok(())
    }
}

/// Bytes a [`CatReader`] exports per refill (one chunk of Kubo's default layout).
pub const CAT_WINDOW_BYTES: u64 = 256 * 1024;

/// A file's content as a `Read`, exported [`CAT_WINDOW_BYTES`] at a time (each
/// window walks the file DAG from its root to the offset).
struct CatReader<'a> {
    src: &'a Source<'a>,
    cid: Cid,
    pos: u64,
    size: u64,
    buf: Vec<u8>,
    at: usize,
}

impl std::io::Read for CatReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.buf.len() {
            if self.pos >= self.size {
                return Ok(0);
            }
            self.buf.clear();
            self.at = 0;
            let want = CAT_WINDOW_BYTES.min(self.size - self.pos);
            exporter::cat(self.src, &self.cid, self.pos, Some(want), &mut self.buf)
                .map_err(std::io::Error::other)?;
            if self.buf.is_empty() {
                return Err(std::io::Error::other(format!(
                    "{}: file is shorter than its recorded size",
                    self.cid
                )));
            }
            self.pos += self.buf.len() as u64;
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Reports the bytes of every block read (the CLI's `get` progress bar; the few
/// directory and file-root blocks are read twice, so the count runs a little over).
struct ProgressSource<'a> {
    inner: &'a Source<'a>,
    progress: std::cell::RefCell<&'a mut dyn FnMut(u64)>,
}

impl BlockSource for ProgressSource<'_> {
    fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, BlockError> {
        let r = self.inner.get(cid)?;
        if let (Some(d), Ok(mut f)) = (&r, self.progress.try_borrow_mut()) {
            (*f)(d.len() as u64);
        }
        Ok(r)
    }
    fn has(&self, cid: &Cid) -> Result<bool, BlockError> {
        self.inner.has(cid)
    }
}
