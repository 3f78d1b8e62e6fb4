//! `shm://NAME`: shmlane's own byte ring ([`crate::bytes`]) in a named
//! POSIX shared-memory segment, with futex wakeups: no copy through the
//! kernel and no syscall per message while both ends are busy.
//!
//! * Either end creates the segment if it does not exist (mode 0600 or
//!   `?mode=`), the other opens it; they may start in either order. The
//!   segment's maximum message size is fixed by its creator (`?max=`,
//!   default [`DEFAULT_MAX_MESSAGE_SIZE`](super::DEFAULT_MAX_MESSAGE_SIZE));
//!   an opener that asks for another one, or that finds a larger one than
//!   it takes (its `?max=`, default 64 KiB, whether or not it gave one), is
//!   [`ConnectError::Incompatible`], so an oversize message is refused
//!   when the channel is opened, never half-way, and no creator decides
//!   how much an opener allocates. `?capacity=` sets the ring size in
//!   bytes (a power of two; default: 64 KiB, or more so that the largest
//!   message takes at most half the ring).
//! * An existing segment is joined only if this user (or root) owns it and
//!   neither group nor others may write it, unless `?owner=UID` /
//!   `?group=GID` allow it ([`ConnectError::Untrusted`]).
//! * As with a FIFO, opening the sending end waits until a receiver holds
//!   the segment (`?timeout_ms=` bounds the wait, else it is unbounded).
//! * Opening is `open_or_create`: a segment some end holds (or made with
//!   `?persist=true`) is joined, a stale one (every end of it dead) is
//!   replaced, so a new session never sees a dead one's messages. The last
//!   end to detach removes the name, unless `?persist=true`.
//! * Ends mark themselves attached at first use, in the process that uses
//!   them: an end inherited across `fork` and dropped unused neither ends
//!   the stream nor frees the role.
//! * `Disconnected`: for the receiver once the sender is gone (dropped or
//!   closed) and every message it sent was received ([`RecvError::Reset`]
//!   instead if its process died without closing); for the
//!   sender once the receiver is gone and the ring is full. A sender that
//!   never sent is not waited for past the receiver's own timeout.

use std::sync::Arc;

use super::config::Config;
use super::poll::Backoff;
use super::{Adapter, ConnectError, Deadline, RecvError, SendError};
use crate::bytes;
use crate::error::{GrantError, OpenError, PopError};
use crate::options::Options;

pub(crate) const ADAPTER: Adapter = Adapter {
    sender: |url| Ok(Box::new(ShmSender::open(&url.name, &url.config)?)),
    receiver: |url| Ok(Box::new(ShmReceiver::open(&url.name, &url.config)?)),
    pair: None,
    connect: None,
    listen: None,
};

/// The URL options `shm://` takes.
const OPTIONS: &[&str] = &[
    "max",
    "capacity",
    "mode",
    "persist",
    "timeout_ms",
    "owner",
    "group",
];
/// Smallest default ring.
const MIN_RING_BYTES: usize = 64 * 1024;

/// The sending end of an `shm://` channel.
#[derive(Debug)]
pub struct ShmSender {
    /// `None` once closed (dropping the producer detaches it: the
    /// receiver sees the end after the frames in the ring).
    ring: Option<bytes::Producer>,
    max: usize,
    endpoint: Arc<str>,
}

/// The receiving end of an `shm://` channel.
#[derive(Debug)]
pub struct ShmReceiver {
    ring: bytes::Consumer,
    endpoint: Arc<str>,
}

/// What [`options`] makes of a URL: the segment name, the options to open
/// and to create it with, and the largest message this end accepts.
struct Plan {
    segment: String,
    open: Options,
    create: Options,
    max: usize,
    /// `?max=` was given (else `max` is the default bound).
    max_given: bool,
}

/// The segment name of `shm://NAME` (a leading `/` is allowed), and the
/// options to open and to create it with.
fn options(name: &str, config: &Config) -> Result<Plan, ConnectError> {
    let endpoint = format!("shm://{name}");
    config.check(OPTIONS, &endpoint)?;
    let segment = name.strip_prefix('/').unwrap_or(name);
    if segment.is_empty() || segment.contains('/') || segment.len() > 200 {
        return Err(ConnectError::InvalidName {
            endpoint,
            reason: "a segment name is 1 to 200 bytes without '/' (shm://NAME)".into(),
        });
    }
    let max = config.max_or(super::DEFAULT_MAX_MESSAGE_SIZE, &endpoint)?;
    // No max frame in the open options: their layout check would want a
    // capacity too; `check_max` compares it once the segment is open.
    let mut open = Options::new().trust(config.trust_or_default());
    if let Some(bytes) = config.capacity {
        open = open.capacity(bytes);
    }
    // The header word and the rounding to whole words: a frame of `max`
    // bytes must take at most half the ring.
    let ring = config.capacity.unwrap_or_else(|| {
        (2 * (max + 16))
            .checked_next_power_of_two()
            .unwrap_or(usize::MAX)
            .max(MIN_RING_BYTES)
    });
    let create = Options::new()
        .capacity(ring)
        .max_frame(max)
        .mode(config.mode_or_default(&endpoint)?)
        .persist(config.persists());
    Ok(Plan {
        segment: segment.to_owned(),
        open,
        create,
        max,
        max_given: config.max_message_size.is_some(),
    })
}

