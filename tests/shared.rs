//! `Shared<T>` across processes: the seeds' counter under a lock, a holder
//! SIGKILLed mid-update (the next `lock` gets the lock and is told),
//! timeouts against a live holder, forked handles, and a segment a peer
//! filled with garbage (an error or a reported dead owner, never UB or a
//! hang).
#![cfg(not(any(miri, shmlane_loom)))]

mod common;

use std::time::{Duration, Instant};

use common::{
    Ready, ShmName, Watchdog, assert_waited, corruption, fork_child, incompatible_field, put_u32,
    put_u64, raw_mapping,
};
use shmlane::test_support::HeaderOffsets;
use shmlane::{LockError, OpenError, Options, Shared, SharedGuard};

const LIMIT: Duration = Duration::from_secs(10);

/// A record two fields of which must agree: a holder killed between the
/// two writes leaves them apart.
type Pair = [u64; 2];

fn clean<'a, T: bytemuck::Pod>(
    result: Result<SharedGuard<'a, T>, LockError<SharedGuard<'a, T>>>,
) -> SharedGuard<'a, T> {
    match result {
        Ok(guard) => guard,
        Err(e) => panic!("expected a clean lock, got {e:?}"),
    }
}

fn owner_died<'a, T: bytemuck::Pod>(
    result: Result<SharedGuard<'a, T>, LockError<SharedGuard<'a, T>>>,
) -> SharedGuard<'a, T> {
    match result {
        Err(LockError::OwnerDied(guard)) => guard,
        Ok(_) => panic!("the lock was taken over from a dead holder without saying so"),
        Err(e) => panic!("expected OwnerDied, got {e:?}"),
    }
}

