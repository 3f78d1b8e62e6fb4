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
    /// `create` found a segment of this name that it may not replace: in
    /// use by a live endpoint (a stale one is replaced), or not a segment
    /// it can judge.
    #[error(
        "shared-memory segment {name:?} already exists{}{} (open it, or use open_or_create)",
        in_use_by(pids),
        if reason.is_empty() { String::new() } else { format!(": {reason}") }
    )]
    AlreadyExists {
        /// The segment name.
        name: String,
        /// The pids of the live endpoints holding it, as far as known.
        pids: Vec<u32>,
        /// Why it was not replaced, if not because it is in use.
        reason: String,
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
    /// `Options::lock_memory`: the segment's pages could not be locked
    /// (`mlock`), usually because they exceed `RLIMIT_MEMLOCK`.
    #[error(
        "cannot lock the {bytes} bytes of segment {name:?} in memory (mlock: {source}); RLIMIT_MEMLOCK allows {limit} (raise it with `ulimit -l` or limits.conf, or give the process CAP_IPC_LOCK)"
    )]
    LockMemory {
        /// The segment name.
        name: String,
        /// Bytes the lock asked for.
        bytes: u64,
        /// `RLIMIT_MEMLOCK` of the process, in words (`N bytes`, or
        /// `unlimited`).
        limit: String,
        /// The OS error.
        source: io::Error,
    },
    /// The segment exists but is not one this process trusts: another
    /// user owns it, or others may write it
    /// ([`Trust`](crate::Trust), [`Options::trust`](crate::Options::trust)).
    /// Nothing was read from or written to it.
    #[error("segment {name:?} is not trusted: {problem}; this process trusts {allowed}; {fix}")]
    Untrusted {
        /// The segment name.
        name: String,
        /// The uid that owns it.
        owner_uid: u32,
        /// Its permission bits.
        mode: u32,
        /// What is wrong with it.
        problem: String,
        /// Whom this process trusts.
        allowed: String,
        /// How to allow it, if it is to be trusted.
        fix: String,
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
///
/// Two words for a word-sized `T` (the rare `Corrupted` case is boxed):
/// small enough to come back from a push, blocking or awaited, in
/// registers. A 48-byte result went through memory, and a busy async
/// producer waited on its own stores for it.
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
    #[error("ring is corrupted: {}", .0.corruption)]
    Corrupted(Box<CorruptedPush<T>>),
}

/// [`PushError::Corrupted`]'s payload: the value that was not pushed and
/// what was found wrong in the segment.
#[derive(Clone, PartialEq, Eq)]
pub struct CorruptedPush<T> {
    /// The value, handed back.
    pub value: T,
    /// What was found wrong.
    pub corruption: Corruption,
}

impl<T> fmt::Debug for CorruptedPush<T> {
    // No `T: Debug` bound, as for `PushError`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CorruptedPush")
            .field("corruption", &self.corruption)
            .finish_non_exhaustive()
    }
}

impl<T> PushError<T> {
    /// The value that was not pushed.
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(v) | Self::Timeout(v) | Self::Disconnected(v) => v,
            Self::Corrupted(refused) => refused.value,
        }
    }

    /// What was found wrong, for [`Corrupted`](Self::Corrupted).
    pub fn corruption(&self) -> Option<&Corruption> {
        match self {
            Self::Corrupted(refused) => Some(&refused.corruption),
            _ => None,
        }
    }

    /// `Corrupted`, boxing its payload (cold: only a corrupted ring builds one).
    #[cold]
    pub(crate) fn corrupted(value: T, corruption: Corruption) -> Self {
        Self::Corrupted(Box::new(CorruptedPush { value, corruption }))
    }

    /// The same refusal without its value (the raw endpoints: the caller
    /// still holds the record it passed).
    #[cfg(not(shmlane_loom))]
    pub(crate) fn without_value(self) -> PushError<()> {
        match self {
            Self::Full(_) => PushError::Full(()),
            Self::Timeout(_) => PushError::Timeout(()),
            Self::Disconnected(_) => PushError::Disconnected(()),
            Self::Corrupted(refused) => PushError::corrupted((), refused.corruption),
        }
    }
}

/// Why a raw endpoint's call (`spsc::RawProducer::push`, ...) did nothing:
/// a record or buffer of the wrong size, or the ring's own refusal `E`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError<E> {
    /// The record or buffer is not exactly one slot long.
    #[error(
        "a {given}-byte record or buffer for a ring of {slot_size}-byte slots: pass exactly one slot's bytes"
    )]
    WrongSize {
        /// Bytes passed.
        given: usize,
        /// The ring's slot size.
        slot_size: usize,
    },
    /// The ring refused (full, empty, timeout, disconnected, corrupted).
    #[error(transparent)]
    Ring(#[from] E),
}

