//! DNS messages for TXT lookups: encode one query, parse a response. No I/O.
//!
//! **Spec.** RFC 1035 §4 (header, question, resource records, name compression),
//! TXT RDATA as one or more length-prefixed character strings (§3.3.14).
//!
//! **Parsing.** Every read is bounds-checked against the message; compression
//! pointers may only point backwards and are followed at most
//! [`MAX_POINTER_HOPS`] times, so a hostile response cannot loop or index out of
//! bounds. At most [`MAX_TXT_RECORDS`] TXT records are returned, each at most
//! [`MAX_TXT_BYTES`] long (longer ones are skipped).

/// Largest response we accept over UDP (EDNS is not used, so servers send ≤ 512;
/// some send more anyway).
pub const MAX_MESSAGE_BYTES: usize = 1232;

/// Most TXT records taken from one response.
pub const MAX_TXT_RECORDS: usize = 16;

/// Longest TXT record (all its strings together) kept, in bytes.
pub const MAX_TXT_BYTES: usize = 1024;

/// Most compression pointers followed while reading one name.
pub const MAX_POINTER_HOPS: usize = 16;

const TYPE_TXT: u16 = 16;
const CLASS_IN: u16 = 1;

/// Why a name could not be queried or a response not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// A label of the name is empty or over 63 bytes.
    #[error("DNS name label is empty or longer than 63 bytes")]
    BadLabel,
    /// The name is over 253 bytes.
    #[error("DNS name is longer than 253 bytes")]
    NameTooLong,
    /// The response does not parse (bad lengths, pointer loops, short records).
    #[error("DNS response is malformed")]
    Malformed,
    /// The response's id or question is not ours.
    #[error("DNS response does not answer our query")]
    Mismatch,
    /// The server set the TC bit: the answer did not fit a datagram.
    #[error("DNS response is truncated (TCP fallback is not supported)")]
    Truncated,
    /// The server's RCODE, when not 0 (no error).
    #[error("DNS server answered with error code {0}")]
    Rcode(u8),
}

