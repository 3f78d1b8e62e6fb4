//! Who is attached to a segment: each endpoint claims a role (a row of the
//! header's peer table) and records its pid and process start time there.
//!
//! For shared-memory storages the claim is an OFD lock (`F_OFD_SETLK`) on
//! one byte per role, held by the endpoint's own open file description: the
//! kernel drops it when the last descriptor of that description closes,
//! including when the process dies, so a crashed endpoint's role becomes
//! free again and a new one can attach. The pid and start time are for
//! display only (a pid can be reused; a lock cannot be inherited by a
//! stranger). A child forked without exec shares its parent's descriptions
//! and so keeps the parent's claims alive until it closes them.
//!
//! An MPMC segment has a participant table instead of one row per role:
//! each endpoint claims a free row (its lock, one byte per row), records
//! its role there and starts a new generation of the row, which its claims
//! of ring slots carry (see `ring/mpmc/stamp.rs`). A claim whose row has changed
//! generation, whose holder detached, or whose lock nobody holds belongs to
//! a dead endpoint. The same locks, state words and checks serve both.

use std::cell::Cell;
use std::io;

use super::header::{FLAG_HAD_RECEIVER, FLAG_HAD_SENDER};
use super::{PeerSlot, Storage};
use crate::error::{Corruption, OpenError};
use crate::sync::{AtomicU32, Ordering};
use crate::wait::SleeperMark;

/// The roles of a ring with one producer and one consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Producer = 0,
    Consumer = 1,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Producer => "producer",
            Role::Consumer => "consumer",
        }
    }

    /// What a participant row records for the role (0: no holder).
    fn code(self) -> u32 {
        self as u32 + 1
    }

    /// The header flag saying an endpoint of this role attached once.
    fn had_flag(self) -> u32 {
        match self {
            Role::Producer => FLAG_HAD_SENDER,
            Role::Consumer => FLAG_HAD_RECEIVER,
        }
    }

    /// The role a participant row records as `code`, if any.
    fn from_code(code: u32) -> Option<Role> {
        [Role::Producer, Role::Consumer]
            .into_iter()
            .find(|role| role.code() == code)
    }

    /// The role on the other end of the ring.
    pub(crate) fn peer(self) -> Role {
        match self {
            Role::Producer => Role::Consumer,
            Role::Consumer => Role::Producer,
        }
    }
}

// The state word of a peer-table row: a generation (bumped by every new
// attach) above two state bits. The generation makes a stale "dead" verdict
// harmless: it is a compare-exchange against the generation it judged.
const STATE_BITS: u32 = 0b11;
/// No endpoint has attached (yet).
const VACANT: u32 = 0;
const ATTACHED: u32 = 1;
const DETACHED: u32 = 2;
const GENERATION: u32 = 0b100;

/// A row's sleeper mark for the generation in `state` (a row state word):
/// the generation with the low bit set, so never 0.
fn mark_value(state: u32) -> u32 {
    (state & !STATE_BITS) | 1
}
/// The bits of a participant row's generation that its slot claims carry.
pub(crate) const CLAIM_GENERATION_MASK: u32 = 0xff;
/// Compare-exchanges on a row's state word before giving up: only a peer
/// rewriting the word all the time (hostile) makes an honest one fail more
/// than a few times.
const ROW_UPDATE_ATTEMPTS: u32 = 64;

fn row_churn(attempts: u32) -> Corruption {
    Corruption {
        what: "peer row state keeps changing under a compare-exchange",
        found: u64::from(attempts),
        limit: u64::from(ROW_UPDATE_ATTEMPTS),
    }
}

/// Replaces `word` with `next(current)`: at most [`ROW_UPDATE_ATTEMPTS`]
/// compare-exchanges, then `Err` (a peer that keeps rewriting the word
/// cannot keep us here). Returns the value stored.
fn update_row(word: &AtomicU32, mut next: impl FnMut(u32) -> u32) -> Result<u32, Corruption> {
    let mut current = word.load(Ordering::Relaxed);
    for _ in 0..ROW_UPDATE_ATTEMPTS {
        let value = next(current);
        // SYNC: peer-state (Release: the row's other fields, and what this
        // endpoint did before, are seen with the new state)
        match word.compare_exchange(current, value, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => return Ok(value),
            Err(seen) => current = seen,
        }
    }
    Err(row_churn(ROW_UPDATE_ATTEMPTS))
}

