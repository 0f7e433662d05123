//! Request parameters in Kubo's dialect ([`Query`]: positional `arg`s, options
//! converted as Kubo's Go parser does, `timeout=`, `enc`) and the small helpers
//! every handler shares: JSON answers, multipart bodies, running a core call on a
//! pool.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::{args, ApiError};
use crate::core_api::content::EntryKind;
use crate::core_api::parse_cid_arg;
use crate::core_api::Local;
use crate::http::multipart::{self, Multipart};
use crate::http::{BodyReader, Request, Response};
use crate::pool::Pool;

/// The answers' only encoding; Kubo's `enc`/`encoding` option may name it.
pub(super) const ENCODING_JSON: &str = "json";

/// Refuses an encoding other than JSON (Kubo also has `text` and `xml` for some
/// commands; Acorn answers every command in one shape).
pub(super) fn check_encoding(q: &Query<'_>) -> Result<(), ApiError> {
    match q.get(&["encoding", "enc"]) {
        None => Ok(()),
        Some(e) if e == ENCODING_JSON => Ok(()),
        Some(e) => Err(ApiError::Client(format!(
            "invalid encoding: {e:?} (Acorn's API answers {ENCODING_JSON} only)"
        ))),
    }
}

pub(super) trait WithStatus {
    fn with_status(self, status: u16) -> Self;
}

impl WithStatus for Response {
    fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
}

/// Kubo's UnixFS type codes as `ls` reports them (Directory 1, File 2, Symlink 4).
pub(super) fn unixfs_type_code(k: EntryKind) -> u8 {
    match k {
        EntryKind::Directory => 1,
        EntryKind::File | EntryKind::Raw => 2,
        EntryKind::Symlink => 4,
        EntryKind::Other => 0,
    }
}

/// Runs `f` with `core` on `pool`.
pub(super) async fn on_pool<T: Send + 'static>(
    pool: &Pool,
    core: Arc<Local>,
    f: impl FnOnce(&Local) -> crate::core_api::error::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    match pool.run(move || f(&core)).await {
        Some(r) => Ok(r?),
        None => Err(ApiError::Server(
            "internal error: the command panicked".into(),
        )),
    }
}

pub(super) fn json_response(v: &Value) -> Response {
    Response::full(200, "application/json", format!("{v}\n"))
}

pub(super) fn json_line(w: &mut dyn Write, v: &Value) -> io::Result<()> {
    w.write_all(format!("{v}\n").as_bytes())?;
    w.flush()
}

pub(super) fn one_cid(q: &Query<'_>) -> Result<cid::Cid, ApiError> {
    let args = q.required_args("cid")?;
    parse_cid_arg(&args[0]).map_err(|e| ApiError::Client(format!("{e:#}")))
}

/// The request's multipart body, read on the blocking pool.
pub(super) fn multipart_body(req: &Request) -> Result<Multipart<BodyReader>, ApiError> {
    let ct = req.header("content-type").unwrap_or("");
    let boundary = multipart::boundary(ct).ok_or_else(|| {
        ApiError::Client("request body must be multipart/form-data with a boundary".into())
    })?;
    Multipart::new(BodyReader::new(req.body.clone()), &boundary)
        .map_err(|e| ApiError::Client(e.to_string()))
}

/// Kubo-style query parameters.
pub(super) struct Query<'a>(pub(super) &'a [(String, String)]);

impl Query<'_> {
    pub(super) fn args(&self) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == "arg")
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub(super) fn required_args(&self, name: &str) -> Result<Vec<String>, ApiError> {
        let a = self.args();
        if a.is_empty() {
            return Err(ApiError::Client(format!("argument \"{name}\" is required")));
        }
        Ok(a)
    }

    pub(super) fn get(&self, names: &[&str]) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| names.contains(&k.as_str()))
            .map(|(_, v)| v.as_str())
    }

    /// A boolean option, as Kubo reads it ([`args::parse_bool`]).
    pub(super) fn bool(&self, names: &[&str]) -> Result<Option<bool>, ApiError> {
        self.convert(names, "bool", args::parse_bool)
    }

    /// A Go `int` option (32 bits on the boards Kubo ships for, and in its parser).
    pub(super) fn int(&self, names: &[&str]) -> Result<Option<i64>, ApiError> {
        self.convert(names, "int", |v| args::parse_int(v, 32))
    }

    /// A Go `int64` option.
    pub(super) fn int64(&self, names: &[&str]) -> Result<Option<i64>, ApiError> {
        self.convert(names, "int64", |v| args::parse_int(v, 64))
    }

    pub(super) fn convert<T>(
        &self,
        names: &[&str],
        kind: &'static str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, ApiError> {
        let Some(v) = self.get(names) else {
            return Ok(None);
        };
        match parse(v) {
            Some(x) => Ok(Some(x)),
            None => Err(ApiError::Client(
                args::BadValue {
                    option: names[0].to_string(),
                    kind,
                    value: v.to_string(),
                }
                .to_string(),
            )),
        }
    }

    /// A non-negative Go `int64` option (`offset`, `length`): Kubo's message for a
    /// negative one.
    pub(super) fn non_negative(&self, names: &[&str]) -> Result<Option<u64>, ApiError> {
        match self.int64(names)? {
            Some(n) if n < 0 => Err(ApiError::Client(format!(
                "cannot specify negative {}",
                names[0]
            ))),
            n => Ok(n.map(|n| n as u64)),
        }
    }
}

/// Kubo's `timeout=` (any command): a Go duration (`30s`, `1m30s`, `500ms`) after
/// which the request fails with `context deadline exceeded`; `0` or none: no limit.
pub(super) fn timeout_arg(req: &Request) -> Result<Option<Duration>, ApiError> {
    match Query(&req.query).get(&["timeout"]) {
        None => Ok(None),
        Some(v) => match crate::config::parse_duration(v) {
            Ok(d) if d.is_zero() => Ok(None),
            Ok(d) => Ok(Some(d)),
            Err(_) => Err(ApiError::Client(format!("time: invalid duration \"{v}\""))),
        },
    }
}
