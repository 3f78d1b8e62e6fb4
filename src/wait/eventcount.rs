//! An eventcount on one futex word: the low byte counts sleepers, bit 8 is
//! the sticky HEAVY flag, the rest is an epoch. A publisher makes a
//! syscall only when the sleeper count is non-zero; a sleeper announces
//! itself, re-checks its condition, then sleeps on the word it saw, so a
//! publish between its check and its sleep changes the word (the epoch) and
//! the kernel refuses to put it to sleep.
//!
//! The word is shared with peers that may be hostile: every read-modify-
//! write loop here gives up after [`CAS_TRIES`] attempts and falls back to
//! something that is always safe (an unannounced sleep bounded by the
//! liveness tick, a count left raised: extra wakes).

use std::time::Duration;

use super::{Counters, barrier, futex};
use crate::sync::{AtomicU32, Ordering};

/// Low bits: sleepers. The count saturates at 255 instead of wrapping into
/// the flag and the epoch; a saturated count stays so (until a replacement
/// clears it) and means "always wake", which is safe. An honest ring has at
/// most `MAX_PARTICIPANTS - 1` (127) sleepers per word.
pub(crate) const SLEEPERS: u32 = 0xff;
/// Sticky: a sleeper on this word could not run its membarrier, so the
/// light publishers' compiler fence orders nothing; a publisher that loads
/// the word and sees this bit fences and loads again (SAFETY.md §5).
pub(crate) const HEAVY: u32 = 0x100;
/// One epoch step (the bits above HEAVY; the add wraps out of the top).
const EPOCH: u32 = 0x200;
/// Most compare-exchange attempts on a word a peer may keep rewriting.
pub(crate) const CAS_TRIES: u32 = 64;

/// What a sleeper's announcement left it with: the word to sleep on,
/// whether its count went in (and so must come out), and whether it must
/// re-check before sleeping at all.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Prepared {
    pub(crate) seen: u32,
    pub(crate) counted: bool,
    pub(crate) recheck: bool,
}

/// Where a sleeper that shares its word with others (an MPMC
/// participant) records that its count is in: `value` (nonzero, naming the
/// row's generation) in `flag` from its announcement until it withdraws.
/// Whoever finds the participant dead takes the mark (a compare-exchange
/// from `value` to 0: one winner) and with it one sleeper off the count,
/// which the dead sleeper would otherwise hold for ever. A process killed
/// between its count and its mark leaves the count raised (extra wakes,
/// never a lost one); a mark is never taken for a count that is not in.
#[derive(Clone, Copy)]
pub(crate) struct SleeperMark<'a> {
    pub(crate) flag: &'a AtomicU32,
    pub(crate) value: u32,
}

/// A view of an eventcount word in a segment.
#[derive(Clone, Copy)]
pub(crate) struct EventCount<'a> {
    word: &'a AtomicU32,
    mark: Option<SleeperMark<'a>>,
}

impl<'a> EventCount<'a> {
    pub(crate) fn new(word: &'a AtomicU32) -> Self {
        Self { word, mark: None }
    }

    /// The same word, for a sleeper that records its count in `mark`.
    pub(crate) fn marked(self, mark: Option<SleeperMark<'a>>) -> Self {
        Self { mark, ..self }
    }

