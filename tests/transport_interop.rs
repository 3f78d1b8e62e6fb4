//! shmlane on one end, a program nobody here wrote on the other: Python's
//! `socket` module as the peer of `unix://` and `tcp://` in both framings,
//! and Python's `ctypes` over `mq_open`/`mq_send`/`mq_receive` as the peer
//! of `mq://`, each in both directions. (The shell tools, `echo > fifo`
//! and `cat`, are driven against the `shmlane` command in the cli
//! package's tests.)
#![cfg(not(any(miri, shmlane_loom)))]

mod common;
mod transport_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::Watchdog;
use shmlane::transport::{self, Config, Receiver, RecvError, Sender, mq};
use transport_support::{QueueName, TempPath};

const LIMIT: Duration = Duration::from_secs(30);

/// Starts `python3 -c script args...` with piped stdin and stdout.
fn python(script: &str, args: &[&str]) -> Child {
    Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 runs (the interop tests need it on PATH)")
}

/// Waits for the Python peer and returns its stdout; fails on an error
/// exit.
fn finish(child: Child) -> String {
    let out = child.wait_with_output().expect("waiting for python3");
    assert!(out.status.success(), "python3 failed: {:?}", out.status);
    String::from_utf8(out.stdout).expect("python prints text")
}

/// Messages as both framings can carry them (lines: no newline).
fn text_messages() -> Vec<Vec<u8>> {
    vec![
        b"this is a pipe".to_vec(),
        Vec::new(),
        "\u{8fdb}\u{7a0b}\u{95f4}\u{901a}\u{4fe1}"
            .as_bytes()
            .to_vec(),
        b"x".repeat(3000),
    ]
}

/// Messages only the length framing carries.
fn binary_messages() -> Vec<Vec<u8>> {
    let mut all = text_messages();
    all.push(vec![0, 10, 255, 13, 10, 0]);
    all.push((0..=255u8).collect());
    all
}

fn messages(framing: &str) -> Vec<Vec<u8>> {
    if framing == "lines" {
        text_messages()
    } else {
        binary_messages()
    }
}

fn hex(msgs: &[Vec<u8>]) -> String {
    msgs.iter()
        .map(|m| m.iter().map(|b| format!("{b:02x}")).collect::<String>() + "\n")
        .collect()
}

/// Python helpers: framing on a socket, messages as hex lines.
const SOCKET_LIB: &str = r#"
import socket, struct, sys
def connect(kind, where):
    if kind == "unix":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(where)
    else:
        host, port = where.rsplit(":", 1)
        s = socket.create_connection((host, int(port)))
    return s
def send_all(s, framing, msgs):
    if framing == "lines":
        s.sendall(b"".join(m + b"\n" for m in msgs))
    else:
        s.sendall(b"".join(struct.pack("!I", len(m)) + m for m in msgs))
def read_all(s):
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk
def parse(framing, data):
    if framing == "lines":
        return data.split(b"\n")[:-1]
    msgs = []
    while data:
        (n,) = struct.unpack("!I", data[:4]); msgs.append(data[4:4 + n]); data = data[4 + n:]
    return msgs
"#;

/// Python connects and sends the hex messages from its stdin.
const PY_CLIENT_SENDS: &str = r#"
kind, where, framing = sys.argv[1:4]
msgs = [bytes.fromhex(l.strip()) for l in sys.stdin.read().splitlines()]
s = connect(kind, where)
send_all(s, framing, msgs)
s.close()
"#;

/// Python listens, prints where, accepts one connection, reads it to the
/// end, prints each message as hex.
const PY_SERVER_RECEIVES: &str = r#"
kind, where, framing = sys.argv[1:4]
if kind == "unix":
    l = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); l.bind(where)
    print(where, flush=True)
else:
    l = socket.socket(); l.bind(("127.0.0.1", 0))
    print("127.0.0.1:%d" % l.getsockname()[1], flush=True)
l.listen(1)
c, _ = l.accept()
for m in parse(framing, read_all(c)):
    print(m.hex())
"#;

fn socket_where(kind: &str) -> (String, Option<TempPath>) {
    match kind {
        "unix" => {
            let path = TempPath::new("py.sock");
            (path.0.display().to_string(), Some(path))
        }
        _ => ("127.0.0.1:0".to_owned(), None),
    }
}

/// Python's socket client sends; shmlane listens and receives.
fn python_sends_to_shmlane(kind: &str, framing: &str) {
    let _dog = Watchdog::new("python client to shmlane", LIMIT);
    let (where_, _path) = socket_where(kind);
    let mut listener = transport::listen(&format!("{kind}://{where_}?framing={framing}")).unwrap();
    let address = listener.url().split_once("://").unwrap().1.to_owned();
    let msgs = messages(framing);
    let mut py = python(
        &format!("{SOCKET_LIB}{PY_CLIENT_SENDS}"),
        &[kind, &address, framing],
    );
    py.stdin
        .take()
        .unwrap()
        .write_all(hex(&msgs).as_bytes())
        .unwrap();
    let mut conn = listener.accept_timeout(LIMIT).unwrap();
    let mut buf = Vec::new();
    for expected in &msgs {
        conn.receiver.recv_timeout(&mut buf, LIMIT).unwrap();
        assert_eq!(&buf, expected);
    }
    assert!(matches!(
        conn.receiver.recv_timeout(&mut buf, LIMIT),
        Err(RecvError::Disconnected { .. })
    ));
    finish(py);
}

