//! `mq:///NAME`: a POSIX message queue (`mq_open`). The kernel keeps each
//! message whole, so messages go as they are, with no prefix: any program
//! using the same queue (C, Python's ctypes, ...) is a peer. A queue lives
//! in the kernel until removed, independent of its users: a sender can
//! send and go before anybody receives ("mailbox" style), up to the
//! queue's capacity.
//!
//! * Messages have priorities; the receiver always gets the highest
//!   priority first, in send order within a priority.
//!   [`MqSender::send_with_priority`] picks one (1 to 32766); `send` uses
//!   the channel's (`?priority=`, default 1).
//! * Either end creates the queue if it does not exist (`O_CREAT`, mode
//!   0600 or `?mode=`, `?capacity=` messages of `?max=` bytes; the system
//!   defaults otherwise). An existing queue must take messages of the
//!   maximum size: a smaller one is [`ConnectError::QueueTooSmall`].
//!   Without `?max=`, the maximum is the queue's message size; a receiver
//!   refuses a queue whose message size is above its `?max=` or 64 KiB,
//!   whichever is larger ([`ConnectError::Incompatible`]), since its
//!   receive buffer must hold one: the queue's creator does not decide
//!   what a receiver allocates.
//! * A queue that exists is used only if this user (or root) owns it and
//!   neither group nor others may write it, unless `?owner=UID` /
//!   `?group=GID` allow it ([`ConnectError::Untrusted`]); checked with
//!   `fstat` on the queue descriptor before anything is sent or received.
//! * Timed calls keep their deadline on the monotonic clock: each
//!   `mq_timed*` call gets an absolute realtime time made from the time
//!   left just before it, at most 100 ms ahead, so a step of the realtime
//!   clock neither stretches nor shortens a wait.
//! * End of stream: a queue knows nothing of its users, so each shmlane
//!   sender announces itself with a marker at priority 32767 (ahead of
//!   every message) before its first message, and leaves another at
//!   priority 0 (after every message) when closed or dropped. A receiver
//!   reports [`Disconnected`](super::RecvError::Disconnected) once every
//!   sender it heard announce has ended and the queue is drained. Markers
//!   carry a random sender id, so a marker left by an earlier run or
//!   written by another program ends nothing. Priorities 0 and 32767 are
//!   kept for markers; a priority-0 message is never delivered. A
//!   receiver counts only senders whose announcement it took: a sender
//!   that announced itself to an earlier receiver (one that stopped after
//!   `--count` messages, say) ends nothing for a later one. A sender that
//!   dies without being dropped leaves no end marker: a waiting receiver
//!   looks once a liveness tick whether the announced senders' processes
//!   still exist (its waits are cut into ticks while senders are counted,
//!   which costs nothing: the kernel still wakes it at a message), and
//!   once the last one is gone without its end, it gets what is queued,
//!   then [`Reset`](super::RecvError::Reset). A queue whose message
//!   size is under 16 bytes carries no markers. Senders cannot learn that
//!   receivers are gone: with nobody receiving, sends wait (or time out)
//!   once the queue is full.
//! * A receiver that created the queue removes its name when dropped in
//!   the process that created it (unless `?persist=true`); a sender never
//!   does, so that its messages wait for a receiver.
//!
//! The name is `/` followed by up to 254 bytes without another `/`
//! (`mq:///jobs`); a name without the leading slash is
//! [`ConnectError::InvalidName`].

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::stat::{Mode, fchmod, fstat};

use super::config::{Config, DEFAULT_MAX_MESSAGE_SIZE};
use super::poll::remaining;
use super::queue_end::{MARKER_LEN, Marker, SenderMarks, Senders};
use super::{Adapter, ConnectError, Deadline, Receiver, RecvError, SendError, Sender};
use crate::sync::current_pid;
use crate::trust::Found;
use crate::wait::LIVENESS_TICK;

/// The options `mq://` takes.
const OPTIONS: &[&str] = &[
    "max", "mode", "capacity", "priority", "persist", "owner", "group",
];

