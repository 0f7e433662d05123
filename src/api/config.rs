//! `config` and `config/show`: Kubo's config commands over the RPC API.
//!
//! **What.** `config?arg=KEY` reads one value from the config file, `config?arg=KEY&
//! arg=VALUE` sets it (with `json=true` VALUE is JSON, with `bool=true` `true` or
//! `false`, else a string) and writes the file as `acorn config` does (both call
//! [`crate::config::set_in_repo`] through the core); both answer `{"Key","Value"}`.
//! `config/show` answers the whole config without `Identity.PrivKey`.
//! `config/replace` takes a whole config as the first part of a multipart body
//! (Kubo's `file` argument), keeps the repo's private key and answers an empty
//! 200 (see [`crate::config::replace_in_repo`]).
//!
//! **Spec.** Kubo `core/commands/config.go`. `Identity` and `Identity.PrivKey` are
//! refused ("cannot show or change the private key"), as Kubo.
//!
//! **Departures.** Only the keys Acorn knows can be read or set (see
//! [`crate::config`]); the running daemon keeps the values it started with until
//! it restarts (Kubo applies a few at once). A `bool` VALUE other than
//! `true`/`false` is an error (Kubo reads it as false). `config/edit`
//! (local only in Kubo too) and `config/profile/apply` are not served.

use std::io::Read as _;

use serde_json::json;

use super::{json_response, Api, ApiError, ApiResult, Query};
use crate::core_api::error::ensure;
use crate::core_api::Settings as _;
use crate::http::Request;

impl Api {
    /// `config KEY [VALUE]`.
    pub(super) async fn config(&self, req: Request) -> ApiResult {
        let q = Query(&req.query);
        let mut args = q.required_args("key")?.into_iter();
        let (Some(key), value, None) = (args.next(), args.next(), args.next()) else {
            return Err(ApiError::Client(
                "expected 1 or 2 arguments: key [value]".into(),
            ));
        };
        let json = q.bool(&["json"])?.unwrap_or(false);
        let boolean = q.bool(&["bool"])?.unwrap_or(false);
        let value = match value {
            Some(text) => Some(
                crate::config::parse_value(&text, json, boolean)
                    .map_err(|e| ApiError::Client(e.to_string()))?,
            ),
            None => None,
        };
        let k = key.clone();
        let stored = self
            .on_core(move |c| match value {
                Some(v) => Ok(c.config_set(&k, v)?),
                None => Ok(c.config_get(&k)?),
            })
            .await?;
        Ok(json_response(&json!({"Key": key, "Value": stored})))
    }

    /// `config/replace`: the first part of the multipart body is the new config.
    pub(super) async fn config_replace(&self, req: Request) -> ApiResult {
        let mut parts = super::multipart_body(&req)?;
        self.on_core(move |c| {
            ensure!(
                parts.next_part()?.is_some(),
                "argument \"file\" is required"
            );
            let limit = crate::config::MAX_CONFIG_BYTES;
            let mut data = Vec::new();
            (&mut parts).take(limit + 1).read_to_end(&mut data)?;
            ensure!(
                data.len() as u64 <= limit,
                TooLarge,
                "the new config is over the {limit}-byte limit"
            );
            c.config_replace(&data)
        })
        .await?;
        Ok(crate::http::Response::full(200, "text/plain", ""))
    }

    /// `config/show`.
    pub(super) async fn config_show(&self) -> ApiResult {
        Ok(json_response(&self.on_core(|c| c.config_show()).await?))
    }
}
