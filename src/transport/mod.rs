//! One API over the kernel's IPC mechanisms: discrete byte messages
//! through a [`Sender`] and a [`Receiver`], the mechanism picked by URL at
//! run time.
//!
//! | URL | mechanism | boundaries | module |
//! | --- | --- | --- | --- |
//! | `pipe:` | anonymous pipe (stdin/stdout, `?fd=N`, or [`pipe::pair`]) | framing | [`pipe`] |
//! | `fifo:///PATH` (`fifo://./REL`) | named pipe, `mkfifo`'d mode 0600 if missing | framing | [`fifo`] |
//! | `mq:///NAME` | POSIX message queue, with priorities | native | [`mq`] |
//! | `sysvmq://KEY` | System V message queue, with message types | native | [`sysv_mq`] |
//! | `unix:///PATH` | Unix stream socket | framing | [`unix`] |
//! | `unix+seqpacket:///PATH` | Unix seqpacket socket | native | [`unix`] |
//! | `tcp://HOST:PORT` | TCP, `TCP_NODELAY` | framing | [`tcp`] |
//! | `shm://NAME` | shmlane's byte ring in shared memory, futex wakeups | native | [`shm`] |
//! | `zenoh://KEYEXPR` | Zenoh publication and subscription, to other hosts (feature `zenoh`) | native | `zenoh` |
//!
//! Byte streams keep message boundaries with a [`Framing`]: a 4-byte
//! big-endian length prefix (`?framing=length`, the default) or one message
//! per line (`?framing=lines`, what shell tools read and write). Queues and
//! seqpacket sockets keep boundaries themselves and carry the bytes as they
//! are, so any program using the same kernel object talks to shmlane.
//!
//! Every channel has a maximum message size, fixed when it is opened
//! (`?max=`, [`Config::max_message_size`]) and checked on both sides:
//! a longer message is [`SendError::MessageTooLarge`] at the sender; at the
//! receiver, [`RecvError::MessageTooLarge`] (queues, seqpacket: the message
//! is dropped, the channel goes on) or [`RecvError::Corrupted`] (streams: a
//! length prefix above the maximum closes the connection, and nothing is
//! allocated by it).
//!
//! A receiver gets [`RecvError::Disconnected`] once the sender is gone and
//! every message it sent has been received: at end of stream for pipes,
//! FIFOs and sockets; for queues, which outlive their users, when it reads
//! the end-of-stream marker that a shmlane sender leaves when dropped (see
//! [`mq`] and [`sysv_mq`]). A sender gets [`SendError::Disconnected`] once
//! the receiver is gone, where the kernel tells (pipes, FIFOs, sockets).
//!
//! Opening: [`sender`] and [`receiver`] open one end of a channel by URL
//! (on a socket URL a receiver listens and accepts one connection, a
//! sender connects; `?role=` swaps that); [`connect`] and [`listen`] give a
//! socket's both directions as a [`Connection`]; [`pair`] makes both ends
//! in this process, to hand one to a child (`fork`, or [`pipe`] ends to
//! [`std::process::Command`]).
//!
//! ```no_run
//! use shmlane::transport;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Process A:
//! let mut rx = transport::receiver("fifo:///tmp/demo?framing=lines")?;
//! // Process B (or a shell: `echo "this is a pipe" > /tmp/demo`):
//! let mut tx = transport::sender("fifo:///tmp/demo?framing=lines")?;
//! tx.send(b"this is a pipe")?;
//!
//! let mut msg = Vec::new();
//! rx.recv(&mut msg)?;
//! assert_eq!(msg, b"this is a pipe");
//! # Ok(())
//! # }
//! ```
//!
//! An end acts on the channel when dropped (half-closes a socket
//! direction, leaves a queue's end-of-stream marker, removes a System V
//! queue it created) only in the process that used it, and removes a name
//! it created (a FIFO, a socket path, a POSIX queue) only in the process
//! that created it: a copy inherited across `fork` and dropped unused only
//! closes its descriptors, so each process may drop the ends it does not
//! use, as with [`spsc::pair`](crate::spsc::pair). Pipes and FIFOs have
//! one more rule of their own: a reader sees the end only once every copy
//! of the write end is closed, so a child must drop the write end it
//! inherited and does not use.

