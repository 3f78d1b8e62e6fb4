//! `fifo:///PATH` (or `fifo://./RELATIVE`): a named pipe, the `mkfifo test;
//! echo ... > test; cat < test` of the classic texts. A pipe with a name in
//! the filesystem, so unrelated processes find it; one direction, a byte
//! stream, each message one frame ([`Framing`]).
//!
//! * Either end creates the FIFO (mode 0600, or `?mode=`) if the path does
//!   not exist, and removes it when dropped (in the process that created
//!   it) unless `?persist=true`; a FIFO made by someone else is left alone. A path that exists but is not a
//!   FIFO (a symbolic link included, dangling or not: the path is never
//!   followed) is [`WrongFileType`](ConnectError::WrongFileType). A FIFO
//!   that exists is used only if this user (or root) owns it and neither
//!   group nor others may write it, unless `?owner=UID` / `?group=GID`
//!   allow it ([`Untrusted`](ConnectError::Untrusted)); checked before the
//!   open and again on the opened descriptor.
//! * Opening the receiver does not wait. Opening the sender waits for a
//!   receiver to open the FIFO, as the shell's `echo > test` does: as long
//!   as it takes, or up to `?timeout_ms=` ([`ConnectError::Timeout`]).
//! * A receiver that opened before any sender waits for one; once a sender
//!   came and went (and everything it wrote was read), it gets
//!   [`Disconnected`](super::RecvError::Disconnected).
//! * Several senders: the kernel keeps a write whole only up to `PIPE_BUF`
//!   (4096) bytes, so frames above that from two writers could interleave.
//!   A sender whose largest frame fits ([`shared_max`]: `?max=4092` with
//!   the length prefix, 4095 with lines) shares the FIFO with any number
//!   of such senders; a sender with a larger `?max=` (the default 64 KiB)
//!   has it alone. The other is refused at open with
//!   [`SenderTaken`](ConnectError::SenderTaken) (a `flock` on the FIFO,
//!   held while the sender is open). Writers that are not shmlane (`echo >
//!   fifo`) take no lock: keep their lines under 4 KiB.
//!
//! `shmlane recv 'fifo:///tmp/test?framing=lines'` prints what
//! `echo "this is a pipe" > /tmp/test` writes.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;

use nix::errno::Errno;
use nix::sys::stat::{FileStat, Mode, SFlag, fchmod, fstat, lstat};

use super::config::{Config, DEFAULT_MAX_MESSAGE_SIZE, Framing};
use super::framing::FdKind;
use super::path::{PathGuard, c_path, file_type_name, fs_error, is_type};
use super::poll::Backoff;
use super::{Adapter, ConnectError, Deadline, StreamReceiver, StreamSender};
use crate::trust::{Found, Trust};

/// The options `fifo://` takes.
const OPTIONS: &[&str] = &[
    "max",
    "framing",
    "timeout_ms",
    "mode",
    "persist",
    "owner",
    "group",
];

pub(crate) const ADAPTER: Adapter = Adapter {
    sender: |url| Ok(Box::new(sender(&url.name, &url.config)?)),
    receiver: |url| Ok(Box::new(receiver(&url.name, &url.config)?)),
    pair: None,
    connect: None,
    listen: None,
};

/// The channel's name: `fifo:///abs/path` or `fifo://./relative`.
fn endpoint_of(path: &Path) -> String {
    format!("fifo://{}", path.display())
}

/// Opens (creating if missing) the FIFO at `path` for reading. Does not
/// wait for a sender.
pub fn receiver(path: impl AsRef<Path>, config: &Config) -> Result<StreamReceiver, ConnectError> {
    let fifo = Prepared::new(path.as_ref(), config)?;
    // Non-blocking open: a reader need not wait for a writer.
    let fd = open(&fifo.c_path, libc::O_RDONLY | libc::O_NONBLOCK)
        .map_err(|e| open_error(&fifo.endpoint, e))?;
    let guard = fifo.finish_open(&fd, config)?;
    Ok(StreamReceiver::new(
        fd,
        FdKind::Fifo,
        config.framing_or_default(),
        fifo.max,
        Arc::from(fifo.endpoint),
        guard,
    ))
}

