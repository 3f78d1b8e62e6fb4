//! What senders and receivers share: the segment, a cursor, the owner bits
//! of the endpoint's claims, what it last learnt about its peers, and the
//! `head`/`tail` hints it reads and moves.

use std::cell::Cell;

use bytemuck::Pod;

use super::RingMemory;
use super::recovery::Stuck;
use super::stamp::{
    EMPTY, GENERATION_MASK, GENERATION_SHIFT, LAP_SHIFT, READING, ROW_MASK, ROW_SHIFT, STATE_MASK,
    Slot, WRITING,
};
use crate::error::{Corruption, OpenError};
use crate::options::Options;
use crate::options::WaitStrategy;
use crate::segment::peer::{PeerStatus, Role};
use crate::sync::{AtomicU64, Ordering};

/// What both kinds of endpoint hold: the segment, a cursor, the owner bits
/// of this endpoint's claims, and what it last learnt about its peers.
pub(super) struct Endpoint<T: Pod> {
    pub(super) ring: RingMemory<T, Slot<T>>,
    /// The position this endpoint tries next.
    pub(super) cursor: u64,
    /// log2 of the capacity: position to lap.
    shift: u32,
    /// [`hint_stride`] minus one: a publish or release of the position
    /// before a multiple of the stride moves the hint.
    hint_mask: u64,
    /// Rows of the participant table.
    pub(super) rows: u64,
    /// Owner bits (row and generation) of this endpoint's claims.
    pub(super) tag: u64,
    pub(super) strategy: WaitStrategy,
    pub(super) stuck: Cell<Stuck>,
    /// Receivers: the first position behind the cursor that may still hold
    /// another receiver's unfinished claim (one this receiver stepped over,
    /// or, at attach, the window behind the head hint); `None`: none. While
    /// set, `Empty` and `Disconnected` are decided on the slow path, after
    /// a look at those claims (`recover_passed`).
    pub(super) passed: Cell<Option<u64>>,
    /// Receivers: a liveness check found one of those claimants dead; the
    /// next receive takes its item over.
    pub(super) recovery_due: Cell<bool>,
    /// The roster value the peers' status was computed at, and the status.
    peers: Cell<Option<(u32, PeerStatus)>>,
}

impl<T: Pod + Send> Endpoint<T> {
    pub(super) fn attach(ring: RingMemory<T, Slot<T>>, opts: &Options) -> Result<Self, OpenError> {
        let capacity = ring.capacity().get();
        // SYNC: mpmc-hint (Acquire: as in `catch_up`)
        let acquire = Ordering::Acquire;
        let (head, tail) = (ring.head().load(acquire), ring.tail().load(acquire));
        // The hints may be apart by up to the capacity either way (a
        // receiver's release can move `head` before a sender's publish
        // moves `tail`), by one more for each participant that died
        // between its publish or release and its move of the hint (found by
        // `shmlane torture`), and by a stride, which either may lag behind
        // the position it stands for; further is corruption.
        let stride = hint_stride(capacity);
        let limit = capacity + u64::from(ring.participants()) + stride;
        if tail.wrapping_sub(head) > limit && head.wrapping_sub(tail) > limit {
            return Err(OpenError::Corrupted {
                name: ring.name().to_owned(),
                corruption: Corruption {
                    what: "tail and head hints are further apart than the capacity and the participants allow",
                    found: tail.wrapping_sub(head),
                    limit,
                },
            });
        }
        let attachment = ring.attachment();
        // Claims of this row's earlier holders may still be in slots: move
        // our generation off every claim generation they carry, so that no
        // stale claim can look like one of ours (SAFETY.md section 6).
        let own_row = attachment.own_row() as u64;
        let mut in_use = [false; 256];
        for position in 0..capacity {
            let stamp = ring.slot(position).stamp.load(Ordering::Relaxed);
            let claimed = matches!(stamp & STATE_MASK, WRITING | READING);
            if claimed && (stamp >> ROW_SHIFT) & ROW_MASK == own_row {
                in_use[((stamp >> GENERATION_SHIFT) & GENERATION_MASK) as usize] = true;
            }
        }
        attachment
            .renew_generation(&in_use)
            .map_err(|corruption| OpenError::Corrupted {
                name: ring.name().to_owned(),
                corruption,
            })?;
        let tag =
            (u64::from(attachment.claim_generation()) << GENERATION_SHIFT) | (own_row << ROW_SHIFT);
        let cursor = match ring.role() {
            Role::Producer => tail,
            Role::Consumer => head,
        };
        // A new receiver has stepped over nothing, but the claims of the
        // last lap behind the head hint are as unknown to it as ones it
        // passed: it looks at them before its first `Empty`.
        let behind = cursor.wrapping_sub(cursor.min(capacity - 1));
        let passed = (ring.role() == Role::Consumer && behind != cursor).then_some(behind);
        Ok(Self {
            cursor,
            shift: capacity.trailing_zeros(),
            hint_mask: stride - 1,
            rows: u64::from(ring.participants()),
            tag,
            strategy: opts.wait_strategy.unwrap_or_default(),
            stuck: Cell::new(Stuck::default()),
            passed: Cell::new(passed),
            recovery_due: Cell::new(false),
            peers: Cell::new(None),
            ring,
        })
    }
}

