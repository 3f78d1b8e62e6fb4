//! `zenoh://` (cargo feature `zenoh`), beyond the conformance suite's
//! cases (which include two senders on one key): two Zenoh sessions per
//! test talking over loopback TCP (one listens, the others connect;
//! multicast scouting is off), so nothing beyond this machine is reached.
//! Receive timeouts, a sender that crashes, a pattern receiver, and every
//! bad input the issue names: a malformed key, a sender on a pattern, an
//! unreachable endpoint, options of other mechanisms, a message over
//! `max`, nobody subscribed.
#![cfg(all(feature = "zenoh", not(any(miri, shmlane_loom))))]

mod common;
mod transport_support;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Watchdog, assert_waited};
use shmlane::transport::{self, ConnectError, RecvError, SendError};
use transport_support::ZenohChannel;

const LIMIT: Duration = Duration::from_secs(60);

/// The environment variable that makes this test binary a crashing
/// sender ([`crashing_sender`]): its value is the sender's URL.
const CRASH_URL: &str = "SHMLANE_TEST_ZENOH_CRASH_URL";

#[test]
fn a_receive_times_out_and_try_recv_is_empty() {
    let _dog = Watchdog::new("zenoh timeouts", LIMIT);
    let channel = ZenohChannel::new("timeout");
    let mut rx = transport::receiver(&channel.receiver_url("")).unwrap();
    let mut tx = transport::sender(&channel.sender_url("timeout_ms=10000")).unwrap();
    let mut buf = Vec::new();
    assert!(matches!(rx.try_recv(&mut buf), Err(RecvError::Empty)));
    let timeout = Duration::from_millis(50);
    let start = Instant::now();
    let got = rx.recv_timeout(&mut buf, timeout);
    assert!(matches!(got, Err(RecvError::Timeout)), "{got:?}");
    assert_waited(start, timeout, "the receive");
    tx.send(b"late").unwrap();
    rx.recv_timeout(&mut buf, LIMIT).unwrap();
    assert_eq!(buf, b"late");
}

/// The environment variable that makes this test binary run
/// [`introductions_body`] with receivers that ignore liveliness tokens.
const INTRODUCTIONS: &str = "SHMLANE_TEST_ZENOH_INTRODUCTIONS";

/// Not a test of its own: the body of
/// [`a_new_senders_introduction_keeps_the_stream_open`], in a child process
/// whose receivers ignore liveliness tokens, so that only the new sender's
/// introduction can tell the receiver it exists before the first sender's
/// end marker arrives.
#[test]
fn introductions_body() {
    if std::env::var_os(INTRODUCTIONS).is_none() {
        return; // run by the test below only
    }
    shmlane::test_support::zenoh_receivers_ignore_tokens();
    let channel = ZenohChannel::new("introduced");
    let mut rx = transport::receiver(&channel.receiver_url("")).unwrap();
    let mut first = transport::sender(&channel.sender_url("timeout_ms=10000")).unwrap();
    first.send(b"one").unwrap();
    // Open: introduced to the receiver before this returns.
    let mut second = transport::sender(&channel.sender_url("timeout_ms=10000")).unwrap();
    first.close().unwrap();
    drop(first);
    let mut buf = Vec::new();
    rx.recv_timeout(&mut buf, LIMIT).unwrap();
    assert_eq!(buf, b"one");
    let meanwhile = rx.recv_timeout(&mut buf, Duration::from_millis(300));
    assert!(
        matches!(meanwhile, Err(RecvError::Timeout)),
        "the first sender's end ended a stream the second had joined: {meanwhile:?}"
    );
    second.send(b"two").unwrap();
    rx.recv_timeout(&mut buf, LIMIT).unwrap();
    assert_eq!(buf, b"two");
    drop(second);
    let end = rx.recv_timeout(&mut buf, LIMIT);
    assert!(
        matches!(end, Err(RecvError::Disconnected { .. })),
        "{end:?}"
    );
}

/// A sender's open introduces it to the receivers of its key: another
/// sender's end marker, however soon after, does not end their stream.
#[test]
fn a_new_senders_introduction_keeps_the_stream_open() {
    let _dog = Watchdog::new("zenoh introductions", LIMIT);
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "introductions_body", "--test-threads=1"])
        .env(INTRODUCTIONS, "1")
        .status()
        .unwrap();
    assert!(status.success(), "{status}");
}

