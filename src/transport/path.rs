//! Filesystem names that FIFOs and Unix sockets live under: what kind of
//! file is at a path, and removing a name this end created when it drops.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{SFlag, stat};

use super::ConnectError;
use crate::sync::current_pid;

/// A path as a C string; a NUL byte in it is an invalid name.
pub(crate) fn c_path(path: &Path, endpoint: &str) -> Result<CString, ConnectError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| ConnectError::InvalidName {
        endpoint: endpoint.to_owned(),
        reason: "the path contains a NUL byte".into(),
    })
}

/// The kind of file a `st_mode` describes, in words.
pub(crate) fn file_type_name(mode: u32) -> &'static str {
    match SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFIFO => "FIFO",
        SFlag::S_IFSOCK => "socket",
        SFlag::S_IFREG => "regular file",
        SFlag::S_IFDIR => "directory",
        SFlag::S_IFCHR => "character device",
        SFlag::S_IFBLK => "block device",
        SFlag::S_IFLNK => "symbolic link",
        _ => "file of unknown type",
    }
}

/// Whether `mode` is of the file type `kind` (an `S_IF*` value).
pub(crate) fn is_type(mode: u32, kind: SFlag) -> bool {
    mode & SFlag::S_IFMT.bits() == kind.bits()
}

/// The right to remove a path this end created, as long as the path still
/// names the file it created (someone may have replaced it since: that
/// file is theirs). Removes it on drop, in the creating process only: a
/// forked child dropping its copy leaves the name to its parent.
#[derive(Debug)]
pub(crate) struct PathGuard {
    path: PathBuf,
    dev: u64,
    ino: u64,
    creator: u32,
}

impl PathGuard {
    /// Records the file now at `path`; `None` if it cannot be looked at
    /// (then nothing will be removed).
    pub(crate) fn new(path: &Path) -> Option<Self> {
        let st = stat(path).ok()?;
        Some(Self {
            path: path.to_owned(),
            dev: st.st_dev,
            ino: st.st_ino,
            creator: current_pid(),
        })
    }
}

impl Drop for PathGuard {
    fn drop(&mut self) {
        if self.creator != current_pid() {
            return;
        }
        // The window between this check and the unlink cannot be closed
        // from user space (as for segments; SAFETY.md).
        let still_ours =
            stat(&self.path).is_ok_and(|st| st.st_dev == self.dev && st.st_ino == self.ino);
        if still_ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A failed filesystem call on a channel's path, as the typed error a user
/// can act on.
pub(crate) fn fs_error(endpoint: &str, op: &'static str, source: std::io::Error) -> ConnectError {
    let endpoint = endpoint.to_owned();
    match source.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR) => ConnectError::NotFound { endpoint, source },
        Some(libc::EACCES | libc::EPERM | libc::EROFS) => ConnectError::Permission {
            endpoint,
            op,
            source,
        },
        Some(libc::ENAMETOOLONG) => ConnectError::InvalidName {
            endpoint,
            reason: format!("the path is too long: {source}"),
        },
        _ => ConnectError::Io {
            endpoint,
            op,
            source,
        },
    }
}

/// The right to an address (a Unix socket path): an exclusive `flock` on
/// `PATH.lock`, held for as long as the listener lives. A second listener
/// finds the lock taken and is refused without connecting to the first
/// (a probe connection would land in the first one's backlog). The lock
/// file is removed by the process that took it, while it still holds the
/// lock; a taker checks that the file it locked is still the one at the
/// path, so two takers never both win across a removal.
#[derive(Debug)]
pub(crate) struct AddressLock {
    path: PathBuf,
    /// Holds the lock while open (closed after the path is removed).
    _file: File,
    creator: u32,
}

impl AddressLock {
    /// `PATH.lock` for the address `path`.
    pub(crate) fn lock_path(path: &Path) -> PathBuf {
        let mut name = OsString::from(path.as_os_str());
        name.push(".lock");
        PathBuf::from(name)
    }

    /// Takes the lock for `path`, or `AddrInUse` if a live listener holds
    /// it.
    pub(crate) fn take(path: &Path, mode: u32, endpoint: &str) -> Result<Self, ConnectError> {
        let lock_path = Self::lock_path(path);
        loop {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(mode)
                // Never follow a symbolic link another user put there.
                .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
                .open(&lock_path)
                .map_err(|e| fs_error(endpoint, "open(lock file)", e))?;
            // SAFETY: flock only changes the lock state of the open file
            // description `file` owns.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } < 0 {
                let source = std::io::Error::last_os_error();
                return Err(match source.raw_os_error() {
                    Some(libc::EWOULDBLOCK) => ConnectError::AddrInUse {
                        endpoint: endpoint.to_owned(),
                        source: std::io::Error::new(
                            std::io::ErrorKind::AddrInUse,
                            format!(
                                "a listener holds {} (stop it, or choose another path)",
                                lock_path.display()
                            ),
                        ),
                    },
                    _ => fs_error(endpoint, "flock(lock file)", source),
                });
            }
            // The file locked must still be the one at the path: a holder
            // may have removed it between our open and flock.
            let ours = file
                .metadata()
                .map_err(|e| fs_error(endpoint, "fstat", e))?;
            match std::fs::metadata(&lock_path) {
                Ok(now) if now.dev() == ours.dev() && now.ino() == ours.ino() => {
                    return Ok(Self {
                        path: lock_path,
                        _file: file,
                        creator: current_pid(),
                    });
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(fs_error(endpoint, "stat(lock file)", e)),
            }
        }
    }
}

impl Drop for AddressLock {
    fn drop(&mut self) {
        if self.creator == current_pid() {
            // Removed while still locked (the file closes after this).
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
