//! End of stream on message queues (issue 15, B2): a marker left by an
//! earlier run, or one bare marker from any writer, does not end a
//! receiver that a shmlane sender feeds. (Two senders, one ending: the
//! conformance suite's `one_senders_end_leaves_the_others`.)
#![cfg(not(any(miri, shmlane_loom)))]

mod common;
mod transport_support;

use std::ffi::CString;
use std::time::Duration;

use common::Watchdog;
use shmlane::transport::{Config, Receiver, RecvError, Sender, mq, sysv_mq};
use transport_support::{QueueName, SysvKey};

const LIMIT: Duration = Duration::from_secs(30);
/// Long enough for a marker already queued to be read.
const SETTLE: Duration = Duration::from_millis(200);

/// The receiver gets `expected`, then nothing (the stream goes on).
fn gets_then_waits(rx: &mut dyn Receiver, expected: &[u8]) {
    let mut buf = Vec::new();
    rx.recv_timeout(&mut buf, LIMIT).unwrap();
    assert_eq!(buf, expected);
    let next = rx.recv_timeout(&mut buf, SETTLE);
    assert!(
        matches!(next, Err(RecvError::Timeout)),
        "the stream ended early: {next:?}"
    );
}

fn ends(rx: &mut dyn Receiver) {
    let end = rx.recv_timeout(&mut Vec::new(), LIMIT);
    assert!(
        matches!(end, Err(RecvError::Disconnected { .. })),
        "{end:?}"
    );
}

/// Run 1 takes the one message of a sender and stops (as `--count 1`
/// does), leaving the sender's end marker; run 2 must not take that end
/// for its own sender's.
fn an_earlier_runs_marker(
    open_rx: &dyn Fn() -> Box<dyn Receiver>,
    open_tx: &dyn Fn() -> Box<dyn Sender>,
) {
    {
        let mut rx = open_rx();
        let mut tx = open_tx();
        tx.send(b"run 1").unwrap();
        drop(tx);
        let mut buf = Vec::new();
        rx.recv_timeout(&mut buf, LIMIT).unwrap();
        assert_eq!(buf, b"run 1");
    }
    let mut rx = open_rx();
    let next = rx.recv_timeout(&mut Vec::new(), SETTLE);
    assert!(
        matches!(next, Err(RecvError::Timeout)),
        "run 1's marker ended run 2: {next:?}"
    );
    let mut tx = open_tx();
    tx.send(b"run 2").unwrap();
    gets_then_waits(rx.as_mut(), b"run 2");
    drop(tx);
    ends(rx.as_mut());
}

#[test]
fn mq_ignores_an_earlier_runs_marker() {
    let _dog = Watchdog::new("mq stale marker", LIMIT);
    let name = QueueName::new("stale");
    let config = Config::new().persist(true);
    an_earlier_runs_marker(
        &|| Box::new(mq::MqReceiver::open(&name.0, &config).unwrap()),
        &|| Box::new(mq::MqSender::open(&name.0, &config).unwrap()),
    );
}

#[test]
fn sysvmq_ignores_an_earlier_runs_marker() {
    let _dog = Watchdog::new("sysvmq stale marker", LIMIT);
    let key = SysvKey::new();
    let config = Config::new().persist(true);
    an_earlier_runs_marker(
        &|| Box::new(sysv_mq::SysvReceiver::open(key.0, &config).unwrap()),
        &|| Box::new(sysv_mq::SysvSender::open(key.0, &config).unwrap()),
    );
}

#[test]
fn mq_a_bare_marker_from_any_writer_ends_nothing() {
    let _dog = Watchdog::new("mq injected marker", LIMIT);
    let name = QueueName::new("inject");
    let mut rx = mq::MqReceiver::open(&name.0, &Config::new()).unwrap();
    let mut tx = mq::MqSender::open(&name.0, &Config::new()).unwrap();
    tx.send(b"real").unwrap();
    let c_name = CString::new(name.0.clone()).unwrap();
    // SAFETY: a NUL-terminated name; the descriptor is closed below.
    let fd = unsafe { libc::mq_open(c_name.as_ptr(), libc::O_WRONLY) };
    assert!(fd >= 0, "mq_open: {}", std::io::Error::last_os_error());
    // SAFETY: an empty message: no bytes are read from the pointer.
    let sent = unsafe { libc::mq_send(fd, c"".as_ptr(), 0, 0) };
    assert_eq!(sent, 0, "mq_send: {}", std::io::Error::last_os_error());
    // SAFETY: `fd` is the queue descriptor opened above, closed once.
    unsafe { libc::mq_close(fd) };
    gets_then_waits(&mut rx, b"real");
    drop(tx);
    ends(&mut rx);
}