/// Priorities are below this (Linux's `MQ_PRIO_MAX`).
pub const PRIORITY_LIMIT: u32 = 32768;
/// The priority of a sender's end-of-stream marker: below every message,
/// so it comes after all the sender sent.
const END_PRIORITY: u32 = 0;
/// The priority of a sender's announcement: above every message, so a
/// receiver that takes one of its messages has taken its hello too (and
/// a later receiver does not count a sender it never heard announce).
const HELLO_PRIORITY: u32 = PRIORITY_LIMIT - 1;
/// The priority `send` uses when the channel sets none.
pub const DEFAULT_PRIORITY: u32 = 1;
/// How long a dropped sender waits for room for its end-of-stream marker.
const END_MARKER_WAIT: Duration = Duration::from_secs(1);

pub(crate) const ADAPTER: Adapter = Adapter {
    sender: |url| Ok(Box::new(MqSender::open(&url.name, &url.config)?)),
    receiver: |url| Ok(Box::new(MqReceiver::open(&url.name, &url.config)?)),
    pair: None,
    connect: None,
    listen: None,
};

/// The sending end of a POSIX message queue.
#[derive(Debug)]
pub struct MqSender {
    queue: Queue,
    priority: u32,
    /// This sender's hello and end markers.
    marks: SenderMarks,
    /// `close` left the end-of-stream marker.
    closed: bool,
}

/// The receiving end of a POSIX message queue.
#[derive(Debug)]
pub struct MqReceiver {
    queue: Queue,
    /// Removes the name when dropped in this process (this end created the
    /// queue here).
    unlink: Option<(CString, u32)>,
    /// The senders that announced themselves and have not ended.
    senders: Senders,
    /// Every sender ended and the queue was drained.
    ended: bool,
}

/// An open queue and what both ends know of it.
#[derive(Debug)]
struct Queue {
    fd: OwnedFd,
    /// The channel's maximum message size.
    max: usize,
    /// The queue's message size (`mq_msgsize`): a receive buffer needs it.
    msgsize: usize,
    endpoint: Arc<str>,
}

/// Removes the queue `name` (`mq_unlink`): open ends keep working, new
/// opens make a new queue.
pub fn unlink(name: &str) -> Result<(), ConnectError> {
    let endpoint = format!("mq://{name}");
    let c_name = queue_name(name, &endpoint)?;
    // SAFETY: `c_name` is a NUL-terminated string that outlives the call.
    if unsafe { libc::mq_unlink(c_name.as_ptr()) } < 0 {
        return Err(mq_error(&endpoint, "mq_unlink", io::Error::last_os_error()));
    }
    Ok(())
}

impl MqSender {
    /// Opens (creating if missing) the queue `name` (`/NAME`) for sending.
    pub fn open(name: &str, config: &Config) -> Result<Self, ConnectError> {
        let (queue, _) = Queue::open(name, config, libc::O_WRONLY)?;
        let priority = config.priority.unwrap_or(DEFAULT_PRIORITY);
        if !(1..HELLO_PRIORITY).contains(&priority) {
            return Err(ConnectError::InvalidConfig {
                endpoint: queue.endpoint.to_string(),
                reason: format!(
                    "priority {priority} is outside 1 to {} (0 and {HELLO_PRIORITY} carry the end-of-stream markers)",
                    HELLO_PRIORITY - 1
                ),
            });
        }
        Ok(Self {
            queue,
            priority,
            marks: SenderMarks::default(),
            closed: false,
        })
    }

    /// Sends `msg` with `priority` (1 to 32766), waiting as long as it
    /// takes for room.
    pub fn send_with_priority(&mut self, msg: &[u8], priority: u32) -> Result<(), SendError> {
        self.send_with_priority_deadline(msg, priority, Deadline::Never)
    }

