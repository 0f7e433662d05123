//! The CLI's way to a running daemon: a small blocking HTTP/1.1 client.
//!
//! **What.** [`discover`] reads `$ACORN_PATH/api` and connects to it: `Some` means a
//! daemon answers (commands go through its RPC API, as Kubo's CLI does); a missing
//! file or nothing listening (a stale file after a crash) means `None`, and the
//! command runs offline against the repo. [`Client::post`] sends one request to
//! `/api/v0/<cmd>` (one connection per request) and returns the response body as a
//! `Read`; a non-200 answer becomes an error carrying Kubo's `Message`, and an
//! `X-Stream-Error` trailer becomes a read error.
//!
//! The request body (multipart for `add`, `block put`) is written by a helper
//! thread while the caller reads the response, so a server that streams output
//! while reading input never deadlocks against us.
//!
//! **Limits.** Response head ≤ [`MAX_HEAD_BYTES`]; error bodies read ≤
//! [`MAX_ERROR_BODY_BYTES`]; connect timeout [`CONNECT_TIMEOUT`].

use super::error::{bail, ensure, Context as _, Error, Kind, Result};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::endpoints;

/// How long to wait for the daemon to accept a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest response head, in bytes.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Largest error body read, in bytes.
pub const MAX_ERROR_BODY_BYTES: usize = 1 << 20;

/// The global `--timeout` (a Go duration), sent as `timeout=` on every request.
static TIMEOUT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Sends `timeout=<d>` with every request from now on (the CLI's `--timeout`; set
/// once, later calls change nothing).
pub fn set_timeout(d: String) {
    let _ = TIMEOUT.set(d);
}

/// A daemon that answered.
pub struct Client {
    addr: SocketAddr,
}

/// A request body: its content type and bytes.
pub struct RequestBody {
    pub content_type: String,
    pub reader: Box<dyn Read + Send>,
}

/// The daemon of the repo at `root`, if one is running.
pub fn discover(root: &Path) -> Result<Option<Client>> {
    let path = endpoints::api_file(root);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let addr = endpoints::parse_tcp_multiaddr(&text)
        .with_context(|| format!("bad API address in {}", path.display()))?;
    let addr = if addr.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
    } else {
        addr
    };
    match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
        Ok(_) => Ok(Some(Client { addr })),
        Err(e) => {
            tracing::debug!(
                "api file {} is stale ({e}): running offline",
                path.display()
            );
            Ok(None)
        }
    }
}

impl Client {
    /// The daemon at the API multiaddr `addr` (the CLI's `--api`); an error when
    /// nothing answers there.
    pub fn connect(addr: &str) -> Result<Client> {
        let sock = endpoints::parse_tcp_multiaddr(addr)?;
        TcpStream::connect_timeout(&sock, CONNECT_TIMEOUT).map_err(|e| {
            let e = anyhow::Error::from(e).context(format!("no daemon answers at --api {addr}"));
            Kind::Unavailable.wrap(e.into())
        })?;
        Ok(Client { addr: sock })
    }

