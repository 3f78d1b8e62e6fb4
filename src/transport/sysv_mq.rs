//! `sysvmq://KEY`: a System V message queue (`msgget`), the older queue of
//! the classic texts, read in order or by message type. Messages are kept
//! whole by the kernel and carried as they are (each with its `mtype`), so
//! any program using the same key is a peer.
//!
//! * Every message has a type, a positive integer. `send` uses the
//!   channel's (`?type=`, default 1); [`SysvSender::send_type`] picks one.
//!   `recv` takes the next message of the channel's type (`?type=` on the
//!   receiver, msgrcv's `msgtyp`: 0, the default, takes the next message of
//!   any type, in send order); [`SysvReceiver::recv_type`] takes the next
//!   of type `t` (or, for `t < 0`, the lowest type up to `-t`).
//! * KEY is a non-zero integer, decimal or `0x` hex (`ftok` makes one from
//!   a path). Either end creates the queue if missing (mode 0600 or
//!   `?mode=`). The maximum message size must fit the kernel's `msgmax`
//!   and the queue's byte capacity (`msg_qbytes`): else
//!   [`ConnectError::InvalidConfig`] or [`ConnectError::QueueTooSmall`].
//!   A queue that exists is used only if this user (or root) owns and
//!   created it and neither group nor others may write it, unless
//!   `?owner=UID` / `?group=GID` allow it
//!   ([`ConnectError::Untrusted`]; `msgctl(IPC_STAT)` before anything is
//!   sent or received).
//! * End of stream: as for [`mq`](super::mq), each shmlane sender
//!   announces itself before its first message and leaves a marker when
//!   closed or dropped, as messages of type [`END_TYPE`] (a type no sender
//!   may use, never delivered as data); a receiver taking any type reports
//!   [`Disconnected`](super::RecvError::Disconnected) once every sender it
//!   heard announce has ended and the queue is drained. Markers carry a
//!   random sender id: one left by an earlier run or written by another
//!   program ends nothing. A receiver filtering by type waits for its type
//!   only and never sees the markers. A queue removed while in use
//!   disconnects both sides. A sender that crashed leaves no end marker:
//!   a timed or non-blocking receive looks once a liveness tick whether
//!   the announced senders' processes still exist, and once the last one
//!   is gone without its end, it gets what is queued, then
//!   [`Reset`](super::RecvError::Reset). An untimed receive sleeps in
//!   `msgrcv` and cannot look.
//! * A receiver that created the queue and received from it removes it
//!   (`IPC_RMID`) when dropped, unless `?persist=true`; removing a System V
//!   queue destroys it for everyone at once, so an end only a forked copy
//!   used never does. [`remove`] removes a queue by key.
//!
//! The kernel offers no timed receive and no descriptor to wait on: a
//! call without a deadline blocks in the kernel, a timed or non-blocking
//! call polls with `IPC_NOWAIT` and sleeps of 20 µs growing to 1 ms.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::config::Config;
use super::poll::Backoff;
use super::queue_end::{MARKER_LEN, Marker, SenderMarks, Senders};
use super::{Adapter, ConnectError, Deadline, Receiver, RecvError, SendError, Sender};
use crate::sync::current_pid;
use crate::trust::Found;

/// The options `sysvmq://` takes.
const OPTIONS: &[&str] = &["max", "mode", "type", "persist", "owner", "group"];

/// The message type of the end-of-stream marker.
pub const END_TYPE: i64 = libc::c_long::MAX;
/// The type `send` uses when the channel sets none.
pub const DEFAULT_TYPE: i64 = 1;
/// How long a dropped sender waits for room for its end-of-stream marker.
const END_MARKER_WAIT: Duration = Duration::from_secs(1);
/// Bytes of the `mtype` field before a message's text.
const TYPE_LEN: usize = size_of::<libc::c_long>();

pub(crate) const ADAPTER: Adapter = Adapter {
    sender: |url| {
        let key = parse_key(&url.name, &url.endpoint)?;
        Ok(Box::new(SysvSender::open(key, &url.config)?))
    },
    receiver: |url| {
        let key = parse_key(&url.name, &url.endpoint)?;
        Ok(Box::new(SysvReceiver::open(key, &url.config)?))
    },
    pair: None,
    connect: None,
    listen: None,
};

