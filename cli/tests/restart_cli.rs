//! `shmlane send` and `shmlane recv` over `shm://` around crashes and
//! signals (issue 13): a signal detaches cleanly and removes what the
//! command made, `--timeout` bounds the wait for a receiver, a new session
//! never sees a dead one's messages, and a crashed sender is told apart
//! from one that finished (exit status 4).

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{IpcName, finish, shmlane, start, success};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn pid(child: &Child) -> Pid {
    Pid::from_raw(i32::try_from(child.id()).expect("a pid fits in i32"))
}

fn exists(name: &IpcName) -> bool {
    Path::new(&format!("/dev/shm/{}", name.name)).exists()
}

/// Waits (bounded) until `done` holds.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what}: not within 20 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The consumer of `name` is attached (its row says so, with a pid).
fn receiver_attached(name: &IpcName) -> bool {
    shmlane::registry::inspect(&name.name).is_ok_and(|entry| {
        entry.segment().is_some_and(|s| {
            s.endpoints
                .iter()
                .any(|e| e.role == Some("consumer") && e.alive == Some(true))
        })
    })
}

fn recv(args: &[&str]) -> Child {
    let mut cmd = shmlane();
    cmd.arg("recv").args(args).stdin(Stdio::null());
    start(cmd)
}

/// `send URL ARGS` whose stdin the caller writes and closes.
fn sender(args: &[&str]) -> Child {
    let mut cmd = shmlane();
    cmd.arg("send").args(args).stdin(Stdio::piped());
    start(cmd)
}

fn demo_works(url: &str) {
    let receiver = recv(&[url, "--count", "1", "--timeout", "20"]);
    let mut tx = sender(&[url, "--timeout", "20"]);
    tx.stdin
        .take()
        .expect("stdin")
        .write_all(b"hi\n")
        .expect("write");
    assert_eq!(success(&finish(receiver, "recv"), "recv"), "hi\n");
    success(&finish(tx, "send"), "send");
}

#[test]
fn a_signal_stops_recv_cleanly_and_the_demo_works_again() {
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        let name = IpcName::shm("sig-recv");
        let url = format!("shm://{}", name.name);
        let receiver = recv(&[&url]);
        wait_for("the receiver attaches", || receiver_attached(&name));
        kill(pid(&receiver), signal).expect("signal");
        let out = finish(receiver, "recv");
        assert_eq!(
            out.status.code(),
            Some(128 + signal as i32),
            "{signal}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!exists(&name), "{signal}: the receiver left its segment");
        demo_works(&url);
        assert!(!exists(&name), "the demo left its segment");
    }
}

#[test]
fn send_timeout_bounds_the_wait_for_a_receiver() {
    let name = IpcName::shm("send-timeout");
    let url = format!("shm://{}", name.name);
    let mut tx = sender(&[&url, "--timeout", "0.3"]);
    let _ = tx.stdin.take().expect("stdin").write_all(b"hi\n");
    let out = finish(tx, "send with nobody receiving");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("receiver"), "{stderr}");
    assert!(!exists(&name), "the sender left the segment it made");
}

#[test]
fn a_new_session_never_receives_a_dead_sessions_messages() {
    let name = IpcName::shm("dead-session");
    let url = format!("shm://{}", name.name);
    // A receiver that stops reading, a sender whose message stays in the
    // ring, and then the receiver is SIGKILLed: the session is dead.
    let old_receiver = recv(&[&url]);
    wait_for("the receiver attaches", || receiver_attached(&name));
    kill(pid(&old_receiver), Signal::SIGSTOP).expect("stop");
    let mut tx = sender(&[&url, "--timeout", "20"]);
    tx.stdin
        .take()
        .expect("stdin")
        .write_all(b"old\n")
        .expect("write");
    success(&finish(tx, "send old"), "send old");
    kill(pid(&old_receiver), Signal::SIGKILL).expect("kill");
    let _ = finish(old_receiver, "killed recv");
    assert!(exists(&name), "the dead session's segment is there");

    let receiver = recv(&[&url, "--count", "1", "--timeout", "20"]);
    let mut tx = sender(&[&url, "--timeout", "20"]);
    tx.stdin
        .take()
        .expect("stdin")
        .write_all(b"new\n")
        .expect("write");
    assert_eq!(success(&finish(receiver, "recv"), "recv"), "new\n");
    success(&finish(tx, "send new"), "send new");
    assert!(!exists(&name));
}

#[test]
fn recv_tells_a_crashed_sender_from_one_that_finished() {
    let name = IpcName::shm("crashed-sender");
    let url = format!("shm://{}", name.name);
    let receiver = recv(&[&url]);
    wait_for("the receiver attaches", || receiver_attached(&name));
    let mut tx = sender(&[&url]);
    let mut stdin = tx.stdin.take().expect("stdin");
    stdin.write_all(b"one\n").expect("write");
    wait_for("the message is received", || {
        shmlane::registry::inspect(&name.name)
            .is_ok_and(|e| e.segment().is_some_and(|s| s.counters.pops > 0))
    });
    kill(pid(&tx), Signal::SIGKILL).expect("kill the sender");
    let _ = finish(tx, "killed send");
    drop(stdin);
    let out = finish(receiver, "recv");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\n");
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        !exists(&name),
        "the receiver, last out, removes the segment"
    );
}
