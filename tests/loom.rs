//! Loom model of the SPSC ring: every interleaving (within the preemption
//! bound) of a producer thread and a consumer thread delivers every item
//! exactly once and in order, and loom's cell tracking proves that no slot
//! is read while it is written (SYNC: spsc-publish, spsc-release).
//!
//! Run: `RUSTFLAGS="--cfg shmlane_loom" cargo test --release --test loom`
#![cfg(shmlane_loom)]

use loom::thread;
use shmlane::{Options, PopError, PushError, spsc};

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
    assert_eq!(rx.pop(), Err(PopError::Empty), "nothing extra");
}

#[test]
fn every_item_arrives_once_in_order_capacity_1() {
    model(|| stream(1, 3));
}

#[test]
fn every_item_arrives_once_in_order_capacity_2_with_wrap() {
    model(|| stream(2, 4));
}
