//! `shmlane send` and `shmlane recv` as a user runs them: two processes,
//! and real shell tools on the other end of a FIFO (`mkfifo`, `echo >`,
//! `cat`), as in the classic demo:
//!
//! ```text
//! mkfifo test; echo "this is a pipe" > test; cat < test
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Longest any command of these tests may run.
const LIMIT: Duration = Duration::from_secs(60);

fn shmlane() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shmlane"))
}

/// Starts `cmd` with stdout and stderr captured (stdin as given).
fn start(mut cmd: Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts")
}

/// Waits for `child`, killing it and failing the test past [`LIMIT`].
fn finish(child: Child, what: &str) -> Output {
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("a pid fits in i32"));
    let (done_tx, done_rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let _ = done_tx.send(child.wait_with_output());
    });
    match done_rx.recv_timeout(LIMIT) {
        Ok(output) => {
            waiter.join().expect("the waiting thread does not panic");
            output.expect("waiting for the command")
        }
        Err(_) => {
            let _ = kill(pid, Signal::SIGKILL);
            panic!("{what} did not finish within {LIMIT:?}; killed");
        }
    }
}

fn success(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed ({:?}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("text output")
}

/// Runs `sh -c script`, feeding nothing on stdin.
fn sh(script: &str) -> Output {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script).stdin(Stdio::null());
    finish(start(cmd), script)
}

