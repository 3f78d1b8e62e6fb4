//! Filesystem names that FIFOs and Unix sockets live under: what kind of
//! file is at a path, and removing a name this end created when it drops.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
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
