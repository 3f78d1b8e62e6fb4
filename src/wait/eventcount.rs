//! An eventcount on one futex word: the low byte counts sleepers, the rest
//! is an epoch. A publisher makes a syscall only when the sleeper count is
//! non-zero; a sleeper announces itself, re-checks its condition, then
//! sleeps on the word it saw, so a publish between its check and its sleep
//! changes the word (the epoch) and the kernel refuses to put it to sleep.

use std::time::Duration;

use super::{Counters, barrier, futex};
use crate::sync::{AtomicU32, Ordering};

/// Low bits: sleepers. At most 255 can sleep on one word (an SPSC direction
/// has one; MPMC participants are limited well below that).
const SLEEPERS: u32 = 0xff;
/// One epoch step.
const EPOCH: u32 = 0x100;

/// A view of an eventcount word in a segment.
#[derive(Clone, Copy)]
pub(crate) struct EventCount<'a> {
    word: &'a AtomicU32,
}

impl<'a> EventCount<'a> {
    pub(crate) fn new(word: &'a AtomicU32) -> Self {
        Self { word }
    }

    /// Publisher side, after the Release store that published: wakes the
    /// sleepers, if any. One fence (light when registered) and one load.
    #[inline(always)]
    pub(crate) fn notify(self, light: bool, counters: &Counters) {
        // SYNC: eventcount-dekker (publisher: store, fence, load)
        barrier::publisher(light);
        if self.word.load(Ordering::Relaxed) & SLEEPERS != 0 {
            self.wake_all(counters);
        }
    }

    /// Moves the epoch and wakes every sleeper, whatever the count says
    /// (used on disconnect, where a missed sleeper would sleep a whole tick).
    #[cold]
    pub(crate) fn wake_all(self, counters: &Counters) {
        // SYNC: eventcount-epoch (Release: whatever the waker did before,
        // e.g. marking itself detached, is visible to a sleeper whose
        // announce reads this epoch; without it that sleeper could re-check,
        // miss the change and sleep on a word nobody will move again)
        self.word.fetch_add(EPOCH, Ordering::Release);
        futex::wake(self.word, i32::MAX);
        counters.wake_syscalls.fetch_add(1, Ordering::Relaxed);
    }

    /// Sleeper side, step 1: announce. Returns the word to sleep on.
    pub(crate) fn prepare(self) -> u32 {
        // SYNC: eventcount-epoch (Acquire: pairs with wake_all's Release)
        let seen = self.word.fetch_add(1, Ordering::Acquire).wrapping_add(1);
        // SYNC: eventcount-dekker (sleeper: store, heavy fence, load)
        barrier::sleeper();
        seen
    }

    /// Sleeper side, step 2 (after re-checking): sleep unless the word moved.
    /// Returns whether it moved (woken, or changed before we slept).
    pub(crate) fn sleep(self, seen: u32, timeout: Option<Duration>, counters: &Counters) -> bool {
        counters.wait_syscalls.fetch_add(1, Ordering::Relaxed);
        futex::wait(self.word, seen, timeout);
        // Acquire: as `prepare` (SYNC: eventcount-epoch), for a waker that
        // moved the epoch while we slept.
        self.word.load(Ordering::Acquire) != seen
    }

    /// Sleeper side, last step: withdraw the announcement.
    pub(crate) fn cancel(self) {
        self.word.fetch_sub(1, Ordering::Relaxed);
    }

    /// Clears sleepers left by a dead endpoint (called by its replacement,
    /// the only endpoint that may sleep on this word).
    pub(crate) fn clear_sleepers(self) {
        let mut current = self.word.load(Ordering::Relaxed);
        while let Err(seen) = self.word.compare_exchange(
            current,
            current & !SLEEPERS,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            current = seen;
        }
    }
}
