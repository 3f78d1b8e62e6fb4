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
use crate::segment::Storage;
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
}

/// An endpoint's hold on a segment: the storage and the claimed role, given
/// up on drop.
pub(crate) struct Attachment {
    storage: Box<dyn Storage>,
    role: Role,
}

impl Attachment {
    /// Claims `role` in `storage`, or says who has it.
    pub(crate) fn claim(storage: Box<dyn Storage>, role: Role) -> Result<Self, OpenError> {
        match storage.claim_role(role as usize) {
            Ok(true) => {}
            Ok(false) => {
                return Err(OpenError::RoleTaken {
                    name: storage.name().to_owned(),
                    role: role.name(),
                });
            }
            Err(source) => {
                return Err(OpenError::Io {
                    name: storage.name().to_owned(),
                    op: "claim role lock",
                    source,
                });
            }
        }
        let row = &storage.header().peers[role as usize];
        row.pid.store(std::process::id(), Ordering::Relaxed);
        row.start_time
            .store(process_start_time().unwrap_or(0), Ordering::Relaxed);
        Ok(Self { storage, role })
    }

    /// The storage this endpoint is attached to.
    pub(crate) fn storage(&self) -> &dyn Storage {
        &*self.storage
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
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // The command name (field 2) may hold spaces and parentheses: fields are
    // counted after its closing parenthesis, which is field 3's start - 2.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    after_name
        .split_whitespace()
        .nth(22 - 3)
        .and_then(|field| field.parse().ok())
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
