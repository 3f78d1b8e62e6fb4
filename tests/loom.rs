//! Loom models of the SPSC ring and the byte ring: every interleaving
//! (within the preemption bound) of a producer thread and a consumer thread
//! delivers every item exactly once and in order, and loom's cell tracking
//! proves that no slot is read while it is written (SYNC: spsc-publish,
//! spsc-release, bytes-publish, bytes-release).
//!
//! Run: `RUSTFLAGS="--cfg shmlane_loom" cargo test --release --test loom`
#![cfg(shmlane_loom)]

use loom::thread;
use shmlane::{
    GrantError, Options, PopError, PushError, Semaphore, WaitStrategy, Waiter, bytes, spsc,
};

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

fn stream(capacity: usize, items: u64) {
    let (mut tx, mut rx) = spsc::heap_pair::<u64>(&Options::new().capacity(capacity)).unwrap();
    let producer = thread::spawn(move || {
        for v in 1..=items {
            let mut item = v;
            loop {
                match tx.push(item) {
                    Ok(()) => break,
                    Err(PushError::Full(back)) => {
                        item = back;
                        thread::yield_now();
                    }
                    Err(e) => panic!("push: {e}"),
                }
            }
        }
    });
    let mut expected = 1;
    while expected <= items {
        match rx.pop() {
            Ok(v) => {
                assert_eq!(v, expected, "out of order or duplicated");
                expected += 1;
            }
            Err(PopError::Empty) => thread::yield_now(),
            Err(e) => panic!("pop: {e}"),
        }
    }
    producer.join().unwrap();
    // Nothing extra: the producer has dropped, so after the drain the
    // consumer hears that it is gone.
    assert_eq!(rx.pop(), Err(PopError::Disconnected), "nothing extra");
}

#[test]
fn every_item_arrives_once_in_order_capacity_1() {
    model(|| stream(1, 3));
}

#[test]
fn every_item_arrives_once_in_order_capacity_2_with_wrap() {
    model(|| stream(2, 4));
}

/// Both sides block (park at once): capacity 1 with more items than slots
/// forces the producer to sleep on full and the consumer on empty. Loom
/// reports a lost wakeup as a deadlock.
fn blocking_stream(capacity: usize, items: u64, waiter: Waiter) {
    let opts = Options::new()
        .capacity(capacity)
        .wait_strategy(WaitStrategy::Park)
        .waiter(waiter);
    let (mut tx, mut rx) = spsc::heap_pair::<u64>(&opts).unwrap();
    let producer = thread::spawn(move || {
        for v in 1..=items {
            tx.push_blocking(v, None).expect("push_blocking");
        }
    });
    for expected in 1..=items {
        assert_eq!(rx.pop_blocking(None), Ok(expected));
    }
    producer.join().unwrap();
}

#[test]
fn blocking_both_ways_never_loses_a_wakeup_eventcount() {
    model(|| blocking_stream(1, 3, Waiter::EventCount));
}

#[test]
fn blocking_both_ways_never_loses_a_wakeup_semaphore_waiter() {
    // Two items: the semaphore waiter has more states than the eventcount,
    // and two items already make both sides sleep.
    model(|| blocking_stream(1, 2, Waiter::Semaphore));
}

/// The consumer blocks; the producer drops after one item: the consumer
/// gets the item, then Disconnected, and is never left asleep.
#[test]
fn a_drop_wakes_a_blocked_consumer_after_the_drain() {
    model(|| {
        let opts = Options::new().capacity(2).wait_strategy(WaitStrategy::Park);
        let (mut tx, mut rx) = spsc::heap_pair::<u64>(&opts).unwrap();
        let producer = thread::spawn(move || {
            tx.push(7).unwrap();
            drop(tx);
        });
        assert_eq!(rx.pop_blocking(None), Ok(7));
        assert_eq!(rx.pop_blocking(None), Err(PopError::Disconnected));
        producer.join().unwrap();
    });
}

/// P/V ping-pong between two threads on two semaphores.
#[test]
fn semaphore_ping_pong_never_deadlocks() {
    model(|| {
        let ping = std::sync::Arc::new(Semaphore::in_process(0).unwrap());
        let pong = std::sync::Arc::new(Semaphore::in_process(0).unwrap());
        let (ping2, pong2) = (ping.clone(), pong.clone());
        let other = thread::spawn(move || {
            for _ in 0..2 {
                ping2.wait().unwrap();
                pong2.post().unwrap();
            }
        });
        for _ in 0..2 {
            ping.post().unwrap();
            pong.wait().unwrap();
        }
        other.join().unwrap();
        assert_eq!((ping.value(), pong.value()), (0, 0));
    });
}

/// Three frames of 40 bytes (6 words each) through a 128-byte ring (16
/// words): the third does not fit before the end, so a padding frame fills
/// the last 4 words and the frame reuses slots 0..6, which only the
/// consumer's published head (SYNC: bytes-release) hands back.
const FRAMES: [usize; 3] = [40, 40, 40];

fn frame(i: usize) -> Vec<u8> {
    (0..FRAMES[i]).map(|b| (i * 37 + b) as u8).collect()
}

#[test]
fn byte_ring_frames_arrive_whole_once_in_order_across_the_wrap() {
    model(|| {
        let opts = Options::new().capacity(128);
        let (mut tx, mut rx) = bytes::heap_pair(&opts).unwrap();
        let producer = thread::spawn(move || {
            for i in 0..FRAMES.len() {
                loop {
                    match tx.send(&frame(i)) {
                        Ok(()) => break,
                        Err(GrantError::Full) => thread::yield_now(),
                        Err(e) => panic!("send: {e}"),
                    }
                }
            }
        });
        let mut buf = Vec::new();
        let mut next = 0;
        while next < FRAMES.len() {
            match rx.recv_into(&mut buf) {
                Ok(_) => {
                    assert_eq!(buf, frame(next), "lost, torn or reordered frame");
                    next += 1;
                }
                Err(PopError::Empty) => thread::yield_now(),
                Err(e) => panic!("recv: {e}"),
            }
        }
        producer.join().unwrap();
        assert_eq!(rx.recv_into(&mut buf), Err(PopError::Disconnected));
    });
}

/// Both ends block (park at once) on a byte ring that holds two of the
/// three frames (4 words each in 8): the producer sleeps on full, the
/// consumer on empty, and the returned space must wake the producer.
#[test]
fn byte_ring_blocking_never_loses_a_wakeup() {
    model(|| {
        let opts = Options::new()
            .capacity(64)
            .wait_strategy(WaitStrategy::Park);
        let (mut tx, mut rx) = bytes::heap_pair(&opts).unwrap();
        let producer = thread::spawn(move || {
            for i in 0..3u8 {
                tx.send_blocking(&[i; 24], None).expect("send_blocking");
            }
        });
        let mut buf = Vec::new();
        for i in 0..2u8 {
            rx.recv_into_blocking(&mut buf, None)
                .expect("recv_into_blocking");
            assert_eq!(buf, [i; 24]);
        }
        producer.join().unwrap();
    });
}
