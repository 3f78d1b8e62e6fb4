//! Who may remove a segment's name, and the lock bytes that make it safe.
//!
//! Every endpoint holds an OFD lock on its row's byte (`mapped.rs`); a
//! creator also holds the *creator byte* from the moment its `O_EXCL` open
//! succeeds, before the file is even sized, so a segment being made is
//! never mistaken for an abandoned one. A segment is in use while another
//! open file description holds any of these [`LIVENESS_LOCKS`] bytes.
//!
//! A name is removed in one way only, [`unlink_unused`]: under the *gate*
//! byte, probe the liveness locks, check that the name still links the
//! inode that was examined, `shm_unlink`. Everyone who removes a name (the
//! last endpoint to detach, `create` over a stale segment, `gc`, `rm`)
//! holds the gate while doing so, and everyone who attaches passes through
//! it after taking their lock ([`still_linked`]):
//!
//! * a remover whose probe ran before an attacher took its lock still held
//!   the gate then, so the attacher's pass waits until the unlink is done
//!   and then sees a link count of 0: it tries again, and never keeps a
//!   segment nobody else can find;
//! * a remover whose probe ran after sees the attacher's lock and leaves
//!   the name alone.
//!
//! Endpoints take the gate exclusively (a write lock): two endpoints that
//! detach at once are serialised, so the second sees the first's locks gone
//! (closing a description drops all its locks at once) and the last one
//! out removes the name. The registry reads files it may not write, so its
//! removers take a read lock: they exclude attachers, and a stale segment
//! has no endpoint left to race with.

use std::ffi::CStr;
use std::fs::File;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, fcntl};
use nix::sys::mman::shm_unlink;
use nix::sys::stat::fstat;

use super::layout::MAX_PARTICIPANTS;

/// First byte of the role locks: one byte per peer-table row, far beyond
/// any segment's end (locks need no backing bytes).
pub(super) const ROLE_LOCK_BASE: i64 = 1 << 48;
/// The creator's byte, just after the last row's.
const CREATOR_LOCK: i64 = ROLE_LOCK_BASE + MAX_PARTICIPANTS as i64;
/// The removal gate, just before the first row's.
const GATE_LOCK: i64 = ROLE_LOCK_BASE - 1;
/// Lock bytes (from [`ROLE_LOCK_BASE`]) whose holder keeps a segment in
/// use: every participant row's, and the creator's.
pub(super) const LIVENESS_LOCKS: usize = MAX_PARTICIPANTS as usize + 1;

/// A lock request of `kind` (`F_WRLCK`, `F_RDLCK`, `F_UNLCK`) on `bytes`
/// bytes from `start`.
pub(super) fn lock_request(kind: libc::c_int, start: i64, bytes: i64) -> libc::flock {
    libc::flock {
        l_type: kind as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: start,
        l_len: bytes,
        l_pid: 0,
    }
}

/// Takes the creator byte on `file` (a file this process just made with
/// `O_EXCL`, so nobody else can hold it).
pub(super) fn hold_creator_lock(file: &File) -> Result<(), Errno> {
    let request = lock_request(libc::F_WRLCK, CREATOR_LOCK, 1);
    fcntl(file, FcntlArg::F_OFD_SETLK(&request)).map(drop)
}

/// Whether another open file description holds a lock on any of `bytes`
/// bytes from `start` of `file`: the one probe every liveness question
/// asks (`F_OFD_GETLK` sets nothing, works on a read-only descriptor, and
/// this description's own locks never conflict with it).
pub(super) fn locks_held(file: &File, start: i64, bytes: i64) -> Result<bool, Errno> {
    let mut probe = lock_request(libc::F_WRLCK, start, bytes);
    fcntl(file, FcntlArg::F_OFD_GETLK(&mut probe))?;
    Ok(probe.l_type != libc::F_UNLCK as libc::c_short)
}

/// Whether another open file description holds the creator byte of `file`.
pub(super) fn creator_lock_held(file: &File) -> Result<bool, Errno> {
    locks_held(file, CREATOR_LOCK, 1)
}

