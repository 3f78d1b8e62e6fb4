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
//! messages, or `--timeout` seconds without one.

use std::fmt;
use std::io::{self, BufRead, Read, Write};
use std::time::Duration;

use clap::Args;
use shmlane::transport::{self, ConnectError, RecvError, SendError};

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
    /// Fail when a message finds no room in the channel within S seconds
    /// (default: wait as long as it takes).
    #[arg(long, value_name = "S", value_parser = parse_timeout)]
    timeout: Option<Duration>,
}

/// Options of `shmlane recv`.
#[derive(Debug, Args)]
pub struct RecvArgs {
    /// Where to receive from (as for send; pipe: is stdin). On a socket URL
    /// recv listens and accepts one connection (?role=connect connects).
    url: String,
    /// Stop after N messages (fails if the sender ends before).
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Fail when no message arrives within S seconds (default: wait as
    /// long as it takes).
    #[arg(long, value_name = "S", value_parser = parse_timeout)]
    timeout: Option<Duration>,
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
        }
    }
}

impl std::error::Error for IoError {}

/// `shmlane send`.
pub fn send(args: &SendArgs) -> Result<(), IoError> {
    let mut tx = transport::sender(&args.url).map_err(IoError::Open)?;
    let (max, endpoint) = (tx.max_message_size(), tx.endpoint().to_owned());
    let mut send = |msg: &[u8]| {
        match args.timeout {
            Some(t) => tx.send_timeout(msg, t),
            None => tx.send(msg),
        }
        .map_err(IoError::Send)
    };
    let stdin = io::stdin();
    let mut stdin = stdin.lock();
    if args.raw {
        // At most one byte past the maximum: enough to know it is too
        // long without reading an endless stdin to its end.
        let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
        let mut all = Vec::new();
        (&mut stdin)
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
        send(&all)?;
    } else {
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = stdin
                .read_until(b'\n', &mut line)
                .map_err(|e| IoError::Stdio("reading stdin", e))?;
            if n == 0 {
                break;
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            send(&line)?;
        }
    }
    // Everything accepted, and the end of stream, reached the channel (or
    // the exit status says it did not).
    match args.timeout {
        Some(t) => tx.close_timeout(t),
        None => tx.close(),
    }
    .map_err(IoError::Send)
}

/// `shmlane recv`.
pub fn recv(args: &RecvArgs) -> Result<(), IoError> {
    let mut rx = transport::receiver(&args.url).map_err(IoError::Open)?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut msg = Vec::new();
    let mut received = 0u64;
    while args.count.is_none_or(|count| received < count) {
        let result = match args.timeout {
            Some(t) => rx.recv_timeout(&mut msg, t),
            None => rx.recv(&mut msg),
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
