//! Streaming `multipart/form-data` reader for `add` and `block/put` bodies.
//!
//! **What.** [`Multipart`] walks the parts of a body one at a time; between
//! [`Multipart::next_part`] calls it is a [`Read`] over the current part's bytes,
//! so a file of any size streams into the importer with one buffer of memory.
//!
//! **Spec.** RFC 7578 (`multipart/form-data`) over RFC 2046 §5.1 framing, as Kubo's
//! clients send it (go `boxo/files` `MultiFileReader`, JS `kubo-rpc-client`): every
//! part is `Content-Disposition: form-data; name="file"; filename="<url-escaped
//! path>"`; `Content-Type: application/x-directory` marks a directory,
//! `application/symlink` a symlink whose body is the target; anything else is a
//! file. A part without a filename is stdin-like data (Kubo names it by its CID).
//! An `Abspath` part header (boxo's `MultiFileReader` sends a file's absolute path
//! there) is passed on as [`Part::abspath`] for `add?nocopy=true`.
//!
//! **Limits.** Boundary ≤ [`MAX_BOUNDARY_BYTES`] (RFC 2046); one part's headers ≤
//! [`MAX_PART_HEADER_BYTES`]; buffer [`BUF_BYTES`] plus the delimiter. A body that
//! ends before the closing delimiter is an error, never a silently short file.
//!
//! **Departures.** Nested `multipart/mixed` parts (an old form) are not read;
//! preamble and epilogue are ignored.

use std::io::{self, Read};

use super::MalformedBody;

/// Longest boundary RFC 2046 allows, in bytes.
pub const MAX_BOUNDARY_BYTES: usize = 70;
/// Largest header block of one part, in bytes.
pub const MAX_PART_HEADER_BYTES: usize = 8 * 1024;
/// Read buffer, in bytes.
pub const BUF_BYTES: usize = 64 * 1024;

/// What a part holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartKind {
    File,
    Directory,
    Symlink,
}

/// A part's head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// The URL-decoded `filename`, if any.
    pub filename: Option<String>,
    pub kind: PartKind,
    /// The `Abspath` header (Kubo's clients send a file's absolute path there), as
    /// sent.
    pub abspath: Option<String>,
}

#[derive(PartialEq, Eq)]
enum State {
    /// Before the first delimiter.
    Start,
    /// Inside a part's data.
    InPart,
    /// Just after a delimiter: `--` (end) or CRLF and headers follow.
    AfterDelim,
    Done,
}

/// A multipart body reader over `R`.
pub struct Multipart<R> {
    inner: R,
    /// `\r\n--boundary`.
    delim: Vec<u8>,
    buf: Vec<u8>,
    start: usize,
    eof: bool,
    state: State,
}

/// The boundary of a `multipart/form-data; boundary=...` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let (mime, params) = content_type.split_once(';')?;
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("boundary")).then(|| v.trim().trim_matches('"').to_string())
    })
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, MalformedBody(msg.into()))
}

impl<R: Read> Multipart<R> {
    pub fn new(inner: R, boundary: &str) -> io::Result<Self> {
        if boundary.is_empty() || boundary.len() > MAX_BOUNDARY_BYTES {
            return Err(bad("multipart boundary missing or too long"));
        }
        let mut delim = b"\r\n--".to_vec();
        delim.extend_from_slice(boundary.as_bytes());
        Ok(Multipart {
            inner,
            delim,
            // The first delimiter has no CRLF before it: pretend it had.
            buf: b"\r\n".to_vec(),
            start: 0,
            eof: false,
            state: State::Start,
        })
    }

    fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Reads more input; false at the end of the input.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        self.buf.drain(..self.start);
        self.start = 0;
        let old = self.buf.len();
        self.buf.resize(old + BUF_BYTES, 0);
        let n = loop {
            match self.inner.read(&mut self.buf[old..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r,
            }
        };
        self.buf.truncate(old + *n.as_ref().unwrap_or(&0));
        if n? == 0 {
            self.eof = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn find_delim(&self) -> Option<usize> {
        self.pending()
            .windows(self.delim.len())
            .position(|w| w == self.delim.as_slice())
    }

    /// Skips the rest of the current part (or the preamble).
    fn skip_to_delim(&mut self) -> io::Result<()> {
        loop {
            if let Some(i) = self.find_delim() {
                self.start += i + self.delim.len();
                self.state = State::AfterDelim;
                return Ok(());
            }
            let keep = self.delim.len() - 1;
            self.start += self.pending().len().saturating_sub(keep);
            if !self.fill()? {
                return Err(bad("multipart body ends before its closing boundary"));
            }
        }
    }

    fn line(&mut self, limit: usize) -> io::Result<Vec<u8>> {
        loop {
            if let Some(i) = self.pending().windows(2).position(|w| w == b"\r\n") {
                let line = self.pending()[..i].to_vec();
                self.start += i + 2;
                return Ok(line);
            }
            if self.pending().len() > limit {
                return Err(bad("multipart part headers too large"));
            }
            if !self.fill()? {
                return Err(bad("multipart body ends inside part headers"));
            }
        }
    }

    /// Moves to the next part; `None` after the closing delimiter.
    pub fn next_part(&mut self) -> io::Result<Option<Part>> {
        match self.state {
            State::Done => return Ok(None),
            State::Start | State::InPart => self.skip_to_delim()?,
            State::AfterDelim => {}
        }
        while self.pending().len() < 2 {
            if !self.fill()? {
                return Err(bad("multipart body ends after a boundary"));
            }
        }
        if self.pending().starts_with(b"--") {
            self.state = State::Done;
            return Ok(None);
        }
        // Transport padding, then CRLF.
        let rest = self.line(MAX_PART_HEADER_BYTES)?;
        if rest.iter().any(|b| *b != b' ' && *b != b'\t') {
            return Err(bad("malformed multipart boundary line"));
        }
        let mut used = 0;
        let mut filename = None;
        let mut kind = PartKind::File;
        let mut abspath = None;
        loop {
            let line = self.line(MAX_PART_HEADER_BYTES - used)?;
            used += line.len() + 2;
            if line.is_empty() {
                break;
            }
            let line = std::str::from_utf8(&line).map_err(|_| bad("part header is not UTF-8"))?;
            let Some((name, value)) = line.split_once(':') else {
                return Err(bad("malformed part header"));
            };
            let value = value.trim();
            if name.trim().eq_ignore_ascii_case("content-disposition") {
                filename = disposition_filename(value)?;
            } else if name.trim().eq_ignore_ascii_case("abspath") {
                abspath = Some(value.to_string()).filter(|v| !v.is_empty());
            } else if name.trim().eq_ignore_ascii_case("content-type") {
                let mime = value.split(';').next().unwrap_or("").trim();
                kind = match mime.to_ascii_lowercase().as_str() {
                    "application/x-directory" => PartKind::Directory,
                    "application/symlink" => PartKind::Symlink,
                    _ => PartKind::File,
                };
            }
        }
        self.state = State::InPart;
        Ok(Some(Part {
            filename,
            kind,
            abspath,
        }))
    }
}

/// The URL-decoded `filename` parameter of a Content-Disposition value.
fn disposition_filename(value: &str) -> io::Result<Option<String>> {
    for p in value.split(';').skip(1) {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        if k.trim().eq_ignore_ascii_case("filename") {
            let v = v.trim().trim_matches('"');
            let name = percent_encoding::percent_decode_str(v)
                .decode_utf8()
                .map_err(|_| bad("part filename is not UTF-8"))?;
            return Ok(Some(name.into_owned()).filter(|n| !n.is_empty()));
        }
    }
    Ok(None)
}

impl<R: Read> Read for Multipart<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.state != State::InPart || out.is_empty() {
            return Ok(0);
        }
        loop {
            let avail = match self.find_delim() {
                Some(0) => {
                    self.start += self.delim.len();
                    self.state = State::AfterDelim;
                    return Ok(0);
                }
                Some(i) => i,
                None => self.pending().len().saturating_sub(self.delim.len() - 1),
            };
            if avail > 0 {
                let n = avail.min(out.len());
                out[..n].copy_from_slice(&self.pending()[..n]);
                self.start += n;
                return Ok(n);
            }
            if !self.fill()? {
                return Err(bad("multipart body ends inside a part"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Yields its bytes a few at a time, to cross every buffer edge.
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(out.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn parts(body: &[u8], step: usize) -> io::Result<Vec<(Part, Vec<u8>)>> {
        let mut m = Multipart::new(Trickle(body, step), "XyZ")?;
        let mut out = Vec::new();
        while let Some(p) = m.next_part()? {
            let mut data = Vec::new();
            m.read_to_end(&mut data)?;
            out.push((p, data));
        }
        Ok(out)
    }

    const BODY: &[u8] = b"preamble\r\n--XyZ\r\n\
        Content-Disposition: form-data; name=\"file\"; filename=\"dir\"\r\n\
        Content-Type: application/x-directory\r\n\r\n\
        \r\n--XyZ\r\n\
        Content-Disposition: form-data; name=\"file\"; filename=\"dir%2Fa.txt\"\r\n\
        Content-Type: application/octet-stream\r\n\r\n\
        line1\r\n--XyNot a delimiter\r\n\
        \r\n--XyZ  \r\n\
        Content-Disposition: form-data; name=\"file\"\r\n\r\n\
        stdin\r\n--XyZ--\r\n";

    #[test]
    fn parts_at_every_step_size() {
        for step in [1, 2, 3, 7, 64, 100_000] {
            let p = parts(BODY, step).unwrap();
            assert_eq!(p.len(), 3, "step {step}");
            assert_eq!(p[0].0.filename.as_deref(), Some("dir"));
            assert_eq!(p[0].0.kind, PartKind::Directory);
            assert!(p[0].1.is_empty());
            assert_eq!(p[1].0.filename.as_deref(), Some("dir/a.txt"));
            assert_eq!(p[1].0.kind, PartKind::File);
            assert_eq!(p[1].1, b"line1\r\n--XyNot a delimiter\r\n");
            assert_eq!(p[2].0.filename, None);
            assert_eq!(p[2].1, b"stdin");
        }
    }

    #[test]
    fn skipping_unread_parts() {
        let mut m = Multipart::new(BODY, "XyZ").unwrap();
        let mut n = 0;
        while m.next_part().unwrap().is_some() {
            n += 1;
        }
        assert_eq!(n, 3);
    }

    #[test]
    fn truncated_bodies_are_errors() {
        for cut in [5, 20, 120, BODY.len() - 9, BODY.len() - 4] {
            assert!(parts(&BODY[..cut], 3).is_err(), "cut at {cut}");
        }
        let mut huge = b"--XyZ\r\nX: ".to_vec();
        huge.extend(std::iter::repeat_n(b'a', MAX_PART_HEADER_BYTES + 1));
        assert!(parts(&huge, 4096).is_err());
    }

    #[test]
    fn boundary_from_content_type() {
        assert_eq!(
            boundary("multipart/form-data; boundary=\"ab c\"").as_deref(),
            Some("ab c")
        );
        assert_eq!(
            boundary("Multipart/Form-Data;boundary=x").as_deref(),
            Some("x")
        );
        assert_eq!(boundary("text/plain; boundary=x"), None);
        assert!(Multipart::new(&b""[..], &"b".repeat(71)).is_err());
    }
}
