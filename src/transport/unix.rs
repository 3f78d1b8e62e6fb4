//! `unix:///PATH` and `unix+seqpacket:///PATH`: Unix domain sockets, the
//! local socket of nginx → php-fpm and `mysql --socket=/tmp/mysql.sock`.
//! Data moves between processes inside the kernel, never through the
//! TCP/IP stack, and the socket file's permissions say who may connect.
//!
//! * `unix://` is a stream socket: each message is one frame
//!   ([`Framing`](super::Framing)), so any program speaking the framing
//!   (length prefix, or lines) is a peer.
//! * `unix+seqpacket://` keeps message boundaries in the kernel: each
//!   `send` is one record, delivered whole, no prefix. Records are limited
//!   by the socket's send buffer (about 208 KiB by default).
//!
//! [`listen`] owns the address with an exclusive `flock` on `PATH.lock`
//! (a second listener is [`AddrInUse`](ConnectError::AddrInUse) at once,
//! and the first one's backlog is left alone), binds the path (removing a
//! stale socket file nobody listens on; a path that is another kind of
//! file is [`WrongFileType`](ConnectError::WrongFileType)) and removes the
//! path and the lock file when the listener drops. The directory must let
//! this user create `PATH.lock`. Paths are at most [`MAX_PATH_LEN`] bytes.
//!
//! Who may talk to whom: the socket file gets mode 0600 (or `?mode=`),
//! set before `listen`, so only this user can connect by default. A
//! listener given `?peer_uid=UID` also checks each accepted connection's
//! peer (`SO_PEERCRED`) and closes one of another uid
//! ([`PeerRefused`](ConnectError::PeerRefused)). A connecting end checks,
//! before it sends anything, that the path is a socket (a symbolic link is
//! refused) owned by this user or root and that the listener's process
//! runs as one (`SO_PEERCRED`), unless `?owner=UID` / `?group=GID` allow
//! another ([`Untrusted`](ConnectError::Untrusted)).

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, UnixAddr, getsockopt, setsockopt, sockopt,
};
use nix::sys::stat::{SFlag, lstat};

use super::config::{Config, DEFAULT_MAX_MESSAGE_SIZE};
use super::path::{AddressLock, PathGuard, file_type_name, fs_error, is_type};
use super::poll::{READABLE, WRITABLE, wait_fd};
use super::socket::{
    Sides, SocketListener, connect_with_retry, pair_by_connection, receiver_by_role,
    sender_by_role, socket_error, stream_connection,
};
use super::{Adapter, ConnectError, Connection, Deadline, Receiver, RecvError, SendError, Sender};
use crate::sync::current_pid;
use crate::trust::Found;

/// The longest socket path: `sockaddr_un` holds 108 bytes with the NUL.
pub const MAX_PATH_LEN: usize = 107;

/// The options `unix://` takes.
const STREAM_OPTIONS: &[&str] = &[
    "max",
    "framing",
    "timeout_ms",
    "mode",
    "owner",
    "group",
    "peer_uid",
];
/// The options `unix+seqpacket://` takes.
const SEQPACKET_OPTIONS: &[&str] = &["max", "timeout_ms", "mode", "owner", "group", "peer_uid"];

pub(crate) const STREAM_SIDES: Sides = Sides {
    connect: |url| connect(&url.name, &url.config),
    listen: |url| listen(&url.name, &url.config),
};

pub(crate) const SEQPACKET_SIDES: Sides = Sides {
    connect: |url| connect_seqpacket(&url.name, &url.config),
    listen: |url| listen_seqpacket(&url.name, &url.config),
};

pub(crate) const STREAM_ADAPTER: Adapter = Adapter {
    sender: |url| sender_by_role(url, &STREAM_SIDES),
    receiver: |url| receiver_by_role(url, &STREAM_SIDES),
    pair: Some(|url| pair_by_connection(url, &STREAM_SIDES)),
    connect: Some(STREAM_SIDES.connect),
    listen: Some(|url| Ok(Box::new((STREAM_SIDES.listen)(url)?))),
};

