//! Typed multi-producer multi-consumer ring: any number of [`Sender`]s and
//! [`Receiver`]s, in any number of processes, up to the participant limit
//! the ring was created with.
//!
//! # Design
//!
//! A bounded queue with a sequence stamp per slot, after Dmitry Vyukov's
//! (crossbeam's `ArrayQueue` is the well-known version), changed so that a
//! participant can die at any instruction without stalling the others:
//!
//! * A slot is **claimed by a compare-exchange on its stamp**, which writes
//!   the claimant's participant row and row generation into the stamp in
//!   the same atomic step. Whoever waits on a claimed slot can therefore
//!   always tell whose it is, and ask whether that endpoint is still alive
//!   (the OFD lock of its row, see `peer.rs`).
//! * `head` and `tail` are hints, not claims: each endpoint keeps its own
//!   cursor, tries the slot there, and reads the shared hint only when the
//!   stamp says the cursor is stale. A sender's publish and a receiver's
//!   release touch the hint after the stamp.
//!
//! A stamp is `lap << 18 | generation << 10 | row << 3 | state`, where
//! `lap` is the position divided by the capacity (46 bits, compared
//! modulo 2^46). For the position `p` of lap `L`, a slot goes
//! `EMPTY(L)` → `WRITING(L, sender)` → `FULL(L)` → `READING(L, receiver)`
//! → `EMPTY(L+1)`. A reservation dropped uncommitted publishes `SKIPPED(L)`
//! instead of `FULL(L)`, and receivers turn it into `EMPTY(L+1)` without
//! reading it. A fresh segment is all zeroes: every slot `EMPTY(0)`.
//!
//! A dead participant's claim is undone by whoever waits on it:
//! `WRITING(L, dead)` becomes `SKIPPED(L)` (its item was never committed,
//! nothing is delivered), `READING(L, dead)` becomes `FULL(L+1)`: the item
//! the dead receiver was taking, which it never returned, is handed out
//! again one lap later, so that every committed item is received exactly
//! once. SAFETY.md proves both.
//!
//! Every stamp read is checked against the position it should describe
//! (lap one behind, equal or ahead; a valid state; an owner row inside the
//! table): one that cannot happen is [`Corruption`], and poisons the
//! endpoint, whose every later call reports the same corruption.
//!
//! # Ordering
//!
//! Items from one sender are received in the order it sent them, by all
//! receivers together: its claims take increasing positions, and receivers
//! take positions in increasing order. (The only exception: an item whose
//! receiver died in the middle of receiving it is handed out again later,
//! after items sent after it.) Items of different senders interleave in
//! the order their slots were claimed.
//!
//! ```no_run
//! use shmlane::{Options, mpmc};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let opts = Options::new().capacity(1024).participants(16);
//! let mut tx = mpmc::Sender::<u64>::create("jobs", &opts)?; // this process
//! let mut rx = mpmc::Receiver::<u64>::open("jobs", &opts)?; // any process
//! tx.try_send(7).map_err(|e| e.to_string())?;
//! assert_eq!(rx.try_recv()?, 7);
//! # Ok(())
//! # }
//! ```

use std::cell::Cell;
use std::time::{Duration, Instant};

use bytemuck::{Pod, Zeroable};

#[cfg(not(shmlane_loom))]
use super::Source;
use super::{RingMemory, Stats, Wake};
use crate::error::{Corruption, OpenError, PopError, PushError, WriteChunkError};
use crate::options::Options;
use crate::options::WaitStrategy;
use crate::segment::peer::{PeerStatus, Role};
use crate::segment::{FreshCell, RingKind};
use crate::sync::{AtomicU64, Ordering, UnsafeCell, spin_hint};
use crate::wait::{self, Limit};

// The stamp word. See the module docs.
const STATE_MASK: u64 = 0b111;
const EMPTY: u64 = 0;
const WRITING: u64 = 1;
const FULL: u64 = 2;
const READING: u64 = 3;
const SKIPPED: u64 = 4;
const ROW_SHIFT: u32 = 3;
const ROW_MASK: u64 = 0x7f;
const GENERATION_SHIFT: u32 = 10;
const GENERATION_MASK: u64 = crate::segment::peer::CLAIM_GENERATION_MASK as u64;
const LAP_SHIFT: u32 = 18;
/// The stamp of the same state one lap later.
const ONE_LAP: u64 = 1 << LAP_SHIFT;
const OWNER_BITS: u64 = (ROW_MASK << ROW_SHIFT) | (GENERATION_MASK << GENERATION_SHIFT);

/// Polls of a slot claimed by someone else (and not moving) before the
/// first look at whether its claimant is alive; later looks come after
/// twice as many polls each time, up to [`STUCK_POLLS_MAX`].
const STUCK_POLLS: u32 = 1 << 10;
const STUCK_POLLS_MAX: u32 = 1 << 16;

/// One slot: its stamp, and the item beside it (on the same cache line for
/// small items: a hand-over moves one line).
#[repr(C)]
pub(crate) struct Slot<T> {
    stamp: AtomicU64,
    value: UnsafeCell<T>,
}

impl<T> Slot<T> {
    /// Stores `stamp` as a hostile peer would (the fuzz targets).
    #[cfg(all(feature = "test-support", not(shmlane_loom)))]
    pub(crate) fn forge_stamp(&self, stamp: u64) {
        self.stamp.store(stamp, crate::sync::Ordering::Release);
    }

    /// The stamp, for the fuzz targets' near-valid forgeries.
    #[cfg(all(feature = "test-support", not(shmlane_loom)))]
    pub(crate) fn stamp(&self) -> u64 {
        self.stamp.load(crate::sync::Ordering::Relaxed)
    }
}

impl<T: Zeroable> FreshCell for Slot<T> {
    fn fresh() -> Self {
        Self {
            stamp: AtomicU64::new(0),
            value: UnsafeCell::new(T::zeroed()),
        }
    }
}

/// A stamp read from a slot, checked against a position.
#[derive(Debug, Clone, Copy)]
struct Seen {
    /// The stamp's lap minus the position's (signed, modulo 2^46).
    laps: i64,
    state: u64,
    row: usize,
    generation: u32,
}

/// Splits `stamp` as seen for the position whose lap bits are `base`, and
/// checks what must hold whatever the position: a known state, an owner
/// only in the two claimed states, inside the table of `rows` rows.
#[inline]
fn decode(stamp: u64, base: u64, rows: u64) -> Result<Seen, Corruption> {
    let state = stamp & STATE_MASK;
    let row = (stamp >> ROW_SHIFT) & ROW_MASK;
    let seen = Seen {
        // `base` has no low bits: the difference's low bits are the stamp's,
        // its high bits the lap difference, which the shift sign-extends.
        laps: (stamp.wrapping_sub(base) as i64) >> LAP_SHIFT,
        state,
        row: row as usize,
        generation: ((stamp >> GENERATION_SHIFT) & GENERATION_MASK) as u32,
    };
    match state {
        WRITING | READING if row >= rows => Err(Corruption {
            what: "slot stamp names an owner outside the participant table",
            found: row,
            limit: rows,
        }),
        WRITING | READING => Ok(seen),
        EMPTY | FULL | SKIPPED if stamp & OWNER_BITS != 0 => Err(Corruption {
            what: "slot stamp names an owner in an unowned state",
            found: stamp,
            limit: 0,
        }),
        EMPTY | FULL | SKIPPED => Ok(seen),
        _ => Err(Corruption {
            what: "slot stamp has an unknown state",
            found: state,
            limit: SKIPPED,
        }),
    }
}

