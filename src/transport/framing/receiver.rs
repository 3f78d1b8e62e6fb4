//! [`StreamReceiver`]: a read-ahead buffer that frames are cut from,
//! each checked against the maximum before anything is sized by it.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use super::stream_fd::{FdKind, StreamFd, peer_lost, would_block};
use super::wire;
use crate::error::Corruption;
use crate::sync::current_pid;
use crate::transport::config::Framing;
use crate::transport::path::PathGuard;
use crate::transport::poll::{READABLE, wait_fd};
use crate::transport::{Deadline, Receiver, RecvError};

/// Size of a receiver's read-ahead buffer (more only for a bigger frame),
/// and the most it grows by per read: a frame's buffer grows as its bytes
/// arrive, never ahead of them to what a length prefix claims.
const READ_AHEAD: usize = 64 * 1024;

/// The receiving end of a stream channel: see
/// [`StreamSender`](super::StreamSender).
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
    /// Reads that brought bytes, for the tests of read sizes.
    #[cfg(test)]
    pub(super) reads: usize,
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
            #[cfg(test)]
            reads: 0,
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

    /// Bytes the read-ahead buffer holds memory for.
    #[cfg(test)]
    pub(super) fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
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

    /// Bytes the frame at `start` needs in the buffer.
    fn frame_needs(&self) -> usize {
        wire::frame_needs(self.framing, &self.buf[self.start..self.end], self.max)
    }

    /// Makes room after `end` for more of the current frame: moves the
    /// unread bytes to the front, and grows the buffer only when it is full
    /// of one frame that needs more, by at most [`READ_AHEAD`] a time, so
    /// memory follows the bytes that arrived, not the bytes announced.
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
        if self.end == self.buf.len() && needs > self.buf.len() {
            // A line's length is known only at its end: room for the
            // longest one it may be, a block at a time.
            let most = match self.framing {
                Framing::Length => needs,
                Framing::Lines => self.max + 1,
            };
            self.buf.resize(most.min(self.buf.len() + READ_AHEAD), 0);
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
                    #[cfg(test)]
                    {
                        self.reads += 1;
                    }
                    return Ok(true);
                }
                Err(e) if would_block(&e) => true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => false,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return Err(RecvError::Reset {
                        endpoint: self.endpoint.clone(),
                    });
                }
                Err(e) if peer_lost(&e) => {
                    return Err(RecvError::PeerLost {
                        endpoint: self.endpoint.clone(),
                        source: e,
                    });
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
            let unread = &self.buf[self.start..self.end];
            match wire::next_frame(self.framing, unread, &mut self.scanned, self.max) {
                Ok(Some(frame)) => {
                    let at = self.start + frame.at;
                    out.clear();
                    out.extend_from_slice(&self.buf[at..at + frame.len]);
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

    fn ready_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        self.fd.as_ref().map(|stream| stream.fd.as_fd())
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