pub(crate) const SEQPACKET_ADAPTER: Adapter = Adapter {
    sender: |url| sender_by_role(url, &SEQPACKET_SIDES),
    receiver: |url| receiver_by_role(url, &SEQPACKET_SIDES),
    pair: Some(|url| pair_by_connection(url, &SEQPACKET_SIDES)),
    connect: Some(SEQPACKET_SIDES.connect),
    listen: Some(|url| Ok(Box::new((SEQPACKET_SIDES.listen)(url)?))),
};

/// The two kinds of Unix socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Stream,
    Seqpacket,
}

impl Kind {
    fn scheme(self) -> &'static str {
        match self {
            Kind::Stream => "unix",
            Kind::Seqpacket => "unix+seqpacket",
        }
    }

    fn options(self) -> &'static [&'static str] {
        match self {
            Kind::Stream => STREAM_OPTIONS,
            Kind::Seqpacket => SEQPACKET_OPTIONS,
        }
    }

    fn endpoint(self, path: &Path) -> String {
        format!("{}://{}", self.scheme(), path.display())
    }

    /// A new socket of this kind; seqpacket sockets pass credentials,
    /// which is how a receiver tells an empty message from the end.
    fn socket(self) -> io::Result<OwnedFd> {
        let ty = match self {
            Kind::Stream => SockType::Stream,
            Kind::Seqpacket => SockType::SeqPacket,
        };
        let fd = nix::sys::socket::socket(AddressFamily::Unix, ty, SockFlag::SOCK_CLOEXEC, None)?;
        if self == Kind::Seqpacket {
            setsockopt(&fd, sockopt::PassCred, &true)?;
        }
        Ok(fd)
    }

    /// Both ends of a connected socket of this kind.
    fn connection(
        self,
        fd: OwnedFd,
        config: &Config,
        endpoint: &str,
    ) -> Result<Connection, ConnectError> {
        let max = config.max_or(DEFAULT_MAX_MESSAGE_SIZE, endpoint)?;
        match self {
            Kind::Stream => stream_connection(fd, config.framing_or_default(), max, endpoint),
            Kind::Seqpacket => seqpacket_connection(fd, max, endpoint),
        }
    }
}

/// Listens on a Unix stream socket at `path`.
pub fn listen(path: impl AsRef<Path>, config: &Config) -> Result<SocketListener, ConnectError> {
    listen_kind(path.as_ref(), config, Kind::Stream)
}

/// Connects to a Unix stream socket at `path`.
pub fn connect(path: impl AsRef<Path>, config: &Config) -> Result<Connection, ConnectError> {
    connect_kind(path.as_ref(), config, Kind::Stream)
}

/// Listens on a Unix seqpacket socket at `path`.
pub fn listen_seqpacket(
    path: impl AsRef<Path>,
    config: &Config,
) -> Result<SocketListener, ConnectError> {
    listen_kind(path.as_ref(), config, Kind::Seqpacket)
}

/// Connects to a Unix seqpacket socket at `path`.
pub fn connect_seqpacket(
    path: impl AsRef<Path>,
    config: &Config,
) -> Result<Connection, ConnectError> {
    connect_kind(path.as_ref(), config, Kind::Seqpacket)
}

/// Checks the options and the path, and makes the socket address.
fn prepare(path: &Path, config: &Config, kind: Kind) -> Result<(String, UnixAddr), ConnectError> {
    let endpoint = kind.endpoint(path);
    config.check(kind.options(), &endpoint)?;
    config.max_or(DEFAULT_MAX_MESSAGE_SIZE, &endpoint)?;
    let len = path.as_os_str().len();
    if len > MAX_PATH_LEN {
        return Err(ConnectError::PathTooLong {
            endpoint,
            len,
            max: MAX_PATH_LEN,
        });
    }
    let addr = UnixAddr::new(path).map_err(|e| ConnectError::InvalidName {
        endpoint: endpoint.clone(),
        reason: format!("not a valid socket path: {}", e.desc()),
    })?;
    Ok((endpoint, addr))
}