/// Forks of this process so far (counted in the parent, by a
/// `pthread_atfork` prepare handler). An endpoint made before a fork may
/// be the child's to use: dropped unused in the parent, it must not
/// detach (see [`Attachment::mark_detached`]).
#[cfg(not(any(shmlane_loom, miri)))]
fn forks() -> u32 {
    use std::sync::Once;
    static FORKS: AtomicU32 = AtomicU32::new(0);
    static HOOK: Once = Once::new();
    extern "C" fn count_fork() {
        FORKS.fetch_add(1, Ordering::Relaxed);
    }
    HOOK.call_once(|| {
        // SAFETY: registers a prepare handler that only adds to an atomic
        // (async-signal-safe work, as fork handlers must do); a failure
        // (ENOMEM) leaves the count at 0, which only makes an unused
        // endpoint made before a fork detach as if there had been none.
        unsafe {
            libc::pthread_atfork(Some(count_fork), None, None);
        }
    });
    FORKS.load(Ordering::Relaxed)
}

/// One process under loom and Miri: nothing forks.
#[cfg(any(shmlane_loom, miri))]
fn forks() -> u32 {
    0
}

/// What an endpoint knows about its peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PeerStatus {
    /// No peer has attached yet: wait for one.
    NotYet,
    /// A peer is attached (as far as the segment says).
    Attached,
    /// The peer detached (dropped) or was found dead.
    Gone,
}

/// Whether a peer row whose state word reads `seen` is alive exactly when
/// its lock is held: attached, or (`paired`) a pair's other end that never
/// attached. The test of `Attachment::check_peer_alive` and of
/// `PeerProbe::looks_gone`.
fn lock_decides(seen: u32, paired: bool) -> bool {
    match seen & STATE_BITS {
        ATTACHED => true,
        VACANT => paired,
        _ => false,
    }
}

/// Whether a one-to-one endpoint's peer looks gone, without recording
/// anything: [`Attachment::check_peer_alive`]'s test, for the async waiter
/// thread to run on a liveness tick instead of waking the task. It only
/// decides whether to wake it; the task's own check records the death
/// (and whether it was a crash).
#[cfg(all(feature = "tokio", not(shmlane_loom)))]
#[derive(Clone, Copy)]
pub(crate) struct PeerProbe<'a> {
    /// The storage's box: its address stays while the endpoint moves.
    storage: &'a dyn Storage,
    peer: usize,
    paired: bool,
}

#[cfg(all(feature = "tokio", not(shmlane_loom)))]
impl PeerProbe<'_> {
    /// Gone (detached), or attached (or a pair's end never attached)
    /// with nobody holding its lock: the task should look. A lock that
    /// cannot be tested counts as held, as in `detach_if_dead`.
    pub(crate) fn looks_gone(&self) -> bool {
        // SYNC: peer-state (Acquire: as in peer_status)
        let seen = self.storage.peer_rows()[self.peer]
            .state
            .load(Ordering::Acquire);
        seen & STATE_BITS == DETACHED
            || (lock_decides(seen, self.paired)
                && matches!(self.storage.role_is_held(self.peer), Ok(false)))
    }

    /// The segment's file shrunk under its mapping: the task should look
    /// (its tick then poisons the endpoint before it touches a slot).
    pub(crate) fn segment_shrunk(&self) -> bool {
        self.storage.shrunk().is_some()
    }
}