    /// POSTs `/api/v0/<cmd>?<query>` with `body`; the body of a 200 answer.
    pub fn post(
        &self,
        cmd: &str,
        query: &[(&str, String)],
        body: Option<RequestBody>,
    ) -> Result<Response> {
        let mut stream = TcpStream::connect_timeout(&self.addr, CONNECT_TIMEOUT).map_err(|e| {
            let e = anyhow::Error::from(e)
                .context(format!("connecting to the daemon at {}", self.addr));
            Kind::Unavailable.wrap(e.into())
        })?;
        let timeout = TIMEOUT
            .get()
            .filter(|_| query.iter().all(|(k, _)| *k != "timeout"));
        let pairs = query
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .chain(timeout.map(|t| ("timeout", t.as_str())));
        let mut head = format!(
            "POST /api/v0/{cmd}?{} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            crate::http::encode_query(pairs),
            self.addr
        );
        let writer = match body {
            None => {
                head.push_str("Content-Length: 0\r\n\r\n");
                stream.write_all(head.as_bytes())?;
                None
            }
            Some(b) => {
                head.push_str(&format!(
                    "Content-Type: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
                    b.content_type
                ));
                stream.write_all(head.as_bytes())?;
                let mut w = stream.try_clone()?;
                let mut reader = b.reader;
                Some(std::thread::spawn(move || -> io::Result<()> {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = reader.read(&mut buf)?;
                        if n == 0 {
                            break;
                        }
                        w.write_all(format!("{n:x}\r\n").as_bytes())?;
                        w.write_all(&buf[..n])?;
                        w.write_all(b"\r\n")?;
                    }
                    w.write_all(b"0\r\n\r\n")
                }))
            }
        };
        let mut r = BufReader::new(stream);
        let (status, headers) = read_head(&mut r)?;
        let framing = if headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"))
        {
            Framing::Chunked {
                left: 0,
                done: false,
            }
        } else if let Some((_, v)) = headers.iter().find(|(n, _)| n == "content-length") {
            Framing::Length(v.parse().context("bad Content-Length from the daemon")?)
        } else {
            Framing::Eof
        };
        let mut resp = Response { r, framing, writer };
        if status != 200 {
            let mut body = Vec::new();
            (&mut resp)
                .take(MAX_ERROR_BODY_BYTES as u64)
                .read_to_end(&mut body)?;
            // A failed body upload is explained by the answer, not the other way.
            let _ = resp.writer.take().map(|h| h.join());
            let text = String::from_utf8_lossy(&body);
            match serde_json::from_str::<Value>(&text) {
                Ok(v) if v.get("Message").is_some() => {
                    // The kind back from the daemon's answer: Kubo's `Code` 1 (or
                    // HTTP 400) is the client's fault.
                    let kind = if status == 400 || v["Code"].as_u64() == Some(1) {
                        Kind::BadInput
                    } else {
                        Kind::Other
                    };
                    let msg = v["Message"].as_str().unwrap_or_default();
                    return Err(Error::new(kind, msg));
                }
                _ => bail!("{} (HTTP {status})", text.trim()),
            }
        }
        Ok(resp)
    }

    /// POSTs and parses the whole answer as one JSON value.
    pub fn json(&self, cmd: &str, query: &[(&str, String)]) -> Result<Value> {
        let mut resp = self.post(cmd, query, None)?;
        let mut body = String::new();
        resp.read_to_string(&mut body)?;
        resp.finish()?;
        serde_json::from_str(&body).context("bad JSON from the daemon")
    }
}

fn read_head(r: &mut BufReader<TcpStream>) -> Result<(u16, Vec<(String, String)>)> {
    let mut used = 0;
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let n = r
            .by_ref()
            .take((MAX_HEAD_BYTES - used) as u64)
            .read_line(&mut line)
            .context("reading the daemon's answer")?;
        ensure!(n > 0, "the daemon closed the connection without answering");
        used += n;
        ensure!(
            line.ends_with('\n'),
            "the daemon's answer head is too large"
        );
        let line = line.trim_end().to_string();
        if line.is_empty() {
            break;
        }
        lines.push(line);
    }
    let status_line = lines.first().context("empty answer from the daemon")?;
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line from the daemon: {status_line:?}"))?;
    let headers = lines[1..]
        .iter()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok((status, headers))
}

enum Framing {
    Length(u64),
    Chunked { left: u64, done: bool },
    Eof,
}

/// A response body.
pub struct Response {
    r: BufReader<TcpStream>,
    framing: Framing,
    writer: Option<std::thread::JoinHandle<io::Result<()>>>,
}

impl Response {
    /// Ends the exchange: reads the answer to its end, so an `X-Stream-Error`
    /// trailer fails the command even when the caller stopped at the end of what it
    /// parses (a tar's end-of-archive marker comes before the trailer), then checks
    /// that the request body went out whole. Every caller of [`Client::post`] that
    /// read the answer successfully calls this.
    pub fn finish(mut self) -> Result<()> {
        io::copy(&mut self, &mut io::sink())?;
        if let Some(h) = self.writer.take() {
            match h.join() {
                Ok(r) => r.context("sending the request body")?,
                Err(_) => bail!("the request body writer panicked"),
            }
        }
        Ok(())
    }

