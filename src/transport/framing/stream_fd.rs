//! The stream descriptor under both ends: blocking by default, with
//! per-call non-blocking reads and writes (`MSG_DONTWAIT` on sockets,
//! `RWF_NOWAIT` on pipes).

use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use crate::transport::Deadline;
use crate::transport::poll::{READABLE, wait_fd};

/// What kind of descriptor a stream is; it decides the syscalls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FdKind {
    /// An anonymous pipe, or any inherited stream descriptor.
    Pipe,
    /// A FIFO: a read of 0 bytes before any writer came is not the end.
    Fifo,
    /// A connected stream socket: sends use `MSG_NOSIGNAL`; a used end
    /// half-closes its direction when dropped.
    Socket,
}

/// A stream descriptor, kept in blocking mode, with per-call non-blocking
/// reads and writes.
#[derive(Debug)]
pub(super) struct StreamFd {
    pub(super) fd: OwnedFd,
    pub(super) kind: FdKind,
    /// `RWF_NOWAIT` works on this pipe (cleared on a kernel that refuses
    /// it; then O_NONBLOCK is set around each non-blocking call instead).
    rwf_nowait: bool,
}

/// The result of a raw syscall returning a byte count.
fn check(n: libc::ssize_t) -> io::Result<usize> {
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

pub(super) fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// The peer stopped answering: TCP's user timeout or keepalive gave up
/// (`ETIMEDOUT`), or an ICMP said its host is gone (`EHOSTUNREACH`).
pub(super) fn peer_lost(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ETIMEDOUT | libc::EHOSTUNREACH | libc::ENETUNREACH)
    )
}

impl StreamFd {
    pub(super) fn new(fd: OwnedFd, kind: FdKind) -> Self {
        Self {
            fd,
            kind,
            rwf_nowait: true,
        }
    }

    /// One read into `buf`. With `nowait`, WouldBlock instead of blocking.
    pub(super) fn read(&mut self, buf: &mut [u8], nowait: bool) -> io::Result<usize> {
        let fd = self.fd.as_raw_fd();
        let (ptr, len) = (buf.as_mut_ptr().cast::<libc::c_void>(), buf.len());
        match (self.kind, nowait) {
            (FdKind::Socket, _) => {
                let flags = if nowait { libc::MSG_DONTWAIT } else { 0 };
                // SAFETY: `ptr` points to `len` writable bytes of `buf`,
                // which outlives the call.
                check(unsafe { libc::recv(fd, ptr, len, flags) })
            }
            // SAFETY: as above.
            (_, false) => check(unsafe { libc::read(fd, ptr, len) }),
            (_, true) => {
                let iov = libc::iovec {
                    iov_base: ptr,
                    iov_len: len,
                };
                self.nowait(
                    // SAFETY: one iovec describing `buf` (as above); offset
                    // -1 reads at the current position, as a pipe needs.
                    || unsafe { libc::preadv2(fd, &iov, 1, -1, libc::RWF_NOWAIT) },
                    // SAFETY: as above.
                    || unsafe { libc::read(fd, ptr, len) },
                )
            }
        }
    }