/// A stamp that no honest ring can show at this position.
fn misfit(stamp: u64) -> Corruption {
    Corruption {
        what: "slot stamp does not fit the position",
        found: stamp,
        limit: 0,
    }
}

/// A slot claimed by someone else that this endpoint keeps finding
/// unchanged: how long, and when to look at its claimant next.
#[derive(Debug, Clone, Copy, Default)]
struct Stuck {
    stamp: u64,
    polls: u32,
    next_check: u32,
}

/// What both kinds of endpoint hold: the segment, a cursor, the owner bits
/// of this endpoint's claims, and what it last learnt about its peers.
struct Endpoint<T: Pod> {
    ring: RingMemory<T, Slot<T>>,
    /// The position this endpoint tries next.
    cursor: u64,
    /// log2 of the capacity: position to lap.
    shift: u32,
    /// Rows of the participant table.
    rows: u64,
    /// Owner bits (row and generation) of this endpoint's claims.
    tag: u64,
    strategy: WaitStrategy,
    stuck: Cell<Stuck>,
    /// The roster value the peers' status was computed at, and the status.
    peers: Cell<Option<(u32, PeerStatus)>>,
}

impl<T: Pod + Send> Endpoint<T> {
    fn attach(ring: RingMemory<T, Slot<T>>, opts: &Options) -> Result<Self, OpenError> {
        let capacity = ring.capacity().get();
        // SYNC: mpmc-hint (Acquire: as in `catch_up`)
        let acquire = Ordering::Acquire;
        let (head, tail) = (ring.head().load(acquire), ring.tail().load(acquire));
        // The hints may be apart by up to the capacity either way (a
        // receiver's release can move `head` before a sender's publish
        // moves `tail`); further is corruption.
        if tail.wrapping_sub(head) > capacity && head.wrapping_sub(tail) > capacity {
            return Err(OpenError::Corrupted {
                name: ring.name().to_owned(),
                corruption: Corruption {
                    what: "tail and head hints are further apart than the capacity",
                    found: tail.wrapping_sub(head),
                    limit: capacity,
                },
            });
        }
        let attachment = ring.attachment();
        let tag = (u64::from(attachment.claim_generation()) << GENERATION_SHIFT)
            | ((attachment.own_row() as u64) << ROW_SHIFT);
        Ok(Self {
            cursor: match ring.role() {
                Role::Producer => tail,
                Role::Consumer => head,
            },
            shift: capacity.trailing_zeros(),
            rows: u64::from(ring.participants()),
            tag,
            strategy: opts.wait_strategy.unwrap_or_default(),
            stuck: Cell::new(Stuck::default()),
            peers: Cell::new(None),
            ring,
        })
    }
}

impl<T: Pod> Endpoint<T> {
    /// The lap bits of `position`.
    #[inline(always)]
    fn base(&self, position: u64) -> u64 {
        (position >> self.shift) << LAP_SHIFT
    }

    #[inline(always)]
    fn stamp(&self, position: u64) -> &AtomicU64 {
        &self.ring.slot(position).stamp
    }