/// Not a test of its own: the body of the crashing sender that
/// [`a_crashed_sender_is_reset_after_its_messages`] runs in a child
/// process (this binary again, with [`CRASH_URL`] set). It sends three
/// messages and waits, sender open, to be killed.
#[test]
fn crashing_sender() {
    let Ok(url) = std::env::var(CRASH_URL) else {
        return; // run by the test below only
    };
    let mut tx = transport::sender(&url).unwrap();
    for msg in [&b"a"[..], b"b", b"c"] {
        tx.send(msg).unwrap();
    }
    // Zenoh writes from its own tasks: the messages leave after `send`
    // returns, so the parent kills this process once it has them.
    loop {
        std::thread::park();
    }
}

/// Starts this test binary again as a sender of "a", "b", "c" on
/// `channel` that then waits to be killed ([`crashing_sender`]).
fn start_crashing_sender(channel: &ZenohChannel) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crashing_sender",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_URL, channel.sender_url("timeout_ms=10000"))
        .spawn()
        .unwrap()
}

/// Receives "a", "b", "c" from the crashing sender, then SIGKILLs it.
fn receive_then_kill(rx: &mut Box<dyn transport::Receiver>, mut child: std::process::Child) {
    let mut buf = Vec::new();
    for expected in [&b"a"[..], b"b", b"c"] {
        rx.recv_timeout(&mut buf, LIMIT).unwrap();
        assert_eq!(buf, expected);
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL),
        "{status}"
    );
}

/// A sender's process killed without closing: the receiver gets every
/// message it sent, then `Reset` (not `Disconnected`, and no hang), from a
/// timed receive and from `try_recv` polling alike.
#[test]
fn a_crashed_sender_is_reset_after_its_messages() {
    let _dog = Watchdog::new("zenoh crashed sender", LIMIT);
    for polled in [false, true] {
        let channel = ZenohChannel::new("crash");
        let mut rx = transport::receiver(&channel.receiver_url("")).unwrap();
        receive_then_kill(&mut rx, start_crashing_sender(&channel));
        let mut buf = Vec::new();
        let end = if polled {
            loop {
                match rx.try_recv(&mut buf) {
                    Err(RecvError::Empty) => std::thread::sleep(Duration::from_millis(10)),
                    other => break other,
                }
            }
        } else {
            rx.recv_timeout(&mut buf, LIMIT)
        };
        assert!(
            matches!(end, Err(RecvError::Reset { .. })),
            "polled {polled}: {end:?}"
        );
        assert!(matches!(
            rx.try_recv(&mut buf),
            Err(RecvError::Reset { .. })
        ));
    }
}

/// A sender that joins after another crashed keeps the stream going past
/// the crashed one's grace; the stream ends with `Reset` (a sender of it
/// crashed) only once the new one has closed.
#[test]
fn a_sender_joining_after_a_crash_keeps_the_stream() {
    let _dog = Watchdog::new("zenoh sender after a crash", LIMIT);
    let channel = ZenohChannel::new("rejoin");
    let mut rx = transport::receiver(&channel.receiver_url("")).unwrap();
    receive_then_kill(&mut rx, start_crashing_sender(&channel));
    let mut second = transport::sender(&channel.sender_url("timeout_ms=10000")).unwrap();
    let mut buf = Vec::new();
    // Past the crashed sender's grace, with the second one up.
    let meanwhile = rx.recv_timeout(&mut buf, Duration::from_millis(1500));
    assert!(
        matches!(meanwhile, Err(RecvError::Timeout)),
        "the stream ended while a sender was up: {meanwhile:?}"
    );
    second.send(b"two").unwrap();
    rx.recv_timeout(&mut buf, LIMIT).unwrap();
    assert_eq!(buf, b"two");
    second.close().unwrap();
    let end = rx.recv_timeout(&mut buf, LIMIT);
    assert!(matches!(end, Err(RecvError::Reset { .. })), "{end:?}");
}

