//! `shmlane send` and `shmlane recv` as a user runs them: two processes,
//! and real shell tools on the other end of a FIFO (`mkfifo`, `echo >`,
//! `cat`), as in the classic demo:
//!
//! ```text
//! mkfifo test; echo "this is a pipe" > test; cat < test
//! ```

mod common;

use std::io::Write;
use std::process::{Child, Command, Output, Stdio};

use common::{IpcName, TempPath, finish, shmlane, start, success};

/// Runs `sh -c script`, feeding nothing on stdin.
fn sh(script: &str) -> Output {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script).stdin(Stdio::null());
    finish(start(cmd), script)
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
    fifo.wait_until_made();
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
    let name = IpcName::mq("raw");
    let url = format!("mq:///{}?max=1024", name.name);
    // Whichever end comes first makes the queue; a message sent before
    // the receiver opens it waits there.
    let receiver = recv(&[&url, "--count", "1"]);
    success(
        &send(&["--raw", &url, "--timeout", "5"], b"line one\nline two\n"),
        "send",
    );
    let out = success(&finish(receiver, "recv"), "recv");
    assert_eq!(out.as_bytes(), b"line one\nline two\n\n");
}

#[test]
fn a_unix_socket_between_two_shmlane_processes() {
    let socket = TempPath::new("sock");
    let receiver = recv(&[&format!("unix://{}", socket.str()), "--count", "2"]);
    let url = format!("unix://{}?timeout_ms=30000", socket.str());
    success(&send(&[&url], b"hello\nworld\n"), "send");
    assert_eq!(success(&finish(receiver, "recv"), "recv"), "hello\nworld\n");
}

/// Issue 15, B9: `recv --serve` takes senders one after another and at
/// the same time, each one's lines in order, until `--count`.
#[test]
fn recv_serve_takes_many_senders_over_time() {
    let socket = TempPath::new("serve");
    let receiver = recv(&[
        &format!("unix://{}", socket.str()),
        "--serve",
        "--count",
        "8",
    ]);
    let url = format!("unix://{}?timeout_ms=30000", socket.str());
    success(&send(&[&url], b"a1\na2\n"), "first sender");
    success(&send(&[&url], b"b1\nb2\n"), "second sender");
    let together: Vec<Child> = ["c", "d"]
        .iter()
        .map(|who| {
            let mut cmd = shmlane();
            cmd.arg("send").arg(&url).stdin(Stdio::piped());
            let mut child = start(cmd);
            let lines = format!("{who}1\n{who}2\n");
            child
                .stdin
                .take()
                .expect("piped stdin")
                .write_all(lines.as_bytes())
                .unwrap();
            child
        })
        .collect();
    for child in together {
        success(&finish(child, "a concurrent sender"), "a concurrent sender");
    }
    let out = success(&finish(receiver, "recv --serve"), "recv --serve");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 8, "{out:?}");
    for who in ["a", "b", "c", "d"] {
        let mine: Vec<&&str> = lines.iter().filter(|l| l.starts_with(who)).collect();
        let first = format!("{who}1");
        let second = format!("{who}2");
        assert_eq!(mine, [&first.as_str(), &second.as_str()], "{out:?}");
    }
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
    fifo.wait_until_made();
    success(&send(&[&url], b"only one\n"), "send");
    let out = finish(receiver, "recv");
    assert!(!out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "only one\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("after 1 of 3"));
}

#[test]
fn the_demo_through_shared_memory_either_end_first() {
    // The receiver first, as in the FIFO demo: it creates the segment.
    let name = IpcName::shm("demo");
    let url = format!("shm://{}", name.name);
    let receiver = recv(&[&url]);
    success(
        &send(&[&url], b"this is shared memory\nand a second line\n"),
        "send",
    );
    let out = success(&finish(receiver, "recv"), "recv");
    assert_eq!(out, "this is shared memory\nand a second line\n");

    // The sender first: it creates the segment and waits for a receiver.
    let name = IpcName::shm("demo-sender-first");
    let url = format!("shm://{}", name.name);
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

/// Issue 15, item 1: `send --timeout` into a stream nobody drains fails,
/// naming what was handed to the kernel, instead of exiting 0 with the
/// message torn.
#[test]
fn a_timed_send_cut_short_is_an_error_not_a_torn_message() {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    let mut cmd = shmlane();
    cmd.args(["send", "--raw", "--timeout", "0.2", "pipe:?max=300000"])
        .stdin(Stdio::piped())
        .stdout(writer)
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the command starts");
    drop(cmd); // our copy of the write end
    // More than the pipe holds; nobody reads `reader` until the end.
    let _ = child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(&vec![b'x'; 200_000]);
    let out = finish(child, "shmlane send --timeout");
    drop(reader);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "exit 0 with a message cut short");
    assert!(
        stderr.contains("handed to the kernel") && stderr.contains("200004"),
        "{stderr}"
    );
}

/// Issue 15, item 8: `send --raw` stops reading stdin once it holds more
/// than the maximum message size, and says so, instead of reading all of
/// it first (here stdin never ends).
#[test]
fn raw_stdin_above_the_maximum_fails_without_reading_to_the_end() {
    let name = IpcName::mq("raw-limit");
    let url = format!("mq:///{}?max=1000", name.name);
    let mut cmd = shmlane();
    cmd.args(["send", "--raw", &url]).stdin(Stdio::piped());
    let mut child = start(cmd);
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(&[b'r'; 1001]).expect("the sender reads");
    // stdin stays open: only the limit can end the read.
    let out = finish(child, "shmlane send --raw");
    drop(stdin);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("maximum message size 1000") && stderr.contains("mq:///"),
        "{stderr}"
    );
}

