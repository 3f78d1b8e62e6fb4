//! The SPSC ring between two real processes: millions of sequence numbers,
//! none lost, duplicated or reordered; the chunk API likewise; named open
//! from another process; a killed endpoint's role is free again.
#![cfg(not(any(miri, shmlane_loom)))]

mod common;

use std::time::Duration;

use common::{Backoff, Child, Ready, ShmName, Watchdog, fork_child, panic_text};
use shmlane::{OpenError, Options, PopError, PushError, ReserveError, spsc};

const ITEMS: u64 = 10_000_000;
const WAIT: Duration = Duration::from_secs(240);

/// Pushes 0..count; panics if the consumer exits before draining them.
fn push_all(tx: &mut spsc::Producer<u64>, count: u64, consumer: &Child) {
    let mut backoff = Backoff::new();
    for seq in 0..count {
        let mut item = seq;
        loop {
            match tx.push(item) {
                Ok(()) => break,
                Err(PushError::Full(back)) => {
                    item = back;
                    backoff.snooze();
                    assert!(
                        !(backoff.is_long() && consumer.has_exited()),
                        "consumer exited early"
                    );
                }
                Err(e) => panic!("push: {e}"),
            }
        }
        backoff.reset();
    }
}

/// Pops `count` items and returns 0 if they were exactly 0..count in order.
fn pop_and_check(rx: &mut spsc::Consumer<u64>, count: u64) -> i32 {
    let mut backoff = Backoff::new();
    let mut expected = 0;
    while expected < count {
        match rx.pop() {
            Ok(v) if v == expected => {
                expected += 1;
                backoff.reset();
            }
            Ok(v) => {
                eprintln!("expected {expected}, got {v}");
                return 1;
            }
            Err(PopError::Empty) => backoff.snooze(),
            Err(e) => {
                eprintln!("pop: {e}");
                return 1;
            }
        }
    }
    // Nothing extra may follow.
    i32::from(rx.pop() != Err(PopError::Empty))
}

#[test]
fn ten_million_sequence_numbers_cross_processes_in_order() {
    let _dog = Watchdog::new("10M push/pop across processes", WAIT);
    let (mut tx, rx) = spsc::pair::<u64>(&Options::new().capacity(1024)).unwrap();
    let child = fork_child(move || {
        let mut rx = rx;
        pop_and_check(&mut rx, ITEMS)
    });
    push_all(&mut tx, ITEMS, &child);
    assert_eq!(
        child.wait(WAIT),
        0,
        "consumer saw a gap, duplicate or reorder"
    );
}

#[test]
fn ten_million_sequence_numbers_cross_processes_through_chunks() {
    let _dog = Watchdog::new("10M chunked across processes", WAIT);
    let (mut tx, rx) = spsc::pair::<u64>(&Options::new().capacity(1024)).unwrap();
    let child = fork_child(move || {
        let mut rx = rx;
        let mut backoff = Backoff::new();
        let mut expected = 0u64;
        let mut take = 1;
        while expected < ITEMS {
            let chunk = match rx.read_chunk(take) {
                Ok(chunk) => chunk,
                Err(PopError::Empty) => {
                    backoff.snooze();
                    continue;
                }
                Err(e) => {
                    eprintln!("read_chunk: {e}");
                    return 1;
                }
            };
            backoff.reset();
            let (a, b) = chunk.as_slices();
            // Release a varying part of what was read, to exercise partial
            // releases and wrap-arounds.
            let keep = (a.len() + b.len()).div_ceil(2);
            for &v in a.iter().chain(b).take(keep) {
                if v != expected {
                    eprintln!("expected {expected}, got {v}");
                    return 1;
                }
                expected += 1;
            }
            chunk.release(keep);
            take = take % 300 + 7;
        }
        0
    });
    let mut backoff = Backoff::new();
    let mut next = 0u64;
    let mut want = 1;
    while next < ITEMS {
        let mut chunk = match tx.write_chunk(want.min((ITEMS - next) as usize)) {
            Ok(chunk) => chunk,
            Err(ReserveError::Full) => {
                backoff.snooze();
                assert!(
                    !(backoff.is_long() && child.has_exited()),
                    "consumer exited early"
                );
                continue;
            }
            Err(e) => panic!("write_chunk: {e}"),
        };
        backoff.reset();
        let (a, b) = chunk.as_mut_slices();
        let mut written = 0;
        for slot in a.iter_mut().chain(b.iter_mut()) {
            *slot = next + written;
            written += 1;
        }
        // Commit a part only: the rest must be rewritten next time.
        let commit = (written as usize).div_ceil(3).max(1);
        next += chunk.commit(commit) as u64;
        want = want % 500 + 11;
    }
    assert_eq!(
        child.wait(WAIT),
        0,
        "consumer saw a gap, duplicate or reorder"
    );
}

