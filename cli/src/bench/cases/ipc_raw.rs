//! The kernel mechanisms with nothing in the way: plain syscalls, no
//! shmlane code. The baselines of the transport cases
//! ([`transport`](super::transport)), each measured in the same run:
//!
//! * `pipe-rtt-raw`: two pipes, `write` and `read`;
//! * `fifo-rtt-raw`: two FIFOs (`mkfifo`), `write` and `read`;
//! * `mq-rtt-raw`: two POSIX queues, `mq_send` and `mq_receive`;
//! * `sysvmq-rtt-raw`: two System V queues, `msgsnd` and `msgrcv`;
//! * `uds-rtt-raw`: a Unix stream socket pair, `write` and `read`;
//! * `seqpacket-rtt-raw`: a Unix seqpacket socket pair, `send` and `recv`;
//! * `tcp-rtt-raw`: a loopback TCP connection with `TCP_NODELAY`, `write`
//!   and `read`.
//!
//! A message is `--size` bytes, its first 8 the sequence number; the
//! child echoes it. Every call blocks in the kernel. Descriptor-based
//! mechanisms see the child's end as end of stream; a queue knows nothing
//! of its users, so the queue cases' child sends a "gone" message when
//! its side fails.

use std::ffi::CString;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::Setup;
use crate::bench::error::BenchError;
use crate::bench::measure::{Budget, Figures, STOP, rtt};
use crate::bench::runner::run_pair;

/// Sent by a queue case's child when its side ends without a STOP.
const GONE: u64 = u64::MAX - 1;

/// The sequence number at the start of a message.
pub fn seq_of(msg: &[u8]) -> u64 {
    msg.first_chunk::<8>()
        .map_or(GONE, |b| u64::from_le_bytes(*b))
}

/// Checks that an echo is message `seq` of `size` bytes.
pub fn check_echo(seq: u64, msg: &[u8], size: usize) -> Result<(), BenchError> {
    match seq_of(msg) {
        GONE => Err(BenchError::PeerGone {
            what: "waiting for the echo",
        }),
        got if got != seq => Err(BenchError::Mismatch { expected: seq, got }),
        _ if msg.len() != size => Err(BenchError::Peer(format!(
            "echo of {} bytes, sent {size}",
            msg.len()
        ))),
        _ => Ok(()),
    }
}

fn os_error(op: &'static str) -> BenchError {
    BenchError::Os {
        op: op.into(),
        errno: nix::errno::Errno::last(),
    }
}

/// Writes all of `buf` to `fd` (a pipe, FIFO or stream socket).
fn write_all(fd: RawFd, mut buf: &[u8]) -> Result<(), BenchError> {
    while !buf.is_empty() {
        // SAFETY: `buf` is a live slice of `buf.len()` readable bytes.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        match usize::try_from(n) {
            Ok(n) => buf = &buf[n..],
            Err(_) if nix::errno::Errno::last() == nix::errno::Errno::EINTR => {}
            Err(_) => return Err(os_error("write")),
        }
    }
    Ok(())
}

/// Reads exactly `buf.len()` bytes from `fd`; end of stream is the peer
/// gone.
fn read_exact(fd: RawFd, mut buf: &mut [u8]) -> Result<(), BenchError> {
    while !buf.is_empty() {
        // SAFETY: `buf` is a live slice of `buf.len()` writable bytes.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        match usize::try_from(n) {
            Ok(0) => {
                return Err(BenchError::PeerGone {
                    what: "reading the stream",
                });
            }
            Ok(n) => buf = &mut buf[n..],
            Err(_) if nix::errno::Errno::last() == nix::errno::Errno::EINTR => {}
            Err(_) => return Err(os_error("read")),
        }
    }
    Ok(())
}

/// A one-way raw channel end: how a case moves one message.
trait Raw: Send {
    fn send(&mut self, msg: &[u8]) -> Result<(), BenchError>;
    /// Fills `buf` (of the message size) with the next message.
    fn recv(&mut self, buf: &mut [u8]) -> Result<(), BenchError>;
}

/// A byte-stream descriptor: pipe, FIFO, stream socket.
struct Stream(OwnedFd);

impl Raw for Stream {
    #[inline(always)]
    fn send(&mut self, msg: &[u8]) -> Result<(), BenchError> {
        write_all(self.0.as_raw_fd(), msg)
    }

    #[inline(always)]
    fn recv(&mut self, buf: &mut [u8]) -> Result<(), BenchError> {
        read_exact(self.0.as_raw_fd(), buf)
    }
}

