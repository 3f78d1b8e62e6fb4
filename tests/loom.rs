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
    GrantError, Options, PopError, PushError, Semaphore, WaitStrategy, Waiter, bytes, mpmc, spsc,
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
            tx.send(v).expect("send");
        }
    });
    for expected in 1..=items {
        assert_eq!(rx.recv(), Ok(expected));
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
        assert_eq!(rx.recv(), Ok(7));
        assert_eq!(rx.recv(), Err(PopError::Disconnected));
        producer.join().unwrap();
    });
}

/// The producer blocks on a full ring; the consumer takes one item and
/// drops: the producer's second blocking push gets the room, its third
/// `Disconnected` (its value handed back), and it is never left asleep
/// (issue 14: a consumer drop that wakes a blocked producer).
#[test]
fn a_consumer_drop_wakes_a_blocked_producer() {
    model(|| {
        let opts = Options::new().capacity(1).wait_strategy(WaitStrategy::Park);
        let (mut tx, mut rx) = spsc::heap_pair::<u64>(&opts).unwrap();
        let consumer = thread::spawn(move || {
            assert_eq!(rx.recv(), Ok(1));
            drop(rx);
        });
        tx.push(1).unwrap();
        // Blocks until the consumer takes 1 (room) or drops (gone): both
        // are answers, never a sleep through them.
        match tx.send(2) {
            Ok(()) => assert_eq!(tx.send(3), Err(PushError::Disconnected(3))),
            Err(e) => assert_eq!(e, PushError::Disconnected(2)),
        }
        consumer.join().unwrap();
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
                    match tx.try_send(&frame(i)) {
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
            match rx.try_recv(&mut buf) {
                Ok(_) => {
                    assert_eq!(buf, frame(next), "lost, torn or reordered frame");
                    next += 1;
                }
                Err(PopError::Empty) => thread::yield_now(),
                Err(e) => panic!("recv: {e}"),
            }
        }
        producer.join().unwrap();
        assert_eq!(rx.try_recv(&mut buf), Err(PopError::Disconnected));
    });
}

/// Both ends block (park at once) on a byte ring that holds two of the
/// three frames (4 words each in 8): the producer sleeps on full, the
/// consumer on empty, and the returned space must wake the producer for
/// its third frame.
#[test]
fn byte_ring_blocking_never_loses_a_wakeup() {
    model(|| {
        let opts = Options::new()
            .capacity(64)
            .wait_strategy(WaitStrategy::Park);
        let (mut tx, mut rx) = bytes::heap_pair(&opts).unwrap();
        let producer = thread::spawn(move || {
            for i in 0..3u8 {
                tx.send(&[i; 24]).expect("send");
            }
        });
        // Two receives suffice: the third send waits for the first frame's
        // space (a full ring); receiving the third too only multiplies the
        // interleavings (minutes more of loom).
        let mut buf = Vec::new();
        for i in 0..2u8 {
            rx.recv(&mut buf).expect("recv");
            assert_eq!(buf, [i; 24]);
        }
        producer.join().unwrap();
    });
}

/// A model with `bound` preemptions. The MPMC models have more threads than
/// the SPSC ones and their receivers spin: with four threads even a bound
/// of 1 runs for more than ten minutes here, so those run at 0 (every
/// interleaving the blocking and yielding points allow), and the
/// three-thread ones at 1 or 2.
fn model_bounded(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(bound);
    }
    // Four threads polling each other make long executions.
    builder.max_branches = builder.max_branches.max(20_000);
    builder.check(f);
}

/// Receives (spinning with try_recv) until `total` items have been
/// received by all receivers together, recording each in `seen` (a bit per
/// item): a duplicate fails.
fn receive_share(
    rx: &mut mpmc::Receiver<u64>,
    seen: &loom::sync::atomic::AtomicU64,
    received: &loom::sync::atomic::AtomicU64,
    total: u64,
) {
    use loom::sync::atomic::Ordering;
    while received.load(Ordering::Acquire) < total {
        match rx.try_recv() {
            Ok(v) => {
                let bit = 1 << v;
                let before = seen.fetch_or(bit, Ordering::Relaxed);
                assert_eq!(before & bit, 0, "item {v} received twice");
                received.fetch_add(1, Ordering::Release);
            }
            Err(PopError::Empty) => thread::yield_now(),
            Err(e) => panic!("try_recv: {e}"),
        }
    }
}