/// A key as a URL writes it: decimal (`1234`, `-5`) or hex (`0x4d2`),
/// non-zero, within `key_t` (hex up to `0xffffffff`).
fn parse_key(text: &str, endpoint: &str) -> Result<libc::key_t, ConnectError> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok().map(|k| k as libc::key_t),
        None => text.parse::<libc::key_t>().ok(),
    };
    match parsed {
        Some(key) if key != libc::IPC_PRIVATE => Ok(key),
        _ => Err(ConnectError::InvalidName {
            endpoint: endpoint.to_owned(),
            reason: format!("{text:?} is not a non-zero System V key (decimal, or hex like 0x4d2)"),
        }),
    }
}

/// The channel's name for a key.
fn endpoint_of(key: libc::key_t) -> String {
    format!("sysvmq://{:#x}", key as u32)
}

/// Removes the queue with `key` (`IPC_RMID`), as `ipcrm -Q` does: every
/// user's next call on it is `Disconnected`.
pub fn remove(key: libc::key_t) -> Result<(), ConnectError> {
    let endpoint = endpoint_of(key);
    // SAFETY: msgget with no flags only looks the key up.
    let id = unsafe { libc::msgget(key, 0) };
    if id < 0 {
        return Err(sysv_error(&endpoint, "msgget", io::Error::last_os_error()));
    }
    // SAFETY: IPC_RMID ignores the buffer argument.
    if unsafe { libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut()) } < 0 {
        return Err(sysv_error(
            &endpoint,
            "msgctl(IPC_RMID)",
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

fn sysv_error(endpoint: &str, op: &'static str, source: io::Error) -> ConnectError {
    let endpoint = endpoint.to_owned();
    match source.raw_os_error() {
        Some(libc::EACCES | libc::EPERM) => ConnectError::Permission {
            endpoint,
            op,
            source,
        },
        Some(libc::ENOENT) => ConnectError::NotFound { endpoint, source },
        _ => ConnectError::Io {
            endpoint,
            op,
            source,
        },
    }
}

/// A message buffer as msgsnd/msgrcv take it: `mtype` then the text, in
/// `c_long` words so that `mtype` is aligned.
#[derive(Debug)]
struct MsgBuf(Vec<libc::c_long>);

impl MsgBuf {
    /// Room for a text of `len` bytes.
    fn new(len: usize) -> Self {
        Self(vec![0; 1 + len.div_ceil(TYPE_LEN)])
    }

    fn bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.0)
    }

    fn text_capacity(&self) -> usize {
        (self.0.len() - 1) * TYPE_LEN
    }
}

/// An open queue and what both ends know of it.
#[derive(Debug)]
struct Queue {
    id: libc::c_int,
    max: usize,
    endpoint: Arc<str>,
}

impl Queue {
    /// Opens the queue with `key`, creating it if missing; returns it and
    /// whether this call created it.
    fn open(key: libc::key_t, config: &Config) -> Result<(Self, bool), ConnectError> {
        let endpoint = endpoint_of(key);
        config.check(OPTIONS, &endpoint)?;
        if key == libc::IPC_PRIVATE {
            return Err(ConnectError::InvalidName {
                endpoint,
                reason: "key 0 is IPC_PRIVATE, which no other process can open".into(),
            });
        }
        let mode = config.mode_or_default(&endpoint)?;
        let msgmax = std::fs::read_to_string("/proc/sys/kernel/msgmax")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(8192);
        let max = config.max_or(msgmax, &endpoint)?;
        if max > msgmax {
            return Err(ConnectError::InvalidConfig {
                endpoint,
                reason: format!(
                    "maximum message size {max} is above the kernel's largest System V message \
                     ({msgmax} bytes, /proc/sys/kernel/msgmax)"
                ),
            });
        }
        let mode = libc::c_int::try_from(mode).unwrap_or(0o600);
        // SAFETY: msgget takes a key and flags and touches no memory.
        let mut id = unsafe { libc::msgget(key, libc::IPC_CREAT | libc::IPC_EXCL | mode) };
        let created = id >= 0;
        if !created {
            let error = io::Error::last_os_error();
            if error.raw_os_error() != Some(libc::EEXIST) {
                return Err(sysv_error(&endpoint, "msgget", error));
            }
            // SAFETY: as above.
            id = unsafe { libc::msgget(key, 0) };
            if id < 0 {
                return Err(sysv_error(&endpoint, "msgget", io::Error::last_os_error()));
            }
        }
        // SAFETY: msqid_ds is plain data; IPC_STAT fills it in.
        let mut ds: libc::msqid_ds = unsafe { std::mem::zeroed() };
        // SAFETY: `ds` is a writable msqid_ds for the call.
        if unsafe { libc::msgctl(id, libc::IPC_STAT, &mut ds) } < 0 {
            return Err(sysv_error(
                &endpoint,
                "msgctl(IPC_STAT)",
                io::Error::last_os_error(),
            ));
        }
        if !created {
            // Someone else's queue: its owner, creator and mode, before
            // anything is sent or received (an owner can hand a queue to
            // another uid with IPC_SET, so the creator counts too).
            let perm = &ds.msg_perm;
            let found = Found {
                uid: perm.uid,
                creator_uid: perm.cuid,
                gid: perm.gid,
                mode: u32::from(perm.mode),
            };
            config
                .trust_or_default()
                .check(found, true)
                .map_err(|d| d.into_connect_error(&endpoint))?;
        }
        let qbytes = usize::try_from(ds.msg_qbytes).unwrap_or(usize::MAX);
        if qbytes < max {
            return Err(ConnectError::QueueTooSmall {
                endpoint,
                msgsize: qbytes,
                max,
            });
        }
        let queue = Queue {
            id,
            max,
            endpoint: Arc::from(endpoint),
        };
        Ok((queue, created))
    }

    /// Sends the first `len` text bytes of `buf` (its type already set).
    fn send(&self, buf: &MsgBuf, len: usize, deadline: Deadline) -> Result<(), SendError> {
        let flags = if deadline == Deadline::Never {
            0
        } else {
            libc::IPC_NOWAIT
        };
        let mut backoff = Backoff::new();
        loop {
            // SAFETY: `buf` holds an mtype followed by at least `len` bytes
            // of text (len <= text_capacity, checked by the callers); the
            // kernel only reads it.
            if unsafe { libc::msgsnd(self.id, buf.0.as_ptr().cast(), len, flags) } == 0 {
                return Ok(());
            }
            let error = io::Error::last_os_error();
            match error.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::EAGAIN) if backoff.sleep(deadline) => {}
                Some(libc::EAGAIN) => {
                    return Err(match deadline {
                        Deadline::Now => SendError::Full,
                        _ => SendError::Timeout,
                    });
                }
                // Removed (EIDRM while waiting, EINVAL for a gone id).
                Some(libc::EIDRM | libc::EINVAL) => {
                    return Err(SendError::Disconnected {
                        endpoint: self.endpoint.clone(),
                    });
                }
                _ => {
                    return Err(SendError::Io {
                        endpoint: self.endpoint.clone(),
                        op: "msgsnd",
                        source: error,
                    });
                }
            }
        }
    }
}

