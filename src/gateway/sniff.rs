//! A file's media type from its first bytes, for names without a known extension.
//!
//! **What.** [`sniff`] looks at up to [`SNIFF_BYTES`] leading bytes: known magic
//! numbers (images, PDF, archives, WebAssembly, media), then markup (`<!DOCTYPE
//! html`, `<html`, `<?xml`, `<svg`), then text (valid UTF-8 with no control bytes
//! but whitespace: `text/plain`), else `application/octet-stream`.
//!
//! **Spec.** The WHATWG MIME Sniffing standard's steps as Go's
//! `http.DetectContentType` implements them (the gateway Kubo users know answers
//! `text/plain; charset=utf-8` for text and an image type for an image), reduced
//! to the types a gateway commonly serves.
//!
//! **Departures.** A subset: no audio/video containers beyond MP4/WebM/Ogg, no
//! fonts; UTF-16 text is binary.

/// Bytes read from the start of a file to guess its type (Go's and the
/// standard's sniff length).
pub const SNIFF_BYTES: usize = 512;

/// Magic numbers: (offset, bytes, type).
const MAGIC: &[(usize, &[u8], &str)] = &[
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"BM", "image/bmp"),
    (0, b"\x00\x00\x01\x00", "image/x-icon"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"\x1f\x8b\x08", "application/x-gzip"),
    (0, b"\x00asm", "application/wasm"),
    (0, b"\x1a\x45\xdf\xa3", "video/webm"),
    (0, b"OggS\x00", "application/ogg"),
    (0, b"ID3", "audio/mpeg"),
    (4, b"ftypmp4", "video/mp4"),
    (4, b"ftypiso", "video/mp4"),
    (4, b"ftypavif", "image/avif"),
];

/// Markup prefixes (case-insensitive, after leading whitespace).
const MARKUP: &[(&str, &str)] = &[
    ("<!doctype html", "text/html; charset=utf-8"),
    ("<html", "text/html; charset=utf-8"),
    ("<head", "text/html; charset=utf-8"),
    ("<body", "text/html; charset=utf-8"),
    ("<svg", "image/svg+xml"),
    ("<?xml", "text/xml; charset=utf-8"),
];

/// The media type of content starting with `head` (its first bytes; only
/// [`SNIFF_BYTES`] are looked at).
pub fn sniff(head: &[u8]) -> &'static str {
    let head = &head[..head.len().min(SNIFF_BYTES)];
    for (at, magic, ty) in MAGIC {
        if head.get(*at..*at + magic.len()) == Some(*magic) {
            return ty;
        }
    }
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return "image/webp";
    }
    let trimmed = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map_or(&[][..], |i| &head[i..]);
    for (prefix, ty) in MARKUP {
        let p = prefix.as_bytes();
        if trimmed.len() >= p.len() && trimmed[..p.len()].eq_ignore_ascii_case(p) {
            // `<?xml` may open an SVG document.
            if *prefix == "<?xml" && contains(trimmed, b"<svg") {
                return "image/svg+xml";
            }
            return ty;
        }
    }
    if is_text(head) {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// UTF-8 (a sequence cut at the end of `head` is fine) with no control bytes
/// but tab, newline, form feed and carriage return.
fn is_text(head: &[u8]) -> bool {
    let valid = match std::str::from_utf8(head) {
        Ok(_) => true,
        // Cut inside a character: the rest would complete it.
        Err(e) => e.error_len().is_none(),
    };
    valid
        && head
            .iter()
            .all(|&b| (b >= 0x20 && b != 0x7f) || matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_from_bytes() {
        assert_eq!(sniff(b"hello world\n"), "text/plain; charset=utf-8");
        assert_eq!(sniff("héllo wörld".as_bytes()), "text/plain; charset=utf-8");
        // A character cut by the sniff window is still text.
        let mut long = vec![b'a'; SNIFF_BYTES - 1];
        long.extend_from_slice("é".as_bytes());
        assert_eq!(sniff(&long), "text/plain; charset=utf-8");
        assert_eq!(sniff(b""), "text/plain; charset=utf-8");
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "image/png");
        assert_eq!(sniff(b"\xff\xd8\xff\xe0\0\x10JFIF"), "image/jpeg");
        assert_eq!(sniff(b"GIF89a\x01\0"), "image/gif");
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), "image/webp");
        assert_eq!(sniff(b"%PDF-1.7\n"), "application/pdf");
        assert_eq!(sniff(b"\0asm\x01\0\0\0"), "application/wasm");
        assert_eq!(sniff(b"\0\0\0\x18ftypmp42"), "video/mp4");
        assert_eq!(
            sniff(b"  <!DOCTYPE HTML><html>"),
            "text/html; charset=utf-8"
        );
        assert_eq!(sniff(b"<svg xmlns=\"x\"/>"), "image/svg+xml");
        assert_eq!(sniff(b"<?xml version=\"1.0\"?><svg/>"), "image/svg+xml");
        assert_eq!(
            sniff(b"<?xml version=\"1.0\"?><a/>"),
            "text/xml; charset=utf-8"
        );
        assert_eq!(sniff(b"\x00\x01\x02binary"), "application/octet-stream");
        assert_eq!(sniff(b"text with a \x7f DEL"), "application/octet-stream");
        assert_eq!(sniff(&[0xc3, 0x28, b'a']), "application/octet-stream");
    }
}
