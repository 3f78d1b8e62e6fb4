//! A channel's settings: the typed form of a URL's query string.
//!
//! One [`Config`] serves every mechanism. Each adapter names the options it
//! takes; one that is set but does not apply is an
//! [`InvalidConfig`](ConnectError::InvalidConfig) error, never silently
//! ignored (as for the rings' [`Options`](crate::Options)).

use std::time::Duration;

use super::ConnectError;
use crate::error::OpenError;
use crate::options::refuse_set;

/// Maximum message size of stream and seqpacket channels when none is given
/// (`?max=`). Message queues default to what the queue holds instead.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024;

/// The largest maximum message size any channel takes: a length prefix is a
/// `u32`, less its own four bytes.
pub const MAX_MESSAGE_SIZE_LIMIT: usize = u32::MAX as usize - 4;

/// How long a `tcp://` connect (name resolution included) waits when no
/// `?timeout_ms=` is given.
pub const DEFAULT_TCP_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `tcp://` keepalive when no `?keepalive_s=` is given: after this long
/// without traffic the kernel probes the peer, then every half of it, and
/// ends the connection when [`DEFAULT_TCP_USER_TIMEOUT`] passes without an
/// answer, so a vanished peer is noticed within about 30 s.
pub const DEFAULT_TCP_KEEPALIVE: Duration = Duration::from_secs(10);

/// `tcp://` `TCP_USER_TIMEOUT` when no `?user_timeout_ms=` is given: how
/// long sent data (or keepalive probes) may stay unanswered before the
/// kernel ends the connection.
pub const DEFAULT_TCP_USER_TIMEOUT: Duration = Duration::from_secs(20);

/// Default permission bits of a FIFO or queue that a channel creates.
pub const DEFAULT_CREATE_MODE: u32 = 0o600;

/// How a byte stream (`pipe:`, `fifo://`, `unix://`, `tcp://`) marks where
/// one message ends (`?framing=`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Framing {
    /// Each message is preceded by its length, a 4-byte unsigned integer in
    /// network byte order (big-endian): any bytes, any length up to the
    /// maximum. In Python: `struct.pack("!I", len(m)) + m`.
    #[default]
    Length,
    /// Each message is one line, ended by `\n` (not part of the message), as
    /// shell tools write text. A message cannot contain `\n`. A last line
    /// without `\n` before end of stream is a message too.
    Lines,
}

/// Which side of a connection a socket URL takes when it is opened with
/// [`sender`](super::sender) or [`receiver`](super::receiver) (`?role=`).
/// By default a receiver listens (and accepts one connection) and a sender
/// connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Bind the address, listen, and accept one connection.
    Listen,
    /// Connect to a listener at the address.
    Connect,
}

/// Settings of one channel end. Build it with the methods, or let a URL's
/// query set it (`?max=4096&framing=lines`): each method names its query
/// key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub(crate) max_message_size: Option<usize>,
    pub(crate) framing: Option<Framing>,
    pub(crate) role: Option<Role>,
    pub(crate) open_timeout: Option<Duration>,
    pub(crate) mode: Option<u32>,
    pub(crate) capacity: Option<usize>,
    pub(crate) priority: Option<u32>,
    pub(crate) message_type: Option<i64>,
    pub(crate) persist: Option<bool>,
    /// `pipe:?fd=N`: the inherited descriptor (duplicated, not taken).
    pub(crate) fd: Option<i32>,
    /// `tcp://`: idle time before keepalive probes (zero: none).
    pub(crate) keepalive: Option<Duration>,
    /// `tcp://`: `TCP_USER_TIMEOUT` (zero: the kernel's default).
    pub(crate) user_timeout: Option<Duration>,
}