    /// Sends `msg` with `priority`, waiting until `deadline` for room.
    pub fn send_with_priority_deadline(
        &mut self,
        msg: &[u8],
        priority: u32,
        deadline: Deadline,
    ) -> Result<(), SendError> {
        SendError::check_len(msg.len(), self.queue.max, &self.queue.endpoint)?;
        if !(1..HELLO_PRIORITY).contains(&priority) {
            return Err(SendError::InvalidMessage {
                endpoint: self.queue.endpoint.clone(),
                reason: format!(
                    "priority {priority} is outside 1 to {} (0 and {HELLO_PRIORITY} carry the end-of-stream markers)",
                    HELLO_PRIORITY - 1
                ),
            });
        }
        if self.closed {
            return Err(SendError::Closed {
                endpoint: self.queue.endpoint.clone(),
            });
        }
        if let Some(hello) = self.hello_due() {
            self.queue.send(&hello, HELLO_PRIORITY, deadline)?;
            self.marks.announced(&hello);
        }
        self.queue.send(msg, priority, deadline)
    }

    /// The hello this process owes before its first message (none on a
    /// queue too small for markers).
    fn hello_due(&self) -> Option<[u8; MARKER_LEN]> {
        self.marks
            .hello_due()
            .filter(|_| self.queue.msgsize >= MARKER_LEN)
    }
}

impl Sender for MqSender {
    fn send_deadline(&mut self, msg: &[u8], deadline: Deadline) -> Result<(), SendError> {
        self.send_with_priority_deadline(msg, self.priority, deadline)
    }

    /// Leaves the end-of-stream marker, waiting until `deadline` for room
    /// (`Full`/`Timeout`: the queue stayed full, no marker was left).
    fn close_deadline(&mut self, deadline: Deadline) -> Result<(), SendError> {
        if self.closed {
            return Ok(());
        }
        if let Some(end) = self.marks.end_due() {
            self.queue.send(&end, END_PRIORITY, deadline)?;
        }
        self.closed = true;
        Ok(())
    }

    fn max_message_size(&self) -> usize {
        self.queue.max
    }

    fn endpoint(&self) -> &str {
        &self.queue.endpoint
    }

    fn ready_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        Some(self.queue.fd.as_fd())
    }
}

impl Drop for MqSender {
    fn drop(&mut self) {
        if !self.closed
            && let Some(end) = self.marks.end_due()
        {
            let deadline = Deadline::after(END_MARKER_WAIT);
            let _ = self.queue.send(&end, END_PRIORITY, deadline);
        }
    }
}

impl MqReceiver {
    /// Opens (creating if missing) the queue `name` (`/NAME`) for
    /// receiving.
    pub fn open(name: &str, config: &Config) -> Result<Self, ConnectError> {
        let (queue, created) = Queue::open(name, config, libc::O_RDONLY)?;
        let unlink = if created && !config.persists() {
            Some((queue_name(name, &queue.endpoint)?, current_pid()))
        } else {
            None
        };
        Ok(Self {
            queue,
            unlink,
            senders: Senders::default(),
            ended: false,
        })
    }

    /// Receives the next message (highest priority first) and its
    /// priority, waiting as long as it takes.
    pub fn recv_with_priority(&mut self, buf: &mut Vec<u8>) -> Result<(usize, u32), RecvError> {
        self.recv_with_priority_deadline(buf, Deadline::Never)
    }

