//! The node's decoders (`src/`): the HTTP request head, multipart bodies, query
//! strings, the config file and the identity's private key.

use std::io::Read;

use crate::config::Config;
use crate::http::multipart::Multipart;
use crate::http::{self, parse_query};

use super::pieces;

/// Request heads as the RPC API and the gateway read them off a connection.
pub fn http_request(data: &[u8]) {
    http::fuzz_request(data);
}

/// Multipart bodies (`add`, `dag import`, `config replace`). An input whose first
/// byte is even is a raw body (boundary `fuzzboundary`): reading every part ends,
/// with no more bytes out than in. Otherwise its pieces are file contents: they
/// go into a well-formed body, which must read back part for part.
pub fn multipart(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let Ok(mut body) = Multipart::new(rest, "fuzzboundary") else {
            return;
        };
        let mut total = 0;
        while let Ok(Some(_)) = body.next_part() {
            let mut out = Vec::new();
            if body.read_to_end(&mut out).is_err() {
                return;
            }
            total += out.len();
            assert!(total <= rest.len());
        }
        return;
    }
    let files = pieces(rest);
    let mut boundary = String::from("acorn");
    while files
        .iter()
        .any(|f| f.windows(boundary.len()).any(|w| w == boundary.as_bytes()))
    {
        boundary.push('x');
    }
    let mut body = Vec::new();
    for (i, f) in files.iter().enumerate() {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f{i}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
        body.extend_from_slice(f);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let mut reader = Multipart::new(&body[..], &boundary).expect("boundary is short");
    for (i, f) in files.iter().enumerate() {
        let part = reader
            .next_part()
            .expect("a well-formed body reads")
            .expect("every part is read");
        assert_eq!(part.filename.as_deref(), Some(format!("f{i}").as_str()));
        let mut out = Vec::new();
        reader.read_to_end(&mut out).expect("a part's bytes read");
        assert_eq!(&out[..], *f);
    }
    assert!(reader.next_part().expect("the end reads").is_none());
}

/// Query strings: every pair decoded came from the input, so their total length
/// is at most the input's.
pub fn query(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(pairs) = parse_query(s) {
        let total: usize = pairs.iter().map(|(k, v)| k.len() + v.len()).sum();
        assert!(total <= s.len());
    }
}

/// Config files (`config replace`, a repo's `config`): a config that parses
/// writes back to JSON that parses to a config that writes the same JSON; its
/// checks end with a value or an error.
pub fn config(data: &[u8]) {
    let Ok(c) = Config::from_json(data) else {
        return;
    };
    let _ = c.validate();
    let json = c.to_json();
    let again = Config::from_json(&json).expect("a written config parses");
    assert_eq!(again.to_json(), json);
}

/// The identity's private key (the protobuf inside the config's `PrivKey`).
pub fn identity(data: &[u8]) {
    crate::identity::fuzz_private_key(data);
}