/// An endpoint's hold on a segment: the storage and the claimed role, given
/// up on drop.
pub(crate) struct Attachment {
    storage: Box<dyn Storage>,
    role: Role,
    /// The row of the peer table this endpoint holds: the role's, or a
    /// participant row.
    row: usize,
    /// A participant row (MPMC): the generation was started at claim and
    /// stays while this endpoint lives (it is in the endpoint's slot
    /// claims); a role row starts one at every attach.
    participant: bool,
    /// The process that marked the role attached, if any: only that process
    /// marks it detached (a forked child's copy of an endpoint must not),
    /// and a child that uses the endpoint marks it again.
    marked_by: Option<u32>,
    /// The generation this endpoint attached with (a participant row's
    /// may be renewed once, before first use: see
    /// [`renew_generation`](Self::renew_generation)).
    generation: Cell<u32>,
    /// The process that claimed the row, and its fork count then: an
    /// endpoint dropped unused detaches only there and only if that
    /// process has not forked since (else a child may be using it).
    claimed_in: (u32, u32),
    /// An end of an anonymous pair: no third endpoint can ever attach, so a
    /// vacant row whose lock nobody holds means the other end is gone (it
    /// was dropped, or died, before its first use).
    paired: bool,
    /// A participant row's previous holder died counted as a sleeper of
    /// this role (its mark was still up when this endpoint claimed the
    /// row): the ring takes that count off (`take_inherited_sleeper`).
    inherited_sleeper: Cell<Option<Role>>,
    /// This endpoint found its peer dead (its lock gone while its row said
    /// attached) and marked it detached: the peer did not end cleanly.
    peer_died: Cell<bool>,
}

impl Attachment {
    /// Claims `role` in `storage`, or says who has it. The role is marked
    /// attached later, by [`mark_attached`](Self::mark_attached), in the
    /// process that uses the endpoint.
    pub(crate) fn claim(storage: Box<dyn Storage>, role: Role) -> Result<Self, OpenError> {
        match storage.claim_role(role as usize) {
            Ok(true) => Ok(Self {
                storage,
                role,
                row: role as usize,
                participant: false,
                marked_by: None,
                generation: Cell::new(0),
                claimed_in: (crate::sync::current_pid(), forks()),
                paired: false,
                inherited_sleeper: Cell::new(None),
                peer_died: Cell::new(false),
            }),
            Ok(false) => Err(OpenError::RoleTaken {
                name: storage.name().to_owned(),
                role: role.name(),
            }),
            Err(source) => Err(OpenError::Io {
                name: storage.name().to_owned(),
                op: "claim role lock",
                source,
            }),
        }
    }