/// A unique path in the temp dir, removed on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(what: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        Self(std::env::temp_dir().join(format!("shmlane-test-{}-{n}-{what}", std::process::id())))
    }

    fn str(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temp path")
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Waits until `path` exists (a receiver made its FIFO or socket).
fn wait_for(path: &TempPath) {
    let start = Instant::now();
    while !path.0.exists() {
        assert!(start.elapsed() < LIMIT, "{} never appeared", path.str());
        thread::sleep(Duration::from_millis(5));
    }
}

/// `send URL` with `input` on stdin, run to the end.
fn send(args: &[&str], input: &[u8]) -> Output {
    let mut cmd = shmlane();
    cmd.arg("send").args(args).stdin(Stdio::piped());
    let mut child = start(cmd);
    // A send that fails at open exits without reading its stdin.
    let _ = child.stdin.take().expect("piped stdin").write_all(input);
    finish(child, &format!("shmlane send {}", args.join(" ")))
}

fn recv(args: &[&str]) -> Child {
    let mut cmd = shmlane();
    cmd.arg("recv").args(args).stdin(Stdio::null());
    start(cmd)
}

#[test]
fn the_fifo_demo_between_two_shmlane_processes() {
    let fifo = TempPath::new("test");
    let url = format!("fifo://{}", fifo.str());
    let receiver = recv(&[&url]);
    wait_for(&fifo);
    success(
        &send(&[&url], b"this is a pipe\nand a second line\n"),
        "send",
    );
    let out = success(&finish(receiver, "recv"), "recv");
    assert_eq!(out, "this is a pipe\nand a second line\n");
    assert!(!fifo.0.exists(), "the FIFO's maker removed it");
}

#[test]
fn echo_into_a_fifo_is_read_by_shmlane_recv() {
    let fifo = TempPath::new("echo");
    success(&sh(&format!("mkfifo '{}'", fifo.str())), "mkfifo");
    let receiver = recv(&[&format!("fifo://{}?framing=lines", fifo.str())]);
    // One open of the FIFO for both lines: each `echo > fifo` would be a
    // writer coming and going, and the first going ends the stream.
    success(
        &sh(&format!(
            "{{ echo 'this is a pipe'; echo 'IPC 进程间通信'; }} > '{}'",
            fifo.str()
        )),
        "echo",
    );
    let out = success(&finish(receiver, "recv"), "recv");
    assert_eq!(out, "this is a pipe\nIPC 进程间通信\n");
    assert!(fifo.0.exists(), "a FIFO made by mkfifo is left alone");
}

#[test]
fn shmlane_send_into_a_fifo_is_read_by_cat() {
    let fifo = TempPath::new("cat");
    success(&sh(&format!("mkfifo '{}'", fifo.str())), "mkfifo");
    let mut cat = Command::new("cat");
    cat.arg(fifo.str()).stdin(Stdio::null());
    let cat = start(cat);
    let url = format!("fifo://{}?framing=lines", fifo.str());
    success(&send(&[&url], b"this is a pipe\nline two"), "send");
    let out = success(&finish(cat, "cat"), "cat");
    assert_eq!(out, "this is a pipe\nline two\n");
}

#[test]
fn a_shell_pipe_carries_framed_messages() {
    let bin = env!("CARGO_BIN_EXE_shmlane");
    let out = sh(&format!(
        "printf 'one\\n\\ntwo\\n' | '{bin}' send pipe: | '{bin}' recv pipe:"
    ));
    assert_eq!(success(&out, "pipeline"), "one\n\ntwo\n");
}

#[test]
fn raw_stdin_is_one_message_through_a_queue() {
    let name = format!("/shmlane-test-{}-raw", std::process::id());
    let url = format!("mq://{name}?max=1024");
    // Whichever end comes first makes the queue; a message sent before
    // the receiver opens it waits there.
    let receiver = recv(&[&url, "--count", "1"]);
    success(
        &send(&["--raw", &url, "--timeout", "5"], b"line one\nline two\n"),
        "send",
    );
    let out = success(&finish(receiver, "recv"), "recv");
    assert_eq!(out.as_bytes(), b"line one\nline two\n\n");
    let _ = shmlane::transport::mq::unlink(&name);
}

#[test]
fn a_unix_socket_between_two_shmlane_processes() {
    let socket = TempPath::new("sock");
    let receiver = recv(&[&format!("unix://{}", socket.str()), "--count", "2"]);
    let url = format!("unix://{}?timeout_ms=30000", socket.str());
    success(&send(&[&url], b"hello\nworld\n"), "send");
    assert_eq!(success(&finish(receiver, "recv"), "recv"), "hello\nworld\n");
}

#[test]
fn recv_times_out_and_bad_urls_say_what_is_wrong() {
    let fifo = TempPath::new("quiet");
    let out = finish(
        recv(&[&format!("fifo://{}", fifo.str()), "--timeout", "0.05"]),
        "recv",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no message within"));

    let out = send(&["pigeon://nope"], b"x\n");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown scheme") && stderr.contains("pigeon"),
        "{stderr}"
    );

    let out = send(&["mq://no-slash"], b"x\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("mq:///no-slash"));
}

#[test]
fn recv_count_fails_when_the_sender_ends_early() {
    let fifo = TempPath::new("short");
    let url = format!("fifo://{}", fifo.str());
    let receiver = recv(&[&url, "--count", "3"]);
    wait_for(&fifo);
    success(&send(&[&url], b"only one\n"), "send");
    let out = finish(receiver, "recv");
    assert!(!out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "only one\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("after 1 of 3"));
}

/// A unique shared-memory segment name, removed at the end whatever
/// happens.
struct ShmName(String);

impl ShmName {
    fn new(test: &str) -> Self {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self(format!("shmlane-test-{}-{n}-{test}", std::process::id()))
    }
}

impl Drop for ShmName {
    fn drop(&mut self) {
        let _ = nix::sys::mman::shm_unlink(format!("/{}", self.0).as_str());
    }
}

#[test]
fn the_demo_through_shared_memory_either_end_first() {
    // The receiver first, as in the FIFO demo: it creates the segment.
    let name = ShmName::new("demo");
    let url = format!("shm://{}", name.0);
    let receiver = recv(&[&url]);
    success(
        &send(&[&url], b"this is shared memory\nand a second line\n"),
        "send",
    );
    let out = success(&finish(receiver, "recv"), "recv");
    assert_eq!(out, "this is shared memory\nand a second line\n");

    // The sender first: it creates the segment and waits for a receiver.
    let name = ShmName::new("demo-sender-first");
    let url = format!("shm://{}", name.0);
    let mut cmd = shmlane();
    cmd.arg("send").arg(&url).stdin(Stdio::piped());
    let mut sender = start(cmd);
    sender
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(b"one\ntwo\n")
        .expect("the sender reads its stdin");
    let receiver = recv(&[&url, "--count", "2"]);
    assert_eq!(success(&finish(receiver, "recv"), "recv"), "one\ntwo\n");
    success(&finish(sender, "send"), "send");
}