    /// One vectored write of `iov`. With `nowait`, WouldBlock instead of
    /// blocking (a partial write is possible either way).
    pub(super) fn write(&mut self, iov: &[IoSlice<'_>], nowait: bool) -> io::Result<usize> {
        let fd = self.fd.as_raw_fd();
        // IoSlice is ABI-compatible with iovec on Unix (std guarantees it).
        let (iov_ptr, count) = (iov.as_ptr().cast::<libc::iovec>(), iov.len());
        let count_int = libc::c_int::try_from(count).unwrap_or(libc::c_int::MAX);
        match (self.kind, nowait) {
            (FdKind::Socket, _) => {
                // SAFETY: an all-zero msghdr is valid (no name, no control
                // data); the iovec fields are set below.
                let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
                msg.msg_iov = iov_ptr.cast_mut();
                msg.msg_iovlen = count;
                let flags = libc::MSG_NOSIGNAL | if nowait { libc::MSG_DONTWAIT } else { 0 };
                // SAFETY: `msg` points to `count` iovecs of `iov`, each
                // describing a live readable slice; the kernel only reads
                // them.
                check(unsafe { libc::sendmsg(fd, &msg, flags) })
            }
            // A pipe has no MSG_NOSIGNAL: SIGPIPE is blocked around the
            // write and the one it raises consumed.
            (_, false) => without_sigpipe(|| {
                // SAFETY: `iov_ptr` points to `count_int` live iovecs (as
                // above).
                check(unsafe { libc::writev(fd, iov_ptr, count_int) })
            }),
            (_, true) => without_sigpipe(|| {
                self.nowait(
                    // SAFETY: as above; offset -1 writes at the current position.
                    || unsafe { libc::pwritev2(fd, iov_ptr, count_int, -1, libc::RWF_NOWAIT) },
                    // SAFETY: as above.
                    || unsafe { libc::writev(fd, iov_ptr, count_int) },
                )
            }),
        }
    }

    /// A non-blocking pipe call: `rwf` (with RWF_NOWAIT) where the kernel
    /// supports it, else `plain` with O_NONBLOCK set around it.
    fn nowait(
        &mut self,
        rwf: impl Fn() -> libc::ssize_t,
        plain: impl Fn() -> libc::ssize_t,
    ) -> io::Result<usize> {
        if self.rwf_nowait {
            match check(rwf()) {
                Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => self.rwf_nowait = false,
                other => return other,
            }
        }
        set_nonblocking(&self.fd, true)?;
        let result = check(plain());
        set_nonblocking(&self.fd, false)?;
        result
    }

    /// For a FIFO whose read returned 0: whether a writer came and went
    /// (the end), rather than none having opened it yet. The kernel reports
    /// POLLHUP only once a writer has been seen.
    pub(super) fn fifo_writer_gone(&self) -> io::Result<bool> {
        let events = wait_fd(self.fd.as_fd(), READABLE, Deadline::Now)?.unwrap_or(0);
        Ok(events & libc::POLLHUP != 0 && events & libc::POLLIN == 0)
    }

    pub(super) fn shutdown(&self, how: libc::c_int) {
        if self.kind == FdKind::Socket {
            // SAFETY: shutdown only changes the state of the socket this
            // descriptor refers to. An error (not connected) needs nothing.
            unsafe { libc::shutdown(self.fd.as_raw_fd(), how) };
        }
    }
}

/// The set of just SIGPIPE.
fn sigpipe_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset to write.
    unsafe { libc::sigemptyset(&mut set) };
    // SAFETY: as above; SIGPIPE is a valid signal number.
    unsafe { libc::sigaddset(&mut set, libc::SIGPIPE) };
    set
}

/// Runs `write` (a write to a pipe or FIFO) so that a reader gone is
/// `EPIPE` only, never a SIGPIPE that kills a process whose SIGPIPE
/// action is the default (a C host, or a Rust program that restored it):
/// SIGPIPE is blocked in this thread around the write, and the one the
/// write raised is taken off the thread's pending set before the old mask
/// comes back. A SIGPIPE the caller had already blocked and left pending
/// is the caller's and stays. Costs two `rt_sigprocmask` calls per write
/// (none while the caller blocks SIGPIPE itself).
fn without_sigpipe(write: impl FnOnce() -> io::Result<usize>) -> io::Result<usize> {
    let set = sigpipe_set();
    // SAFETY: sigset_t is plain data; pthread_sigmask fills it in.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` and `old` are valid sigsets; this changes only the
    // calling thread's mask.
    let blocked = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) } == 0;
    // SAFETY: `old` was filled in by pthread_sigmask.
    let was_blocked = blocked && unsafe { libc::sigismember(&old, libc::SIGPIPE) } == 1;
    let pending_before = was_blocked && {
        // SAFETY: sigset_t is plain data; sigpending fills it in.
        let mut pending: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `pending` is a valid sigset to write.
        let read = unsafe { libc::sigpending(&mut pending) } == 0;
        // SAFETY: `pending` was filled in by sigpending.
        read && unsafe { libc::sigismember(&pending, libc::SIGPIPE) } == 1
    };
    let result = write();
    let raised = matches!(&result, Err(e) if e.raw_os_error() == Some(libc::EPIPE));
    if blocked && raised && !pending_before {
        let now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        loop {
            // SAFETY: `set` is a valid sigset and `now` a valid timespec;
            // a zero timeout only polls, and a null info pointer is
            // allowed. Takes the SIGPIPE this write left pending.
            let taken = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &now) };
            if taken >= 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                break;
            }
        }
    }
    if blocked && !was_blocked {
        // SAFETY: restores the mask read above, in this thread only.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    }
    result
}

fn set_nonblocking(fd: &OwnedFd, on: bool) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: F_GETFL only reads the descriptor's flags.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    let flags = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    // SAFETY: F_SETFL with flags read just above, O_NONBLOCK changed.
    if unsafe { libc::fcntl(raw, libc::F_SETFL, flags) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