/// The sending end of a System V message queue.
#[derive(Debug)]
pub struct SysvSender {
    queue: Queue,
    message_type: i64,
    buf: MsgBuf,
    /// This sender's hello and end markers.
    marks: SenderMarks,
    /// `close` left the end-of-stream marker.
    closed: bool,
}

impl SysvSender {
    /// Opens (creating if missing) the queue with `key` for sending.
    pub fn open(key: libc::key_t, config: &Config) -> Result<Self, ConnectError> {
        let (queue, _) = Queue::open(key, config)?;
        let message_type = config.message_type.unwrap_or(DEFAULT_TYPE);
        if !(1..END_TYPE).contains(&message_type) {
            return Err(ConnectError::InvalidConfig {
                endpoint: queue.endpoint.to_string(),
                reason: format!(
                    "message type {message_type} is outside 1..{END_TYPE} (the last is the end-of-stream marker's)"
                ),
            });
        }
        let buf = MsgBuf::new(queue.max.max(MARKER_LEN));
        Ok(Self {
            queue,
            message_type,
            buf,
            marks: SenderMarks::default(),
            closed: false,
        })
    }

    /// Sends `msg` as a message of type `t` (1 to [`END_TYPE`] - 1),
    /// waiting as long as it takes for room.
    pub fn send_type(&mut self, t: i64, msg: &[u8]) -> Result<(), SendError> {
        self.send_type_deadline(t, msg, Deadline::Never)
    }