fn listen_kind(path: &Path, config: &Config, kind: Kind) -> Result<SocketListener, ConnectError> {
    let (endpoint, addr) = prepare(path, config, kind)?;
    // Own the address first: a live shmlane listener holds the lock, so
    // it is refused here and never probed.
    let socket_mode = config.mode_or_default(&endpoint)?;
    let lock = AddressLock::take(path, 0o600, &endpoint)?;
    remove_stale(path, &addr, kind, &endpoint)?;
    let fd = kind
        .socket()
        .map_err(|e| socket_error(&endpoint, "socket", e))?;
    nix::sys::socket::bind(fd.as_raw_fd(), &addr)
        .map_err(|e| socket_error(&endpoint, "bind", e.into()))?;
    let guard = PathGuard::new(path);
    // The socket file's mode says who may connect; set before listen, so
    // nobody connects while the umask's mode holds.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(socket_mode))
        .map_err(|e| fs_error(&endpoint, "chmod", e))?;
    nix::sys::socket::listen(&fd, Backlog::MAXCONN)
        .map_err(|e| socket_error(&endpoint, "listen", e.into()))?;
    let wrap = match kind {
        Kind::Stream => {
            (|fd, config: &Config, endpoint: &str| Kind::Stream.connection(fd, config, endpoint))
                as super::socket::Wrap
        }
        Kind::Seqpacket => {
            |fd, config: &Config, endpoint: &str| Kind::Seqpacket.connection(fd, config, endpoint)
        }
    };
    Ok(SocketListener::new(
        fd,
        endpoint,
        config.clone(),
        wrap,
        guard,
        Some(lock),
    ))
}

/// A socket file at `path` that nobody listens on is left over from a
/// listener that died: remove it. One somebody listens on is in use.
/// Called with the address lock held, so no shmlane listener is live
/// here: the probe connection can only reach another program's listener
/// (or a shmlane one that predates the lock file).
fn remove_stale(
    path: &Path,
    addr: &UnixAddr,
    kind: Kind,
    endpoint: &str,
) -> Result<(), ConnectError> {
    match lstat(path) {
        Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(fs_error(endpoint, "lstat", e.into())),
        Ok(st) if !is_type(st.st_mode, SFlag::S_IFSOCK) => Err(ConnectError::WrongFileType {
            endpoint: endpoint.to_owned(),
            expected: "socket",
            found: file_type_name(st.st_mode),
        }),
        Ok(_) => {
            let probe = kind
                .socket()
                .map_err(|e| socket_error(endpoint, "socket", e))?;
            match nix::sys::socket::connect(probe.as_raw_fd(), addr) {
                Err(Errno::ECONNREFUSED) => {
                    std::fs::remove_file(path).map_err(|e| fs_error(endpoint, "unlink", e))
                }
                // Listening (perhaps as the other kind of socket).
                Ok(()) | Err(Errno::EPROTOTYPE | Errno::EAGAIN) => Err(ConnectError::AddrInUse {
                    endpoint: endpoint.to_owned(),
                    source: Errno::EADDRINUSE.into(),
                }),
                Err(e) => Err(socket_error(endpoint, "connect", e.into())),
            }
        }
    }
}

fn connect_kind(path: &Path, config: &Config, kind: Kind) -> Result<Connection, ConnectError> {
    let (endpoint, addr) = prepare(path, config, kind)?;
    let mut refusal = None;
    let attempt = connect_with_retry(config, &endpoint, |_| {
        // A missing path is retried like a refused connection: the
        // listener may not have bound it yet.
        if let Err(e) = check_socket_file(path, config, &endpoint) {
            return Err(match e {
                FileCheck::Missing(io) => io,
                FileCheck::Refused(err) => {
                    refusal = Some(err);
                    io::Error::from_raw_os_error(libc::EPERM)
                }
            });
        }
        let fd = kind.socket()?;
        nix::sys::socket::connect(fd.as_raw_fd(), &addr)?;
        Ok(fd)
    });
    if let Some(err) = refusal {
        return Err(err);
    }
    let fd = attempt?;
    check_listener(&fd, config, &endpoint)?;
    kind.connection(fd, config, &endpoint)
}