mod bridge;
mod config;
pub mod fifo;
mod framing;
pub mod mq;
mod opening;
mod path;
pub mod pipe;
mod poll;
mod queue_end;
mod serve;
pub mod shm;
mod socket;
pub mod sysv_mq;
pub mod tcp;
pub mod unix;
mod url;
#[cfg(feature = "zenoh")]
pub mod zenoh;

use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

pub use self::bridge::{BridgeEnd, BridgeError, BridgeStats, bridge};
pub use self::config::{
    Config, DEFAULT_CREATE_MODE, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_TCP_CONNECT_TIMEOUT,
    DEFAULT_TCP_KEEPALIVE, DEFAULT_TCP_USER_TIMEOUT, Framing, MAX_MESSAGE_SIZE_LIMIT, Reliability,
    Role, ZenohMode,
};
pub use self::framing::{StreamReceiver, StreamSender};
pub use self::opening::Opening;
pub use self::serve::ServingReceiver;
pub use self::socket::SocketListener;
use self::url::{Scheme, Url};
pub use crate::error::transport::{ConnectError, RecvError, SendError};

/// How long a call may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// Not at all: `Full` / `Empty` at once.
    Now,
    /// Until this instant: then `Timeout`.
    At(Instant),
    /// As long as it takes.
    Never,
}

impl Deadline {
    /// `timeout` from now (`Never` if that instant is not representable).
    pub fn after(timeout: Duration) -> Self {
        Instant::now()
            .checked_add(timeout)
            .map_or(Deadline::Never, Deadline::At)
    }
}

/// The sending end of a channel of discrete byte messages.
///
/// Object safe: a program can hold a `Box<dyn Sender>` for a mechanism
/// chosen at run time.
pub trait Sender: Send {
    /// Sends `msg`, waiting until `deadline` for room. `Full` (deadline
    /// [`Deadline::Now`]) or `Timeout` mean nothing was sent.
    fn send_deadline(&mut self, msg: &[u8], deadline: Deadline) -> Result<(), SendError>;

    /// The channel's maximum message size in bytes.
    fn max_message_size(&self) -> usize;

    /// The channel, as a URL without its options (for messages).
    fn endpoint(&self) -> &str;

    /// A descriptor an event loop (epoll, tokio's `AsyncFd`) can watch:
    /// it becomes writable when a send that found no room may go on.
    /// `None` for mechanisms without one (shared memory, System V
    /// queues). The async ends (`transport::async_sender`) wait on it.
    fn ready_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }

    /// Sends `msg`, waiting as long as it takes for room.
    fn send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.send_deadline(msg, Deadline::Never)
    }

    /// Sends `msg`, waiting at most `timeout` for room.
    fn send_timeout(&mut self, msg: &[u8], timeout: Duration) -> Result<(), SendError> {
        self.send_deadline(msg, Deadline::after(timeout))
    }

    /// Sends `msg` if there is room now, else [`SendError::Full`].
    fn try_send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.send_deadline(msg, Deadline::Now)
    }

    /// Hands the kernel whatever this end still holds of an accepted
    /// message (the rest of a frame that a timed send left
    /// [`Incomplete`](SendError::Incomplete)), waiting until `deadline`
    /// for room. `Ok` once nothing is held; mechanisms that never hold
    /// anything return `Ok` at once.
    fn flush_deadline(&mut self, deadline: Deadline) -> Result<(), SendError> {
        let _ = deadline;
        Ok(())
    }

    /// Flushes, then ends the stream as the receiver sees it (closes a
    /// pipe or FIFO, half-closes a socket, leaves a queue's end-of-stream
    /// marker, detaches from a ring), waiting until `deadline`. `Ok` means
    /// every accepted message and the end reached the channel; an error
    /// says what did not, and leaves the end open (closing again retries;
    /// dropping it tries once more, quietly). Later sends are
    /// [`SendError::Closed`]; closing twice is `Ok`.
    fn close_deadline(&mut self, deadline: Deadline) -> Result<(), SendError>;

    /// [`flush_deadline`](Self::flush_deadline), waiting as long as it
    /// takes.
    fn flush(&mut self) -> Result<(), SendError> {
        self.flush_deadline(Deadline::Never)
    }

    /// [`flush_deadline`](Self::flush_deadline), waiting at most `timeout`.
    fn flush_timeout(&mut self, timeout: Duration) -> Result<(), SendError> {
        self.flush_deadline(Deadline::after(timeout))
    }

    /// [`flush_deadline`](Self::flush_deadline) without waiting.
    fn try_flush(&mut self) -> Result<(), SendError> {
        self.flush_deadline(Deadline::Now)
    }

    /// [`close_deadline`](Self::close_deadline), waiting as long as it
    /// takes.
    fn close(&mut self) -> Result<(), SendError> {
        self.close_deadline(Deadline::Never)
    }

    /// [`close_deadline`](Self::close_deadline), waiting at most `timeout`.
    fn close_timeout(&mut self, timeout: Duration) -> Result<(), SendError> {
        self.close_deadline(Deadline::after(timeout))
    }

    /// [`close_deadline`](Self::close_deadline) without waiting.
    fn try_close(&mut self) -> Result<(), SendError> {
        self.close_deadline(Deadline::Now)
    }
}