/// Two senders and two receivers on a ring of 2 slots, one item per
/// sender: every item is received exactly once, and loom's cell tracking
/// proves no slot is read while written (SYNC: mpmc-publish). The ends are
/// dropped after the joins (their detach and wake are modelled elsewhere),
/// which keeps the model small enough for a bound of 1.
#[test]
fn mpmc_two_senders_two_receivers_exactly_once() {
    model_bounded(0, || {
        use loom::sync::Arc;
        use loom::sync::atomic::AtomicU64;
        let opts = Options::new().capacity(2).participants(4);
        let (mut tx0, mut rx0) = mpmc::heap_pair::<u64>(&opts).unwrap();
        let mut tx1 = tx0.try_clone().unwrap();
        let mut rx1 = rx0.try_clone().unwrap();
        let seen = Arc::new(AtomicU64::new(0));
        let received = Arc::new(AtomicU64::new(0));
        let s0 = thread::spawn(move || {
            tx0.try_send(0).unwrap();
            tx0
        });
        let s1 = thread::spawn(move || {
            tx1.try_send(1).unwrap();
            tx1
        });
        let r1 = {
            let (seen, received) = (seen.clone(), received.clone());
            thread::spawn(move || {
                receive_share(&mut rx1, &seen, &received, 2);
                rx1
            })
        };
        receive_share(&mut rx0, &seen, &received, 2);
        let ends = (s0.join().unwrap(), s1.join().unwrap(), r1.join().unwrap());
        assert_eq!(seen.load(loom::sync::atomic::Ordering::Relaxed), 0b11);
        assert_eq!(rx0.try_recv(), Err(PopError::Empty), "nothing extra");
        drop(ends);
    });
}

/// One sender, two receivers racing for three items on two slots (so they
/// wrap): each item exactly once, and a receiver that
/// jumps its cursor to the head hint never reads a slot as an earlier lap
/// (SYNC: mpmc-hint: a larger model with a preemption found that one,
/// before the hints were Acquire/Release).
#[test]
fn mpmc_two_receivers_race_over_laps() {
    model_bounded(0, || {
        use loom::sync::Arc;
        use loom::sync::atomic::AtomicU64;
        let opts = Options::new().capacity(2).participants(3);
        let (mut tx, mut rx0) = mpmc::heap_pair::<u64>(&opts).unwrap();
        let mut rx1 = rx0.try_clone().unwrap();
        let seen = Arc::new(AtomicU64::new(0));
        let received = Arc::new(AtomicU64::new(0));
        let sender = thread::spawn(move || {
            send_all(&mut tx, 0..3);
            tx
        });
        let r1 = {
            let (seen, received) = (seen.clone(), received.clone());
            thread::spawn(move || {
                receive_share(&mut rx1, &seen, &received, 3);
                rx1
            })
        };
        receive_share(&mut rx0, &seen, &received, 3);
        let ends = (sender.join().unwrap(), r1.join().unwrap());
        assert_eq!(seen.load(loom::sync::atomic::Ordering::Relaxed), 0b111);
        drop(ends);
    });
}

