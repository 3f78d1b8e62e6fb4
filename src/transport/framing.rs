//! Message boundaries on byte streams, written once for every stream
//! mechanism: `pipe:`, `fifo://`, `unix://` and `tcp://` all send and
//! receive through [`StreamSender`] and [`StreamReceiver`].
//!
//! * [`Framing::Length`]: a 4-byte big-endian length, then the message.
//!   Sent with one `writev` (prefix and payload together).
//! * [`Framing::Lines`]: the message, then `\n`.
//!
//! The receiver reads ahead into a buffer of its own (64 KiB, grown only to
//! hold one whole frame of at most the maximum size) and copies each
//! message into the caller's `Vec`: a read usually brings a whole frame, so
//! a message costs one `read`, and a frame whose bytes have not all arrived
//! by a deadline stays in the buffer for the next call. A length prefix is
//! checked against the maximum before anything is sized by it: a bigger one
//! is [`Corrupted`](RecvError::Corrupted), the connection is closed, and
//! no allocation follows the bogus number.
//!
//! Timed and non-blocking calls use per-call non-blocking I/O
//! (`MSG_DONTWAIT` on sockets, `RWF_NOWAIT` on pipes), so the descriptor
//! itself stays blocking and untimed calls cost one plain syscall.

use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::config::Framing;
use super::path::PathGuard;
use super::poll::{READABLE, WRITABLE, wait_fd};
use super::{Deadline, Receiver, RecvError, SendError, Sender};
use crate::error::Corruption;
use crate::sync::current_pid;

/// Bytes of a length prefix.
pub(crate) const PREFIX_LEN: usize = 4;
/// Size of a receiver's read-ahead buffer (more only for a bigger frame).
const READ_AHEAD: usize = 64 * 1024;
/// How long a dropped sender still tries to deliver the rest of a message
/// that a timed send left half-written.
const CLOSE_FLUSH: Duration = Duration::from_secs(1);

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
struct StreamFd {
    fd: OwnedFd,
    kind: FdKind,
    /// `RWF_NOWAIT` works on this pipe (cleared on a kernel that refuses
    /// it; then O_NONBLOCK is set around each non-blocking call instead).
    rwf_nowait: bool,
}