#[test]
fn a_named_segment_is_opened_by_another_process() {
    let _dog = Watchdog::new("named open across processes", WAIT);
    let name = ShmName::new("named");
    let opts = Options::new().capacity(256);
    let mut tx = spsc::Producer::<u64>::create(name.as_str(), &opts).unwrap();
    let child = fork_child(|| match spsc::Consumer::<u64>::open(name.as_str(), &opts) {
        Ok(mut rx) => pop_and_check(&mut rx, 1_000_000),
        Err(e) => {
            eprintln!("open: {e}");
            1
        }
    });
    push_all(&mut tx, 1_000_000, &child);
    assert_eq!(child.wait(WAIT), 0);
}

#[test]
fn a_killed_endpoints_role_is_free_again() {
    let _dog = Watchdog::new("role after SIGKILL", WAIT);
    let name = ShmName::new("killed");
    let mut tx = spsc::Producer::<u64>::create(name.as_str(), &Options::new()).unwrap();
    let ready = Ready::new();
    let child = fork_child(|| {
        let _rx = spsc::Consumer::<u64>::open(name.as_str(), &Options::new()).expect("open");
        ready.signal();
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    ready.wait(&child, WAIT);
    let err = spsc::Consumer::<u64>::open(name.as_str(), &Options::new()).unwrap_err();
    assert!(matches!(err, OpenError::RoleTaken { .. }), "{err}");
    tx.push(5).unwrap();
    child.kill();
    let mut rx = spsc::Consumer::<u64>::open(name.as_str(), &Options::new())
        .expect("the kernel dropped the dead consumer's lock");
    assert_eq!(
        rx.pop(),
        Ok(5),
        "committed item survives the consumer's death"
    );
}

#[test]
fn a_childs_panic_message_reaches_the_parents_failure() {
    let _dog = Watchdog::new("a panicking child", WAIT);
    let child = fork_child(|| {
        let code = 7;
        panic!("the child's own words, code {code}")
    });
    let line = line!() - 2;
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| child.wait(WAIT)))
        .expect_err("waiting for a child that panicked panics");
    let text = panic_text(caught.as_ref());
    assert!(text.contains("the child's own words, code 7"), "{text}");
    assert!(text.contains(&format!("{}:{line}:", file!())), "{text}");
    assert!(text.contains("exit code 101"), "{text}");
    // Text on the child's fd 2 (past the output capture) is reported too.
    let child = fork_child(|| {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "written straight to fd 2");
        3
    });
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| child.wait(WAIT)))
        .expect_err("a failed child that said something");
    let text = panic_text(caught.as_ref());
    assert!(
        text.contains("written straight to fd 2") && text.contains("exit code 3"),
        "{text}"
    );
    // A child that succeeds is not a failure.
    let child = fork_child(|| 0);
    assert_eq!(child.wait(WAIT), 0);
}

/// Pushes 0..10 on a new named ring, lets a forked consumer run
/// `before_death` and die by SIGKILL, then returns the first item a
/// replacement consumer pops: the delivery table's consumer rows.
fn first_item_after_a_killed_consumer(
    test: &str,
    before_death: impl FnOnce(&mut spsc::Consumer<u64>, &Ready),
) -> u64 {
    let _dog = Watchdog::new("killed consumer", WAIT);
    let name = ShmName::new(test);
    let opts = Options::new().capacity(16);
    let mut tx = spsc::Producer::<u64>::create(name.as_str(), &opts).unwrap();
    for seq in 0..10 {
        tx.push(seq).unwrap();
    }
    let ready = Ready::new();
    let child = fork_child(|| {
        let mut rx = spsc::Consumer::<u64>::open(name.as_str(), &opts).unwrap();
        before_death(&mut rx, &ready);
        unreachable!("before_death waits for the SIGKILL")
    });
    ready.wait(&child, WAIT);
    child.kill();
    let mut rx = spsc::Consumer::<u64>::open(name.as_str(), &opts).unwrap();
    rx.pop().unwrap()
}