/// The same two senders and two receivers, the receivers blocking (park
/// at once) until the senders drop: nobody sleeps through a wakeup (loom
/// reports that as a deadlock) and both receivers end with Disconnected,
/// only after the drain.
#[test]
fn mpmc_blocking_receivers_wake_for_every_item_and_the_disconnect() {
    model_bounded(BLOCKING_BOUND, || {
        use loom::sync::Arc;
        use loom::sync::atomic::{AtomicU64, Ordering};
        let opts = Options::new()
            .capacity(2)
            .participants(4)
            .wait_strategy(WaitStrategy::Park);
        let (mut tx0, mut rx0) = mpmc::heap_pair::<u64>(&opts).unwrap();
        let mut tx1 = tx0.try_clone().unwrap();
        let mut rx1 = rx0.try_clone().unwrap();
        let seen = Arc::new(AtomicU64::new(0));
        let receive = |rx: &mut mpmc::Receiver<u64>, seen: &AtomicU64| loop {
            match rx.recv() {
                Ok(v) => {
                    let before = seen.fetch_or(1 << v, Ordering::Relaxed);
                    assert_eq!(before & 1 << v, 0, "item {v} received twice");
                }
                Err(PopError::Disconnected) => return,
                Err(e) => panic!("recv: {e}"),
            }
        };
        let s0 = thread::spawn(move || tx0.try_send(0).unwrap());
        let s1 = thread::spawn(move || tx1.try_send(1).unwrap());
        let r1 = {
            let seen = seen.clone();
            thread::spawn(move || receive(&mut rx1, &seen))
        };
        receive(&mut rx0, &seen);
        s0.join().unwrap();
        s1.join().unwrap();
        r1.join().unwrap();
        assert_eq!(seen.load(Ordering::Relaxed), 0b11);
    });
}

const BLOCKING_BOUND: usize = 0;

/// One slot, a sender that blocks while it is full and a receiver that
/// blocks while it is empty, three items: the sender sleeping on a full
/// ring is woken by each release (SYNC: mpmc-release, eventcount-dekker),
/// every item arrives once and in order, and the receiver then sees the
/// sender's drop as `Disconnected`.
#[test]
fn mpmc_a_sender_blocked_on_a_full_ring_wakes_for_room() {
    model_bounded(1, || {
        let opts = Options::new()
            .capacity(1)
            .participants(2)
            .wait_strategy(WaitStrategy::Park);
        let (mut tx, mut rx) = mpmc::heap_pair::<u64>(&opts).unwrap();
        let sender = thread::spawn(move || {
            for v in 0..3 {
                tx.send(v).unwrap();
            }
        });
        for v in 0..3 {
            assert_eq!(rx.recv(), Ok(v));
        }
        assert_eq!(rx.recv(), Err(PopError::Disconnected));
        sender.join().unwrap();
    });
}

/// One sender, one receiver, one slot, three items: every slot hand-over
/// across laps (SYNC: mpmc-release: the sender writes a slot only after the
/// receiver of the previous lap has read it).
#[test]
fn mpmc_laps_hand_slots_over_in_order() {
    model_bounded(2, || {
        let opts = Options::new().capacity(1).participants(2);
        let (mut tx, mut rx) = mpmc::heap_pair::<u64>(&opts).unwrap();
        let sender = thread::spawn(move || send_all(&mut tx, 1..=3));
        let mut expected = 1;
        while expected <= 3 {
            match rx.try_recv() {
                Ok(v) => {
                    assert_eq!(v, expected, "out of order or duplicated");
                    expected += 1;
                }
                Err(PopError::Empty) => thread::yield_now(),
                Err(e) => panic!("try_recv: {e}"),
            }
        }
        sender.join().unwrap();
        assert_eq!(rx.try_recv(), Err(PopError::Disconnected), "nothing extra");
    });
}

fn send_all(tx: &mut mpmc::Sender<u64>, items: impl Iterator<Item = u64>) {
    for v in items {
        let mut item = v;
        loop {
            match tx.try_send(item) {
                Ok(()) => break,
                Err(PushError::Full(back)) => {
                    item = back;
                    thread::yield_now();
                }
                Err(e) => panic!("try_send: {e}"),
            }
        }
    }
}

