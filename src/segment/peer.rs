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

use std::io;

use super::{PeerSlot, Storage};
use crate::error::OpenError;
use crate::sync::Ordering;

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
/// The bits of a participant row's generation that its slot claims carry.
pub(crate) const CLAIM_GENERATION_MASK: u32 = 0xff;

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
    /// The generation this endpoint attached with.
    generation: u32,
    /// An end of an anonymous pair: no third endpoint can ever attach, so a
    /// vacant row whose lock nobody holds means the other end is gone (it
    /// was dropped, or died, before its first use).
    paired: bool,
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
                generation: 0,
                paired: false,
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
            slot.role.store(role.code(), Ordering::Relaxed);
            let mut current = slot.state.load(Ordering::Relaxed);
            let generation = loop {
                let next = (current & !STATE_BITS).wrapping_add(GENERATION) | VACANT;
                // SYNC: peer-state (Release: the role is seen with the new
                // generation)
                match slot.state.compare_exchange(
                    current,
                    next,
                    Ordering::Release,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break next & !STATE_BITS,
                    Err(seen) => current = seen,
                }
            };
            let attachment = Self {
                storage,
                role,
                row,
                participant: true,
                marked_by: None,
                generation,
                paired: false,
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
        (self.generation >> 2) & CLAIM_GENERATION_MASK
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

    /// Whether this process has marked the role attached.
    #[inline(always)]
    pub(crate) fn is_marked(&self) -> bool {
        self.marked_by == Some(crate::sync::current_pid())
    }

    /// Marks the role attached by this process, with a new generation (a
    /// participant row keeps the one of its claim), and records pid and
    /// start time for display.
    pub(crate) fn mark_attached(&mut self) {
        let row = self.own();
        let pid = crate::sync::current_pid();
        row.pid.store(pid, Ordering::Relaxed);
        row.start_time
            .store(process_start_time().unwrap_or(0), Ordering::Relaxed);
        let mut current = row.state.load(Ordering::Relaxed);
        loop {
            let next = if self.participant {
                self.generation | ATTACHED
            } else {
                (current & !STATE_BITS).wrapping_add(GENERATION) | ATTACHED
            };
            // SYNC: peer-state (Release: an attach is seen with the pid row)
            match row
                .state
                .compare_exchange(current, next, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => {
                    self.generation = next & !STATE_BITS;
                    self.marked_by = Some(pid);
                    self.bump_roster();
                    return;
                }
                Err(seen) => current = seen,
            }
        }
    }

    /// Marks the role detached if this process attached it. Returns whether
    /// it did (and so whether the peer should be woken).
    pub(crate) fn mark_detached(&mut self) -> bool {
        if !self.is_marked() {
            return false;
        }
        self.marked_by = None;
        let attached = self.generation | ATTACHED;
        // SYNC: peer-state (Release: everything this endpoint published
        // happens-before a peer's Acquire load that sees DETACHED, so the
        // peer drains it all before reporting Disconnected)
        let detached = self
            .own()
            .state
            .compare_exchange(
                attached,
                self.generation | DETACHED,
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

    /// Checks that an attached peer is alive (its role lock is held) and
    /// records it as gone if not. A syscall: call it from slow paths only.
    pub(crate) fn check_peer_alive(&self) {
        let peer = self.role.peer();
        let row = self.row(peer);
        // SYNC: peer-state (Acquire: as in peer_status)
        let seen = row.state.load(Ordering::Acquire);
        let judged = match seen & STATE_BITS {
            ATTACHED => true,
            // A pair's other end that never attached: gone if its lock is.
            VACANT => self.paired,
            _ => false,
        };
        if !judged {
            return;
        }
        self.detach_if_dead(peer as usize, seen);
    }

    /// Records row `row`, whose state word read `seen`, as detached if
    /// nobody holds its lock. An error (no lock support) is taken as
    /// "alive": never declare a peer dead without evidence.
    fn detach_if_dead(&self, row: usize, seen: u32) {
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
                self.bump_roster();
            }
        }
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
        if gone {
            PeerStatus::Gone
        } else {
            PeerStatus::NotYet
        }
    }

    /// MPMC: records as detached every row of `role` whose lock nobody
    /// holds (its endpoint died, or was dropped unused). Syscalls: call it
    /// from slow paths only.
    pub(crate) fn check_role_alive(&self, role: Role) {
        for (row, slot) in self.storage.peer_rows().iter().enumerate() {
            if row == self.row || slot.role.load(Ordering::Relaxed) != role.code() {
                continue;
            }
            // SYNC: peer-state (Acquire: as in peer_status)
            let seen = slot.state.load(Ordering::Acquire);
            if seen & STATE_BITS != DETACHED {
                self.detach_if_dead(row, seen);
            }
        }
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
