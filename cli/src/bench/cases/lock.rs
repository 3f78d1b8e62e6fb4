//! Locks between processes, the three tools of README "A lock whose holder
//! dies": shmlane's futex [`Semaphore`] (fast, not repaired when a holder
//! dies), a System V semaphore with `SEM_UNDO` (the kernel gives a dead
//! holder's unit back; a syscall per P and per V) and [`Shared`] (a robust
//! lock that tells the next holder).
//!
//! * `lock-semaphore`, `lock-sysvsem`, `lock-shared`: one core, lock and
//!   unlock with nobody else around; msgs/s is lock/unlock pairs a second.
//! * `handover-semaphore-rtt`, `handover-sysvsem-rtt`,
//!   `handover-shared-rtt`: two processes take turns through the lock. A
//!   turn word lives under the lock; each side locks, takes its turn if it
//!   is its own (flips the word), and unlocks. A round trip is the parent's
//!   turn coming back: two handovers under contention, the waiter asleep
//!   in the kernel or about to be.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shmlane::sysvsem::SemaphoreSet;
use shmlane::{LockError, Semaphore, Shared, SharedGuard};

use super::Setup;
use crate::bench::affinity::pin;
use crate::bench::error::BenchError;
use crate::bench::measure::{Budget, Figures, MSG_BYTES, REPS, TputStats, rtt};
use crate::bench::runner::run_pair;
use crate::bench::shared::SharedPage;

/// The turn word's values.
const PARENT: u64 = 0;
const CHILD: u64 = 1;
/// The parent is done: the child exits.
const STOP: u64 = 2;

/// A lock with a turn word under it.
trait TurnLock {
    /// Runs `f` on the turn word while holding the lock.
    fn with_turn<R>(&self, f: impl FnOnce(&mut u64) -> R) -> Result<R, BenchError>;
}

/// shmlane's semaphore as a lock (value 1); the turn word in a shared page.
struct SemLock<'a> {
    sem: &'a Semaphore,
    turn: &'a AtomicU64,
}

impl TurnLock for SemLock<'_> {
    fn with_turn<R>(&self, f: impl FnOnce(&mut u64) -> R) -> Result<R, BenchError> {
        self.sem.wait().map_err(BenchError::lib)?;
        // SYNC: the semaphore's own Acquire (wait) and Release (post)
        // order the turn word; Relaxed is enough under the lock.
        let mut turn = self.turn.load(Ordering::Relaxed);
        let result = f(&mut turn);
        self.turn.store(turn, Ordering::Relaxed);
        self.sem.post().map_err(BenchError::lib)?;
        Ok(result)
    }
}

/// A System V semaphore (value 1, `SEM_UNDO`) as a lock; the turn word in
/// a shared page.
struct SysvLock<'a> {
    set: &'a SemaphoreSet,
    turn: &'a AtomicU64,
}

impl TurnLock for SysvLock<'_> {
    fn with_turn<R>(&self, f: impl FnOnce(&mut u64) -> R) -> Result<R, BenchError> {
        self.set.wait(0).map_err(BenchError::lib)?;
        // The semop syscalls order the turn word (the kernel's own locks).
        let mut turn = self.turn.load(Ordering::Relaxed);
        let result = f(&mut turn);
        self.turn.store(turn, Ordering::Relaxed);
        self.set.post(0).map_err(BenchError::lib)?;
        Ok(result)
    }
}

impl TurnLock for Shared<u64> {
    fn with_turn<R>(&self, f: impl FnOnce(&mut u64) -> R) -> Result<R, BenchError> {
        let mut guard = clean(self.lock())?;
        Ok(f(&mut guard))
    }
}

/// The guard of a lock nobody died holding (a death is a failed run).
fn clean<'a>(
    result: Result<SharedGuard<'a, u64>, LockError<SharedGuard<'a, u64>>>,
) -> Result<SharedGuard<'a, u64>, BenchError> {
    result.map_err(|e| BenchError::Peer(format!("shared lock: {e}")))
}

/// A name unique to this run and `tag`.
fn name(tag: &str) -> String {
    format!("shmlane-bench-{}-{tag}", std::process::id())
}

/// `lock-semaphore`: uncontended wait + post.
pub fn case_uncontended_semaphore(setup: &Setup) -> Result<Figures, BenchError> {
    let sem = Semaphore::anonymous(1).map_err(BenchError::lib)?;
    uncontended(setup, || {
        sem.wait().map_err(BenchError::lib)?;
        sem.post().map_err(BenchError::lib)
    })
}

/// `lock-sysvsem`: uncontended P + V with `SEM_UNDO`.
pub fn case_uncontended_sysvsem(setup: &Setup) -> Result<Figures, BenchError> {
    let set = SemaphoreSet::private(1, 1).map_err(BenchError::lib)?;
    uncontended(setup, || {
        set.wait(0).map_err(BenchError::lib)?;
        set.post(0).map_err(BenchError::lib)
    })
}