/// Opens (creating if missing) the FIFO at `path` for writing, waiting for
/// a receiver to open it (as long as it takes, or `?timeout_ms=`).
pub fn sender(path: impl AsRef<Path>, config: &Config) -> Result<StreamSender, ConnectError> {
    let fifo = Prepared::new(path.as_ref(), config)?;
    let deadline = config.open_timeout.map_or(Deadline::Never, Deadline::after);
    let mut backoff = Backoff::new();
    let fd = loop {
        // ENXIO: no reader has the FIFO open.
        match open(&fifo.c_path, libc::O_WRONLY | libc::O_NONBLOCK) {
            Ok(fd) => break fd,
            Err(Errno::ENXIO) if deadline == Deadline::Never => {
                // Wait in the kernel for a reader, as `echo > fifo` does.
                match open(&fifo.c_path, libc::O_WRONLY) {
                    Ok(fd) => break fd,
                    Err(Errno::EINTR) => {}
                    Err(e) => return Err(open_error(&fifo.endpoint, e)),
                }
            }
            Err(Errno::ENXIO) => {
                if !backoff.sleep(deadline) {
                    return Err(ConnectError::Timeout {
                        endpoint: fifo.endpoint,
                        what: "waiting for a receiver to open the FIFO",
                        waited_ms: config
                            .open_timeout
                            .map_or(0, |t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
                    });
                }
            }
            Err(Errno::EINTR) => {}
            Err(e) => return Err(open_error(&fifo.endpoint, e)),
        }
    };
    let guard = fifo.finish_open(&fd, config)?;
    lock_writer(&fd, config.framing_or_default(), fifo.max, &fifo.endpoint)?;
    Ok(StreamSender::new(
        fd,
        FdKind::Fifo,
        config.framing_or_default(),
        fifo.max,
        Arc::from(fifo.endpoint),
        guard,
    ))
}

/// The largest message whose frame, with `framing`, is one write the
/// kernel keeps whole (`PIPE_BUF` bytes).
pub fn shared_max(framing: Framing) -> usize {
    match framing {
        Framing::Length => libc::PIPE_BUF - 4,
        Framing::Lines => libc::PIPE_BUF - 1,
    }
}

/// Takes this sender's share of the FIFO: a shared `flock` if its frames
/// fit in `PIPE_BUF` (any number of such senders interleave only whole
/// frames), an exclusive one otherwise (a bigger frame is written in
/// pieces, which another writer's could split). Either way a conflicting
/// sender is [`ConnectError::SenderTaken`].
fn lock_writer(
    fd: &OwnedFd,
    framing: Framing,
    max: usize,
    endpoint: &str,
) -> Result<(), ConnectError> {
    let shared_max = shared_max(framing);
    let how = if max <= shared_max {
        libc::LOCK_SH
    } else {
        libc::LOCK_EX
    };
    // SAFETY: flock only changes the lock state of the open file
    // description `fd` refers to; the lock goes when it is closed.
    if unsafe { libc::flock(fd.as_raw_fd(), how | libc::LOCK_NB) } == 0 {
        return Ok(());
    }
    let source = std::io::Error::last_os_error();
    if source.raw_os_error() == Some(libc::EWOULDBLOCK) {
        return Err(ConnectError::SenderTaken {
            endpoint: endpoint.to_owned(),
            pipe_buf: libc::PIPE_BUF,
            shared_max,
        });
    }
    Err(fs_error(endpoint, "flock", source))
}

/// A FIFO found or made at a path, with the options both ends read,
/// before an end opens it.
struct Prepared<'a> {
    path: &'a Path,
    endpoint: String,
    c_path: CString,
    max: usize,
    mode: u32,
    /// Whether this end made the FIFO.
    created: bool,
    trust: Trust,
}

impl<'a> Prepared<'a> {
    /// Checks the options and makes sure a FIFO exists at `path`.
    fn new(path: &'a Path, config: &Config) -> Result<Self, ConnectError> {
        let endpoint = endpoint_of(path);
        config.check(OPTIONS, &endpoint)?;
        let max = config.max_or(DEFAULT_MAX_MESSAGE_SIZE, &endpoint)?;
        let mode = config.mode_or_default(&endpoint)?;
        let c_path = c_path(path, &endpoint)?;
        let trust = config.trust_or_default();
        let created = ensure_fifo(path, &c_path, mode, &trust, &endpoint)?;
        Ok(Self {
            path,
            endpoint,
            c_path,
            max,
            mode,
            created,
            trust,
        })
    }

