//! The MPMC ring between real processes: two producer processes and two
//! consumer processes move millions of `(producer, sequence)` items, each
//! received exactly once and every producer's in order; a producer killed
//! while it holds a reservation, and a consumer killed in the middle of a
//! receive, stall nobody and lose no committed item.
#![cfg(not(any(miri, shmlane_loom)))]

mod common;

use std::time::Duration;

use common::{Child, Ready, SharedBytes, ShmName, Watchdog, fork_child};
use shmlane::{OpenError, Options, PopError, mpmc};

const WAIT: Duration = Duration::from_secs(240);
const PRODUCERS: u64 = 2;

fn opts() -> Options {
    Options::new().capacity(1024).participants(8).persist(true)
}

fn item(producer: u64, seq: u64) -> u64 {
    producer << 32 | seq
}

/// Opens a sender and sends `0..count` as producer `id`; 0 on success.
fn produce(name: &ShmName, id: u64, count: u64) -> i32 {
    let mut tx = match mpmc::Sender::<u64>::open(name.as_str(), &opts()) {
        Ok(tx) => tx,
        Err(e) => {
            eprintln!("producer {id}: open: {e}");
            return 1;
        }
    };
    for seq in 0..count {
        if let Err(e) = tx.send(item(id, seq)) {
            eprintln!("producer {id}: send: {e}");
            return 1;
        }
    }
    0
}

/// Receives until every producer is gone and the ring is drained, counting
/// each item in `counts` (one byte per item: `producer * per + seq`) and
/// checking that each producer's items come in increasing order, except
/// for up to `late` items (recovered from a dead consumer) that may come
/// after later ones. Returns the exit code: 0, or 1 on a reordering or an
/// error.
fn consume(name: &ShmName, counts: &mut [u8], per: u64, mut late: u32) -> i32 {
    let mut rx = match mpmc::Receiver::<u64>::open(name.as_str(), &opts()) {
        Ok(rx) => rx,
        Err(e) => {
            eprintln!("consumer: open: {e}");
            return 1;
        }
    };
    let mut last = [None::<u64>; PRODUCERS as usize];
    loop {
        match rx.recv() {
            Ok(v) => {
                let (producer, seq) = (v >> 32, v & 0xffff_ffff);
                if producer >= PRODUCERS || seq >= per {
                    eprintln!("consumer: item {v:#x} was never sent");
                    return 1;
                }
                let last = &mut last[producer as usize];
                if *last >= Some(seq) {
                    if late == 0 {
                        eprintln!("consumer: producer {producer}: {seq} after {last:?}");
                        return 1;
                    }
                    late -= 1;
                } else {
                    *last = Some(seq);
                }
                let count = &mut counts[(producer * per + seq) as usize];
                *count = count.saturating_add(1);
            }
            Err(PopError::Disconnected) => return 0,
            Err(e) => {
                eprintln!("consumer: recv: {e}");
                return 1;
            }
        }
    }
}

/// The per-item counts of both consumers, added: what each `(producer,
/// seq)` was received as, in total.
fn totals(counts: &SharedBytes, per: u64) -> Vec<u8> {
    let bytes = counts.bytes();
    let len = (PRODUCERS * per) as usize;
    (0..len).map(|i| bytes[i] + bytes[len + i]).collect()
}

/// Forks the two consumers, each writing its counts into its half (see
/// `consume` for `late`).
fn consumers<'a>(name: &'a ShmName, counts: &'a SharedBytes, per: u64, late: u32) -> [Child; 2] {
    let len = (PRODUCERS * per) as usize;
    [0, 1].map(|c| {
        fork_child(move || {
            let mine = &mut counts.bytes()[c * len..(c + 1) * len];
            consume(name, mine, per, late)
        })
    })
}

/// Waits for the producers, drops the creator's sender so that the
/// consumers see every sender gone, waits for the consumers, and checks
/// that every item arrived exactly once.
fn finish(
    writers: [Child; 2],
    creator: mpmc::Sender<u64>,
    readers: [Child; 2],
    counts: &SharedBytes,
    per: u64,
) {
    for writer in writers {
        assert_eq!(writer.wait(WAIT), 0, "a producer failed");
    }
    drop(creator);
    for reader in readers {
        assert_eq!(reader.wait(WAIT), 0, "a consumer saw a reorder or an error");
    }
    let totals = totals(counts, per);
    let wrong = totals.iter().position(|&n| n != 1);
    assert_eq!(wrong, None, "an item was lost or duplicated");
}

