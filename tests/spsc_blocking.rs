//! Blocking rings and peers across real processes: millions of items through
//! a tiny ring with both sides sleeping, timeouts both ways, disconnects on
//! drop and on SIGKILL, reattach after a crash, counters, and the
//! semaphore. Everything that could hang runs under a watchdog.
#![cfg(not(any(miri, shmlane_loom)))]

mod common;

use std::time::{Duration, Instant};

use common::{Ready, ShmName, Watchdog, assert_waited, fork_child, thread_state, wait_until};
use nix::sys::signal::{Signal, raise};
use nix::unistd::{getpid, gettid};
use shmlane::{
    OpenError, Options, PopError, PushError, ReserveError, SEM_VALUE_MAX, SemError, Semaphore,
    WaitStrategy, Waiter, spsc,
};

const WAIT: Duration = Duration::from_secs(120);

/// Streams `count` sequence numbers child → parent through a blocking ring
/// of capacity 2 and checks order; returns the ring's stats.
fn blocking_stream(count: u64, opts: &Options) -> shmlane::Stats {
    let _dog = Watchdog::new("blocking stream", WAIT);
    let (tx, mut rx) = spsc::pair::<u64>(opts).unwrap();
    let child = fork_child(move || {
        let mut tx = tx;
        for seq in 0..count {
            if let Err(e) = tx.send(seq) {
                eprintln!("push_blocking: {e}");
                return 1;
            }
        }
        0
    });
    for expected in 0..count {
        assert_eq!(rx.recv(), Ok(expected));
    }
    assert_eq!(child.wait(WAIT), 0);
    // The producer dropped on exit: drained, so Disconnected.
    assert_eq!(rx.recv(), Err(PopError::Disconnected));
    rx.stats()
}

#[test]
fn millions_of_items_through_capacity_2_with_both_sides_blocking() {
    let stats = blocking_stream(2_000_000, &Options::new().capacity(2));
    assert_eq!((stats.pushes, stats.pops), (2_000_000, 2_000_000));
}

#[test]
fn park_at_once_sleeps_and_is_woken_every_time() {
    let opts = Options::new().capacity(2).wait_strategy(WaitStrategy::Park);
    let stats = blocking_stream(100_000, &opts);
    assert_eq!(stats.pops, 100_000);
    assert!(
        stats.wait_syscalls > 0 && stats.wake_syscalls > 0,
        "{stats:?}"
    );
    assert!(stats.empty_waits > 0, "{stats:?}");
}

#[test]
fn the_semaphore_waiter_passes_the_same_stream() {
    let opts = Options::new()
        .capacity(2)
        .waiter(Waiter::Semaphore)
        .wait_strategy(WaitStrategy::Park);
    let stats = blocking_stream(100_000, &opts);
    assert_eq!(stats.pops, 100_000);
    assert!(
        stats.wait_syscalls > 0 && stats.wake_syscalls > 0,
        "{stats:?}"
    );
}

#[test]
fn the_spin_strategy_passes_the_same_stream() {
    let opts = Options::new().capacity(2).wait_strategy(WaitStrategy::Spin);
    let stats = blocking_stream(200_000, &opts);
    assert_eq!(stats.wait_syscalls, 0, "spinning never sleeps: {stats:?}");
}

#[test]
fn timeouts_in_both_directions_hand_the_value_back() {
    let _dog = Watchdog::new("timeouts", WAIT);
    for strategy in [
        WaitStrategy::Spin,
        WaitStrategy::SpinThenPark,
        WaitStrategy::Park,
    ] {
        let opts = Options::new().capacity(1).wait_strategy(strategy);
        let (mut tx, mut rx) = spsc::pair::<u64>(&opts).unwrap();
        let timeout = Duration::from_millis(30);
        let short = timeout;
        let start = Instant::now();
        assert_eq!(
            rx.recv_timeout(short),
            Err(PopError::Timeout),
            "{strategy:?}"
        );
        assert_waited(start, timeout, &format!("{strategy:?} pop"));
        tx.push(1).unwrap();
        let start = Instant::now();
        assert_eq!(
            tx.send_timeout(2, short),
            Err(PushError::Timeout(2)),
            "{strategy:?}"
        );
        assert_waited(start, timeout, &format!("{strategy:?} push"));
        let start = Instant::now();
        assert!(matches!(
            tx.write_chunk_timeout(1, short),
            Err(ReserveError::Timeout)
        ));
        assert_waited(start, timeout, &format!("{strategy:?} write_chunk"));
        assert_eq!(rx.recv_timeout(short), Ok(1));
        let start = Instant::now();
        assert!(matches!(
            rx.read_chunk_timeout(1, short),
            Err(PopError::Timeout)
        ));
        assert_waited(start, timeout, &format!("{strategy:?} read_chunk"));
        let stats = rx.stats();
        assert!(stats.full_waits >= 2 && stats.empty_waits >= 2, "{stats:?}");
    }
}

