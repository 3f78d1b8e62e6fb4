//! The segments in `/dev/shm`: which are shmlane's, what they hold, who is
//! attached, and removing the ones nobody uses any more.
//!
//! * [`list`] / [`list_matching`]: every file, decoded as far as it goes;
//! * [`inspect`]: one segment by name;
//! * [`remove`]: one segment, refused while it is live unless forced;
//! * [`gc`]: every stale segment of this user (or [`GcOptions::dry_run`]:
//!   what it would remove), with what it left alone and why.
//!
//! A file is read, never mapped: its first [`header_len`] bytes are copied
//! with `pread` into a local buffer and decoded there with this build's
//! field offsets, so a file truncated or rewritten meanwhile gives a typed
//! [`Status`], never a SIGBUS or a panic. Only files that carry shmlane's
//! magic are ever removed.
//!
//! **Live and stale.** An endpoint holds an OFD lock on one byte per role
//! (one per participant row for MPMC) for as long as it lives; the kernel
//! drops it with the process. A segment is *live* while some such lock is
//! held (probed with `F_OFD_GETLK`, which sets nothing), and *stale* when
//! none is held and its header was published, or its creator abandoned it
//! before publishing (init state still 0 and the file older than
//! [`ABANDONED_INIT_AGE`]). A semaphore holds no lock, so its liveness is
//! [`Liveness::Unknown`]: `gc` leaves it, `remove` needs `force`.
//!
//! **Removal** is inode-checked: the `(st_dev, st_ino)` of the descriptor
//! that was inspected must still be what the name points to just before
//! `shm_unlink`, and a segment about to be removed by `gc` has its locks
//! probed once more on that descriptor. An endpoint that opened the name
//! in between keeps working on its mapping, but nobody can open the name
//! after it; `gc` also leaves a segment younger than
//! [`GcOptions::min_age`] alone, because a creator publishes the header a
//! moment before it takes its role lock.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::sys::mman::shm_unlink;

use super::header::{ENDIAN_TAG, FieldOffsets, HEADER_LEN, INIT_READY, LAYOUT_VERSION, MAGIC};
pub use super::layout::RingKind;
use super::layout::{MAX_PARTICIPANTS, body_offsets, max_frame_limit};
use super::mapped::{role_locks_held, shm_name};
use crate::error::Corruption;
use crate::index::Capacity;
use crate::options::{Overflow, Waiter};

/// Where Linux keeps POSIX shared-memory objects.
pub const SHM_DIR: &str = "/dev/shm";

/// A segment whose creator has not published the header (init state 0)
/// after this long, counted from the file's modification time (set when
/// the creator sized it), was abandoned: its creator died mid-create.
pub const ABANDONED_INIT_AGE: Duration = Duration::from_secs(10);

/// [`GcOptions::min_age`] by default: `gc` leaves younger segments alone.
pub const DEFAULT_GC_MIN_AGE: Duration = Duration::from_secs(2);

/// Size of this build's segment header: the bytes [`inspect`] reads.
pub fn header_len() -> usize {
    HEADER_LEN
}

// The state word of a peer row, as `peer.rs` writes it: a generation above
// two state bits.
const STATE_BITS: u32 = 0b11;
const ROW_VACANT: u32 = 0;
const ROW_ATTACHED: u32 = 1;
const ROW_DETACHED: u32 = 2;
/// Rows of the header's peer table (one-producer one-consumer kinds).
const HEADER_ROWS: usize = super::header::MAX_PEERS;

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
    /// No lock is held, and the header was published or abandoned.
    Stale,
    /// No lock is held and the header is not published yet; younger than
    /// [`ABANDONED_INIT_AGE`].
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
    /// The ring's counters.
    pub counters: Counters,
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

