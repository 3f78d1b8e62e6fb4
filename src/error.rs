//! Error types, one enum per operation family.
//!
//! Errors that refuse a value hand it back (`PushError::Full(v)`), so a
//! caller can retry without cloning. Messages name the segment and say what
//! to do about it.

use std::fmt;
use std::io;

/// What was found wrong in a segment written by a peer.
///
/// Carried by every `Corrupted` variant. `found` is the offending value read
/// from shared memory, `limit` the bound it broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corruption {
    /// Which field or relation is wrong, e.g. `"tail - head exceeds capacity"`.
    pub what: &'static str,
    /// The value read from the segment.
    pub found: u64,
    /// The bound it broke.
    pub limit: u64,
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (found {}, limit {})",
            self.what, self.found, self.limit
        )
    }
}

/// Why a segment could not be created or opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// No segment has this name.
    #[error("shared-memory segment {name:?} does not exist (is the creator running?)")]
    NotFound {
        /// The segment name.
        name: String,
    },
    /// `create` found a segment of this name already.
    #[error(
        "shared-memory segment {name:?} already exists (open it, or remove it with `shmlane gc` / shm_unlink if it is stale)"
    )]
    AlreadyExists {
        /// The segment name.
        name: String,
    },
    /// The segment was made for another type, capacity or layout.
    #[error(
        "segment {name:?} is incompatible: {field} is {found} in the segment, expected {expected}"
    )]
    Incompatible {
        /// The segment name.
        name: String,
        /// Which header field differs (`"type"`, `"capacity"`, `"layout_version"`, ...).
        field: &'static str,
        /// What this endpoint expected.
        expected: String,
        /// What the segment holds.
        found: String,
    },
    /// The OS refused access.
    #[error("no permission to {op} segment {name:?}: {source}")]
    Permission {
        /// The segment name.
        name: String,
        /// What was attempted.
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// Not enough shared memory for the segment: reported at create time, so
    /// that no later access can fault.
    #[error(
        "no space for segment {name:?} ({bytes} bytes): {source}; free /dev/shm or lower the capacity"
    )]
    NoSpace {
        /// The segment name.
        name: String,
        /// The size that was asked for.
        bytes: u64,
        /// The OS error.
        source: io::Error,
    },
    /// The creator did not finish initialising the segment in time.
    #[error("segment {name:?} was not initialised within {waited_ms} ms (creator slow or dead?)")]
    Timeout {
        /// The segment name.
        name: String,
        /// How long open waited.
        waited_ms: u64,
    },
    /// The segment's bytes are not a valid shmlane segment.
    #[error("segment {name:?} is corrupted: {corruption}")]
    Corrupted {
        /// The segment name.
        name: String,
        /// What was wrong.
        corruption: Corruption,
    },
    /// The options are invalid for this kind of segment.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// Another live endpoint already holds this role (one producer and one
    /// consumer per SPSC ring).
    #[error("segment {name:?} already has a live {role}")]
    RoleTaken {
        /// The segment name.
        name: String,
        /// The role that is taken.
        role: &'static str,
    },
    /// Every row of an MPMC ring's participant table is held by a live
    /// endpoint (the limit is set at create, `Options::participants`).
    #[error(
        "segment {name:?} already has {limit} live participants, its limit (drop an endpoint, or create the ring with a higher Options::participants)"
    )]
    TooManyParticipants {
        /// The segment name.
        name: String,
        /// The participant limit of the segment.
        limit: u32,
    },
    /// Any other OS error.
    #[error("{op} of segment {name:?} failed: {source}")]
    Io {
        /// The segment name.
        name: String,
        /// The failing step.
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
}

/// Why a value was not pushed; the value is handed back.
#[derive(PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PushError<T> {
    /// The ring is full.
    #[error("ring is full")]
    Full(T),
    /// A blocking push waited its whole timeout for room.
    #[error("timed out waiting for room in the ring")]
    Timeout(T),
    /// The consumer detached or died; nothing will read this value.
    #[error("the consumer is gone")]
    Disconnected(T),
    /// The segment holds impossible indices; the endpoint cannot continue.
    #[error("ring is corrupted: {1}")]
    Corrupted(T, Corruption),
}

impl<T> PushError<T> {
    /// The value that was not pushed.
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(v) | Self::Timeout(v) | Self::Disconnected(v) | Self::Corrupted(v, _) => v,
        }
    }
}

impl<T> fmt::Debug for PushError<T> {
    // No `T: Debug` bound: the message matters, not the value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Timeout(_) => f.write_str("Timeout(..)"),
            Self::Disconnected(_) => f.write_str("Disconnected(..)"),
            Self::Corrupted(_, c) => write!(f, "Corrupted(.., {c:?})"),
        }
    }
}

/// Why nothing was popped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PopError {
    /// The ring is empty.
    #[error("ring is empty")]
    Empty,
    /// A blocking pop waited its whole timeout for an item.
    #[error("timed out waiting for an item")]
    Timeout,
    /// The producer detached or died and every item it committed has been
    /// received.
    #[error("the producer is gone and the ring is drained")]
    Disconnected,
    /// The segment holds impossible indices; the endpoint cannot continue.
    #[error("ring is corrupted: {0}")]
    Corrupted(Corruption),
}

/// Why no write chunk was handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteChunkError {
    /// No slot is free.
    #[error("ring is full")]
    Full,
    /// A blocking call waited its whole timeout for room.
    #[error("timed out waiting for room in the ring")]
    Timeout,
    /// The consumer detached or died.
    #[error("the consumer is gone")]
    Disconnected,
    /// The segment holds impossible indices; the endpoint cannot continue.
    #[error("ring is corrupted: {0}")]
    Corrupted(Corruption),
}

/// Why a semaphore operation did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SemError {
    /// `try_wait` found the value at 0.
    #[error("semaphore value is 0")]
    WouldBlock,
    /// `wait_timeout` waited its whole timeout.
    #[error("timed out waiting on the semaphore")]
    Timeout,
    /// `post` would take the value past its maximum.
    #[error("semaphore value would exceed its maximum")]
    Overflow,
}
