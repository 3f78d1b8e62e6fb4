//! The robust lock word of a shared segment: a futex word that names its
//! holder by participant row and claim generation, so that a waiter can
//! tell a live holder from a dead one with the segment's own liveness
//! check (the row's OFD lock, `Attachment::claimant_alive`), and take the
//! lock over from a dead one.
//!
//! The word (a `u32`, the futex word):
//!
//! ```text
//! bit 31      WAITERS: someone may sleep on the word; the unlock wakes one
//! bit 30      INCONSISTENT: a holder died holding the lock, and nobody has
//!             marked the data consistent since
//! bits 8..16  the holder's claim generation (low 8 bits)
//! bits 0..8   the holder's participant row + 1; 0 with bits 8..16: free
//! ```
//!
//! Why not the kernel's robust list (what a robust pthread mutex uses)?
//! That list is linked through pointers stored *in the lock*, which the
//! holder's own unlock follows and writes through: a peer that rewrites
//! them would make our process write to an address of its choosing.
//! glibc owns the one list head a thread can register, too. Here nothing
//! read from the segment is followed as a pointer: a forged word at worst
//! reports a dead owner that is not, or makes a waiter wait a tick.

use std::time::Instant;

use crate::segment::peer::Attachment;
use crate::sync::{AtomicU32, Ordering};
use crate::wait::LIVENESS_TICK;
use crate::wait::futex::{self, Outcome};

/// Someone may sleep on the word.
const WAITERS: u32 = 1 << 31;
/// The data may be half-updated by a holder that died.
const INCONSISTENT: u32 = 1 << 30;
/// The holder's row + 1 and claim generation; 0: free.
const HOLDER: u32 = 0xffff;
/// Compare-exchanges before a churned word counts as busy (only a peer
/// rewriting the word all the time makes an honest one fail twice).
const CAS_TRIES: u32 = 64;

/// The lock word: the header's first wake word, which a semaphore segment
/// uses as its value (a shared segment has no ring to wake).
pub(super) fn lock_word(attachment: &Attachment) -> &AtomicU32 {
    &attachment.storage().header().ring.wake.not_empty.sem
}

/// The token that names a holder: participant `row` with claim generation
/// `generation` (its low 8 bits).
pub(super) fn token(row: usize, generation: u32) -> u32 {
    (row as u32 + 1) & 0xff | (generation & 0xff) << 8
}

/// The participant row and claim generation a word names (`None`: free,
/// or row field 0 with a generation, which only a forged word holds).
pub(super) fn holder_of(word: u32) -> Option<(usize, u32)> {
    let row = word & 0xff;
    (row != 0).then(|| ((row - 1) as usize, (word >> 8) & 0xff))
}

/// How the lock was acquired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Acquired {
    /// From a holder that unlocked it with the data consistent.
    Clean,
    /// From a holder that died (taken over now, or earlier by a holder that
    /// did not mark the data consistent).
    OwnerDied,
}

/// The lock word and who we are, for one call.
pub(super) struct RobustLock<'a> {
    pub(super) word: &'a AtomicU32,
    pub(super) attachment: &'a Attachment,
    /// Our token (row and claim generation).
    pub(super) me: u32,
}

impl RobustLock<'_> {
    /// Takes the lock if it is free; `Err(word)` with the word seen if it
    /// is held. `sleeper`: we slept on the word, so others may too, and
    /// our unlock must wake them.
    pub(super) fn try_acquire(&self, sleeper: bool) -> Result<Acquired, u32> {
        let mut current = self.word.load(Ordering::Relaxed);
        for _ in 0..CAS_TRIES {
            if current & HOLDER != 0 {
                return Err(current);
            }
            let waiters = if sleeper { WAITERS } else { current & WAITERS };
            let next = self.me | (current & INCONSISTENT) | waiters;
            // SYNC: shared-lock (Acquire: the previous holder's writes to
            // the data, released by its unlock, are visible to ours)
            match self
                .word
                .compare_exchange(current, next, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) if current & INCONSISTENT != 0 => return Ok(Acquired::OwnerDied),
                Ok(_) => return Ok(Acquired::Clean),
                Err(seen) => current = seen,
            }
        }
        Err(current)
    }

    /// Takes the lock, sleeping while a live holder has it, until
    /// `deadline` (`Err(())` after). A holder found dead is taken over:
    /// [`Acquired::OwnerDied`]. A holder is judged only after it kept the
    /// lock through a whole sleep (a liveness tick at most), so a hand-over
    /// between live holders costs no liveness syscall.
    pub(super) fn acquire(&self, deadline: Option<Instant>) -> Result<Acquired, ()> {
        let mut sleeper = false;
        // The holder that kept the lock through our last sleep.
        let mut suspect = None;
        loop {
            let busy = match self.try_acquire(sleeper) {
                Ok(acquired) => return Ok(acquired),
                Err(busy) => busy,
            };
            let holder = busy & HOLDER;
            // A token no row of the table can hold is judged at once.
            let rows = self.attachment.storage().peer_rows().len();
            let forged = holder_of(busy).is_none_or(|(row, _)| row >= rows);
            if forged || suspect == Some(holder) {
                let alive = holder_of(busy).is_some_and(|(row, generation)| {
                    self.attachment.claimant_alive(row, generation)
                });
                if !alive {
                    let next = self.me | INCONSISTENT | (busy & WAITERS);
                    // SYNC: shared-lock (Acquire: whatever the dead holder
                    // wrote and released is visible; the rest is why the
                    // caller is told)
                    if self
                        .word
                        .compare_exchange(busy, next, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                    {
                        return Ok(Acquired::OwnerDied);
                    }
                    suspect = None;
                    continue;
                }
            }
            let sleep = match deadline {
                None => LIVENESS_TICK,
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left.min(LIVENESS_TICK),
                    _ => return Err(()),
                },
            };
            let waiting = busy | WAITERS;
            if busy & WAITERS == 0
                && self
                    .word
                    .compare_exchange(busy, waiting, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                // The word moved (an unlock, another waiter): look again.
                continue;
            }
            sleeper = true;
            suspect = match futex::wait(self.word, waiting, Some(sleep)) {
                Outcome::TimedOut => Some(holder),
                Outcome::Woken | Outcome::Other => None,
            };
        }
    }

    /// Gives the lock up: the data marked consistent or not, and one
    /// sleeper woken if any may sleep.
    pub(super) fn release(&self, consistent: bool) {
        let next = if consistent { 0 } else { INCONSISTENT };
        let mut current = self.word.load(Ordering::Relaxed);
        let mut released = false;
        for _ in 0..CAS_TRIES {
            // SYNC: shared-lock (Release: our writes to the data happen-
            // before the next holder's Acquire)
            match self
                .word
                .compare_exchange(current, next, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => {
                    released = true;
                    break;
                }
                Err(seen) => current = seen,
            }
        }
        if !released {
            // Only a peer rewriting the word all the time gets here; wake
            // anyone who may sleep, the store cannot fail.
            // SYNC: shared-lock (Release: as above)
            self.word.store(next, Ordering::Release);
            current |= WAITERS;
        }
        if current & WAITERS != 0 {
            futex::wake(self.word, 1);
        }
    }
}
