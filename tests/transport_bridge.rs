//! `transport::bridge`: every message from one mechanism to another, in
//! order and whole, through two bridges and TCP between them as two hosts
//! would use it; a stop closes the destination; a message the destination
//! cannot take is an error, never a silent loss.
#![cfg(not(any(miri, shmlane_loom)))]

mod common;
mod transport_support;

use std::time::Duration;

use common::{ShmName, Watchdog};
use shmlane::transport::{self, BridgeEnd, BridgeError, Receiver, RecvError, SendError, bridge};

const LIMIT: Duration = Duration::from_secs(60);
const SLICE: Duration = Duration::from_millis(20);

/// Message `seq`: its number, a length that varies, and a checksum of
/// the rest at the end, so a torn, mixed or altered message shows.
fn message(seq: u64) -> Vec<u8> {
    let len = 8 + (seq * 37 % 200) as usize;
    let mut msg: Vec<u8> = seq.to_le_bytes().into_iter().collect();
    msg.extend((8..len).map(|i| (seq as usize * 31 + i) as u8));
    let sum = msg
        .iter()
        .fold(0u32, |h, &b| h.wrapping_mul(16_777_619) ^ u32::from(b));
    msg.extend(sum.to_le_bytes());
    msg
}

fn check(msg: &[u8], expected_seq: u64) {
    assert_eq!(
        msg,
        message(expected_seq).as_slice(),
        "message {expected_seq}"
    );
}

/// shm://a -> bridge ("host 1") -> the middle -> bridge ("host 2") ->
/// shm://b, as two hosts would use it: `host2_source` opens host 2's end of
/// the middle (in its thread), `host1_destination` is host 1's. Every
/// message arrives in order and whole (sequence number and checksum), the
/// end of the stream crosses both bridges, and each counts every message.
fn through_two_bridges(
    what: &'static str,
    host2_source: impl FnOnce() -> Box<dyn Receiver> + Send,
    host1_destination: &str,
) {
    const COUNT: u64 = 10_000;
    let _dog = Watchdog::new(what, LIMIT);
    let (a, b) = (ShmName::new("bridge-a"), ShmName::new("bridge-b"));
    let (a_url, b_url) = (
        format!("shm://{}", a.as_str()),
        format!("shm://{}", b.as_str()),
    );
    let mut consumer = transport::receiver(&b_url).unwrap();
    std::thread::scope(|s| {
        let host2 = s.spawn(|| {
            let mut from = host2_source();
            let mut to = transport::sender(&b_url).unwrap();
            bridge(&mut *from, &mut *to, SLICE, |_| true)
        });
        let mut from = transport::receiver(&a_url).unwrap();
        let host1 = s.spawn(move || {
            let mut to = transport::sender(host1_destination).unwrap();
            bridge(&mut *from, &mut *to, SLICE, |_| true)
        });
        let producer = s.spawn(|| {
            let mut tx = transport::sender(&a_url).unwrap();
            for seq in 0..COUNT {
                tx.send(&message(seq)).unwrap();
            }
            tx.close().unwrap();
        });
        let mut msg = Vec::new();
        for seq in 0..COUNT {
            consumer.recv_timeout(&mut msg, LIMIT).unwrap();
            check(&msg, seq);
        }
        assert!(matches!(
            consumer.recv_timeout(&mut msg, LIMIT),
            Err(RecvError::Disconnected { .. })
        ));
        producer.join().unwrap();
        let bytes: u64 = (0..COUNT).map(|seq| message(seq).len() as u64).sum();
        for host in [host1.join().unwrap(), host2.join().unwrap()] {
            let (end, stats) = host.unwrap();
            assert_eq!(end, BridgeEnd::Drained);
            assert_eq!((stats.messages, stats.bytes), (COUNT, bytes));
        }
    });
}

#[test]
fn shm_to_tcp_to_shm_delivers_every_message_in_order_and_whole() {
    let mut listener = transport::listen("tcp://127.0.0.1:0").unwrap();
    let tcp_url = format!("{}?timeout_ms=10000", listener.url());
    through_two_bridges(
        "shm -> tcp -> shm",
        move || listener.accept_timeout(LIMIT).unwrap().receiver,
        &tcp_url,
    );
}

/// Issue 18: shm -> zenoh -> shm, as two hosts would bridge a ring over
/// Zenoh (here two sessions on loopback: host 2's subscribes and listens,
/// host 1's connects to it).
#[cfg(feature = "zenoh")]
#[test]
fn shm_to_zenoh_to_shm_delivers_every_message_in_order_and_whole() {
    let zenoh = transport_support::ZenohChannel::new("bridge");
    let receiver_url = zenoh.receiver_url("");
    through_two_bridges(
        "shm -> zenoh -> shm",
        move || transport::receiver(&receiver_url).unwrap(),
        &zenoh.sender_url("timeout_ms=10000"),
    );
}

#[test]
fn a_stop_after_a_count_closes_the_destination() {
    let _dog = Watchdog::new("bridge stop", LIMIT);
    let (mut into, mut from) = transport::pair("pipe:").unwrap();
    let (mut to, mut out) = transport::pair("pipe:").unwrap();
    for seq in 0..5 {
        into.send(&message(seq)).unwrap();
    }
    // The source stays open: only the count ends this bridge.
    let (end, stats) = bridge(&mut *from, &mut *to, SLICE, |stats| stats.messages < 3).unwrap();
    assert_eq!((end, stats.messages), (BridgeEnd::Stopped, 3));
    drop(to);
    let mut msg = Vec::new();
    for seq in 0..3 {
        out.recv_timeout(&mut msg, LIMIT).unwrap();
        check(&msg, seq);
    }
    assert!(matches!(
        out.recv_timeout(&mut msg, LIMIT),
        Err(RecvError::Disconnected { .. })
    ));
    // The rest is still in the source, for whoever reads it next.
    from.recv_timeout(&mut msg, LIMIT).unwrap();
    check(&msg, 3);
}

#[test]
fn a_stop_while_the_destination_is_full_says_the_message_is_lost() {
    let _dog = Watchdog::new("bridge stopped holding", LIMIT);
    let name = ShmName::new("bridge-full");
    let url = format!("shm://{}?capacity=4096&max=1024", name.as_str());
    let _rx = transport::receiver(&url).unwrap(); // never drains
    let mut to = transport::sender(&url).unwrap();
    let (mut into, mut from) = transport::pair("pipe:").unwrap();
    for seq in 0..64 {
        into.send(&message(seq)).unwrap();
    }
    let mut waits = 0;
    let outcome = bridge(&mut *from, &mut *to, SLICE, |_| {
        waits += 1;
        waits < 40
    });
    match outcome {
        Err(BridgeError::StoppedHolding { stats, .. }) => {
            assert!(stats.messages > 0 && stats.messages < 64, "{stats:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_message_longer_than_the_destination_takes_is_an_error() {
    let _dog = Watchdog::new("bridge too large", LIMIT);
    let (mut into, mut from) = transport::pair("pipe:?max=4096").unwrap();
    let (mut to, _out) = transport::pair("pipe:?max=64").unwrap();
    into.send(&[7; 1000]).unwrap();
    match bridge(&mut *from, &mut *to, SLICE, |_| true) {
        Err(BridgeError::Send {
            source:
                SendError::MessageTooLarge {
                    len: 1000, max: 64, ..
                },
            stats,
            ..
        }) => assert_eq!(stats.messages, 0),
        other => panic!("{other:?}"),
    }
}