/// Why the path may not be connected to.
enum FileCheck {
    /// Not there (yet): worth another attempt.
    Missing(io::Error),
    /// There, and refused: the answer.
    Refused(ConnectError),
}

/// Before connecting: the path is a socket (not a symbolic link) that a
/// trusted user owns. Checked before `connect`, not after: a listener
/// that takes a single connection removes its path once it has accepted,
/// which may be before this side looks again. The socket file's mode is
/// not judged: it says who may connect to that listener, which is the
/// listener's business (`?peer_uid=`).
fn check_socket_file(path: &Path, config: &Config, endpoint: &str) -> Result<(), FileCheck> {
    let st = match lstat(path) {
        Ok(st) => st,
        Err(e @ (Errno::ENOENT | Errno::ENOTDIR)) => return Err(FileCheck::Missing(e.into())),
        Err(e) => return Err(FileCheck::Refused(fs_error(endpoint, "lstat", e.into()))),
    };
    if !is_type(st.st_mode, SFlag::S_IFSOCK) {
        return Err(FileCheck::Refused(ConnectError::WrongFileType {
            endpoint: endpoint.to_owned(),
            expected: "socket",
            found: file_type_name(st.st_mode),
        }));
    }
    config
        .trust_or_default()
        .check(Found::file(st.st_uid, st.st_gid, st.st_mode), false)
        .map_err(|d| FileCheck::Refused(d.into_connect_error(endpoint)))
}

/// After connecting, before anything is sent: the process listening, as
/// the kernel recorded at its `listen` (`SO_PEERCRED`, which no change of
/// the path between the file check and `connect` can fake), is a trusted
/// user's.
fn check_listener(fd: &OwnedFd, config: &Config, endpoint: &str) -> Result<(), ConnectError> {
    let cred = getsockopt(fd, sockopt::PeerCredentials)
        .map_err(|e| socket_error(endpoint, "getsockopt(SO_PEERCRED)", e.into()))?;
    config
        .trust_or_default()
        .check(Found::file(cred.uid(), cred.gid(), 0), false)
        .map_err(|mut d| {
            d.problem = format!(
                "its listener (pid {}) runs as uid {}",
                cred.pid(),
                cred.uid()
            );
            d.into_connect_error(endpoint)
        })
}

/// A listener's check of an accepted connection (`?peer_uid=`): the
/// peer's uid, as the kernel recorded at its `connect`.
pub(crate) fn check_peer(fd: &OwnedFd, expected: u32, endpoint: &str) -> Result<(), ConnectError> {
    let cred = getsockopt(fd, sockopt::PeerCredentials)
        .map_err(|e| socket_error(endpoint, "getsockopt(SO_PEERCRED)", e.into()))?;
    if cred.uid() == expected {
        return Ok(());
    }
    Err(ConnectError::PeerRefused {
        endpoint: endpoint.to_owned(),
        expected_uid: expected,
        found_uid: cred.uid(),
        pid: cred.pid(),
    })
}

/// Bytes a seqpacket record costs beyond its payload in the send buffer
/// (the kernel refuses records above `SO_SNDBUF` less this).
const RECORD_OVERHEAD: usize = 32;

