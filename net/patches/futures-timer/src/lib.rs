//! `futures-timer` 3.0.3's API (`Delay::new`, `Delay::reset`, `Future<Output = ()>`)
//! implemented on `async_io::Timer`.
//!
//! **Why.** The real crate runs every timer on a global helper thread
//! ("futures-timer"), started on first use. libp2p (swarm, identify, kad, the
//! transport timeout, futures-bounded) uses it, which would add a thread to Acorn's
//! one-thread node. async-io's reactor thread runs anyway (it drives our sockets), and
//! it already keeps timers: this crate moves libp2p's timers there. The workspace
//! points `[patch.crates-io] futures-timer` at this folder.
//!
//! **Behaviour kept.** A `Delay` is `Send`, `Sync` and `Unpin`; once it has fired it
//! stays ready (polling again yields `Ready(())`, as the original does, whereas an
//! `async_io::Timer` would stay pending); `reset` re-arms it. A duration too large to
//! add to `Instant::now()` never fires. Departure: the original's wasm backend is not
//! provided (Acorn does not build for wasm).
#![deny(unsafe_code)]

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use async_io::Timer;

/// A future that completes once, `dur` after it was created or last reset.
pub struct Delay {
    timer: Timer,
    fired: bool,
}

impl Delay {
    /// A delay firing `dur` from now.
    pub fn new(dur: Duration) -> Delay {
        Delay {
            timer: Timer::after(dur),
            fired: false,
        }
    }

    /// Re-arms the delay to fire `dur` from now, whether or not it has fired.
    pub fn reset(&mut self, dur: Duration) {
        self.timer.set_after(dur);
        self.fired = false;
    }
}

impl Future for Delay {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.fired {
            return Poll::Ready(());
        }
        match Pin::new(&mut self.timer).poll(cx) {
            Poll::Ready(_) => {
                self.fired = true;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl fmt::Debug for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delay").field("fired", &self.fired).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn assert_traits<T: Send + Sync + Unpin + fmt::Debug + 'static>() {}

    #[test]
    fn fires_after_the_duration_and_stays_ready() {
        assert_traits::<Delay>();
        async_io::block_on(async {
            let start = Instant::now();
            let mut delay = Delay::new(Duration::from_millis(30));
            (&mut delay).await;
            assert!(start.elapsed() >= Duration::from_millis(30));
            // Polled again after firing: still ready, as in futures-timer.
            assert!(futures::poll!(&mut delay).is_ready());
        });
    }

    #[test]
    fn reset_rearms() {
        async_io::block_on(async {
            let mut delay = Delay::new(Duration::from_millis(1));
            (&mut delay).await;
            delay.reset(Duration::from_millis(40));
            assert!(futures::poll!(&mut delay).is_pending());
            let start = Instant::now();
            (&mut delay).await;
            assert!(start.elapsed() >= Duration::from_millis(30));
        });
    }

    #[test]
    fn reset_before_firing_postpones() {
        async_io::block_on(async {
            let start = Instant::now();
            let mut delay = Delay::new(Duration::from_millis(10));
            delay.reset(Duration::from_millis(60));
            (&mut delay).await;
            assert!(start.elapsed() >= Duration::from_millis(60));
        });
    }

    #[test]
    fn huge_duration_never_fires() {
        async_io::block_on(async {
            let mut delay = Delay::new(Duration::MAX);
            assert!(futures::poll!(&mut delay).is_pending());
        });
    }
}
