//! `shmlane send URL` and `shmlane recv URL`: the transports from the
//! shell, so the classic demos work through any mechanism:
//!
//! ```text
//! shmlane recv 'fifo:///tmp/test?framing=lines' &
//! echo "this is a pipe" > /tmp/test          # the shell writes the FIFO
//! echo "this is a pipe" | shmlane send mq:///test
//! printf 'a\nb\n' | shmlane send pipe: | shmlane recv pipe:
//! ```
//!
//! `send` sends each line of stdin as one message (without its newline),
//! or with `--raw` all of stdin as one message. `recv` writes each message
//! to stdout followed by a newline, until the sender is gone, `--count`
//! messages, or `--timeout` seconds without one. `bridge FROM TO` forwards
//! every message from one URL to another (`transport::bridge`) until the
//! source ends, `--count` messages, or a signal.

use std::fmt;
use std::io::{self, BufRead, Read, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::Args;
use nix::sys::signal::Signal;
use shmlane::transport::{self, ConnectError, Deadline, Receiver, RecvError, SendError};

use crate::signals::{self, SLICE};

/// The exit statuses of `send` and `recv`, for their `--help`.
pub const EXIT_STATUS: &str = "Exit status: 0 done (the stream ended, or --count messages); \
1 error; 2 usage; 3 timed out (--timeout); 4 the other side vanished without closing \
(it crashed, reset the connection, or stopped answering: messages may have been lost); 128+N ended by signal N \
(SIGHUP 129, SIGINT 130, SIGTERM 143), after detaching and removing what it made.";

/// Options of `shmlane send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// Where to send: pipe: (stdout), fifo:///PATH, mq:///NAME,
    /// sysvmq://KEY, unix:///PATH, unix+seqpacket:///PATH, tcp://HOST:PORT,
    /// with options as ?max=N&framing=lines&timeout_ms=N...
    url: String,
    /// Send all of stdin as one message, instead of one message per line.
    #[arg(long)]
    raw: bool,
    /// Fail when the receiver is not there within S seconds (opening), or
    /// a message finds no room in the channel within S seconds (default:
    /// wait as long as it takes).
    #[arg(long, value_name = "S", value_parser = parse_timeout)]
    timeout: Option<Duration>,
}

/// Options of `shmlane recv`.
#[derive(Debug, Args)]
pub struct RecvArgs {
    /// Where to receive from (as for send; pipe: is stdin). On a socket URL
    /// recv listens and accepts one connection (?role=connect connects;
    /// --serve accepts any number).
    url: String,
    /// Stop after N messages (fails if the sender ends before).
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Fail when no message arrives within S seconds (default: wait as
    /// long as it takes).
    #[arg(long, value_name = "S", value_parser = parse_timeout)]
    timeout: Option<Duration>,
    /// On a socket URL (unix://, unix+seqpacket://, tcp://), serve any
    /// number of senders over time instead of one connection: messages of
    /// all of them, in turn, each sender's in order, until --count or a
    /// signal.
    #[arg(long)]
    serve: bool,
}

/// Options of `shmlane bridge`.
#[derive(Debug, Args)]
pub struct BridgeArgs {
    /// Where to receive from (as for recv: on a socket URL the bridge
    /// listens and accepts one connection; ?role=connect connects).
    from: String,
    /// Where to send to (as for send).
    to: String,
    /// Stop after N messages.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1e9).contains(&v) => Ok(Duration::from_secs_f64(v)),
        Ok(_) => Err(format!("{s} is not a number of seconds in [0, 1e9]")),
        Err(e) => Err(format!("{s:?}: {e}")),
    }
}