    /// Moves the cursor to this role's hint (`tail` for senders, `head`
    /// for receivers) if that is ahead; whether it did.
    fn catch_up(&mut self) -> bool {
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
    fn poisoned_by(&mut self, found: Corruption) -> Corruption {
        self.ring.poison(found)
    }

    /// Whether the peers (the other role) are all gone, from the rows,
    /// re-read only when the roster moved.
    fn peers_gone(&self) -> bool {
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
    fn peers_present(&self) -> bool {
        matches!(self.peers.get(), Some((seen, status))
            if status != PeerStatus::Gone && seen == self.ring.roster())
    }

    /// Looks (a syscall) for peers that died, and for a dead claimant of
    /// the slot at the cursor, undoing its claim.
    fn check_peers(&self) {
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
    fn stuck_check_due(&self, stamp: u64) -> bool {
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

    fn claimant_alive(&self, seen: Seen) -> bool {
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
    fn undo_claim(&self, position: u64, stamp: u64, seen: Seen) {
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

/// Moves the hint `index` forward to `next`, never back.
///
/// SYNC: mpmc-hint (Release, here and in `advance_slow`): an endpoint that
/// jumps its cursor to the hint (`catch_up`, Acquire) then sees every slot
/// before it at least as far as the mover saw it, so a slot it never
/// looked at cannot read as an earlier lap (which would look impossible).
/// Free on x86: the compare-exchange is a locked instruction anyway.
#[inline(always)]
fn advance(index: &AtomicU64, next: u64) {
    let current = index.load(Ordering::Relaxed);
    if current == next.wrapping_sub(1)
        && index
            .compare_exchange(current, next, Ordering::Release, Ordering::Relaxed)
            .is_ok()
    {
        return;
    }
    advance_slow(index, next);
}

/// `advance` when another endpoint moved the hint too: a bounded
/// maximum-loop (a hostile peer changing the hint all the time cannot keep
/// us here; the hint is only a hint).
#[cold]
#[inline(never)]
fn advance_slow(index: &AtomicU64, next: u64) {
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

/// The sending end of an MPMC ring. Any number may be attached, up to the
/// ring's participant limit (senders and receivers together).
pub struct Sender<T: Pod> {
    end: Endpoint<T>,
    /// The position of a reservation whose guard was leaked
    /// (`mem::forget`): published as skipped when the sender drops.
    pending: Option<u64>,
}

/// The receiving end of an MPMC ring. Any number may be attached, up to the
/// ring's participant limit (senders and receivers together).
pub struct Receiver<T: Pod> {
    end: Endpoint<T>,
}

impl<T: Pod> Sender<T> {
    /// The segment, for the fuzz targets' hostile writes.
    #[cfg(all(feature = "test-support", not(shmlane_loom)))]
    pub(crate) fn memory(&self) -> &RingMemory<T, Slot<T>> {
        &self.end.ring
    }
}

/// A sender and a receiver over one new anonymous shared-memory segment
/// (memfd), sealed so no process can resize it. More endpoints come from
/// [`Sender::try_clone`] and [`Receiver::try_clone`]. As for
/// [`spsc::pair`](crate::spsc::pair): after a fork keep each endpoint in
/// the one process that uses it and drop the others' copies unused.
///
/// `opts` may set the capacity, participant limit, schema id, waiter and
/// wait strategy; `mode`, `persist` and `open_timeout` apply only to named
/// segments and are refused here.
#[cfg(not(shmlane_loom))]
pub fn pair<T: Pod + Send>(opts: &Options) -> Result<(Sender<T>, Receiver<T>), OpenError> {
    let roles = (Role::Producer, Role::Consumer);
    let (tx, rx) = RingMemory::memfd_pair(RingKind::Mpmc, roles, opts)?;
    Ok((Sender::attach(tx, opts)?, Receiver::attach(rx, opts)?))
}

/// A sender and a receiver over process-local memory: the same ring for
/// threads of one process.
pub fn heap_pair<T: Pod + Send>(opts: &Options) -> Result<(Sender<T>, Receiver<T>), OpenError> {
    let roles = (Role::Producer, Role::Consumer);
    let (tx, rx) = RingMemory::heap_pair(RingKind::Mpmc, roles, opts)?;
    Ok((Sender::attach(tx, opts)?, Receiver::attach(rx, opts)?))
}

/// What a receiver's inline claim found.
enum Fast {
    Claimed(u64),
    Empty,
    Slow,
}

impl<T: Pod + Send> Sender<T> {
    /// Creates the named segment `name` and attaches as a sender.
    #[cfg(not(shmlane_loom))]
    pub fn create(name: &str, opts: &Options) -> Result<Self, OpenError> {
        let ring = RingMemory::named(Source::Create(name), RingKind::Mpmc, Role::Producer, opts)?;
        Self::attach_named(ring, opts)
    }

    /// Opens the named segment `name` and attaches as a sender;
    /// [`OpenError::TooManyParticipants`] if the ring has its limit of live
    /// endpoints already.
    #[cfg(not(shmlane_loom))]
    pub fn open(name: &str, opts: &Options) -> Result<Self, OpenError> {
        let ring = RingMemory::named(Source::Open(name), RingKind::Mpmc, Role::Producer, opts)?;
        Self::attach_named(ring, opts)
    }

    #[cfg(not(shmlane_loom))]
    fn attach_named(ring: RingMemory<T, Slot<T>>, opts: &Options) -> Result<Self, OpenError> {
        let mut sender = Self::attach(ring, opts)?;
        sender.end.ring.ensure_attached();
        Ok(sender)
    }

    fn attach(ring: RingMemory<T, Slot<T>>, opts: &Options) -> Result<Self, OpenError> {
        Ok(Self {
            end: Endpoint::attach(ring, opts)?,
            pending: None,
        })
    }

    /// Another sender on the same ring (a participant of its own, with its
    /// own open file description): [`OpenError::TooManyParticipants`] at
    /// the limit. It uses the wait strategy of `self`.
    pub fn try_clone(&self) -> Result<Self, OpenError> {
        let ring = self.end.ring.duplicate(Role::Producer)?;
        let opts = Options::new().wait_strategy(self.end.strategy);
        Self::attach(ring, &opts)
    }
}

impl<T: Pod> Sender<T> {
    /// Claims the slot at the cursor if it is free for it, the common
    /// case; `None` sends the caller to the slow path.
    #[inline(always)]
    fn claim_fast(&mut self) -> Option<u64> {
        let end = &mut self.end;
        if !end.ring.usable() {
            return None;
        }
        let position = end.cursor;
        let empty = end.base(position);
        let stamp = end.stamp(position);
        // Look before the compare-exchange: a full ring is polled with
        // loads, which leave the line shared with the receivers.
        if stamp.load(Ordering::Relaxed) != empty {
            return None;
        }
        // SYNC: mpmc-release (Acquire: the receiver that freed this slot
        // has finished reading it before we write it)
        match stamp.compare_exchange(
            empty,
            empty | end.tag | WRITING,
            Ordering::Acquire,
            Ordering::Relaxed,
        ) {
            Ok(_) => {
                end.cursor = position.wrapping_add(1);
                Some(position)
            }
            Err(_) => None,
        }
    }

    /// Claims a slot: `Ok(None)` when the ring is full (or stays contended
    /// for a bounded number of attempts). Also where this endpoint marks
    /// itself attached on first use.
    #[cold]
    #[inline(never)]
    fn claim_slow(&mut self) -> Result<Option<u64>, Corruption> {
        self.end.ring.poisoned()?;
        self.end.ring.ensure_attached();
        match self.claim_walk() {
            Err(found) => Err(self.end.poisoned_by(found)),
            claimed => claimed,
        }
    }

    fn claim_walk(&mut self) -> Result<Option<u64>, Corruption> {
        let end = &mut self.end;
        for _ in 0..walk_limit(end.rows) {
            let position = end.cursor;
            let base = end.base(position);
            // SYNC: mpmc-release (Acquire: as in claim_fast; the
            // compare-exchange below acquires again)
            let stamp = end.stamp(position).load(Ordering::Acquire);
            let seen = decode(stamp, base, end.rows)?;
            match (seen.laps, seen.state) {
                (0, EMPTY) => {
                    // SYNC: mpmc-release (Acquire: as in claim_fast)
                    let claimed = end.stamp(position).compare_exchange(
                        stamp,
                        base | end.tag | WRITING,
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    );
                    if claimed.is_ok() {
                        end.cursor = position.wrapping_add(1);
                        return Ok(Some(position));
                    }
                }
                // Another sender has this position: the next one, or the
                // hint if it is further.
                (0, _) => {
                    if !end.catch_up() {
                        end.cursor = position.wrapping_add(1);
                    }
                }
                // The slot still holds the previous lap: full, unless its
                // claimant died (then undo its claim and look again).
                (-1, WRITING | READING) => {
                    if end.stuck_check_due(stamp) && !end.claimant_alive(seen) {
                        end.undo_claim(position, stamp, seen);
                    } else if !end.catch_up() {
                        return Ok(None);
                    }
                }
                (-1, FULL | SKIPPED) => {
                    if !end.catch_up() {
                        return Ok(None);
                    }
                }
                // Already used at this lap or later: the cursor is stale.
                (laps, _) if laps >= 1 => {
                    if !end.catch_up() {
                        end.cursor = position.wrapping_add(1);
                    }
                }
                // A position of the previous lap that nobody claimed, or a
                // slot two laps behind: impossible unless the cursor is
                // stale by 2^45 laps (then the hint helps).
                _ => {
                    if !end.catch_up() {
                        return Err(misfit(stamp));
                    }
                }
            }
        }
        Ok(None)
    }

    /// Publishes the claimed `position` as `state` (`FULL` or `SKIPPED`),
    /// wakes receivers that sleep and moves the tail hint.
    #[inline(always)]
    fn publish(&self, position: u64, state: u64) {
        let end = &self.end;
        // SYNC: mpmc-publish (Release: the item's bytes happen-before a
        // receiver's claim that reads FULL)
        end.stamp(position)
            .store(end.base(position) | state, Ordering::Release);
        end.ring.notify_peer();
        advance(end.ring.tail(), position.wrapping_add(1));
    }

    /// Appends `value`, or hands it back: [`PushError::Full`] when the ring
    /// is full, [`PushError::Disconnected`] once every receiver is gone
    /// (checked when the ring is found full, as for SPSC).
    // Always inlined, as the SPSC push: an out-of-line call returns its
    // Result through memory.
    #[inline(always)]
    pub fn try_send(&mut self, value: T) -> Result<(), PushError<T>> {
        let position = match self.claim_fast() {
            Some(position) => position,
            None => self.claim_or_refuse(value)?,
        };
        self.end.ring.slot(position).value.with_mut(|slot| {
            // SAFETY: this sender claimed the slot (WRITING with its tag):
            // no other endpoint writes it or reads its value until we
            // publish (SYNC: mpmc-publish), and the receiver that freed it
            // has finished reading (SYNC: mpmc-release).
            unsafe { slot.write(value) }
        });
        self.publish(position, FULL);
        Ok(())
    }

    /// The slow half of a claim, with the refusals that hand `value` back.
    #[cold]
    #[inline(never)]
    fn claim_or_refuse(&mut self, value: T) -> Result<u64, PushError<T>> {
        match self.claim_slow() {
            Ok(Some(position)) => Ok(position),
            Ok(None) if self.end.peers_gone() => Err(PushError::Disconnected(value)),
            Ok(None) => Err(PushError::Full(value)),
            Err(corruption) => Err(PushError::Corrupted(value, corruption)),
        }
    }

    /// Appends `value`, waiting for room, waiting as long as it takes (as the endpoint's
    /// [`WaitStrategy`](crate::WaitStrategy) says).
    /// [`PushError::Disconnected`] hands the value back. A receiver that
    /// died holding the slot we wait for is found within about
    /// [`LIVENESS_TICK`](crate::LIVENESS_TICK) and its claim undone.
    #[inline(always)]
    pub fn send(&mut self, value: T) -> Result<(), PushError<T>> {
        self.send_within(value, Limit::Forever)
    }

    /// Like [`send`](Self::send), giving up with a timeout
    /// error after `timeout`.
    #[inline(always)]
    pub fn send_timeout(&mut self, value: T, timeout: Duration) -> Result<(), PushError<T>> {
        self.send_within(value, Limit::Timeout(timeout))
    }

    /// Like [`send`](Self::send), giving up with a timeout
    /// error at `deadline`.
    #[inline(always)]
    pub fn send_deadline(&mut self, value: T, deadline: Instant) -> Result<(), PushError<T>> {
        self.send_within(value, Limit::Deadline(deadline))
    }

    #[inline(always)]
    fn send_within(&mut self, value: T, limit: Limit) -> Result<(), PushError<T>> {
        match self.try_send(value) {
            Err(PushError::Full(value)) => self.send_slow(value, limit),
            done => done,
        }
    }

    #[cold]
    #[inline(never)]
    fn send_slow(&mut self, value: T, limit: Limit) -> Result<(), PushError<T>> {
        let mut value = value;
        for _ in 0..wait::brief_spins(self.end.strategy) {
            spin_hint();
            value = match self.try_send(value) {
                Err(PushError::Full(value)) => value,
                done => return done,
            };
        }
        let deadline = limit.deadline();
        loop {
            match self.wait_for_room(deadline) {
                // The retry re-reads the slot and reports any corruption.
                Some(Wake::Ready | Wake::Corrupted(_)) => {}
                Some(Wake::Disconnected) => return Err(PushError::Disconnected(value)),
                None => return Err(PushError::Timeout(value)),
            }
            value = match self.try_send(value) {
                Err(PushError::Full(value)) => value,
                done => return done,
            };
        }
    }

    /// Waits until the slot at the cursor may be free, every receiver is
    /// gone, or `deadline` passes (`None`).
    fn wait_for_room(&mut self, deadline: Option<Instant>) -> Option<Wake> {
        let end = &self.end;
        let ready = || {
            let position = end.cursor;
            // SYNC: mpmc-release (Acquire: a look only; the claim acquires)
            let stamp = end.stamp(position).load(Ordering::Acquire);
            let laps = (stamp.wrapping_sub(end.base(position)) as i64) >> LAP_SHIFT;
            // Anything but "the previous lap still holds it" is worth a try
            // (the try reports corruption).
            if laps != -1 || stamp & STATE_MASK == EMPTY {
                Some(Wake::Ready)
            } else if end.peers_gone() {
                Some(Wake::Disconnected)
            } else {
                None
            }
        };
        end.ring
            .block_until(end.strategy, deadline, ready, || end.check_peers())
    }

    /// Claims the next slot for writing in place: the returned
    /// [`Reservation`] holds the slot's item as `&mut T` inside the
    /// segment; [`Reservation::commit`] publishes it. Dropping the
    /// reservation uncommitted publishes the slot as skipped, which
    /// receivers pass over (counted in [`Stats::skipped`]), so that a
    /// reservation never stalls the ring. While a reservation lives,
    /// receivers wait at its slot; items of other senders behind it wait
    /// with them.
    ///
    /// Errors as for [`try_send`](Self::try_send), without a value:
    /// [`WriteChunkError::Full`], `Disconnected`, `Corrupted`.
    pub fn reserve(&mut self) -> Result<Reservation<'_, T>, WriteChunkError> {
        let position = match self.claim_fast() {
            Some(position) => position,
            None => match self.claim_slow() {
                Ok(Some(position)) => position,
                Ok(None) if self.end.peers_gone() => return Err(WriteChunkError::Disconnected),
                Ok(None) => return Err(WriteChunkError::Full),
                Err(corruption) => return Err(WriteChunkError::Corrupted(corruption)),
            },
        };
        self.pending = Some(position);
        Ok(Reservation {
            sender: self,
            position,
        })
    }

    /// Like [`reserve`](Self::reserve), but waits for room as
    /// [`send`](Self::send) does, waiting as long as it takes (as the endpoint's
    /// [`WaitStrategy`](crate::WaitStrategy) says).
    pub fn reserve_blocking(&mut self) -> Result<Reservation<'_, T>, WriteChunkError> {
        self.reserve_within(Limit::Forever)
    }

    /// Like [`reserve_blocking`](Self::reserve_blocking), giving up with a timeout
    /// error after `timeout`.
    pub fn reserve_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<Reservation<'_, T>, WriteChunkError> {
        self.reserve_within(Limit::Timeout(timeout))
    }

    /// Like [`reserve_blocking`](Self::reserve_blocking), giving up with a timeout
    /// error at `deadline`.
    pub fn reserve_deadline(
        &mut self,
        deadline: Instant,
    ) -> Result<Reservation<'_, T>, WriteChunkError> {
        self.reserve_within(Limit::Deadline(deadline))
    }

    fn reserve_within(&mut self, limit: Limit) -> Result<Reservation<'_, T>, WriteChunkError> {
        let deadline = limit.deadline();
        let mut spins = wait::brief_spins(self.end.strategy);
        loop {
            // Claim here: `reserve`'s borrow would outlive the loop.
            let claimed = match self.claim_fast() {
                Some(position) => Ok(Some(position)),
                None => self.claim_slow(),
            };
            match claimed {
                Ok(Some(position)) => {
                    self.pending = Some(position);
                    return Ok(Reservation {
                        sender: self,
                        position,
                    });
                }
                Ok(None) if self.end.peers_gone() => return Err(WriteChunkError::Disconnected),
                Ok(None) => {}
                Err(corruption) => return Err(WriteChunkError::Corrupted(corruption)),
            }
            if spins > 0 {
                spins -= 1;
                spin_hint();
                continue;
            }
            match self.wait_for_room(deadline) {
                // The retry re-reads the slot and reports any corruption.
                Some(Wake::Ready | Wake::Corrupted(_)) => {}
                Some(Wake::Disconnected) => return Err(WriteChunkError::Disconnected),
                None => return Err(WriteChunkError::Timeout),
            }
        }
    }
}

/// A claimed slot, written in place and published by
/// [`commit`](Self::commit); see [`Sender::reserve`].
///
/// The slot holds whatever was there before (an old item or zeroes): every
/// bit pattern is a valid `T: Pod`, so it is handed out as `&mut T`. It
/// points into shared memory: an honest peer does not touch a claimed
/// slot, a hostile one could while the borrow lives (see SAFETY.md).
pub struct Reservation<'a, T: Pod> {
    sender: &'a mut Sender<T>,
    position: u64,
}

impl<T: Pod> Reservation<'_, T> {
    /// The item in the slot, to write in place.
    pub fn get_mut(&mut self) -> &mut T {
        let slot = self.sender.end.ring.slot(self.position);
        // SAFETY: the slot is claimed by this sender (WRITING with its tag)
        // until commit or drop, which need `self` by value or end the
        // borrow; no honest endpoint reads or writes a claimed slot's
        // value; the cell holds a valid `T: Pod` (any bytes are one) and
        // lives as long as the segment, which the sender (borrowed for
        // `'_`) owns.
        slot.value.with_mut(|item| unsafe { &mut *item })
    }

    /// Overwrites the item in the slot.
    pub fn write(&mut self, value: T) {
        self.sender
            .end
            .ring
            .slot(self.position)
            .value
            .with_mut(|item| {
                // SAFETY: as in `get_mut`: the slot is ours until commit.
                unsafe { item.write(value) }
            });
    }

    /// Publishes the item for the receivers.
    pub fn commit(self) {
        let mut this = std::mem::ManuallyDrop::new(self);
        this.sender.pending = None;
        this.sender.publish(this.position, FULL);
    }
}

impl<T: Pod> Drop for Reservation<'_, T> {
    fn drop(&mut self) {
        self.sender.pending = None;
        self.sender.skip(self.position);
    }
}