/// Whether another open file description holds any liveness lock of
/// `file`.
pub(super) fn in_use_by_others(file: &File) -> Result<bool, Errno> {
    locks_held(file, ROLE_LOCK_BASE, LIVENESS_LOCKS as i64)
}

/// Runs `body` holding the gate of `file` (exclusively if `exclusive`,
/// which needs a writable descriptor), waiting for whoever holds it now.
/// Holders keep it for a few syscalls, and a dead holder's lock goes with
/// it, so the wait is short. With `release_own`, this description's
/// liveness locks are dropped before the gate is: an endpoint on its way
/// out, so that the next one through the gate sees it gone.
fn with_gate<R>(
    file: &File,
    exclusive: bool,
    release_own: bool,
    body: impl FnOnce() -> R,
) -> Result<R, Errno> {
    let kind = if exclusive {
        libc::F_WRLCK
    } else {
        libc::F_RDLCK
    };
    let request = lock_request(kind, GATE_LOCK, 1);
    loop {
        match fcntl(file, FcntlArg::F_OFD_SETLKW(&request)) {
            Ok(_) => break,
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    let result = body();
    if release_own {
        let own = lock_request(libc::F_UNLCK, ROLE_LOCK_BASE, LIVENESS_LOCKS as i64);
        // As below: closing the description would drop them too.
        let _ = fcntl(file, FcntlArg::F_OFD_SETLK(&own));
    }
    let release = lock_request(libc::F_UNLCK, GATE_LOCK, 1);
    // An unlock of a lock we hold cannot fail but for a closed descriptor,
    // which `file` is not; closing would drop it anyway.
    let _ = fcntl(file, FcntlArg::F_OFD_SETLK(&release));
    Ok(result)
}

/// After taking its lock: waits out a removal in progress, then says
/// whether the name still links `file` (`false`: it was removed, and the
/// caller must let the file go and find the name again).
pub(super) fn still_linked(file: &File) -> Result<bool, Errno> {
    with_gate(file, true, false, || fstat(file).map(|st| st.st_nlink > 0))?
}

/// Why [`unlink_unused`] did not remove the name.
#[derive(Debug)]
pub(super) enum Unlink {
    /// The name no longer links the examined inode (or is gone).
    Replaced,
    /// Another description holds a liveness lock.
    InUse,
    /// A syscall failed.
    Failed(Errno),
}

/// Who is removing a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Remover {
    /// An endpoint detaching (a writable descriptor holding its locks,
    /// which it gives up under the gate).
    LastEndpoint,
    /// The registry (`gc`, `rm`, `create` over a stale segment), with a
    /// read-only descriptor; `force` removes a segment in use.
    Registry { force: bool },
}

/// The one way a name is removed: under the gate, if no other description
/// holds a liveness lock of `file` (unless forced), and if the name
/// `shm_name` (as `shm_open` takes it, `/NAME`) still links the inode
/// `(dev, ino)` that `file` is. The window between that check and the
/// unlink cannot be closed from user space (SAFETY.md section 1); the
/// gate makes it harmless for shmlane's own endpoints.
pub(super) fn unlink_unused(
    file: &File,
    remover: Remover,
    shm_name: &CStr,
    (dev, ino): (u64, u64),
) -> Result<(), Unlink> {
    let endpoint = remover == Remover::LastEndpoint;
    let force = remover == Remover::Registry { force: true };
    let removed = with_gate(file, endpoint, endpoint, || {
        if !force {
            match in_use_by_others(file) {
                Ok(false) => {}
                Ok(true) => return Err(Unlink::InUse),
                Err(e) => return Err(Unlink::Failed(e)),
            }
        }
        let path = format!("/dev/shm{}", shm_name.to_string_lossy());
        match nix::sys::stat::lstat(path.as_str()) {
            Ok(st) if st.st_dev == dev && st.st_ino == ino => {}
            Ok(_) | Err(Errno::ENOENT) => return Err(Unlink::Replaced),
            Err(e) => return Err(Unlink::Failed(e)),
        }
        shm_unlink(shm_name).map_err(|e| match e {
            Errno::ENOENT => Unlink::Replaced,
            other => Unlink::Failed(other),
        })
    });
    removed.map_err(Unlink::Failed)?
}
