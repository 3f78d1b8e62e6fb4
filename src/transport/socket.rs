//! What the socket mechanisms (`unix://`, `unix+seqpacket://`, `tcp://`)
//! share: the listener, connecting with retries until a deadline, the
//! split of a connection into two ends, opening one end by role, and the
//! mapping of socket errors.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Instant;

use super::config::{Config, Framing, Role};
use super::framing::FdKind;
use super::path::{AddressLock, PathGuard};
use super::poll::{Backoff, READABLE, wait_fd};
use super::url::Url;
use super::{
    ConnectError, Connection, Deadline, Ends, Listener, Receiver, Sender, StreamReceiver,
    StreamSender,
};

/// Turns a connected socket into a [`Connection`].
pub(crate) type Wrap = fn(OwnedFd, &Config, &str) -> Result<Connection, ConnectError>;

/// A listening socket. Dropping it stops listening and removes the socket
/// path of a Unix listener.
pub struct SocketListener {
    fd: OwnedFd,
    url: String,
    config: Config,
    wrap: Wrap,
    /// Removes the socket path; dropped before the lock.
    _guard: Option<PathGuard>,
    /// The right to the address (Unix sockets).
    _lock: Option<AddressLock>,
}

impl std::fmt::Debug for SocketListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketListener")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl SocketListener {
    pub(crate) fn new(
        fd: OwnedFd,
        url: String,
        config: Config,
        wrap: Wrap,
        guard: Option<PathGuard>,
        lock: Option<AddressLock>,
    ) -> Self {
        Self {
            fd,
            url,
            config,
            wrap,
            _guard: guard,
            _lock: lock,
        }
    }
}

impl SocketListener {
    /// The listening socket, for waiting on it with others.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Turns an accepted socket into a connection, as `accept` does.
    pub(crate) fn wrap(&self, fd: OwnedFd) -> Result<Connection, ConnectError> {
        (self.wrap)(fd, &self.config, &self.url)
    }

    /// Accepts the next connected socket, waiting until `deadline`.
    pub(crate) fn accept_fd(&mut self, deadline: Deadline) -> Result<OwnedFd, ConnectError> {
        let start = Instant::now();
        loop {
            if deadline != Deadline::Never {
                let ready = wait_fd(self.fd.as_fd(), READABLE, deadline)
                    .map_err(|e| socket_error(&self.url, "poll", e))?;
                if ready.is_none() {
                    return Err(ConnectError::Timeout {
                        endpoint: self.url.clone(),
                        what: "waiting for a connection",
                        waited_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
                    });
                }
            }
            // SAFETY: accept4 with null address pointers writes no memory;
            // it returns a new descriptor or -1.
            let fd = unsafe {
                libc::accept4(
                    self.fd.as_raw_fd(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    libc::SOCK_CLOEXEC,
                )
            };
            if fd >= 0 {
                // SAFETY: `fd` is a new descriptor nothing else owns.
                let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                // `?peer_uid=` (Unix sockets): a stranger's connection is
                // closed (dropping `fd`) before a byte is read from it.
                if let Some(uid) = self.config.peer_uid {
                    super::unix::check_peer(&fd, uid, &self.url)?;
                }
                return Ok(fd);
            }
            let error = io::Error::last_os_error();
            match error.raw_os_error() {
                // A connection that went away before it was accepted, or a
                // signal: wait for the next.
                Some(libc::EINTR | libc::ECONNABORTED | libc::EAGAIN) => {}
                _ => return Err(socket_error(&self.url, "accept", error)),
            }
        }
    }
}

impl Listener for SocketListener {
    fn accept_deadline(&mut self, deadline: Deadline) -> Result<Connection, ConnectError> {
        let fd = self.accept_fd(deadline)?;
        self.wrap(fd)
    }

    fn url(&self) -> &str {
        &self.url
    }
}

/// A failed socket call as the typed error a user can act on.
pub(crate) fn socket_error(endpoint: &str, op: &'static str, source: io::Error) -> ConnectError {
    let endpoint = endpoint.to_owned();
    match source.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR) => ConnectError::NotFound { endpoint, source },
        Some(libc::ECONNREFUSED) => ConnectError::Refused { endpoint, source },
        Some(libc::EADDRINUSE) => ConnectError::AddrInUse { endpoint, source },
        Some(libc::EACCES | libc::EPERM | libc::EROFS) => ConnectError::Permission {
            endpoint,
            op,
            source,
        },
        Some(
            libc::EHOSTUNREACH
            | libc::ENETUNREACH
            | libc::ETIMEDOUT
            | libc::EHOSTDOWN
            | libc::ENETDOWN
            | libc::EADDRNOTAVAIL,
        ) => ConnectError::Unreachable { endpoint, source },
        _ => ConnectError::Io {
            endpoint,
            op,
            source,
        },
    }
}

