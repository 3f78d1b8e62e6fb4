//! `pipe:`: anonymous pipes, the `|` of the shell and the parent/child
//! channel of the classic IPC texts. One direction, a byte stream: each
//! message is one frame ([`Framing`](super::Framing)).
//!
//! * [`pair`] makes a new pipe. Across `fork` each process keeps one end
//!   and drops the other; for a child program, hand an end over as its
//!   stdin or stdout (`into_fd` gives an `OwnedFd`, which is
//!   `Into<Stdio>`), and the child opens `pipe:`.
//! * The URL `pipe:` is this process's stdin (as a receiver) or stdout (as
//!   a sender), so `shmlane send pipe: | shmlane recv pipe:` carries
//!   framed messages through a shell pipe; `pipe:?fd=N` uses inherited
//!   descriptor N. The descriptor is duplicated, not taken: the original
//!   stays open (and the peer sees the end when this process closes it
//!   too, at the latest when it exits).
//!
//! ```no_run
//! use std::process::Command;
//! use shmlane::transport::{Config, Sender, pipe};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (mut tx, rx) = pipe::pair(&Config::new())?;
//! // The child reads its stdin with transport::receiver("pipe:").
//! let mut child = Command::new("worker").stdin(rx.into_fd()?).spawn()?;
//! tx.send(b"job 1")?;
//! drop(tx); // end of stream: the child's receiver sees Disconnected
//! child.wait()?;
//! # Ok(())
//! # }
//! ```
//!
//! A send to a pipe whose reader is gone is
//! [`Disconnected`](super::SendError::Disconnected), whatever the
//! process's SIGPIPE action: the write runs with SIGPIPE blocked in its
//! thread and the signal it raises is consumed, so a host that restored
//! the default action (C programs have it) is not killed.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;

use nix::fcntl::OFlag;
use nix::sys::stat::{SFlag, fstat};

use super::config::{Config, DEFAULT_MAX_MESSAGE_SIZE};
use super::framing::FdKind;
use super::path::is_type;
use super::url::Url;
use super::{Adapter, ConnectError, StreamReceiver, StreamSender};

/// The options `pipe:` takes.
const OPTIONS: &[&str] = &["max", "framing", "fd"];

pub(crate) const ADAPTER: Adapter = Adapter {
    sender: |url| {
        let (fd, endpoint) = url_fd(url, libc::STDOUT_FILENO, "stdout")?;
        Ok(Box::new(sender(fd, &url.config, endpoint)?))
    },
    receiver: |url| {
        let (fd, endpoint) = url_fd(url, libc::STDIN_FILENO, "stdin")?;
        Ok(Box::new(receiver(fd, &url.config, endpoint)?))
    },
    pair: Some(|url| {
        url.config.check(&["max", "framing"], &url.endpoint)?;
        let (tx, rx) = pair(&url.config)?;
        Ok((Box::new(tx), Box::new(rx)))
    }),
    connect: None,
    listen: None,
};

/// A new anonymous pipe: the write end and the read end (both close on
/// exec; handing one to a child as stdin/stdout clears that for the
/// child's copy). `config` may set `max` and `framing`.
pub fn pair(config: &Config) -> Result<(StreamSender, StreamReceiver), ConnectError> {
    let endpoint = "pipe:";
    config.check(&["max", "framing"], endpoint)?;
    let max = config.max_or(DEFAULT_MAX_MESSAGE_SIZE, endpoint)?;
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| ConnectError::Io {
        endpoint: endpoint.into(),
        op: "pipe2",
        source: e.into(),
    })?;
    let name: Arc<str> = Arc::from(endpoint);
    let framing = config.framing_or_default();
    Ok((
        StreamSender::new(write, FdKind::Pipe, framing, max, name.clone(), None),
        StreamReceiver::new(read, FdKind::Pipe, framing, max, name, None),
    ))
}

