//! The wake-up layer against its issue-14 defects: the semaphore waiter
//! refused where several sleepers share a word, wakeups that stay prompt
//! when the sleepers' membarrier fails, and one wake per item instead of a
//! thundering herd. Tests that read the process-wide wait tallies
//! (`test_support::wait_tally`) run in a forked child, so that no other
//! test's waits are counted; everything that could hang has a watchdog or
//! a child wait limit (hang detectors, never a timing assertion).
#![cfg(not(any(miri, shmlane_loom)))]
// Test threads, not ring code (clippy.toml's rule is for the library).
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "test threads and their flags, not ring code"
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::Duration;

use common::{Watchdog, fork_child, thread_state, wait_until};
use nix::unistd::{Pid, getpid, gettid};
use shmlane::test_support::wait_tally;
use shmlane::{OpenError, Options, PopError, WaitStrategy, Waiter, mpmc, spsc};

/// Hang detector for a child (not a timing assertion: it is minutes).
const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn mpmc_refuses_the_semaphore_waiter() {
    let opts = Options::new().waiter(Waiter::Semaphore);
    for result in [
        mpmc::heap_pair::<u64>(&opts).map(drop),
        mpmc::pair::<u64>(&opts).map(drop),
    ] {
        match result {
            Err(OpenError::InvalidConfig(text)) => {
                assert!(text.contains("semaphore"), "{text}");
            }
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }
    // The eventcount is still fine, and the SPSC ring keeps the semaphore.
    mpmc::heap_pair::<u64>(&Options::new().waiter(Waiter::EventCount)).unwrap();
    spsc::heap_pair::<u64>(&opts).unwrap();
}

/// `rounds` round trips between two threads over two rings whose ends
/// park at once (both sides sleep on every wait).
fn round_trips(waiter: Waiter, rounds: u64) {
    let opts = Options::new()
        .capacity(1)
        .wait_strategy(WaitStrategy::Park)
        .waiter(waiter);
    let (mut ping_tx, mut ping_rx) = spsc::heap_pair::<u64>(&opts).unwrap();
    let (mut pong_tx, mut pong_rx) = spsc::heap_pair::<u64>(&opts).unwrap();
    let echo = std::thread::spawn(move || {
        for _ in 0..rounds {
            let v = ping_rx.recv().expect("ping");
            pong_tx.send(v + 1).expect("pong");
        }
    });
    for i in 0..rounds {
        ping_tx.send(i).expect("send");
        assert_eq!(pong_rx.recv(), Ok(i + 1));
    }
    echo.join().unwrap();
}

/// `items` through a ring of capacity 1 whose ends park at once: the
/// producer sleeps on full and the consumer on empty, and each publishes
/// while the other is about to sleep, over and over.
fn parked_stream(waiter: Waiter, items: u64) {
    let opts = Options::new()
        .capacity(1)
        .wait_strategy(WaitStrategy::Park)
        .waiter(waiter);
    let (mut tx, mut rx) = spsc::heap_pair::<u64>(&opts).unwrap();
    let producer = std::thread::spawn(move || {
        for i in 0..items {
            tx.send(i).expect("send");
        }
    });
    for i in 0..items {
        assert_eq!(rx.recv(), Ok(i));
    }
    producer.join().unwrap();
}

#[test]
fn wakeups_stay_prompt_when_the_sleepers_membarrier_fails() {
    // In a child whose sleepers' membarrier "fails" (the switch is read
    // once per process, at the child's first endpoint) while its
    // publishers stay registered for the light fence: a store-buffering
    // race between a light publisher and a fence-only sleeper loses the
    // wake, and only the liveness tick rescues it. Every wait must instead
    // end by a delivered wake (or a word that moved before it slept).
    let child = fork_child(|| {
        // SAFETY: the forked child runs this one thread; nothing reads the
        // environment concurrently.
        unsafe { std::env::set_var("SHMLANE_NO_MEMBARRIER", "1") };
        for waiter in [Waiter::EventCount, Waiter::Semaphore] {
            let before = wait_tally();
            round_trips(waiter, 20_000);
            parked_stream(waiter, 200_000);
            let after = wait_tally();
            let rescues = after.tick_rescues - before.tick_rescues;
            if rescues != 0 {
                eprintln!(
                    "{waiter:?}: {rescues} waits rescued by the liveness tick \
                     ({} woken, {} timed out)",
                    after.woken - before.woken,
                    after.timed_out - before.timed_out
                );
                return 1;
            }
            assert!(after.woken > before.woken, "{waiter:?}: nobody ever slept");
        }
        0
    });
    assert_eq!(child.wait(LIMIT), 0);
}

/// Whether every thread in `tids` of this process sleeps (state 'S').
fn all_asleep(tids: &[i32]) -> bool {
    let pid = getpid();
    tids.iter()
        .all(|&tid| thread_state(pid, Pid::from_raw(tid)) == Some('S'))
}

#[test]
fn one_item_wakes_one_of_several_sleeping_receivers() {
    // Four receivers park on one MPMC word; one item is sent. Wake-one
    // delivers one futex wake; the herd woke all four, and three went back
    // to sleep (through a membarrier each). Counted as futex waits ended by
    // a wake, in a child so that no other test's waits are counted.
    let child = fork_child(|| {
        let _dog = Watchdog::new("herd", LIMIT);
        let opts = Options::new()
            .capacity(4)
            .participants(8)
            .wait_strategy(WaitStrategy::Park);
        let (mut tx, mut rx) = mpmc::heap_pair::<u64>(&opts).unwrap();
        // Both ends in use (attached) before anyone sleeps.
        tx.send(0).unwrap();
        assert_eq!(rx.recv(), Ok(0));
        let tids = Arc::new([const { AtomicI32::new(0) }; 4]);
        let done = Arc::new(AtomicU32::new(0));
        let mut receivers = Vec::new();
        for i in 0..4 {
            let mut rx = rx.try_clone().unwrap();
            let (tids, done) = (Arc::clone(&tids), Arc::clone(&done));
            receivers.push(std::thread::spawn(move || {
                tids[i].store(gettid().as_raw(), Ordering::Release);
                let first = rx.recv();
                done.fetch_add(1, Ordering::Release);
                let second = rx.recv();
                (first, second)
            }));
        }
        let tid_list = |tids: &[AtomicI32; 4]| -> Vec<i32> {
            tids.iter().map(|t| t.load(Ordering::Acquire)).collect()
        };
        wait_until("receivers started", LIMIT, || {
            tid_list(&tids).iter().all(|&t| t != 0)
        });
        let all = tid_list(&tids);
        wait_until("all four asleep", LIMIT, || all_asleep(&all));
        let before = wait_tally();
        tx.send(1).unwrap();
        wait_until("one receiver has it", LIMIT, || {
            done.load(Ordering::Acquire) == 1
        });
        // The three others either were never woken or, woken, found
        // nothing and parked again (a woken thread runs, 'R', until then).
        wait_until("the others asleep again", LIMIT, || {
            let mut left = 0;
            let mut asleep = 0;
            for &tid in &all {
                match thread_state(getpid(), Pid::from_raw(tid)) {
                    Some('S') => asleep += 1,
                    Some(_) => left += 1,
                    None => {}
                }
            }
            left == 0 && asleep >= 3
        });
        let woken = wait_tally().woken - before.woken;
        drop(tx); // wakes everyone: Disconnected
        drop(rx);
        for receiver in receivers {
            let (first, second) = receiver.join().unwrap();
            assert!(
                matches!(
                    (&first, &second),
                    (Ok(1), Err(PopError::Disconnected)) | (Err(PopError::Disconnected), _)
                ),
                "{first:?} {second:?}"
            );
        }
        if woken != 1 {
            eprintln!("one item woke {woken} sleepers");
            return 1;
        }
        0
    });
    assert_eq!(child.wait(LIMIT), 0);
}

#[test]
fn two_items_published_behind_a_slow_writer_wake_two_receivers() {
    // Two receivers park. Sender A claims position 0 and holds it (a
    // reservation: WRITING); sender B publishes position 1, whose one wake
    // finds position 0 still being written, so its receiver sleeps again.
    // A commits: its one wake finds two items. The receiver that takes
    // the first hands the second on at once, with a wake syscall of its
    // own; without that, the second receiver slept on until its liveness
    // tick found the item (no syscall: one wake in all).
    let child = fork_child(|| {
        let _dog = Watchdog::new("hand on", LIMIT);
        let opts = Options::new()
            .capacity(4)
            .participants(8)
            .wait_strategy(WaitStrategy::Park);
        let (mut tx_a, mut rx) = mpmc::heap_pair::<u64>(&opts).unwrap();
        tx_a.send(0).unwrap();
        assert_eq!(rx.recv(), Ok(0));
        let mut tx_b = tx_a.try_clone().unwrap();
        let tids = Arc::new([const { AtomicI32::new(0) }; 2]);
        let mut receivers = Vec::new();
        for i in 0..2 {
            let mut rx = rx.try_clone().unwrap();
            let tids = Arc::clone(&tids);
            receivers.push(std::thread::spawn(move || {
                tids[i].store(gettid().as_raw(), Ordering::Release);
                // The end comes back undropped: a drop wakes too.
                (rx.recv(), rx)
            }));
        }
        let started = || {
            tids.iter()
                .map(|t| t.load(Ordering::Acquire))
                .collect::<Vec<_>>()
        };
        wait_until("receivers started", LIMIT, || {
            started().iter().all(|&t| t != 0)
        });
        let all = started();
        wait_until("both asleep", LIMIT, || all_asleep(&all));
        let mut held = tx_a.reserve_blocking().unwrap();
        *held.get_mut() = 1;
        tx_b.send(2).unwrap();
        // B's wake came to nothing: both asleep again, position 0 held.
        wait_until("both asleep again", LIMIT, || all_asleep(&all));
        let wakes_before = rx.stats().wake_syscalls;
        held.commit();
        let (mut got, ends): (Vec<u64>, Vec<_>) = receivers
            .into_iter()
            .map(|r| {
                let (item, end) = r.join().unwrap();
                (item.unwrap(), end)
            })
            .unzip();
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        let wakes = rx.stats().wake_syscalls - wakes_before;
        drop(ends);
        assert_eq!(wakes, 2, "A's wake, then the first receiver's hand-on");
        0
    });
    assert_eq!(child.wait(LIMIT), 0);
}
