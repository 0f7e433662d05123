//! The CLI's progress bar for `add` and `get` of large data, on stderr (as Kubo's).
//!
//! **What.** [`Bar`] draws `<done> / <total> [=====>    ] <pct>%` (or `<done>` when
//! the total is unknown) on one stderr line, redrawn at most every
//! [`REDRAW_INTERVAL`], and ends the line when finished. It is on only when stderr
//! is a terminal and `--progress=false` was not given; otherwise it writes nothing,
//! so pipes and logs never see bar bytes.
//!
//! **Limits.** One line of at most [`BAR_COLUMNS`] bar cells plus the figures.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Least time between two redraws.
pub const REDRAW_INTERVAL: Duration = Duration::from_millis(100);
/// Cells of the bar itself.
pub const BAR_COLUMNS: usize = 30;

/// A progress bar (or nothing, when off).
pub struct Bar {
    out: Option<Box<dyn Write>>,
    total: Option<u64>,
    done: u64,
    last: Option<Instant>,
}

impl Bar {
    /// On stderr when `flag` is not `Some(false)` and stderr is a terminal.
    pub fn stderr(flag: Option<bool>, total: Option<u64>) -> Bar {
        let on = flag != Some(false) && std::io::stderr().is_terminal();
        Bar::to(
            on.then(|| Box::new(std::io::stderr()) as Box<dyn Write>),
            total,
        )
    }

    /// On `out` (`None`: off).
    pub fn to(out: Option<Box<dyn Write>>, total: Option<u64>) -> Bar {
        Bar {
            out,
            total: total.filter(|t| *t > 0),
            done: 0,
            last: None,
        }
    }

    /// Sets the total, once known (0: unknown).
    pub fn set_total(&mut self, total: u64) {
        self.total = Some(total).filter(|t| *t > 0);
    }

    /// Whether it draws anything.
    pub fn is_on(&self) -> bool {
        self.out.is_some()
    }

    /// Sets the bytes done so far.
    pub fn set(&mut self, done: u64) {
        self.done = done;
        let now = Instant::now();
        if self
            .last
            .is_none_or(|t| now.duration_since(t) >= REDRAW_INTERVAL)
        {
            self.last = Some(now);
            self.draw();
        }
    }

    /// Adds `n` bytes done.
    pub fn add(&mut self, n: u64) {
        self.set(self.done.saturating_add(n));
    }

    /// Draws the last state and ends the line.
    pub fn finish(&mut self) {
        if self.out.is_some() {
            self.draw();
            if let Some(o) = self.out.as_mut() {
                let _ = o.write_all(b"\n").and_then(|()| o.flush());
            }
        }
    }

    fn draw(&mut self) {
        let line = render(self.done, self.total);
        if let Some(o) = self.out.as_mut() {
            // A failed write to stderr must not fail the command.
            let _ = write!(o, "\r{line}\x1b[K").and_then(|()| o.flush());
        }
    }
}

/// One bar line (no control characters).
pub fn render(done: u64, total: Option<u64>) -> String {
    match total {
        None => human(done),
        Some(t) => {
            let done = done.min(t);
            let filled = (done as u128 * BAR_COLUMNS as u128 / t as u128) as usize;
            let mut bar = "=".repeat(filled);
            if filled < BAR_COLUMNS {
                bar.push('>');
                bar.push_str(&" ".repeat(BAR_COLUMNS - filled - 1));
            }
            let pct = done as f64 * 100.0 / t as f64;
            format!("{} / {} [{bar}] {pct:6.2}%", human(done), human(t))
        }
    }
}

/// Bytes in binary units with two decimals (`1.50 MiB`).
fn human(n: u64) -> String {
    super::repo::binary_units(n, 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn renders_known_and_unknown_totals() {
        assert_eq!(
            render(512 * 1024, Some(1024 * 1024)),
            format!(
                "512.00 KiB / 1.00 MiB [{}>{}]  50.00%",
                "=".repeat(15),
                " ".repeat(14)
            )
        );
        assert_eq!(
            render(2 << 20, Some(1 << 20)),
            format!("1.00 MiB / 1.00 MiB [{}] 100.00%", "=".repeat(30))
        );
        assert_eq!(render(1536, None), "1.50 KiB");
        assert_eq!(render(7, None), "7 B");
    }

    #[test]
    fn draws_rate_limited_and_ends_the_line() {
        let out = Shared::default();
        let mut bar = Bar::to(Some(Box::new(out.clone())), Some(100));
        for _ in 0..100 {
            bar.add(1);
        }
        bar.finish();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        // The first add draws; the rest fall inside the redraw interval; finish draws.
        assert_eq!(text.matches('\r').count(), 2, "{text:?}");
        assert!(text.ends_with("100.00%\x1b[K\n"), "{text:?}");
    }

    #[test]
    fn off_writes_nothing() {
        let mut bar = Bar::to(None, Some(10));
        bar.add(5);
        bar.finish();
        assert!(!bar.is_on());
    }
}