/// A reservation dropped uncommitted while another sender sends: the
/// receiver passes over the skipped slot, gets the other item, and the
/// skipped slot is free again for a later item.
#[test]
fn mpmc_a_dropped_reservation_is_passed_over() {
    model_bounded(1, || {
        let opts = Options::new().capacity(2).participants(3);
        let (mut tx0, mut rx) = mpmc::heap_pair::<u64>(&opts).unwrap();
        let mut tx1 = tx0.try_clone().unwrap();
        let s0 = thread::spawn(move || {
            let mut slot = tx0.reserve().unwrap();
            slot.write(99);
            drop(slot);
            send_all(&mut tx0, [1].into_iter());
        });
        let s1 = thread::spawn(move || send_all(&mut tx1, [10].into_iter()));
        let mut got = Vec::new();
        while got.len() < 2 {
            match rx.try_recv() {
                Ok(v) => got.push(v),
                Err(PopError::Empty) => thread::yield_now(),
                Err(e) => panic!("try_recv: {e}"),
            }
        }
        s0.join().unwrap();
        s1.join().unwrap();
        got.sort_unstable();
        assert_eq!(got, [1, 10], "the skipped item is never received");
        assert_eq!(rx.stats().skipped, 1);
    });
}

/// Issue 14, defect 1: a receiver dies (heap storage: its row's lock
/// cleared, nothing run on its behalf) holding the only item, claimed at
/// its own lap, after the only sender left. Two receivers race past its
/// claim: exactly one takes it over (one compare-exchange winner), the
/// item is received exactly once, and neither reports `Disconnected`
/// before the takeover (or the winner's live claim) is seen. Covers the
/// takeover's mpmc-publish edge (a claim read from the dead receiver's
/// read-modify-write) and the winner's release. Preemption bound 3: two
/// threads, each polling until `Disconnected`.
#[test]
fn mpmc_a_dead_receivers_claim_is_taken_over_once() {
    model_bounded(3, || {
        use loom::sync::Arc;
        use loom::sync::atomic::{AtomicU64, Ordering};
        let opts = Options::new().capacity(2).participants(4);
        let (mut tx, mut dying) = mpmc::heap_pair::<u64>(&opts).unwrap();
        let mut rx1 = dying.try_clone().unwrap();
        let mut rx2 = dying.try_clone().unwrap();
        tx.try_send(7).unwrap();
        drop(tx);
        assert_eq!(dying.recv_and_stall_for_tests(), Ok(7));
        dying.crash_for_tests();
        let got = Arc::new(AtomicU64::new(0));
        let other = {
            let got = got.clone();
            thread::spawn(move || {
                drain_counting(&mut rx2, &got);
                rx2
            })
        };
        drain_counting(&mut rx1, &got);
        let rx2 = other.join().unwrap();
        assert_eq!(got.load(Ordering::Relaxed), 1, "lost or duplicated");
        assert_eq!(rx1.stats().recovered, 1);
        drop((rx1, rx2));
    });
}

/// Receives until `Disconnected`, counting the items (all must be 7).
fn drain_counting(rx: &mut mpmc::Receiver<u64>, got: &loom::sync::atomic::AtomicU64) {
    loop {
        match rx.try_recv() {
            Ok(v) => {
                assert_eq!(v, 7);
                got.fetch_add(1, loom::sync::atomic::Ordering::Relaxed);
            }
            Err(PopError::Disconnected) => return,
            Err(PopError::Empty) => thread::yield_now(),
            Err(e) => panic!("try_recv: {e}"),
        }
    }
}

// ---- Wake-up layer (issue 14): HEAVY fallback, wake-one with two sleepers.

/// The sleepers' membarrier fails (issue 14, defect 3): publishers stay
/// light, and under this switch loom models their compiler fence as no
/// fence at all (as on a real CPU without the kernel's barrier), so only
/// the wake word's HEAVY bit, set at endpoint creation, and the
/// publisher's fence-and-reload when it sees it prevent a lost wakeup.
/// Coverage: SPSC, capacity 1, two items (both sides park: the second
/// send waits for room), both waiters; preemption bound 2 (bound 3 with
/// three items ran for more than ten minutes here). Without the
/// publisher's HEAVY branch loom reports the deadlock (checked).
fn blocking_stream_without_membarrier(waiter: Waiter, items: u64) {
    shmlane::set_membarrier_broken(true);
    blocking_stream(1, items, waiter);
}