/// A connected seqpacket socket as two ends. Raises the send buffer so that
/// a record of `max` bytes fits, or refuses a `max` the kernel cannot take.
fn seqpacket_connection(
    fd: OwnedFd,
    max: usize,
    endpoint: &str,
) -> Result<Connection, ConnectError> {
    let sndbuf = |fd: &OwnedFd| getsockopt(fd, sockopt::SndBuf).unwrap_or(0);
    if sndbuf(&fd) < max + RECORD_OVERHEAD {
        // The kernel doubles the value asked for, up to net.core.wmem_max.
        let _ = setsockopt(&fd, sockopt::SndBuf, &(max + RECORD_OVERHEAD));
        let limit = sndbuf(&fd).saturating_sub(RECORD_OVERHEAD);
        if limit < max {
            return Err(ConnectError::InvalidConfig {
                endpoint: endpoint.to_owned(),
                reason: format!(
                    "maximum message size {max} is above the largest record this socket carries ({limit} bytes; raise net.core.wmem_max)"
                ),
            });
        }
    }
    let second = fd
        .try_clone()
        .map_err(|e| socket_error(endpoint, "dup", e))?;
    let name: Arc<str> = Arc::from(endpoint);
    Ok(Connection {
        sender: Box::new(SeqpacketSender {
            fd,
            max,
            endpoint: name.clone(),
            gone: false,
            used_by: 0,
            closed: false,
        }),
        receiver: Box::new(SeqpacketReceiver {
            fd: second,
            max,
            endpoint: name,
            ended: false,
            used_by: 0,
        }),
    })
}

/// The sending end of a `unix+seqpacket://` connection: one record per
/// message.
#[derive(Debug)]
pub struct SeqpacketSender {
    fd: OwnedFd,
    max: usize,
    endpoint: Arc<str>,
    gone: bool,
    used_by: u32,
    /// `close` half-closed the socket.
    closed: bool,
}

/// The receiving end of a `unix+seqpacket://` connection.
#[derive(Debug)]
pub struct SeqpacketReceiver {
    fd: OwnedFd,
    max: usize,
    endpoint: Arc<str>,
    ended: bool,
    used_by: u32,
}

impl Sender for SeqpacketSender {
    fn send_deadline(&mut self, msg: &[u8], deadline: Deadline) -> Result<(), SendError> {
        SendError::check_len(msg.len(), self.max, &self.endpoint)?;
        if self.closed {
            return Err(SendError::Closed {
                endpoint: self.endpoint.clone(),
            });
        }
        if self.gone {
            return Err(SendError::Disconnected {
                endpoint: self.endpoint.clone(),
            });
        }
        self.used_by = current_pid();
        let flags = libc::MSG_NOSIGNAL
            | if deadline == Deadline::Never {
                0
            } else {
                libc::MSG_DONTWAIT
            };
        loop {
            // SAFETY: `msg` is a live slice of `msg.len()` readable bytes.
            let sent =
                unsafe { libc::send(self.fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), flags) };
            if sent >= 0 {
                return Ok(());
            }
            let error = io::Error::last_os_error();
            match error.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::EAGAIN) if deadline == Deadline::Now => return Err(SendError::Full),
                Some(libc::EAGAIN) => match wait_fd(self.fd.as_fd(), WRITABLE, deadline) {
                    Ok(Some(_)) => {}
                    Ok(None) => return Err(SendError::Timeout),
                    Err(source) => return Err(self.io("poll", source)),
                },
                Some(libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN) => {
                    self.gone = true;
                    return Err(SendError::Disconnected {
                        endpoint: self.endpoint.clone(),
                    });
                }
                _ => return Err(self.io("send", error)),
            }
        }
    }

    /// Half-closes the socket: the peer's receiver sees the end after
    /// the records sent (each went whole or not at all).
    fn close_deadline(&mut self, _deadline: Deadline) -> Result<(), SendError> {
        if !self.closed {
            // SAFETY: shutdown only changes the socket's state.
            unsafe { libc::shutdown(self.fd.as_raw_fd(), libc::SHUT_WR) };
            self.closed = true;
        }
        Ok(())
    }

    fn max_message_size(&self) -> usize {
        self.max
    }

    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn ready_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        Some(self.fd.as_fd())
    }
}

