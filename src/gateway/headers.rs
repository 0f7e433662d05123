//! What the gateway's answers say about their content: `Content-Type` by
//! extension, `Content-Disposition`, one `Range`, `If-None-Match` against the
//! ETag, the common headers and a 304, HTML and path escaping; and what a request
//! asks for (`?format=` or `Accept`, query values).

use super::*;

/// `Content-Type` from a file name's extension; `application/octet-stream` when
/// unknown.
pub fn content_type(name: &str) -> &'static str {
    type_by_extension(name).unwrap_or("application/octet-stream")
}

/// `Content-Type` from a file name's extension, if it is one we know.
pub(super) fn type_by_extension(name: &str) -> Option<&'static str> {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    Some(match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "mp4" => "video/mp4",
        "pdf" => "application/pdf",
        _ => return None,
    })
}

/// Kubo's `Content-Disposition` for `?filename=` (`download=true`: attachment):
/// an ASCII `filename` (other characters as `_`) and the UTF-8 `filename*`
/// (RFC 6266, RFC 5987), both escaped as Go's `url.PathEscape` does.
pub fn content_disposition(filename: &str, download: bool) -> String {
    let kind = if download { "attachment" } else { "inline" };
    let ascii: String = filename
        .chars()
        .map(|c| if (' '..'\x7f').contains(&c) { c } else { '_' })
        .collect();
    format!(
        "{kind}; filename=\"{}\"; filename*=UTF-8''{}",
        path_escape(&ascii),
        path_escape(filename)
    )
}

/// Go's `url.PathEscape`: all but `A-Za-z0-9-_.~$&+:=@` percent-encoded.
pub(super) fn path_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~$&+:=@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A satisfiable byte range `[start, end]` (inclusive), or why not.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum RangeReq {
    /// No `Range`, or one we ignore (not bytes, several ranges, malformed): 200.
    Whole,
    Part(u64, u64),
    /// 416.
    Unsatisfiable,
}

/// Parses a `Range` header against a body of `size` bytes (RFC 9110 §14.1.2).
/// Several ranges are answered with the whole body, which the RFC allows.
pub(super) fn parse_range(header: Option<&str>, size: u64) -> RangeReq {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeReq::Whole;
    };
    if spec.contains(',') {
        return RangeReq::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeReq::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        // Suffix: the last n bytes.
        return match b.parse::<u64>() {
            Ok(0) => RangeReq::Unsatisfiable,
            Ok(_) if size == 0 => RangeReq::Unsatisfiable,
            Ok(n) => RangeReq::Part(size - n.min(size), size - 1),
            Err(_) => RangeReq::Whole,
        };
    }
    let Ok(start) = a.parse::<u64>() else {
        return RangeReq::Whole;
    };
    let end = if b.is_empty() {
        u64::MAX
    } else {
        match b.parse::<u64>() {
            Ok(e) if e >= start => e,
            _ => return RangeReq::Whole,
        }
    };
    if start >= size {
        return RangeReq::Unsatisfiable;
    }
    RangeReq::Part(start, end.min(size - 1))
}

/// Whether an `If-None-Match` header matches `etag` (weak comparison).
pub(super) fn none_match(header: Option<&str>, etag: &str) -> bool {
    header.is_some_and(|h| {
        h.split(',').map(str::trim).any(|t| {
            t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag.strip_prefix("W/").unwrap_or(etag)
        })
    })
}

/// Escapes text for HTML.
pub(super) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The format a request asks for: `?format=` first, then `Accept`.
pub(super) fn parse_format(req: &Request) -> Result<Format, Fail> {
    let q = |name: &str| {
        req.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let root_only = match q("dag-scope") {
        None | Some("all") | Some("entity") => false,
        Some("block") => true,
        Some(other) => return Err(Fail(400, format!("unsupported dag-scope {other:?}"))),
    };
    match q("format") {
        Some("raw") => return Ok(Format::Raw),
        Some("car") => return Ok(Format::Car { root_only }),
        None | Some("") => {}
        Some(other) => return Err(Fail(400, format!("unsupported format {other:?}"))),
    }
    for media in req.header("accept").unwrap_or("").split(',') {
        match media.split(';').next().unwrap_or("").trim() {
            RAW_TYPE => return Ok(Format::Raw),
            CAR_TYPE => return Ok(Format::Car { root_only }),
            _ => {}
        }
    }
    Ok(Format::Unixfs)
}

/// The first value of query parameter `name`.
pub(super) fn query_value<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Headers every content answer carries.
pub(super) fn common_headers(etag: &str, ipfs_path: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ETag", etag.to_string()),
        ("Cache-Control", CACHE_CONTROL.to_string()),
        ("X-Ipfs-Path", ipfs_path.to_string()),
        ("Accept-Ranges", "bytes".to_string()),
    ]
}

pub(super) fn not_modified(etag: &str, ipfs_path: &str) -> Response {
    Response {
        status: 304,
        headers: common_headers(etag, ipfs_path),
        body: Body::Empty(None),
    }
}
