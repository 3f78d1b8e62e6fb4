//! Busy waiting with a watchdog, used by every wait of every case.
//!
//! The busy cases spin (no syscalls, no sleeping) because that is what they
//! measure. A spin must still end: when the peer has ended, or has made no
//! progress for [`STALL`], the wait fails instead of hanging the command.
//!
//! The blocking cases sleep in the kernel instead and cannot look at a
//! watch while asleep: there a peer that fails wakes its waiter on the way
//! out (a shmlane endpoint's Drop, or the case's own exit guard).

use std::time::{Duration, Instant};

use super::error::BenchError;

/// How long a wait may see no progress before the case is aborted.
pub const STALL: Duration = Duration::from_secs(10);

/// Spins between two looks at the clock and at the peer: reading the clock
/// on every spin would cost more than the round trips being measured.
const CHECK_EVERY: u32 = 1 << 12;

/// What a waiting side knows about its peer: a way to ask whether it has
/// ended for good. Only called on the slow path, every [`CHECK_EVERY`]
/// spins.
#[derive(Clone, Copy)]
pub struct Watch<'a> {
    peer_gone: &'a dyn Fn() -> bool,
}

impl<'a> Watch<'a> {
    pub fn new(peer_gone: &'a dyn Fn() -> bool) -> Self {
        Self { peer_gone }
    }

    /// Spins until `ready` returns `Some`, `Err` from `ready` aborting at
    /// once. Fails when the peer is gone or nothing was ready for
    /// [`STALL`]; `what` names the wait in that error.
    #[inline(always)]
    pub fn until<T>(
        &self,
        what: &'static str,
        mut ready: impl FnMut() -> Result<Option<T>, BenchError>,
    ) -> Result<T, BenchError> {
        let mut spins: u32 = 0;
        let mut since: Option<Instant> = None;
        loop {
            if let Some(v) = ready()? {
                return Ok(v);
            }
            core::hint::spin_loop();
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(CHECK_EVERY)
                && let Err(e) = self.check(what, &mut since)
            {
                // The peer may have done its last step just before it
                // ended (seen ended means its writes are visible now):
                // look once more before failing.
                return ready()?.ok_or(e);
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn check(&self, what: &'static str, since: &mut Option<Instant>) -> Result<(), BenchError> {
        let now = Instant::now();
        let since = *since.get_or_insert(now);
        if (self.peer_gone)() {
            return Err(BenchError::PeerGone { what });
        }
        if now - since >= STALL {
            return Err(BenchError::Stalled {
                what,
                secs: STALL.as_secs(),
            });
        }
        Ok(())
    }
}