impl<T: Pod> Endpoint<T> {
    /// The lap bits of `position`.
    #[inline(always)]
    pub(super) fn base(&self, position: u64) -> u64 {
        (position >> self.shift) << LAP_SHIFT
    }

    #[inline(always)]
    pub(super) fn stamp(&self, position: u64) -> &AtomicU64 {
        &self.ring.slot(position).stamp
    }

    /// Moves the cursor to this role's hint (`tail` for senders, `head`
    /// for receivers) if that is ahead; whether it did.
    pub(super) fn catch_up(&mut self) -> bool {
        let index = match self.ring.role() {
            Role::Producer => self.ring.tail(),
            Role::Consumer => self.ring.head(),
        };
        // SYNC: mpmc-hint (Acquire: the slots before the hint are seen at
        // least as far as the endpoint that moved it saw them)
        let hint = index.load(Ordering::Acquire);
        let ahead = (hint.wrapping_sub(self.cursor) as i64) > 0;
        if ahead {
            self.cursor = hint;
        }
        ahead
    }

    /// Records a corruption as this endpoint's poison and returns it.
    #[cold]
    pub(super) fn poisoned_by(&mut self, found: Corruption) -> Corruption {
        self.ring.poison(found)
    }

    /// Whether the peers (the other role) are all gone, from the rows,
    /// re-read only when the roster moved.
    pub(super) fn peers_gone(&self) -> bool {
        let roster = self.ring.roster();
        let status = match self.peers.get() {
            Some((seen, status)) if seen == roster => status,
            _ => {
                let status = self.ring.attachment().role_status(self.ring.role().peer());
                self.peers.set(Some((roster, status)));
                status
            }
        };
        status == PeerStatus::Gone
    }

    /// Whether the peers' status is known for the current roster and is not
    /// "gone" (one load of the read-mostly roster word).
    #[inline(always)]
    pub(super) fn peers_present(&self) -> bool {
        matches!(self.peers.get(), Some((seen, status))
            if status != PeerStatus::Gone && seen == self.ring.roster())
    }
}

/// Positions between two moves of a hint on the hot path (the capacity, if
/// smaller). A compare-exchange on the shared hint line per operation is
/// the contention per-slot stamps exist to avoid, and a locked instruction
/// that drains the store buffer on every send and receive; a hint that lags
/// by less than a stride costs a cursor that jumps to it at most that many
/// stamp loads, which every walk already tolerates (a stale cursor).
pub(super) const HINT_STRIDE: u64 = 32;

/// The hint stride of a ring of `capacity` (a power of two): below a lap,
/// so a hint never lags by a whole lap.
fn hint_stride(capacity: u64) -> u64 {
    HINT_STRIDE.min(capacity)
}

impl<T: Pod> Endpoint<T> {
    /// After this endpoint's publish (sender) or release (receiver) of
    /// `position`: moves its role's hint to the next position when that
    /// ends a stride.
    #[inline(always)]
    pub(super) fn hint_passed(&self, position: u64) {
        let next = position.wrapping_add(1);
        if next & self.hint_mask == 0 {
            let index = match self.ring.role() {
                Role::Producer => self.ring.tail(),
                Role::Consumer => self.ring.head(),
            };
            advance(index, next, self.hint_mask + 1);
        }
    }
}

impl<T: Pod> Endpoint<T> {
    /// After a blocking call that waited and then went through: if the
    /// position at the cursor is `ready` at its lap too (`FULL` for a
    /// receiver, `EMPTY` for a sender), wake one more sleeper of this
    /// endpoint's own word for it. A publish (release) wakes one sleeper
    /// per item (slot), but one woken for a position behind a slot still
    /// being written (read) finds nothing and sleeps again; when that slot
    /// moves, its one wake finds two ready positions, and without this the
    /// second waited for the next call or the liveness tick.
    pub(super) fn hand_on(&self, ready: u64) {
        let position = self.cursor;
        // A look only (SYNC: mpmc-publish / mpmc-release: the woken
        // endpoint's claim acquires).
        let stamp = self.stamp(position).load(Ordering::Relaxed);
        if stamp == self.base(position) | ready {
            self.ring.notify_own();
        }
    }
}