/// Opening a sender a slice at a time (`Opening`, as the CLI and Python
/// do) waits for a receiver within `?timeout_ms=`, slice after slice.
#[test]
fn an_opening_sender_waits_for_its_receiver_in_slices() {
    let _dog = Watchdog::new("zenoh opening", LIMIT);
    let channel = ZenohChannel::new("opening");
    // The sender's session listens; the receiver comes later and connects.
    let mut opening = transport::Opening::sender(&format!(
        "zenoh://{}?listen={}&timeout_ms=30000",
        channel.key, channel.endpoint
    ))
    .unwrap();
    for _ in 0..3 {
        let slice = opening.wait(Duration::from_millis(20));
        assert!(matches!(slice, Ok(None)), "{:?}", slice.map(|_| ()));
    }
    let mut rx = transport::receiver(&format!(
        "zenoh://{}?connect={}&timeout_ms=10000",
        channel.key, channel.endpoint
    ))
    .unwrap();
    let mut tx = loop {
        if let Some(tx) = opening.wait(Duration::from_millis(20)).unwrap() {
            break tx;
        }
    };
    tx.send(b"opened").unwrap();
    let mut buf = Vec::new();
    rx.recv_timeout(&mut buf, LIMIT).unwrap();
    assert_eq!(buf, b"opened");
}

/// A receiver on a pattern hears every key under it, and one sender's end
/// does not end it.
#[test]
fn a_pattern_receiver_hears_every_key_and_goes_on() {
    let _dog = Watchdog::new("zenoh pattern", LIMIT);
    let base = ZenohChannel::new("pattern");
    let pattern = ZenohChannel {
        key: format!("{}/**", base.key),
        endpoint: base.endpoint.clone(),
    };
    let mut rx = transport::receiver(&pattern.receiver_url("")).unwrap();
    let mut buf = Vec::new();
    for leaf in ["x", "y/z"] {
        let leaf = ZenohChannel {
            key: format!("{}/{leaf}", base.key),
            endpoint: base.endpoint.clone(),
        };
        let mut tx = transport::sender(&leaf.sender_url("timeout_ms=10000")).unwrap();
        tx.send(leaf.key.as_bytes()).unwrap();
        drop(tx);
        rx.recv_timeout(&mut buf, LIMIT).unwrap();
        assert_eq!(buf, leaf.key.as_bytes());
    }
    let after = rx.recv_timeout(&mut buf, Duration::from_millis(200));
    assert!(matches!(after, Err(RecvError::Timeout)), "{after:?}");
}