/// A TXT query for `name` with message id `id` (recursion desired).
pub fn encode_txt_query(id: u16, name: &str) -> Result<Vec<u8>, WireError> {
    let name = name.trim_end_matches('.');
    if name.len() > 253 {
        return Err(WireError::NameTooLong);
    }
    let mut out = Vec::with_capacity(12 + name.len() + 2 + 4);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    out.extend_from_slice(&1u16.to_be_bytes()); // QDCOUNT
    out.extend_from_slice(&[0; 6]); // AN, NS, AR counts
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(WireError::BadLabel);
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out.extend_from_slice(&TYPE_TXT.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(out)
}

fn read_u16(msg: &[u8], at: usize) -> Result<u16, WireError> {
    match msg.get(at..at + 2) {
        Some(b) => Ok(u16::from_be_bytes([b[0], b[1]])),
        None => Err(WireError::Malformed),
    }
}

/// Skips the name at `at`; returns the offset just after it (after the first
/// pointer, if any).
fn skip_name(msg: &[u8], mut at: usize) -> Result<usize, WireError> {
    let mut hops = 0;
    let mut end = None;
    loop {
        let len = *msg.get(at).ok_or(WireError::Malformed)?;
        match len {
            0 => return Ok(end.unwrap_or(at + 1)),
            l if l & 0xc0 == 0xc0 => {
                let ptr = usize::from(read_u16(msg, at)? & 0x3fff);
                if ptr >= at || hops == MAX_POINTER_HOPS {
                    return Err(WireError::Malformed);
                }
                hops += 1;
                end.get_or_insert(at + 2);
                at = ptr;
            }
            l if l & 0xc0 == 0 => at += 1 + usize::from(l),
            _ => return Err(WireError::Malformed),
        }
    }
}

/// The TXT records answering `query` (as [`encode_txt_query`] made it) in `msg`,
/// each as its strings joined. A name that does not exist (NXDOMAIN) gives an
/// empty list. An answer is ours when its id and its one question are the
/// query's (the name compared ignoring ASCII case, as RFC 4343 says: a resolver
/// may echo the name's case differently); anything else is a
/// [`WireError::Mismatch`], as from a spoofer guessing only the id.
pub fn parse_txt_response(query: &[u8], msg: &[u8]) -> Result<Vec<Vec<u8>>, WireError> {
    if msg.len() < 12 || msg.len() > MAX_MESSAGE_BYTES {
        return Err(WireError::Malformed);
    }
    let flags = read_u16(msg, 2)?;
    if read_u16(msg, 0)? != read_u16(query, 0)? || flags & 0x8000 == 0 {
        return Err(WireError::Mismatch);
    }
    // The query's question: its name (no compression in a query) and type, class.
    let question = query.get(12..).ok_or(WireError::Malformed)?;
    let echoed = msg.get(12..12 + question.len());
    if read_u16(msg, 4)? != 1 || !echoed.is_some_and(|e| e.eq_ignore_ascii_case(question)) {
        return Err(WireError::Mismatch);
    }
    if flags & 0x0200 != 0 {
        return Err(WireError::Truncated);
    }
    match (flags & 0x000f) as u8 {
        0 => {}
        3 => return Ok(Vec::new()), // NXDOMAIN
        rcode => return Err(WireError::Rcode(rcode)),
    }
    let questions = read_u16(msg, 4)?;
    let answers = read_u16(msg, 6)?;
    let mut at = 12;
    for _ in 0..questions {
        at = skip_name(msg, at)? + 4;
    }
    let mut out = Vec::new();
    for _ in 0..answers {
        at = skip_name(msg, at)?;
        let rtype = read_u16(msg, at)?;
        let class = read_u16(msg, at + 2)?;
        let rdlen = usize::from(read_u16(msg, at + 8)?);
        let rdata = msg
            .get(at + 10..at + 10 + rdlen)
            .ok_or(WireError::Malformed)?;
        at += 10 + rdlen;
        if rtype != TYPE_TXT || class != CLASS_IN || out.len() == MAX_TXT_RECORDS {
            continue; // e.g. a CNAME before the TXT records
        }
        let mut text = Vec::new();
        let mut i = 0;
        while i < rdata.len() {
            let len = usize::from(rdata[i]);
            let s = rdata.get(i + 1..i + 1 + len).ok_or(WireError::Malformed)?;
            text.extend_from_slice(s);
            i += 1 + len;
        }
        if text.len() <= MAX_TXT_BYTES {
            out.push(text);
        }
    }
    Ok(out)
}

#[cfg(test)]
/// A response to `encode_txt_query(id, name)` carrying `records` (one string
/// each), answers naming the question by a compression pointer (offset 12).
pub(crate) fn response(id: u16, name: &str, records: &[&str]) -> Vec<u8> {
    let mut msg = encode_txt_query(id, name).unwrap();
    msg[2] = 0x81; // QR, RD
    msg[3] = 0x80; // RA
    msg[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
    for record in records {
        msg.extend_from_slice(&[0xc0, 12]);
        msg.extend_from_slice(&TYPE_TXT.to_be_bytes());
        msg.extend_from_slice(&CLASS_IN.to_be_bytes());
        msg.extend_from_slice(&300u32.to_be_bytes());
        msg.extend_from_slice(&((record.len() + 1) as u16).to_be_bytes());
        msg.push(record.len() as u8);
        msg.extend_from_slice(record.as_bytes());
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_bytes() {
        let q = encode_txt_query(0x1234, "_dnsaddr.a.io.").unwrap();
        let expected: &[u8] = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\
            \x08_dnsaddr\x01a\x02io\x00\x00\x10\x00\x01";
        assert_eq!(q, expected);
        assert_eq!(encode_txt_query(1, "a..b"), Err(WireError::BadLabel));
        assert_eq!(
            encode_txt_query(1, &"a".repeat(64)),
            Err(WireError::BadLabel)
        );
    }

    #[test]
    fn parse_records() {
        let msg = response(7, "_dnsaddr.x.io", &["dnsaddr=/ip4/1.2.3.4/tcp/1", "other"]);
        let q = |id| encode_txt_query(id, "_dnsaddr.x.io").unwrap();
        let got = parse_txt_response(&q(7), &msg).unwrap();
        assert_eq!(
            got,
            vec![b"dnsaddr=/ip4/1.2.3.4/tcp/1".to_vec(), b"other".to_vec()]
        );
        assert_eq!(parse_txt_response(&q(8), &msg), Err(WireError::Mismatch));
        // The question must be ours: another name, or no question, is refused;
        // the name in another case (DNS 0x20) is ours.
        let other = encode_txt_query(7, "_dnsaddr.y.io").unwrap();
        assert_eq!(parse_txt_response(&other, &msg), Err(WireError::Mismatch));
        let mut none = msg.clone();
        none[5] = 0;
        assert_eq!(parse_txt_response(&q(7), &none), Err(WireError::Mismatch));
        let upper = encode_txt_query(7, "_DNSADDR.X.IO").unwrap();
        assert_eq!(parse_txt_response(&upper, &msg).unwrap().len(), 2);
    }

    #[test]
    fn nxdomain_truncated_and_errors() {
        let mut msg = response(7, "x.io", &[]);
        let q = encode_txt_query(7, "x.io").unwrap();
        msg[3] = 0x83;
        assert_eq!(parse_txt_response(&q, &msg), Ok(vec![]));
        msg[3] = 0x82;
        assert_eq!(parse_txt_response(&q, &msg), Err(WireError::Rcode(2)));
        msg[3] = 0x80;
        msg[2] = 0x83;
        assert_eq!(parse_txt_response(&q, &msg), Err(WireError::Truncated));
    }

    #[test]
    fn hostile_responses_are_refused_not_panicking() {
        let good = response(7, "_dnsaddr.x.io", &["dnsaddr=/ip4/1.2.3.4/tcp/1"]);
        let q = encode_txt_query(7, "_dnsaddr.x.io").unwrap();
        // Every truncation of a good response is either refused or parsed, never a panic.
        for len in 0..good.len() {
            let _ = parse_txt_response(&q, &good[..len]);
        }
        // A pointer to itself (a loop) and a forward pointer.
        let mut looped = good.clone();
        let answer = encode_txt_query(7, "_dnsaddr.x.io").unwrap().len();
        looped[answer] = 0xc0;
        looped[answer + 1] = answer as u8;
        assert_eq!(parse_txt_response(&q, &looped), Err(WireError::Malformed));
        // Answer count larger than the records present.
        let mut short = good.clone();
        short[7] = 9;
        assert_eq!(parse_txt_response(&q, &short), Err(WireError::Malformed));
        // Every single-byte corruption: no panic.
        for i in 0..good.len() {
            for b in [0u8, 0x3f, 0xc0, 0xff] {
                let mut m = good.clone();
                m[i] = b;
                let _ = parse_txt_response(&q, &m);
            }
        }
    }
}
