//! Why a benchmark could not run or was aborted.

use std::fmt;

use nix::errno::Errno;

/// Every way `shmlane bench` can fail; `Display` says what to do about it
/// where there is something to do.
#[derive(Debug)]
pub enum BenchError {
    /// The command line asks for something the benchmark cannot do.
    Usage(String),
    /// A system call failed.
    Os { op: String, errno: Errno },
    /// The shmlane library returned an error.
    Lib(String),
    /// A waiting side saw no progress for the watchdog's whole period.
    Stalled { what: &'static str, secs: u64 },
    /// The peer (process or thread) ended while this side still waited on it.
    PeerGone { what: &'static str },
    /// The consumer received a value other than the next in sequence.
    Mismatch { expected: u64, got: u64 },
    /// The consumer counted a different number of messages than were sent.
    Lost { sent: u64, received: u64 },
    /// The peer process or thread failed; the text says how.
    Peer(String),
    /// Writing a `--plot` file failed.
    Plot(String),
    /// These cases (comma-separated) failed; each error was printed.
    Failed(String),
    /// Another error, while running the named case.
    Case {
        case: &'static str,
        source: Box<BenchError>,
    },
}

impl BenchError {
    /// A failed system call, for `map_err`.
    pub fn os(op: impl Into<String>) -> impl FnOnce(Errno) -> Self {
        let op = op.into();
        move |errno| Self::Os { op, errno }
    }

    /// A shmlane library error, for `map_err`.
    pub fn lib(e: impl fmt::Display) -> Self {
        Self::Lib(e.to_string())
    }

    /// The exit status of the command: 2 for a bad command line (nothing
    /// ran), 1 for anything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            _ => 1,
        }
    }

    /// This error, as having happened while running `case`.
    pub fn in_case(self, case: &'static str) -> Self {
        Self::Case {
            case,
            source: Box::new(self),
        }
    }
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(msg) => f.write_str(msg),
            Self::Os { op, errno } => write!(f, "{op} failed: {}", errno.desc()),
            Self::Lib(msg) => write!(f, "shmlane: {msg}"),
            Self::Stalled { what, secs } => write!(
                f,
                "no progress for {secs} s while {what}: the peer is stuck or starved; aborted"
            ),
            Self::PeerGone { what } => write!(f, "the peer ended while {what}"),
            Self::Mismatch { expected, got } => {
                write!(
                    f,
                    "stream out of order: expected {expected}, received {got}"
                )
            }
            Self::Lost { sent, received } => write!(
                f,
                "the consumer counted {received} messages, the producer sent {sent}"
            ),
            Self::Peer(msg) => f.write_str(msg),
            Self::Plot(msg) => write!(f, "cannot write the plot {msg}"),
            Self::Failed(cases) => write!(f, "failed cases: {cases} (errors above)"),
            Self::Case { case, source } => write!(f, "case {case}: {source}"),
        }
    }
}

impl std::error::Error for BenchError {}
