//! The errors of [`sysvsem`](super), one enum per operation family:
//! getting a set ([`SetOpenError`]), P/V and `semop` ([`SemOpError`]),
//! reading, setting and removing ([`SetCtlError`]).

use std::io;

/// Why a semaphore set could not be created or opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetOpenError {
    /// `create` found a set with this key already.
    #[error(
        "a System V semaphore set with key {key:#x} already exists (open it, or remove it with `ipcrm -S {key:#x}`)"
    )]
    AlreadyExists {
        /// The key.
        key: i32,
    },
    /// `open` found no set with this key.
    #[error("no System V semaphore set has key {key:#x} (is its creator running?)")]
    NotFound {
        /// The key.
        key: i32,
    },
    /// The set's mode does not let this user use it.
    #[error("no permission to use the System V semaphore set with key {key:#x}: {source}")]
    Permission {
        /// The key.
        key: i32,
        /// The OS error.
        source: io::Error,
    },
    /// The system's limit on semaphore sets (SEMMNI) or on semaphores
    /// (SEMMNS) is reached.
    #[error(
        "no room for another System V semaphore set (key {key:#x}): {source}; remove unused sets (`ipcs -s`) or raise kernel.sem"
    )]
    NoSpace {
        /// The key.
        key: i32,
        /// The OS error.
        source: io::Error,
    },
    /// `open` waited its timeout and the set's creator had still not set
    /// its values (no `semop` has touched it yet).
    #[error(
        "the System V semaphore set with key {key:#x} was not initialised within {waited_ms} ms (is its creator stuck?)"
    )]
    NotReady {
        /// The key.
        key: i32,
        /// How long `open` waited.
        waited_ms: u64,
    },
    /// A size, value or mode out of range.
    #[error("invalid semaphore set configuration: {0}")]
    InvalidConfig(String),
    /// Any other OS error.
    #[error("{op} of the System V semaphore set with key {key:#x} failed: {source}")]
    Io {
        /// The key.
        key: i32,
        /// What was attempted.
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
}

/// Why a P, V or combined `semop` did not happen. None of its changes
/// were made: a `semop` applies all of its operations or none.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SemOpError {
    /// A non-blocking call would have had to wait.
    #[error("the semaphore operation would block")]
    WouldBlock,
    /// A timed call waited its whole timeout.
    #[error("timed out waiting on the System V semaphore set")]
    Timeout,
    /// The set was removed (`IPC_RMID`) before or while the call waited.
    #[error("the System V semaphore set was removed")]
    Removed,
    /// A semaphore index beyond the set.
    #[error("semaphore {index} does not exist: the set has {len} (indices 0 to len - 1)")]
    OutOfRange {
        /// The index asked for.
        index: u16,
        /// Semaphores in the set.
        len: u16,
    },
    /// The operation would take a value above the kernel's maximum
    /// (`SEMVMX`, 32767), or an undo adjustment beyond it.
    #[error("the operation would take a semaphore value or its undo adjustment past 32767")]
    Overflow,
    /// More operations in one call than the kernel takes (`SEMOPM`), or an
    /// empty list.
    #[error("{count} operations in one semop: the kernel takes 1 to {limit} (kernel.sem SEMOPM)")]
    TooManyOps {
        /// Operations passed.
        count: usize,
        /// The kernel's limit (as last known; 500 by default).
        limit: usize,
    },
    /// The set's mode does not let this user alter it.
    #[error("no permission to operate on the System V semaphore set: {0}")]
    Permission(io::Error),
    /// Any other OS error.
    #[error("semop failed: {0}")]
    Io(io::Error),
}

/// Why reading, setting or removing a set failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetCtlError {
    /// The set was removed (`IPC_RMID`).
    #[error("the System V semaphore set was removed")]
    Removed,
    /// A semaphore index beyond the set.
    #[error("semaphore {index} does not exist: the set has {len} (indices 0 to len - 1)")]
    OutOfRange {
        /// The index asked for.
        index: u16,
        /// Semaphores in the set.
        len: u16,
    },
    /// A value above the kernel's maximum, or a list of values whose
    /// length is not the set's.
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// Not the owner or creator (removal), or no permission (read, set).
    #[error("no permission on the System V semaphore set: {0}")]
    Permission(io::Error),
    /// Any other OS error.
    #[error("semctl failed: {0}")]
    Io(io::Error),
}