    /// After open: checks that what was opened is a FIFO (the path may
    /// have been replaced since it was looked at), sets the exact mode on
    /// a FIFO this end made (the umask applied to mkfifo), leaves the
    /// descriptor blocking, and returns the right to remove the path.
    fn finish_open(
        &self,
        fd: &OwnedFd,
        config: &Config,
    ) -> Result<Option<PathGuard>, ConnectError> {
        let endpoint = self.endpoint.as_str();
        let st = fstat(fd).map_err(|e| fs_error(endpoint, "fstat", e.into()))?;
        if !is_type(st.st_mode, SFlag::S_IFIFO) {
            return Err(wrong_type(st.st_mode, endpoint));
        }
        // Again on what was opened: the path may have been replaced since
        // `ensure_fifo` looked. Nothing has been read or written yet.
        if self.created {
            fchmod(fd, Mode::from_bits_truncate(self.mode))
                .map_err(|e| fs_error(endpoint, "fchmod", e.into()))?;
        } else {
            check_trust(&self.trust, &st, endpoint)?;
        }
        nix::fcntl::fcntl(
            fd,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
        )
        .map_err(|e| fs_error(endpoint, "fcntl(F_SETFL)", e.into()))?;
        Ok((self.created && !config.persists())
            .then(|| PathGuard::new(self.path))
            .flatten())
    }
}

/// Makes sure a FIFO exists at `path`; returns whether this call made it.
/// The path is looked at without following a symbolic link (one there,
/// dangling or not, is [`WrongFileType`](ConnectError::WrongFileType)), and
/// a FIFO that is there must be one `trust` accepts.
fn ensure_fifo(
    path: &Path,
    c_path: &CString,
    mode: u32,
    trust: &Trust,
    endpoint: &str,
) -> Result<bool, ConnectError> {
    loop {
        match lstat(path) {
            Ok(st) if is_type(st.st_mode, SFlag::S_IFIFO) => {
                check_trust(trust, &st, endpoint)?;
                return Ok(false);
            }
            Ok(st) => return Err(wrong_type(st.st_mode, endpoint)),
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(fs_error(endpoint, "lstat", e.into())),
        }
        match nix::unistd::mkfifo(c_path.as_c_str(), Mode::from_bits_truncate(mode)) {
            Ok(()) => return Ok(true),
            // Made by someone else meanwhile: look again.
            Err(Errno::EEXIST) => {}
            Err(e) => return Err(fs_error(endpoint, "mkfifo", e.into())),
        }
    }
}

/// Refuses a FIFO `trust` does not accept (another user's, or one others
/// may write).
fn check_trust(trust: &Trust, st: &FileStat, endpoint: &str) -> Result<(), ConnectError> {
    trust
        .check(Found::file(st.st_uid, st.st_gid, st.st_mode), true)
        .map_err(|d| d.into_connect_error(endpoint))
}

/// An open's error: ELOOP is a symbolic link put at the path since it was
/// looked at (refused by `O_NOFOLLOW`).
fn open_error(endpoint: &str, errno: Errno) -> ConnectError {
    match errno {
        Errno::ELOOP => wrong_type(SFlag::S_IFLNK.bits(), endpoint),
        other => fs_error(endpoint, "open", other.into()),
    }
}

fn wrong_type(mode: u32, endpoint: &str) -> ConnectError {
    ConnectError::WrongFileType {
        endpoint: endpoint.to_owned(),
        expected: "FIFO",
        found: file_type_name(mode),
    }
}

fn open(path: &CString, flags: libc::c_int) -> Result<OwnedFd, Errno> {
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    // O_NOFOLLOW: a symbolic link put at the path after it was looked at
    // is refused (ELOOP), not followed to another user's file.
    let fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC | libc::O_NOFOLLOW) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: `fd` was just opened and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