impl<T: Pod> Sender<T> {
    /// Publishes a claimed position as skipped.
    #[cold]
    fn skip(&self, position: u64) {
        self.end
            .ring
            .counters()
            .skipped
            .fetch_add(1, Ordering::Relaxed);
        // SYNC: mpmc-skip (Release: whatever was written into the slot
        // happens-before the receiver that passes over it frees it)
        self.publish(position, SKIPPED);
    }

    /// Number of items in the ring, from the hints: exact when no
    /// operation is in flight, and always between 0 and the capacity.
    pub fn len(&self) -> usize {
        self.end.len()
    }

    /// Whether the ring holds no item (see [`len`](Self::len)).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.end.ring.capacity().get() as usize
    }

    /// The ring's counters (shared by every endpoint). `pushes` counts
    /// positions claimed by senders (items, skipped slots and recovered
    /// items), `pops` positions passed by receivers.
    pub fn stats(&self) -> Stats {
        self.end.ring.stats()
    }

    /// Whether every receiver is gone (detached, or found dead).
    pub fn is_disconnected(&self) -> bool {
        self.end.peers_gone()
    }

    /// Looks now (syscalls) for receivers that died, so that sends report
    /// [`PushError::Disconnected`] when the last one is gone, and for a
    /// dead claimant of the slot this sender waits on. Blocking calls do
    /// this by themselves while they wait.
    pub fn check_peers(&self) {
        self.end.check_peers();
    }
}

