//! Support shared by the transport tests (`tests/transport_*.rs`): names
//! of kernel objects that are unique to one process and call and removed
//! whatever happens to the test, forked children whose failure shows in the
//! parent's, and checks that a timeout really waited.
//!
//! `fork_reporting` builds on `common::fork_child`; the panic report
//! through a pipe would serve every forking test, so it belongs in
//! `tests/common` once that file is free to change.

#![allow(dead_code, reason = "each test binary uses a different subset")]
// Name counters in test support have nothing for loom to model.
#![allow(clippy::disallowed_types, reason = "test support, not ring code")]

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use shmlane::transport::{mq, sysv_mq};

use crate::common;

/// `shmlane-test-PID-N-WHAT`: unique to this process and call.
pub fn unique(what: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("shmlane-test-{}-{n}-{what}", std::process::id())
}

/// A unique path under the temp dir (a FIFO, a socket file), removed on
/// drop.
pub struct TempPath(pub PathBuf);

impl TempPath {
    pub fn new(what: &str) -> Self {
        Self(std::env::temp_dir().join(unique(what)))
    }

    /// The path as a URL writes it.
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.0.display())
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A unique POSIX queue name (`/shmlane-test-...`), unlinked on drop.
pub struct QueueName(pub String);

impl QueueName {
    pub fn new(what: &str) -> Self {
        Self(format!("/{}", unique(what)))
    }
}

impl Drop for QueueName {
    fn drop(&mut self) {
        let _ = mq::unlink(&self.0);
    }
}

/// A System V key unique to this process and call, its queue removed on
/// drop. The bits do not overlap: `01` on top (a positive key, never
/// `IPC_PRIVATE`), then the pid in 22 bits (Linux pids stay below
/// 2^22, `PID_MAX_LIMIT`), then a per-process counter in 8.
pub struct SysvKey(pub i32);

impl SysvKey {
    const PID_BITS: u32 = 22;
    const COUNTER_BITS: u32 = 8;

    pub fn new() -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        assert!(
            n < 1 << Self::COUNTER_BITS,
            "more System V test keys than the key layout holds"
        );
        let pid = std::process::id();
        assert!(pid < 1 << Self::PID_BITS, "pid {pid} above PID_MAX_LIMIT");
        let key = (1 << (Self::PID_BITS + Self::COUNTER_BITS)) | (pid << Self::COUNTER_BITS) | n;
        let key = i32::try_from(key).expect("30 bits fit in a key_t");
        // A queue left by a dead test process of the same pid.
        let _ = sysv_mq::remove(key);
        Self(key)
    }
}

impl Drop for SysvKey {
    fn drop(&mut self) {
        let _ = sysv_mq::remove(self.0);
    }
}

/// A forked child whose panic message the parent can read: the child's
/// panic hook writes it to a pipe, since libtest's output capture (still
/// set in the forked child) would swallow it.
pub struct ReportingChild {
    child: common::Child,
    report: File,
}

/// Forks a child that runs `body`; it fails by panicking, and its panic
/// message (with location) is what [`ReportingChild::finish`] and
/// [`ReportingChild::kill`] give back.
pub fn fork_reporting(body: impl FnOnce()) -> ReportingChild {
    let (report, report_in_child) = nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe2");
    // The child's body only: the parent drops it (and so its copy of the
    // write end) when fork_child returns, so the child's is the only one.
    let child = common::fork_child(move || {
        let report = File::from(report_in_child);
        std::panic::set_hook(Box::new(move |info| {
            let _ = writeln!(&report, "{info}");
        }));
        body();
        0
    });
    ReportingChild {
        child,
        report: File::from(report),
    }
}

impl ReportingChild {
    /// Waits up to `limit` for the child: `Err` with its exit code and its
    /// report unless it exited 0.
    pub fn finish(self, limit: Duration) -> Result<(), String> {
        let code = self.child.wait(limit);
        let report = read_report(self.report);
        if code == 0 {
            Ok(())
        } else {
            Err(format!("the child exited with {code}: {report}"))
        }
    }

    /// Kills the child (the parent failed first) and returns what it
    /// reported until then.
    pub fn kill(self) -> String {
        self.child.kill();
        read_report(self.report)
    }
}

/// What a reaped child wrote to its report pipe. Read without blocking:
/// another test's child forked meanwhile may hold a copy of the write end,
/// so the end of the pipe may be far off, but this child's words are in
/// the pipe already.
fn read_report(mut report: File) -> String {
    fcntl(report.as_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).expect("O_NONBLOCK");
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match report.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break, // WouldBlock: all it wrote is read
        }
    }
    match String::from_utf8_lossy(&bytes).trim_end() {
        "" => "(it reported nothing)".to_owned(),
        text => text.to_owned(),
    }
}

/// Fails the test unless both the parent's side and the child succeeded,
/// with both sides' failures in the message. A parent that failed kills
/// the child rather than wait for it.
#[track_caller]
pub fn assert_both_succeed(parent: Result<(), String>, child: ReportingChild, limit: Duration) {
    match parent {
        Ok(()) => {
            if let Err(child_failure) = child.finish(limit) {
                panic!("{child_failure}");
            }
        }
        Err(parent_failure) => {
            let report = child.kill();
            panic!("{parent_failure}\nthe child reported: {report}");
        }
    }
}

/// Runs `call`, returning its result and how long it took.
pub fn timed<T>(call: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let result = call();
    (result, start.elapsed())
}

/// A call that timed out must have waited its timeout: a lower bound,
/// which no slow machine can break.
#[track_caller]
pub fn assert_waited(took: Duration, timeout: Duration, what: &str) {
    assert!(
        took >= timeout,
        "{what} timed out after {took:?}, before its timeout of {timeout:?}"
    );
}

/// Whether this process's thread `tid` is blocked in a sleep
/// (`nanosleep`/`clock_nanosleep`), as `/proc/self/task/TID/syscall`
/// shows: its first field is the number of the syscall a blocked thread is
/// in (`running` for a running one).
pub fn thread_is_sleeping(tid: nix::unistd::Pid) -> bool {
    let path = format!("/proc/self/task/{tid}/syscall");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let syscall = text
        .split_whitespace()
        .next()
        .and_then(|n| n.parse::<libc::c_long>().ok());
    matches!(syscall, Some(n) if n == libc::SYS_nanosleep || n == libc::SYS_clock_nanosleep)
}