/// Moves the hint `index` forward to `next`, never back, expecting it at
/// `next - step` (the last move).
///
/// SYNC: mpmc-hint (Release, here and in `advance_to`): an endpoint that
/// jumps its cursor to the hint (`catch_up`, Acquire) then sees every slot
/// before it at least as far as the mover saw it, so a slot it never
/// looked at cannot read as an earlier lap (which would look impossible).
#[inline(always)]
fn advance(index: &AtomicU64, next: u64, step: u64) {
    let current = index.load(Ordering::Relaxed);
    if current == next.wrapping_sub(step)
        && index
            .compare_exchange(current, next, Ordering::Release, Ordering::Relaxed)
            .is_ok()
    {
        return;
    }
    advance_to(index, next);
}

/// Moves the hint `index` forward to `next` wherever it is (off the hot
/// path, or when another endpoint moved it too): a bounded maximum-loop (a
/// hostile peer changing the hint all the time cannot keep us here; the
/// hint is only a hint).
#[cold]
#[inline(never)]
pub(super) fn advance_to(index: &AtomicU64, next: u64) {
    let mut current = index.load(Ordering::Relaxed);
    for _ in 0..16 {
        if (next.wrapping_sub(current) as i64) <= 0 {
            return;
        }
        // SYNC: mpmc-hint (Release: as in `advance`)
        match index.compare_exchange(current, next, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => return,
            Err(seen) => current = seen,
        }
    }
}

impl<T: Pod> Endpoint<T> {
    /// Items in the ring, clamped to `0..=capacity`: from the hints, each
    /// carried forward over the positions its stride has not recorded yet
    /// (the stamps say how far the senders claimed and the receivers
    /// released).
    pub(super) fn len(&self) -> usize {
        let (head, tail) = self.positions();
        let used = tail.wrapping_sub(head) as i64;
        used.clamp(0, self.ring.capacity().get() as i64) as usize
    }

    /// The first position not yet released and the first not yet claimed
    /// (exact when no operation is in flight).
    fn positions(&self) -> (u64, u64) {
        let relaxed = Ordering::Relaxed;
        let released = |position: u64, stamp: u64| {
            (stamp.wrapping_sub(self.base(position)) as i64) >> LAP_SHIFT >= 1
        };
        let claimed = |position: u64, stamp: u64| {
            let laps = (stamp.wrapping_sub(self.base(position)) as i64) >> LAP_SHIFT;
            laps >= 1 || (laps == 0 && stamp & STATE_MASK != EMPTY)
        };
        let head = self.carried(self.ring.head().load(relaxed), released);
        let tail = self.carried(self.ring.tail().load(relaxed), claimed);
        (head, tail)
    }

    /// The ring's counters, with the positions the stamps say (see
    /// `positions`) as pops and pushes.
    pub(super) fn stats(&self) -> crate::ring::Stats {
        let (head, tail) = self.positions();
        self.ring.stats_at(head, tail)
    }

    /// For `endpoint_accessors!`: the ring's capacity in slots.
    pub(super) fn capacity(&self) -> crate::index::Capacity {
        self.ring.capacity()
    }

    /// For `endpoint_accessors!`: what the memory options did.
    pub(super) fn memory_report(&self) -> crate::MemoryReport {
        self.ring.memory_report()
    }

    /// `hint` moved forward over the positions for which `done` holds, at
    /// most a stride and a position per participant (those that died
    /// between a publish or release and a hint move).
    fn carried(&self, hint: u64, done: impl Fn(u64, u64) -> bool) -> u64 {
        let mut position = hint;
        for _ in 0..=self.hint_mask + self.rows {
            let stamp = self.stamp(position).load(Ordering::Relaxed);
            if !done(position, stamp) {
                break;
            }
            position = position.wrapping_add(1);
        }
        position
    }
}

/// Attempts of one call's slow path before it reports full or empty: each
/// attempt moves past a slot another endpoint took, so only a ring that
/// many others keep changing (or a hostile one) uses them up.
pub(super) fn walk_limit(rows: u64) -> u64 {
    4 * rows + 64 + HINT_STRIDE
}

impl<T: Pod> Endpoint<T> {
    pub(super) fn describe(&self, f: &mut std::fmt::Formatter<'_>, what: &str) -> std::fmt::Result {
        f.debug_struct(what)
            .field("segment", &self.ring.name())
            .field("capacity", &self.ring.capacity().get())
            .field("row", &self.ring.attachment().own_row())
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}