/// Connects with `attempt`, retrying while nobody listens yet (refused, no
/// such path, backlog full) until `config`'s open timeout; without one,
/// the first failure is the answer.
pub(crate) fn connect_with_retry(
    config: &Config,
    endpoint: &str,
    mut attempt: impl FnMut(Deadline) -> io::Result<OwnedFd>,
) -> Result<OwnedFd, ConnectError> {
    let deadline = config.open_timeout.map_or(Deadline::Now, Deadline::after);
    let mut backoff = Backoff::new();
    loop {
        match attempt(deadline) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ECONNREFUSED | libc::ENOENT | libc::EAGAIN)
                ) && backoff.sleep(deadline) => {}
            Err(e) => return Err(socket_error(endpoint, "connect", e)),
        }
    }
}

/// A connected stream socket as two framed ends, each on its own
/// descriptor (a duplicate), so that either can be dropped alone.
pub(crate) fn stream_connection(
    fd: OwnedFd,
    framing: Framing,
    max: usize,
    endpoint: &str,
) -> Result<Connection, ConnectError> {
    let second = fd
        .try_clone()
        .map_err(|e| socket_error(endpoint, "dup", e))?;
    let name: Arc<str> = Arc::from(endpoint);
    Ok(Connection {
        sender: Box::new(StreamSender::new(
            fd,
            FdKind::Socket,
            framing,
            max,
            name.clone(),
            None,
        )),
        receiver: Box::new(StreamReceiver::new(
            second,
            FdKind::Socket,
            framing,
            max,
            name,
            None,
        )),
    })
}

/// How a socket mechanism makes the two sides of a connection.
pub(crate) struct Sides {
    pub(crate) connect: fn(&Url) -> Result<Connection, ConnectError>,
    pub(crate) listen: fn(&Url) -> Result<SocketListener, ConnectError>,
}

/// The accept deadline of a listening single end: the open timeout, or
/// none.
fn accept_deadline(config: &Config) -> Deadline {
    config.open_timeout.map_or(Deadline::Never, Deadline::after)
}

/// The connection a single end opens: connecting, or listening and
/// accepting one, as `?role=` says (`default` otherwise).
fn by_role(url: &Url, sides: &Sides, default: Role) -> Result<Connection, ConnectError> {
    let mut url = url.clone();
    let role = url.config.role.take().unwrap_or(default);
    match role {
        Role::Connect => (sides.connect)(&url),
        Role::Listen => {
            let mut listener = (sides.listen)(&url)?;
            listener.accept_deadline(accept_deadline(&url.config))
        }
    }
}

/// A single sender: connects by default.
pub(crate) fn sender_by_role(url: &Url, sides: &Sides) -> Result<Box<dyn Sender>, ConnectError> {
    Ok(by_role(url, sides, Role::Connect)?.sender)
}

/// A single receiver: listens and accepts one connection by default.
pub(crate) fn receiver_by_role(
    url: &Url,
    sides: &Sides,
) -> Result<Box<dyn Receiver>, ConnectError> {
    Ok(by_role(url, sides, Role::Listen)?.receiver)
}

/// Both ends in this process: listen, connect, accept; the connecting
/// side sends, the accepted side receives.
pub(crate) fn pair_by_connection(url: &Url, sides: &Sides) -> Result<Ends, ConnectError> {
    if url.config.role.is_some() {
        return Err(ConnectError::InvalidConfig {
            endpoint: url.endpoint.clone(),
            reason: "option `role` does not apply to a pair (it makes both sides)".into(),
        });
    }
    let mut listener = (sides.listen)(url)?;
    let mut at_listener = url.clone();
    at_listener.name = listener
        .url()
        .split_once("://")
        .map_or(String::new(), |(_, name)| name.to_owned());
    let client = (sides.connect)(&at_listener)?;
    let server = listener.accept_deadline(accept_deadline(&url.config))?;
    Ok((client.sender, server.receiver))
}
