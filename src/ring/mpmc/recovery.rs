//! Dead-owner detection and the undo of a dead endpoint's claim: how long
//! a claimed slot may stay unchanged before its claimant is looked at, and
//! what its claim becomes.

use bytemuck::Pod;

use super::endpoint::{Endpoint, advance};
use super::stamp::{FULL, LAP_SHIFT, ONE_LAP, READING, SKIPPED, Seen, WRITING, decode};
use crate::sync::Ordering;

/// Polls of a slot claimed by someone else (and not moving) before the
/// first look at whether its claimant is alive; later looks come after
/// twice as many polls each time, up to [`STUCK_POLLS_MAX`].
pub(super) const STUCK_POLLS: u32 = 1 << 10;
const STUCK_POLLS_MAX: u32 = 1 << 16;

/// A slot claimed by someone else that this endpoint keeps finding
/// unchanged: how long, and when to look at its claimant next.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Stuck {
    stamp: u64,
    polls: u32,
    next_check: u32,
}

impl<T: Pod> Endpoint<T> {
    /// Looks (a syscall) for peers that died, and for a dead claimant of
    /// the slot at the cursor, undoing its claim.
    pub(super) fn check_peers(&self) {
        self.ring
            .attachment()
            .check_role_alive(self.ring.role().peer());
        let position = self.cursor;
        let base = self.base(position);
        // SYNC: mpmc-publish (Acquire: as in the slow paths)
        let stamp = self.stamp(position).load(Ordering::Acquire);
        // Only the claims this endpoint would wait on: a sender's claim at
        // this lap (for a receiver) or any claim of the previous lap. A
        // receiver's claim at this lap is passed over, not waited on (and
        // undoing it here would put its item a lap ahead of the senders).
        if let Ok(seen) = decode(stamp, base, self.rows)
            && ((seen.laps == 0 && seen.state == WRITING)
                || (seen.laps == -1 && matches!(seen.state, WRITING | READING)))
            && !self.claimant_alive(seen)
        {
            self.undo_claim(position, stamp, seen);
        }
    }

    /// Counts one more poll of a slot whose claimant is not this endpoint
    /// and says whether it is time to look at that claimant: after a short
    /// spin first, then less and less often.
    pub(super) fn stuck_check_due(&self, stamp: u64) -> bool {
        let mut stuck = self.stuck.get();
        if stuck.stamp != stamp || stuck.next_check == 0 {
            stuck = Stuck {
                stamp,
                polls: 0,
                next_check: STUCK_POLLS,
            };
        }
        stuck.polls += 1;
        let due = stuck.polls >= stuck.next_check;
        if due {
            stuck.polls = 0;
            stuck.next_check = (stuck.next_check * 2).min(STUCK_POLLS_MAX);
        }
        self.stuck.set(stuck);
        due
    }

    pub(super) fn claimant_alive(&self, seen: Seen) -> bool {
        self.ring
            .attachment()
            .claimant_alive(seen.row, seen.generation)
    }

    /// Undoes the claim of a dead endpoint, seen as `stamp` at `position`:
    /// a dead sender's `WRITING` becomes `SKIPPED` (nothing of it is
    /// delivered), a dead receiver's `READING` of the previous lap becomes
    /// `FULL` at `position` (its item is handed out again: `position` is
    /// the senders' next, as nobody could claim it past the old claim). A
    /// compare-exchange: only one of those who found it dead does it.
    #[cold]
    pub(super) fn undo_claim(&self, position: u64, stamp: u64, seen: Seen) {
        let lap_bits = stamp & !((1 << LAP_SHIFT) - 1);
        let (undone, counter) = match seen.state {
            WRITING => (lap_bits | SKIPPED, &self.ring.counters().skipped),
            _ => (
                lap_bits.wrapping_add(ONE_LAP) | FULL,
                &self.ring.counters().recovered,
            ),
        };
        // SYNC: mpmc-publish (AcqRel: a recovered item stays published: this
        // read-modify-write continues the release sequence of the sender's
        // FULL store that the dead receiver's claim read)
        let done = self
            .stamp(position)
            .compare_exchange(stamp, undone, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok();
        if done {
            counter.fetch_add(1, Ordering::Relaxed);
            if seen.state == READING {
                // The item now fills the senders' next position.
                advance(self.ring.tail(), position.wrapping_add(1));
            }
            // Receivers may be waiting on it (and a sender on the room a
            // skip will free once passed over).
            self.ring.notify_both();
        }
    }
}