/// Counters of a ring, read from its header (see [`Stats`](crate::Stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// The tail position: items (MPMC: and skipped slots; byte ring: words)
    /// published since creation.
    pub pushes: u64,
    /// The head position: released since creation, in the same unit.
    pub pops: u64,
    /// Blocking sends that found the ring full and waited.
    pub full_waits: u64,
    /// Blocking receives that found the ring empty and waited.
    pub empty_waits: u64,
    /// futex wake syscalls.
    pub wake_syscalls: u64,
    /// futex wait syscalls.
    pub wait_syscalls: u64,
    /// Byte ring: frames dropped when full.
    pub drops: u64,
    /// MPMC: slots published as skipped.
    pub skipped: u64,
    /// MPMC: items of dead receivers handed out again.
    pub recovered: u64,
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
    /// `spsc`, `semaphore`, `mpmc` or `bytes`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spsc => "spsc",
            Self::Semaphore => "semaphore",
            Self::Mpmc => "mpmc",
            Self::Bytes => "bytes",
        }
    }

    fn from_code(code: u32) -> Option<Self> {
        match code {
            1 => Some(Self::Spsc),
            2 => Some(Self::Semaphore),
            3 => Some(Self::Mpmc),
            4 => Some(Self::Bytes),
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

/// Every file of `/dev/shm`, each inspected, sorted by name.
pub fn list() -> io::Result<Vec<Entry>> {
    list_matching("")
}

/// The files of `/dev/shm` whose names start with `prefix`, each
/// inspected, sorted by name.
pub fn list_matching(prefix: &str) -> io::Result<Vec<Entry>> {
    Ok(names(prefix)?
        .into_iter()
        .filter_map(|name| match name {
            Ok(name) => match examine(&name) {
                Ok((entry, _)) => Some(entry),
                // Removed since the directory was read.
                Err(RegistryError::NotFound { .. }) => None,
                Err(e) => Some(failed_entry(&name, e)),
            },
            Err(raw) => Some(Entry {
                name: raw,
                file: None,
                status: Status::NotShmlane {
                    reason: "the name is not UTF-8".to_owned(),
                },
                liveness: Liveness::Unknown("not a shmlane segment".to_owned()),
            }),
        })
        .collect())
}

/// The segment `name` (with or without a leading `/`), decoded.
pub fn inspect(name: &str) -> Result<Entry, RegistryError> {
    let bare = checked_name(name)?;
    examine(bare).map(|(entry, _)| entry)
}

/// Removes the segment `name` if it is stale, or with `force` whatever its
/// liveness, and returns it as inspected just before. A file without
/// shmlane's magic is never removed; the unlink is inode-checked.
pub fn remove(name: &str, force: bool) -> Result<Entry, RegistryError> {
    let bare = checked_name(name)?;
    let (entry, file) = examine(bare)?;
    if !entry.status.is_shmlane() {
        return Err(RegistryError::NotShmlane {
            name: bare.to_owned(),
            reason: entry.status.to_string(),
        });
    }
    if !force && entry.liveness != Liveness::Stale {
        return Err(RegistryError::NotStale {
            name: bare.to_owned(),
            why: entry.liveness.to_string(),
        });
    }
    let (Some(info), Some(file)) = (&entry.file, file) else {
        return Err(RegistryError::NotStale {
            name: bare.to_owned(),
            why: "its file could not be examined".to_owned(),
        });
    };
    match unlink_checked(bare, &file, info, !force) {
        Ok(()) => Ok(entry),
        Err(Unlink::Replaced) => Err(RegistryError::Replaced {
            name: bare.to_owned(),
        }),
        Err(Unlink::BecameLive) => Err(RegistryError::NotStale {
            name: bare.to_owned(),
            why: "an endpoint attached while it was being removed".to_owned(),
        }),
        Err(Unlink::Failed(errno)) => Err(RegistryError::Io {
            name: bare.to_owned(),
            op: "shm_unlink",
            source: errno.into(),
        }),
    }
}

/// Removes every stale shmlane segment of this user (whose names start
/// with [`GcOptions::prefix`]), each inspected just before and unlinked
/// inode-checked; reports what it removed and what it left alone, and why.
pub fn gc(opts: &GcOptions) -> io::Result<GcReport> {
    let mut report = GcReport::default();
    let now = SystemTime::now();
    for name in names(opts.prefix.as_deref().unwrap_or(""))? {
        let name = match name {
            Ok(name) => name,
            Err(raw) => {
                let entry = Entry {
                    name: raw,
                    file: None,
                    status: Status::NotShmlane {
                        reason: "the name is not UTF-8".to_owned(),
                    },
                    liveness: Liveness::Unknown("not a shmlane segment".to_owned()),
                };
                report.skipped.push((
                    entry,
                    SkipReason::NotShmlane("the name is not UTF-8".into()),
                ));
                continue;
            }
        };
        let (entry, file) = match examine(&name) {
            Ok(found) => found,
            // Gone since the directory was read: nothing to do.
            Err(RegistryError::NotFound { .. }) => continue,
            Err(e) => {
                let entry = failed_entry(&name, e);
                let why = entry.status.to_string();
                report.skipped.push((entry, SkipReason::Damaged(why)));
                continue;
            }
        };
        match gc_verdict(&entry, now, opts.min_age) {
            Some(reason) => report.skipped.push((entry, reason)),
            None if opts.dry_run => report.removed.push(entry),
            None => {
                let (Some(info), Some(file)) = (&entry.file, file) else {
                    continue;
                };
                match unlink_checked(&name, &file, info, true) {
                    Ok(()) => report.removed.push(entry),
                    Err(Unlink::Replaced) => report.skipped.push((
                        entry,
                        SkipReason::Changed("the name now names another file".into()),
                    )),
                    Err(Unlink::BecameLive) => report
                        .skipped
                        .push((entry, SkipReason::Changed("an endpoint attached".into()))),
                    Err(Unlink::Failed(errno)) => report
                        .skipped
                        .push((entry, SkipReason::Failed(errno.desc().to_owned()))),
                }
            }
        }
    }
    Ok(report)
}

/// Why `gc` must leave `entry` alone, or `None` to remove it.
fn gc_verdict(entry: &Entry, now: SystemTime, min_age: Duration) -> Option<SkipReason> {
    match &entry.status {
        Status::NotShmlane { reason } => return Some(SkipReason::NotShmlane(reason.clone())),
        Status::Segment(_) | Status::Initializing => {}
        Status::Incompatible { .. } => {
            return Some(SkipReason::Unknown(entry.status.to_string()));
        }
        other => return Some(SkipReason::Damaged(other.to_string())),
    }
    match &entry.liveness {
        Liveness::Stale => {}
        Liveness::Live => return Some(SkipReason::Live),
        Liveness::Initializing => return Some(SkipReason::Initializing),
        Liveness::Unknown(why) => return Some(SkipReason::Unknown(why.clone())),
    }
    let info = entry.file.as_ref()?;
    let euid = effective_uid();
    if info.uid != euid {
        let sudo = if euid == 0 { "" } else { "sudo " };
        return Some(SkipReason::OtherOwner {
            uid: info.uid,
            command: format!("{sudo}shmlane rm {}", entry.name),
        });
    }
    let age = info
        .modified
        .and_then(|m| now.duration_since(m).ok())
        .unwrap_or(Duration::ZERO);
    if age < min_age {
        return Some(SkipReason::Recent);
    }
    None
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid takes no arguments, cannot fail and touches no memory
    // of ours.
    unsafe { libc::geteuid() }
}

/// Why an inode-checked unlink did not happen.
enum Unlink {
    Replaced,
    BecameLive,
    Failed(Errno),
}

/// Unlinks `name` if it still names the inode `info` describes (and, if
/// `only_stale`, if no lock is held on `file`, the descriptor inspected).
/// The window between the `stat` and the unlink cannot be closed from
/// user space (as for the creator's own unlink: SAFETY.md §1).
fn unlink_checked(
    name: &str,
    file: &File,
    info: &FileInfo,
    only_stale: bool,
) -> Result<(), Unlink> {
    if only_stale
        && !matches!(
            role_locks_held(file, 0, MAX_PARTICIPANTS as usize),
            Ok(false)
        )
    {
        return Err(Unlink::BecameLive);
    }
    let path = format!("{SHM_DIR}/{name}");
    match nix::sys::stat::lstat(path.as_str()) {
        Ok(st) if st.st_dev == info.dev && st.st_ino == info.ino => {}
        Ok(_) | Err(Errno::ENOENT) => return Err(Unlink::Replaced),
        Err(e) => return Err(Unlink::Failed(e)),
    }
    shm_unlink(format!("/{name}").as_str()).map_err(|e| match e {
        Errno::ENOENT => Unlink::Replaced,
        other => Unlink::Failed(other),
    })
}

/// The names in `/dev/shm` starting with `prefix`, sorted (`Err`: a name
/// that is not UTF-8, shown lossily).
fn names(prefix: &str) -> io::Result<Vec<Result<String, String>>> {
    let mut names = Vec::new();
    for dirent in std::fs::read_dir(SHM_DIR)? {
        let raw = dirent?.file_name();
        if !raw.as_bytes().starts_with(prefix.as_bytes()) {
            continue;
        }
        names.push(
            raw.to_str()
                .map(str::to_owned)
                .ok_or_else(|| OsStr::to_string_lossy(&raw).into_owned()),
        );
    }
    names.sort();
    Ok(names)
}

fn checked_name(name: &str) -> Result<&str, RegistryError> {
    shm_name(name).map_err(|e| RegistryError::InvalidName {
        name: name.to_owned(),
        why: e.to_string(),
    })?;
    Ok(name.strip_prefix('/').unwrap_or(name))
}

/// An entry for a file that could not be examined.
fn failed_entry(name: &str, error: RegistryError) -> Entry {
    Entry {
        name: name.to_owned(),
        file: None,
        status: Status::Unreadable {
            error: error.to_string(),
        },
        liveness: Liveness::Unknown("unreadable".to_owned()),
    }
}

/// Opens `name` read-only (never following a link, never blocking on a
/// FIFO), `fstat`s it and decodes what it holds. Returns the descriptor
/// too, for an inode-checked unlink.
fn examine(name: &str) -> Result<(Entry, Option<File>), RegistryError> {
    let path = PathBuf::from(SHM_DIR).join(name);
    let io_error = |op, source| RegistryError::Io {
        name: name.to_owned(),
        op,
        source,
    };
    let opened = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(&path);
    let file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(RegistryError::NotFound {
                name: name.to_owned(),
            });
        }
        Err(e) => {
            // A link, a socket, or a file we may not read: describe it from
            // its directory entry.
            let meta = std::fs::symlink_metadata(&path);
            let file = meta.as_ref().ok().map(file_info);
            let status = match &meta {
                Ok(m) if m.file_type().is_symlink() => Status::NotShmlane {
                    reason: "a symbolic link".to_owned(),
                },
                Ok(m) if !m.file_type().is_file() => Status::NotShmlane {
                    reason: "not a regular file".to_owned(),
                },
                _ => Status::Unreadable {
                    error: e.to_string(),
                },
            };
            let liveness = Liveness::Unknown(match status {
                Status::NotShmlane { .. } => "not a shmlane segment".to_owned(),
                _ => "unreadable".to_owned(),
            });
            let entry = Entry {
                name: name.to_owned(),
                file,
                status,
                liveness,
            };
            return Ok((entry, None));
        }
    };
    let meta = file.metadata().map_err(|e| io_error("fstat", e))?;
    let info = file_info(&meta);
    if !meta.file_type().is_file() {
        let entry = Entry {
            name: name.to_owned(),
            file: Some(info),
            status: Status::NotShmlane {
                reason: "not a regular file".to_owned(),
            },
            liveness: Liveness::Unknown("not a shmlane segment".to_owned()),
        };
        return Ok((entry, None));
    }
    let (status, liveness) = match decode(&file, &info) {
        Ok(decoded) => decoded,
        Err(e) => (
            Status::Unreadable {
                error: format!("pread: {e}"),
            },
            Liveness::Unknown("unreadable".to_owned()),
        ),
    };
    let entry = Entry {
        name: name.to_owned(),
        file: Some(info),
        status,
        liveness,
    };
    Ok((entry, Some(file)))
}

