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
use crate::trust::Trust;

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

/// How a `zenoh://` end joins the Zenoh network (`?mode=peer` or
/// `?mode=client`, Zenoh's own names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ZenohMode {
    /// A peer: connects to other peers directly (and to routers), and
    /// listens for them (the default).
    #[default]
    Peer,
    /// A client: connects to one router or peer (`?connect=`) and reaches
    /// the rest through it.
    Client,
}

/// What a `zenoh://` sender does when its link to the network is congested
/// (`?reliability=`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Reliability {
    /// The send waits for room (Zenoh's `CongestionControl::Block`) and
    /// nothing is dropped on the way: messages arrive in order, each once,
    /// while the link holds (the default).
    #[default]
    Reliable,
    /// Under congestion a message is dropped rather than waited for
    /// (`CongestionControl::Drop`): for data where the newest sample
    /// matters more than each one (telemetry, video frames).
    BestEffort,
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
    pub(crate) owner: Option<u32>,
    pub(crate) group: Option<u32>,
    pub(crate) trust: Option<Trust>,
    pub(crate) peer_uid: Option<u32>,
    /// `tcp://`: idle time before keepalive probes (zero: none).
    pub(crate) keepalive: Option<Duration>,
    /// `tcp://`: `TCP_USER_TIMEOUT` (zero: the kernel's default).
    pub(crate) user_timeout: Option<Duration>,
    /// `zenoh://`: peer or client (`?mode=peer|client`).
    pub(crate) zenoh_mode: Option<ZenohMode>,
    /// `zenoh://`: Zenoh endpoints to connect to (`?connect=tcp/HOST:PORT`,
    /// comma-separated).
    pub(crate) connect: Option<Vec<String>>,
    /// `zenoh://`: Zenoh endpoints to listen on (`?listen=tcp/HOST:PORT`).
    pub(crate) listen: Option<Vec<String>>,
    /// `zenoh://`: `?reliability=reliable|best_effort`.
    pub(crate) reliability: Option<Reliability>,
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

    /// `owner`: also accept an existing object (segment, queue, FIFO,
    /// socket path) that uid `uid` owns; by default only this process's
    /// own and root's are ([`Trust`]). Every mechanism that opens existing
    /// objects takes it.
    pub fn owner(mut self, uid: u32) -> Self {
        self.owner = Some(uid);
        self
    }

    /// `group`: also accept an existing object whose group is `gid`, and
    /// let that group write it (a channel shared by a group of users).
    pub fn group(mut self, gid: u32) -> Self {
        self.group = Some(gid);
        self
    }

    /// The whole trust rule at once ([`Trust`]); `owner` and `group` add
    /// to it. Reported as `owner` where it does not apply.
    pub fn trust(mut self, trust: Trust) -> Self {
        self.trust = Some(trust);
        self
    }

    /// `peer_uid`: a Unix socket listener accepts only connections whose
    /// peer (`SO_PEERCRED`) has this uid; another is closed and reported
    /// as [`ConnectError::PeerRefused`]. `unix://` and
    /// `unix+seqpacket://` listeners only.
    pub fn peer_uid(mut self, uid: u32) -> Self {
        self.peer_uid = Some(uid);
        self
    }

    /// The trust rule for objects this end opens.
    pub(crate) fn trust_or_default(&self) -> Trust {
        let mut trust = self.trust.clone().unwrap_or_default();
        if let Some(uid) = self.owner {
            trust = trust.uid(uid);
        }
        if let Some(gid) = self.group {
            trust = trust.gid(gid);
        }
        trust
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

    /// `mode=peer|client` (`zenoh://`): how the end joins the Zenoh
    /// network. On every other mechanism `mode` is permission bits
    /// ([`mode`](Self::mode)).
    pub fn zenoh_mode(mut self, mode: ZenohMode) -> Self {
        self.zenoh_mode = Some(mode);
        self
    }

    /// `connect=ENDPOINT` (`zenoh://`): a Zenoh endpoint to connect to,
    /// such as `tcp/192.0.2.7:7447`; call again for more (in the URL,
    /// comma-separated). Unreachable within `?timeout_ms=` (10 s by
    /// default): [`ConnectError::Unreachable`].
    pub fn connect(mut self, endpoint: impl Into<String>) -> Self {
        self.connect
            .get_or_insert_with(Vec::new)
            .push(endpoint.into());
        self
    }

    /// `listen=ENDPOINT` (`zenoh://`): a Zenoh endpoint to listen on for
    /// other peers, such as `tcp/0.0.0.0:7447`; call again for more.
    pub fn listen(mut self, endpoint: impl Into<String>) -> Self {
        self.listen
            .get_or_insert_with(Vec::new)
            .push(endpoint.into());
        self
    }

    /// `reliability=reliable|best_effort` (`zenoh://`): what a congested
    /// link does to a message ([`Reliability`]).
    pub fn reliability(mut self, reliability: Reliability) -> Self {
        self.reliability = Some(reliability);
        self
    }

    /// The options set, by query key.
    fn set_options(&self) -> [(&'static str, bool); 19] {
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
            ("owner", self.owner.is_some() || self.trust.is_some()),
            ("group", self.group.is_some()),
            ("peer_uid", self.peer_uid.is_some()),
            ("keepalive_s", self.keepalive.is_some()),
            ("user_timeout_ms", self.user_timeout.is_some()),
            ("mode=peer|client", self.zenoh_mode.is_some()),
            ("connect", self.connect.is_some()),
            ("listen", self.listen.is_some()),
            ("reliability", self.reliability.is_some()),
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
    fn trust_options_apply_where_objects_are_opened() {
        let tcp = ["max", "framing", "timeout_ms"];
        let e = Config::new().owner(5).check(&tcp, "tcp://h:1").unwrap_err();
        assert!(e.to_string().contains("owner"), "{e}");
        let e = Config::new().trust(Trust::new()).check(&tcp, "tcp://h:1");
        assert!(
            e.is_err(),
            "a whole Trust is refused where no object is opened"
        );
        let cfg = Config::new().owner(5).group(6);
        assert!(cfg.check(&["owner", "group"], "fifo:///x").is_ok());
        let trust = cfg.trust_or_default();
        assert_eq!(trust, Trust::new().uid(5).gid(6));
    }

    #[test]
    fn max_and_mode_are_range_checked() {
        assert_eq!(Config::new().max_or(7, "x").unwrap(), 7);
        assert!(Config::new().max_message_size(0).max_or(7, "x").is_err());
        assert!(Config::new().mode(0o1777).mode_or_default("x").is_err());
        assert_eq!(Config::new().mode_or_default("x").unwrap(), 0o600);
    }
}