#[test]
fn items_a_killed_consumer_popped_are_not_received_again() {
    let first = first_item_after_a_killed_consumer("popped", |rx, ready| {
        for seq in 0..3 {
            assert_eq!(rx.pop(), Ok(seq));
        }
        ready.signal();
        std::thread::sleep(Duration::from_secs(600));
    });
    assert_eq!(first, 3, "exactly once: every pop publishes the head");
}

#[test]
fn a_read_chunk_a_killed_consumer_never_released_is_received_again() {
    let first = first_item_after_a_killed_consumer("chunk", |rx, ready| {
        assert_eq!(rx.pop(), Ok(0));
        let chunk = rx.read_chunk(4).unwrap();
        ready.signal();
        std::thread::sleep(Duration::from_secs(600));
        // Held (unreleased) until here, where the SIGKILL never lets it get.
        assert_eq!(chunk.len(), 4);
    });
    assert_eq!(first, 1, "at least once: the chunk was read, not released");
}

/// A producer child pushes 0..3 and signals; it is then SIGKILLed.
fn killed_producer_of_three(tx: spsc::Producer<u64>) -> (Child, Ready) {
    let ready = Ready::new();
    let child = fork_child(|| {
        let mut tx = tx;
        for seq in 0..3 {
            tx.push(seq).unwrap();
        }
        ready.signal();
        std::thread::sleep(Duration::from_secs(600));
        0
    });
    ready.wait(&child, WAIT);
    (child, ready)
}

#[test]
fn a_loop_of_non_blocking_pops_ends_with_disconnected_after_a_sigkill() {
    let _dog = Watchdog::new("non-blocking pops after SIGKILL", WAIT);
    let (tx, mut rx) = spsc::pair::<u64>(&Options::new().capacity(16)).unwrap();
    let (child, _ready) = killed_producer_of_three(tx);
    child.kill();
    let mut got = Vec::new();
    let mut backoff = Backoff::new();
    loop {
        match rx.pop() {
            Ok(v) => got.push(v),
            Err(PopError::Empty) => backoff.snooze(),
            Err(PopError::Disconnected) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(got, [0, 1, 2], "drained, then Disconnected");
}

#[test]
fn a_loop_of_short_timed_receives_ends_with_disconnected_after_a_sigkill() {
    let _dog = Watchdog::new("timed receives after SIGKILL", WAIT);
    let (tx, mut rx) = spsc::pair::<u64>(&Options::new().capacity(16)).unwrap();
    let (child, _ready) = killed_producer_of_three(tx);
    child.kill();
    let mut got = Vec::new();
    loop {
        // Each call is shorter than a liveness tick.
        match rx.recv_timeout(Duration::from_millis(5)) {
            Ok(v) => got.push(v),
            Err(PopError::Timeout) => {}
            Err(PopError::Disconnected) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(got, [0, 1, 2], "drained, then Disconnected");
}

#[test]
fn a_loop_of_non_blocking_pushes_ends_with_disconnected_after_a_sigkill() {
    let _dog = Watchdog::new("non-blocking pushes after SIGKILL", WAIT);
    let (mut tx, rx) = spsc::pair::<u64>(&Options::new().capacity(4)).unwrap();
    let ready = Ready::new();
    let child = fork_child(|| {
        let mut rx = rx;
        assert_eq!(rx.pop(), Err(PopError::Empty), "attached, nothing yet");
        ready.signal();
        std::thread::sleep(Duration::from_secs(600));
        0
    });
    ready.wait(&child, WAIT);
    child.kill();
    let mut backoff = Backoff::new();
    let mut seq = 0;
    loop {
        match tx.push(seq) {
            Ok(()) => seq += 1,
            Err(PushError::Full(_)) => backoff.snooze(),
            Err(PushError::Disconnected(_)) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(seq, 4, "filled the ring, then learned the consumer died");
}
