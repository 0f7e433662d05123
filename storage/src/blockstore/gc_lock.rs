//! The GC lock: adds share it, a GC takes it alone; adds are preferred, so an add
//! may nest guards (an import calling `pin add`) without deadlock.

use std::sync::{Condvar, Mutex, MutexGuard};

#[derive(Debug, Default)]
pub(super) struct GcLock {
    pub(super) state: Mutex<GcLockState>,
    pub(super) cv: Condvar,
}

#[derive(Debug, Default, Clone, Copy)]
pub(super) struct GcLockState {
    pub(super) adds: usize,
    pub(super) gc: bool,
}

impl GcLock {
    pub(super) fn state(&self) -> MutexGuard<'_, GcLockState> {
        // A panic while holding this mutex leaves plain counters behind: still valid.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn wait<'a>(&self, g: MutexGuard<'a, GcLockState>) -> MutexGuard<'a, GcLockState> {
        self.cv.wait(g).unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn lock_shared(&self) {
        let mut s = self.state();
        while s.gc {
            s = self.wait(s);
        }
        s.adds += 1;
    }

    pub(super) fn unlock_shared(&self) {
        let mut s = self.state();
        s.adds = s.adds.saturating_sub(1);
        drop(s);
        self.cv.notify_all();
    }

    pub(super) fn lock_exclusive(&self) {
        let mut s = self.state();
        while s.gc || s.adds > 0 {
            s = self.wait(s);
        }
        s.gc = true;
    }

    pub(super) fn unlock_exclusive(&self) {
        let mut s = self.state();
        s.gc = false;
        drop(s);
        self.cv.notify_all();
    }
}