/// The round trip over raw ends: the parent sends on `mine.0`, receives
/// on `mine.1`; the child echoes from `peer.1` to `peer.0`. `gone` runs
/// when the child's side ends without a STOP (queues: tell the parent).
fn raw_rtt<S: Raw, R: Raw, PS: Raw, PR: Raw>(
    setup: &Setup,
    mine: (S, R),
    peer: (PS, PR),
    gone: fn(&mut PS, usize),
) -> Result<Figures, BenchError> {
    let (size, secs) = (setup.size, setup.secs);
    let (mut tx, mut rx) = mine;
    let (mut peer_tx, mut peer_rx) = peer;
    let stats = run_pair(
        setup.peers,
        setup.cores,
        move |_watch| {
            let mut buf = vec![0u8; size];
            let result = (|| loop {
                peer_rx.recv(&mut buf)?;
                if seq_of(&buf) == STOP {
                    return Ok(());
                }
                peer_tx.send(&buf)?;
            })();
            if result.is_err() {
                gone(&mut peer_tx, size);
            }
            result
        },
        move |_watch| {
            let mut msg = vec![0u8; size];
            let mut buf = vec![0u8; size];
            let stats = rtt(Budget::rtt_warmup(secs), Budget::rtt_measure(secs), |seq| {
                msg[..8].copy_from_slice(&u64::to_le_bytes(seq));
                tx.send(&msg)?;
                rx.recv(&mut buf)?;
                check_echo(seq, &buf, size)
            })?;
            msg[..8].copy_from_slice(&STOP.to_le_bytes());
            tx.send(&msg)?;
            Ok(stats)
        },
    )?;
    Ok(Figures::Rtt(stats))
}

/// Descriptor mechanisms need no "gone" message: the end of stream is one.
fn nothing<T>(_: &mut T, _: usize) {}