/// shmlane connects and sends; Python's socket server receives.
fn shmlane_sends_to_python(kind: &str, framing: &str) {
    let _dog = Watchdog::new("shmlane to python server", LIMIT);
    let (where_, _path) = socket_where(kind);
    let mut py = python(
        &format!("{SOCKET_LIB}{PY_SERVER_RECEIVES}"),
        &[kind, &where_, framing],
    );
    let mut first = String::new();
    let mut stdout = BufReader::new(py.stdout.take().unwrap());
    stdout.read_line(&mut first).unwrap();
    let address = first.trim();
    let msgs = messages(framing);
    {
        let mut tx = transport::sender(&format!(
            "{kind}://{address}?framing={framing}&timeout_ms=10000"
        ))
        .unwrap();
        for m in &msgs {
            tx.send(m).unwrap();
        }
    }
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(py.wait().unwrap().success());
    assert_eq!(rest, hex(&msgs));
}

#[test]
fn python_socket_client_to_shmlane_unix_length() {
    python_sends_to_shmlane("unix", "length");
}

#[test]
fn python_socket_client_to_shmlane_unix_lines() {
    python_sends_to_shmlane("unix", "lines");
}

#[test]
fn python_socket_client_to_shmlane_tcp_length() {
    python_sends_to_shmlane("tcp", "length");
}

#[test]
fn python_socket_client_to_shmlane_tcp_lines() {
    python_sends_to_shmlane("tcp", "lines");
}

#[test]
fn shmlane_to_python_socket_server_unix_length() {
    shmlane_sends_to_python("unix", "length");
}

#[test]
fn shmlane_to_python_socket_server_unix_lines() {
    shmlane_sends_to_python("unix", "lines");
}

#[test]
fn shmlane_to_python_socket_server_tcp_length() {
    shmlane_sends_to_python("tcp", "length");
}

#[test]
fn shmlane_to_python_socket_server_tcp_lines() {
    shmlane_sends_to_python("tcp", "lines");
}

/// Python helpers: POSIX queues through ctypes.
const MQ_LIB: &str = r#"
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if not hasattr(libc, "mq_open"):
    libc = ctypes.CDLL("librt.so.1", use_errno=True)
libc.mq_open.restype = ctypes.c_int
libc.mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int]
libc.mq_send.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint]
libc.mq_receive.restype = ctypes.c_ssize_t
libc.mq_receive.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_uint)]
def check(r):
    if r < 0:
        e = ctypes.get_errno(); raise OSError(e, os.strerror(e))
    return r
"#;

/// Python sends `prio hex` lines from stdin, then the end-of-stream
/// marker (an empty message at priority 0).
const PY_MQ_SENDS: &str = r#"
q = check(libc.mq_open(sys.argv[1].encode(), os.O_WRONLY))
for line in sys.stdin.read().splitlines():
    prio, data = line.split(" ") if " " in line else (line, "")
    m = bytes.fromhex(data)
    check(libc.mq_send(q, m, len(m), int(prio)))
check(libc.mq_send(q, b"", 0, 0))
"#;

/// Python receives until the (one) sender's end-of-stream marker, printing
/// `prio hex`: priority 32767 carries a sender's announcement, priority 0
/// its end.
const PY_MQ_RECEIVES: &str = r#"
q = check(libc.mq_open(sys.argv[1].encode(), os.O_RDONLY))
size = int(sys.argv[2])
buf = ctypes.create_string_buffer(size)
prio = ctypes.c_uint()
while True:
    n = check(libc.mq_receive(q, buf, size, ctypes.byref(prio)))
    if prio.value == 32767:
        continue
    if prio.value == 0:
        break
    print(prio.value, buf.raw[:n].hex())
"#;

#[test]
fn python_ctypes_mq_send_to_shmlane() {
    let _dog = Watchdog::new("python mq to shmlane", LIMIT);
    let name = QueueName::new("pymq");
    let mut rx = mq::MqReceiver::open(&name.0, &Config::new().max_message_size(256)).unwrap();
    let sent = [(1, &b"low"[..]), (9, b"urgent"), (4, b""), (4, b"\x00\xff")];
    let input: String = sent
        .iter()
        .map(|(p, m)| format!("{p} {}\n", hex(&[m.to_vec()]).trim()))
        .collect();
    let mut py = python(&format!("{MQ_LIB}{PY_MQ_SENDS}"), &[&name.0]);
    py.stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    finish(py);
    let mut buf = Vec::new();
    let mut got = Vec::new();
    for _ in 0..sent.len() {
        let (_, prio) = rx
            .recv_with_priority_deadline(&mut buf, transport::Deadline::after(LIMIT))
            .unwrap();
        got.push((prio, buf.clone()));
    }
    let expected: Vec<(u32, Vec<u8>)> =
        [(9, &b"urgent"[..]), (4, b""), (4, b"\x00\xff"), (1, b"low")]
            .iter()
            .map(|(p, m)| (*p, m.to_vec()))
            .collect();
    assert_eq!(
        got, expected,
        "highest priority first, send order within one"
    );
    assert!(matches!(
        rx.recv_timeout(&mut buf, LIMIT),
        Err(RecvError::Disconnected { .. })
    ));
}

#[test]
fn shmlane_mq_send_to_python_ctypes() {
    let _dog = Watchdog::new("shmlane mq to python", LIMIT);
    let name = QueueName::new("pymq");
    {
        let mut tx = mq::MqSender::open(&name.0, &Config::new().max_message_size(128)).unwrap();
        tx.send(b"first").unwrap();
        tx.send_with_priority(b"important", 20).unwrap();
        tx.send(b"").unwrap();
        tx.send_with_priority(&[0xde, 0xad], 3).unwrap();
        // Dropped: leaves the end-of-stream marker.
    }
    let py = python(&format!("{MQ_LIB}{PY_MQ_RECEIVES}"), &[&name.0, "128"]);
    let out = finish(py);
    assert_eq!(out, "20 696d706f7274616e74\n3 dead\n1 6669727374\n1 \n");
}