/// The receiving end of a channel of discrete byte messages.
///
/// Every call replaces the contents of `buf` with one whole message and
/// returns its length; the `Vec` grows when a message needs it, so a
/// reused buffer makes receiving allocation-free.
pub trait Receiver: Send {
    /// Receives the next message into `buf`, waiting until `deadline`.
    fn recv_deadline(&mut self, buf: &mut Vec<u8>, deadline: Deadline) -> Result<usize, RecvError>;

    /// The channel's maximum message size in bytes.
    fn max_message_size(&self) -> usize;

    /// The channel, as a URL without its options (for messages).
    fn endpoint(&self) -> &str;

    /// A descriptor an event loop (epoll, tokio's `AsyncFd`) can watch:
    /// it becomes readable when a receive that found nothing may go on.
    /// `None` for mechanisms without one (shared memory, System V queues,
    /// a serving receiver's many connections). The async ends
    /// (`transport::async_receiver`) wait on it.
    fn ready_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }

    /// Receives the next message, waiting as long as it takes.
    fn recv(&mut self, buf: &mut Vec<u8>) -> Result<usize, RecvError> {
        self.recv_deadline(buf, Deadline::Never)
    }

    /// Receives the next message, waiting at most `timeout`.
    fn recv_timeout(&mut self, buf: &mut Vec<u8>, timeout: Duration) -> Result<usize, RecvError> {
        self.recv_deadline(buf, Deadline::after(timeout))
    }

    /// Receives a message if one is there now, else [`RecvError::Empty`].
    fn try_recv(&mut self, buf: &mut Vec<u8>) -> Result<usize, RecvError> {
        self.recv_deadline(buf, Deadline::Now)
    }
}

/// Both directions of a connection (a socket), as two ends that can be
/// used and dropped separately: dropping the sender (once used) ends the
/// peer's receiving direction while this receiver goes on.
pub struct Connection {
    /// Messages to the peer.
    pub sender: Box<dyn Sender>,
    /// Messages from the peer.
    pub receiver: Box<dyn Receiver>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("endpoint", &self.sender.endpoint())
            .finish_non_exhaustive()
    }
}

/// Accepts connections on a listening address (`unix://`,
/// `unix+seqpacket://`, `tcp://`).
pub trait Listener: Send {
    /// Accepts the next connection, waiting until `deadline`
    /// ([`ConnectError::Timeout`] after it).
    fn accept_deadline(&mut self, deadline: Deadline) -> Result<Connection, ConnectError>;

    /// The URL that peers connect to (with the port the kernel chose for a
    /// `tcp://HOST:0` listener).
    fn url(&self) -> &str;