impl<T: Pod> Drop for Sender<T> {
    fn drop(&mut self) {
        // A reservation whose guard was leaked: publish it as skipped, so
        // that receivers do not wait on it (the ring memory then detaches).
        if let Some(position) = self.pending.take() {
            let end = &self.end;
            let stamp = end.base(position) | end.tag | WRITING;
            // Only if the slot is still ours.
            if end.stamp(position).load(Ordering::Relaxed) == stamp {
                self.skip(position);
            }
        }
    }
}

impl<T: Pod> Endpoint<T> {
    /// Items in the ring from the hints, clamped to `0..=capacity`.
    fn len(&self) -> usize {
        let relaxed = Ordering::Relaxed;
        let (head, tail) = (
            self.ring.head().load(relaxed),
            self.ring.tail().load(relaxed),
        );
        let used = tail.wrapping_sub(head) as i64;
        used.clamp(0, self.ring.capacity().get() as i64) as usize
    }
}

/// Attempts of one call's slow path before it reports full or empty: each
/// attempt moves past a slot another endpoint took, so only a ring that
/// many others keep changing (or a hostile one) uses them up.
fn walk_limit(rows: u64) -> u64 {
    4 * rows + 64
}

impl<T: Pod + Send> Receiver<T> {
    /// Creates the named segment `name` and attaches as a receiver.
    #[cfg(not(shmlane_loom))]
    pub fn create(name: &str, opts: &Options) -> Result<Self, OpenError> {
        let ring = RingMemory::named(Source::Create(name), RingKind::Mpmc, Role::Consumer, opts)?;
        Self::attach_named(ring, opts)
    }

    /// Opens the named segment `name` and attaches as a receiver;
    /// [`OpenError::TooManyParticipants`] if the ring has its limit of live
    /// endpoints already.
    #[cfg(not(shmlane_loom))]
    pub fn open(name: &str, opts: &Options) -> Result<Self, OpenError> {
        let ring = RingMemory::named(Source::Open(name), RingKind::Mpmc, Role::Consumer, opts)?;
        Self::attach_named(ring, opts)
    }

    #[cfg(not(shmlane_loom))]
    fn attach_named(ring: RingMemory<T, Slot<T>>, opts: &Options) -> Result<Self, OpenError> {
        let mut receiver = Self::attach(ring, opts)?;
        receiver.end.ring.ensure_attached();
        Ok(receiver)
    }

    fn attach(ring: RingMemory<T, Slot<T>>, opts: &Options) -> Result<Self, OpenError> {
        Ok(Self {
            end: Endpoint::attach(ring, opts)?,
        })
    }

    /// Another receiver on the same ring (a participant of its own):
    /// [`OpenError::TooManyParticipants`] at the limit. It uses the wait
    /// strategy of `self`.
    pub fn try_clone(&self) -> Result<Self, OpenError> {
        let ring = self.end.ring.duplicate(Role::Consumer)?;
        let opts = Options::new().wait_strategy(self.end.strategy);
        Self::attach(ring, &opts)
    }
}

impl<T: Pod> Receiver<T> {
    /// Removes and returns the oldest item: [`PopError::Empty`] if there
    /// is none ready, [`PopError::Disconnected`] once every sender is gone
    /// and every item they committed has been received.
    ///
    /// A slot that a sender has claimed but not yet committed holds the
    /// receivers up (they report `Empty`); if its sender has died, the
    /// receivers that keep polling find out after a short spin and skip it.
    // Always inlined, as `try_send`.
    #[inline(always)]
    pub fn try_recv(&mut self) -> Result<T, PopError> {
        let position = match self.claim_fast() {
            Fast::Claimed(position) => position,
            Fast::Empty => return Err(PopError::Empty),
            Fast::Slow => self.claim_slow()?,
        };
        Ok(self.take(position))
    }

    /// Claims the item at the cursor if it is ready, the common case; says
    /// `Empty` without leaving the inline path when nothing is claimed at
    /// the cursor and the senders were present at the last look (the
    /// roster has not moved since).
    #[inline(always)]
    fn claim_fast(&mut self) -> Fast {
        let end = &mut self.end;
        if !end.ring.usable() {
            return Fast::Slow;
        }
        let position = end.cursor;
        let full = end.base(position) | FULL;
        let stamp = end.stamp(position);
        // The empty poll reads the stamp (and the read-mostly roster).
        let seen = stamp.load(Ordering::Relaxed);
        if seen != full {
            if seen == full & !STATE_MASK && end.peers_present() {
                return Fast::Empty;
            }
            return Fast::Slow;
        }
        // SYNC: mpmc-publish (Acquire: the sender's writes of the item are
        // visible)
        match stamp.compare_exchange(
            full,
            (full & !STATE_MASK) | end.tag | READING,
            Ordering::Acquire,
            Ordering::Relaxed,
        ) {
            Ok(_) => {
                end.cursor = position.wrapping_add(1);
                Fast::Claimed(position)
            }
            Err(_) => Fast::Slow,
        }
    }