/// Refuses a segment whose maximum message is not the one this end asked
/// for (`?max=`) or, without one, above the default 64 KiB: a message
/// that size would make this end allocate what a peer chose, not what it
/// allowed.
fn check_max(endpoint: &str, segment_max: usize, plan: &Plan) -> Result<(), ConnectError> {
    let expected = match plan.max_given {
        true if segment_max == plan.max => return Ok(()),
        false if segment_max <= plan.max => return Ok(()),
        true => plan.max.to_string(),
        false => format!(
            "at most {} bytes (raise it with ?max={segment_max} if you trust the creator)",
            plan.max
        ),
    };
    Err(ConnectError::Incompatible {
        endpoint: endpoint.to_owned(),
        field: "max_frame",
        expected,
        found: segment_max.to_string(),
    })
}

/// An `OpenError` as this transport reports it.
fn connect_error(endpoint: &str, error: OpenError) -> ConnectError {
    let endpoint = endpoint.to_owned();
    match error {
        OpenError::Incompatible {
            field,
            expected,
            found,
            ..
        } => ConnectError::Incompatible {
            endpoint,
            field,
            expected,
            found,
        },
        OpenError::Permission { op, source, .. } => ConnectError::Permission {
            endpoint,
            op,
            source,
        },
        OpenError::Timeout { waited_ms, .. } => ConnectError::Timeout {
            endpoint,
            what: "for the segment's creator to initialise it",
            waited_ms,
        },
        OpenError::InvalidConfig(reason) => ConnectError::InvalidConfig { endpoint, reason },
        OpenError::Io { op, source, .. } => ConnectError::Io {
            endpoint,
            op,
            source,
        },
        OpenError::RoleTaken { role, .. } => ConnectError::RoleTaken {
            endpoint,
            role: if role.contains("producer") || role.contains("send") {
                "sending"
            } else {
                "receiving"
            },
        },
        // Removed between being found and being opened.
        OpenError::NotFound { .. } => ConnectError::NotFound {
            endpoint,
            source: std::io::Error::from_raw_os_error(libc::ENOENT),
        },
        OpenError::AlreadyExists { .. } => ConnectError::AlreadyExists { endpoint },
        OpenError::NoSpace { bytes, source, .. } => ConnectError::NoSpace {
            endpoint,
            bytes,
            source,
        },
        OpenError::Corrupted { corruption, .. } => ConnectError::Corrupted {
            endpoint,
            corruption,
        },
        OpenError::Untrusted {
            owner_uid,
            mode,
            problem,
            allowed,
            fix,
            ..
        } => ConnectError::Untrusted {
            endpoint,
            owner_uid,
            mode,
            problem,
            allowed,
            fix,
        },
        // Not a ring with participants: said in the error's own words.
        other => ConnectError::Io {
            endpoint,
            op: "open",
            source: std::io::Error::other(other.to_string()),
        },
    }
}

impl ShmSender {
    /// Opens (creating if missing) the segment `name` for sending, then
    /// waits for a receiver (up to `?timeout_ms=`).
    pub fn open(name: &str, config: &Config) -> Result<Self, ConnectError> {
        let deadline = config.open_timeout.map_or(Deadline::Never, Deadline::after);
        let mut pending = PendingSender::start(name, config)?;
        if pending.wait_until(deadline) {
            return Ok(pending.finish());
        }
        Err(ConnectError::Timeout {
            endpoint: pending.endpoint.to_string(),
            what: "waiting for a receiver",
            waited_ms: config
                .open_timeout
                .map_or(0, |t| t.as_millis().try_into().unwrap_or(u64::MAX)),
        })
    }

    /// The ring's counters (`None` once closed).
    pub fn stats(&self) -> Option<crate::Stats> {
        self.ring.as_ref().map(bytes::Producer::stats)
    }

    /// The ring (`None` once closed), for the async end to wait on.
    #[cfg(feature = "tokio")]
    pub(crate) fn ring_mut(&mut self) -> Option<&mut bytes::Producer> {
        self.ring.as_mut()
    }

