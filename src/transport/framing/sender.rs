//! [`StreamSender`]: each message written as one frame, a frame begun by
//! a timed send finished later rather than torn, and reported
//! ([`SendError::Incomplete`]) rather than accepted silently.

use std::io::{self, IoSlice};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::stream_fd::{FdKind, StreamFd, peer_lost, would_block};
use super::wire::length_prefix;
use crate::sync::current_pid;
use crate::transport::config::Framing;
use crate::transport::path::PathGuard;
use crate::transport::poll::{WRITABLE, wait_fd};
use crate::transport::{Deadline, SendError, Sender};

/// How long a dropped sender still tries to deliver the rest of a message
/// that a timed send left half-written.
const CLOSE_FLUSH: Duration = Duration::from_secs(1);

/// The sending end of a stream channel (`pipe:`, `fifo://`, `unix://`,
/// `tcp://`): each message is one frame of the channel's [`Framing`].
///
/// A timed or non-blocking send that the kernel takes only in part keeps
/// the rest in the sender and returns [`SendError::Incomplete`]: the
/// message is accepted (a frame is never torn by the sender), and the next
/// send, [`flush`](Sender::flush) or [`close`](Sender::close) finishes it
/// first. `Ok` from a send means the whole frame is in the kernel. A drop
/// still tries for a second to finish it, but only `close` says whether
/// that worked.
#[derive(Debug)]
pub struct StreamSender {
    /// `None` once closed.
    fd: Option<StreamFd>,
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
            fd: Some(StreamFd::new(fd, kind)),
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
        match self.fd.take() {
            Some(stream) => Ok(stream.fd),
            None => Err(self.closed()),
        }
    }

    fn closed(&self) -> SendError {
        SendError::Closed {
            endpoint: self.endpoint.clone(),
        }
    }

    /// The open descriptor, or `Closed`.
    fn stream(&mut self) -> Result<&mut StreamFd, SendError> {
        match self.fd.as_mut() {
            Some(stream) => Ok(stream),
            None => Err(SendError::Closed {
                endpoint: self.endpoint.clone(),
            }),
        }
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
            _ if peer_lost(&e) => {
                self.gone = true;
                SendError::PeerLost {
                    endpoint: self.endpoint.clone(),
                    source: e,
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
            let Some(stream) = self.fd.as_mut() else {
                return Err(self.closed());
            };
            let rest = [IoSlice::new(&self.pending[self.pending_at..])];
            match stream.write(&rest, nowait) {
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
        let stream = self.stream()?;
        match wait_fd(stream.fd.as_fd(), WRITABLE, deadline) {
            Ok(ready) => Ok(ready.is_some()),
            Err(e) => Err(self.io("poll", e)),
        }
    }

    /// Writes the two parts of a frame. Returns `Full`/`Timeout` only if
    /// nothing was written; a frame begun is finished, or kept pending and
    /// reported as `Incomplete`.
    fn write_frame(&mut self, parts: [&[u8]; 2], deadline: Deadline) -> Result<(), SendError> {
        let total = parts[0].len() + parts[1].len();
        let nowait = deadline != Deadline::Never;
        let mut done = 0;
        loop {
            let (iov, count) = slices_from(parts, done);
            match self.stream()?.write(&iov[..count], nowait) {
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
                        return Err(SendError::Incomplete {
                            endpoint: self.endpoint.clone(),
                            written: done,
                            len: total,
                        });
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.failed("write", e)),
            }
        }
    }

    /// Whether a frame begun by a timed send is still partly unwritten.
    #[cfg(test)]
    pub(super) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
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
pub(super) fn slices_from<'a>(parts: [&'a [u8]; 2], done: usize) -> ([IoSlice<'a>; 2], usize) {
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
        if self.fd.is_none() {
            return Err(self.closed());
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
        let prefix = length_prefix(msg.len());
        let parts: [&[u8]; 2] = match self.framing {
            Framing::Length => [&prefix, msg],
            Framing::Lines => [msg, b"\n"],
        };
        self.write_frame(parts, deadline)
    }

    fn flush_deadline(&mut self, deadline: Deadline) -> Result<(), SendError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        if self.gone {
            return Err(SendError::Disconnected {
                endpoint: self.endpoint.clone(),
            });
        }
        self.flush_pending(deadline)
    }

    fn close_deadline(&mut self, deadline: Deadline) -> Result<(), SendError> {
        if self.fd.is_none() {
            return Ok(());
        }
        self.flush_deadline(deadline)?;
        if let Some(stream) = self.fd.take()
            && self.used_by == current_pid()
        {
            stream.shutdown(libc::SHUT_WR);
        }
        // Dropping the descriptor closes it: a pipe's reader sees the end
        // once every copy is closed.
        Ok(())
    }

    fn max_message_size(&self) -> usize {
        self.max
    }

    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn ready_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        self.fd.as_ref().map(|stream| stream.fd.as_fd())
    }
}

impl Drop for StreamSender {
    fn drop(&mut self) {
        if !self.pending.is_empty() && !self.gone && self.fd.is_some() {
            let _ = self.flush_pending(Deadline::At(Instant::now() + CLOSE_FLUSH));
        }
        if self.used_by == current_pid()
            && let Some(stream) = &self.fd
        {
            // The peer's receiver sees the end even while this
            // connection's receiving half stays open.
            stream.shutdown(libc::SHUT_WR);
        }
    }
}
