//! The segments in `/dev/shm`: which are shmlane's, what they hold, who is
//! attached, and removing the ones nobody uses any more.
//!
//! * [`list`] / [`list_matching`]: every file, decoded as far as it goes;
//! * [`inspect`]: one segment by name;
//! * [`remove`]: one segment, refused while it is live unless forced;
//! * [`gc`]: every stale segment of this user (or [`GcOptions::dry_run`]:
//!   what it would remove), with what it left alone and why; also the
//!   temporary files (`NAME.creating-PID-N`) of creators that died before
//!   linking their segment to its name.
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
//! none is held. A creator holds a lock of its own from its `O_EXCL` open
//! on, so an unpublished header nobody holds was abandoned (its creator
//! died mid-create); the removal gate (`segment/removal.rs`) makes a
//! creator that lost its file in the instant before its lock make it
//! again. A semaphore's users hold no lock, so once its
//! creator is gone its liveness is [`Liveness::Unknown`]: `gc` leaves it,
//! `remove` needs `force`.
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

use super::header::{
    ENDIAN_TAG, FLAG_PERSIST, FieldOffsets, HEADER_LEN, INIT_READY, LAYOUT_VERSION, MAGIC,
};
pub use super::layout::RingKind;
use super::layout::{MAX_PARTICIPANTS, body_offsets, max_frame_limit};
use super::mapped::{is_creation_name, role_locks_held, shm_name};
use super::removal::{Remover, Unlink, creator_lock_held, in_use_by_others, unlink_unused};
use crate::error::Corruption;
use crate::index::Capacity;
use crate::options::{Overflow, Waiter};

mod decode;
mod entry;

use decode::decode;
pub use entry::*;

/// Where Linux keeps POSIX shared-memory objects.
pub const SHM_DIR: &str = "/dev/shm";

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
        Err(Unlink::InUse) => Err(RegistryError::NotStale {
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
        let verdict = if is_creation_name(&name) {
            creation_verdict(&entry, file.as_ref(), now, opts.min_age)
        } else {
            gc_verdict(&entry, now, opts.min_age)
        };
        match verdict {
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
                    Err(Unlink::InUse) => report
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
    owner_and_age_verdict(entry, now, min_age)
}

/// Why `gc` must leave a creator's temporary file (see
/// `mapped::creation_name`) alone: it holds whatever its creator wrote
/// before it died (maybe nothing), so only the creator lock says whether
/// it is still being made.
fn creation_verdict(
    entry: &Entry,
    file: Option<&File>,
    now: SystemTime,
    min_age: Duration,
) -> Option<SkipReason> {
    let Some(file) = file else {
        return Some(SkipReason::Unknown("unreadable".to_owned()));
    };
    match in_use_by_others(file) {
        Ok(false) => owner_and_age_verdict(entry, now, min_age),
        Ok(true) => Some(SkipReason::Initializing),
        Err(e) => Some(SkipReason::Unknown(format!("lock probe: {e}"))),
    }
}

/// The checks every removal by `gc` ends with: this user's, and old enough.
fn owner_and_age_verdict(entry: &Entry, now: SystemTime, min_age: Duration) -> Option<SkipReason> {
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

/// Unlinks `name` if it still names the inode `info` describes (and, if
/// `only_stale`, if nobody holds a liveness lock on `file`, the descriptor
/// inspected), under the removal gate (`segment/removal.rs`).
fn unlink_checked(
    name: &str,
    file: &File,
    info: &FileInfo,
    only_stale: bool,
) -> Result<(), Unlink> {
    let shm_name = shm_name(name).map_err(|_| Unlink::Failed(Errno::EINVAL))?;
    let remover = Remover::Registry { force: !only_stale };
    unlink_unused(file, remover, &shm_name, (info.dev, info.ino))
}

/// What `create` found at a name it could not take with `O_EXCL`, after
/// [`clear_stale`] looked.
#[derive(Debug)]
pub(crate) enum Occupant {
    /// Nothing any more: a stale segment was removed, or the name went
    /// away by itself. Try again.
    Gone,
    /// A segment with a live endpoint (or a creator still making it): the
    /// pids of the live endpoints, as far as the table says.
    Live(Vec<u32>),
    /// A stale segment made with `persist`, left for an opener to resume.
    Persistent,
    /// Something `create` may not judge or remove, and why.
    Other(String),
}

/// For a `create` that found `name` taken: removes it if it is a stale
/// shmlane segment (one nobody holds: [`Liveness::Stale`]), unless
/// `keep_persistent` and its creator asked it to persist. Says what it
/// found. The removal is the registry's own, gated and inode-checked: an
/// endpoint attaching at the same moment either keeps the segment alive
/// or finds it gone and looks again.
pub(crate) fn clear_stale(name: &str, keep_persistent: bool) -> Occupant {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let (entry, file) = match examine(bare) {
        Ok(found) => found,
        Err(RegistryError::NotFound { .. }) => return Occupant::Gone,
        Err(e) => return Occupant::Other(e.to_string()),
    };
    let live_pids = |entry: &Entry| -> Vec<u32> {
        let mut pids: Vec<u32> = entry.segment().map_or_else(Vec::new, |s| {
            s.endpoints
                .iter()
                .filter(|e| e.alive == Some(true) && e.pid != 0)
                .map(|e| e.pid)
                .collect()
        });
        pids.sort_unstable();
        pids.dedup();
        pids
    };
    match (&entry.status, &entry.liveness) {
        (Status::Segment(_) | Status::Initializing, Liveness::Stale) => {}
        (Status::Segment(_) | Status::Initializing, Liveness::Live | Liveness::Initializing) => {
            return Occupant::Live(live_pids(&entry));
        }
        (status, Liveness::Stale) if !status.is_shmlane() => {
            return Occupant::Other(status.to_string());
        }
        (status, liveness) => return Occupant::Other(format!("{status}; {liveness}")),
    }
    if keep_persistent && entry.segment().is_some_and(|s| s.persist) {
        return Occupant::Persistent;
    }
    let (Some(info), Some(file)) = (&entry.file, file) else {
        return Occupant::Other("its file could not be examined".to_owned());
    };
    match unlink_checked(bare, &file, info, true) {
        Ok(()) | Err(Unlink::Replaced) => Occupant::Gone,
        Err(Unlink::InUse) => Occupant::Live(Vec::new()),
        Err(Unlink::Failed(errno)) => Occupant::Other(format!(
            "it is stale but could not be removed: {}",
            errno.desc()
        )),
    }
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