/// `lock-shared`: uncontended lock + unlock of a `Shared<u64>`.
pub fn case_uncontended_shared(setup: &Setup) -> Result<Figures, BenchError> {
    let shared = Shared::<u64>::create(&name("lock")).map_err(BenchError::lib)?;
    uncontended(setup, || {
        let guard = clean(shared.lock())?;
        black_box(&guard);
        Ok(())
    })
}

/// Lock/unlock pairs a second on one core: the median of [`REPS`]
/// repetitions after a warm-up, the clock read once per batch.
fn uncontended(
    setup: &Setup,
    mut pair: impl FnMut() -> Result<(), BenchError>,
) -> Result<Figures, BenchError> {
    const BATCH: u64 = 1024;
    pin(setup.cores.a)?;
    let mut rates = Vec::with_capacity(REPS);
    let mut total = 0u64;
    for rep in 0..=REPS {
        let share = if rep == 0 { 0.1 } else { 1.0 / REPS as f64 };
        let budget = Duration::from_secs_f64(setup.secs * share);
        let start = Instant::now();
        let mut pairs = 0u64;
        while start.elapsed() < budget {
            for _ in 0..BATCH {
                pair()?;
            }
            pairs += BATCH;
        }
        if rep > 0 {
            rates.push(pairs as f64 / start.elapsed().as_secs_f64());
            total += pairs;
        }
    }
    rates.sort_by(f64::total_cmp);
    let msgs_per_s = rates[REPS / 2];
    Ok(Figures::Tput(TputStats {
        n: total,
        msgs_per_s,
        gb_per_s: msgs_per_s * MSG_BYTES as f64 / 1e9,
        wakes_per_msg: None,
        skipped: None,
        note: None,
    }))
}

/// `handover-semaphore-rtt`.
pub fn case_handover_semaphore(setup: &Setup) -> Result<Figures, BenchError> {
    let sem = Semaphore::anonymous(1).map_err(BenchError::lib)?;
    let page = SharedPage::new()?;
    let lock = SemLock {
        sem: &sem,
        turn: page.word(0),
    };
    handover(setup, &lock, || {
        Ok(SemLock {
            sem: &sem,
            turn: page.word(0),
        })
    })
}

/// `handover-sysvsem-rtt`.
pub fn case_handover_sysvsem(setup: &Setup) -> Result<Figures, BenchError> {
    let set = SemaphoreSet::private(1, 1).map_err(BenchError::lib)?;
    let page = SharedPage::new()?;
    let lock = SysvLock {
        set: &set,
        turn: page.word(0),
    };
    handover(setup, &lock, || {
        Ok(SysvLock {
            set: &set,
            turn: page.word(0),
        })
    })
}

/// `handover-shared-rtt`: the child opens the segment itself (a handle is
/// one process's).
pub fn case_handover_shared(setup: &Setup) -> Result<Figures, BenchError> {
    let segment = name("handover");
    let shared = Shared::<u64>::create(&segment).map_err(BenchError::lib)?;
    handover(setup, &shared, || {
        Shared::<u64>::open(&segment).map_err(BenchError::lib)
    })
}

/// Runs the turn-taking round trip: this side is `lock`; the child makes
/// its own side with `child_lock`, after the fork.
fn handover<L: TurnLock, C: TurnLock>(
    setup: &Setup,
    lock: &L,
    child_lock: impl FnOnce() -> Result<C, BenchError> + Send,
) -> Result<Figures, BenchError> {
    let secs = setup.secs;
    let stats = run_pair(
        setup.peers,
        setup.cores,
        |_watch| {
            let lock = child_lock()?;
            loop {
                let stop = lock.with_turn(|turn| match *turn {
                    CHILD => {
                        *turn = PARENT;
                        false
                    }
                    STOP => true,
                    _ => false,
                })?;
                if stop {
                    return Ok(());
                }
            }
        },
        |watch| {
            let mine = || {
                lock.with_turn(|turn| {
                    (*turn == PARENT).then(|| {
                        *turn = CHILD;
                    })
                })
            };
            let stats = rtt(Budget::rtt_warmup(secs), Budget::rtt_measure(secs), |_| {
                // Hand the turn over, then wait for it to come back.
                watch.until("handing the turn over", mine)?;
                watch.until("waiting for the turn", || {
                    lock.with_turn(|turn| (*turn == PARENT).then_some(()))
                })
            })?;
            lock.with_turn(|turn| *turn = STOP)?;
            Ok(stats)
        },
    )?;
    Ok(Figures::Rtt(stats))
}
