//! The error of [`Shared::lock`](super::Shared::lock) and its forms.

use std::fmt;

/// Why a lock call did not return a clean guard. `G` is the guard
/// ([`SharedGuard`](super::SharedGuard)).
///
/// [`OwnerDied`](Self::OwnerDied) is not a failure: the lock *is* held,
/// through the guard inside, as `EOWNERDEAD` leaves a robust pthread mutex
/// locked. The data may be half-updated by the holder that died; repair
/// it, then call [`mark_consistent`](super::SharedGuard::mark_consistent),
/// or every later lock is told again.
pub enum LockError<G> {
    /// The previous holder died holding the lock (or a holder since
    /// released it without marking the data consistent): the lock is
    /// yours, in the guard.
    OwnerDied(G),
    /// `try_lock`: another holder has it.
    WouldBlock,
    /// `lock_timeout`: not acquired within the timeout.
    Timeout,
    /// The handle was opened in another process (this is a child forked
    /// after the open): its holds would be the parent's. Open the segment
    /// again in this process.
    OtherProcess,
}

impl<G> LockError<G> {
    /// The guard of an [`OwnerDied`](Self::OwnerDied), if this is one.
    pub fn into_guard(self) -> Option<G> {
        match self {
            Self::OwnerDied(guard) => Some(guard),
            _ => None,
        }
    }

    fn text(&self) -> &'static str {
        match self {
            Self::OwnerDied(_) => {
                "the previous holder of the lock died holding it: the lock is held now, the data may be half-updated (repair it, then call mark_consistent on the guard)"
            }
            Self::WouldBlock => "the lock is held by another holder",
            Self::Timeout => "timed out waiting for the lock",
            Self::OtherProcess => {
                "this Shared handle was opened in another process (a forked child must open the segment again)"
            }
        }
    }
}

impl<G> fmt::Debug for LockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::OwnerDied(_) => "OwnerDied(..)",
            Self::WouldBlock => "WouldBlock",
            Self::Timeout => "Timeout",
            Self::OtherProcess => "OtherProcess",
        };
        f.write_str(name)
    }
}

impl<G> fmt::Display for LockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

impl<G> std::error::Error for LockError<G> {}