#[test]
fn heavy_publishers_never_lose_a_wakeup_eventcount() {
    model_bounded(2, || {
        blocking_stream_without_membarrier(Waiter::EventCount, 2)
    });
}

#[test]
fn heavy_publishers_never_lose_a_wakeup_semaphore_waiter() {
    model_bounded(2, || {
        blocking_stream_without_membarrier(Waiter::Semaphore, 2)
    });
}

/// Two receivers sleep on one MPMC word and each wake wakes one (issue 14,
/// defect 5): one sender sends two items, each receiver takes one, and
/// nobody sleeps through a wake, including when a woken receiver finds the
/// item already taken by the other and has to pass the wake on (the futex
/// model wakes per word, oldest first, `count` at most). The ends drop only
/// after the joins, so the disconnect's wake-all plays no part.
/// Preemption bound 1, three threads.
#[test]
fn two_sleepers_on_one_word_each_get_an_item_with_wake_one() {
    model_bounded(1, || {
        let opts = Options::new()
            .capacity(2)
            .participants(3)
            .wait_strategy(WaitStrategy::Park);
        let (mut tx, mut rx0) = mpmc::heap_pair::<u64>(&opts).unwrap();
        let mut rx1 = rx0.try_clone().unwrap();
        let r1 = thread::spawn(move || {
            let v = rx1.recv().expect("recv");
            (v, rx1)
        });
        let sender = thread::spawn(move || {
            tx.send(1).unwrap();
            tx.send(2).unwrap();
            tx
        });
        let mine = rx0.recv().expect("recv");
        let (theirs, rx1) = r1.join().unwrap();
        let tx = sender.join().unwrap();
        assert_eq!(mine + theirs, 3, "each item once");
        drop((tx, rx1));
    });
}

/// The shared lock's word protocol (`Shared<T>`, SYNC: shared-lock): two
/// handles, each in its own thread, lock, add one to a loom-tracked value
/// and unlock, twice. Loom checks that the value is never touched by both
/// at once and that each sees the other's writes (a causality violation
/// otherwise), and reports a lost unlock wake as a deadlock: the loser
/// parks at once (the futex model has no timeout). Preemption bound 2.
#[test]
fn two_shared_lock_holders_exclude_each_other_and_hand_over() {
    use shmlane::loom_model::LockModel;
    model_bounded(2, || {
        let segment = std::sync::Arc::new(LockModel::new(2));
        let theirs = segment.handle();
        let other = thread::spawn(move || {
            for _ in 0..2 {
                assert!(!theirs.increment(), "nobody died");
            }
        });
        let mine = segment.handle();
        for _ in 0..2 {
            assert!(!mine.increment(), "nobody died");
        }
        other.join().unwrap();
        assert_eq!(mine.read(), 4, "an increment was lost");
    });
}

/// The SPSC chunk API (issue 14): a producer writing chunks of two and a
/// consumer reading chunks of up to two, on a ring of two slots with three
/// items, so chunks wrap and each side waits for the other's publish
/// (blocking forms, parking at once). Every item once, in order; loom's
/// cell tracking proves a chunk's slots are never written while the other
/// side reads them (SYNC: spsc-publish, spsc-release). Preemption bound 3.
#[test]
fn spsc_chunks_move_every_item_once_in_order_across_the_wrap() {
    model(|| {
        let opts = Options::new().capacity(2).wait_strategy(WaitStrategy::Park);
        let (mut tx, mut rx) = spsc::heap_pair::<u64>(&opts).unwrap();
        let producer = thread::spawn(move || {
            let mut next = 1u64;
            while next <= 3 {
                let mut chunk = tx.write_chunk_blocking(2).expect("write_chunk");
                let (first, second) = chunk.as_mut_slices();
                for slot in first.iter_mut().chain(second.iter_mut()) {
                    *slot = next;
                    next += 1;
                }
                chunk.commit_all();
            }
        });
        let mut expected = 1u64;
        while expected <= 3 {
            let chunk = rx.read_chunk_blocking(2).expect("read_chunk");
            let (first, second) = chunk.as_slices();
            for &v in first.iter().chain(second) {
                assert_eq!(v, expected, "lost, duplicated or reordered");
                expected += 1;
            }
            chunk.release_all();
        }
        producer.join().unwrap();
        assert_eq!(rx.read_chunk(2).err(), Some(PopError::Disconnected));
    });
}

