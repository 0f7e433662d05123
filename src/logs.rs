//! Log levels changed at run time: Kubo's `log ls` and `log level`.
//!
//! **What.** The daemon's logger (tracing's `fmt` subscriber) filters through a
//! reloadable `EnvFilter`. [`install`] keeps its handle and the filter it started
//! with (`ACORN_LOG`, `RUST_LOG` or the default); [`set_level`] adds or replaces one
//! `target=level` directive and reloads; `all` or `*` sets every subsystem (the
//! filter becomes just that level).
//!
//! **Spec.** Kubo's `ipfs log ls` (`{"Strings": [...]}`) and
//! `ipfs log level <subsystem> <level>` (`{"Message": "Changed log level of '<s>'
//! to '<l>'\n"}`), levels `debug info warn error dpanic panic fatal`.
//!
//! **Departures.** The subsystems are tracing targets (crate or module paths, a
//! fixed list: [`SUBSYSTEMS`]), not go-log names. `dpanic`, `panic` and `fatal`
//! map to tracing's `error` (tracing has no higher level). A target also covers
//! the targets it prefixes (`acorn` covers `acorn::api`), as in `ACORN_LOG`.
//! Changes last until the daemon stops.

use std::sync::{Mutex, OnceLock};

use tracing_subscriber::EnvFilter;

/// The subsystems `log level` accepts (tracing targets Acorn logs under).
pub const SUBSYSTEMS: &[&str] = &[
    "acorn",
    "acorn::api",
    "acorn::core",
    "acorn::daemon",
    "acorn::fetch",
    "acorn::gateway",
    "acorn_net",
    "acorn_storage",
    "libp2p_bitswap",
    "libp2p_kad",
    "libp2p_swarm",
    "libp2p_tcp",
];

/// Kubo's levels, each with the tracing level it maps to.
pub const LEVELS: &[(&str, &str)] = &[
    ("debug", "debug"),
    ("info", "info"),
    ("warn", "warn"),
    ("error", "error"),
    ("dpanic", "error"),
    ("panic", "error"),
    ("fatal", "error"),
];

type Reload = Box<dyn Fn(EnvFilter) -> Result<(), String> + Send + Sync>;

struct State {
    /// The directives the logger started with, or the level `all` set.
    base: String,
    /// Per-subsystem levels set since, in the order set.
    levels: Vec<(String, &'static str)>,
    reload: Reload,
}

static STATE: OnceLock<Mutex<State>> = OnceLock::new();

/// Keeps the logger's reload handle and its starting filter `base`.
pub fn install(base: String, reload: Reload) {
    let _ = STATE.set(Mutex::new(State {
        base,
        levels: Vec::new(),
        reload,
    }));
}

/// Sets `subsystem` (or every one, for `all` / `*`) to Kubo level `level`;
/// returns Kubo's message.
pub fn set_level(subsystem: &str, level: &str) -> Result<String, String> {
    let lower = level.to_ascii_lowercase();
    let Some(&(_, to)) = LEVELS.iter().find(|(k, _)| *k == lower) else {
        return Err(format!(
            "unrecognized level: {level:?} (one of debug, info, warn, error, dpanic, panic, fatal)"
        ));
    };
    let all = subsystem == "all" || subsystem == "*";
    if !all && !SUBSYSTEMS.contains(&subsystem) {
        return Err(format!(
            "No such logger: {subsystem:?} (see `acorn log ls`)"
        ));
    }
    let state = STATE
        .get()
        .ok_or_else(|| "log levels cannot be changed in this process".to_string())?;
    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    let (base, levels) = if all {
        (to.to_string(), Vec::new())
    } else {
        let mut l = s.levels.clone();
        l.retain(|(k, _)| k != subsystem);
        l.push((subsystem.to_string(), to));
        (s.base.clone(), l)
    };
    let mut spec = base.clone();
    for (k, v) in &levels {
        spec.push_str(&format!(",{k}={v}"));
    }
    let filter = EnvFilter::try_new(&spec).map_err(|e| format!("log filter {spec:?}: {e}"))?;
    (s.reload)(filter)?;
    s.base = base;
    s.levels = levels;
    let shown = if all { "*" } else { subsystem };
    Ok(format!("Changed log level of '{shown}' to '{level}'\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_level_and_subsystem_are_refused() {
        assert!(set_level("acorn", "loud")
            .unwrap_err()
            .contains("unrecognized level"));
        assert!(set_level("nope", "debug")
            .unwrap_err()
            .contains("No such logger"));
    }
}