    /// Claims a free row of the participant table (the first `rows` rows)
    /// for an endpoint of `role`: [`OpenError::TooManyParticipants`] if
    /// every one is held by a live endpoint. The row gets a new
    /// generation, which tells this endpoint's slot claims from those of
    /// an earlier, dead holder of the row.
    pub(crate) fn claim_participant(
        storage: Box<dyn Storage>,
        role: Role,
        rows: u32,
    ) -> Result<Self, OpenError> {
        let rows = (rows as usize).min(storage.peer_rows().len());
        for row in 0..rows {
            match storage.claim_role(row) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(source) => {
                    return Err(OpenError::Io {
                        name: storage.name().to_owned(),
                        op: "claim participant lock",
                        source,
                    });
                }
            }
            let slot = &storage.peer_rows()[row];
            // The lock was free: the previous holder is gone. If it died
            // counted as a sleeper, its count is ours to take off.
            let inherited = storage
                .sleeper_marks()
                .get(row)
                .filter(|mark| mark.swap(0, Ordering::Relaxed) != 0)
                .and_then(|_| Role::from_code(slot.role.load(Ordering::Relaxed)));
            slot.role.store(role.code(), Ordering::Relaxed);
            // SYNC: peer-state (Release, in update_row: the role is seen
            // with the new generation)
            let started = update_row(&slot.state, |current| {
                (current & !STATE_BITS).wrapping_add(GENERATION) | VACANT
            });
            let generation = match started {
                Ok(next) => next & !STATE_BITS,
                Err(corruption) => {
                    // Give the row back (the heap's claim flag; a lock goes
                    // with the storage).
                    storage.release_role(row);
                    return Err(OpenError::Corrupted {
                        name: storage.name().to_owned(),
                        corruption,
                    });
                }
            };
            let attachment = Self {
                storage,
                role,
                row,
                participant: true,
                marked_by: None,
                generation: Cell::new(generation),
                claimed_in: (crate::sync::current_pid(), forks()),
                paired: false,
                inherited_sleeper: Cell::new(inherited),
                peer_died: Cell::new(false),
            };
            attachment.bump_roster();
            return Ok(attachment);
        }
        Err(OpenError::TooManyParticipants {
            name: storage.name().to_owned(),
            limit: rows as u32,
        })
    }

    /// The storage this endpoint is attached to.
    pub(crate) fn storage(&self) -> &dyn Storage {
        &*self.storage
    }

    /// The row this endpoint holds.
    pub(crate) fn own_row(&self) -> usize {
        self.row
    }

    /// The low 8 bits of this endpoint's generation, as its slot claims
    /// carry them.
    pub(crate) fn claim_generation(&self) -> u32 {
        (self.generation.get() >> 2) & CLAIM_GENERATION_MASK
    }

    /// MPMC, before the endpoint's first claim: moves this row's generation
    /// on (by the fewest steps) to one whose claim generation is not in
    /// `in_use`, the claim generations that slot stamps still name for
    /// this row (claims of earlier, dead holders). So no stale claim can
    /// ever carry this endpoint's row and claim generation, however often
    /// the row was reused. `Err` if all 256 are in use (only forged stamps
    /// do that) or the row's word keeps changing.
    pub(crate) fn renew_generation(&self, in_use: &[bool; 256]) -> Result<(), Corruption> {
        let generation = self.generation.get();
        let Some(steps) = (0..256u32).find(|step| {
            let claim = ((generation >> 2).wrapping_add(*step)) & CLAIM_GENERATION_MASK;
            !in_use[claim as usize]
        }) else {
            return Err(Corruption {
                what: "slot stamps name every claim generation of a row",
                found: self.row as u64,
                limit: 256,
            });
        };
        if steps == 0 {
            return Ok(());
        }
        let renewed = generation.wrapping_add(steps * GENERATION);
        let mut moved = false;
        // SYNC: peer-state (Release, in update_row: as at claim)
        update_row(&self.own().state, |current| {
            if current & !STATE_BITS == generation {
                moved = true;
                renewed | (current & STATE_BITS)
            } else {
                // Not ours any more (a forged word): leave it.
                moved = false;
                current
            }
        })?;
        if !moved {
            return Err(Corruption {
                what: "participant row generation changed under its holder",
                found: self.row as u64,
                limit: 0,
            });
        }
        self.generation.set(renewed);
        self.bump_roster();
        Ok(())
    }

    fn row(&self, role: Role) -> &PeerSlot {
        &self.storage.peer_rows()[role as usize]
    }

    fn own(&self) -> &PeerSlot {
        &self.storage.peer_rows()[self.row]
    }

    /// Tells the other participants that the table changed (MPMC).
    fn bump_roster(&self) {
        if self.participant {
            // SYNC: peer-state (Release: a participant that sees the new
            // roster value re-reads the rows and sees this change)
            self.storage
                .header()
                .ring
                .wake
                .roster
                .fetch_add(1, Ordering::Release);
        }
    }

    /// Marks this as an end of an anonymous pair (see the field).
    pub(crate) fn set_paired(&mut self) {
        self.paired = true;
    }

    /// Whether this is an end of an anonymous pair (or a clone of one).
    pub(crate) fn is_paired(&self) -> bool {
        self.paired
    }

    /// Whether this process is the endpoint's user: it marked the role
    /// attached, or claimed it and has not forked since (so no child can
    /// be using a copy). Only the user's drop may remove the segment's name.
    pub(crate) fn used_here(&self) -> bool {
        self.is_marked() || self.claimed_in == (crate::sync::current_pid(), forks())
    }

    /// Whether this process has marked the role attached.
    #[inline(always)]
    pub(crate) fn is_marked(&self) -> bool {
        self.marked_by == Some(crate::sync::current_pid())
    }

    /// Marks the role attached by this process, with a new generation (a
    /// participant row keeps the one of its claim), and records pid and
    /// start time for display. `Err` (and not marked) if a peer keeps
    /// rewriting the row's state word: the caller poisons the endpoint.
    pub(crate) fn mark_attached(&mut self) -> Result<(), Corruption> {
        let row = self.own();
        let pid = crate::sync::current_pid();
        row.pid.store(pid, Ordering::Relaxed);
        row.start_time
            .store(process_start_time().unwrap_or(0), Ordering::Relaxed);
        let next = if self.participant {
            // Remembered past the row's reuse by the other role (see
            // FLAG_HAD_SENDER). Relaxed: it is read after an Acquire of a
            // row state that this attach's Release heads (SYNC: peer-state).
            self.storage
                .header()
                .flags
                .fetch_or(self.role.had_flag(), Ordering::Relaxed);
            // The row is ours (its lock) and its generation is fixed: one
            // store, whatever the word holds.
            let next = self.generation.get() | ATTACHED;
            // SYNC: peer-state (Release: an attach is seen with the pid row)
            row.state.store(next, Ordering::Release);
            next
        } else {
            // SYNC: peer-state (Release, in update_row: as above)
            update_row(&row.state, |current| {
                (current & !STATE_BITS).wrapping_add(GENERATION) | ATTACHED
            })?
        };
        self.generation.set(next & !STATE_BITS);
        self.marked_by = Some(pid);
        self.bump_roster();
        Ok(())
    }

    /// Marks the role detached if this process attached it, or (a
    /// participant row) if it was never used and is this process's own:
    /// claimed here, with no fork since (a forked child may be using a
    /// copy it inherited, as with the ends of an anonymous pair, which must
    /// then stay attached for it). Returns whether it did (and so whether
    /// the peers should be woken).
    pub(crate) fn mark_detached(&mut self) -> bool {
        if !self.is_marked() {
            return self.participant
                && self.claimed_in == (crate::sync::current_pid(), forks())
                && self.detach_from(self.generation.get() | VACANT);
        }
        self.marked_by = None;
        self.detach_from(self.generation.get() | ATTACHED)
    }

    /// Moves this endpoint's row from `attached` (this endpoint's
    /// generation, attached or not yet) to detached.
    fn detach_from(&self, attached: u32) -> bool {
        // SYNC: peer-state (Release: everything this endpoint published
        // happens-before a peer's Acquire load that sees DETACHED, so the
        // peer drains it all before reporting Disconnected)
        let detached = self
            .own()
            .state
            .compare_exchange(
                attached,
                (attached & !STATE_BITS) | DETACHED,
                Ordering::Release,
                Ordering::Relaxed,
            )
            .is_ok();
        if detached {
            self.bump_roster();
        }
        detached
    }

    /// The peer's state as the segment records it.
    #[inline(always)]
    pub(crate) fn peer_status(&self) -> PeerStatus {
        // SYNC: peer-state (Acquire: pairs with the peer's Release)
        match self.row(self.role.peer()).state.load(Ordering::Acquire) & STATE_BITS {
            ATTACHED => PeerStatus::Attached,
            DETACHED => PeerStatus::Gone,
            // VACANT, or the unused value 3, which only a broken peer writes.
            _ => PeerStatus::NotYet,
        }
    }

    /// A read-only look at this endpoint's peer, for another thread (the
    /// async waiter thread) to run while the endpoint is parked.
    #[cfg(all(feature = "tokio", not(shmlane_loom)))]
    pub(crate) fn peer_probe(&self) -> PeerProbe<'_> {
        PeerProbe {
            storage: &*self.storage,
            peer: self.role.peer() as usize,
            paired: self.paired,
        }
    }

    /// Checks that an attached peer is alive (its role lock is held) and
    /// records it as gone if not. A syscall: call it from slow paths only.
    pub(crate) fn check_peer_alive(&self) {
        let peer = self.role.peer();
        let row = self.row(peer);
        // SYNC: peer-state (Acquire: as in peer_status)
        let seen = row.state.load(Ordering::Acquire);
        if lock_decides(seen, self.paired) {
            self.detach_if_dead(peer as usize, seen);
        }
    }

    /// Records row `row`, whose state word read `seen`, as detached if
    /// nobody holds its lock. An error (no lock support) is taken as
    /// "alive": never declare a peer dead without evidence.
    /// Marks row `row` detached if its lock is free and its state is still
    /// `seen`; whether it did.
    fn detach_if_dead(&self, row: usize, seen: u32) -> bool {
        if let Ok(false) = self.storage.role_is_held(row) {
            // A replacement that attached meanwhile changed the generation
            // (or the state), and then this does nothing.
            let marked = self.storage.peer_rows()[row].state.compare_exchange(
                seen,
                (seen & !STATE_BITS) | DETACHED,
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
            if marked.is_ok() {
                if !self.participant && row == self.role.peer() as usize {
                    self.peer_died.set(true);
                }
                self.bump_roster();
                return true;
            }
        }
        false
    }

    /// The role whose sleeper count the previous holder of this row left
    /// raised when it died (see the field), once.
    pub(crate) fn take_inherited_sleeper(&self) -> Option<Role> {
        self.inherited_sleeper.take()
    }

    /// MPMC: where this endpoint records that it is counted as a sleeper
    /// (its row's mark, with its generation); `None` for one-to-one rings,
    /// whose replacement clears the word instead.
    pub(crate) fn sleeper_mark(&self) -> Option<SleeperMark<'_>> {
        if !self.participant {
            return None;
        }
        let flag = self.storage.sleeper_marks().get(self.row)?;
        Some(SleeperMark {
            flag,
            value: mark_value(self.generation.get()),
        })
    }

    /// Whether this endpoint found its peer dead rather than detached (a
    /// one-to-one ring: the peer's death is only ever judged by this end).
    pub(crate) fn peer_died(&self) -> bool {
        self.peer_died.get()
    }

    /// MPMC: what the participant rows say about the holders of `role`
    /// (no syscall): `Attached` if any row of that role is attached or
    /// claimed, `Gone` if every such row is detached, `NotYet` if there is
    /// none.
    pub(crate) fn role_status(&self, role: Role) -> PeerStatus {
        let mut gone = false;
        for row in self.storage.peer_rows() {
            if row.role.load(Ordering::Relaxed) != role.code() {
                continue;
            }
            // SYNC: peer-state (Acquire: as in peer_status)
            match row.state.load(Ordering::Acquire) & STATE_BITS {
                DETACHED => gone = true,
                // Attached, or claimed and not yet used (or the unused
                // value 3): a holder that may still send or receive.
                _ => return PeerStatus::Attached,
            }
        }
        let had = self.storage.header().flags.load(Ordering::Relaxed) & role.had_flag() != 0;
        if gone || had {
            PeerStatus::Gone
        } else {
            PeerStatus::NotYet
        }
    }

    /// MPMC: records as detached every row of `role` whose lock nobody
    /// holds (its endpoint died, or was dropped unused). Syscalls: call it
    /// from slow paths only.
    ///
    /// Returns how many of them died counted as sleepers on `role`'s wake
    /// word (their marks, now taken): the caller takes that many off it.
    pub(crate) fn check_role_alive(&self, role: Role) -> u32 {
        let mut sleepers = 0;
        for (row, slot) in self.storage.peer_rows().iter().enumerate() {
            if row == self.row || slot.role.load(Ordering::Relaxed) != role.code() {
                continue;
            }
            // SYNC: peer-state (Acquire: as in peer_status)
            let seen = slot.state.load(Ordering::Acquire);
            if seen & STATE_BITS != DETACHED && self.detach_if_dead(row, seen) {
                // Only the mark of the generation found dead: a new holder
                // of the row has taken it already, or has one of its own.
                let taken = self.storage.sleeper_marks().get(row).is_some_and(|mark| {
                    mark.compare_exchange(mark_value(seen), 0, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                });
                sleepers += u32::from(taken);
            }
        }
        sleepers
    }

    /// MPMC: whether the endpoint that claimed a slot, stamped with row
    /// `row` and claim generation `generation`, can still finish with it:
    /// the row has not changed hands since, its holder has not detached,
    /// and its lock is held (a syscall, made only if the rest says alive).
    /// This endpoint's own row (which a forked copy of it shares) is alive
    /// for the claims of its own generation.
    pub(crate) fn claimant_alive(&self, row: usize, generation: u32) -> bool {
        let Some(slot) = self.storage.peer_rows().get(row) else {
            return false;
        };
        // SYNC: peer-state (Acquire: a detach is seen with what the
        // endpoint did before it)
        let seen = slot.state.load(Ordering::Acquire);
        if (seen >> 2) & CLAIM_GENERATION_MASK != generation {
            return false;
        }
        if row == self.row {
            return true;
        }
        seen & STATE_BITS != DETACHED && !matches!(self.storage.role_is_held(row), Ok(false))
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        self.storage.release_role(self.row);
    }
}