impl SeqpacketSender {
    fn io(&self, op: &'static str, source: io::Error) -> SendError {
        SendError::Io {
            endpoint: self.endpoint.clone(),
            op,
            source,
        }
    }
}

impl Drop for SeqpacketSender {
    fn drop(&mut self) {
        if self.used_by == current_pid() {
            // SAFETY: shutdown only changes the socket's state.
            unsafe { libc::shutdown(self.fd.as_raw_fd(), libc::SHUT_WR) };
        }
    }
}

/// Room for the credentials message every record carries (SO_PASSCRED):
/// `CMSG_SPACE(sizeof(struct ucred))`, in u64s for alignment. Exactly
/// that: descriptors a hostile peer attaches find no room and the kernel
/// discards them rather than installing them here.
const CONTROL_WORDS: usize = 4;

impl Receiver for SeqpacketReceiver {
    fn recv_deadline(&mut self, out: &mut Vec<u8>, deadline: Deadline) -> Result<usize, RecvError> {
        if self.ended {
            return Err(self.disconnected());
        }
        self.used_by = current_pid();
        out.clear();
        out.reserve(self.max);
        let flags = libc::MSG_TRUNC
            | libc::MSG_CMSG_CLOEXEC
            | if deadline == Deadline::Never {
                0
            } else {
                libc::MSG_DONTWAIT
            };
        loop {
            let mut control = [0u64; CONTROL_WORDS];
            let mut iov = libc::iovec {
                iov_base: out.as_mut_ptr().cast(),
                iov_len: self.max,
            };
            // SAFETY: an all-zero msghdr is valid (no name, no data); the
            // buffers are set below.
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = size_of_val(&control);
            // SAFETY: `iov` describes `self.max` bytes of `out`'s spare
            // capacity (reserved above) and `msg_control` the `control`
            // array; all outlive the call, and the kernel writes only
            // within them.
            let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, flags) };
            if let Ok(len) = usize::try_from(n) {
                // No credentials: no record arrived, the stream ended.
                if len == 0 && msg.msg_controllen == 0 {
                    self.ended = true;
                    return Err(self.disconnected());
                }
                if len > self.max {
                    return Err(RecvError::MessageTooLarge {
                        len,
                        max: self.max,
                        endpoint: self.endpoint.clone(),
                    });
                }
                // SAFETY: the kernel wrote `len` (<= max <= capacity)
                // bytes at the start of `out`'s buffer.
                unsafe { out.set_len(len) };
                return Ok(len);
            }
            let error = io::Error::last_os_error();
            match error.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::EAGAIN) if deadline == Deadline::Now => return Err(RecvError::Empty),
                Some(libc::EAGAIN) => match wait_fd(self.fd.as_fd(), READABLE, deadline) {
                    Ok(Some(_)) => {}
                    Ok(None) => return Err(RecvError::Timeout),
                    Err(source) => {
                        return Err(RecvError::Io {
                            endpoint: self.endpoint.clone(),
                            op: "poll",
                            source,
                        });
                    }
                },
                Some(libc::ECONNRESET) => {
                    return Err(RecvError::Reset {
                        endpoint: self.endpoint.clone(),
                    });
                }
                _ => {
                    return Err(RecvError::Io {
                        endpoint: self.endpoint.clone(),
                        op: "recvmsg",
                        source: error,
                    });
                }
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
        Some(self.fd.as_fd())
    }
}

impl SeqpacketReceiver {
    fn disconnected(&self) -> RecvError {
        RecvError::Disconnected {
            endpoint: self.endpoint.clone(),
        }
    }
}

impl Drop for SeqpacketReceiver {
    fn drop(&mut self) {
        if self.used_by == current_pid() {
            // SAFETY: shutdown only changes the socket's state.
            unsafe { libc::shutdown(self.fd.as_raw_fd(), libc::SHUT_RD) };
        }
    }
}
