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

use std::io;

use crate::error::OpenError;
use crate::segment::{PeerSlot, Storage};
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

    /// The storage this endpoint is attached to.
    pub(crate) fn storage(&self) -> &dyn Storage {
        &*self.storage
    }

    fn row(&self, role: Role) -> &PeerSlot {
        &self.storage.header().peers[role as usize]
    }

    /// Marks this as an end of an anonymous pair (see the field).
    pub(crate) fn set_paired(&mut self) {
        self.paired = true;
    }

    /// Whether this process has marked the role attached.
    #[inline(always)]
    pub(crate) fn is_marked(&self) -> bool {
        self.marked_by == Some(crate::sync::current_pid())
    }

    /// Marks the role attached by this process, with a new generation, and
    /// records pid and start time for display.
    pub(crate) fn mark_attached(&mut self) {
        let row = self.row(self.role);
        let pid = crate::sync::current_pid();
        row.pid.store(pid, Ordering::Relaxed);
        row.start_time
            .store(process_start_time().unwrap_or(0), Ordering::Relaxed);
        let mut current = row.state.load(Ordering::Relaxed);
        loop {
            let next = (current & !STATE_BITS).wrapping_add(GENERATION) | ATTACHED;
            // SYNC: peer-state (Release: an attach is seen with the pid row)
            match row
                .state
                .compare_exchange(current, next, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => {
                    self.generation = next & !STATE_BITS;
                    self.marked_by = Some(pid);
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
        self.row(self.role)
            .state
            .compare_exchange(
                attached,
                self.generation | DETACHED,
                Ordering::Release,
                Ordering::Relaxed,
            )
            .is_ok()
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
        // An error (no lock support) is taken as "alive": never declare a
        // peer dead without evidence.
        if let Ok(false) = self.storage.role_is_held(peer as usize) {
            // A replacement that attached meanwhile changed the generation,
            // and then this does nothing.
            let _ = row.state.compare_exchange(
                seen,
                (seen & !STATE_BITS) | DETACHED,
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        self.storage.release_role(self.role as usize);
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
