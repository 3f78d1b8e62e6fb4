//! What the registry reports: a file's [`Entry`] (its [`Status`] and
//! [`Liveness`], a decoded [`Segment`]), [`gc`](super::gc)'s options and
//! report, and the errors of [`inspect`](super::inspect) and
//! [`remove`](super::remove).

use super::*;

/// What the file system says about a file (`fstat` of the descriptor
/// inspected).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// Length in bytes.
    pub len: u64,
    /// Device and inode: what [`remove`] checks before unlinking.
    pub dev: u64,
    /// See [`dev`](Self::dev).
    pub ino: u64,
    /// Last modification (for a segment: when its creator sized it).
    pub modified: Option<SystemTime>,
}

/// One file of `/dev/shm`, as far as it could be decoded.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The name (without a leading `/`), as `shm_open` and the CLI take it.
    pub name: String,
    /// Owner, mode, size; `None` if the file could not be examined.
    pub file: Option<FileInfo>,
    /// What the file holds.
    pub status: Status,
    /// Whether an endpoint holds it.
    pub liveness: Liveness,
}

/// What a file holds.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Status {
    /// A published shmlane segment of this build's layout.
    Segment(Box<Segment>),
    /// A shmlane segment whose creator has not published its header (yet:
    /// [`Liveness::Initializing`]; or ever: [`Liveness::Stale`]).
    Initializing,
    /// Not a shmlane segment: no magic, not a regular file, a symbolic link,
    /// a name that is not UTF-8.
    NotShmlane {
        /// Why not.
        reason: String,
    },
    /// The file starts like a shmlane segment but is shorter than what
    /// its header says must be there.
    Truncated {
        /// Bytes in the file.
        len: u64,
        /// Bytes needed.
        need: u64,
    },
    /// A shmlane segment of another layout (another version, endianness,
    /// pointer width or header size): this build does not decode it.
    Incompatible {
        /// The field that differs.
        field: &'static str,
        /// What this build has.
        expected: String,
        /// What the segment has.
        found: String,
    },
    /// A published header with an impossible value.
    Corrupted(Corruption),
    /// The file could not be opened or read (permission, I/O).
    Unreadable {
        /// The error.
        error: String,
    },
}

/// Whether some endpoint holds a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Liveness {
    /// Some role or participant lock is held.
    Live,
    /// No lock is held: the header was published, or abandoned by a
    /// creator that died before publishing it.
    Stale,
    /// The header is not published yet and its creator (holding the
    /// creator lock) is still making it.
    Initializing,
    /// Cannot tell (a semaphore, a layout this build does not know, a file
    /// that is not shmlane's, a failed probe).
    Unknown(String),
}

/// A decoded segment header with its peers and counters.
#[derive(Debug, Clone)]
pub struct Segment {
    /// The ring kind.
    pub kind: RingKind,
    /// Made with `Options::persist(true)`: no endpoint removes the name
    /// when it detaches (`gc` or `rm` does, once it is stale).
    pub persist: bool,
    /// The header's layout version (this build's).
    pub layout_version: u32,
    /// The slot type's name as the creator recorded it (at most 128 bytes).
    pub type_name: String,
    /// Size of a slot's type in bytes (8 for the byte ring's words).
    pub slot_size: u32,
    /// Alignment of a slot's type.
    pub slot_align: u32,
    /// Slots (byte ring: 8-byte words).
    pub capacity: u64,
    /// The creator's schema id (0: none).
    pub schema_id: u64,
    /// How sleepers are woken.
    pub waiter: Waiter,
    /// Byte ring: the largest frame payload (0 for other kinds).
    pub max_frame: u64,
    /// Byte ring: the overflow policy.
    pub overflow: Option<Overflow>,
    /// MPMC: rows of the participant table (0 for other kinds).
    pub participants: u32,
    /// Bytes of the segment as its header says.
    pub segment_len: u64,
    /// When the creator published the header (as it recorded it).
    pub created: Option<SystemTime>,
    /// The creator's pid (as it recorded it; the process may be gone).
    pub creator_pid: u32,
    /// Rows of the peer (or participant) table that were ever used.
    pub endpoints: Vec<Endpoint>,
    /// The ring's counters, as its endpoints' `stats()` would read them.
    pub counters: crate::Stats,
    /// Positions published and not yet released (`tail - head`), or the
    /// corruption that makes it impossible (more than the capacity). MPMC:
    /// from the cursor hints, so approximate (clamped to `0..=capacity`).
    /// `None` for a semaphore.
    pub fill: Option<Result<u64, Corruption>>,
    /// A semaphore's value.
    pub semaphore_value: Option<u32>,
}