/// Issue 13, item 8: a holder SIGKILLed while holding the lock, halfway
/// through an update. The next `lock` gets the lock (it would wait for
/// ever on a plain futex lock) and is told, sees the half-made update,
/// repairs it and marks it consistent; the lock after is clean.
#[test]
fn a_holder_killed_holding_the_lock_is_reported_to_the_next_locker() {
    let _watchdog = Watchdog::new("robust lock after SIGKILL", LIMIT * 2);
    let name = ShmName::new("shared-kill");
    let shared = Shared::<Pair>::create(name.as_str()).unwrap();
    let ready = Ready::new();
    let holder = fork_child(|| {
        let shared = Shared::<Pair>::open(name.as_str()).unwrap();
        let mut guard = clean(shared.lock());
        guard[0] = 1; // the first half of the update
        ready.signal();
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    ready.wait(&holder, LIMIT);
    assert!(matches!(shared.try_lock(), Err(LockError::WouldBlock)));
    holder.kill();
    let mut guard = owner_died(shared.lock_timeout(LIMIT));
    assert_eq!(*guard, [1, 0], "the dead holder's half update");
    assert!(!guard.is_consistent());
    guard[1] = guard[0]; // repaired
    guard.mark_consistent();
    drop(guard);
    assert_eq!(*clean(shared.try_lock()), [1, 1]);
}

/// A holder that was told and did not mark the data consistent leaves it
/// inconsistent: the next holder, in another process, is told too.
#[test]
fn unrepaired_data_is_reported_again_in_the_next_process() {
    let _watchdog = Watchdog::new("robust lock, not repaired", LIMIT * 2);
    let name = ShmName::new("shared-unrepaired");
    let shared = Shared::<u64>::create(name.as_str()).unwrap();
    let ready = Ready::new();
    let holder = fork_child(|| {
        let shared = Shared::<u64>::open(name.as_str()).unwrap();
        std::mem::forget(clean(shared.lock()));
        ready.signal();
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    ready.wait(&holder, LIMIT);
    holder.kill();
    drop(owner_died(shared.lock_timeout(LIMIT)));
    let next = fork_child(|| {
        let shared = Shared::<u64>::open(name.as_str()).unwrap();
        match shared.try_lock() {
            Err(LockError::OwnerDied(mut guard)) => {
                guard.mark_consistent();
                0
            }
            other => {
                eprintln!("second lock after an unrepaired death: {other:?}");
                1
            }
        }
    });
    assert_eq!(next.wait(LIMIT), 0);
    drop(clean(shared.try_lock()));
}

/// The seeds' example: two processes add to one counter under the lock;
/// no increment is lost.
#[test]
fn two_processes_count_under_the_lock_without_losing_an_increment() {
    let _watchdog = Watchdog::new("counter under the lock", LIMIT * 3);
    const EACH: u64 = 20_000;
    let name = ShmName::new("shared-counter");
    let shared = Shared::<u64>::create(name.as_str()).unwrap();
    let counters: Vec<_> = (0..2)
        .map(|_| {
            fork_child(|| {
                let shared = Shared::<u64>::open(name.as_str()).unwrap();
                for _ in 0..EACH {
                    let mut guard = clean(shared.lock());
                    // A read and a write apart, so that an unlocked pair of
                    // processes would lose increments.
                    let seen = guard.get();
                    std::hint::black_box(&seen);
                    guard.set(seen + 1);
                }
                0
            })
        })
        .collect();
    for child in counters {
        assert_eq!(child.wait(LIMIT * 2), 0);
    }
    assert_eq!(*clean(shared.try_lock()), 2 * EACH);
}

/// A live holder is never judged dead, however long it holds the lock
/// (longer than a liveness tick here): the waiter times out.
#[test]
fn a_live_holder_keeps_the_lock_and_a_timed_lock_times_out() {
    let _watchdog = Watchdog::new("timed lock", LIMIT * 2);
    let name = ShmName::new("shared-timeout");
    let shared = Shared::<u64>::create(name.as_str()).unwrap();
    let ready = Ready::new();
    let holder = fork_child(|| {
        let shared = Shared::<u64>::open(name.as_str()).unwrap();
        let _guard = clean(shared.lock());
        ready.signal();
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    ready.wait(&holder, LIMIT);
    let timeout = shmlane::LIVENESS_TICK * 3;
    let start = Instant::now();
    assert!(matches!(
        shared.lock_timeout(timeout),
        Err(LockError::Timeout)
    ));
    assert_waited(start, timeout, "lock_timeout");
    holder.kill();
}

/// A lock taken from a holder that unlocks wakes the sleeper (a handover,
/// not a timeout) and is clean.
#[test]
fn an_unlock_hands_the_lock_to_a_sleeping_process() {
    let _watchdog = Watchdog::new("handover", LIMIT * 2);
    let name = ShmName::new("shared-handover");
    let shared = Shared::<u64>::create(name.as_str()).unwrap();
    let mut guard = clean(shared.lock());
    let waiter = fork_child(|| {
        let shared = Shared::<u64>::open(name.as_str()).unwrap();
        match shared.lock_timeout(LIMIT) {
            Ok(guard) if *guard == 7 => 0,
            other => {
                eprintln!("waiter: {other:?}");
                1
            }
        }
    });
    common::wait_until_sleeping(waiter.pid(), LIMIT);
    *guard = 7;
    drop(guard);
    assert_eq!(waiter.wait(LIMIT), 0);
}

/// A child forked after the open shares the parent's handle, whose holds
/// would be the parent's: it is refused.
#[test]
fn a_handle_used_in_a_forked_child_is_refused() {
    let name = ShmName::new("shared-forked");
    let shared = Shared::<u64>::create(name.as_str()).unwrap();
    let child = fork_child(|| match shared.try_lock() {
        Err(LockError::OtherProcess) => 0,
        other => {
            eprintln!("a forked copy of the handle: {other:?}");
            1
        }
    });
    assert_eq!(child.wait(LIMIT), 0);
}

#[test]
fn open_checks_the_type_and_the_options() {
    let name = ShmName::new("shared-type");
    let _shared = Shared::<u64>::create(name.as_str()).unwrap();
    let err = Shared::<[u8; 3]>::open(name.as_str()).unwrap_err();
    assert_eq!(incompatible_field(err), "slot type size/align");
    assert!(matches!(
        Shared::<u64>::open_with(name.as_str(), &Options::new().capacity(2)),
        Err(OpenError::InvalidConfig(_))
    ));
    assert!(matches!(
        Shared::<u64>::open_with(name.as_str(), &Options::new().release_each_frame(true)),
        Err(OpenError::InvalidConfig(_))
    ));
    assert!(matches!(
        Shared::<u64>::create(name.as_str()),
        Err(OpenError::AlreadyExists { .. })
    ));
    let full = ShmName::new("shared-full");
    let one = Options::new().participants(1);
    let _only = Shared::<u64>::create_with(full.as_str(), &one).unwrap();
    assert!(matches!(
        Shared::<u64>::open(full.as_str()),
        Err(OpenError::TooManyParticipants { limit: 1, .. })
    ));
}

/// Garbage in the lock word (a holder row no table has, or a row nobody
/// holds): `lock` takes the lock over and reports a dead owner, at once
/// or within a tick; it never hangs or follows the value anywhere.
#[test]
fn a_forged_lock_word_is_taken_over_and_reported() {
    let _watchdog = Watchdog::new("forged lock word", LIMIT * 2);
    let name = ShmName::new("shared-forged");
    let shared = Shared::<u64>::create(name.as_str()).unwrap();
    let mut map = raw_mapping(&name);
    let offsets = HeaderOffsets::get();
    // 0xef: row 238, beyond any table; then row 5 (of 64), which nobody holds.
    for forged in [0xdead_beef_u32, 0x0000_0106, 0xffff_ffff] {
        put_u32(&mut map, offsets.lock_word, forged);
        let mut guard = owner_died(shared.lock_timeout(LIMIT));
        guard.mark_consistent();
        drop(guard);
        drop(clean(shared.try_lock()));
    }
}

/// A header a peer broke is refused at open with a typed error.
#[test]
fn a_corrupted_header_is_an_open_error() {
    let name = ShmName::new("shared-corrupt");
    let _shared = Shared::<u64>::create_with(name.as_str(), &Options::new().persist(true)).unwrap();
    let mut map = raw_mapping(&name);
    let offsets = HeaderOffsets::get();
    put_u32(&mut map, offsets.participants, 100_000);
    let found = corruption(Shared::<u64>::open(name.as_str()).unwrap_err());
    assert_eq!(found.what, "participant table size");
    put_u32(&mut map, offsets.participants, 64);
    put_u64(&mut map, offsets.capacity, 3);
    let found = corruption(Shared::<u64>::open(name.as_str()).unwrap_err());
    assert_eq!(found.what, "capacity is not a power of two");
    put_u64(&mut map, offsets.capacity, 1);
    put_u32(&mut map, offsets.kind, 3);
    assert_eq!(
        incompatible_field(Shared::<u64>::open(name.as_str()).unwrap_err()),
        "ring kind"
    );
}

/// A thread that panics holding the lock leaves the data as a dead holder
/// would: the next holder is told.
#[test]
fn a_panic_while_holding_the_lock_is_reported_to_the_next_holder() {
    let name = ShmName::new("shared-panic");
    let shared = Shared::<Pair>::create(name.as_str()).unwrap();
    let other = Shared::<Pair>::open(name.as_str()).unwrap();
    #[allow(clippy::disallowed_methods, reason = "a test thread, not ring code")]
    let panicked = std::thread::spawn(move || {
        let mut guard = clean(other.lock());
        guard[0] = 1;
        panic!("halfway through the update");
    })
    .join();
    assert!(panicked.is_err());
    let mut guard = owner_died(shared.try_lock());
    assert_eq!(*guard, [1, 0]);
    guard.mark_consistent();
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Garbage in everything a peer can write after the header (the lock
    /// word, the participant table, the value): a timed lock ends within
    /// its bound with a guard, a reported dead owner or a timeout, the
    /// guard reads and writes a `T`, and a new handle opens or fails with
    /// a typed error. Never a panic, a hang or an access outside the
    /// segment.
    #[test]
    fn garbage_after_the_header_never_panics_or_hangs(
        word in proptest::prelude::any::<u32>(),
        fill in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..64),
    ) {
        let _watchdog = Watchdog::new("garbage in a shared segment", LIMIT);
        let name = ShmName::new("shared-garbage");
        let shared = Shared::<Pair>::create_with(name.as_str(), &Options::new().participants(4))
            .unwrap();
        let mut map = raw_mapping(&name);
        let offsets = HeaderOffsets::get();
        let len = map.len();
        for (i, byte) in map[offsets.len..len].iter_mut().enumerate() {
            *byte = fill[i % fill.len()];
        }
        put_u32(&mut map, offsets.lock_word, word);
        match shared.lock_timeout(Duration::from_millis(5)) {
            Ok(mut guard) | Err(LockError::OwnerDied(mut guard)) => {
                let seen = guard.get();
                guard.set([seen[1], seen[0]]);
                guard.mark_consistent();
            }
            Err(LockError::Timeout) => {}
            Err(other) => panic!("{other:?}"),
        }
        match Shared::<Pair>::open(name.as_str()) {
            Ok(other) => drop(other.try_lock()),
            Err(OpenError::TooManyParticipants { .. } | OpenError::Corrupted { .. }) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
}