/// A sender writing to `fd` (a pipe's write end, or any stream descriptor
/// this process owns, e.g. one inherited from a parent). `config` may set
/// `max` and `framing`.
pub fn sender_from_fd(fd: OwnedFd, config: &Config) -> Result<StreamSender, ConnectError> {
    let endpoint = format!("pipe:?fd={}", fd.as_raw_fd());
    config.check(&["max", "framing"], &endpoint)?;
    sender(fd, config, endpoint)
}

/// A receiver reading from `fd` (a pipe's read end, or any stream
/// descriptor this process owns). `config` may set `max` and `framing`.
pub fn receiver_from_fd(fd: OwnedFd, config: &Config) -> Result<StreamReceiver, ConnectError> {
    let endpoint = format!("pipe:?fd={}", fd.as_raw_fd());
    config.check(&["max", "framing"], &endpoint)?;
    receiver(fd, config, endpoint)
}

fn sender(fd: OwnedFd, config: &Config, endpoint: String) -> Result<StreamSender, ConnectError> {
    let max = config.max_or(DEFAULT_MAX_MESSAGE_SIZE, &endpoint)?;
    let kind = kind_of(&fd, &endpoint, libc::O_WRONLY)?;
    let framing = config.framing_or_default();
    Ok(StreamSender::new(
        fd,
        kind,
        framing,
        max,
        endpoint.into(),
        None,
    ))
}

fn receiver(
    fd: OwnedFd,
    config: &Config,
    endpoint: String,
) -> Result<StreamReceiver, ConnectError> {
    let max = config.max_or(DEFAULT_MAX_MESSAGE_SIZE, &endpoint)?;
    let kind = kind_of(&fd, &endpoint, libc::O_RDONLY)?;
    let framing = config.framing_or_default();
    Ok(StreamReceiver::new(
        fd,
        kind,
        framing,
        max,
        endpoint.into(),
        None,
    ))
}

/// The descriptor a `pipe:` URL names (`?fd=N`, else `standard`),
/// duplicated, and the channel's name for messages.
fn url_fd(url: &Url, standard: i32, label: &str) -> Result<(OwnedFd, String), ConnectError> {
    url.config.check(OPTIONS, &url.endpoint)?;
    let (raw, endpoint) = match url.config.fd {
        Some(fd) => (fd, format!("pipe:?fd={fd}")),
        None => (standard, format!("pipe: ({label})")),
    };
    // SAFETY: F_DUPFD_CLOEXEC only reads the descriptor number: if `raw` is
    // not open, it fails with EBADF, and it never affects the original.
    let dup = unsafe { libc::fcntl(raw, libc::F_DUPFD_CLOEXEC, 3) };
    if dup < 0 {
        return Err(ConnectError::InvalidConfig {
            reason: format!(
                "descriptor {raw} is not open: {}",
                std::io::Error::last_os_error()
            ),
            endpoint,
        });
    }
    // SAFETY: `dup` is a new descriptor that nothing else owns.
    Ok((unsafe { OwnedFd::from_raw_fd(dup) }, endpoint))
}

/// How to do I/O on `fd`, after checking it is open for `access`
/// (O_RDONLY: readable, O_WRONLY: writable).
fn kind_of(fd: &OwnedFd, endpoint: &str, access: libc::c_int) -> Result<FdKind, ConnectError> {
    // SAFETY: F_GETFL only reads the descriptor's flags.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    let mode = flags & libc::O_ACCMODE;
    if flags >= 0 && mode != libc::O_RDWR && mode != access {
        return Err(ConnectError::InvalidConfig {
            endpoint: endpoint.to_owned(),
            reason: format!(
                "descriptor {} is not open for {}",
                fd.as_raw_fd(),
                if access == libc::O_RDONLY {
                    "reading"
                } else {
                    "writing"
                }
            ),
        });
    }
    let socket = fstat(fd).is_ok_and(|st| is_type(st.st_mode, SFlag::S_IFSOCK));
    Ok(if socket { FdKind::Socket } else { FdKind::Pipe })
}