    /// Copies the claimed item out and frees its slot.
    #[inline(always)]
    fn take(&self, position: u64) -> T {
        let end = &self.end;
        let value = end.ring.slot(position).value.with(|item| {
            // SAFETY: this receiver claimed the slot (READING with its tag)
            // after the sender published it (SYNC: mpmc-publish); no
            // honest endpoint writes it until we free it below; any bytes
            // are a valid `T: Pod`.
            unsafe { item.read() }
        });
        // SYNC: mpmc-release (Release: our read of the item happens-before
        // the claim of the next lap's sender)
        end.stamp(position)
            .store(end.base(position).wrapping_add(ONE_LAP), Ordering::Release);
        end.ring.notify_peer();
        advance(end.ring.head(), position.wrapping_add(1));
        value
    }

    /// The slow half of `try_recv`: anything but a ready item at the
    /// cursor. Also where this endpoint marks itself attached on first use.
    #[cold]
    #[inline(never)]
    fn claim_slow(&mut self) -> Result<u64, PopError> {
        self.end.ring.poisoned().map_err(PopError::Corrupted)?;
        self.end.ring.ensure_attached();
        match self.claim_walk() {
            Err(PopError::Corrupted(found)) => {
                Err(PopError::Corrupted(self.end.poisoned_by(found)))
            }
            done => done,
        }
    }

    fn claim_walk(&mut self) -> Result<u64, PopError> {
        let end = &mut self.end;
        for _ in 0..walk_limit(end.rows) {
            let position = end.cursor;
            let base = end.base(position);
            // SYNC: mpmc-publish (Acquire: as in claim_fast)
            let stamp = end.stamp(position).load(Ordering::Acquire);
            let seen = decode(stamp, base, end.rows).map_err(PopError::Corrupted)?;
            match (seen.laps, seen.state) {
                (0, FULL) => {
                    // SYNC: mpmc-publish (Acquire: as in claim_fast)
                    let claimed = end.stamp(position).compare_exchange(
                        stamp,
                        base | end.tag | READING,
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    );
                    if claimed.is_ok() {
                        end.cursor = position.wrapping_add(1);
                        return Ok(position);
                    }
                }
                // Nothing claimed at this position yet: empty, or
                // disconnected once every sender is gone. The Acquire load
                // that saw them gone (SYNC: peer-state) orders their last
                // publishes before the second look.
                (0, EMPTY) => {
                    if !end.peers_gone() {
                        return Err(PopError::Empty);
                    }
                    // SYNC: mpmc-publish (Acquire: as above)
                    if end.stamp(position).load(Ordering::Acquire) == stamp {
                        return Err(PopError::Disconnected);
                    }
                }
                // A sender is writing it; if it died, skip it.
                (0, WRITING) => {
                    if end.stuck_check_due(stamp) && !end.claimant_alive(seen) {
                        end.undo_claim(position, stamp, seen);
                    } else {
                        return Err(PopError::Empty);
                    }
                }
                // Another receiver has it: the next position.
                (0, READING) => end.cursor = position.wrapping_add(1),
                // Pass over a skipped slot: free it for the next lap. If the
                // compare-exchange fails, another receiver did it.
                (0, _) => {
                    // SYNC: mpmc-skip (Acquire: the skipping sender's writes
                    // happen-before; Release: and before the next lap's
                    // sender, which acquires this store: mpmc-release)
                    let passed = end.stamp(position).compare_exchange(
                        stamp,
                        base.wrapping_add(ONE_LAP),
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    );
                    if passed.is_ok() {
                        end.ring.notify_peer();
                        advance(end.ring.head(), position.wrapping_add(1));
                    }
                    end.cursor = position.wrapping_add(1);
                }
                // The previous lap's receiver has not freed it yet: nothing
                // at this position; if that receiver died, its item comes
                // back here.
                (-1, READING) => {
                    if end.stuck_check_due(stamp) && !end.claimant_alive(seen) {
                        end.undo_claim(position, stamp, seen);
                    } else if !end.catch_up() {
                        return Err(PopError::Empty);
                    }
                }
                // Already taken at this lap or later: the cursor is stale.
                (laps, _) if laps >= 1 => {
                    if !end.catch_up() {
                        end.cursor = position.wrapping_add(1);
                    }
                }
                // Anything else cannot follow from honest endpoints (see
                // SAFETY.md), unless the cursor is stale by 2^45 laps.
                _ => {
                    if !end.catch_up() {
                        return Err(PopError::Corrupted(misfit(stamp)));
                    }
                }
            }
        }
        Err(PopError::Empty)
    }

    /// Removes and returns the oldest item, waiting as long as it takes (as the endpoint's
    /// [`WaitStrategy`](crate::WaitStrategy) says).
    /// A sender that died holding the slot we wait for (or every sender
    /// dying) is noticed within about
    /// [`LIVENESS_TICK`](crate::LIVENESS_TICK).
    #[inline(always)]
    pub fn recv(&mut self) -> Result<T, PopError> {
        self.recv_within(Limit::Forever)
    }

    /// Like [`recv`](Self::recv), giving up with a timeout
    /// error after `timeout`.
    #[inline(always)]
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<T, PopError> {
        self.recv_within(Limit::Timeout(timeout))
    }

    /// Like [`recv`](Self::recv), giving up with a timeout
    /// error at `deadline`.
    #[inline(always)]
    pub fn recv_deadline(&mut self, deadline: Instant) -> Result<T, PopError> {
        self.recv_within(Limit::Deadline(deadline))
    }

    #[inline(always)]
    fn recv_within(&mut self, limit: Limit) -> Result<T, PopError> {
        match self.try_recv() {
            Err(PopError::Empty) => self.recv_slow(limit),
            done => done,
        }
    }

    #[cold]
    #[inline(never)]
    fn recv_slow(&mut self, limit: Limit) -> Result<T, PopError> {
        for _ in 0..wait::brief_spins(self.end.strategy) {
            spin_hint();
            match self.try_recv() {
                Err(PopError::Empty) => {}
                done => return done,
            }
        }
        let deadline = limit.deadline();
        loop {
            match self.try_recv() {
                Err(PopError::Empty) => {}
                done => return done,
            }
            if self.wait_for_items(deadline).is_none() {
                return Err(PopError::Timeout);
            }
        }
    }

    /// Waits until the slot at the cursor may hold something, every sender
    /// is gone, or `deadline` passes (`None`). The caller's next try
    /// drains and reports.
    fn wait_for_items(&mut self, deadline: Option<Instant>) -> Option<Wake> {
        let end = &self.end;
        let ready = || {
            let position = end.cursor;
            // SYNC: mpmc-publish (Acquire: a look only; the claim acquires)
            let stamp = end.stamp(position).load(Ordering::Acquire);
            let laps = (stamp.wrapping_sub(end.base(position)) as i64) >> LAP_SHIFT;
            let state = stamp & STATE_MASK;
            // Drained with every sender gone: the next try says so. A
            // claimed slot is waited on (the liveness tick undoes a dead
            // claim).
            let drained = laps == 0 && state == EMPTY;
            let claimed = (laps == 0 && state == WRITING) || (laps == -1 && state == READING);
            if drained && end.peers_gone() {
                Some(Wake::Disconnected)
            } else if drained || claimed {
                None
            } else {
                Some(Wake::Ready)
            }
        };
        end.ring
            .block_until(end.strategy, deadline, ready, || end.check_peers())
    }

