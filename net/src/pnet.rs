//! Private networks: Kubo's `swarm.key` file and the pre-shared key it holds.
//!
//! **What.** A node with a swarm key only talks to nodes with the same key: every
//! TCP connection is wrapped in libp2p-pnet (XSalsa20 with the 32-byte key and a
//! random nonce per direction) *before* noise, so a peer without the key cannot even
//! complete the noise handshake. The wrapping is done in [`crate::swarm`].
//!
//! **Spec.** libp2p's PSK v1 (`/key/swarm/psk/1.0.0/`,
//! <https://github.com/libp2p/specs/blob/master/pnet/Private-Networks-PSK-V1.md>) and
//! go-libp2p's key file, which Kubo reads from `$IPFS_PATH/swarm.key`:
//!
//! ```text
//! /key/swarm/psk/1.0.0/
//! /base16/
//! <64 hex digits>
//! ```
//!
//! **Flow.** [`read_swarm_key`] reads the file (absent file = no private network),
//! [`parse_swarm_key`] checks the two header lines, then decodes the key. As in
//! go-libp2p, `/base64/` (standard alphabet, padded) and `/bin/` (32 raw bytes) are
//! accepted besides `/base16/`; lines may end in `\n` or `\r\n`.
//!
//! **Limits.** A key file larger than [`MAX_KEY_FILE_BYTES`] is refused before it is
//! read whole.
//!
//! **Departures.** go-libp2p ignores whatever follows the 32 key bytes; we refuse
//! anything but whitespace there ([`KeyError::TrailingData`]), so a pasted-twice or
//! truncated key is an error instead of a silent different key. Kubo pnet applies to
//! TCP only, and so does ours (Acorn has no other transport).

use acorn_storage::util::hex;
use std::{io::Read, path::Path};

use base64ct::{Base64, Encoding};
pub use libp2p::pnet::PreSharedKey;

/// Length of the key in bytes.
pub const KEY_BYTES: usize = 32;

/// Largest swarm key file we read. A real one is 88 bytes.
pub const MAX_KEY_FILE_BYTES: u64 = 4096;

/// First line of a swarm key file.
pub const KEY_HEADER: &str = "/key/swarm/psk/1.0.0/";

/// Name of the key file in a repo, as in Kubo.
pub const KEY_FILE_NAME: &str = "swarm.key";

/// Why a swarm key could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read.
    #[error("swarm key: cannot read {path}: {source}")]
    Io {
        /// The file's path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is over the size a key file can have.
    #[error("swarm key: file is larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The first line is not the pnet header.
    #[error("swarm key: first line must be {KEY_HEADER:?}, found {found:?}")]
    BadHeader {
        /// The line found.
        found: String,
    },
    /// The file ends before a required line.
    #[error("swarm key: missing line {line} (expected the header, the encoding, then the key)")]
    Truncated {
        /// The missing line's number.
        line: usize,
    },
    /// The second line names an encoding we do not know.
    #[error(
        "swarm key: unknown encoding {found:?} (expected \"/base16/\", \"/base64/\" or \"/bin/\")"
    )]
    UnknownEncoding {
        /// The line found.
        found: String,
    },
    /// The key line has the wrong length for its encoding.
    #[error("swarm key: the {encoding} key must be {expected} characters, found {found}")]
    BadLength {
        /// `base16` or `base64`.
        encoding: &'static str,
        /// The length the encoding needs.
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// The key line has a character outside its encoding.
    #[error("swarm key: invalid {encoding} character in the key")]
    BadCharacter {
        /// `base16` or `base64`.
        encoding: &'static str,
    },
    /// Something other than whitespace follows the key.
    #[error("swarm key: unexpected data after the key")]
    TrailingData,
}

/// Reads `path` (usually `$ACORN_PATH/swarm.key`): `Ok(None)` when there is no such
/// file (a public node), the key when it parses, an error otherwise.
pub fn read_swarm_key(path: &Path) -> Result<Option<PreSharedKey>, KeyError> {
    let io_err = |source| KeyError::Io {
        path: path.display().to_string(),
        source,
    };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(KeyError::TooLarge {
            limit: MAX_KEY_FILE_BYTES,
        });
    }
    parse_swarm_key(&bytes).map(Some)
}