    /// The channel's error for a ring error.
    pub(crate) fn send_error(&self, e: GrantError) -> SendError {
        match e {
            GrantError::FrameTooLarge { len, max } => SendError::MessageTooLarge {
                len,
                max,
                endpoint: self.endpoint.clone(),
            },
            GrantError::Full => SendError::Full,
            GrantError::Timeout => SendError::Timeout,
            GrantError::Disconnected => SendError::Disconnected {
                endpoint: self.endpoint.clone(),
            },
            GrantError::Corrupted(corruption) => SendError::Corrupted {
                endpoint: self.endpoint.clone(),
                corruption,
            },
        }
    }
}

/// A sending end whose segment is open and which waits for a receiver
/// (`transport::Opening` waits for one a slice at a time, holding the
/// segment meanwhile).
pub(crate) struct PendingSender {
    ring: bytes::Producer,
    endpoint: Arc<str>,
}

impl PendingSender {
    /// Opens (creating if missing) the segment `name` for sending.
    pub(crate) fn start(name: &str, config: &Config) -> Result<Self, ConnectError> {
        let plan = options(name, config)?;
        let endpoint: Arc<str> = format!("shm://{}", plan.segment).into();
        let ring = bytes::Producer::open_or_create_with(&plan.segment, &plan.open, &plan.create)
            .map_err(|e| connect_error(&endpoint, e))?;
        check_max(&endpoint, ring.max_frame(), &plan)?;
        Ok(Self { ring, endpoint })
    }

    /// Waits until a receiver holds the segment (`true`) or `deadline`.
    pub(crate) fn wait_until(&mut self, deadline: Deadline) -> bool {
        let mut backoff = Backoff::new();
        while !self.ring.consumer_present() {
            if !backoff.sleep(deadline) {
                return false;
            }
        }
        true
    }

    /// The sender, once a receiver is there.
    pub(crate) fn finish(self) -> ShmSender {
        let max = self.ring.max_frame();
        ShmSender {
            ring: Some(self.ring),
            max,
            endpoint: self.endpoint,
        }
    }
}

impl ShmReceiver {
    /// Opens (creating if missing) the segment `name` for receiving.
    pub fn open(name: &str, config: &Config) -> Result<Self, ConnectError> {
        let plan = options(name, config)?;
        let endpoint: Arc<str> = format!("shm://{}", plan.segment).into();
        let ring = bytes::Consumer::open_or_create_with(&plan.segment, &plan.open, &plan.create)
            .map_err(|e| connect_error(&endpoint, e))?;
        check_max(&endpoint, ring.max_frame(), &plan)?;
        Ok(Self { ring, endpoint })
    }

    /// The ring's counters.
    pub fn stats(&self) -> crate::Stats {
        self.ring.stats()
    }

    /// The ring, for the async end to wait on.
    #[cfg(feature = "tokio")]
    pub(crate) fn ring_mut(&mut self) -> &mut bytes::Consumer {
        &mut self.ring
    }

    /// The channel's error for a ring error.
    pub(crate) fn recv_error(&self, e: PopError) -> RecvError {
        match e {
            PopError::Empty => RecvError::Empty,
            PopError::Timeout => RecvError::Timeout,
            // The sender's process died without closing: a cut stream,
            // as a reset connection is.
            PopError::Disconnected if self.ring.peer_crashed() => RecvError::Reset {
                endpoint: self.endpoint.clone(),
            },
            PopError::Disconnected => RecvError::Disconnected {
                endpoint: self.endpoint.clone(),
            },
            PopError::Corrupted(corruption) => RecvError::Corrupted {
                endpoint: self.endpoint.clone(),
                corruption: *corruption,
            },
        }
    }
}

impl super::Sender for ShmSender {
    fn send_deadline(&mut self, msg: &[u8], deadline: Deadline) -> Result<(), SendError> {
        let Some(ring) = self.ring.as_mut() else {
            return Err(SendError::Closed {
                endpoint: self.endpoint.clone(),
            });
        };
        let sent = match deadline {
            Deadline::Now => ring.try_send(msg),
            Deadline::At(at) => ring.send_deadline(msg, at),
            Deadline::Never => ring.send(msg),
        };
        sent.map_err(|e| self.send_error(e))
    }

    /// Detaches from the ring: every frame sent is in it, and the
    /// receiver sees the end after them.
    fn close_deadline(&mut self, _deadline: Deadline) -> Result<(), SendError> {
        self.ring = None;
        Ok(())
    }

    fn max_message_size(&self) -> usize {
        self.max
    }

    fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

impl super::Receiver for ShmReceiver {
    fn recv_deadline(&mut self, buf: &mut Vec<u8>, deadline: Deadline) -> Result<usize, RecvError> {
        let received = match deadline {
            Deadline::Now => self.ring.try_recv(buf),
            Deadline::At(at) => self.ring.recv_deadline(buf, at),
            Deadline::Never => self.ring.recv(buf),
        };
        received.map_err(|e| self.recv_error(e))
    }

    fn max_message_size(&self) -> usize {
        self.ring.max_frame()
    }

    fn endpoint(&self) -> &str {
        &self.endpoint
    }
}