impl Config {
    /// No option set: every mechanism's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// `max`: the largest message in bytes, checked by the sender and by
    /// the receiver (default [`DEFAULT_MAX_MESSAGE_SIZE`]; for `mq://`, the
    /// queue's message size; for `sysvmq://`, the kernel's `msgmax`). Both
    /// ends should agree.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = Some(bytes);
        self
    }

    /// `framing`: how a byte stream marks message ends (default
    /// [`Framing::Length`]). Stream mechanisms only.
    pub fn framing(mut self, framing: Framing) -> Self {
        self.framing = Some(framing);
        self
    }

    /// `role`: whether a socket URL opened as a single sender or receiver
    /// listens or connects. Socket mechanisms only.
    pub fn role(mut self, role: Role) -> Self {
        self.role = Some(role);
        self
    }

    /// `timeout_ms`: how long opening waits for the other side: a FIFO
    /// writer for a reader, a connect for a listener (retrying while it is
    /// refused), an accept for a connection. Without it a FIFO writer and an
    /// accept wait as long as it takes; a connect that is refused (or finds
    /// no socket path) fails at once, and a `tcp://` connect that gets no
    /// answer (name resolution included) gives up after
    /// [`DEFAULT_TCP_CONNECT_TIMEOUT`].
    pub fn open_timeout(mut self, timeout: Duration) -> Self {
        self.open_timeout = Some(timeout);
        self
    }

    /// `mode`: permission bits of a FIFO or queue this end creates (default
    /// 0600; the umask does not apply).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }

    /// `capacity`: messages a POSIX queue this end creates holds
    /// (`mq_maxmsg`; default: the system's `fs.mqueue.msg_default`). An
    /// existing queue must have this capacity. `mq://` only.
    pub fn capacity(mut self, messages: usize) -> Self {
        self.capacity = Some(messages);
        self
    }

    /// `priority`: the priority `send` gives POSIX queue messages, 1 to
    /// 32766 (default 1; 0 and 32767 carry the end-of-stream markers).
    /// `mq://` only.
    pub fn priority(mut self, priority: u32) -> Self {
        self.priority = Some(priority);
        self
    }

    /// `type`: for a System V queue sender, the type (`mtype`, at least 1,
    /// default 1) of the messages `send` sends; for a receiver, the type
    /// that `recv` takes (msgrcv's `msgtyp`: 0, the default, takes the next
    /// message of any type). `sysvmq://` only.
    pub fn message_type(mut self, message_type: i64) -> Self {
        self.message_type = Some(message_type);
        self
    }

    /// `persist`: keep a FIFO or queue this end created when it drops
    /// (default: a FIFO's creator removes it; a queue's creating receiver
    /// removes it; a sender never removes a queue, whose messages wait for
    /// a receiver).
    pub fn persist(mut self, persist: bool) -> Self {
        self.persist = Some(persist);
        self
    }

    /// `keepalive_s`: for `tcp://`, seconds without traffic after which
    /// the kernel probes the peer (`TCP_KEEPIDLE`; then every half of it,
    /// `TCP_KEEPINTVL`), so that an untimed `recv` learns of a peer host
    /// that vanished ([`RecvError::PeerLost`](super::RecvError::PeerLost)).
    /// Default [`DEFAULT_TCP_KEEPALIVE`]; 0 turns keepalive off. Whole
    /// seconds (the kernel's unit).
    pub fn keepalive(mut self, idle: Duration) -> Self {
        self.keepalive = Some(idle);
        self
    }

    /// `user_timeout_ms`: for `tcp://`, how long sent data or keepalive
    /// probes may stay unacknowledged before the kernel ends the connection
    /// (`TCP_USER_TIMEOUT`). Default [`DEFAULT_TCP_USER_TIMEOUT`]; 0 leaves
    /// the kernel's default (about 15 minutes of retransmissions).
    pub fn user_timeout(mut self, timeout: Duration) -> Self {
        self.user_timeout = Some(timeout);
        self
    }

    /// The options set, by query key.
    fn set_options(&self) -> [(&'static str, bool); 12] {
        [
            ("max", self.max_message_size.is_some()),
            ("framing", self.framing.is_some()),
            ("role", self.role.is_some()),
            ("timeout_ms", self.open_timeout.is_some()),
            ("mode", self.mode.is_some()),
            ("capacity", self.capacity.is_some()),
            ("priority", self.priority.is_some()),
            ("type", self.message_type.is_some()),
            ("persist", self.persist.is_some()),
            ("fd", self.fd.is_some()),
            ("keepalive_s", self.keepalive.is_some()),
            ("user_timeout_ms", self.user_timeout.is_some()),
        ]
    }

    /// Refuses every option that is set but not among `applies` (query
    /// keys), naming the first one and the channel.
    pub(crate) fn check(&self, applies: &[&str], endpoint: &str) -> Result<(), ConnectError> {
        let foreign: Vec<(&str, bool)> = self
            .set_options()
            .into_iter()
            .filter(|(key, _)| !applies.contains(key))
            .collect();
        refuse_set(&foreign, endpoint).map_err(|e| ConnectError::InvalidConfig {
            endpoint: endpoint.to_owned(),
            reason: match e {
                OpenError::InvalidConfig(reason) => reason,
                other => other.to_string(),
            },
        })
    }

    /// The maximum message size, or `default`, checked to be in
    /// `1..=MAX_MESSAGE_SIZE_LIMIT`.
    pub(crate) fn max_or(&self, default: usize, endpoint: &str) -> Result<usize, ConnectError> {
        let max = self.max_message_size.unwrap_or(default);
        if max == 0 || max > MAX_MESSAGE_SIZE_LIMIT {
            return Err(ConnectError::InvalidConfig {
                endpoint: endpoint.to_owned(),
                reason: format!(
                    "maximum message size {max} is outside 1..={MAX_MESSAGE_SIZE_LIMIT}"
                ),
            });
        }
        Ok(max)
    }

    /// The creation mode, checked to have no bits outside 0o777.
    pub(crate) fn mode_or_default(&self, endpoint: &str) -> Result<u32, ConnectError> {
        let mode = self.mode.unwrap_or(DEFAULT_CREATE_MODE);
        if mode & !0o777 != 0 {
            return Err(ConnectError::InvalidConfig {
                endpoint: endpoint.to_owned(),
                reason: format!("mode {mode:#o} has bits outside 0o777"),
            });
        }
        Ok(mode)
    }

    pub(crate) fn framing_or_default(&self) -> Framing {
        self.framing.unwrap_or_default()
    }

    pub(crate) fn persists(&self) -> bool {
        self.persist.unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_names_the_first_foreign_option() {
        let cfg = Config::new().max_message_size(10).framing(Framing::Lines);
        assert!(cfg.check(&["max", "framing"], "fifo:///x").is_ok());
        let e = cfg.check(&["max"], "mq:///q").unwrap_err().to_string();
        assert!(e.contains("framing") && e.contains("mq:///q"), "{e}");
    }

    #[test]
    fn max_and_mode_are_range_checked() {
        assert_eq!(Config::new().max_or(7, "x").unwrap(), 7);
        assert!(Config::new().max_message_size(0).max_or(7, "x").is_err());
        assert!(Config::new().mode(0o1777).mode_or_default("x").is_err());
        assert_eq!(Config::new().mode_or_default("x").unwrap(), 0o600);
    }
}