#[test]
fn a_killed_producer_is_noticed_after_the_drain() {
    let _dog = Watchdog::new("SIGKILLed producer", WAIT);
    let (tx, mut rx) = spsc::pair::<u64>(&Options::new().capacity(8)).unwrap();
    // Borrowed: the `move` closure takes `tx`, not the pipe.
    let ready = &Ready::new();
    let (parent, sleeper) = (getpid(), gettid());
    let child = fork_child(move || {
        let mut tx = tx;
        for v in 0..5 {
            tx.push(v).unwrap();
        }
        ready.signal();
        // Die only once the consumer sleeps in its second wait (the first
        // times out), so that SIGKILL finds it asleep.
        wait_until("the consumer asleep in its second wait", WAIT, || {
            tx.stats().empty_waits >= 2 && thread_state(parent, sleeper) == Some('S')
        });
        raise(Signal::SIGKILL).unwrap();
        unreachable!("SIGKILL ends the process")
    });
    ready.wait(&child, WAIT);
    // While the producer lives, a blocking pop after the drain times out.
    for v in 0..5 {
        assert_eq!(rx.recv(), Ok(v));
    }
    let start = Instant::now();
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(120)),
        Err(PopError::Timeout)
    );
    assert_waited(
        start,
        Duration::from_millis(120),
        "pop with the producer alive",
    );
    assert!(!rx.is_disconnected());
    // SIGKILL wakes nobody: the sleeper's liveness tick notices the lock gone.
    assert_eq!(rx.recv(), Err(PopError::Disconnected));
    assert!(rx.is_disconnected());
    assert_eq!(child.wait(WAIT), 128 + Signal::SIGKILL as i32);
}

#[test]
fn a_dropped_or_killed_consumer_disconnects_the_producer() {
    let _dog = Watchdog::new("consumer gone", WAIT);
    // Dropped: pushes are refused at the latest when the ring fills (the
    // producer looks at the consumer's state whenever it re-reads `head`).
    let (mut tx, rx) = spsc::pair::<u64>(&Options::new().capacity(2)).unwrap();
    let child = fork_child(move || {
        let mut rx = rx;
        i32::from(rx.recv() != Ok(1))
    });
    tx.send(1).unwrap();
    assert_eq!(child.wait(WAIT), 0);
    assert!(tx.is_disconnected());
    let refused = (2..=4).find_map(|v| tx.push(v).err());
    assert!(
        matches!(refused, Some(PushError::Disconnected(_))),
        "{refused:?}"
    );
    assert_eq!(tx.send(9), Err(PushError::Disconnected(9)));
    // Killed while the producer waits on a full ring.
    let (mut tx, rx) = spsc::pair::<u64>(&Options::new().capacity(1)).unwrap();
    let (parent, waiter) = (getpid(), gettid());
    let child = fork_child(move || {
        let mut rx = rx;
        let _ = rx.recv(); // attach, take one, then hang
        // ...until the producer sleeps on the full ring: die there.
        wait_until("the producer asleep on the full ring", WAIT, || {
            rx.stats().full_waits >= 1 && thread_state(parent, waiter) == Some('S')
        });
        raise(Signal::SIGKILL).unwrap();
        unreachable!("SIGKILL ends the process")
    });
    tx.send(1).unwrap();
    wait_until("the consumer took the first item", WAIT, || tx.is_empty());
    tx.push(2).unwrap();
    assert_eq!(tx.send(3), Err(PushError::Disconnected(3)));
    assert_eq!(child.wait(WAIT), 128 + Signal::SIGKILL as i32);
}