    /// The word itself (the async endpoints' waiter thread sleeps on it).
    #[cfg(all(feature = "tokio", not(shmlane_loom)))]
    pub(crate) fn word(self) -> &'a AtomicU32 {
        self.word
    }

    /// Publisher side, after the Release store that published: wakes one
    /// sleeper, if any. One fence (light when registered) and one load.
    #[inline(always)]
    pub(crate) fn notify(self, light: bool, counters: &Counters) {
        // SYNC: eventcount-dekker (publisher: store, fence, load)
        barrier::publisher(light);
        let word = self.word.load(Ordering::Relaxed);
        if word & (SLEEPERS | HEAVY) != 0 {
            self.notify_slow(word, counters);
        }
    }

    #[cold]
    fn notify_slow(self, mut word: u32, counters: &Counters) {
        if word & HEAVY != 0 {
            // SYNC: eventcount-dekker (publisher, HEAVY: a sleeper on this
            // word runs no membarrier, so our light fence ordered nothing:
            // fence for real, then look again)
            barrier::publisher_heavy();
            word = self.word.load(Ordering::Relaxed);
        }
        if word & SLEEPERS != 0 {
            self.wake(1, counters);
        }
    }

    /// Moves the epoch and wakes every sleeper, whatever the count says
    /// (used on disconnect, where a missed sleeper would sleep a whole tick).
    #[cold]
    pub(crate) fn wake_all(self, counters: &Counters) {
        self.wake(i32::MAX, counters);
    }

    fn wake(self, count: i32, counters: &Counters) {
        // SYNC: eventcount-epoch (Release: whatever the waker did before,
        // e.g. publishing or marking itself detached, is visible to a
        // sleeper whose announce reads this epoch; without it that sleeper
        // could re-check, miss the change and sleep on a word nobody will
        // move again)
        self.word.fetch_add(EPOCH, Ordering::Release);
        futex::wake(self.word, count);
        counters.wake_syscalls.fetch_add(1, Ordering::Relaxed);
    }

    /// Sleeper side, step 1: announce (count + 1, saturating; HEAVY too if
    /// this process's sleepers run no membarrier), then the sleeper's
    /// barrier.
    pub(crate) fn prepare(self) -> Prepared {
        let heavy = if barrier::sleeper_barrier_works() {
            0
        } else {
            HEAVY
        };
        let mut current = self.word.load(Ordering::Relaxed);
        // Unannounced if a peer keeps rewriting the word: no publisher will
        // wake us, and the sleep is bounded by the caller's tick.
        let mut prepared = Prepared {
            seen: current,
            counted: false,
            recheck: false,
        };
        for _ in 0..CAS_TRIES {
            let counted = current & SLEEPERS != SLEEPERS;
            let next = (current + u32::from(counted)) | heavy;
            // SYNC: eventcount-epoch (Acquire: pairs with wake's Release)
            match self
                .word
                .compare_exchange(current, next, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => {
                    prepared = Prepared {
                        seen: next,
                        counted,
                        recheck: false,
                    };
                    if let (true, Some(mark)) = (counted, self.mark) {
                        mark.flag.store(mark.value, Ordering::Relaxed);
                    }
                    break;
                }
                Err(seen) => current = seen,
            }
        }
        // SYNC: eventcount-dekker (sleeper: store, heavy fence, load)
        if !barrier::sleeper() && prepared.seen & HEAVY == 0 {
            // The membarrier failed just now (it worked when this process
            // last looked): mark the word, and re-check once more before
            // sleeping, by which time a publisher that raced the mark has
            // its index visible (SAFETY.md §5, "membarrier fails").
            self.mark_heavy();
            prepared.recheck = true;
        }
        prepared
    }

    /// Sets the sticky HEAVY bit (bounded; a word a peer keeps rewriting
    /// stays as it is, and the liveness tick bounds the cost).
    pub(crate) fn mark_heavy(self) {
        self.update(|word| (word & HEAVY == 0).then_some(word | HEAVY));
    }

    /// Before an endpoint first sleeps on this word: mark it HEAVY if this
    /// process's sleepers cannot run their membarrier.
    pub(crate) fn note_sleeper(self) {
        if !barrier::sleeper_barrier_works() {
            self.mark_heavy();
        }
    }

    /// Sleeper side, step 2 (after re-checking): sleep unless the word moved.
    /// Returns whether it moved (woken, or changed before we slept).
    pub(crate) fn sleep(
        self,
        prepared: Prepared,
        timeout: Option<Duration>,
        counters: &Counters,
    ) -> bool {
        if prepared.recheck {
            return true;
        }
        counters.wait_syscalls.fetch_add(1, Ordering::Relaxed);
        futex::wait(self.word, prepared.seen, timeout);
        // Acquire: as `prepare` (SYNC: eventcount-epoch), for a waker that
        // moved the epoch while we slept.
        self.word.load(Ordering::Acquire) != prepared.seen
    }

    /// Whether a publisher's wake moved the epoch since `prepared`.
    pub(crate) fn epoch_moved(self, prepared: Prepared) -> bool {
        (self.word.load(Ordering::Relaxed) ^ prepared.seen) & !(SLEEPERS | HEAVY) != 0
    }

    /// A sleeper that the epoch moved for found nothing: the wake may have
    /// been meant for another sleeper (whose condition differs, or who
    /// would have found what we missed), so hand one wake on. Does not move
    /// the epoch: a sleeper that announced after the move has re-checked
    /// after it, and every later one sees no move, so this ends.
    pub(crate) fn pass_on(self, counters: &Counters) {
        if self.word.load(Ordering::Relaxed) & SLEEPERS != 0 {
            futex::wake(self.word, 1);
            counters.wake_syscalls.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sleeper side, last step: withdraw the announcement. A saturated
    /// count stays saturated; a count a replacement cleared is not taken
    /// below 0.
    pub(crate) fn cancel(self, prepared: Prepared) {
        if prepared.counted {
            // The mark first: a death between the two leaves a count
            // nobody will take (extra wakes), never a mark without one.
            if let Some(mark) = self.mark {
                mark.flag.store(0, Ordering::Relaxed);
            }
            self.update(|word| match word & SLEEPERS {
                0 | SLEEPERS => None,
                _ => Some(word - 1),
            });
        }
    }

    /// Clears sleepers left by a dead endpoint (called by its replacement,
    /// the only endpoint that may sleep on this word). Keeps HEAVY.
    pub(crate) fn clear_sleepers(self) {
        self.update(|word| (word & SLEEPERS != 0).then_some(word & !SLEEPERS));
    }

    /// Takes `n` sleepers off the count: those of a participant known dead
    /// (MPMC: the caller owns the knowledge of how many it announced). A
    /// saturated count stays saturated (the real number is unknown: always
    /// wake), and the count never goes below 0.
    pub(crate) fn release_sleepers(self, n: u32) {
        if n == 0 {
            return;
        }
        self.update(|word| match word & SLEEPERS {
            0 | SLEEPERS => None,
            count => Some(word & !SLEEPERS | count.saturating_sub(n)),
        });
    }

    /// Replaces the word by `change(word)` until that is `None` or the
    /// compare-exchange succeeds, at most [`CAS_TRIES`] times.
    fn update(self, mut change: impl FnMut(u32) -> Option<u32>) {
        let mut current = self.word.load(Ordering::Relaxed);
        for _ in 0..CAS_TRIES {
            let Some(next) = change(current) else {
                return;
            };
            match self
                .word
                .compare_exchange(current, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }
}
