//! What the integration tests of the `shmlane` command share: running it
//! under a watchdog, unique names for the files and kernel objects a test
//! makes (removed even when the test fails), and for the benchmark tests
//! the lock that keeps them from running at once and the parsed `--json`
//! and `--list` output.
//!
//! Each test crate uses its own part of this module.
#![allow(dead_code)]

use std::fs::{File, TryLockError};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

#[path = "../../src/bench/json_row.rs"]
mod json_row;
pub use json_row::JsonRow;

/// Longest a send/recv/shell command of the tests may run.
pub const COMMAND_LIMIT: Duration = Duration::from_secs(60);

/// Longest one `shmlane bench` run of the tests may take. Its own watchdogs
/// end a stuck spin in 10 s; a stuck blocking call would wait for ever.
pub const BENCH_LIMIT: Duration = Duration::from_secs(300);

/// The built `shmlane` binary, ready for arguments.
pub fn shmlane() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shmlane"))
}

/// Starts `cmd` with stdout and stderr captured (stdin as the caller set).
pub fn start(mut cmd: Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts")
}

/// Waits for `child` and returns its output; the watchdog fails the test
/// past [`COMMAND_LIMIT`] (see [`finish_within`]).
pub fn finish(child: Child, what: &str) -> Output {
    finish_within(child, what, COMMAND_LIMIT)
}

/// Waits for `child` and returns its output. Past `limit` the watchdog
/// kills it (a `shmlane bench` child dies with it) and fails the test,
/// showing what the command had printed.
pub fn finish_within(child: Child, what: &str, limit: Duration) -> Output {
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("a pid fits in i32"));
    let (done_tx, done_rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let _ = done_tx.send(child.wait_with_output());
    });
    let output = match done_rx.recv_timeout(limit) {
        Ok(output) => output,
        Err(_) => {
            let _ = kill(pid, Signal::SIGKILL);
            let printed = done_rx
                .recv()
                .ok()
                .and_then(Result::ok)
                .map_or_else(String::new, |o| {
                    format!(
                        "stdout:\n{}\nstderr:\n{}",
                        String::from_utf8_lossy(&o.stdout),
                        String::from_utf8_lossy(&o.stderr)
                    )
                });
            panic!(
                "{what} did not finish within {} s (a blocking call hung?); killed. {printed}",
                limit.as_secs()
            );
        }
    };
    waiter.join().expect("the waiting thread does not panic");
    output.expect("waiting for the command")
}

/// Asserts that the command succeeded and returns its stdout as text.
pub fn success(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed ({:?}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("text output")
}

/// `shmlane-test-<pid>-<counter>-<what>`: unique to this process and call.
pub fn unique_name(what: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("shmlane-test-{}-{n}-{what}", std::process::id())
}

/// A unique path in the temp dir, removed on drop.
pub struct TempPath(pub PathBuf);

impl TempPath {
    pub fn new(what: &str) -> Self {
        Self(std::env::temp_dir().join(unique_name(what)))
    }

    pub fn str(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temp path")
    }

    /// Waits until the path exists (a receiver made its FIFO or socket),
    /// failing the test past [`COMMAND_LIMIT`].
    pub fn wait_until_made(&self) {
        let start = Instant::now();
        while !self.0.exists() {
            assert!(
                start.elapsed() < COMMAND_LIMIT,
                "{} never appeared",
                self.str()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A unique name for a POSIX shared-memory segment or message queue,
/// unlinked on drop.
pub struct IpcName {
    /// Without the leading `/`.
    pub name: String,
    unlink: fn(&str),
}

impl IpcName {
    /// For `shm://<name>`.
    pub fn shm(what: &str) -> Self {
        Self {
            name: unique_name(what),
            unlink: |name| {
                let _ = nix::sys::mman::shm_unlink(format!("/{name}").as_str());
            },
        }
    }

    /// For `mq:///<name>`.
    pub fn mq(what: &str) -> Self {
        Self {
            name: unique_name(what),
            unlink: |name| {
                let _ = shmlane::transport::mq::unlink(&format!("/{name}"));
            },
        }
    }
}

impl Drop for IpcName {
    fn drop(&mut self) {
        (self.unlink)(&self.name);
    }
}

/// Held while a test runs benchmark cases. The cases pin two processes to
/// cores 0 and 1 and spin, so two at once would measure each other; a
/// file lock keeps them apart across the test threads of one binary and
/// across test binaries sharing the target directory.
pub struct BenchLock(File);

/// How long [`bench_lock`] waits for another test's runs to end; longer
/// than any one holder can hold it (its runs are bounded by [`BENCH_LIMIT`]).
const BENCH_LOCK_WAIT: Duration = Duration::from_secs(900);

/// Takes the benchmark lock, waiting for other bench tests to finish.
pub fn bench_lock() -> BenchLock {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("shmlane-bench-tests.lock");
    let file = File::create(&path).expect("the bench lock file opens");
    let start = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return BenchLock(file),
            Err(TryLockError::WouldBlock) => {
                assert!(
                    start.elapsed() < BENCH_LOCK_WAIT,
                    "{} stayed locked for {} s: another bench test is stuck",
                    path.display(),
                    BENCH_LOCK_WAIT.as_secs()
                );
                thread::sleep(Duration::from_millis(50));
            }
            Err(TryLockError::Error(e)) => panic!("locking {}: {e}", path.display()),
        }
    }
}

/// Runs `shmlane <args>` under the watchdog, with [`BENCH_LIMIT`].
pub fn run_bench(args: &[&str]) -> Output {
    let mut cmd = shmlane();
    cmd.args(args).stdin(Stdio::null());
    finish_within(
        start(cmd),
        &format!("shmlane {}", args.join(" ")),
        BENCH_LIMIT,
    )
}

/// Runs `shmlane bench --json <args>` (hold [`bench_lock`]), checks that it
/// succeeded, and parses every line of its stdout into a [`JsonRow`].
pub fn json_run(args: &[&str]) -> Vec<JsonRow> {
    let all: Vec<&str> = ["bench", "--json"].iter().chain(args).copied().collect();
    let out = run_bench(&all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "shmlane {} failed: {}\n{stdout}",
        all.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e} in --json line {line}"))
        })
        .collect()
}

/// One line of `shmlane bench --list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedCase {
    pub name: String,
    pub peers: String,
    pub sizes: Vec<usize>,
    /// `None` for a case without a ratio (`-`).
    pub ratio_to: Option<String>,
}

/// Every registered case, in the order they run, from `shmlane bench --list`.
pub fn bench_list() -> Vec<ListedCase> {
    let out = run_bench(&["bench", "--list"]);
    let stdout = success(&out, "shmlane bench --list");
    stdout
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [name, peers, sizes, ratio_to] = fields.as_slice() else {
                panic!("not four columns: {line}");
            };
            ListedCase {
                name: (*name).to_string(),
                peers: (*peers).to_string(),
                sizes: sizes
                    .split(',')
                    .map(|s| s.parse().expect("a size is a number"))
                    .collect(),
                ratio_to: (*ratio_to != "-").then(|| (*ratio_to).to_string()),
            }
        })
        .collect()
}