/// One row of a segment's peer or participant table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The row.
    pub row: usize,
    /// `producer` / `consumer` (one-to-one rings), `sender` / `receiver`
    /// (MPMC), `None` if the row records none.
    pub role: Option<&'static str>,
    /// The pid the endpoint recorded (display only: pids are reused).
    pub pid: u32,
    /// What the row's state word says.
    pub state: RowState,
    /// Whether the row's lock is held (`None`: the probe failed).
    pub alive: Option<bool>,
}

/// The state word of a peer row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowState {
    /// Never attached (or claimed and not yet used).
    Vacant,
    /// Attached (alive if its lock is held).
    Attached,
    /// Dropped, or found dead by a peer.
    Detached,
    /// A value no endpoint writes.
    Invalid(u32),
}

/// Why [`inspect`] or [`remove`] failed or refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// No file of this name in `/dev/shm`.
    #[error("no shared-memory segment named {name:?}")]
    NotFound {
        /// The name.
        name: String,
    },
    /// Not a name `shm_open` takes.
    #[error("invalid segment name {name:?}: {why}")]
    InvalidName {
        /// The name.
        name: String,
        /// What is wrong with it.
        why: String,
    },
    /// `remove` never touches a file without shmlane's magic.
    #[error("{name:?} is not a shmlane segment ({reason}); not removed")]
    NotShmlane {
        /// The name.
        name: String,
        /// Why it is not one.
        reason: String,
    },
    /// `remove` without `force` of a segment that is live, initialising,
    /// or of unknown liveness.
    #[error("{name:?} is not stale ({why}); not removed (force it with `shmlane rm --force`)")]
    NotStale {
        /// The name.
        name: String,
        /// What it is.
        why: String,
    },
    /// The name was replaced by another file between inspection and unlink.
    #[error("{name:?} was replaced while being removed; left alone")]
    Replaced {
        /// The name.
        name: String,
    },
    /// A system call failed.
    #[error("{op} of {name:?}: {source}")]
    Io {
        /// The name.
        name: String,
        /// What failed.
        op: &'static str,
        /// The error.
        source: io::Error,
    },
}

/// What [`gc`] does.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Decide, but remove nothing ([`GcReport::removed`] then lists what
    /// would be removed).
    pub dry_run: bool,
    /// Leave segments younger than this alone (file modification time);
    /// default [`DEFAULT_GC_MIN_AGE`].
    pub min_age: Duration,
    /// Only names starting with this.
    pub prefix: Option<String>,
}

impl Default for GcOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            min_age: DEFAULT_GC_MIN_AGE,
            prefix: None,
        }
    }
}

/// What [`gc`] removed (or, dry run, would remove) and what it skipped.
#[derive(Debug, Clone, Default)]
pub struct GcReport {
    /// Removed (dry run: would be removed), as inspected.
    pub removed: Vec<Entry>,
    /// Left alone, each with why.
    pub skipped: Vec<(Entry, SkipReason)>,
}

/// Why [`gc`] left a file alone.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// Some endpoint holds it.
    Live,
    /// Its creator is still publishing the header.
    Initializing,
    /// Its liveness cannot be told (a semaphore, a layout this build does
    /// not know).
    Unknown(String),
    /// Not a shmlane segment: never touched.
    NotShmlane(String),
    /// A shmlane segment with a truncated, corrupted or unreadable header:
    /// left for a human (`shmlane rm`).
    Damaged(String),
    /// Stale, but another user's.
    OtherOwner {
        /// The owner.
        uid: u32,
        /// The command that would remove it.
        command: String,
    },
    /// Stale, but younger than [`GcOptions::min_age`].
    Recent,
    /// The name was replaced, or became live, between inspection and
    /// unlink.
    Changed(String),
    /// The unlink failed.
    Failed(String),
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Live => f.write_str("live: an endpoint holds it"),
            Self::Initializing => f.write_str("its creator is still initialising it"),
            Self::Unknown(why) => write!(f, "liveness unknown: {why}"),
            Self::NotShmlane(why) => write!(f, "not a shmlane segment: {why}"),
            Self::Damaged(why) => write!(f, "damaged header ({why}): remove it with `shmlane rm`"),
            Self::OtherOwner { uid, command } => {
                write!(
                    f,
                    "stale, of another owner (uid {uid}): remove with `{command}`"
                )
            }
            Self::Recent => f.write_str("stale, but too young to be sure"),
            Self::Changed(why) => write!(f, "changed while being removed: {why}"),
            Self::Failed(why) => write!(f, "unlink failed: {why}"),
        }
    }
}