    /// Number of items in the ring, from the hints: exact when no
    /// operation is in flight, and always between 0 and the capacity.
    pub fn len(&self) -> usize {
        self.end.len()
    }

    /// Whether the ring holds no item (see [`len`](Self::len)).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.end.ring.capacity().get() as usize
    }

    /// The ring's counters (shared by every endpoint); see
    /// [`Sender::stats`].
    pub fn stats(&self) -> Stats {
        self.end.ring.stats()
    }

    /// Whether every sender is gone (detached, or found dead); items they
    /// committed may still be waiting.
    pub fn is_disconnected(&self) -> bool {
        self.end.peers_gone()
    }

    /// Looks now (syscalls) for senders that died, so that receives report
    /// [`PopError::Disconnected`] after the drain when the last one is
    /// gone, and for a dead claimant of the slot this receiver waits on.
    /// Blocking calls do this by themselves while they wait.
    pub fn check_peers(&self) {
        self.end.check_peers();
    }

    /// Test hook, not API: claims and copies out the next item like
    /// `try_recv`, but never frees its slot, as a receiver killed in the
    /// middle of a receive leaves it. The item counts as not received: when
    /// this endpoint's process dies, another receiver gets it.
    #[cfg(any(test, feature = "test-support"))]
    #[doc(hidden)]
    pub fn recv_and_stall_for_tests(&mut self) -> Result<T, PopError> {
        let position = match self.claim_fast() {
            Fast::Claimed(position) => position,
            Fast::Empty => return Err(PopError::Empty),
            Fast::Slow => self.claim_slow()?,
        };
        Ok(self.end.ring.slot(position).value.with(|item| {
            // SAFETY: as in `take`: the slot is claimed by this receiver.
            unsafe { item.read() }
        }))
    }
}

impl<T: Pod> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.end.describe(f, "Sender")
    }
}

impl<T: Pod> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.end.describe(f, "Receiver")
    }
}

impl<T: Pod> Endpoint<T> {
    fn describe(&self, f: &mut std::fmt::Formatter<'_>, what: &str) -> std::fmt::Result {
        f.debug_struct(what)
            .field("segment", &self.ring.name())
            .field("capacity", &self.ring.capacity().get())
            .field("row", &self.ring.attachment().own_row())
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(shmlane_loom)))]
mod tests {
    use super::*;

    fn ring(capacity: usize) -> (Sender<u64>, Receiver<u64>) {
        heap_pair(&Options::new().capacity(capacity).participants(8)).expect("heap pair")
    }

    /// Makes `endpoint`'s row look dead: its lock (the heap's claim flag) is
    /// gone, as the kernel drops an OFD lock when its process dies.
    fn kill_row<T: Pod>(end: &Endpoint<T>) {
        let attachment = end.ring.attachment();
        attachment.storage().peer_rows()[attachment.own_row()]
            .claimed
            .store(0, Ordering::Relaxed);
    }

    #[test]
    fn receives_in_send_order_and_reports_full_and_empty() {
        let (mut tx, mut rx) = ring(4);
        assert_eq!(rx.try_recv(), Err(PopError::Empty));
        for v in 0..4 {
            tx.try_send(v).unwrap();
        }
        assert_eq!(tx.len(), 4);
        assert_eq!(tx.try_send(99), Err(PushError::Full(99)));
        for v in 0..4 {
            assert_eq!(rx.try_recv(), Ok(v));
        }
        assert!(rx.is_empty() && tx.is_empty());
        assert_eq!(rx.try_recv(), Err(PopError::Empty));
    }

    #[test]
    fn wraps_around_many_laps_with_clones_interleaved() {
        let (mut tx, mut rx) = ring(4);
        let mut tx2 = tx.try_clone().unwrap();
        let mut rx2 = rx.try_clone().unwrap();
        for round in 0..200u64 {
            tx.try_send(round * 3).unwrap();
            tx2.try_send(round * 3 + 1).unwrap();
            tx.try_send(round * 3 + 2).unwrap();
            assert_eq!(rx2.try_recv(), Ok(round * 3));
            assert_eq!(rx.try_recv(), Ok(round * 3 + 1));
            assert_eq!(rx2.try_recv(), Ok(round * 3 + 2));
        }
        let stats = rx.stats();
        assert_eq!((stats.pushes, stats.pops), (600, 600));
    }

    #[test]
    fn a_reservation_commits_in_place_and_a_dropped_one_is_skipped() {
        let (mut tx, mut rx) = ring(4);
        let mut slot = tx.reserve().unwrap();
        *slot.get_mut() = 41;
        *slot.get_mut() += 1;
        slot.commit();
        drop(tx.reserve().unwrap());
        let mut slot = tx.reserve().unwrap();
        slot.write(7);
        slot.commit();
        assert_eq!(rx.try_recv(), Ok(42));
        assert_eq!(rx.try_recv(), Ok(7), "the skipped slot is passed over");
        assert_eq!(rx.try_recv(), Err(PopError::Empty));
        assert_eq!(rx.stats().skipped, 1);
        // The skipped slot was freed: the ring holds `capacity` items again.
        for v in 0..4 {
            tx.try_send(v).unwrap();
        }
        assert!(matches!(tx.reserve(), Err(WriteChunkError::Full)));
    }