#[test]
fn a_send_without_a_receiver_is_disconnected() {
    let _dog = Watchdog::new("zenoh receiver gone", LIMIT);
    let channel = ZenohChannel::new("gone");
    // The sender's session listens this time, and the receiver's connects.
    let receiver_url = format!("zenoh://{}?connect={}", channel.key, channel.endpoint);
    let sender_url = format!(
        "zenoh://{}?listen={}&timeout_ms=10000",
        channel.key, channel.endpoint
    );
    let (tx, rx) = std::thread::scope(|s| {
        let tx = s.spawn(|| transport::sender(&sender_url));
        // The receiver retries until the sender's session listens.
        let start = Instant::now();
        let rx = loop {
            match transport::receiver(&format!("{receiver_url}&timeout_ms=200")) {
                Ok(rx) => break rx,
                Err(ConnectError::Unreachable { .. }) if start.elapsed() < LIMIT => {}
                Err(e) => panic!("receiver: {e}"),
            }
        };
        (tx.join().unwrap().unwrap(), rx)
    });
    let mut tx = tx;
    tx.send(b"seen").unwrap();
    drop(rx);
    // The receiver's subscription goes away with its session.
    let start = Instant::now();
    loop {
        match tx.send(b"to nobody") {
            Ok(()) => assert!(start.elapsed() < LIMIT, "never Disconnected"),
            Err(SendError::Disconnected { endpoint }) => {
                assert_eq!(&*endpoint, format!("zenoh://{}", channel.key));
                break;
            }
            Err(e) => panic!("{e}"),
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_sender_nobody_subscribes_to_times_out() {
    let channel = ZenohChannel::new("alone");
    // Its own session listens; nobody comes.
    let url = format!(
        "zenoh://{}?listen={}&timeout_ms=200",
        channel.key, channel.endpoint
    );
    let start = Instant::now();
    match transport::sender(&url) {
        Err(ConnectError::Timeout { what, .. }) => {
            assert!(what.contains("receiver"), "{what}");
            assert_waited(start, Duration::from_millis(200), "the open");
        }
        other => panic!("expected Timeout, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn an_unreachable_endpoint_is_an_error_within_the_timeout() {
    let channel = ZenohChannel::new("unreachable"); // a port nobody listens on
    let connect = format!("connect={}&timeout_ms=300", channel.endpoint);
    let url = format!("zenoh://{}?{connect}", channel.key);
    for opened in [
        transport::receiver(&url).map(|_| ()),
        transport::sender(&url).map(|_| ()),
    ] {
        match opened {
            Err(ConnectError::Unreachable { endpoint, .. }) => {
                assert_eq!(endpoint, format!("zenoh://{}", channel.key));
            }
            other => panic!("expected Unreachable, got {other:?}"),
        }
    }
}

#[test]
fn a_message_over_max_is_refused_by_the_sender() {
    let channel = ZenohChannel::new("max");
    let _rx = transport::receiver(&channel.receiver_url("max=100")).unwrap();
    let mut tx = transport::sender(&channel.sender_url("max=100&timeout_ms=10000")).unwrap();
    match tx.send(&[0; 101]) {
        Err(SendError::MessageTooLarge { len, max, .. }) => assert_eq!((len, max), (101, 100)),
        other => panic!("expected MessageTooLarge, got {other:?}"),
    }
    tx.send(&[0; 100]).unwrap();
}

#[test]
fn bad_keys_and_options_are_typed_errors() {
    let invalid_name = |url: &str| match transport::receiver(url) {
        Err(ConnectError::InvalidName { reason, .. }) => reason,
        other => panic!("{url}: expected InvalidName, got {:?}", other.map(|_| ())),
    };
    // Empty chunks and a `**/**` are not key expressions.
    for url in ["zenoh://a//b", "zenoh://a/**/**"] {
        let reason = invalid_name(url);
        assert!(reason.contains("key expression"), "{url}: {reason}");
    }
    // A sender publishes on one key.
    match transport::sender("zenoh://shmlane-test/a/*?timeout_ms=10") {
        Err(ConnectError::InvalidName { reason, .. }) => {
            assert!(reason.contains("wildcards"), "{reason}")
        }
        other => panic!("expected InvalidName, got {:?}", other.map(|_| ())),
    }
    let invalid_config = |url: &str| match transport::receiver(url) {
        Err(ConnectError::InvalidConfig { reason, .. }) => reason,
        other => panic!("{url}: expected InvalidConfig, got {:?}", other.map(|_| ())),
    };
    // Permission bits are not Zenoh's mode, and Zenoh's options are not a
    // ring's.
    assert!(invalid_config("zenoh://k?mode=0600").contains("`mode`"));
    assert!(invalid_config("shm://k?mode=peer").contains("peer|client"));
    assert!(invalid_config("shm://k?connect=tcp/127.0.0.1:1").contains("`connect`"));
    assert!(invalid_config("zenoh://k?connect=udp/x:1").contains("TCP links only"));
    match transport::receiver("zenoh://k?reliability=maybe") {
        Err(ConnectError::InvalidUrl { reason, .. }) => {
            assert!(reason.contains("best_effort"), "{reason}")
        }
        other => panic!("expected InvalidUrl, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn best_effort_delivers_on_an_idle_link() {
    let _dog = Watchdog::new("zenoh best effort", LIMIT);
    let channel = ZenohChannel::new("effort");
    let mut rx = transport::receiver(&channel.receiver_url("")).unwrap();
    let mut tx = transport::sender(
        &channel.sender_url("timeout_ms=10000&reliability=best_effort&mode=client"),
    )
    .unwrap();
    tx.send(b"hello").unwrap();
    let mut buf = Vec::new();
    rx.recv_timeout(&mut buf, LIMIT).unwrap();
    assert_eq!(buf, b"hello");
}