/// Splits off one line (without its `\n` or `\r\n`); `None` at end of input.
fn split_line(input: &[u8]) -> Option<(&[u8], &[u8])> {
    if input.is_empty() {
        return None;
    }
    let (line, rest) = match input.iter().position(|&b| b == b'\n') {
        Some(i) => (&input[..i], &input[i + 1..]),
        None => (input, &[][..]),
    };
    Some((line.strip_suffix(b"\r").unwrap_or(line), rest))
}

/// Parses the contents of a swarm key file. See the module docs for the format.
pub fn parse_swarm_key(input: &[u8]) -> Result<PreSharedKey, KeyError> {
    let (header, rest) = split_line(input).ok_or(KeyError::Truncated { line: 1 })?;
    if header != KEY_HEADER.as_bytes() {
        return Err(KeyError::BadHeader {
            found: String::from_utf8_lossy(header).chars().take(64).collect(),
        });
    }
    let (encoding, rest) = split_line(rest).ok_or(KeyError::Truncated { line: 2 })?;
    let (key, trailing) = match encoding {
        b"/bin/" => {
            if rest.len() < KEY_BYTES {
                return Err(KeyError::BadLength {
                    encoding: "binary",
                    expected: KEY_BYTES,
                    found: rest.len(),
                });
            }
            let mut key = [0u8; KEY_BYTES];
            key.copy_from_slice(&rest[..KEY_BYTES]);
            (key, &rest[KEY_BYTES..])
        }
        b"/base16/" => {
            let (line, trailing) = split_line(rest).ok_or(KeyError::Truncated { line: 3 })?;
            (decode_hex(line.trim_ascii_end())?, trailing)
        }
        b"/base64/" => {
            let (line, trailing) = split_line(rest).ok_or(KeyError::Truncated { line: 3 })?;
            (decode_base64(line.trim_ascii_end())?, trailing)
        }
        other => {
            return Err(KeyError::UnknownEncoding {
                found: String::from_utf8_lossy(other).chars().take(64).collect(),
            })
        }
    };
    if !trailing.iter().all(u8::is_ascii_whitespace) {
        return Err(KeyError::TrailingData);
    }
    Ok(PreSharedKey::new(key))
}

fn decode_hex(text: &[u8]) -> Result<[u8; KEY_BYTES], KeyError> {
    if text.len() != 2 * KEY_BYTES {
        return Err(KeyError::BadLength {
            encoding: "base16",
            expected: 2 * KEY_BYTES,
            found: text.len(),
        });
    }
    std::str::from_utf8(text)
        .ok()
        .and_then(hex::decode)
        .and_then(|bytes| <[u8; KEY_BYTES]>::try_from(bytes).ok())
        .ok_or(KeyError::BadCharacter { encoding: "base16" })
}