    /// Accepts the next connection, waiting as long as it takes.
    fn accept(&mut self) -> Result<Connection, ConnectError> {
        self.accept_deadline(Deadline::Never)
    }

    /// Accepts the next connection, waiting at most `timeout`.
    fn accept_timeout(&mut self, timeout: Duration) -> Result<Connection, ConnectError> {
        self.accept_deadline(Deadline::after(timeout))
    }
}

/// Opens the sending end of the channel `url` names. On a socket URL it
/// connects (or, with `?role=listen`, listens and accepts one connection).
pub fn sender(url: &str) -> Result<Box<dyn Sender>, ConnectError> {
    let url = Url::parse(url)?;
    (adapter(url.scheme).sender)(&url)
}

/// Opens the receiving end of the channel `url` names. On a socket URL it
/// listens and accepts one connection (or, with `?role=connect`, connects).
pub fn receiver(url: &str) -> Result<Box<dyn Receiver>, ConnectError> {
    let url = Url::parse(url)?;
    (adapter(url.scheme).receiver)(&url)
}

/// Opens the sending end of the channel `url` names, as
/// [`sender`] does, for async code: the open waits for the other side
/// without blocking the runtime, and the end's `send().await` waits for
/// room without a thread of its own (see [`crate::aio::transport`]).
#[cfg(all(feature = "tokio", not(shmlane_loom)))]
pub async fn async_sender(url: &str) -> Result<crate::aio::transport::AsyncSender, ConnectError> {
    crate::aio::transport::sender(url).await
}

/// Opens the receiving end of the channel `url` names, as [`receiver`]
/// does, for async code (see [`async_sender`]).
#[cfg(all(feature = "tokio", not(shmlane_loom)))]
pub async fn async_receiver(
    url: &str,
) -> Result<crate::aio::transport::AsyncReceiver, ConnectError> {
    crate::aio::transport::receiver(url).await
}

/// Refuses a URL that has no async end: `zenoh://`, whose engine runs a
/// tokio runtime of its own and panics when asked to block inside a
/// current-thread one (the async ends' polls and drops run there).
#[cfg(all(feature = "tokio", not(shmlane_loom)))]
pub(crate) fn refuse_without_async_end(url: &str) -> Result<(), ConnectError> {
    let url = Url::parse(url)?;
    if url.scheme == Scheme::Zenoh {
        return Err(ConnectError::Unsupported {
            endpoint: url.endpoint,
            reason: "zenoh:// has no async end: open it with transport::sender or \
                     transport::receiver on a thread of its own (or use Zenoh's own async API)"
                .into(),
        });
    }
    Ok(())
}

/// A receiver that serves any number of senders over time at the socket
/// URL `url` (`unix://`, `unix+seqpacket://`, `tcp://`): it listens,
/// accepts every connection, and takes messages from the connected
/// senders in turn (round robin), each sender's messages in order. A
/// sender that leaves is dropped; the receiver never reports
/// `Disconnected`, so stop it with a count, a deadline or a signal.
/// Queues and FIFOs need no such thing: every sender already writes into
/// the one receiver.
pub fn serve(url: &str) -> Result<ServingReceiver, ConnectError> {
    let url = Url::parse(url)?;
    let sides = match url.scheme {
        Scheme::Unix => &unix::STREAM_SIDES,
        Scheme::UnixSeqpacket => &unix::SEQPACKET_SIDES,
        Scheme::Tcp => &tcp::SIDES,
        _ => {
            return Err(ConnectError::Unsupported {
                endpoint: url.endpoint.clone(),
                reason: "only a socket URL (unix://, unix+seqpacket://, tcp://) serves many senders; on a FIFO or queue every sender already reaches the one receiver".into(),
            });
        }
    };
    serve::serve_by(&url, sides)
}

