//! Dead-owner detection and the undo of a dead endpoint's claim: how long
//! a claimed slot may stay unchanged before its claimant is looked at, and
//! what its claim becomes.

use bytemuck::Pod;

use super::endpoint::{Endpoint, advance_to};
use super::stamp::{FULL, LAP_SHIFT, ONE_LAP, READING, SKIPPED, Seen, WRITING, decode};
use crate::error::Corruption;
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
        let peer = self.ring.role().peer();
        // Peers found dead asleep: their counts come off their wake word.
        let sleepers = self.ring.attachment().check_role_alive(peer);
        self.ring.release_sleepers(peer, sleepers);
        // A receiver's claims behind the cursor: a dead claimant's item is
        // taken over by the next receive (`recover_passed`), which a
        // blocked receive makes at once (its readiness check sees this).
        if self.passed.get().is_some() && matches!(self.scan_passed(false), Ok(Some(_))) {
            self.recovery_due.set(true);
        }
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
            WRITING => (lap_bits | SKIPPED, &self.ring.events().skipped),
            _ => (
                lap_bits.wrapping_add(ONE_LAP) | FULL,
                &self.ring.events().recovered,
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
                advance_to(self.ring.tail(), position.wrapping_add(1));
            }
            // Receivers may be waiting on it (and a sender on the room a
            // skip will free once passed over).
            self.ring.notify_both();
        }
    }
}

impl<T: Pod> Endpoint<T> {
    /// A receiver about to report `Empty` or `Disconnected`: looks at the
    /// claims it left behind (from `passed` up to the cursor) and takes
    /// over the first one whose claimant is dead, returning its position
    /// (now claimed by this receiver, which must take it). Forgets the
    /// positions whose claims are finished.
    #[cold]
    pub(super) fn recover_passed(&self) -> Result<Option<u64>, Corruption> {
        self.recovery_due.set(false);
        self.scan_passed(true)
    }

    /// The walk of [`recover_passed`](Self::recover_passed); without
    /// `take_over`, only says where a dead claim is (a liveness check that
    /// cannot deliver the item). At most `capacity - 1` positions (the
    /// slots behind the cursor), a liveness check (a syscall for mapped
    /// storages) for each claim still there.
    pub(super) fn scan_passed(&self, take_over: bool) -> Result<Option<u64>, Corruption> {
        let Some(first) = self.passed.get() else {
            return Ok(None);
        };
        let capacity = self.ring.capacity().get();
        let behind = self.cursor.wrapping_sub(first);
        // Further back than a lap: those slots were looked at since.
        let first = if behind >= capacity {
            self.cursor.wrapping_sub(capacity - 1)
        } else {
            first
        };
        let mut outstanding = None;
        let mut position = first;
        while position != self.cursor {
            let base = self.base(position);
            // SYNC: mpmc-publish (Acquire: a claim read from the dead
            // receiver's compare-exchange continues the release sequence
            // of the sender's FULL store; the takeover's compare-exchange
            // below acquires again)
            let stamp = self.stamp(position).load(Ordering::Acquire);
            let seen = decode(stamp, base, self.rows)?;
            // Only a receiver's claim of the position's own lap is left to
            // finish; anything later is done (a stamp behind it, or an
            // unclaimed state, cannot follow honest endpoints behind a
            // cursor: nothing to take over).
            if seen.laps == 0 && seen.state == READING {
                if self.claimant_alive(seen) {
                    outstanding.get_or_insert(position);
                } else if !take_over {
                    return Ok(Some(position));
                } else if self.take_over(position, stamp) {
                    let next = outstanding.unwrap_or(position.wrapping_add(1));
                    self.passed.set((next != self.cursor).then_some(next));
                    return Ok(Some(position));
                } else {
                    // Someone else won it (or it finished): look again
                    // next time.
                    outstanding.get_or_insert(position);
                }
            }
            position = position.wrapping_add(1);
        }
        if take_over {
            self.passed.set(outstanding);
        }
        Ok(None)
    }

    /// Takes over the claim `stamp` (`READING` of a dead receiver) at
    /// `position`: one compare-exchange, so exactly one of those who found
    /// it dead (receivers here, or a sender undoing it a lap later) wins.
    /// The winner then takes the item as if it had claimed it from `FULL`.
    fn take_over(&self, position: u64, stamp: u64) -> bool {
        let mine = self.base(position) | self.tag | READING;
        // SYNC: mpmc-publish (Acquire: this read-modify-write reads the dead
        // receiver's claim, itself a read-modify-write of the sender's
        // Release store of FULL: the release sequence makes the sender's
        // writes of the item visible here)
        let won = self
            .stamp(position)
            .compare_exchange(stamp, mine, Ordering::Acquire, Ordering::Relaxed)
            .is_ok();
        if won {
            self.ring.events().recovered.fetch_add(1, Ordering::Relaxed);
        }
        won
    }

    /// `catch_up` for a receiver: the positions it jumps over are noted as
    /// passed.
    pub(super) fn catch_up_noting(&mut self) -> bool {
        let from = self.cursor;
        let jumped = self.catch_up();
        if jumped {
            self.note_passed(from);
        }
        jumped
    }

    /// A receiver moving its cursor from `from` without looking at the
    /// positions on the way (a jump to the head hint, or a step over a
    /// claim): claims there are still to be looked at.
    pub(super) fn note_passed(&self, from: u64) {
        let earlier = match self.passed.get() {
            Some(first) if (first.wrapping_sub(from) as i64) <= 0 => first,
            _ => from,
        };
        self.passed.set(Some(earlier));
    }
}
