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
            // SAFETY: `iov_ptr` points to `count_int` live iovecs (as above).
            (_, false) => check(unsafe { libc::writev(fd, iov_ptr, count_int) }),
            (_, true) => self.nowait(
                // SAFETY: as above; offset -1 writes at the current position.
                || unsafe { libc::pwritev2(fd, iov_ptr, count_int, -1, libc::RWF_NOWAIT) },
                // SAFETY: as above.
                || unsafe { libc::writev(fd, iov_ptr, count_int) },
            ),
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