    /// Receives the next message and its priority, waiting until
    /// `deadline`.
    pub fn recv_with_priority_deadline(
        &mut self,
        buf: &mut Vec<u8>,
        deadline: Deadline,
    ) -> Result<(usize, u32), RecvError> {
        if self.ended {
            return Err(self.senders.ended(self.queue.endpoint.clone()));
        }
        let (len, priority) = loop {
            // Every sender ended: what is queued still comes, then the end.
            // While senders are counted, a wait looks at least once a
            // liveness tick whether their processes still exist: a sender
            // that crashed leaves no end marker.
            let tick = Instant::now() + LIVENESS_TICK;
            let wait = if self.senders.draining() {
                Deadline::Now
            } else if self.senders.any_live() && before(tick, deadline) {
                Deadline::At(tick)
            } else {
                deadline
            };
            match self.queue.receive(buf, wait) {
                Err(RecvError::Empty) if self.senders.draining() => {
                    self.ended = true;
                    return Err(self.senders.ended(self.queue.endpoint.clone()));
                }
                Err(RecvError::Timeout | RecvError::Empty) if wait != deadline => {
                    self.senders.prune_dead();
                }
                Err(RecvError::Empty) if self.senders.any_live() => {
                    // A non-blocking caller's idle polls look too, once a
                    // tick (a syscall per counted sender).
                    self.senders.prune_if_due();
                    if !self.senders.draining() {
                        return Err(RecvError::Empty);
                    }
                }
                Err(e) => return Err(e),
                Ok((_, priority @ (END_PRIORITY | HELLO_PRIORITY))) => {
                    match Marker::decode(buf) {
                        Some(marker) => self.senders.note(marker),
                        // Another program's message at the top priority.
                        None if priority == HELLO_PRIORITY => break (buf.len(), priority),
                        // Nothing at priority 0 is data.
                        None if buf.is_empty() => self.senders.note_bare(),
                        None => {}
                    }
                }
                Ok(message) => break message,
            }
        };
        if len > self.queue.max {
            buf.clear();
            return Err(RecvError::MessageTooLarge {
                len,
                max: self.queue.max,
                endpoint: self.queue.endpoint.clone(),
            });
        }
        Ok((len, priority))
    }
}

/// Whether `at` comes before `deadline`.
fn before(at: Instant, deadline: Deadline) -> bool {
    match deadline {
        Deadline::Now => false,
        Deadline::At(end) => at < end,
        Deadline::Never => true,
    }
}

impl Receiver for MqReceiver {
    fn recv_deadline(&mut self, buf: &mut Vec<u8>, deadline: Deadline) -> Result<usize, RecvError> {
        self.recv_with_priority_deadline(buf, deadline)
            .map(|(len, _)| len)
    }

    fn max_message_size(&self) -> usize {
        self.queue.max
    }

    fn endpoint(&self) -> &str {
        &self.queue.endpoint
    }

    fn ready_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        Some(self.queue.fd.as_fd())
    }
}

impl Drop for MqReceiver {
    fn drop(&mut self) {
        if let Some((name, creator)) = &self.unlink
            && *creator == current_pid()
        {
            // SAFETY: `name` is a NUL-terminated string that outlives the
            // call. Removing the name leaves open ends working.
            unsafe { libc::mq_unlink(name.as_ptr()) };
        }
    }
}

/// Checks a queue name: `/`, then 1 to 254 bytes without `/` or NUL.
fn queue_name(name: &str, endpoint: &str) -> Result<CString, ConnectError> {
    let bad = |reason: String| ConnectError::InvalidName {
        endpoint: endpoint.to_owned(),
        reason,
    };
    let Some(bare) = name.strip_prefix('/') else {
        return Err(bad(format!(
            "a POSIX message queue name starts with '/': write mq:///{name} (the name \"/{name}\")"
        )));
    };
    if bare.is_empty() || bare.len() > 254 || bare.contains('/') {
        return Err(bad(format!(
            "{name:?} is not '/' followed by 1 to 254 bytes without another '/'"
        )));
    }
    CString::new(name).map_err(|_| bad("the name contains a NUL byte".into()))
}