    /// Calls `f` with each line of a newline-delimited JSON answer.
    pub fn ndjson(mut self, f: &mut dyn FnMut(Value) -> Result<()>) -> Result<()> {
        let mut r = BufReader::new(&mut self);
        let mut line = String::new();
        loop {
            line.clear();
            if r.read_line(&mut line)? == 0 {
                break;
            }
            if line.trim().is_empty() {
                continue;
            }
            f(serde_json::from_str(&line).context("bad JSON line from the daemon")?)?;
        }
        drop(r);
        self.finish()
    }

    fn line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        self.r.by_ref().take(4096).read_line(&mut line)?;
        if !line.ends_with('\n') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "bad chunked framing",
            ));
        }
        Ok(line.trim_end().to_string())
    }
}

impl Read for Response {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match &mut self.framing {
            Framing::Eof => self.r.read(out),
            Framing::Length(left) => {
                if *left == 0 {
                    return Ok(0);
                }
                let max = (*left).min(out.len() as u64) as usize;
                let n = self.r.read(&mut out[..max])?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                *left -= n as u64;
                Ok(n)
            }
            Framing::Chunked { left, done } => {
                if *done {
                    return Ok(0);
                }
                if *left == 0 {
                    let size_line = self.line()?;
                    let size = size_line.split(';').next().unwrap_or("").trim();
                    let size = u64::from_str_radix(size, 16).map_err(|_| {
                        io::Error::new(io::ErrorKind::InvalidData, "bad chunk size")
                    })?;
                    if size == 0 {
                        let mut stream_error = None;
                        loop {
                            let t = self.line()?;
                            if t.is_empty() {
                                break;
                            }
                            if let Some((n, v)) = t.split_once(':') {
                                if n.trim().eq_ignore_ascii_case("x-stream-error") {
                                    stream_error = Some(v.trim().to_string());
                                }
                            }
                        }
                        if let Framing::Chunked { done, .. } = &mut self.framing {
                            *done = true;
                        }
                        return match stream_error {
                            Some(e) => Err(io::Error::other(format!(
                                "the daemon's answer failed part way: {e}"
                            ))),
                            None => Ok(0),
                        };
                    }
                    if let Framing::Chunked { left, .. } = &mut self.framing {
                        *left = size;
                    }
                }
                let Framing::Chunked { left, .. } = &mut self.framing else {
                    unreachable!("framing is chunked in this arm")
                };
                let max = (*left).min(out.len() as u64) as usize;
                let n = self.r.read(&mut out[..max])?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                *left -= n as u64;
                if *left == 0 && !self.line()?.is_empty() {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "bad chunk end"));
                }
                Ok(n)
            }
        }
    }
}

/// One entry of a multipart upload.
enum Upload {
    File {
        name: Option<String>,
        path: std::path::PathBuf,
    },
    Stdin,
    Dir(String),
    Symlink {
        name: String,
        target: Vec<u8>,
    },
}

/// A `multipart/form-data` body built lazily from a walk, in Kubo's shape (see
/// `api::multipart`).
pub struct MultipartBody {
    boundary: String,
    entries: std::vec::IntoIter<Upload>,
    pending: Vec<u8>,
    pos: usize,
    current: Option<Box<dyn Read + Send>>,
    first: bool,
    done: bool,
}

/// A multipart boundary: random, so it is unlikely to occur in what it frames.
pub(super) fn random_boundary() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut s = String::from("acorn-");
    for i in 0..3u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i ^ u64::from(std::process::id()));
        s.push_str(&format!("{:016x}", h.finish()));
    }
    s
}

fn escape(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).to_string()
}