#[test]
fn two_producers_two_consumers_deliver_every_item_once_in_producer_order() {
    const PER: u64 = 1_500_000;
    let _dog = Watchdog::new("2 producers + 2 consumers across processes", WAIT);
    let name = ShmName::new("mpmc-2p2c");
    let counts = SharedBytes::new((2 * PRODUCERS * PER) as usize);
    // The creator holds a sender until the producers are done, so that the
    // consumers cannot see "every sender gone" before both have opened.
    let creator = mpmc::Sender::<u64>::create(name.as_str(), &opts()).unwrap();
    let readers = consumers(&name, &counts, PER, 0);
    let writers = [0, 1].map(|id| fork_child(|| produce(&name, id, PER)));
    finish(writers, creator, readers, &counts, PER);
}

#[test]
fn a_producer_killed_holding_a_reservation_stalls_nobody() {
    const PER: u64 = 300_000;
    /// Items producer 1 commits before it reserves and stops.
    const BEFORE_KILL: u64 = 100_000;
    /// What the killed producer had half written: never delivered.
    const PARTIAL: u64 = 0xdead_beef;
    let _dog = Watchdog::new("a producer killed mid-reservation", WAIT);
    let name = ShmName::new("mpmc-killed-producer");
    let counts = SharedBytes::new((2 * PRODUCERS * PER) as usize);
    let creator = mpmc::Sender::<u64>::create(name.as_str(), &opts()).unwrap();
    let readers = consumers(&name, &counts, PER, 0);
    let ready = Ready::new();
    let stopped = fork_child(|| {
        let mut tx = mpmc::Sender::<u64>::open(name.as_str(), &opts()).expect("open");
        for seq in 0..BEFORE_KILL {
            tx.send(item(1, seq)).expect("send");
        }
        // Stop between reserve and commit, as a crash there would.
        let mut slot = tx.reserve_blocking().expect("reserve");
        *slot.get_mut() = PARTIAL;
        ready.signal();
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    ready.wait(&stopped, WAIT);
    // Producer 0 sends its items past the dead claim while it still holds.
    let runner = fork_child(|| produce(&name, 0, PER));
    stopped.kill();
    assert_eq!(runner.wait(WAIT), 0, "producer 0 failed");
    let stats = creator.stats();
    drop(creator);
    for reader in readers {
        assert_eq!(reader.wait(WAIT), 0, "a consumer saw a reorder or an error");
    }
    let totals = totals(&counts, PER);
    for (i, &n) in totals.iter().enumerate() {
        let (producer, seq) = (i as u64 / PER, i as u64 % PER);
        let want = u8::from(producer == 0 || seq < BEFORE_KILL);
        assert_eq!(n, want, "producer {producer} item {seq} received {n} times");
    }
    // Every position claimed was either received or skipped: the dead
    // reservation is the one skip.
    let reopened = mpmc::Receiver::<u64>::open(name.as_str(), &opts()).unwrap();
    assert_eq!(reopened.stats().skipped, 1, "{stats:?}");
}

#[test]
fn a_consumer_killed_mid_receive_loses_nothing() {
    const PER: u64 = 200_000;
    let _dog = Watchdog::new("a consumer killed mid-receive", WAIT);
    let name = ShmName::new("mpmc-killed-consumer");
    let counts = SharedBytes::new((2 * PRODUCERS * PER) as usize);
    let creator = mpmc::Sender::<u64>::create(name.as_str(), &opts()).unwrap();
    // Before anything else: a consumer that claims the first item and
    // stops in the middle of receiving it.
    let ready = Ready::new();
    let stalled = fork_child(|| {
        let mut rx = mpmc::Receiver::<u64>::open(name.as_str(), &opts()).expect("open");
        loop {
            match rx.recv_and_stall_for_tests() {
                Ok(_) => break,
                Err(PopError::Empty) => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        ready.signal();
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    let writers = [0, 1].map(|id| fork_child(|| produce(&name, id, PER)));
    ready.wait(&stalled, WAIT);
    // The consumers first: killed while it was the only receiver, the
    // stalled one would leave the producers, once the ring filled, no
    // receiver at all, and they would rightly report `Disconnected` (a
    // flaky "a producer failed" when forking the consumers was slow).
    let readers = consumers(&name, &counts, PER, 1);
    wait_for_receivers(&name, 3);
    stalled.kill();
    // The recovered item may come after later ones of its producer (the
    // one exception to per-producer order); everything else is in order.
    finish(writers, creator, readers, &counts, PER);
    let reopened = mpmc::Receiver::<u64>::open(name.as_str(), &opts()).unwrap();
    assert_eq!(reopened.stats().recovered, 1);
}

#[test]
fn the_participant_limit_holds_across_processes_and_frees_with_death() {
    let _dog = Watchdog::new("participant limit", WAIT);
    let name = ShmName::new("mpmc-limit");
    let opts = Options::new().participants(2);
    let _creator = mpmc::Receiver::<u64>::create(name.as_str(), &opts).unwrap();
    let ready = Ready::new();
    let holder = fork_child(|| {
        let _tx = mpmc::Sender::<u64>::open(name.as_str(), &Options::new()).expect("open");
        ready.signal();
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    ready.wait(&holder, WAIT);
    let err = mpmc::Sender::<u64>::open(name.as_str(), &Options::new()).unwrap_err();
    assert!(
        matches!(err, OpenError::TooManyParticipants { limit: 2, .. }),
        "{err}"
    );
    holder.kill();
    mpmc::Sender::<u64>::open(name.as_str(), &Options::new())
        .expect("the kernel dropped the dead sender's row lock");
}

/// Issue 14, defect 1: a sender sends A and drops; a receiver claims A and
/// is SIGKILLed; the next receiver steps over the dead claim with every
/// sender gone. It must take A over before it reports `Disconnected`.
#[test]
fn a_receiver_killed_holding_the_last_item_before_the_senders_left() {
    let _dog = Watchdog::new("a dead claim with every sender gone", WAIT);
    let name = ShmName::new("mpmc-dead-claim-gone");
    let opts = Options::new().capacity(4).participants(4).persist(true);
    let mut tx = mpmc::Sender::<u64>::create(name.as_str(), &opts).unwrap();
    // Both receivers attach before the sender leaves, so that neither
    // takes over its row (a ring whose sender rows were all reused reads
    // as "no sender yet", not as "every sender gone").
    let mut rx = mpmc::Receiver::<u64>::open(name.as_str(), &opts).unwrap();
    tx.try_send(0xa).unwrap();
    let stalled = stall_on_one_item(&name, &opts);
    drop(tx);
    stalled.kill();
    assert_eq!(rx.try_recv(), Ok(0xa), "the dead receiver's item is lost");
    assert_eq!(rx.try_recv(), Err(PopError::Disconnected));
    assert_eq!(rx.stats().recovered, 1);
}

/// The same with the sender alive but idle: A comes back to a receiver
/// that only polls, without waiting for `capacity - 1` more sends.
#[test]
fn a_receiver_killed_holding_an_item_while_the_senders_idle() {
    let _dog = Watchdog::new("a dead claim with idle senders", WAIT);
    let name = ShmName::new("mpmc-dead-claim-idle");
    let opts = Options::new().capacity(4).participants(4).persist(true);
    let mut tx = mpmc::Sender::<u64>::create(name.as_str(), &opts).unwrap();
    let mut rx = mpmc::Receiver::<u64>::open(name.as_str(), &opts).unwrap();
    tx.try_send(0xa).unwrap();
    let stalled = stall_on_one_item(&name, &opts);
    stalled.kill();
    // A bounded number of polls (no timing): the takeover needs none of
    // them but the first.
    let mut got = Err(PopError::Empty);
    for _ in 0..10_000 {
        got = rx.try_recv();
        if got != Err(PopError::Empty) {
            break;
        }
        std::thread::yield_now();
    }
    assert_eq!(got, Ok(0xa), "the dead receiver's item did not come back");
    assert_eq!(rx.try_recv(), Err(PopError::Empty));
    tx.try_send(0xb).unwrap();
    assert_eq!(rx.try_recv(), Ok(0xb));
    assert_eq!(rx.stats().recovered, 1);
}

/// Forks a receiver that claims one item and stops in the middle of
/// receiving it (its claim stays), and waits until it has.
fn stall_on_one_item(name: &ShmName, opts: &Options) -> Child {
    let ready = Ready::new();
    let stalled = fork_child(|| {
        let mut rx = mpmc::Receiver::<u64>::open(name.as_str(), opts).expect("open");
        match rx.recv_and_stall_for_tests() {
            Ok(_) => {}
            Err(e) => panic!("{e}"),
        }
        ready.signal();
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    ready.wait(&stalled, WAIT);
    stalled
}

/// Issue 14, defect 8, the other side: the end of a pair handed across
/// `fork` and dropped unused by the parent (before the child's first use)
/// is the child's: the parent's drop must not detach it.
#[test]
fn a_pair_end_dropped_unused_by_the_parent_stays_the_childs() {
    let _dog = Watchdog::new("a pair end used by the child only", WAIT);
    let (tx, mut rx) = mpmc::pair::<u64>(&Options::new().capacity(4).participants(2)).unwrap();
    let (go_rx, go_tx) = nix::unistd::pipe().expect("pipe");
    // The closure owns `tx`: the parent's copy is dropped, unused, when
    // `fork_child` returns (before the child's first use).
    let child = fork_child(|| {
        let mut tx = tx;
        let mut byte = [0u8; 1];
        assert_eq!(nix::unistd::read(&go_rx, &mut byte).expect("go"), 1);
        for v in 0..3 {
            tx.send(v).expect("send");
        }
        0
    });
    assert_eq!(
        rx.try_recv(),
        Err(PopError::Empty),
        "detached the child's end"
    );
    assert_eq!(nix::unistd::write(&go_tx, b"!").expect("go"), 1);
    for v in 0..3 {
        assert_eq!(rx.recv(), Ok(v));
    }
    assert_eq!(child.wait(WAIT), 0);
    assert_eq!(rx.recv(), Err(PopError::Disconnected));
}

/// Waits until `n` receivers of the ring `name` hold their rows (a forked
/// consumer opens its end some time after the fork).
fn wait_for_receivers(name: &ShmName, n: usize) {
    common::wait_until("the consumers to open", WAIT, || {
        let Ok(entry) = shmlane::registry::inspect(name.as_str()) else {
            return false;
        };
        entry.segment().is_some_and(|segment| {
            let holding = segment
                .endpoints
                .iter()
                .filter(|end| end.role == Some("receiver") && end.alive == Some(true));
            holding.count() >= n
        })
    });
}

/// Forks a receiver of `name` that blocks in `recv` on the empty ring
/// until it is asleep in the kernel, then SIGKILLs it there: it dies
/// counted as a sleeper on the receivers' wake word.
fn kill_a_parked_receiver(name: &ShmName, opts: &Options) {
    let parked = fork_child(|| {
        let mut rx = mpmc::Receiver::<u64>::open(name.as_str(), opts).expect("open");
        let _ = rx.recv();
        1
    });
    common::wait_until_sleeping(parked.pid(), WAIT);
    parked.kill();
}

/// Wake syscalls that `sends` sends of `tx` make (with a live receiver
/// that never sleeps draining them).
fn wakes_per(tx: &mut mpmc::Sender<u64>, rx: &mut mpmc::Receiver<u64>, sends: u64) -> u64 {
    let before = tx.stats().wake_syscalls;
    for v in 0..sends {
        tx.try_send(v).unwrap();
        assert_eq!(rx.try_recv(), Ok(v));
    }
    tx.stats().wake_syscalls - before
}

/// Issue 14, defect 4: a participant SIGKILLed while parked left its +1
/// in its word's sleeper count for ever, and every later publish paid a
/// wake syscall for nobody. Whoever finds it dead takes the count off.
#[test]
fn a_receiver_killed_asleep_leaves_no_sleeper_behind() {
    let _dog = Watchdog::new("a receiver killed asleep", WAIT);
    let name = ShmName::new("mpmc-dead-sleeper");
    let opts = Options::new().capacity(64).participants(8);
    let mut tx = mpmc::Sender::<u64>::create(name.as_str(), &opts).unwrap();
    let mut rx = mpmc::Receiver::<u64>::open(name.as_str(), &opts).unwrap();
    assert_eq!(wakes_per(&mut tx, &mut rx, 10), 0, "nobody sleeps yet");

    // Found dead by a liveness check (what a sender's blocking call or
    // idle poll runs every tick).
    kill_a_parked_receiver(&name, &opts);
    tx.check_peers();
    assert_eq!(
        wakes_per(&mut tx, &mut rx, 10),
        0,
        "the dead sleeper's count was taken off"
    );

    // Found dead by the next receiver to claim its row.
    kill_a_parked_receiver(&name, &opts);
    let mut replacement = mpmc::Receiver::<u64>::open(name.as_str(), &opts).unwrap();
    assert_eq!(
        wakes_per(&mut tx, &mut rx, 10),
        0,
        "the row's new holder took it off"
    );
    // A count that is in is still woken: the replacement parks, and a
    // send wakes it.
    std::thread::scope(|s| {
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let sleeper = s.spawn(move || {
            tid_tx.send(nix::unistd::gettid()).unwrap();
            replacement.recv()
        });
        let tid = tid_rx.recv().unwrap();
        common::wait_until("the replacement asleep", WAIT, || {
            common::thread_state(nix::unistd::getpid(), tid) == Some('S')
        });
        tx.send(77).unwrap();
        assert_eq!(sleeper.join().unwrap(), Ok(77));
    });
}
