//! A process-shared counting semaphore on a futex word: the P/V primitive
//! of the seeds, public as [`Semaphore`], and the core of the rings'
//! alternative waiter ([`Waiter::Semaphore`]).

use std::time::{Duration, Instant};

use super::{Counters, futex};
use crate::error::{OpenError, SemError};
#[cfg(not(shmlane_loom))]
use crate::options::Options;
use crate::options::Waiter;
#[cfg(not(shmlane_loom))]
use crate::segment::Strict;
use crate::segment::{Header, Heap, Layout, RingKind, Storage};
use crate::sync::{AtomicU32, Ordering, UnsafeCell, fence};

/// Largest value a semaphore holds; `post` beyond it is `Overflow`.
pub const SEM_VALUE_MAX: u32 = i32::MAX as u32;

/// The ring waiter's sticky HEAVY flag in the waiter-count word (the
/// eventcount's, for the semaphore waiter: see `eventcount::HEAVY`). The
/// count is the bits below it.
pub(crate) const HEAVY_WAITERS: u32 = 1 << 31;

use super::eventcount::CAS_TRIES;

/// The two words of a semaphore: its value (the futex word) and the number
/// of waiters (so that `post` makes a syscall only when someone sleeps).
#[derive(Clone, Copy)]
pub(crate) struct SemCore<'a> {
    value: &'a AtomicU32,
    waiters: &'a AtomicU32,
}

impl<'a> SemCore<'a> {
    pub(crate) fn new(value: &'a AtomicU32, waiters: &'a AtomicU32) -> Self {
        Self { value, waiters }
    }