impl MultipartBody {
    /// The body for `add`: stdin when `paths` is empty, else each path walked as
    /// offline `add` walks it (sorted names, `hidden` controls dot-names, a
    /// directory needs `recursive`).
    pub fn for_add(paths: &[String], recursive: bool, hidden: bool) -> Result<Self> {
        let mut entries = Vec::new();
        if paths.is_empty() {
            entries.push(Upload::Stdin);
        }
        for p in paths {
            let path = Path::new(p);
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_string)
                .or_else(|| {
                    std::fs::canonicalize(path)
                        .ok()?
                        .file_name()?
                        .to_str()
                        .map(str::to_string)
                })
                .with_context(|| format!("cannot add {p}: name is not valid UTF-8"))?;
            walk(path, name, recursive, hidden, 0, &mut entries)?;
        }
        Ok(Self::new(entries))
    }

    fn new(entries: Vec<Upload>) -> Self {
        MultipartBody {
            boundary: random_boundary(),
            entries: entries.into_iter(),
            pending: Vec::new(),
            pos: 0,
            current: None,
            first: true,
            done: false,
        }
    }

    /// The `Content-Type` of this body.
    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }

    fn next_entry(&mut self) -> io::Result<bool> {
        let lead = if self.first { "" } else { "\r\n" };
        self.first = false;
        let b = &self.boundary;
        let Some(e) = self.entries.next() else {
            self.pending = format!("{lead}--{b}--\r\n").into_bytes();
            self.pos = 0;
            self.done = true;
            return Ok(false);
        };
        let mut abspath = None;
        let (name, ctype, reader): (Option<String>, &str, Box<dyn Read + Send>) = match e {
            Upload::Stdin => (None, "application/octet-stream", Box::new(io::stdin())),
            Upload::File { name, path } => {
                let f = std::fs::File::open(&path).map_err(|e| {
                    io::Error::new(e.kind(), format!("opening {}: {e}", path.display()))
                })?;
                abspath = abspath_header(&path);
                (name, "application/octet-stream", Box::new(f))
            }
            Upload::Dir(name) => (Some(name), "application/x-directory", Box::new(io::empty())),
            Upload::Symlink { name, target } => (
                Some(name),
                "application/symlink",
                Box::new(io::Cursor::new(target)),
            ),
        };
        let disp = match name {
            Some(n) => format!("form-data; name=\"file\"; filename=\"{}\"", escape(&n)),
            None => "form-data; name=\"file\"".to_string(),
        };
        let extra = abspath.map_or_else(String::new, |a| format!("Abspath: {a}\r\n"));
        self.pending = format!(
            "{lead}--{b}\r\nContent-Disposition: {disp}\r\nContent-Type: {ctype}\r\n{extra}\r\n"
        )
        .into_bytes();
        self.pos = 0;
        self.current = Some(reader);
        Ok(true)
    }
}

/// A file's absolute path for the `Abspath` part header (as Kubo's client sends
/// it; the daemon uses it for `nocopy`), or `None` when it cannot be a header value
/// (not UTF-8, or a control character that would break the part's head).
fn abspath_header(path: &Path) -> Option<String> {
    let abs = std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .ok()?;
    let s = abs.to_str()?;
    (!s.chars().any(char::is_control)).then(|| s.to_string())
}