/// The byte ring's in-place paths (issue 14): frames written through
/// `grant`/`commit` and read through `read` (a `Frame`, released on drop)
/// across the wrap of the 128-byte ring of the model above (a padding
/// frame, then slots reused only once the consumer's release hands them
/// back: SYNC: bytes-publish, bytes-release). Preemption bound 3.
#[test]
fn byte_ring_grants_and_frames_arrive_whole_once_in_order_across_the_wrap() {
    model(|| {
        let opts = Options::new().capacity(128);
        let (mut tx, mut rx) = bytes::heap_pair(&opts).unwrap();
        let producer = thread::spawn(move || {
            for i in 0..FRAMES.len() {
                let bytes = frame(i);
                loop {
                    match tx.grant(bytes.len()) {
                        Ok(mut grant) => {
                            grant.copy_from_slice(&bytes);
                            assert_eq!(grant.commit(bytes.len()), bytes.len());
                            break;
                        }
                        Err(GrantError::Full) => thread::yield_now(),
                        Err(e) => panic!("grant: {e}"),
                    }
                }
            }
        });
        let mut next = 0;
        while next < FRAMES.len() {
            match rx.read() {
                Ok(got) => {
                    assert_eq!(*got, frame(next), "lost, torn or reordered frame");
                    next += 1;
                }
                Err(PopError::Empty) => thread::yield_now(),
                Err(e) => panic!("read: {e}"),
            }
        }
        producer.join().unwrap();
        assert_eq!(rx.read().err(), Some(PopError::Disconnected));
    });
}

/// Two senders and two receivers (issue 14) at preemption bound 2 (7 s
/// here; bound 3 takes a minute): each
/// thread makes one attempt (a `try_send`, a `try_recv`), with no polling
/// loop to multiply the interleavings (the looping model above runs at
/// bound 0), then the main thread drains what is left. Every item is
/// received exactly once (by a receiver's attempt or by the drain), and
/// no slot is read while written (SYNC: mpmc-publish, mpmc-release).
#[test]
fn mpmc_two_senders_two_receivers_one_attempt_each_exactly_once() {
    model_bounded(2, || {
        let opts = Options::new().capacity(2).participants(5);
        let (mut tx0, mut rx0) = mpmc::heap_pair::<u64>(&opts).unwrap();
        let mut tx1 = tx0.try_clone().unwrap();
        let mut rx1 = rx0.try_clone().unwrap();
        let mut drain = rx0.try_clone().unwrap();
        let s0 = thread::spawn(move || {
            tx0.try_send(0).unwrap();
            tx0
        });
        let s1 = thread::spawn(move || {
            tx1.try_send(1).unwrap();
            tx1
        });
        let r1 = thread::spawn(move || (rx1.try_recv(), rx1));
        let first = rx0.try_recv();
        let (senders, (second, rx1)) =
            ((s0.join().unwrap(), s1.join().unwrap()), r1.join().unwrap());
        let mut got = Vec::new();
        for attempt in [first, second] {
            match attempt {
                Ok(v) => got.push(v),
                Err(PopError::Empty) => {}
                Err(e) => panic!("try_recv: {e}"),
            }
        }
        loop {
            match drain.try_recv() {
                Ok(v) => got.push(v),
                Err(PopError::Empty) => break,
                Err(e) => panic!("drain: {e}"),
            }
        }
        got.sort_unstable();
        assert_eq!(got, [0, 1], "each item exactly once");
        drop((senders, rx0, rx1));
    });
}
