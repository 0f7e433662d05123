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
//!
//! **Tail.** Kubo's `log tail`: every line the logger writes (after the filter)
//! also goes to each subscriber ([`subscribe`]) through a queue of
//! [`TAIL_BUFFER_LINES`]. A reader that falls behind loses lines rather than
//! growing memory: when its queue is full the line is dropped and counted, and the
//! next line it gets is preceded by `… N log lines dropped (slow reader)`.
//!
//! **Limits.** At most [`MAX_TAIL_SUBSCRIBERS`] tails at once; a line is cut at
//! [`MAX_TAIL_LINE_BYTES`]. Worst case, their queues hold
//! `MAX_TAIL_SUBSCRIBERS × TAIL_BUFFER_LINES × MAX_TAIL_LINE_BYTES` = 1 MiB.
//! A tail whose reader is gone is removed at the next line it would get.

use std::io::{self, Write};
use std::sync::{Mutex, OnceLock};

use smol::channel::{self, Receiver, Sender, TrySendError};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Lines queued per `log tail` reader before new lines are dropped for it.
pub const TAIL_BUFFER_LINES: usize = 64;
/// `log tail` readers at once (each holds up to a full queue).
pub const MAX_TAIL_SUBSCRIBERS: usize = 4;
/// Longest log line a tail gets, in bytes; longer ones are cut (stderr gets it all).
pub const MAX_TAIL_LINE_BYTES: usize = 4096;

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

type Reload = Box<dyn Fn(EnvFilter) -> Result<(), LogError> + Send + Sync>;

/// Why a log command failed (Kubo's messages).
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("unrecognized level: {0:?} (one of debug, info, warn, error, dpanic, panic, fatal)")]
    UnknownLevel(String),
    #[error("No such logger: {0:?} (see `acorn log ls`)")]
    UnknownSubsystem(String),
    #[error("log levels cannot be changed in this process")]
    NotInstalled,
    #[error("log filter {spec:?}: {reason}")]
    BadFilter { spec: String, reason: String },
    /// The logger refused the new filter.
    #[error("{0}")]
    Reload(String),
    #[error("too many log tails: at most {MAX_TAIL_SUBSCRIBERS} at once")]
    TooManyTails,
}

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
pub fn set_level(subsystem: &str, level: &str) -> Result<String, LogError> {
    let lower = level.to_ascii_lowercase();
    let Some(&(_, to)) = LEVELS.iter().find(|(k, _)| *k == lower) else {
        return Err(LogError::UnknownLevel(level.to_string()));
    };
    let all = subsystem == "all" || subsystem == "*";
    if !all && !SUBSYSTEMS.contains(&subsystem) {
        return Err(LogError::UnknownSubsystem(subsystem.to_string()));
    }
    let state = STATE.get().ok_or(LogError::NotInstalled)?;
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
    let filter = EnvFilter::try_new(&spec).map_err(|e| LogError::BadFilter {
        spec: spec.clone(),
        reason: e.to_string(),
    })?;
    (s.reload)(filter)?;
    s.base = base;
    s.levels = levels;
    let shown = if all { "*" } else { subsystem };
    Ok(format!("Changed log level of '{shown}' to '{level}'\n"))
}

/// One `log tail` reader: its queue and the lines it lost since its last one.
struct Tail {
    tx: Sender<Vec<u8>>,
    dropped: u64,
}

static TAILS: Mutex<Vec<Tail>> = Mutex::new(Vec::new());

/// A new `log tail`: the lines logged from now on, as they are written (each
/// ending in `\n`). Fails when [`MAX_TAIL_SUBSCRIBERS`] tails are open.
pub fn subscribe() -> Result<Receiver<Vec<u8>>, LogError> {
    let mut tails = TAILS.lock().unwrap_or_else(|e| e.into_inner());
    tails.retain(|t| !t.tx.is_closed());
    if tails.len() >= MAX_TAIL_SUBSCRIBERS {
        return Err(LogError::TooManyTails);
    }
    let (tx, rx) = channel::bounded(TAIL_BUFFER_LINES);
    tails.push(Tail { tx, dropped: 0 });
    Ok(rx)
}

/// Gives `line` to every tail: dropped (and counted) for one whose queue is full.
fn publish(line: &[u8]) {
    let mut tails = TAILS.lock().unwrap_or_else(|e| e.into_inner());
    if tails.is_empty() {
        return;
    }
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let mut line = line[..line.len().min(MAX_TAIL_LINE_BYTES - 1)].to_vec();
    line.push(b'\n');
    tails.retain_mut(|t| {
        if t.dropped > 0 {
            let note = format!("… {} log lines dropped (slow reader)\n", t.dropped);
            match t.tx.try_send(note.into_bytes()) {
                Ok(()) => t.dropped = 0,
                Err(TrySendError::Full(_)) => {
                    t.dropped += 1;
                    return true;
                }
                Err(TrySendError::Closed(_)) => return false,
            }
        }
        match t.tx.try_send(line.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                t.dropped += 1;
                true
            }
            Err(TrySendError::Closed(_)) => false,
        }
    });
}

/// The logger's writer: each event to stderr, and to the tails ([`subscribe`]).
pub struct TeeStderr;

impl<'a> MakeWriter<'a> for TeeStderr {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> EventWriter {
        EventWriter(Vec::new())
    }
}

/// One event's bytes, written out when the event is done (dropped).
pub struct EventWriter(Vec<u8>);

impl Write for EventWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let _ = io::stderr().write_all(&self.0);
        publish(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that does not read keeps at most its queue; the lines past it are
    /// dropped and counted, and the count comes before its next line.
    #[test]
    fn a_slow_tail_drops_lines_and_says_how_many() {
        let rx = subscribe().unwrap();
        let n = TAIL_BUFFER_LINES + 10;
        for i in 0..n {
            publish(format!("line {i}").as_bytes());
        }
        assert_eq!(rx.len(), TAIL_BUFFER_LINES);
        let got: Vec<Vec<u8>> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(got[0], b"line 0\n");
        assert_eq!(
            got[TAIL_BUFFER_LINES - 1],
            format!("line {}\n", TAIL_BUFFER_LINES - 1).into_bytes()
        );
        publish(b"after");
        assert_eq!(
            rx.try_recv().unwrap(),
            b"\xe2\x80\xa6 10 log lines dropped (slow reader)\n"
        );
        assert_eq!(rx.try_recv().unwrap(), b"after\n");
        // Long lines are cut; a closed tail is removed, making room for others.
        publish(&[b'x'; MAX_TAIL_LINE_BYTES * 2]);
        assert_eq!(rx.try_recv().unwrap().len(), MAX_TAIL_LINE_BYTES);
        drop(rx);
        let open: Vec<_> = (0..MAX_TAIL_SUBSCRIBERS)
            .map(|_| subscribe().unwrap())
            .collect();
        assert!(matches!(subscribe().unwrap_err(), LogError::TooManyTails));
        drop(open);
        assert!(subscribe().is_ok());
    }

    #[test]
    fn bad_level_and_subsystem_are_refused() {
        assert!(set_level("acorn", "loud")
            .unwrap_err()
            .to_string()
            .starts_with("unrecognized level: \"loud\""));
        assert!(set_level("nope", "debug")
            .unwrap_err()
            .to_string()
            .starts_with("No such logger: \"nope\""));
    }
}