fn file_info(meta: &std::fs::Metadata) -> FileInfo {
    FileInfo {
        uid: meta.uid(),
        gid: meta.gid(),
        mode: meta.mode() & 0o7777,
        len: meta.len(),
        dev: meta.dev(),
        ino: meta.ino(),
        modified: meta.modified().ok(),
    }
}

/// Reads up to `buf.len()` bytes at `offset` (fewer at the end of the
/// file); returns how many.
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// A header's bytes as read: fields decoded with this build's offsets.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u32(&self, at: usize) -> u32 {
        self.0
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_ne_bytes)
    }

    fn u64(&self, at: usize) -> u64 {
        self.0
            .get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_ne_bytes)
    }
}

/// Decodes the header of `file`, of the length `info` gives.
fn decode(file: &File, info: &FileInfo) -> io::Result<(Status, Liveness)> {
    let o = FieldOffsets::get();
    let mut buf = vec![0u8; HEADER_LEN];
    let len = read_at(file, &mut buf, 0)?;
    let bytes = Bytes(&buf[..len]);
    let not_shmlane = |reason: &str| {
        (
            Status::NotShmlane {
                reason: reason.to_owned(),
            },
            Liveness::Unknown("not a shmlane segment".to_owned()),
        )
    };
    let magic_bytes = MAGIC.to_ne_bytes();
    if len < magic_bytes.len() {
        if len > 0 && magic_bytes.starts_with(&buf[..len]) {
            return Ok((truncated(len, o.init_state + 4), probe_all(file)));
        }
        return Ok(not_shmlane(if len == 0 {
            "an empty file"
        } else {
            "shorter than shmlane's magic"
        }));
    }
    let magic = bytes.u64(o.magic);
    if magic != MAGIC {
        if magic == MAGIC.swap_bytes() {
            return Ok(incompatible("endianness", "this machine's", "the other"));
        }
        return Ok(not_shmlane(if buf[..len].iter().all(|&b| b == 0) {
            "no shmlane magic (all zero: perhaps a creator that died before writing the header)"
        } else {
            "no shmlane magic"
        }));
    }
    if len < o.init_state + 4 {
        return Ok((truncated(len, o.init_state + 4), probe_all(file)));
    }
    let version = bytes.u32(o.layout_version);
    if version != 0 && version != LAYOUT_VERSION {
        let found = if version > LAYOUT_VERSION {
            format!("{version} (newer)")
        } else {
            format!("{version} (older)")
        };
        return Ok(incompatible(
            "layout_version",
            &LAYOUT_VERSION.to_string(),
            &found,
        ));
    }
    match bytes.u32(o.init_state) {
        0 => {
            let liveness = match role_locks_held(file, 0, MAX_PARTICIPANTS as usize) {
                Ok(true) => Liveness::Live,
                Ok(false) => {
                    let age = info
                        .modified
                        .and_then(|m| SystemTime::now().duration_since(m).ok())
                        .unwrap_or(Duration::ZERO);
                    if age >= ABANDONED_INIT_AGE {
                        Liveness::Stale
                    } else {
                        Liveness::Initializing
                    }
                }
                Err(e) => Liveness::Unknown(format!("lock probe: {e}")),
            };
            return Ok((Status::Initializing, liveness));
        }
        INIT_READY => {}
        other => {
            let corruption = Corruption {
                what: "unknown init state",
                found: other.into(),
                limit: INIT_READY.into(),
            };
            return Ok((Status::Corrupted(corruption), probe_all(file)));
        }
    }
    let identity: [(&'static str, u64, u64); 3] = [
        (
            "pointer_width",
            usize::BITS.into(),
            bytes.u32(o.pointer_width).into(),
        ),
        (
            "endianness",
            ENDIAN_TAG.into(),
            bytes.u32(o.endianness).into(),
        ),
        (
            "header_len",
            HEADER_LEN as u64,
            bytes.u32(o.header_len).into(),
        ),
    ];
    for (field, want, found) in identity {
        if want != found && len >= o.header_len + 4 {
            return Ok(incompatible(field, &want.to_string(), &found.to_string()));
        }
    }
    if len < HEADER_LEN {
        return Ok((truncated(len, HEADER_LEN), probe_all(file)));
    }
    match decode_segment(file, &bytes, &o, info.len) {
        Ok(segment) => {
            let liveness = segment_liveness(&segment);
            Ok((Status::Segment(Box::new(segment)), liveness))
        }
        Err(Bad::Corrupted(c)) => Ok((Status::Corrupted(c), probe_all(file))),
        Err(Bad::Truncated { len, need }) => Ok((Status::Truncated { len, need }, probe_all(file))),
        Err(Bad::Io(e)) => Err(e),
    }
}

fn truncated(len: usize, need: usize) -> Status {
    Status::Truncated {
        len: len as u64,
        need: need as u64,
    }
}

fn incompatible(field: &'static str, expected: &str, found: &str) -> (Status, Liveness) {
    (
        Status::Incompatible {
            field,
            expected: expected.to_owned(),
            found: found.to_owned(),
        },
        Liveness::Unknown("a layout this build does not know".to_owned()),
    )
}

/// Liveness from every role byte at once (a damaged header does not say
/// how many rows there are).
fn probe_all(file: &File) -> Liveness {
    match role_locks_held(file, 0, MAX_PARTICIPANTS as usize) {
        Ok(true) => Liveness::Live,
        Ok(false) => Liveness::Stale,
        Err(e) => Liveness::Unknown(format!("lock probe: {e}")),
    }
}

fn segment_liveness(segment: &Segment) -> Liveness {
    if segment.endpoints.iter().any(|e| e.alive == Some(true)) {
        return Liveness::Live;
    }
    if let Some(failed) = segment.endpoints.iter().find(|e| e.alive.is_none()) {
        return Liveness::Unknown(format!("the lock probe of row {} failed", failed.row));
    }
    if segment.kind == RingKind::Semaphore {
        return Liveness::Unknown(
            "a semaphore holds no lock: whether it is in use cannot be told".to_owned(),
        );
    }
    Liveness::Stale
}

enum Bad {
    Corrupted(Corruption),
    Truncated { len: u64, need: u64 },
    Io(io::Error),
}

fn corrupted(what: &'static str, found: u64, limit: u64) -> Bad {
    Bad::Corrupted(Corruption { what, found, limit })
}

/// Decodes and checks a published header of this layout (the checks of
/// `HeaderSnapshot::validate` that need no expected type), then reads the
/// peer rows and probes their locks.
fn decode_segment(
    file: &File,
    b: &Bytes<'_>,
    o: &FieldOffsets,
    file_len: u64,
) -> Result<Segment, Bad> {
    let kind_code = b.u32(o.kind);
    let kind = RingKind::from_code(kind_code)
        .ok_or_else(|| corrupted("unknown ring kind", kind_code.into(), 4))?;
    let raw_capacity = b.u64(o.capacity);
    let capacity = Capacity::new(raw_capacity)
        .ok_or_else(|| corrupted("capacity is not a power of two", raw_capacity, 0))?;
    let participants = b.u32(o.participants);
    let participants_ok = match kind {
        RingKind::Mpmc => (1..=MAX_PARTICIPANTS).contains(&participants),
        _ => participants == 0,
    };
    if !participants_ok {
        return Err(corrupted(
            "participant table size",
            participants.into(),
            MAX_PARTICIPANTS.into(),
        ));
    }
    let slot_size = b.u32(o.slot_size);
    let slot_align = b.u32(o.slot_align);
    if !slot_align.is_power_of_two() || slot_align > 4096 {
        return Err(corrupted("slot alignment", slot_align.into(), 4096));
    }
    let (peers_offset, want_slots) = body_offsets(slot_align, participants);
    let slots_offset = b.u64(o.slots_offset);
    if slots_offset != want_slots {
        return Err(corrupted("slots offset", slots_offset, want_slots));
    }
    let segment_len = b.u64(o.segment_len);
    let least = capacity
        .get()
        .checked_mul(slot_size.into())
        .and_then(|slots| slots.checked_add(slots_offset))
        .ok_or_else(|| corrupted("capacity overflows the segment size", raw_capacity, 0))?;
    if segment_len < least {
        return Err(corrupted("segment length", segment_len, least));
    }
    if segment_len > file_len {
        return Err(Bad::Truncated {
            len: file_len,
            need: segment_len,
        });
    }
    let waiter_code = b.u32(o.waiter);
    let waiter = Waiter::from_code(waiter_code)
        .ok_or_else(|| corrupted("unknown waiter kind", waiter_code.into(), 2))?;
    let (max_frame, overflow) = if kind == RingKind::Bytes {
        let max_frame = b.u64(o.max_frame);
        let limit = max_frame_limit(capacity);
        if max_frame > limit {
            return Err(corrupted(
                "max frame exceeds half the ring",
                max_frame,
                limit,
            ));
        }
        let code = b.u32(o.overflow);
        let overflow = Overflow::from_code(code).ok_or_else(|| {
            corrupted(
                "unknown overflow policy",
                code.into(),
                Overflow::MAX_CODE.into(),
            )
        })?;
        (max_frame, Some(overflow))
    } else {
        (0, None)
    };
    let name_len = (b.u32(o.type_name_len) as usize).min(super::header::TYPE_NAME_BYTES);
    let type_name = String::from_utf8_lossy(&b.0[o.type_name..o.type_name + name_len]).into_owned();
    let created = match b.u64(o.created_unix_ns) {
        0 => None,
        ns => UNIX_EPOCH.checked_add(Duration::from_nanos(ns)),
    };
    let counters = Counters {
        pushes: b.u64(o.tail),
        pops: b.u64(o.head),
        full_waits: b.u64(o.tail_waits),
        empty_waits: b.u64(o.head_waits),
        wake_syscalls: b.u64(o.wake_syscalls),
        wait_syscalls: b.u64(o.wait_syscalls),
        drops: b.u64(o.drops),
        skipped: b.u64(o.skipped),
        recovered: b.u64(o.recovered),
    };
    let fill = match kind {
        RingKind::Semaphore => None,
        RingKind::Mpmc => {
            // Hints: a lagging head can make the difference negative or
            // larger than the ring.
            let diff = counters.pushes.wrapping_sub(counters.pops);
            Some(Ok(if diff > u64::MAX / 2 {
                0
            } else {
                diff.min(capacity.get())
            }))
        }
        _ => Some(capacity.occupied(counters.pops, counters.pushes)),
    };
    let endpoints = if participants == 0 {
        rows(
            file,
            kind,
            &b.0[o.peers..o.peers + HEADER_ROWS * o.row_len],
            o,
            0,
        )
    } else {
        let mut table = vec![0u8; participants as usize * o.row_len];
        let got = read_at(file, &mut table, peers_offset).map_err(Bad::Io)?;
        if got < table.len() {
            return Err(Bad::Truncated {
                len: peers_offset + got as u64,
                need: peers_offset + table.len() as u64,
            });
        }
        rows(file, kind, &table, o, 0)
    };
    Ok(Segment {
        kind,
        layout_version: b.u32(o.layout_version),
        type_name,
        slot_size,
        slot_align,
        capacity: capacity.get(),
        schema_id: b.u64(o.schema_id),
        waiter,
        max_frame,
        overflow,
        participants,
        segment_len,
        created,
        creator_pid: b.u32(o.creator_pid),
        endpoints,
        counters,
        fill,
        semaphore_value: (kind == RingKind::Semaphore).then(|| b.u32(o.semaphore_value)),
    })
}

/// The used rows of a peer table copied into `table`, each with its lock
/// probed.
fn rows(
    file: &File,
    kind: RingKind,
    table: &[u8],
    o: &FieldOffsets,
    first: usize,
) -> Vec<Endpoint> {
    table
        .chunks_exact(o.row_len)
        .enumerate()
        .filter_map(|(i, row)| {
            let row_bytes = Bytes(row);
            let word = row_bytes.u32(o.row_state);
            let pid = row_bytes.u32(o.row_pid);
            let role_code = row_bytes.u32(o.row_role);
            let index = first + i;
            let alive = role_locks_held(file, index, 1).ok();
            if word == 0 && pid == 0 && role_code == 0 && alive == Some(false) {
                return None;
            }
            let state = match word & STATE_BITS {
                ROW_VACANT => RowState::Vacant,
                ROW_ATTACHED => RowState::Attached,
                ROW_DETACHED => RowState::Detached,
                _ => RowState::Invalid(word),
            };
            let role = match (kind, index, role_code) {
                (RingKind::Mpmc, _, 1) => Some("sender"),
                (RingKind::Mpmc, _, 2) => Some("receiver"),
                (RingKind::Mpmc, _, _) => None,
                (RingKind::Semaphore, _, _) => None,
                (_, 0, _) => Some("producer"),
                (_, 1, _) => Some("consumer"),
                _ => None,
            };
            Some(Endpoint {
                row: index,
                role,
                pid,
                state,
                alive,
            })
        })
        .collect()
}