fn pipe() -> Result<(Stream, Stream), BenchError> {
    let (r, w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(BenchError::os("pipe2"))?;
    Ok((Stream(w), Stream(r)))
}

/// `pipe-rtt-raw`.
pub fn case_pipe(setup: &Setup) -> Result<Figures, BenchError> {
    let (ping_tx, ping_rx) = pipe()?;
    let (pong_tx, pong_rx) = pipe()?;
    raw_rtt(setup, (ping_tx, pong_rx), (pong_tx, ping_rx), nothing)
}

/// A FIFO at a fresh path, opened at both ends and unlinked (the open
/// descriptors keep it working).
fn fifo(tag: &str) -> Result<(Stream, Stream), BenchError> {
    let path =
        std::env::temp_dir().join(format!("shmlane-bench-{}-{tag}.fifo", std::process::id()));
    let _ = std::fs::remove_file(&path);
    nix::unistd::mkfifo(
        &path,
        nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
    )
    .map_err(BenchError::os("mkfifo"))?;
    let open = |flags| {
        nix::fcntl::open(
            &path,
            flags | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
    };
    let opened = open(nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_NONBLOCK)
        .and_then(|r| Ok((r, open(nix::fcntl::OFlag::O_WRONLY)?)));
    let _ = std::fs::remove_file(&path);
    let (r, w) = opened.map_err(BenchError::os("open of a FIFO"))?;
    nix::fcntl::fcntl(
        &r,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
    )
    .map_err(BenchError::os("fcntl"))?;
    Ok((Stream(w), Stream(r)))
}

/// `fifo-rtt-raw`.
pub fn case_fifo(setup: &Setup) -> Result<Figures, BenchError> {
    let (ping_tx, ping_rx) = fifo("ping")?;
    let (pong_tx, pong_rx) = fifo("pong")?;
    raw_rtt(setup, (ping_tx, pong_rx), (pong_tx, ping_rx), nothing)
}

/// A POSIX queue descriptor.
struct Mq(OwnedFd);

impl Raw for Mq {
    #[inline(always)]
    fn send(&mut self, msg: &[u8]) -> Result<(), BenchError> {
        // SAFETY: `msg` is a live slice of `msg.len()` bytes.
        if unsafe { libc::mq_send(self.0.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) } < 0 {
            return Err(os_error("mq_send"));
        }
        Ok(())
    }

    #[inline(always)]
    fn recv(&mut self, buf: &mut [u8]) -> Result<(), BenchError> {
        let mut prio = 0;
        // SAFETY: `buf` is a live slice of `buf.len()` writable bytes, the
        // queue's message size.
        let n = unsafe {
            libc::mq_receive(
                self.0.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut prio,
            )
        };
        if usize::try_from(n) != Ok(buf.len()) {
            return Err(os_error("mq_receive"));
        }
        Ok(())
    }
}

fn send_gone<T: Raw>(tx: &mut T, size: usize) {
    let mut msg = vec![0u8; size];
    msg[..8].copy_from_slice(&GONE.to_le_bytes());
    let _ = tx.send(&msg);
}

/// A fresh POSIX queue for messages of `size` bytes, opened at both ends
/// and unlinked at once.
fn mq(tag: &str, size: usize) -> Result<(Mq, Mq), BenchError> {
    let name = CString::new(format!("/shmlane-bench-{}-{tag}", std::process::id()))
        .map_err(|_| BenchError::Usage("queue name".into()))?;
    // SAFETY: `name` is NUL-terminated; a stale queue of this name is ours.
    unsafe { libc::mq_unlink(name.as_ptr()) };
    // SAFETY: mq_attr is plain integers.
    let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
    attr.mq_maxmsg = 4;
    attr.mq_msgsize = i64::try_from(size).map_err(|_| BenchError::Usage("size".into()))?;
    let open = |flags: libc::c_int| {
        // SAFETY: `name` is NUL-terminated; the mode and `attr` are valid
        // for the call (mq_open reads them only with O_CREAT).
        let fd = unsafe { libc::mq_open(name.as_ptr(), flags | libc::O_CLOEXEC, 0o600, &attr) };
        if fd < 0 {
            return Err(os_error("mq_open"));
        }
        // SAFETY: a queue descriptor is a file descriptor nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    };
    let opened = open(libc::O_RDONLY | libc::O_CREAT | libc::O_EXCL)
        .and_then(|r| Ok((r, open(libc::O_WRONLY)?)));
    // SAFETY: as above.
    unsafe { libc::mq_unlink(name.as_ptr()) };
    let (r, w) = opened?;
    Ok((Mq(w), Mq(r)))
}

/// `mq-rtt-raw`.
pub fn case_mq(setup: &Setup) -> Result<Figures, BenchError> {
    let (ping_tx, ping_rx) = mq("ping", setup.size)?;
    let (pong_tx, pong_rx) = mq("pong", setup.size)?;
    raw_rtt(setup, (ping_tx, pong_rx), (pong_tx, ping_rx), send_gone)
}

/// A System V queue id with a message buffer (`mtype` then the text).
struct Sysv {
    id: libc::c_int,
    buf: Vec<libc::c_long>,
}

impl Sysv {
    fn new(id: libc::c_int, size: usize) -> Self {
        Self {
            id,
            buf: vec![1; 1 + size.div_ceil(size_of::<libc::c_long>())],
        }
    }

    fn text(&mut self) -> &mut [u8] {
        let bytes: &mut [u8] = bytemuck_bytes(&mut self.buf);
        &mut bytes[size_of::<libc::c_long>()..]
    }
}

/// The bytes of a `c_long` buffer.
fn bytemuck_bytes(words: &mut [libc::c_long]) -> &mut [u8] {
    let len = size_of_val(words);
    // SAFETY: `c_long` has no padding and any bytes are a valid `c_long`;
    // the byte view covers exactly the slice and borrows it mutably.
    unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), len) }
}

impl Raw for Sysv {
    #[inline(always)]
    fn send(&mut self, msg: &[u8]) -> Result<(), BenchError> {
        self.buf[0] = 1;
        self.text()[..msg.len()].copy_from_slice(msg);
        // SAFETY: the buffer holds an mtype and at least `msg.len()` bytes.
        if unsafe { libc::msgsnd(self.id, self.buf.as_ptr().cast(), msg.len(), 0) } < 0 {
            return Err(os_error("msgsnd"));
        }
        Ok(())
    }

    #[inline(always)]
    fn recv(&mut self, buf: &mut [u8]) -> Result<(), BenchError> {
        // SAFETY: the buffer holds an mtype and `buf.len()` bytes of text.
        let n = unsafe { libc::msgrcv(self.id, self.buf.as_mut_ptr().cast(), buf.len(), 0, 0) };
        if usize::try_from(n) != Ok(buf.len()) {
            return Err(os_error("msgrcv"));
        }
        buf.copy_from_slice(&self.text()[..buf.len()]);
        Ok(())
    }
}

/// Removes System V queues when a case ends.
pub struct RemoveQueues(pub Vec<libc::c_int>);