    /// P without blocking: takes one unit if there is one.
    ///
    /// Bounded: if a peer keeps rewriting the value so that [`CAS_TRIES`]
    /// compare-exchanges in a row fail, this answers "no unit" (a spurious
    /// miss; the callers re-check or sleep at most a liveness tick).
    pub(crate) fn try_wait(self) -> bool {
        let mut current = self.value.load(Ordering::Relaxed);
        for _ in 0..CAS_TRIES {
            if current > SEM_VALUE_MAX {
                // Only a broken or hostile peer writes this: reset it to 0
                // rather than trust it (or spin on a futex that never sleeps).
                current = match self.value.compare_exchange(
                    current,
                    0,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => 0,
                    Err(seen) => seen,
                };
                continue;
            }
            if current == 0 {
                return false;
            }
            // SYNC: semaphore (Acquire: what the poster did before V is
            // visible after P)
            match self.value.compare_exchange(
                current,
                current - 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
        false
    }

    /// Drops every unit at once (the ring waiter, before announcing: units
    /// posted for an earlier wait). One compare-exchange to 0, however
    /// large the value a peer wrote, retried at most [`CAS_TRIES`] times.
    pub(crate) fn drain(self) {
        let mut current = self.value.load(Ordering::Relaxed);
        for _ in 0..CAS_TRIES {
            if current == 0 {
                return;
            }
            // SYNC: semaphore (Acquire: as try_wait's)
            match self
                .value
                .compare_exchange(current, 0, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }

    /// V: adds one unit and wakes one waiter if any sleeps.
    ///
    /// Bounded: after [`CAS_TRIES`] failed compare-exchanges (a peer
    /// rewriting the value) it adds the unit with one wait-free add, which
    /// cannot fail; the peer's garbage plus one is still garbage, read as 0
    /// if above the maximum.
    pub(crate) fn post(self, counters: Option<&Counters>) -> Result<(), SemError> {
        let mut current = self.value.load(Ordering::Relaxed);
        let mut posted = false;
        for _ in 0..CAS_TRIES {
            if current == SEM_VALUE_MAX {
                return Err(SemError::Overflow);
            }
            // Above the maximum only a broken peer writes: count it as 0.
            let next = if current > SEM_VALUE_MAX {
                1
            } else {
                current + 1
            };
            // SYNC: semaphore (Release: pairs with try_wait's Acquire)
            match self
                .value
                .compare_exchange(current, next, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => {
                    posted = true;
                    break;
                }
                Err(seen) => current = seen,
            }
        }
        if !posted {
            // SYNC: semaphore (Release: as the compare-exchange above)
            self.value.fetch_add(1, Ordering::Release);
        }
        // SYNC: semaphore-dekker (poster: store value, fence, load waiters)
        fence(Ordering::SeqCst);
        if self.waiters.load(Ordering::Relaxed) & !HEAVY_WAITERS != 0 {
            futex::wake(self.value, 1);
            if let Some(counters) = counters {
                counters.wake_syscalls.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// P, sleeping while the value is 0, until `deadline`; `Timeout` after.
    /// No single sleep is longer than a liveness tick: a poster whose wake
    /// went to a waiter that then died, or a peer that zeroed the waiter
    /// count, costs a delay, never a hang.
    pub(crate) fn wait_until(self, deadline: Option<Instant>) -> Result<(), SemError> {
        loop {
            if self.try_wait() {
                return Ok(());
            }
            let timeout = match deadline {
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left.min(super::LIVENESS_TICK)),
                    _ => return Err(SemError::Timeout),
                },
                None if cfg!(shmlane_loom) => None,
                None => Some(super::LIVENESS_TICK),
            };
            self.waiters.fetch_add(1, Ordering::Relaxed);
            // SYNC: semaphore-dekker (waiter: store waiters, fence, load value)
            fence(Ordering::SeqCst);
            if self.value.load(Ordering::Relaxed) == 0 {
                futex::wait(self.value, 0, timeout);
            }
            self.waiters.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// One bounded sleep while the value is 0 (the ring waiter's step: the
    /// caller re-checks its own condition afterwards). Consumes a unit if
    /// one is there.
    /// Returns whether a unit was taken (a post woke us).
    pub(crate) fn sleep_once(self, timeout: Option<Duration>, counters: &Counters) -> bool {
        if self.try_wait() {
            return true;
        }
        counters.wait_syscalls.fetch_add(1, Ordering::Relaxed);
        futex::wait(self.value, 0, timeout);
        self.try_wait()
    }

    /// Current value (a snapshot; a value above the maximum, which only a
    /// broken peer writes, reads as 0, as `try_wait` treats it).
    pub(crate) fn value(self) -> u32 {
        match self.value.load(Ordering::Relaxed) {
            value if value > SEM_VALUE_MAX => 0,
            value => value,
        }
    }

    /// Clears what a dead endpoint may have left: its waiter count and
    /// units posted for it (ring waiter only: its replacement is the only
    /// endpoint that sleeps here, and re-checks the ring after announcing).
    /// Keeps the HEAVY flag: a publisher that saw it must keep seeing it.
    pub(crate) fn clear_waiters(self) {
        let mut current = self.waiters.load(Ordering::Relaxed);
        for _ in 0..CAS_TRIES {
            if current & !HEAVY_WAITERS == 0 {
                break;
            }
            match self.waiters.compare_exchange(
                current,
                current & HEAVY_WAITERS,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(seen) => current = seen,
            }
        }
        self.value.store(0, Ordering::Relaxed);
    }

    /// The ring waiter announces itself: count + 1 (saturating below the
    /// HEAVY flag), and HEAVY if `heavy`. Returns whether the count went in
    /// (bounded: a peer rewriting the word can keep us out, and then
    /// nobody wakes us before the tick).
    pub(crate) fn announce(self, heavy: bool) -> bool {
        let flag = if heavy { HEAVY_WAITERS } else { 0 };
        let mut current = self.waiters.load(Ordering::Relaxed);
        for _ in 0..CAS_TRIES {
            let counted = current & !HEAVY_WAITERS != !HEAVY_WAITERS;
            let next = (current + u32::from(counted)) | flag;
            match self
                .waiters
                .compare_exchange(current, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return counted,
                Err(seen) => current = seen,
            }
        }
        false
    }

    /// The ring waiter withdraws a counted announcement (bounded; never
    /// below 0, a saturated count stays).
    pub(crate) fn withdraw(self) {
        let mut current = self.waiters.load(Ordering::Relaxed);
        for _ in 0..CAS_TRIES {
            let count = current & !HEAVY_WAITERS;
            if count == 0 || count == !HEAVY_WAITERS {
                return;
            }
            match self.waiters.compare_exchange(
                current,
                current - 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }

    /// Sets the sticky HEAVY flag on the waiter word (bounded).
    pub(crate) fn mark_heavy(self) {
        let mut current = self.waiters.load(Ordering::Relaxed);
        for _ in 0..CAS_TRIES {
            if current & HEAVY_WAITERS != 0 {
                return;
            }
            match self.waiters.compare_exchange(
                current,
                current | HEAVY_WAITERS,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }

    pub(crate) fn waiters(self) -> &'a AtomicU32 {
        self.waiters
    }

    /// The value word a sleeper sleeps on (while it is 0).
    #[cfg(all(feature = "tokio", not(shmlane_loom)))]
    pub(crate) fn value_word(self) -> &'a AtomicU32 {
        self.value
    }
}

/// A named, process-shared counting semaphore in a shared-memory segment:
/// the P/V primitive of the seeds. [`wait`](Self::wait) (P) takes one unit,
/// sleeping in the kernel while there is none; [`post`](Self::post) (V)
/// adds one and wakes one sleeper, with a syscall only when someone sleeps.
///
/// Any number of processes and threads may use one semaphore (methods take
/// `&self`). A waiter killed while it sleeps blocks nobody (no sleep lasts
/// longer than [`LIVENESS_TICK`](crate::LIVENESS_TICK)), but it leaves the
/// waiter count raised, so every later `post` makes a futex wake syscall
/// (like glibc's `sem_t`). A process killed between `wait` and `post`
/// keeps its unit for ever: for a lock that survives its holder, use
/// [`sysvsem`](crate::sysvsem) (`SEM_UNDO`) or [`Shared`](crate::Shared).
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shmlane::Semaphore;
/// let mutex = Semaphore::create("counter-lock", 1)?; // a binary semaphore
/// mutex.wait()?;   // P
/// // ... touch the shared counter ...
/// mutex.post()?;   // V
/// # Ok(())
/// # }
/// ```
pub struct Semaphore {
    storage: Box<dyn Storage>,
}

impl Semaphore {
    fn layout(initial: u32) -> Result<Layout, OpenError> {
        if initial > SEM_VALUE_MAX {
            return Err(OpenError::InvalidConfig(format!(
                "semaphore initial value {initial} exceeds {SEM_VALUE_MAX}"
            )));
        }
        let mut layout = Layout::for_slots::<u8>(RingKind::Semaphore, 1, None, Waiter::EventCount)?;
        layout.initial = initial;
        Ok(layout)
    }

    /// Creates the named semaphore `name` with value `initial` (mode 0600,
    /// removed when this handle drops).
    #[cfg(not(shmlane_loom))]
    pub fn create(name: &str, initial: u32) -> Result<Self, OpenError> {
        Self::create_with(name, initial, &Options::new())
    }

    /// [`create`](Self::create) with options (`mode`, `persist`); ring
    /// options (capacity, schema, waiter) are refused.
    #[cfg(not(shmlane_loom))]
    pub fn create_with(name: &str, initial: u32, opts: &Options) -> Result<Self, OpenError> {
        check_semaphore_options(opts)?;
        let layout = Self::layout(initial)?;
        let mapping = crate::segment::Mapping::create_shm(name, &layout, opts)?.remove_on_drop();
        Ok(Self {
            storage: Box::new(mapping),
        })
    }

    /// Opens the named semaphore `name`.
    #[cfg(not(shmlane_loom))]
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_with(name, &Options::new())
    }

    /// [`open`](Self::open) with options (`open_timeout`).
    #[cfg(not(shmlane_loom))]
    pub fn open_with(name: &str, opts: &Options) -> Result<Self, OpenError> {
        check_semaphore_options(opts)?;
        let layout = Self::layout(0)?;
        let strict = Strict {
            waiter: false,
            ..Strict::EXACT
        };
        let (mapping, _) = crate::segment::Mapping::open_shm(name, &layout, strict, opts)?;
        Ok(Self {
            storage: Box::new(mapping),
        })
    }

    /// A semaphore in an anonymous segment (memfd): shared with the children
    /// this process forks after the call.
    #[cfg(not(shmlane_loom))]
    pub fn anonymous(initial: u32) -> Result<Self, OpenError> {
        let layout = Self::layout(initial)?;
        Ok(Self {
            storage: Box::new(crate::segment::Mapping::create_memfd(&layout)?),
        })
    }

    /// A semaphore in process memory, for the threads of one process.
    pub fn in_process(initial: u32) -> Result<Self, OpenError> {
        let layout = Self::layout(initial)?;
        Ok(Self {
            storage: Box::new(Heap::<UnsafeCell<u8>>::create(&layout)?),
        })
    }

    fn core(&self) -> SemCore<'_> {
        let header: &Header = self.storage.header();
        let word = &header.ring.wake.not_empty;
        SemCore::new(&word.sem, &word.event)
    }

    /// P: takes one unit, sleeping while the value is 0.
    pub fn wait(&self) -> Result<(), SemError> {
        self.core().wait_until(None)
    }

    /// P with a limit: [`SemError::Timeout`] if no unit came within `timeout`.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<(), SemError> {
        self.core().wait_until(super::deadline(Some(timeout)))
    }

    /// P without waiting: [`SemError::WouldBlock`] if the value is 0.
    pub fn try_wait(&self) -> Result<(), SemError> {
        if self.core().try_wait() {
            Ok(())
        } else {
            Err(SemError::WouldBlock)
        }
    }

    /// V: adds one unit and wakes a sleeper, if any.
    /// [`SemError::Overflow`] at [`SEM_VALUE_MAX`].
    pub fn post(&self) -> Result<(), SemError> {
        self.core().post(None)
    }

    /// The current value (a snapshot: others may change it at once).
    pub fn value(&self) -> u32 {
        self.core().value()
    }
}

impl std::fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Semaphore")
            .field("name", &self.storage.name())
            .field("value", &self.value())
            .finish()
    }
}

/// Refuses the ring options, which mean nothing for a semaphore.
#[cfg(not(shmlane_loom))]
fn check_semaphore_options(opts: &Options) -> Result<(), OpenError> {
    crate::options::refuse_set(
        &[
            ("capacity", opts.capacity.is_some()),
            ("schema_id", opts.schema_id.is_some()),
            ("waiter", opts.waiter.is_some()),
            ("wait_strategy", opts.wait_strategy.is_some()),
            ("max_frame", opts.max_frame.is_some()),
            ("overflow", opts.overflow.is_some()),
            ("participants", opts.participants.is_some()),
        ],
        "a semaphore",
    )?;
    opts.check_no_memory_policy("a semaphore (one page)")
}