impl<T> fmt::Debug for PushError<T> {
    // No `T: Debug` bound: the message matters, not the value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Timeout(_) => f.write_str("Timeout(..)"),
            Self::Disconnected(_) => f.write_str("Disconnected(..)"),
            Self::Corrupted(refused) => write!(f, "Corrupted(.., {:?})", refused.corruption),
        }
    }
}

/// Why nothing was popped.
///
/// Two words (the rare `Corrupted` case is boxed), so that a pop's
/// `Result<T, PopError>` of a word-sized `T` is two words too and comes
/// back in registers (see [`PushError`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
    Corrupted(Box<Corruption>),
}

impl PopError {
    /// `Corrupted`, boxing what was found (cold: only a corrupted ring
    /// builds one).
    #[cold]
    pub(crate) fn corrupted(corruption: Corruption) -> Self {
        Self::Corrupted(Box::new(corruption))
    }
}

/// Why no room was reserved to write in place: an SPSC
/// [`write_chunk`](crate::spsc::Producer::write_chunk) or an MPMC
/// [`reserve`](crate::mpmc::Sender::reserve) (and their blocking forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReserveError {
    /// No slot is free.
    #[error("ring is full")]
    Full,
    /// A blocking call waited its whole timeout for room.
    #[error("timed out waiting for room in the ring")]
    Timeout,
    /// The consumer (every receiver, for MPMC) detached or died.
    #[error("the consumer is gone")]
    Disconnected,
    /// The segment holds impossible indices; the endpoint cannot continue.
    #[error("ring is corrupted: {0}")]
    Corrupted(Corruption),
}

/// Why a byte ring producer could not grant or send a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GrantError {
    /// The frame is longer than the ring's max frame (set at create).
    #[error("frame of {len} bytes exceeds the ring's max frame of {max} bytes")]
    FrameTooLarge {
        /// The length asked for.
        len: usize,
        /// The ring's max frame.
        max: usize,
    },
    /// The ring has no room for the frame (policies `Block`, non-blocking
    /// calls, and `Fail`); nothing was consumed.
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

/// Errors of [`crate::transport`], re-exported there: opening a channel
/// ([`ConnectError`](transport::ConnectError)), sending
/// ([`SendError`](transport::SendError)) and receiving
/// ([`RecvError`](transport::RecvError)) a message. A module of their own
/// so the short names cannot clash with the rings' errors.
#[cfg(not(shmlane_loom))]
pub mod transport {
    use std::io;
    use std::sync::Arc;

    use super::Corruption;