/// Why `send` or `recv` failed.
#[derive(Debug)]
pub enum IoError {
    Open(ConnectError),
    Send(SendError),
    Recv(RecvError),
    /// No message within the timeout.
    TimedOut(Duration),
    /// The sender ended before `--count` messages.
    Short {
        received: u64,
        count: u64,
    },
    Stdio(&'static str, io::Error),
    /// Ended by a signal, after detaching.
    Interrupted(Signal),
    /// A bridge failed.
    Bridge(transport::BridgeError),
}

impl IoError {
    /// The exit status that says what happened ([`EXIT_STATUS`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::TimedOut(_)
            | Self::Open(ConnectError::Timeout { .. })
            | Self::Send(SendError::Timeout) => 3,
            Self::Recv(RecvError::Reset { .. } | RecvError::PeerLost { .. })
            | Self::Send(SendError::PeerLost { .. })
            | Self::Bridge(
                transport::BridgeError::Recv {
                    source: RecvError::Reset { .. } | RecvError::PeerLost { .. },
                    ..
                }
                | transport::BridgeError::Send {
                    source: SendError::PeerLost { .. },
                    ..
                },
            ) => 4,
            Self::Interrupted(signal) => u8::try_from(signals::exit_code(*signal)).unwrap_or(1),
            _ => 1,
        }
    }
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Open(e) => write!(f, "{e}"),
            Self::Send(e) => write!(f, "{e}"),
            Self::Recv(e) => write!(f, "{e}"),
            Self::TimedOut(t) => write!(f, "no message within {} s", t.as_secs_f64()),
            Self::Short { received, count } => {
                write!(f, "the sender ended after {received} of {count} messages")
            }
            Self::Stdio(what, e) => write!(f, "{what}: {e}"),
            Self::Interrupted(signal) => write!(f, "stopped by {signal}"),
            Self::Bridge(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for IoError {}

/// Schemes whose opening waits for the other side, and so take
/// `timeout_ms` (the others open at once).
const WAITING_SCHEMES: &[&str] = &[
    "shm://",
    "fifo://",
    "unix://",
    "unix+seqpacket://",
    "tcp://",
];

/// `url` with `timeout_ms` set from `--timeout`, where the scheme waits at
/// open and the URL does not say already.
fn bounded_open(url: &str, timeout: Option<Duration>) -> String {
    let Some(timeout) = timeout else {
        return url.to_owned();
    };
    if !WAITING_SCHEMES.iter().any(|s| url.starts_with(s)) || url.contains("timeout_ms=") {
        return url.to_owned();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    let ms = timeout.as_millis().clamp(1, u128::from(u64::MAX));
    format!("{url}{separator}timeout_ms={ms}")
}

/// The end of the next slice of a wait that ends at `deadline`, or
/// `Interrupted` if a signal came (then stop).
fn next_slice(deadline: Option<Instant>) -> Result<Deadline, IoError> {
    if let Some(signal) = signals::caught() {
        return Err(IoError::Interrupted(signal));
    }
    let slice_end = Instant::now() + SLICE;
    Ok(Deadline::At(
        deadline.map_or(slice_end, |d| d.min(slice_end)),
    ))
}

/// Whether a wait that ends at `deadline` is over.
fn expired(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

/// Runs `op` in slices until it is done, `deadline` passes (its own
/// timeout error then) or a signal comes.
fn sliced<T>(
    deadline: Option<Instant>,
    mut op: impl FnMut(Deadline) -> Result<T, SendError>,
) -> Result<T, IoError> {
    loop {
        match op(next_slice(deadline)?) {
            Err(SendError::Timeout) if !expired(deadline) => {}
            other => return other.map_err(IoError::Send),
        }
    }
}

/// Sends `msg`, in slices: a frame a slice left incomplete is finished
/// with `flush`, never sent twice.
fn send_one(
    tx: &mut dyn transport::Sender,
    msg: &[u8],
    timeout: Option<Duration>,
) -> Result<(), IoError> {
    let deadline = timeout.map(|t| Instant::now() + t);
    match sliced(deadline, |slice| tx.send_deadline(msg, slice)) {
        Err(IoError::Send(cut @ SendError::Incomplete { .. })) => {
            match sliced(deadline, |slice| tx.flush_deadline(slice)) {
                // Out of time with the frame still cut: say how (the bytes
                // handed over are at least those the send reported).
                Err(IoError::Send(SendError::Timeout)) => Err(IoError::Send(cut)),
                other => other,
            }
        }
        other => other,
    }
}

/// `shmlane send`.
pub fn send(args: &SendArgs) -> Result<(), IoError> {
    let url = bounded_open(&args.url, args.timeout);
    let mut tx = open_sliced(transport::Opening::sender(&url))?;
    let (max, endpoint) = (tx.max_message_size(), tx.endpoint().to_owned());
    if args.raw {
        // At most one byte past the maximum: enough to know it is too
        // long without reading an endless stdin to its end.
        let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
        let mut all = Vec::new();
        io::stdin()
            .lock()
            .take(limit)
            .read_to_end(&mut all)
            .map_err(|e| IoError::Stdio("reading stdin", e))?;
        if all.len() > max {
            return Err(IoError::Send(SendError::MessageTooLarge {
                len: all.len(),
                max,
                endpoint: endpoint.into(),
            }));
        }
        send_one(&mut *tx, &all, args.timeout)?;
    } else {
        // stdin is read by a thread of its own, so that a signal is seen
        // while a read waits for the next line.
        let lines = read_lines();
        loop {
            let line = match lines.recv_timeout(SLICE) {
                Ok(line) => line.map_err(|e| IoError::Stdio("reading stdin", e))?,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(signal) = signals::caught() {
                        return Err(IoError::Interrupted(signal));
                    }
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            send_one(&mut *tx, &line, args.timeout)?;
        }
    }
    // Everything accepted, and the end of stream, reached the channel (or
    // the exit status says it did not).
    let deadline = args.timeout.map(|t| Instant::now() + t);
    sliced(deadline, |slice| tx.close_deadline(slice))
}

/// The lines of stdin (without their newline), read by a thread of their
/// own; the channel ends with stdin.
fn read_lines() -> mpsc::Receiver<io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::sync_channel(64);
    let reader = move || {
        let stdin = io::stdin();
        let mut stdin = stdin.lock();
        loop {
            let mut line = Vec::new();
            match stdin.read_until(b'\n', &mut line) {
                Ok(0) => return,
                Ok(_) => {
                    if line.last() == Some(&b'\n') {
                        line.pop();
                    }
                    if tx.send(Ok(line)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
    };
    if let Err(e) = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(reader)
    {
        let (tx, rx) = mpsc::sync_channel(1);
        let _ = tx.send(Err(e));
        return rx;
    }
    rx
}

/// `shmlane recv`.
pub fn recv(args: &RecvArgs) -> Result<(), IoError> {
    let mut rx: Box<dyn Receiver> = if args.serve {
        Box::new(transport::serve(&args.url).map_err(IoError::Open)?)
    } else {
        open_sliced(transport::Opening::receiver(&args.url))?
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut msg = Vec::new();
    let mut received = 0u64;
    while args.count.is_none_or(|count| received < count) {
        let deadline = args.timeout.map(|t| Instant::now() + t);
        let result = loop {
            match rx.recv_deadline(&mut msg, next_slice(deadline)?) {
                Err(RecvError::Timeout) if !expired(deadline) => {}
                other => break other,
            }
        };
        match result {
            Ok(_) => {}
            Err(RecvError::Disconnected { .. }) => {
                return match args.count {
                    Some(count) => Err(IoError::Short { received, count }),
                    None => Ok(()),
                };
            }
            Err(RecvError::Timeout) => {
                return Err(IoError::TimedOut(args.timeout.unwrap_or_default()));
            }
            Err(e) => return Err(IoError::Recv(e)),
        }
        received += 1;
        let written = out
            .write_all(&msg)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush());
        match written {
            Ok(()) => {}
            // The reader of stdout is gone (`| head -1`): nothing left to do.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(IoError::Stdio("writing stdout", e)),
        }
    }
    Ok(())
}

/// Opens an end a [`SLICE`] at a time (`transport::Opening`), looking for
/// a signal between slices.
fn open_sliced<E>(opening: Result<transport::Opening<E>, ConnectError>) -> Result<E, IoError> {
    let mut opening = opening.map_err(IoError::Open)?;
    loop {
        if let Some(signal) = signals::caught() {
            return Err(IoError::Interrupted(signal));
        }
        if let Some(end) = opening.wait(SLICE).map_err(IoError::Open)? {
            return Ok(end);
        }
    }
}

/// `shmlane bridge`: the receiving end first (it may be the one that
/// listens or creates), then the sending end, then every message from one
/// to the other. Prints what it moved on stderr.
pub fn bridge(args: &BridgeArgs) -> Result<(), IoError> {
    let mut from = open_sliced(transport::Opening::receiver(&args.from))?;
    let mut to = open_sliced(transport::Opening::sender(&args.to))?;
    let mut interrupted = None;
    let moved = transport::bridge(&mut *from, &mut *to, SLICE, |stats| {
        interrupted = signals::caught();
        interrupted.is_none() && args.count.is_none_or(|count| stats.messages < count)
    });
    match moved {
        Ok((_, stats)) => {
            eprintln!(
                "shmlane bridge: {} messages, {} bytes from {} to {}",
                stats.messages,
                stats.bytes,
                from.endpoint(),
                to.endpoint()
            );
            interrupted.map_or(Ok(()), |signal| Err(IoError::Interrupted(signal)))
        }
        Err(e) => Err(IoError::Bridge(e)),
    }
}