fn decode_base64(text: &[u8]) -> Result<[u8; KEY_BYTES], KeyError> {
    // 32 bytes = 44 characters with padding.
    const EXPECTED: usize = 44;
    if text.len() != EXPECTED {
        return Err(KeyError::BadLength {
            encoding: "base64",
            expected: EXPECTED,
            found: text.len(),
        });
    }
    let mut key = [0u8; KEY_BYTES];
    match Base64::decode(text, &mut key) {
        Ok(decoded) if decoded.len() == KEY_BYTES => Ok(key),
        _ => Err(KeyError::BadCharacter { encoding: "base64" }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "c3bc2e1b1f1d7d6a6b6f9e1c4d5a3b2c1d0e0f1a2b3c4d5e6f708192a3b4c5d6";

    fn key_bytes() -> [u8; KEY_BYTES] {
        decode_hex(HEX.as_bytes()).unwrap()
    }

    #[test]
    fn kubo_base16_file() {
        let file = format!("/key/swarm/psk/1.0.0/\n/base16/\n{HEX}\n");
        let key = parse_swarm_key(file.as_bytes()).unwrap();
        assert_eq!(key, PreSharedKey::new(key_bytes()));
        // libp2p-pnet writes the same format; both parsers agree.
        assert_eq!(key, key.to_key_file().parse::<PreSharedKey>().unwrap());
        assert_eq!(parse_swarm_key(key.to_key_file().as_bytes()).unwrap(), key);
        assert_eq!(key_bytes()[0], 0xc3);
        assert_eq!(key_bytes()[31], 0xd6);
    }

    #[test]
    fn crlf_uppercase_and_no_final_newline() {
        let file = format!(
            "/key/swarm/psk/1.0.0/\r\n/base16/\r\n{}",
            HEX.to_uppercase()
        );
        assert_eq!(
            parse_swarm_key(file.as_bytes()).unwrap(),
            PreSharedKey::new(key_bytes())
        );
    }

    #[test]
    fn base64_and_bin_encodings() {
        let b64 = Base64::encode_string(&key_bytes());
        let file = format!("/key/swarm/psk/1.0.0/\n/base64/\n{b64}\n");
        assert_eq!(
            parse_swarm_key(file.as_bytes()).unwrap(),
            PreSharedKey::new(key_bytes())
        );
        let mut bin = b"/key/swarm/psk/1.0.0/\n/bin/\n".to_vec();
        bin.extend_from_slice(&key_bytes());
        assert_eq!(
            parse_swarm_key(&bin).unwrap(),
            PreSharedKey::new(key_bytes())
        );
    }

    #[test]
    fn bad_files_give_clear_errors() {
        type Check = fn(&KeyError) -> bool;
        let cases: Vec<(String, Check)> = vec![
            (String::new(), |e| {
                matches!(e, KeyError::Truncated { line: 1 })
            }),
            ("/key/swarm/psk/1.0.0/\n".into(), |e| {
                matches!(e, KeyError::Truncated { line: 2 })
            }),
            ("/key/swarm/psk/1.0.0/\n/base16/\n".into(), |e| {
                matches!(e, KeyError::Truncated { line: 3 })
            }),
            (format!("/key/swarm/psk/2.0.0/\n/base16/\n{HEX}\n"), |e| {
                matches!(e, KeyError::BadHeader { .. })
            }),
            (format!("/base16/\n{HEX}\n"), |e| {
                matches!(e, KeyError::BadHeader { .. })
            }),
            (
                format!("/key/swarm/psk/1.0.0/\n/base32/\n{HEX}\n"),
                |e| matches!(e, KeyError::UnknownEncoding { found } if found == "/base32/"),
            ),
            (
                format!("/key/swarm/psk/1.0.0/\n/base16/\n{}\n", &HEX[..62]),
                |e| {
                    matches!(
                        e,
                        KeyError::BadLength {
                            expected: 64,
                            found: 62,
                            ..
                        }
                    )
                },
            ),
            (format!("/key/swarm/psk/1.0.0/\n/base16/\n{HEX}00\n"), |e| {
                matches!(e, KeyError::BadLength { found: 66, .. })
            }),
            (
                format!("/key/swarm/psk/1.0.0/\n/base16/\n+{}\n", &HEX[1..]),
                |e| matches!(e, KeyError::BadCharacter { .. }),
            ),
            (
                format!("/key/swarm/psk/1.0.0/\n/base16/\n{}g\n", &HEX[..63]),
                |e| matches!(e, KeyError::BadCharacter { .. }),
            ),
            (
                format!("/key/swarm/psk/1.0.0/\n/base16/\n{HEX}\n{HEX}\n"),
                |e| matches!(e, KeyError::TrailingData),
            ),
            (
                "/key/swarm/psk/1.0.0/\n/base64/\nnot base64 at all, but 44 characters long!!!\n"
                    .into(),
                |e| matches!(e, KeyError::BadCharacter { encoding: "base64" }),
            ),
            ("/key/swarm/psk/1.0.0/\n/bin/\nshort".into(), |e| {
                matches!(e, KeyError::BadLength { found: 5, .. })
            }),
        ];
        for (file, check) in cases {
            let err = parse_swarm_key(file.as_bytes()).unwrap_err();
            assert!(check(&err), "{file:?} gave {err:?}");
            assert!(err.to_string().starts_with("swarm key: "));
        }
    }

    #[test]
    fn read_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        assert!(read_swarm_key(&path).unwrap().is_none(), "absent = public");
        std::fs::write(&path, format!("/key/swarm/psk/1.0.0/\n/base16/\n{HEX}\n")).unwrap();
        assert_eq!(
            read_swarm_key(&path).unwrap(),
            Some(PreSharedKey::new(key_bytes()))
        );
        std::fs::write(&path, vec![b'a'; MAX_KEY_FILE_BYTES as usize + 1]).unwrap();
        assert!(matches!(
            read_swarm_key(&path),
            Err(KeyError::TooLarge { .. })
        ));
        assert!(matches!(
            read_swarm_key(dir.path()),
            Err(KeyError::Io { .. })
        ));
    }
}