/// A system default from /proc/sys/fs/mqueue, or `fallback`.
fn mqueue_default(file: &str, fallback: i64) -> i64 {
    std::fs::read_to_string(format!("/proc/sys/fs/mqueue/{file}"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(fallback)
}

fn mq_error(endpoint: &str, op: &'static str, source: io::Error) -> ConnectError {
    let endpoint = endpoint.to_owned();
    match source.raw_os_error() {
        Some(libc::EACCES | libc::EPERM) => ConnectError::Permission {
            endpoint,
            op,
            source,
        },
        Some(libc::ENOENT) => ConnectError::NotFound { endpoint, source },
        Some(libc::ENAMETOOLONG) => ConnectError::InvalidName {
            endpoint,
            reason: source.to_string(),
        },
        _ => ConnectError::Io {
            endpoint,
            op,
            source,
        },
    }
}

/// The longest a single `mq_timed*` call waits: a step of the realtime
/// clock during one call moves its end by at most this much before the
/// monotonic deadline is looked at again.
const CLOCK_SLICE: Duration = Duration::from_millis(100);

/// The absolute CLOCK_REALTIME time the next `mq_timed*` call may wait
/// until: the time left to `deadline` (measured on the monotonic clock, as
/// every [`Deadline`] is), at most [`CLOCK_SLICE`], from the realtime
/// clock read now. The epoch for a deadline that passed (the call does not
/// wait). `None` for [`Deadline::Never`] (the untimed call).
fn next_wake(deadline: Deadline) -> Option<libc::timespec> {
    let left = remaining(deadline)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Some(wake_at(now, left))
}

/// `now` (realtime, since the epoch) plus `left`, at most [`CLOCK_SLICE`];
/// the epoch when nothing is left.
fn wake_at(now: Duration, left: Duration) -> libc::timespec {
    let at = if left.is_zero() {
        Duration::ZERO
    } else {
        now.saturating_add(left.min(CLOCK_SLICE))
    };
    libc::timespec {
        tv_sec: libc::time_t::try_from(at.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: at.subsec_nanos().into(),
    }
}

/// After a timed call's ETIMEDOUT: whether the monotonic deadline still
/// has time (the slice ended, or the realtime clock was stepped forward),
/// so the call is made again with a fresh realtime time.
fn time_left(deadline: Deadline) -> bool {
    remaining(deadline).is_some_and(|left| !left.is_zero())
}

impl Queue {
    /// Opens the queue `name` for `access`, creating it if missing;
    /// returns it and whether this call created it.
    fn open(
        name: &str,
        config: &Config,
        access: libc::c_int,
    ) -> Result<(Self, bool), ConnectError> {
        let endpoint = format!("mq://{name}");
        config.check(OPTIONS, &endpoint)?;
        let c_name = queue_name(name, &endpoint)?;
        let mode = config.mode_or_default(&endpoint)?;
        if let Some(max) = config.max_message_size {
            config.max_or(max, &endpoint)?;
        }
        let invalid = |reason: String| ConnectError::InvalidConfig {
            endpoint: endpoint.clone(),
            reason,
        };
        let attr = match (config.max_message_size, config.capacity) {
            (None, None) => None,
            (max, capacity) => {
                // SAFETY: mq_attr is plain integers; all-zero is valid.
                let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
                attr.mq_maxmsg = match capacity {
                    Some(c) => i64::try_from(c)
                        .map_err(|_| invalid(format!("capacity {c} is too large")))?,
                    None => mqueue_default("msg_default", 10),
                };
                attr.mq_msgsize = match max {
                    Some(m) => {
                        i64::try_from(m).map_err(|_| invalid(format!("max {m} is too large")))?
                    }
                    None => mqueue_default("msgsize_default", 8192),
                };
                Some(attr)
            }
        };
        let (fd, created) = loop {
            let attr_ptr = attr.as_ref().map_or(std::ptr::null(), std::ptr::from_ref);
            let flags = access | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC;
            // SAFETY: `c_name` is NUL-terminated; with O_CREAT mq_open reads
            // a mode and an attribute pointer (null: the defaults), both
            // valid for the call.
            let fd =
                unsafe { libc::mq_open(c_name.as_ptr(), flags, mode as libc::mode_t, attr_ptr) };
            if fd >= 0 {
                break (fd, true);
            }
            let error = io::Error::last_os_error();
            match error.raw_os_error() {
                Some(libc::EEXIST) => {}
                Some(libc::EINVAL) => {
                    let (maxmsg, msgsize) = attr.map_or((0, 0), |a| (a.mq_maxmsg, a.mq_msgsize));
                    return Err(invalid(format!(
                        "the kernel refused a queue of {maxmsg} messages of {msgsize} bytes ({error}; \
                         limits: /proc/sys/fs/mqueue/msg_max and msgsize_max)"
                    )));
                }
                _ => return Err(mq_error(&endpoint, "mq_open", error)),
            }
            // It exists: open it as it is.
            // SAFETY: as above, without O_CREAT (no further arguments).
            let fd = unsafe { libc::mq_open(c_name.as_ptr(), access | libc::O_CLOEXEC) };
            if fd >= 0 {
                break (fd, false);
            }
            let error = io::Error::last_os_error();
            // Removed between the two calls: create it after all.
            if error.raw_os_error() != Some(libc::ENOENT) {
                return Err(mq_error(&endpoint, "mq_open", error));
            }
        };
        // SAFETY: on Linux a queue descriptor is a file descriptor, just
        // opened and owned by nothing else (mq_close is close).
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        if created {
            // The umask applied to mq_open; set the exact mode.
            fchmod(&fd, Mode::from_bits_truncate(mode))
                .map_err(|e| mq_error(&endpoint, "fchmod", e.into()))?;
        } else {
            // Someone else's queue: before anything is sent or received,
            // its owner and mode (fstat works on a queue descriptor).
            let st = fstat(&fd).map_err(|e| mq_error(&endpoint, "fstat", e.into()))?;
            config
                .trust_or_default()
                .check(Found::file(st.st_uid, st.st_gid, st.st_mode), true)
                .map_err(|d| d.into_connect_error(&endpoint))?;
        }
        // SAFETY: mq_attr is plain integers; mq_getattr fills it in.
        let mut actual: libc::mq_attr = unsafe { std::mem::zeroed() };
        // SAFETY: `fd` is an open queue and `actual` a writable mq_attr.
        if unsafe { libc::mq_getattr(fd.as_raw_fd(), &mut actual) } < 0 {
            return Err(mq_error(
                &endpoint,
                "mq_getattr",
                io::Error::last_os_error(),
            ));
        }
        let msgsize = usize::try_from(actual.mq_msgsize).unwrap_or(0);
        // A receive buffer must hold the queue's message size, which the
        // queue's creator chose: bounded by this end's own limit.
        let receive_limit = config
            .max_message_size
            .unwrap_or(0)
            .max(DEFAULT_MAX_MESSAGE_SIZE);
        if access == libc::O_RDONLY && msgsize > receive_limit {
            return Err(ConnectError::Incompatible {
                endpoint,
                field: "message size (mq_msgsize)",
                expected: format!(
                    "at most {receive_limit} bytes, the most this receiver allocates \
                     (raise it with ?max={msgsize} if you trust the queue's creator)"
                ),
                found: format!("{msgsize} bytes"),
            });
        }
        let max = config.max_message_size.unwrap_or(msgsize);
        if msgsize < max {
            return Err(ConnectError::QueueTooSmall {
                endpoint,
                msgsize,
                max,
            });
        }
        if let Some(capacity) = config.capacity
            && i64::try_from(capacity) != Ok(actual.mq_maxmsg)
        {
            return Err(ConnectError::Incompatible {
                endpoint,
                field: "capacity",
                expected: capacity.to_string(),
                found: actual.mq_maxmsg.to_string(),
            });
        }
        let queue = Queue {
            fd,
            max,
            msgsize,
            endpoint: Arc::from(endpoint),
        };
        Ok((queue, created))
    }

    fn send(&self, msg: &[u8], priority: u32, deadline: Deadline) -> Result<(), SendError> {
        let fd = self.fd.as_raw_fd();
        loop {
            let timeout = next_wake(deadline);
            let sent = match &timeout {
                // SAFETY: `msg` is a live slice of `msg.len()` bytes.
                None => unsafe { libc::mq_send(fd, msg.as_ptr().cast(), msg.len(), priority) },
                // SAFETY: as above; `at` is a valid timespec.
                Some(at) => unsafe {
                    libc::mq_timedsend(fd, msg.as_ptr().cast(), msg.len(), priority, at)
                },
            };
            if sent == 0 {
                return Ok(());
            }
            let error = io::Error::last_os_error();
            match error.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::ETIMEDOUT) if time_left(deadline) => {}
                Some(libc::ETIMEDOUT | libc::EAGAIN) => {
                    return Err(match deadline {
                        Deadline::Now => SendError::Full,
                        _ => SendError::Timeout,
                    });
                }
                _ => {
                    return Err(SendError::Io {
                        endpoint: self.endpoint.clone(),
                        op: "mq_send",
                        source: error,
                    });
                }
            }
        }
    }

    /// Receives one message into `buf`: its length and priority.
    fn receive(&self, buf: &mut Vec<u8>, deadline: Deadline) -> Result<(usize, u32), RecvError> {
        let fd = self.fd.as_raw_fd();
        buf.clear();
        // mq_receive refuses a buffer smaller than the queue's message size
        // (bounded at open by this end's limit).
        buf.try_reserve(self.msgsize).map_err(|_| RecvError::Io {
            endpoint: self.endpoint.clone(),
            op: "allocate the receive buffer",
            source: io::Error::from(io::ErrorKind::OutOfMemory),
        })?;
        loop {
            let timeout = next_wake(deadline);
            let mut priority = 0;
            let ptr = buf.as_mut_ptr().cast::<libc::c_char>();
            let received = match &timeout {
                // SAFETY: `ptr` points to `msgsize` bytes of `buf`'s spare
                // capacity (reserved above), which the kernel writes at most.
                None => unsafe { libc::mq_receive(fd, ptr, self.msgsize, &mut priority) },
                // SAFETY: as above; `at` is a valid timespec.
                Some(at) => unsafe {
                    libc::mq_timedreceive(fd, ptr, self.msgsize, &mut priority, at)
                },
            };
            if let Ok(len) = usize::try_from(received) {
                // SAFETY: the kernel wrote `len` <= msgsize <= capacity
                // bytes at the start of the buffer.
                unsafe { buf.set_len(len) };
                return Ok((len, priority));
            }
            let error = io::Error::last_os_error();
            match error.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::ETIMEDOUT) if time_left(deadline) => {}
                Some(libc::ETIMEDOUT | libc::EAGAIN) => {
                    return Err(match deadline {
                        Deadline::Now => RecvError::Empty,
                        _ => RecvError::Timeout,
                    });
                }
                _ => {
                    return Err(RecvError::Io {
                        endpoint: self.endpoint.clone(),
                        op: "mq_receive",
                        source: error,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timed_call_waits_one_slice_of_the_time_left() {
        let now = Duration::new(1_000, 500);
        let at = wake_at(now, Duration::from_millis(30));
        assert_eq!((at.tv_sec, at.tv_nsec), (1_000, 30_000_500));
        // A long wait is cut into slices, each made from the clock anew.
        let at = wake_at(now, Duration::from_secs(60));
        let slice = now + CLOCK_SLICE;
        assert_eq!(
            (at.tv_sec, at.tv_nsec as u32),
            (1_000, slice.subsec_nanos())
        );
        let at = wake_at(now, Duration::ZERO);
        assert_eq!((at.tv_sec, at.tv_nsec), (0, 0), "passed: no wait");
    }

    #[test]
    fn an_early_timeout_is_retried_while_the_monotonic_deadline_has_time() {
        assert!(time_left(Deadline::after(Duration::from_secs(60))));
        assert!(!time_left(Deadline::Now));
        assert!(!time_left(Deadline::Never), "untimed calls never time out");
        assert!(next_wake(Deadline::Never).is_none());
    }
}