#[test]
fn sysvmq_a_bare_marker_from_any_writer_ends_nothing() {
    let _dog = Watchdog::new("sysvmq injected marker", LIMIT);
    let key = SysvKey::new();
    let mut rx = sysv_mq::SysvReceiver::open(key.0, &Config::new()).unwrap();
    let mut tx = sysv_mq::SysvSender::open(key.0, &Config::new()).unwrap();
    tx.send(b"real").unwrap();
    // SAFETY: msgget takes integers only.
    let id = unsafe { libc::msgget(key.0, 0) };
    assert!(id >= 0, "msgget: {}", std::io::Error::last_os_error());
    let bare: libc::c_long = sysv_mq::END_TYPE as libc::c_long;
    // SAFETY: the buffer is one `c_long` mtype with no text (length 0).
    let sent = unsafe { libc::msgsnd(id, std::ptr::from_ref(&bare).cast(), 0, 0) };
    assert_eq!(sent, 0, "msgsnd: {}", std::io::Error::last_os_error());
    gets_then_waits(&mut rx, b"real");
    drop(tx);
    ends(&mut rx);
}

/// A program that is not shmlane ends its stream with a bare marker, which
/// still works while no shmlane sender announced itself.
#[test]
fn mq_a_foreign_peers_bare_marker_still_ends_its_stream() {
    let _dog = Watchdog::new("mq foreign end", LIMIT);
    let name = QueueName::new("foreign");
    let mut rx = mq::MqReceiver::open(&name.0, &Config::new()).unwrap();
    let c_name = CString::new(name.0.clone()).unwrap();
    // SAFETY: a NUL-terminated name; the descriptor is closed below.
    let fd = unsafe { libc::mq_open(c_name.as_ptr(), libc::O_WRONLY) };
    assert!(fd >= 0, "mq_open: {}", std::io::Error::last_os_error());
    for (msg, priority) in [(&b"hi"[..], 1), (b"", 0)] {
        // SAFETY: `msg` is a live slice of `msg.len()` bytes.
        let sent = unsafe { libc::mq_send(fd, msg.as_ptr().cast(), msg.len(), priority) };
        assert_eq!(sent, 0, "mq_send: {}", std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is the queue descriptor opened above, closed once.
    unsafe { libc::mq_close(fd) };
    let mut buf = Vec::new();
    rx.recv_timeout(&mut buf, LIMIT).unwrap();
    assert_eq!(buf, b"hi");
    ends(&mut rx);
}

/// Forks a process that runs `send` (opening a sender and sending through
/// it), then hangs with the sender it returns still open (a drop would
/// leave the end marker), and SIGKILLs it there: a sole sender gone
/// without its end marker.
fn crash_after<S>(send: impl FnOnce() -> S) {
    let ready = common::Ready::new();
    let sender = common::fork_child(|| {
        let _open = send();
        ready.signal();
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    ready.wait(&sender, LIMIT);
    sender.kill();
}

/// A sole sender SIGKILLed after its messages leaves no end marker: the
/// receiver, waiting with no timeout, still gets every message queued,
/// then `Reset` (the stream was cut, not closed) within about a liveness
/// tick, from the announced sender's process being gone.
#[test]
fn mq_a_sole_senders_crash_cuts_the_stream_after_the_drain() {
    let _dog = Watchdog::new("mq sole sender crash", LIMIT);
    let name = QueueName::new("crash");
    let config = Config::new().max_message_size(256);
    let mut rx = mq::MqReceiver::open(&name.0, &config).unwrap();
    crash_after(|| {
        let mut tx = mq::MqSender::open(&name.0, &config).expect("sender");
        for msg in [&b"one"[..], b"two"] {
            tx.send(msg).expect("send");
        }
        tx
    });
    let mut buf = Vec::new();
    for expected in [&b"one"[..], b"two"] {
        rx.recv(&mut buf).unwrap();
        assert_eq!(buf, expected);
    }
    // Untimed: without the liveness look, this would wait for ever.
    let end = rx.recv(&mut buf);
    assert!(matches!(end, Err(RecvError::Reset { .. })), "{end:?}");
    // And so it stays.
    assert!(matches!(
        rx.try_recv(&mut buf),
        Err(RecvError::Reset { .. })
    ));
}

/// The same for `sysvmq://`, whose waits are polled (msgrcv has no timed
/// form): a receive with a timeout, far longer than a tick, ends with
/// `Reset` once the queue is drained.
#[test]
fn sysvmq_a_sole_senders_crash_cuts_a_timed_receive() {
    let _dog = Watchdog::new("sysvmq sole sender crash", LIMIT);
    let key = SysvKey::new();
    let config = Config::new().max_message_size(256);
    let mut rx = sysv_mq::SysvReceiver::open(key.0, &config).unwrap();
    crash_after(|| {
        let mut tx = sysv_mq::SysvSender::open(key.0, &config).expect("sender");
        tx.send(b"only").expect("send");
        tx
    });
    let mut buf = Vec::new();
    rx.recv_timeout(&mut buf, LIMIT).unwrap();
    assert_eq!(buf, b"only");
    let end = rx.recv_timeout(&mut buf, LIMIT);
    assert!(matches!(end, Err(RecvError::Reset { .. })), "{end:?}");
}