    /// Sends `msg` as a message of type `t`, waiting until `deadline`.
    pub fn send_type_deadline(
        &mut self,
        t: i64,
        msg: &[u8],
        deadline: Deadline,
    ) -> Result<(), SendError> {
        SendError::check_len(msg.len(), self.queue.max, &self.queue.endpoint)?;
        if !(1..END_TYPE).contains(&t) {
            return Err(SendError::InvalidMessage {
                endpoint: self.queue.endpoint.clone(),
                reason: format!(
                    "message type {t} is outside 1..{END_TYPE} (the last is the end-of-stream marker's)"
                ),
            });
        }
        if self.closed {
            return Err(SendError::Closed {
                endpoint: self.queue.endpoint.clone(),
            });
        }
        if let Some(hello) = self.marks.hello_due() {
            self.fill(END_TYPE, &hello);
            self.queue.send(&self.buf, hello.len(), deadline)?;
            self.marks.announced(&hello);
        }
        self.fill(t, msg);
        self.queue.send(&self.buf, msg.len(), deadline)
    }

    /// Writes type and text into the message buffer.
    fn fill(&mut self, t: i64, msg: &[u8]) {
        self.buf.0[0] = t as libc::c_long;
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut self.buf.0);
        bytes[TYPE_LEN..TYPE_LEN + msg.len()].copy_from_slice(msg);
    }
}

impl Sender for SysvSender {
    fn send_deadline(&mut self, msg: &[u8], deadline: Deadline) -> Result<(), SendError> {
        self.send_type_deadline(self.message_type, msg, deadline)
    }

