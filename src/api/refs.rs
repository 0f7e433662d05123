//! Kubo's `refs` options beyond `recursive`/`unique`: `edges` (`e`), `format`,
//! `max-depth` (an integer, `-1` for no limit). Each line of the answer is
//! `{"Ref": <the formatted line>, "Err": ""}`, as Kubo writes it.

use super::{ApiError, Query};
use crate::core_api::content::RefsOptions;

/// The options of a `refs` request.
pub(super) fn refs_options(
    q: &Query<'_>,
    recursive: bool,
    unique: bool,
) -> Result<RefsOptions, ApiError> {
    let edges = q.bool(&["edges", "e"])?.unwrap_or(false);
    let format = q.get(&["format"]).map(str::to_string);
    let max_depth = q
        .get(&["max-depth"])
        .map(|v| {
            v.parse::<i64>().map_err(|_| {
                ApiError::Client(format!(
                    "option \"max-depth\": expected an integer, got {v:?}"
                ))
            })
        })
        .transpose()?;
    RefsOptions::new(recursive, unique, edges, format, max_depth)
        .map_err(|e| ApiError::Client(e.to_string()))
}
