//! Kubo's `log/ls` and `log/level?arg=<subsystem>&arg=<level>`: the daemon's
//! log subsystems and changing their level at run time ([`crate::logs`]).

use serde_json::json;

use super::{json_response, ApiError, ApiResult, Query};

pub(super) fn log_ls() -> ApiResult {
    Ok(json_response(
        &json!({ "Strings": crate::logs::SUBSYSTEMS }),
    ))
}

pub(super) fn log_level(req: &super::Request) -> ApiResult {
    let args = Query(&req.query).args();
    let [subsystem, level] = args.as_slice() else {
        return Err(ApiError::Client(
            "log level takes two arguments: <subsystem> <level>".into(),
        ));
    };
    let msg = crate::logs::set_level(subsystem, level).map_err(ApiError::Client)?;
    Ok(json_response(&json!({ "Message": msg })))
}