/// This process's start time in clock ticks since boot (field 22 of
/// /proc/self/stat), which with the pid identifies a process for display.
fn process_start_time() -> io::Result<u64> {
    if cfg!(miri) {
        // Miri warns that /proc bypasses its abstract machine; the value is
        // for display only.
        return Err(io::ErrorKind::Unsupported.into());
    }
    // Read into a stack buffer: endpoints attach lazily on their first push
    // or pop, which must not allocate.
    use std::io::Read;
    let mut buffer = [0u8; 1024];
    let mut file = std::fs::File::open("/proc/self/stat")?;
    let mut len = 0;
    while len < buffer.len() {
        match file.read(&mut buffer[len..])? {
            0 => break,
            n => len += n,
        }
    }
    let stat = &buffer[..len];
    // The command name (field 2) may hold spaces and parentheses: fields are
    // counted after its closing parenthesis, which ends field 2.
    let after_name = stat
        .iter()
        .rposition(|&b| b == b')')
        .map_or(&[][..], |end| &stat[end + 1..]);
    let field = after_name
        .split(|b| b.is_ascii_whitespace())
        .filter(|field| !field.is_empty())
        .nth(22 - 3);
    field
        .and_then(|f| std::str::from_utf8(f).ok())
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unparsable /proc/self/stat"))
}