    /// Leaves the end-of-stream marker, waiting until `deadline` for room
    /// (`Full`/`Timeout`: the queue stayed full, no marker was left).
    fn close_deadline(&mut self, deadline: Deadline) -> Result<(), SendError> {
        if self.closed {
            return Ok(());
        }
        if let Some(end) = self.marks.end_due() {
            self.fill(END_TYPE, &end);
            self.queue.send(&self.buf, end.len(), deadline)?;
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
}

impl Drop for SysvSender {
    fn drop(&mut self) {
        if !self.closed
            && let Some(end) = self.marks.end_due()
        {
            self.fill(END_TYPE, &end);
            let _ = self
                .queue
                .send(&self.buf, end.len(), Deadline::after(END_MARKER_WAIT));
        }
    }
}

/// The receiving end of a System V message queue.
#[derive(Debug)]
pub struct SysvReceiver {
    queue: Queue,
    message_type: i64,
    /// Room for one byte more than the maximum: a longer message is cut
    /// there by the kernel (MSG_NOERROR) and reported as too large.
    buf: MsgBuf,
    created: bool,
    persist: bool,
    /// The senders that announced themselves and have not ended.
    senders: Senders,
    /// Every sender ended and the queue was drained.
    ended: bool,
    used_by: u32,
}

impl SysvReceiver {
    /// Opens (creating if missing) the queue with `key` for receiving.
    pub fn open(key: libc::key_t, config: &Config) -> Result<Self, ConnectError> {
        let (queue, created) = Queue::open(key, config)?;
        let buf = MsgBuf::new((queue.max + 1).max(MARKER_LEN));
        Ok(Self {
            queue,
            message_type: config.message_type.unwrap_or(0),
            buf,
            created,
            persist: config.persists(),
            senders: Senders::default(),
            ended: false,
            used_by: 0,
        })
    }

    /// Receives the next message of type `t` (msgrcv's `msgtyp`: 0 any,
    /// `t > 0` that type, `t < 0` the lowest type up to `-t`), waiting as
    /// long as it takes; returns its length and type.
    pub fn recv_type(&mut self, t: i64, buf: &mut Vec<u8>) -> Result<(usize, i64), RecvError> {
        self.recv_type_deadline(t, buf, Deadline::Never)
    }

    /// Receives the next message of type `t`, waiting until `deadline`.
    pub fn recv_type_deadline(
        &mut self,
        t: i64,
        out: &mut Vec<u8>,
        deadline: Deadline,
    ) -> Result<(usize, i64), RecvError> {
        if self.ended {
            return Err(self.senders.ended(self.queue.endpoint.clone()));
        }
        self.used_by = current_pid();
        let text = self
            .buf
            .text_capacity()
            .min((self.queue.max + 1).max(MARKER_LEN));
        let mut backoff = Backoff::new();
        loop {
            // Every sender ended: what is queued still comes, then the end.
            let deadline = if self.senders.draining() {
                Deadline::Now
            } else {
                deadline
            };
            let flags = libc::MSG_NOERROR
                | if deadline == Deadline::Never {
                    0
                } else {
                    libc::IPC_NOWAIT
                };
            // SAFETY: the buffer holds an mtype and `text` bytes of text
            // (text <= text_capacity); the kernel writes within them.
            let n = unsafe {
                libc::msgrcv(
                    self.queue.id,
                    self.buf.0.as_mut_ptr().cast(),
                    text,
                    t as libc::c_long,
                    flags,
                )
            };
            if let Ok(len) = usize::try_from(n) {
                let message_type = self.buf.0[0];
                if message_type == END_TYPE {
                    let text = &self.buf.bytes()[TYPE_LEN..TYPE_LEN + len.min(text)];
                    match Marker::decode(text) {
                        Some(marker) => self.senders.note(marker),
                        None if len == 0 => self.senders.note_bare(),
                        None => {}
                    }
                    continue;
                }
                if len > self.queue.max {
                    out.clear();
                    return Err(RecvError::MessageTooLarge {
                        len,
                        max: self.queue.max,
                        endpoint: self.queue.endpoint.clone(),
                    });
                }
                out.clear();
                out.extend_from_slice(&self.buf.bytes()[TYPE_LEN..TYPE_LEN + len]);
                return Ok((len, message_type));
            }
            let error = io::Error::last_os_error();
            match error.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::ENOMSG) if self.senders.draining() => {
                    self.ended = true;
                    return Err(self.senders.ended(self.queue.endpoint.clone()));
                }
                Some(libc::ENOMSG) => {
                    // A sender that crashed leaves no end marker: polled
                    // waits and idle polls look once a tick whether the
                    // announced senders' processes still exist (an untimed
                    // receive sleeps in msgrcv, which has no timed form).
                    self.senders.prune_if_due();
                    if self.senders.draining() || backoff.sleep(deadline) {
                        continue;
                    }
                    return Err(match deadline {
                        Deadline::Now => RecvError::Empty,
                        _ => RecvError::Timeout,
                    });
                }
                Some(libc::EIDRM | libc::EINVAL) => {
                    self.ended = true;
                    return Err(self.disconnected());
                }
                _ => {
                    return Err(RecvError::Io {
                        endpoint: self.queue.endpoint.clone(),
                        op: "msgrcv",
                        source: error,
                    });
                }
            }
        }
    }

    fn disconnected(&self) -> RecvError {
        RecvError::Disconnected {
            endpoint: self.queue.endpoint.clone(),
        }
    }
}

impl Receiver for SysvReceiver {
    fn recv_deadline(&mut self, buf: &mut Vec<u8>, deadline: Deadline) -> Result<usize, RecvError> {
        self.recv_type_deadline(self.message_type, buf, deadline)
            .map(|(len, _)| len)
    }

    fn max_message_size(&self) -> usize {
        self.queue.max
    }

    fn endpoint(&self) -> &str {
        &self.queue.endpoint
    }
}

impl Drop for SysvReceiver {
    fn drop(&mut self) {
        if self.created && !self.persist && self.used_by == current_pid() {
            // SAFETY: IPC_RMID ignores the buffer argument.
            unsafe { libc::msgctl(self.queue.id, libc::IPC_RMID, std::ptr::null_mut()) };
        }
    }
}