fn walk(
    path: &Path,
    shown: String,
    recursive: bool,
    hidden: bool,
    depth: usize,
    out: &mut Vec<Upload>,
) -> Result<()> {
    use acorn_storage::unixfs::importer::MAX_DIR_DEPTH;
    let meta =
        std::fs::symlink_metadata(path).with_context(|| format!("reading {}", path.display()))?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        use std::os::unix::ffi::OsStrExt;
        let target = std::fs::read_link(path)?;
        out.push(Upload::Symlink {
            name: shown,
            target: target.as_os_str().as_bytes().to_vec(),
        });
    } else if ft.is_file() {
        out.push(Upload::File {
            name: Some(shown),
            path: path.to_path_buf(),
        });
    } else if ft.is_dir() {
        ensure!(
            recursive,
            "{} is a directory, use the '-r' flag to specify directories",
            path.display()
        );
        ensure!(
            depth < MAX_DIR_DEPTH,
            "directory tree under {} is deeper than {MAX_DIR_DEPTH} levels",
            path.display()
        );
        out.push(Upload::Dir(shown.clone()));
        let mut names = Vec::new();
        for e in std::fs::read_dir(path).with_context(|| format!("reading {}", path.display()))? {
            let e = e?;
            let name = e.file_name().into_string().map_err(|n| {
                anyhow::anyhow!(
                    "cannot add {}: name is not valid UTF-8",
                    path.join(n).display()
                )
            })?;
            if !hidden && name.starts_with('.') {
                continue;
            }
            names.push(name);
        }
        names.sort();
        for n in names {
            walk(
                &path.join(&n),
                format!("{shown}/{n}"),
                recursive,
                hidden,
                depth + 1,
                out,
            )?;
        }
    } else {
        bail!(
            "{}: unsupported file type (not a file, directory or symlink)",
            path.display()
        );
    }
    Ok(())
}

impl Read for MultipartBody {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.pending.len() {
                let n = (self.pending.len() - self.pos).min(out.len());
                out[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if let Some(r) = self.current.as_mut() {
                let n = r.read(out)?;
                if n > 0 {
                    return Ok(n);
                }
                self.current = None;
            }
            if self.done {
                return Ok(0);
            }
            self.next_entry()?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::multipart::{Multipart, PartKind};

    /// What the client writes, the server's reader reads back.
    #[test]
    fn multipart_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("d i r");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("a%b.txt"), b"hello").unwrap();
        std::fs::write(root.join("sub/z"), b"").unwrap();
        std::fs::write(root.join(".hidden"), b"x").unwrap();
        std::os::unix::fs::symlink("a%b.txt", root.join("link")).unwrap();
        let body = MultipartBody::for_add(&[root.display().to_string()], true, false).unwrap();
        let boundary = body.boundary.clone();
        let mut m = Multipart::new(body, &boundary).unwrap();
        let mut got = Vec::new();
        while let Some(p) = m.next_part().unwrap() {
            let mut data = Vec::new();
            m.read_to_end(&mut data).unwrap();
            got.push((p.filename.unwrap(), p.kind, data));
        }
        let want = [
            ("d i r", PartKind::Directory, &b""[..]),
            ("d i r/a%b.txt", PartKind::File, b"hello"),
            ("d i r/link", PartKind::Symlink, b"a%b.txt"),
            ("d i r/sub", PartKind::Directory, b""),
            ("d i r/sub/z", PartKind::File, b""),
        ];
        assert_eq!(got.len(), want.len(), "{got:?}");
        for (g, w) in got.iter().zip(want) {
            assert_eq!((g.0.as_str(), g.1.clone(), g.2.as_slice()), w);
        }
        assert!(MultipartBody::for_add(&[root.display().to_string()], false, false).is_err());
    }

    /// A daemon on loopback that answers one request with `answer`.
    fn one_answer(answer: &'static [u8]) -> Client {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            while r.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
                line.clear();
            }
            (&s).write_all(answer).unwrap();
        });
        Client { addr }
    }

    /// A caller that stops reading where its own format ends (a tar's
    /// end-of-archive marker) still fails on the trailer that follows.
    #[test]
    fn finish_reads_to_the_trailer() {
        let client = one_answer(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
              5\r\nhello\r\n5\r\nworld\r\n0\r\nX-Stream-Error: block not found\r\n\r\n",
        );
        let mut resp = client.post("get", &[], None).unwrap();
        let mut first = [0u8; 5];
        resp.read_exact(&mut first).unwrap();
        assert_eq!(&first, b"hello");
        let e = resp.finish().unwrap_err().to_string();
        assert!(e.contains("block not found"), "{e}");

        let client = one_answer(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
              5\r\nhello\r\n0\r\n\r\n",
        );
        let mut resp = client.post("get", &[], None).unwrap();
        resp.read_exact(&mut first).unwrap();
        resp.finish().unwrap();
    }
}