#[cfg(all(test, not(miri), not(shmlane_loom)))]
mod tests {
    #[test]
    fn start_time_is_read_from_proc() {
        let t = super::process_start_time().expect("/proc/self/stat");
        assert!(t > 0);
    }
}

#[cfg(all(test, not(miri), not(shmlane_loom)))]
mod row_tests {
    use super::{ROW_UPDATE_ATTEMPTS, update_row};
    use crate::sync::{AtomicU32, Ordering};

    /// Issue 14, defect 7: a peer that rewrites the state word between
    /// every load and compare-exchange (here: inside `next`, which runs
    /// between them) cannot keep the update looping: it gives up with a
    /// corruption after a fixed number of attempts.
    #[test]
    fn a_row_word_rewritten_all_the_time_gives_up_after_bounded_attempts() {
        let word = AtomicU32::new(0);
        let mut attempts = 0;
        let result = update_row(&word, |current| {
            attempts += 1;
            word.fetch_add(4, Ordering::Relaxed); // the hostile peer
            current + 1
        });
        let corruption = result.unwrap_err();
        assert_eq!(attempts, ROW_UPDATE_ATTEMPTS);
        assert!(corruption.what.contains("keeps changing"), "{corruption:?}");
        // An honest word is updated at the first attempt.
        assert_eq!(update_row(&word, |current| current | 1), Ok(4 * 64 + 1));
    }
}