#[test]
fn a_new_producer_replaces_a_killed_one_and_nothing_is_lost_or_invented() {
    let _dog = Watchdog::new("reattach after SIGKILL", WAIT);
    let name = ShmName::new("reattach");
    let opts = Options::new().capacity(64);
    let mut rx = spsc::Consumer::<u64>::create(name.as_str(), &opts).unwrap();
    let ready = Ready::new();
    let child = fork_child(|| {
        let mut tx = spsc::Producer::<u64>::open(name.as_str(), &opts).unwrap();
        for v in 0..40 {
            tx.send(v).unwrap();
        }
        // Killed mid-write: slots written but never committed.
        let mut chunk = tx.write_chunk(10).unwrap();
        chunk.as_mut_slices().0.fill(u64::MAX);
        ready.signal();
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    ready.wait(&child, WAIT);
    child.kill();
    for v in 0..40 {
        assert_eq!(rx.recv(), Ok(v));
    }
    assert_eq!(rx.recv(), Err(PopError::Disconnected));
    // The kernel dropped the dead producer's lock: a new one can attach and
    // carries on after the last committed item.
    let mut tx = spsc::Producer::<u64>::open(name.as_str(), &opts).expect("reattach");
    assert!(!rx.is_disconnected(), "the new producer is attached");
    for v in 40..100 {
        tx.send(v).unwrap();
        assert_eq!(rx.recv(), Ok(v), "no uncommitted slot is seen");
    }
}

#[test]
fn waiters_must_match_when_asked_and_are_adopted_otherwise() {
    let name = ShmName::new("waiter");
    let _tx =
        spsc::Producer::<u64>::create(name.as_str(), &Options::new().waiter(Waiter::Semaphore))
            .unwrap();
    let err =
        spsc::Consumer::<u64>::open(name.as_str(), &Options::new().waiter(Waiter::EventCount))
            .unwrap_err();
    assert!(
        matches!(
            err,
            OpenError::Incompatible {
                field: "waiter",
                ..
            }
        ),
        "{err}"
    );
    spsc::Consumer::<u64>::open(name.as_str(), &Options::new()).expect("adopts the waiter");
}

/// A counter in a shared anonymous page, bumped with a non-atomic
/// read-yield-write by two processes: only mutual exclusion saves updates.
#[test]
fn a_semaphore_guards_a_shared_counter_across_processes() {
    let _dog = Watchdog::new("semaphore counter", WAIT);
    const ROUNDS: u64 = 20_000;
    let name = ShmName::new("sem-mutex");
    let mutex = Semaphore::create(name.as_str(), 1).unwrap();
    // SAFETY: a fresh anonymous shared mapping of one page, unmapped never
    // (the test process ends soon); only this test uses it.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(page, libc::MAP_FAILED);
    let counter = page.cast::<u64>();
    let bump = |sem: &Semaphore| {
        for _ in 0..ROUNDS {
            sem.wait().unwrap();
            // SAFETY: the page is mapped and u64-aligned; the semaphore makes
            // this the only access in either process.
            let v = unsafe { counter.read_volatile() };
            // Invite the other process to interleave: without the semaphore
            // this loses updates.
            std::thread::yield_now();
            // SAFETY: as for the read.
            unsafe { counter.write_volatile(v + 1) };
            sem.post().unwrap();
        }
    };
    let child = fork_child(|| {
        let sem = Semaphore::open(name.as_str()).unwrap();
        bump(&sem);
        0
    });
    bump(&mutex);
    assert_eq!(child.wait(WAIT), 0);
    // SAFETY: both writers are done; the page is still mapped.
    let total = unsafe { counter.read_volatile() };
    assert_eq!(total, 2 * ROUNDS, "no lost update");
    assert_eq!(mutex.value(), 1);
}

#[test]
fn semaphore_errors_are_typed() {
    let sem = Semaphore::anonymous(0).unwrap();
    assert_eq!(sem.try_wait(), Err(SemError::WouldBlock));
    let start = Instant::now();
    assert_eq!(
        sem.wait_timeout(Duration::from_millis(20)),
        Err(SemError::Timeout)
    );
    assert_waited(start, Duration::from_millis(20), "semaphore wait");
    sem.post().unwrap();
    assert_eq!(sem.value(), 1);
    assert_eq!(sem.try_wait(), Ok(()));
    let full = Semaphore::anonymous(SEM_VALUE_MAX).unwrap();
    assert_eq!(full.post(), Err(SemError::Overflow));
    assert!(matches!(
        Semaphore::anonymous(SEM_VALUE_MAX + 1),
        Err(OpenError::InvalidConfig(_))
    ));
    let name = ShmName::new("sem-errors");
    assert!(matches!(
        Semaphore::open(name.as_str()),
        Err(OpenError::NotFound { .. })
    ));
    let _made = Semaphore::create(name.as_str(), 0).unwrap();
    assert!(matches!(
        Semaphore::create(name.as_str(), 0),
        Err(OpenError::AlreadyExists { .. })
    ));
    assert!(matches!(
        Semaphore::create_with(name.as_str(), 0, &Options::new().capacity(4)),
        Err(OpenError::InvalidConfig(_))
    ));
    // A ring is not a semaphore, and the other way round.
    let ring = ShmName::new("not-a-sem");
    let _tx = spsc::Producer::<u64>::create(ring.as_str(), &Options::new()).unwrap();
    assert!(matches!(
        Semaphore::open(ring.as_str()),
        Err(OpenError::Incompatible { .. })
    ));
}

#[test]
fn a_semaphore_wakes_a_sleeper_in_another_process() {
    let _dog = Watchdog::new("semaphore wake", WAIT);
    let sem = Semaphore::anonymous(0).unwrap();
    let done = Semaphore::anonymous(0).unwrap();
    let child = fork_child(|| {
        for _ in 0..1000 {
            if sem.wait().is_err() || done.post().is_err() {
                return 1;
            }
        }
        0
    });
    for _ in 0..1000 {
        sem.post().unwrap();
        done.wait().unwrap();
    }
    assert_eq!(child.wait(WAIT), 0);
}

#[test]
fn an_unused_pair_end_that_goes_away_disconnects_its_peer() {
    let _dog = Watchdog::new("unused pair end", WAIT);
    // In one process: the producer is dropped before it ever pushed.
    let (tx, mut rx) = spsc::heap_pair::<u64>(&Options::new()).unwrap();
    drop(tx);
    assert_eq!(rx.recv(), Err(PopError::Disconnected));
    // Across fork: the child owns the producer but exits before using it,
    // and the parent has dropped its copy.
    let (tx, mut rx) = spsc::pair::<u64>(&Options::new()).unwrap();
    let child = fork_child(move || {
        let _tx = tx;
        0
    });
    assert_eq!(child.wait(WAIT), 0);
    assert_eq!(rx.recv(), Err(PopError::Disconnected));
    // And the other way round: a consumer that never popped.
    let (mut tx, rx) = spsc::heap_pair::<u64>(&Options::new().capacity(1)).unwrap();
    drop(rx);
    tx.push(1).unwrap();
    assert_eq!(tx.send(2), Err(PushError::Disconnected(2)));
}

#[test]
fn a_zero_length_read_chunk_never_hides_unread_items() {
    let _dog = Watchdog::new("read_chunk(0)", WAIT);
    let (tx, mut rx) = spsc::pair::<u64>(&Options::new()).unwrap();
    let child = fork_child(move || {
        let mut tx = tx;
        for v in 0..5 {
            tx.push(v).unwrap();
        }
        0
    });
    assert_eq!(child.wait(WAIT), 0); // pushed 5, then dropped on exit
    assert_eq!(rx.read_chunk(0).map(|c| c.len()), Ok(0));
    for v in 0..5 {
        assert_eq!(rx.pop(), Ok(v));
    }
    assert!(matches!(rx.read_chunk(0), Err(PopError::Disconnected)));
}
