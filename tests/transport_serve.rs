//! `transport::serve` (issue 15, B9): one receiver for any number of
//! senders over time, on every socket mechanism; each sender's messages
//! in order, and senders served in turn.
#![cfg(not(any(miri, shmlane_loom)))]

mod common;
mod transport_support;

use std::collections::HashMap;
use std::time::Duration;

use common::Watchdog;
use shmlane::transport::{self, ConnectError, Receiver, RecvError};
use transport_support::TempPath;

const LIMIT: Duration = Duration::from_secs(30);

/// A fresh address of each socket mechanism, and what removes it.
fn addresses() -> Vec<(String, Option<TempPath>)> {
    let stream = TempPath::new("serve");
    let seqpacket = TempPath::new("serve-seq");
    vec![
        (stream.url("unix"), Some(stream)),
        (seqpacket.url("unix+seqpacket"), Some(seqpacket)),
        ("tcp://127.0.0.1:0".into(), None),
    ]
}

/// `sender:seq`, the message every test sends.
fn parse(msg: &[u8]) -> (u32, u32) {
    let text = std::str::from_utf8(msg).expect("a text message");
    let (sender, seq) = text.split_once(':').expect("sender:seq");
    (sender.parse().unwrap(), seq.parse().unwrap())
}

fn send_all(url: &str, sender: u32, count: u32) {
    let mut tx = transport::sender(url).unwrap();
    for seq in 0..count {
        tx.send(format!("{sender}:{seq}").as_bytes()).unwrap();
    }
    tx.close().unwrap();
}

#[test]
fn concurrent_and_sequential_senders_all_arrive_in_order() {
    let _dog = Watchdog::new("serve many", LIMIT);
    const CONCURRENT: u32 = 4;
    const SEQUENTIAL: u32 = 3;
    const EACH: u32 = 200;
    for (url, _cleanup) in addresses() {
        let mut rx = transport::serve(&url).unwrap();
        let at = rx.url().to_owned();
        let mut next: HashMap<u32, u32> = HashMap::new();
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::scope(|s| {
                    for sender in 0..CONCURRENT {
                        let at = &at;
                        s.spawn(move || send_all(at, sender, EACH));
                    }
                });
                // Then one after another, each connecting after the last left.
                for sender in CONCURRENT..CONCURRENT + SEQUENTIAL {
                    send_all(&at, sender, EACH);
                }
            });
            let mut buf = Vec::new();
            for _ in 0..(CONCURRENT + SEQUENTIAL) * EACH {
                rx.recv_timeout(&mut buf, LIMIT).unwrap();
                let (sender, seq) = parse(&buf);
                let expected = next.entry(sender).or_default();
                assert_eq!(seq, *expected, "{url}: sender {sender} out of order");
                *expected += 1;
            }
        });
        let mut buf = Vec::new();
        assert!(next.values().all(|&n| n == EACH), "{url}: {next:?}");
        // Everyone left: the receiver waits for the next sender.
        let after = rx.recv_timeout(&mut buf, Duration::from_millis(100));
        assert!(matches!(after, Err(RecvError::Timeout)), "{url}: {after:?}");
        assert_eq!(rx.clients(), 0, "{url}: the senders that left are dropped");
    }
}

#[test]
fn a_busy_sender_does_not_starve_another() {
    let _dog = Watchdog::new("serve fairly", LIMIT);
    const BUSY: u32 = 2000;
    const QUIET: u32 = 5;
    for (url, _cleanup) in addresses() {
        let mut rx = transport::serve(&url).unwrap();
        let at = rx.url().to_owned();
        let (connected, wait_connected) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            // The busy sender sends as fast as the receiver takes.
            s.spawn(|| {
                let mut busy = transport::sender(&at).unwrap();
                busy.send(b"0:0").unwrap();
                connected.send(()).unwrap();
                for seq in 1..BUSY {
                    busy.send(format!("0:{seq}").as_bytes()).unwrap();
                }
            });
            wait_connected.recv().unwrap();
            // The quiet one has its few messages queued before the first
            // receive, as the busy one has.
            let mut quiet = transport::sender(&at).unwrap();
            for seq in 0..QUIET {
                quiet.send(format!("1:{seq}").as_bytes()).unwrap();
            }
            let mut buf = Vec::new();
            let mut quiet_done_at = None;
            for n in 0..BUSY + QUIET {
                rx.recv_timeout(&mut buf, LIMIT).unwrap();
                if parse(&buf) == (1, QUIET - 1) {
                    quiet_done_at = Some(n);
                }
            }
            let done = quiet_done_at.expect("the quiet sender's last message");
            assert!(
                done < 4 * QUIET,
                "{url}: the quiet sender's last message came {done}th of {}",
                BUSY + QUIET
            );
        });
    }
}

#[test]
fn serve_is_for_socket_urls() {
    for url in ["mq:///shmlane-test-serve", "fifo:///tmp/shmlane-test-serve"] {
        match transport::serve(url) {
            Err(e @ ConnectError::Unsupported { .. }) => {
                assert!(e.to_string().contains("socket URL"), "{e}");
            }
            other => panic!("{url}: expected Unsupported, got {other:?}"),
        }
    }
    let rx = transport::serve("tcp://127.0.0.1:0").unwrap();
    assert_eq!(rx.max_message_size(), 64 * 1024);
}