    #[test]
    fn a_pending_reservation_holds_receivers_until_committed() {
        let (mut tx, mut rx) = ring(4);
        let mut tx2 = tx.try_clone().unwrap();
        let mut slot = tx.reserve().unwrap();
        tx2.try_send(2).unwrap();
        assert_eq!(rx.try_recv(), Err(PopError::Empty), "in order: 1 first");
        slot.write(1);
        slot.commit();
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.try_recv(), Ok(2));
    }

    #[test]
    fn a_leaked_reservation_is_skipped_when_its_sender_drops() {
        let (mut tx, mut rx) = ring(4);
        let mut tx2 = tx.try_clone().unwrap();
        std::mem::forget(tx.reserve().unwrap());
        tx2.try_send(5).unwrap();
        assert_eq!(rx.try_recv(), Err(PopError::Empty));
        drop(tx);
        assert_eq!(rx.try_recv(), Ok(5));
        assert_eq!(rx.stats().skipped, 1);
    }

    #[test]
    fn a_dead_senders_claim_is_skipped_after_a_short_spin() {
        let (mut tx, mut rx) = ring(4);
        let mut tx2 = tx.try_clone().unwrap();
        let held = tx.reserve().unwrap();
        std::mem::forget(held);
        tx.pending = None; // as if killed: nothing runs on its behalf
        tx2.try_send(9).unwrap();
        kill_row(&tx.end);
        let mut polls = 0;
        let got = loop {
            match rx.try_recv() {
                Err(PopError::Empty) => polls += 1,
                other => break other,
            }
            assert!(polls <= STUCK_POLLS, "never looked at the claimant");
        };
        assert_eq!(got, Ok(9));
        assert!(polls >= STUCK_POLLS - 1, "looked before a short spin");
        assert_eq!(rx.stats().skipped, 1);
        drop(tx); // (its row is already "dead": the detach changes nothing)
    }

    #[test]
    fn a_dead_receivers_item_is_handed_out_again() {
        let (mut tx, mut rx) = ring(2);
        let mut rx2 = rx.try_clone().unwrap();
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        assert_eq!(rx.recv_and_stall_for_tests(), Ok(1));
        kill_row(&rx.end);
        assert_eq!(rx2.try_recv(), Ok(2));
        // Slot 0 is still claimed by the dead receiver: the ring is full for
        // the sender until someone notices.
        assert_eq!(tx.try_send(3), Err(PushError::Full(3)));
        rx2.check_peers();
        assert_eq!(rx2.stats().recovered, 1);
        assert_eq!(rx2.try_recv(), Ok(1), "the unreceived item comes back");
        tx.try_send(3).unwrap();
        assert_eq!(rx2.try_recv(), Ok(3));
        drop(rx);
    }

    #[test]
    fn a_sender_waiting_for_room_recovers_a_dead_receivers_item() {
        let (mut tx, mut rx) = ring(1);
        let mut rx2 = rx.try_clone().unwrap();
        tx.try_send(1).unwrap();
        assert_eq!(rx.recv_and_stall_for_tests(), Ok(1));
        kill_row(&rx.end);
        // The sender polls a full ring; after a short spin it finds the
        // dead claim and puts item 1 back in the (only) slot.
        let mut tries = 0;
        while rx2.stats().recovered == 0 {
            assert_eq!(tx.try_send(2), Err(PushError::Full(2)));
            tries += 1;
            assert!(tries <= STUCK_POLLS, "never looked at the claimant");
        }
        assert_eq!(rx2.try_recv(), Ok(1));
        tx.try_send(2).unwrap();
        assert_eq!(rx2.try_recv(), Ok(2));
        drop(rx);
    }

    #[test]
    fn corrupt_stamps_poison_the_endpoint() {
        let (mut tx, mut rx) = ring(4);
        tx.try_send(1).unwrap();
        // An unknown state.
        rx.end.stamp(0).store(7, Ordering::Relaxed);
        let err = rx.try_recv().unwrap_err();
        let PopError::Corrupted(first) = err else {
            panic!("{err:?}")
        };
        assert_eq!(first.found, 7);
        // Poisoned: the same error even once the stamp is honest again.
        rx.end.stamp(0).store(FULL, Ordering::Relaxed);
        assert_eq!(rx.try_recv(), Err(PopError::Corrupted(first)));
        assert_eq!(
            rx.recv_timeout(Duration::ZERO),
            Err(PopError::Corrupted(first))
        );

        let (mut tx, _rx) = ring(4);
        // An owner outside the table (8 rows).
        let base = tx.end.base(0);
        tx.end
            .stamp(0)
            .store(base | (100 << ROW_SHIFT) | WRITING, Ordering::Relaxed);
        let err = tx.try_send(1).unwrap_err();
        assert!(
            matches!(err, PushError::Corrupted(1, c) if c.found == 100 && c.limit == 8),
            "{err:?}"
        );
        assert!(matches!(tx.reserve(), Err(WriteChunkError::Corrupted(_))));

        let (_tx, mut rx) = ring(4);
        // A stamp five laps ahead of position 0: for a receiver that means
        // "stale", it walks on and finds position 1 empty.
        rx.end
            .stamp(0)
            .store((ONE_LAP * 5) | FULL, Ordering::Relaxed);
        assert_eq!(rx.try_recv(), Err(PopError::Empty));
        // A stamp two laps behind position 8 (lap 2), with hints that do not
        // explain it, cannot be.
        rx.end.cursor = 8;
        rx.end.stamp(0).store(FULL, Ordering::Relaxed);
        let err = rx.try_recv().unwrap_err();
        assert!(
            matches!(err, PopError::Corrupted(c) if c.what.contains("does not fit")),
            "{err:?}"
        );
    }

    #[test]
    #[cfg_attr(miri, ignore = "sleeping calls membarrier, which Miri cannot run")]
    fn blocking_calls_time_out_and_see_disconnects() {
        let (mut tx, mut rx) = ring(1);
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(5)),
            Err(PopError::Timeout)
        );
        tx.send(1).unwrap();
        assert_eq!(
            tx.send_timeout(2, Duration::from_millis(5)),
            Err(PushError::Timeout(2))
        );
        drop(tx);
        assert_eq!(rx.recv(), Ok(1), "drained first");
        assert_eq!(rx.recv(), Err(PopError::Disconnected));
        assert!(rx.is_disconnected());
    }

    #[test]
    fn moves_items_between_threads_exactly_once_in_sender_order() {
        let count: u64 = if cfg!(miri) { 200 } else { 100_000 };
        let (tx, rx) = ring(8);
        let senders: Vec<_> = (0..2u64)
            .map(|id| {
                let mut tx = tx.try_clone().unwrap();
                crate::sync::thread::spawn(move || {
                    for seq in 0..count {
                        let mut item = id << 32 | seq;
                        while let Err(PushError::Full(back)) = tx.try_send(item) {
                            item = back;
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        let receivers: Vec<_> = (0..2)
            .map(|_| {
                let mut rx = rx.try_clone().unwrap();
                crate::sync::thread::spawn(move || {
                    let mut got = Vec::new();
                    let mut last = [None::<u64>; 2];
                    loop {
                        match rx.try_recv() {
                            Ok(v) => {
                                let (id, seq) = ((v >> 32) as usize, v & 0xffff_ffff);
                                assert!(last[id] < Some(seq), "sender {id} out of order");
                                last[id] = Some(seq);
                                got.push(v);
                            }
                            Err(PopError::Disconnected) => return got,
                            Err(PopError::Empty) => std::thread::yield_now(),
                            Err(e) => panic!("{e}"),
                        }
                    }
                })
            })
            .collect();
        drop(rx);
        for s in senders {
            s.join().unwrap();
        }
        let mut all: Vec<u64> = receivers
            .into_iter()
            .flat_map(|r| r.join().unwrap())
            .collect();
        all.sort_unstable();
        let want: Vec<u64> = (0..2u64)
            .flat_map(|id| (0..count).map(move |seq| id << 32 | seq))
            .collect();
        assert_eq!(all, want);
    }

    #[test]
    fn the_participant_limit_is_enforced_and_options_checked() {
        let (tx, _rx) = heap_pair::<u64>(&Options::new().participants(2)).unwrap();
        let err = tx.try_clone().unwrap_err();
        assert!(
            matches!(err, OpenError::TooManyParticipants { limit: 2, .. }),
            "{err}"
        );
        for bad in [0, MAX_LIMIT + 1] {
            let err = heap_pair::<u64>(&Options::new().participants(bad)).unwrap_err();
            assert!(matches!(err, OpenError::InvalidConfig(_)), "{bad}: {err}");
        }
        let err = crate::spsc::heap_pair::<u64>(&Options::new().participants(4)).unwrap_err();
        assert!(
            matches!(err, OpenError::InvalidConfig(ref m) if m.contains("participants")),
            "{err}"
        );
    }

    const MAX_LIMIT: u32 = crate::options::MAX_PARTICIPANTS;
}