/// Both ends of one channel, made in this process: for `pipe:` a new
/// anonymous pipe; for named mechanisms the receiver, then the sender, of
/// the same name; for sockets a listener, a connection to it, and the
/// accepted side. Hand one end to another process (fork, or a pipe end to
/// a [`Command`](std::process::Command)), keep the other.
pub fn pair(url: &str) -> Result<Ends, ConnectError> {
    let url = Url::parse(url)?;
    let adapter = adapter(url.scheme);
    match adapter.pair {
        Some(pair) => pair(&url),
        None => {
            // The receiver first: a sender may wait for one (a FIFO's does).
            let rx = (adapter.receiver)(&url)?;
            let tx = (adapter.sender)(&url)?;
            Ok((tx, rx))
        }
    }
}

/// Connects to a listener at the socket URL `url`: both directions.
pub fn connect(url: &str) -> Result<Connection, ConnectError> {
    let url = Url::parse(url)?;
    match adapter(url.scheme).connect {
        Some(connect) => connect(&url),
        None => Err(one_way(&url, "connect")),
    }
}

/// Listens at the socket URL `url`.
pub fn listen(url: &str) -> Result<Box<dyn Listener>, ConnectError> {
    let url = Url::parse(url)?;
    match adapter(url.scheme).listen {
        Some(listen) => listen(&url),
        None => Err(one_way(&url, "listen")),
    }
}

fn one_way(url: &Url, what: &str) -> ConnectError {
    ConnectError::Unsupported {
        endpoint: url.endpoint.clone(),
        reason: format!(
            "a one-way channel cannot {what}: open its ends with transport::sender and transport::receiver"
        ),
    }
}

/// Both ends of one channel, as [`pair`] makes them.
pub type Ends = (Box<dyn Sender>, Box<dyn Receiver>);

/// What a mechanism can open from a URL.
pub(crate) struct Adapter {
    pub(crate) sender: fn(&Url) -> Result<Box<dyn Sender>, ConnectError>,
    pub(crate) receiver: fn(&Url) -> Result<Box<dyn Receiver>, ConnectError>,
    /// Both ends in this process; `None`: the receiver, then the sender,
    /// of the same name.
    pub(crate) pair: Option<PairFn>,
    /// Connection-oriented mechanisms only.
    pub(crate) connect: Option<ConnectFn>,
    pub(crate) listen: Option<ListenFn>,
}

/// [`Adapter::pair`].
pub(crate) type PairFn = fn(&Url) -> Result<Ends, ConnectError>;
/// [`Adapter::connect`].
pub(crate) type ConnectFn = fn(&Url) -> Result<Connection, ConnectError>;
/// [`Adapter::listen`].
pub(crate) type ListenFn = fn(&Url) -> Result<Box<dyn Listener>, ConnectError>;

/// The one dispatch from a URL's scheme to its adapter. A new mechanism
/// adds its scheme to `url::SCHEMES` and its arm here.
fn adapter(scheme: Scheme) -> &'static Adapter {
    match scheme {
        Scheme::Pipe => &pipe::ADAPTER,
        Scheme::Fifo => &fifo::ADAPTER,
        Scheme::Mq => &mq::ADAPTER,
        Scheme::SysvMq => &sysv_mq::ADAPTER,
        Scheme::Unix => &unix::STREAM_ADAPTER,
        Scheme::UnixSeqpacket => &unix::SEQPACKET_ADAPTER,
        Scheme::Tcp => &tcp::ADAPTER,
        Scheme::Shm => &shm::ADAPTER,
        #[cfg(feature = "zenoh")]
        Scheme::Zenoh => &zenoh::ADAPTER,
        #[cfg(not(feature = "zenoh"))]
        Scheme::Zenoh => &WITHOUT_ZENOH,
    }
}

/// `zenoh://` in a build without the cargo feature `zenoh`: says so.
#[cfg(not(feature = "zenoh"))]
const WITHOUT_ZENOH: Adapter = Adapter {
    sender: |url| Err(without_zenoh(url)),
    receiver: |url| Err(without_zenoh(url)),
    pair: None,
    connect: None,
    listen: None,
};

#[cfg(not(feature = "zenoh"))]
fn without_zenoh(url: &Url) -> ConnectError {
    ConnectError::Unsupported {
        endpoint: url.endpoint.clone(),
        reason: "zenoh:// needs shmlane built with its cargo feature `zenoh`".into(),
    }
}