impl Drop for RemoveQueues {
    fn drop(&mut self) {
        for &id in &self.0 {
            // SAFETY: IPC_RMID ignores the buffer argument.
            unsafe { libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
        }
    }
}

/// `sysvmq-rtt-raw`: two private queues (shared with the child by id).
pub fn case_sysvmq(setup: &Setup) -> Result<Figures, BenchError> {
    let new_queue = || {
        // SAFETY: msgget touches no memory.
        let id = unsafe { libc::msgget(libc::IPC_PRIVATE, libc::IPC_CREAT | 0o600) };
        if id < 0 {
            Err(os_error("msgget"))
        } else {
            Ok(id)
        }
    };
    let mut queues = RemoveQueues(Vec::new());
    let ping = new_queue()?;
    queues.0.push(ping);
    let pong = new_queue()?;
    queues.0.push(pong);
    let size = setup.size;
    raw_rtt(
        setup,
        (Sysv::new(ping, size), Sysv::new(pong, size)),
        (Sysv::new(pong, size), Sysv::new(ping, size)),
        send_gone,
    )
}

/// `uds-rtt-raw`: one Unix stream socket pair, both directions.
pub fn case_uds(setup: &Setup) -> Result<Figures, BenchError> {
    let (a, b) = socketpair(libc::SOCK_STREAM)?;
    let a2 = a.try_clone().map_err(|e| BenchError::Peer(e.to_string()))?;
    let b2 = b.try_clone().map_err(|e| BenchError::Peer(e.to_string()))?;
    raw_rtt(
        setup,
        (Stream(a), Stream(a2)),
        (Stream(b), Stream(b2)),
        nothing,
    )
}

fn socketpair(ty: libc::c_int) -> Result<(OwnedFd, OwnedFd), BenchError> {
    let mut fds = [0; 2];
    // SAFETY: socketpair writes two descriptors into `fds`.
    if unsafe { libc::socketpair(libc::AF_UNIX, ty | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) } < 0
    {
        return Err(os_error("socketpair"));
    }
    // SAFETY: a new descriptor nothing else owns.
    let a = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    // SAFETY: as above.
    let b = unsafe { OwnedFd::from_raw_fd(fds[1]) };
    Ok((a, b))
}

/// A seqpacket socket: one record per message.
struct Seqpacket(OwnedFd);

impl Raw for Seqpacket {
    #[inline(always)]
    fn send(&mut self, msg: &[u8]) -> Result<(), BenchError> {
        // SAFETY: `msg` is a live slice of `msg.len()` bytes.
        let n = unsafe {
            libc::send(
                self.0.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if n < 0 {
            return Err(os_error("send"));
        }
        Ok(())
    }

    #[inline(always)]
    fn recv(&mut self, buf: &mut [u8]) -> Result<(), BenchError> {
        // SAFETY: `buf` is a live slice of `buf.len()` writable bytes.
        let n = unsafe { libc::recv(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        match usize::try_from(n) {
            Ok(0) => Err(BenchError::PeerGone {
                what: "reading the socket",
            }),
            Ok(n) if n == buf.len() => Ok(()),
            Ok(_) => Err(BenchError::Peer("a short record".into())),
            Err(_) => Err(os_error("recv")),
        }
    }
}

/// `seqpacket-rtt-raw`: one Unix seqpacket socket pair, both directions.
pub fn case_seqpacket(setup: &Setup) -> Result<Figures, BenchError> {
    let (a, b) = socketpair(libc::SOCK_SEQPACKET)?;
    let a2 = a.try_clone().map_err(|e| BenchError::Peer(e.to_string()))?;
    let b2 = b.try_clone().map_err(|e| BenchError::Peer(e.to_string()))?;
    raw_rtt(
        setup,
        (Seqpacket(a), Seqpacket(a2)),
        (Seqpacket(b), Seqpacket(b2)),
        nothing,
    )
}

/// `tcp-rtt-raw`: one loopback connection with TCP_NODELAY.
pub fn case_tcp(setup: &Setup) -> Result<Figures, BenchError> {
    let io = |e: io::Error| BenchError::Peer(format!("loopback TCP: {e}"));
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io)?;
    let client = TcpStream::connect(listener.local_addr().map_err(io)?).map_err(io)?;
    let (server, _) = listener.accept().map_err(io)?;
    client.set_nodelay(true).map_err(io)?;
    server.set_nodelay(true).map_err(io)?;
    let (a, b) = (OwnedFd::from(client), OwnedFd::from(server));
    let a2 = a.try_clone().map_err(io)?;
    let b2 = b.try_clone().map_err(io)?;
    raw_rtt(
        setup,
        (Stream(a), Stream(a2)),
        (Stream(b), Stream(b2)),
        nothing,
    )
}