    /// Why a channel could not be opened, connected, listened on or
    /// accepted. `endpoint` names the mechanism and the object, as a URL
    /// (`fifo:///tmp/test`, `mq:///jobs`, `tcp://127.0.0.1:5000`).
    #[derive(Debug, thiserror::Error)]
    #[non_exhaustive]
    pub enum ConnectError {
        /// The URL cannot be parsed, names an unknown scheme or option, or
        /// gives an option a value it cannot take.
        #[error("invalid transport URL {url:?}: {reason}")]
        InvalidUrl {
            /// The URL as given.
            url: String,
            /// What is wrong with it.
            reason: String,
        },
        /// An option does not apply to this mechanism, or its value is out
        /// of the mechanism's range.
        #[error("invalid configuration for {endpoint}: {reason}")]
        InvalidConfig {
            /// The channel.
            endpoint: String,
            /// What is wrong.
            reason: String,
        },
        /// The object's name is not one the mechanism accepts (an mq name
        /// without a leading slash, a System V key of 0, ...).
        #[error("{endpoint}: invalid name: {reason}")]
        InvalidName {
            /// The channel.
            endpoint: String,
            /// Why the name is refused and what to write instead.
            reason: String,
        },
        /// A Unix socket path longer than `sockaddr_un` can hold.
        #[error(
            "{endpoint}: socket path is {len} bytes, the kernel takes at most {max}; use a shorter path (e.g. under /tmp or relative to the working directory)"
        )]
        PathTooLong {
            /// The channel.
            endpoint: String,
            /// Length of the path in bytes.
            len: usize,
            /// The longest path a Unix socket address holds.
            max: usize,
        },
        /// The path exists but is another kind of file than the mechanism
        /// needs (a regular file where a FIFO should be, ...).
        #[error(
            "{endpoint}: the path exists and is a {found}, not a {expected}; remove it or choose another path"
        )]
        WrongFileType {
            /// The channel.
            endpoint: String,
            /// What the mechanism needs.
            expected: &'static str,
            /// What is there.
            found: &'static str,
        },
        /// Nothing exists under this name (no socket at the path, no queue
        /// with the key) and this end does not create one.
        #[error("{endpoint} does not exist (is the other side running?): {source}")]
        NotFound {
            /// The channel.
            endpoint: String,
            /// The OS error.
            source: io::Error,
        },
        /// Nobody listens at the address.
        #[error(
            "{endpoint} refused the connection (is a listener running? add ?timeout_ms=N to wait for one): {source}"
        )]
        Refused {
            /// The channel.
            endpoint: String,
            /// The OS error.
            source: io::Error,
        },
        /// The host cannot be resolved or reached.
        #[error("{endpoint} is unreachable: {source}")]
        Unreachable {
            /// The channel.
            endpoint: String,
            /// The OS or resolver error.
            source: io::Error,
        },
        /// Another listener already holds the address.
        #[error("{endpoint} is already in use by another listener: {source}")]
        AddrInUse {
            /// The channel.
            endpoint: String,
            /// The OS error.
            source: io::Error,
        },
        /// Another sender holds this FIFO, and messages of this end's
        /// maximum (or the other's) could interleave with the other's: a
        /// pipe write is atomic only up to `PIPE_BUF` bytes.
        #[error(
            "{endpoint}: another sender has this FIFO open, and frames above PIPE_BUF ({pipe_buf} bytes) from two writers can interleave; open every sender with ?max={shared_max} (or less) to share the FIFO, or use one sender at a time"
        )]
        SenderTaken {
            /// The channel.
            endpoint: String,
            /// `PIPE_BUF`: the largest write the kernel keeps whole.
            pipe_buf: usize,
            /// The largest message whose frame fits in `PIPE_BUF` with
            /// this framing.
            shared_max: usize,
        },
        /// `shm://` has one sender and one receiver: that role is held by
        /// a live process.
        #[error(
            "{endpoint}: another process holds the {role} end (shm:// has one of each); wait for it to close, or use mq:// for several senders"
        )]
        RoleTaken {
            /// The channel.
            endpoint: String,
            /// `"sending"` or `"receiving"`.
            role: &'static str,
        },
        /// No room for the object (a full `/dev/shm` for an `shm://`
        /// segment), found when it is made, not later.
        #[error(
            "{endpoint}: no space for {bytes} bytes: {source}; free /dev/shm or lower ?capacity= / ?max="
        )]
        NoSpace {
            /// The channel.
            endpoint: String,
            /// The size asked for.
            bytes: u64,
            /// The OS error.
            source: io::Error,
        },
        /// The object's contents are not what this mechanism writes (a
        /// segment that is not a valid ring).
        #[error("{endpoint} is corrupted: {corruption}; remove it (shmlane gc) and open again")]
        Corrupted {
            /// The channel.
            endpoint: String,
            /// What was wrong.
            corruption: Corruption,
        },
        /// The object was being made by another process at the same moment
        /// and could be neither made nor opened.
        #[error(
            "{endpoint} was made by another process at the same moment and is not ready; try again"
        )]
        AlreadyExists {
            /// The channel.
            endpoint: String,
        },
        /// The queue can hold smaller messages than this end's maximum
        /// message size: a message of the maximum size could never be
        /// delivered.
        #[error(
            "{endpoint}: the queue holds messages of at most {msgsize} bytes, below the maximum message size {max}; lower ?max= or recreate the queue"
        )]
        QueueTooSmall {
            /// The channel.
            endpoint: String,
            /// The largest message the existing queue takes.
            msgsize: usize,
            /// This end's maximum message size.
            max: usize,
        },
        /// The existing object was made with other settings than this end
        /// asks for.
        #[error("{endpoint} is incompatible: {field} is {found}, expected {expected}")]
        Incompatible {
            /// The channel.
            endpoint: String,
            /// Which setting differs.
            field: &'static str,
            /// What this end asked for.
            expected: String,
            /// What the object has.
            found: String,
        },
        /// The OS refused access.
        #[error("no permission to {op} {endpoint}: {source}")]
        Permission {
            /// The channel.
            endpoint: String,
            /// What was attempted.
            op: &'static str,
            /// The OS error.
            source: io::Error,
        },
        /// The other side did not show up in time (no FIFO reader, no
        /// listener, no connection to accept).
        #[error("{endpoint}: timed out after {waited_ms} ms {what}")]
        Timeout {
            /// The channel.
            endpoint: String,
            /// What this end waited for.
            what: &'static str,
            /// How long it waited.
            waited_ms: u64,
        },
        /// The mechanism cannot do what was asked (a one-way FIFO cannot
        /// `connect` for both directions, ...).
        #[error("{endpoint}: {reason}")]
        Unsupported {
            /// The channel.
            endpoint: String,
            /// What it cannot do and what to use instead.
            reason: String,
        },
        /// The object exists but is not one this end trusts: another user
        /// owns or created it, others may write it, or it is a symbolic
        /// link (`?owner=` / `?group=`, `Config::trust`). Nothing was read
        /// from or written to it.
        #[error("{endpoint} is not trusted: {problem}; this process trusts {allowed}; {fix}")]
        Untrusted {
            /// The channel.
            endpoint: String,
            /// The uid that owns it.
            owner_uid: u32,
            /// Its permission bits.
            mode: u32,
            /// What is wrong with it.
            problem: String,
            /// Whom this end trusts.
            allowed: String,
            /// How to allow it, if it is to be trusted.
            fix: String,
        },
        /// A connecting peer's credentials (`SO_PEERCRED`) are not the ones
        /// the listener requires (`?peer_uid=`); the connection was closed.
        #[error(
            "{endpoint}: a peer of uid {found_uid} (pid {pid}) connected, but only uid {expected_uid} may (?peer_uid=); its connection was closed"
        )]
        PeerRefused {
            /// The channel.
            endpoint: String,
            /// The uid the listener requires.
            expected_uid: u32,
            /// The peer's uid.
            found_uid: u32,
            /// The peer's pid.
            pid: i32,
        },
        /// Any other OS error.
        #[error("{op} of {endpoint} failed: {source}")]
        Io {
            /// The channel.
            endpoint: String,
            /// The failing step.
            op: &'static str,
            /// The OS error.
            source: io::Error,
        },
    }

    /// Why a message was not sent. Nothing of it reached the channel unless
    /// the variant says otherwise.
    #[derive(Debug, thiserror::Error)]
    #[non_exhaustive]
    pub enum SendError {
        /// The message is longer than the channel's maximum message size.
        #[error(
            "message of {len} bytes exceeds the maximum message size {max} of {endpoint} (raise ?max= on both ends)"
        )]
        MessageTooLarge {
            /// Length of the message.
            len: usize,
            /// The channel's maximum.
            max: usize,
            /// The channel.
            endpoint: Arc<str>,
        },
        /// The channel cannot carry this message as it is (a newline in a
        /// `framing=lines` message, a reserved priority or type).
        #[error("{endpoint} cannot carry this message: {reason}")]
        InvalidMessage {
            /// The channel.
            endpoint: Arc<str>,
            /// Why, and what to do instead.
            reason: String,
        },
        /// A timed or non-blocking send on a byte stream ran out of time
        /// after the kernel took part of this message's frame. The message
        /// is accepted: the sender keeps the rest and writes it first with
        /// the next send, `flush` or `close`. Do not send it again; call
        /// `flush` (or `close`) to learn whether it reached the channel.
        #[error(
            "{endpoint}: the time ran out with {written} of this message's {len} frame bytes handed to the kernel; the rest is kept and goes first with the next send, flush or close (call flush to finish it; do not send the message again)"
        )]
        Incomplete {
            /// The channel.
            endpoint: Arc<str>,
            /// Bytes of the frame (prefix or newline included) written.
            written: usize,
            /// Bytes of the whole frame.
            len: usize,
        },
        /// This end was closed (`close` succeeded): it sends nothing more.
        #[error("{endpoint}: this sender was closed; open a new one to send more")]
        Closed {
            /// The channel.
            endpoint: Arc<str>,
        },
        /// The channel's shared state broke its invariants (a ring a peer
        /// wrote garbage into): this end sends nothing more.
        #[error("{endpoint} is corrupted: {corruption}; nothing more can be sent on it")]
        Corrupted {
            /// The channel.
            endpoint: Arc<str>,
            /// What was wrong.
            corruption: Corruption,
        },
        /// `try_send` found no room.
        #[error("no room in the channel")]
        Full,
        /// A timed send waited its whole timeout for room.
        #[error("timed out waiting for room in the channel")]
        Timeout,
        /// The peer stopped answering (`ETIMEDOUT`, `EHOSTUNREACH`): sent
        /// data or keepalive probes went unacknowledged for the user
        /// timeout (`tcp://?user_timeout_ms=`). This message and earlier
        /// ones may not have arrived; the connection is over.
        #[error(
            "{endpoint}: the peer stopped answering ({source}); this message and earlier ones may not have arrived: reconnect and resend from the last one acknowledged"
        )]
        PeerLost {
            /// The channel.
            endpoint: Arc<str>,
            /// The OS error.
            source: io::Error,
        },
        /// The receiving side is gone; nothing will read this message.
        #[error("the receiver of {endpoint} is gone")]
        Disconnected {
            /// The channel.
            endpoint: Arc<str>,
        },
        /// Any other OS error.
        #[error("{op} on {endpoint} failed: {source}")]
        Io {
            /// The channel.
            endpoint: Arc<str>,
            /// The failing call.
            op: &'static str,
            /// The OS error.
            source: io::Error,
        },
    }

    impl SendError {
        /// `MessageTooLarge` if a message of `len` bytes exceeds `max`: the
        /// check every adapter makes before anything reaches its channel.
        pub(crate) fn check_len(len: usize, max: usize, endpoint: &Arc<str>) -> Result<(), Self> {
            if len > max {
                return Err(Self::MessageTooLarge {
                    len,
                    max,
                    endpoint: endpoint.clone(),
                });
            }
            Ok(())
        }
    }

    /// Why no message was received.
    #[derive(Debug, thiserror::Error)]
    #[non_exhaustive]
    pub enum RecvError {
        /// `try_recv` found no message.
        #[error("no message in the channel")]
        Empty,
        /// A timed receive waited its whole timeout.
        #[error("timed out waiting for a message")]
        Timeout,
        /// The sending side is gone and every message it sent has been
        /// received.
        #[error("the sender of {endpoint} is gone and everything it sent was received")]
        Disconnected {
            /// The channel.
            endpoint: Arc<str>,
        },
        /// A message longer than this end's maximum arrived on a channel
        /// that keeps boundaries itself (queue, seqpacket); it was
        /// consumed and dropped, and the channel goes on.
        #[error(
            "a message of {len} bytes arrived on {endpoint}, above the maximum message size {max}; it was dropped (raise ?max= on this end)"
        )]
        MessageTooLarge {
            /// Length of the message (for `sysvmq://`, which truncates in
            /// the kernel: at least this).
            len: usize,
            /// This end's maximum.
            max: usize,
            /// The channel.
            endpoint: Arc<str>,
        },
        /// The peer stopped answering (`ETIMEDOUT`, `EHOSTUNREACH`): its
        /// host vanished or the network between broke, and keepalive
        /// probes or sent data went unanswered for the user timeout
        /// (`tcp://?keepalive_s=`, `?user_timeout_ms=`). Messages it sent
        /// may have been lost; the connection is over.
        #[error(
            "{endpoint}: the peer stopped answering ({source}); the connection is over and messages it sent may have been lost: reconnect and resend from the last one acknowledged (tune how soon this is noticed with ?keepalive_s= and ?user_timeout_ms=)"
        )]
        PeerLost {
            /// The channel.
            endpoint: Arc<str>,
            /// The OS error.
            source: io::Error,
        },
        /// The peer reset the connection (`ECONNRESET`): not a clean end
        /// of stream; messages it sent may have been lost.
        #[error(
            "{endpoint}: the peer reset the connection; messages it sent may have been lost (it closed with unread data, or crashed): resend from the last one acknowledged"
        )]
        Reset {
            /// The channel.
            endpoint: Arc<str>,
        },
        /// The byte stream broke the framing (a length prefix above the
        /// maximum, a line without end, a frame cut off by end of stream).
        /// The connection is closed; every later call returns this again.
        #[error("{endpoint} carried a corrupted stream: {corruption}; the connection was closed")]
        Corrupted {
            /// The channel.
            endpoint: Arc<str>,
            /// What was wrong.
            corruption: Corruption,
        },
        /// Any other OS error.
        #[error("{op} on {endpoint} failed: {source}")]
        Io {
            /// The channel.
            endpoint: Arc<str>,
            /// The failing call.
            op: &'static str,
            /// The OS error.
            source: io::Error,
        },
    }
}

/// ", in use by pid 12 and 34" for an error message (empty for no pid).
fn in_use_by(pids: &[u32]) -> String {
    match pids {
        [] => String::new(),
        [one] => format!(", in use by pid {one}"),
        [rest @ .., last] => {
            let rest: Vec<String> = rest.iter().map(u32::to_string).collect();
            format!(", in use by pids {} and {last}", rest.join(", "))
        }
    }
}