/// `shmlane bridge unix://SOCKET TO`, its stderr (the counters) piped.
fn start_bridge(socket: &TempPath, to: &str) -> Child {
    let mut cmd = shmlane();
    cmd.args(["bridge", &format!("unix://{}", socket.str()), to])
        .stderr(Stdio::piped());
    start(cmd)
}

/// Issue 18: `shmlane bridge FROM TO` forwards between two mechanisms: a
/// Unix socket in, shared memory out, every line in order; on SIGINT it
/// stops cleanly (exit 130, its counters on stderr) and the end of the
/// stream reaches the receiver downstream, which exits 0.
#[test]
fn bridge_forwards_from_a_socket_into_shared_memory_and_stops_on_sigint() {
    let socket = TempPath::new("bridge-in");
    let name = IpcName::shm("bridge-out");
    let out_url = format!("shm://{}", name.name);
    let receiver = recv(&[&out_url]);
    let bridge = start_bridge(&socket, &out_url);
    let lines: String = (0..500)
        .map(|i| format!("tick {i} {}\n", i * 7919 % 1000))
        .collect();
    let url = format!("unix://{}?timeout_ms=30000", socket.str());
    success(&send(&[&url], lines.as_bytes()), "send");
    // The sender closed its connection: the source ended, so the bridge
    // drains, closes shm:// after the last line, and exits 0 by itself.
    let bridged = finish(bridge, "bridge");
    success(&bridged, "bridge");
    let stderr = String::from_utf8_lossy(&bridged.stderr);
    assert!(stderr.contains("500 messages"), "{stderr}");
    assert_eq!(success(&finish(receiver, "recv"), "recv"), lines);

    // A bridge with no end in sight stops on SIGINT, and says so.
    let socket = TempPath::new("bridge-sigint");
    let name = IpcName::shm("bridge-sigint-out");
    let out_url = format!("shm://{}", name.name);
    let receiver = recv(&[&out_url]);
    let bridge = start_bridge(&socket, &out_url);
    let mut cmd = shmlane();
    cmd.args(["send", &format!("unix://{}?timeout_ms=30000", socket.str())])
        .stdin(Stdio::piped());
    let mut sender = start(cmd);
    let mut stdin = sender.stdin.take().expect("piped stdin");
    stdin
        .write_all(b"first\nsecond\n")
        .expect("the sender reads stdin");
    stdin.flush().expect("flush");
    // Both lines through the bridge (read from the receiver's stdout)
    // before the signal.
    let mut receiver = receiver;
    let out = receiver.stdout.take().expect("piped stdout");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines() {
            if lines_tx.send(line.expect("utf-8 lines")).is_err() {
                return;
            }
        }
    });
    let limit = std::time::Duration::from_secs(30);
    assert_eq!(lines_rx.recv_timeout(limit).as_deref(), Ok("first"));
    assert_eq!(lines_rx.recv_timeout(limit).as_deref(), Ok("second"));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(bridge.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("signal the bridge");
    let stopped = finish(bridge, "bridge");
    assert_eq!(stopped.status.code(), Some(130), "{stopped:?}");
    let stderr = String::from_utf8_lossy(&stopped.stderr);
    assert!(stderr.contains("2 messages"), "{stderr}");
    // The bridge closed shm:// as it stopped: the receiver sees the end of
    // the stream and exits 0 with nothing more.
    success(&finish(receiver, "recv"), "recv");
    reader.join().expect("the stdout reader");
    assert!(lines_rx.try_recv().is_err(), "nothing after the two lines");
    drop(stdin);
    let _ = finish(sender, "send");
}

/// Issue 18: `shmlane bridge` from shared memory onto Zenoh and back, as
/// two hosts would run it (here two bridge processes over loopback TCP):
/// every line the sender wrote reaches the last receiver, in order, and
/// the end of the stream crosses both bridges.
#[cfg(feature = "zenoh")]
#[test]
fn bridge_carries_shared_memory_over_zenoh_and_back() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let key = format!("shmlane-test/{}/cli-bridge", std::process::id());
    let (a, b) = (IpcName::shm("zbridge-a"), IpcName::shm("zbridge-b"));
    let (a_url, b_url) = (format!("shm://{}", a.name), format!("shm://{}", b.name));
    let receiver = recv(&[&b_url]);
    // Host 2: subscribes (its session listens) and forwards into shm://b.
    let mut host2 = shmlane();
    host2
        .args([
            "bridge",
            &format!("zenoh://{key}?listen=tcp/127.0.0.1:{port}"),
            &b_url,
        ])
        .stderr(Stdio::piped());
    let host2 = start(host2);
    // Host 1: forwards shm://a onto the key.
    let mut host1 = shmlane();
    host1
        .args([
            "bridge",
            &a_url,
            &format!("zenoh://{key}?connect=tcp/127.0.0.1:{port}&timeout_ms=30000"),
        ])
        .stderr(Stdio::piped());
    let host1 = start(host1);
    let lines: String = (0..300)
        .map(|i| format!("tick {i} {}\n", i * 31 % 97))
        .collect();
    success(&send(&[&a_url], lines.as_bytes()), "send");
    for (host, name) in [(host1, "bridge to zenoh"), (host2, "bridge from zenoh")] {
        let out = finish(host, name);
        success(&out, name);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("300 messages"), "{name}: {stderr}");
    }
    assert_eq!(success(&finish(receiver, "recv"), "recv"), lines);
}