/// The result of a raw syscall returning a byte count.
fn check(n: libc::ssize_t) -> io::Result<usize> {
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

impl StreamFd {
    fn new(fd: OwnedFd, kind: FdKind) -> Self {
        Self {
            fd,
            kind,
            rwf_nowait: true,
        }
    }

    /// One read into `buf`. With `nowait`, WouldBlock instead of blocking.
    fn read(&mut self, buf: &mut [u8], nowait: bool) -> io::Result<usize> {
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
    fn write(&mut self, iov: &[IoSlice<'_>], nowait: bool) -> io::Result<usize> {
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
    fn fifo_writer_gone(&self) -> io::Result<bool> {
        let events = wait_fd(self.fd.as_fd(), READABLE, Deadline::Now)?.unwrap_or(0);
        Ok(events & libc::POLLHUP != 0 && events & libc::POLLIN == 0)
    }

    fn shutdown(&self, how: libc::c_int) {
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

/// The sending end of a stream channel (`pipe:`, `fifo://`, `unix://`,
/// `tcp://`): each message is one frame of the channel's [`Framing`].
///
/// A timed or non-blocking send that the kernel takes only in part keeps
/// the rest in the sender and returns `Ok`: the message is accepted (a
/// frame is never torn), and the next send, or the drop, finishes it first.
#[derive(Debug)]
pub struct StreamSender {
    fd: StreamFd,
    framing: Framing,
    max: usize,
    endpoint: Arc<str>,
    /// The unsent rest of an accepted message, from `pending_at`.
    pending: Vec<u8>,
    pending_at: usize,
    /// The receiver was found gone: every later send says so at once.
    gone: bool,
    /// The process that used this end (sent through it): only it
    /// half-closes the connection on drop.
    used_by: u32,
    _guard: Option<PathGuard>,
}

/// The receiving end of a stream channel: see [`StreamSender`].
#[derive(Debug)]
pub struct StreamReceiver {
    /// `None` once closed for corruption.
    fd: Option<StreamFd>,
    framing: Framing,
    max: usize,
    endpoint: Arc<str>,
    /// Read-ahead: bytes `start..end` are received and not yet delivered.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Lines: bytes from `start` already searched for `\n`.
    scanned: usize,
    /// The stream reached its end (after the buffered bytes).
    eof: bool,
    /// The framing broke: every later call returns this.
    corrupted: Option<Corruption>,
    used_by: u32,
    _guard: Option<PathGuard>,
}

impl StreamSender {
    pub(crate) fn new(
        fd: OwnedFd,
        kind: FdKind,
        framing: Framing,
        max: usize,
        endpoint: Arc<str>,
        guard: Option<PathGuard>,
    ) -> Self {
        Self {
            fd: StreamFd::new(fd, kind),
            framing,
            max,
            endpoint,
            pending: Vec::new(),
            pending_at: 0,
            gone: false,
            used_by: 0,
            _guard: guard,
        }
    }

    /// The descriptor, for handing the end to another process. A message
    /// half-written by a timed send is finished first (blocking).
    pub fn into_fd(mut self) -> Result<OwnedFd, SendError> {
        self.flush_pending(Deadline::Never)?;
        // The end was not used up by this process: no half-close on drop.
        self.used_by = 0;
        let placeholder = self
            .fd
            .fd
            .try_clone()
            .map_err(|source| self.io("dup", source))?;
        Ok(std::mem::replace(&mut self.fd.fd, placeholder))
    }

    fn io(&self, op: &'static str, source: io::Error) -> SendError {
        SendError::Io {
            endpoint: self.endpoint.clone(),
            op,
            source,
        }
    }

    fn failed(&mut self, op: &'static str, e: io::Error) -> SendError {
        match e.kind() {
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => {
                self.gone = true;
                SendError::Disconnected {
                    endpoint: self.endpoint.clone(),
                }
            }
            _ => self.io(op, e),
        }
    }

    /// Writes what is left of an accepted message. `Full`/`Timeout` if the
    /// deadline passes first.
    fn flush_pending(&mut self, deadline: Deadline) -> Result<(), SendError> {
        let nowait = deadline != Deadline::Never;
        while self.pending_at < self.pending.len() {
            let rest = [IoSlice::new(&self.pending[self.pending_at..])];
            match self.fd.write(&rest, nowait) {
                Ok(n) => self.pending_at += n,
                Err(e) if would_block(&e) => {
                    if !self.wait_writable(deadline)? {
                        return Err(timed_out(deadline));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.failed("write", e)),
            }
        }
        self.pending.clear();
        self.pending_at = 0;
        Ok(())
    }

    /// Waits for room; false if the deadline passed first.
    fn wait_writable(&mut self, deadline: Deadline) -> Result<bool, SendError> {
        if deadline == Deadline::Now {
            return Ok(false);
        }
        match wait_fd(self.fd.fd.as_fd(), WRITABLE, deadline) {
            Ok(ready) => Ok(ready.is_some()),
            Err(e) => Err(self.io("poll", e)),
        }
    }

    /// Writes the two parts of a frame. Returns `Full`/`Timeout` only if
    /// nothing was written; a frame begun is finished or kept pending.
    fn write_frame(&mut self, parts: [&[u8]; 2], deadline: Deadline) -> Result<(), SendError> {
        let total = parts[0].len() + parts[1].len();
        let nowait = deadline != Deadline::Never;
        let mut done = 0;
        loop {
            let (iov, count) = slices_from(parts, done);
            match self.fd.write(&iov[..count], nowait) {
                Ok(n) => {
                    done += n;
                    if done >= total {
                        return Ok(());
                    }
                }
                Err(e) if would_block(&e) => {
                    if !self.wait_writable(deadline)? {
                        if done == 0 {
                            return Err(timed_out(deadline));
                        }
                        self.keep_pending(parts, done);
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.failed("write", e)),
            }
        }
    }

    /// Keeps the unwritten rest of a frame, after its first `done` bytes.
    fn keep_pending(&mut self, parts: [&[u8]; 2], done: usize) {
        self.pending.clear();
        self.pending_at = 0;
        let mut skip = done;
        for part in parts {
            let from = skip.min(part.len());
            self.pending.extend_from_slice(&part[from..]);
            skip -= from;
        }
    }
}

/// `Full` for a call that was not to wait, `Timeout` for one that waited.
fn timed_out(deadline: Deadline) -> SendError {
    match deadline {
        Deadline::Now => SendError::Full,
        _ => SendError::Timeout,
    }
}

/// The parts of a frame from byte `done` on, as up to two slices.
fn slices_from<'a>(parts: [&'a [u8]; 2], done: usize) -> ([IoSlice<'a>; 2], usize) {
    let [a, b] = parts;
    if done < a.len() {
        ([IoSlice::new(&a[done..]), IoSlice::new(b)], 2)
    } else {
        let from = (done - a.len()).min(b.len());
        ([IoSlice::new(&b[from..]), IoSlice::new(&[])], 1)
    }
}

impl Sender for StreamSender {
    fn send_deadline(&mut self, msg: &[u8], deadline: Deadline) -> Result<(), SendError> {
        SendError::check_len(msg.len(), self.max, &self.endpoint)?;
        if self.framing == Framing::Lines
            && let Some(at) = msg.iter().position(|&b| b == b'\n')
        {
            return Err(SendError::InvalidMessage {
                endpoint: self.endpoint.clone(),
                reason: format!(
                    "byte {at} is a newline, which framing=lines uses to end a message (use framing=length for any bytes)"
                ),
            });
        }
        if self.gone {
            return Err(SendError::Disconnected {
                endpoint: self.endpoint.clone(),
            });
        }
        self.used_by = current_pid();
        if !self.pending.is_empty() {
            self.flush_pending(deadline)?;
        }
        // At most MAX_MESSAGE_SIZE_LIMIT, checked at open: fits in u32.
        let prefix = (msg.len() as u32).to_be_bytes();
        let parts: [&[u8]; 2] = match self.framing {
            Framing::Length => [&prefix, msg],
            Framing::Lines => [msg, b"\n"],
        };
        self.write_frame(parts, deadline)
    }

    fn max_message_size(&self) -> usize {
        self.max
    }

    fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

impl Drop for StreamSender {
    fn drop(&mut self) {
        if !self.pending.is_empty() && !self.gone {
            let _ = self.flush_pending(Deadline::At(Instant::now() + CLOSE_FLUSH));
        }
        if self.used_by == current_pid() {
            // The peer's receiver sees the end even while this
            // connection's receiving half stays open.
            self.fd.shutdown(libc::SHUT_WR);
        }
    }
}

/// One frame found in the read-ahead buffer.
struct Frame {
    /// Offset and length of the message in the buffer.
    at: usize,
    len: usize,
    /// Bytes of the buffer the frame takes (with prefix or newline).
    taken: usize,
}

impl StreamReceiver {
    pub(crate) fn new(
        fd: OwnedFd,
        kind: FdKind,
        framing: Framing,
        max: usize,
        endpoint: Arc<str>,
        guard: Option<PathGuard>,
    ) -> Self {
        Self {
            fd: Some(StreamFd::new(fd, kind)),
            framing,
            max,
            endpoint,
            buf: vec![0; READ_AHEAD],
            start: 0,
            end: 0,
            scanned: 0,
            eof: false,
            corrupted: None,
            used_by: 0,
            _guard: guard,
        }
    }

    /// The descriptor, for handing the end to another process. Bytes this
    /// end has already read ahead are not handed over: hand ends over
    /// before using them. `Corrupted` if this end closed the stream.
    pub fn into_fd(mut self) -> Result<OwnedFd, RecvError> {
        self.used_by = 0;
        match self.fd.take() {
            Some(stream) => Ok(stream.fd),
            None => Err(match self.corrupted {
                Some(corruption) => self.corrupted_error(corruption),
                None => RecvError::Disconnected {
                    endpoint: self.endpoint.clone(),
                },
            }),
        }
    }

    fn io(&self, op: &'static str, source: io::Error) -> RecvError {
        RecvError::Io {
            endpoint: self.endpoint.clone(),
            op,
            source,
        }
    }

    fn corrupted_error(&self, corruption: Corruption) -> RecvError {
        RecvError::Corrupted {
            endpoint: self.endpoint.clone(),
            corruption,
        }
    }

    /// Remembers the corruption and closes the connection.
    fn poison(&mut self, corruption: Corruption) -> RecvError {
        self.corrupted = Some(corruption);
        if let Some(fd) = self.fd.take() {
            fd.shutdown(libc::SHUT_RDWR);
        }
        (self.start, self.end, self.scanned) = (0, 0, 0);
        self.corrupted_error(corruption)
    }

    /// The next whole frame in the buffer, if there is one.
    fn next_frame(&mut self) -> Result<Option<Frame>, Corruption> {
        let unread = &self.buf[self.start..self.end];
        match self.framing {
            Framing::Length => {
                let Some(prefix) = unread.first_chunk::<PREFIX_LEN>() else {
                    return Ok(None);
                };
                let len = u32::from_be_bytes(*prefix) as usize;
                if len > self.max {
                    return Err(Corruption {
                        what: "length prefix exceeds the maximum message size",
                        found: len as u64,
                        limit: self.max as u64,
                    });
                }
                Ok((unread.len() >= PREFIX_LEN + len).then_some(Frame {
                    at: self.start + PREFIX_LEN,
                    len,
                    taken: PREFIX_LEN + len,
                }))
            }
            Framing::Lines => match unread[self.scanned..].iter().position(|&b| b == b'\n') {
                Some(i) if self.scanned + i > self.max => Err(Corruption {
                    what: "line longer than the maximum message size",
                    found: (self.scanned + i) as u64,
                    limit: self.max as u64,
                }),
                Some(i) => {
                    let len = self.scanned + i;
                    Ok(Some(Frame {
                        at: self.start,
                        len,
                        taken: len + 1,
                    }))
                }
                None if unread.len() > self.max => Err(Corruption {
                    what: "line longer than the maximum message size",
                    found: unread.len() as u64,
                    limit: self.max as u64,
                }),
                None => {
                    self.scanned = unread.len();
                    Ok(None)
                }
            },
        }
    }

    /// Bytes the frame at `start` needs in the buffer (at most the largest
    /// frame: a prefix was validated before this is called).
    fn frame_needs(&self) -> usize {
        let unread = &self.buf[self.start..self.end];
        match (self.framing, unread.first_chunk::<PREFIX_LEN>()) {
            (Framing::Length, Some(prefix)) => PREFIX_LEN + u32::from_be_bytes(*prefix) as usize,
            (Framing::Length, None) => PREFIX_LEN,
            (Framing::Lines, _) => (unread.len() + 1).min(self.max + 1),
        }
    }

    /// Makes room after `end` for the rest of the current frame: moves the
    /// unread bytes to the front, and grows the buffer only if one frame
    /// needs more than it holds.
    fn make_room(&mut self) {
        if self.start == self.end {
            (self.start, self.end, self.scanned) = (0, 0, 0);
        }
        let needs = self.frame_needs();
        if self.start > 0 && (self.end == self.buf.len() || self.start + needs > self.buf.len()) {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if needs > self.buf.len() {
            self.buf.resize(needs, 0);
        }
    }

    /// Reads more bytes. `Ok(true)` if some came or the stream ended,
    /// `Ok(false)` if the deadline passed with none.
    fn fill(&mut self, deadline: Deadline) -> Result<bool, RecvError> {
        self.make_room();
        let nowait = deadline != Deadline::Never;
        let Some(fd) = self.fd.as_mut() else {
            self.eof = true;
            return Ok(true);
        };
        loop {
            let result = fd.read(&mut self.buf[self.end..], nowait);
            let wait = match result {
                Ok(0) if fd.kind == FdKind::Fifo => match fd.fifo_writer_gone() {
                    Ok(true) => {
                        self.eof = true;
                        return Ok(true);
                    }
                    // No writer yet: wait for one to write (or come and go).
                    Ok(false) => true,
                    Err(e) => return Err(self.io("poll", e)),
                },
                Ok(0) => {
                    self.eof = true;
                    return Ok(true);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if would_block(&e) => true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => false,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    self.eof = true;
                    return Ok(true);
                }
                Err(e) => return Err(self.io("read", e)),
            };
            if wait {
                if deadline == Deadline::Now {
                    return Ok(false);
                }
                match wait_fd(fd.fd.as_fd(), READABLE, deadline) {
                    Ok(Some(_)) => {}
                    Ok(None) => return Ok(false),
                    Err(e) => return Err(self.io("poll", e)),
                }
            }
        }
    }

    /// What the end of the stream means for the bytes still buffered.
    fn at_end(&mut self, out: &mut Vec<u8>) -> Result<usize, RecvError> {
        let unread = self.end - self.start;
        if unread == 0 {
            return Err(RecvError::Disconnected {
                endpoint: self.endpoint.clone(),
            });
        }
        match self.framing {
            // A last line without a newline is still a line.
            Framing::Lines => {
                out.clear();
                out.extend_from_slice(&self.buf[self.start..self.end]);
                (self.start, self.scanned) = (self.end, 0);
                Ok(unread)
            }
            Framing::Length => {
                let needs = self.frame_needs();
                Err(self.poison(Corruption {
                    what: "stream ended inside a frame",
                    found: unread as u64,
                    limit: needs as u64,
                }))
            }
        }
    }
}

impl Receiver for StreamReceiver {
    fn recv_deadline(&mut self, out: &mut Vec<u8>, deadline: Deadline) -> Result<usize, RecvError> {
        if let Some(corruption) = self.corrupted {
            return Err(self.corrupted_error(corruption));
        }
        self.used_by = current_pid();
        loop {
            match self.next_frame() {
                Ok(Some(frame)) => {
                    out.clear();
                    out.extend_from_slice(&self.buf[frame.at..frame.at + frame.len]);
                    self.start += frame.taken;
                    self.scanned = 0;
                    return Ok(frame.len);
                }
                Ok(None) => {}
                Err(corruption) => return Err(self.poison(corruption)),
            }
            if self.eof {
                return self.at_end(out);
            }
            if !self.fill(deadline)? {
                return Err(match deadline {
                    Deadline::Now => RecvError::Empty,
                    _ => RecvError::Timeout,
                });
            }
        }
    }

    fn max_message_size(&self) -> usize {
        self.max
    }

    fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

impl Drop for StreamReceiver {
    fn drop(&mut self) {
        if self.used_by == current_pid()
            && let Some(fd) = &self.fd
        {
            // A Unix-socket peer's sends now fail (Disconnected) even while
            // this connection's sending half stays open.
            fd.shutdown(libc::SHUT_RD);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn pipe_pair(framing: Framing, max: usize) -> (StreamSender, StreamReceiver) {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let name: Arc<str> = Arc::from("pipe:");
        (
            StreamSender::new(w, FdKind::Pipe, framing, max, name.clone(), None),
            StreamReceiver::new(r, FdKind::Pipe, framing, max, name, None),
        )
    }

    #[test]
    fn slices_from_skips_what_was_written() {
        let parts: [&[u8]; 2] = [b"ab", b"cde"];
        let text = |done| {
            let (iov, n) = slices_from(parts, done);
            iov[..n]
                .iter()
                .flat_map(|s| s.iter().copied())
                .collect::<Vec<u8>>()
        };
        assert_eq!(text(0), b"abcde");
        assert_eq!(text(1), b"bcde");
        assert_eq!(text(2), b"cde");
        assert_eq!(text(4), b"e");
    }

    #[test]
    fn frames_split_across_reads_are_reassembled() {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let mut rx =
            StreamReceiver::new(r, FdKind::Pipe, Framing::Length, 100, "pipe:".into(), None);
        let mut w = std::fs::File::from(w);
        let mut out = Vec::new();
        w.write_all(&[0, 0, 0]).unwrap();
        assert!(matches!(rx.try_recv(&mut out), Err(RecvError::Empty)));
        w.write_all(&[5, b'h', b'e']).unwrap();
        assert!(matches!(rx.try_recv(&mut out), Err(RecvError::Empty)));
        w.write_all(b"llo").unwrap();
        assert_eq!(rx.try_recv(&mut out).unwrap(), 5);
        assert_eq!(out, b"hello");
        drop(w);
        assert!(matches!(
            rx.recv_into(&mut out),
            Err(RecvError::Disconnected { .. })
        ));
    }

    #[test]
    fn a_frame_bigger_than_the_read_ahead_grows_the_buffer_once() {
        let (mut tx, mut rx) = pipe_pair(Framing::Length, 200_000);
        let big: Vec<u8> = (0..150_000u32).map(|i| i as u8).collect();
        let sender = crate::sync::thread::spawn(move || {
            tx.send(&big).unwrap();
            tx.send(b"after").unwrap();
            big
        });
        let mut out = Vec::new();
        rx.recv_into(&mut out).unwrap();
        let big = sender.join().unwrap();
        assert_eq!(out, big);
        assert_eq!(rx.recv_into(&mut out).unwrap(), 5);
        assert_eq!(out, b"after");
    }

    #[test]
    fn lines_keep_their_bytes_and_a_last_unterminated_line() {
        let (mut tx, mut rx) = pipe_pair(Framing::Lines, 8);
        tx.send(b"one").unwrap();
        tx.send(b"").unwrap();
        assert!(matches!(
            tx.send(b"a\nb"),
            Err(SendError::InvalidMessage { .. })
        ));
        let mut raw = std::fs::File::from(tx.into_fd().unwrap());
        raw.write_all(b"last").unwrap();
        drop(raw);
        let mut out = Vec::new();
        for expected in [&b"one"[..], b"", b"last"] {
            rx.recv_into(&mut out).unwrap();
            assert_eq!(out, expected);
        }
        assert!(matches!(
            rx.recv_into(&mut out),
            Err(RecvError::Disconnected { .. })
        ));
    }

    #[test]
    fn an_overlong_line_is_corruption() {
        let (tx, mut rx) = pipe_pair(Framing::Lines, 4);
        let mut raw = std::fs::File::from(tx.into_fd().unwrap());
        raw.write_all(b"12345").unwrap();
        let mut out = Vec::new();
        let e = rx.recv_into(&mut out).unwrap_err();
        assert!(
            matches!(e, RecvError::Corrupted { corruption, .. } if corruption.found == 5 && corruption.limit == 4),
            "{e:?}"
        );
        assert!(matches!(
            rx.recv_into(&mut out),
            Err(RecvError::Corrupted { .. })
        ));
    }

    #[test]
    fn a_frame_cut_off_by_the_end_is_corruption() {
        let (tx, mut rx) = pipe_pair(Framing::Length, 100);
        let mut raw = std::fs::File::from(tx.into_fd().unwrap());
        raw.write_all(&[0, 0, 0, 9, 1, 2]).unwrap();
        drop(raw);
        let e = rx.recv_into(&mut Vec::new()).unwrap_err();
        assert!(
            matches!(e, RecvError::Corrupted { corruption, .. } if corruption.what == "stream ended inside a frame"),
            "{e:?}"
        );
    }

    #[test]
    fn a_timed_send_that_fills_the_pipe_keeps_the_rest_pending() {
        let (mut tx, mut rx) = pipe_pair(Framing::Length, 1 << 20);
        let big = vec![7u8; 200_000];
        // The pipe holds 64 KiB: the frame is begun, the rest kept.
        tx.try_send(&big).unwrap();
        assert!(!tx.pending.is_empty());
        // The next message cannot start before the rest is written.
        assert!(matches!(tx.try_send(b"x"), Err(SendError::Full)));
        let reader = crate::sync::thread::spawn(move || {
            let mut out = Vec::new();
            rx.recv_into(&mut out).unwrap();
            let first = out.clone();
            rx.recv_into(&mut out).unwrap();
            (first, out)
        });
        tx.send(b"x").unwrap();
        drop(tx);
        let (first, second) = reader.join().unwrap();
        assert_eq!(first, big);
        assert_eq!(second, b"x");
    }
}