impl SkipReason {
    /// A short machine-readable tag: `live`, `initializing`, `unknown`,
    /// `not-shmlane`, `damaged`, `other-owner`, `recent`, `changed`,
    /// `failed`.
    pub fn tag(&self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Initializing => "initializing",
            Self::Unknown(_) => "unknown",
            Self::NotShmlane(_) => "not-shmlane",
            Self::Damaged(_) => "damaged",
            Self::OtherOwner { .. } => "other-owner",
            Self::Recent => "recent",
            Self::Changed(_) => "changed",
            Self::Failed(_) => "failed",
        }
    }
}

impl Status {
    /// A short machine-readable tag: `segment`, `initializing`,
    /// `not-shmlane`, `truncated`, `incompatible`, `corrupted`,
    /// `unreadable`.
    pub fn tag(&self) -> &'static str {
        match self {
            Self::Segment(_) => "segment",
            Self::Initializing => "initializing",
            Self::NotShmlane { .. } => "not-shmlane",
            Self::Truncated { .. } => "truncated",
            Self::Incompatible { .. } => "incompatible",
            Self::Corrupted(_) => "corrupted",
            Self::Unreadable { .. } => "unreadable",
        }
    }

    /// Whether the file carries shmlane's magic (so that [`remove`] may
    /// touch it).
    pub fn is_shmlane(&self) -> bool {
        !matches!(self, Self::NotShmlane { .. } | Self::Unreadable { .. })
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Segment(s) => write!(f, "{} segment", RingKind::name(s.kind as u32)),
            Self::Initializing => f.write_str("header not published"),
            Self::NotShmlane { reason } => write!(f, "not a shmlane segment: {reason}"),
            Self::Truncated { len, need } => {
                write!(f, "truncated: {len} bytes, at least {need} needed")
            }
            Self::Incompatible {
                field,
                expected,
                found,
            } => write!(
                f,
                "another layout: {field} is {found}, this build reads {expected}"
            ),
            Self::Corrupted(c) => write!(f, "corrupted header: {c}"),
            Self::Unreadable { error } => write!(f, "unreadable: {error}"),
        }
    }
}

impl std::fmt::Display for Liveness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Live => f.write_str("live"),
            Self::Stale => f.write_str("stale"),
            Self::Initializing => f.write_str("initializing"),
            Self::Unknown(why) => write!(f, "unknown ({why})"),
        }
    }
}

impl Liveness {
    /// `live`, `stale`, `initializing` or `unknown`.
    pub fn tag(&self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Stale => "stale",
            Self::Initializing => "initializing",
            Self::Unknown(_) => "unknown",
        }
    }
}

impl RowState {
    /// `vacant`, `attached`, `detached` or `invalid`.
    pub fn tag(self) -> &'static str {
        match self {
            Self::Vacant => "vacant",
            Self::Attached => "attached",
            Self::Detached => "detached",
            Self::Invalid(_) => "invalid",
        }
    }
}

impl RingKind {
    /// `spsc`, `semaphore`, `mpmc`, `bytes` or `shared`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spsc => "spsc",
            Self::Semaphore => "semaphore",
            Self::Mpmc => "mpmc",
            Self::Bytes => "bytes",
            Self::Shared => "shared",
        }
    }

    pub(super) fn from_code(code: u32) -> Option<Self> {
        match code {
            1 => Some(Self::Spsc),
            2 => Some(Self::Semaphore),
            3 => Some(Self::Mpmc),
            4 => Some(Self::Bytes),
            5 => Some(Self::Shared),
            _ => None,
        }
    }
}

impl Entry {
    /// The decoded segment, if the file holds one of this layout.
    pub fn segment(&self) -> Option<&Segment> {
        match &self.status {
            Status::Segment(segment) => Some(segment),
            _ => None,
        }
    }
}
