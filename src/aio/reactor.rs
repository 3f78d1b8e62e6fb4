//! The process's one waiter thread: it sleeps in `futex_waitv` on the wake
//! words of every parked async endpoint (plus a word of its own, moved to
//! make it re-arm) and wakes a task's [`Waker`] when its word moves.
//!
//! A registered word lives in a mapping that its endpoint owns. The thread
//! reads registered words only while holding the table's lock, and an
//! endpoint removes its entry under that lock ([`unpark`]) before it can
//! drop its mapping, so no read here ever touches an unmapped word. The
//! kernel's own read inside `futex_waitv` happens after the lock is
//! released; it is fault-safe (`EFAULT`), and the futex key of a shared
//! mapping outlives an unmap, so at worst the thread sleeps on a word
//! nobody uses any more until its next re-arm or tick.
//!
//! A fork leaves the child without this thread, and with this table's lock
//! possibly held by it: the reactor is per process ([`reactor`] makes a new
//! one in a child; the parent's copy is never touched there).
//!
//! The thread lives while async endpoints do: it starts at the first park
//! and is stopped and joined when the process's last async endpoint is
//! dropped ([`Enlisted`]), so that a process that is done with its async
//! endpoints has no extra thread (and may fork safely).

use std::sync::Mutex;
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::ring::TickProbe;
use crate::sync::{AtomicU32, AtomicU64, Ordering, current_pid};
use crate::wait::{LIVENESS_TICK, Prepared, Signal, futex};

/// Most words one `futex_waitv` call takes (the kernel's FUTEX_WAITV_MAX).
const WAITV_MAX: usize = 128;
/// How often the thread looks at every word when it cannot sleep on all of
/// them (more than `WAITV_MAX - 1` parked endpoints, or a kernel without
/// `futex_waitv`): a short-period park instead of a wake per word.
const POLL_PERIOD: Duration = Duration::from_millis(1);
/// The thread's name, as /proc/self/task/TID/comm shows it (tests look
/// for it).
pub const THREAD_NAME: &str = "shmlane-aio";

/// A parked endpoint's entry in the table.
struct Entry {
    ticket: u64,
    /// The wake signal it announced itself on, in the endpoint's mapping:
    /// used only under the table's lock while the entry is in the table
    /// (the lifetime is extended in `park`, SAFETY there).
    signal: Signal<'static>,
    /// Its announcement: the word's value then, and what to withdraw.
    prepared: Prepared,
    /// What a liveness tick looks at instead of waking the task (one-to-one
    /// rings; in the endpoint's mapping and storage, lifetime extended in
    /// `park` as `signal` is); `None`: wake it every tick.
    probe: Option<TickProbe<'static>>,
    waker: Waker,
    /// When it parked or was last woken for a tick: once a liveness tick
    /// after, the task is woken to check its peer, as a blocking call
    /// checks once a tick.
    since: Instant,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("ticket", &self.ticket)
            .field("prepared", &self.prepared)
            .finish_non_exhaustive()
    }
}

/// What the lock guards: the parked entries and the thread's lifecycle.
#[derive(Debug, Default)]
struct Table {
    entries: Vec<Entry>,
    /// Live async endpoints of this process ([`Enlisted`]).
    users: usize,
    /// The running thread's generation (`None`: no thread); a thread whose
    /// generation is no longer here exits.
    thread: Option<u64>,
    generations: u64,
    handle: Option<std::thread::JoinHandle<()>>,
}

/// One process's waiter thread and the table it watches.
struct Reactor {
    pid: u32,
    table: Mutex<Table>,
    next_ticket: AtomicU64,
    /// Moved (and woken) when an entry is added, so that a sleeping thread
    /// adds the new word to its set.
    rearm: AtomicU32,
}

/// A registration, to hand back to [`unpark`].
#[derive(Clone, Copy)]
pub(crate) struct Ticket {
    reactor: &'static Reactor,
    id: u64,
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket").field("id", &self.id).finish()
    }
}

/// The address of this process's reactor (0: none yet). A leaked `Box`:
/// the thread holds a `'static` reference to it.
static CURRENT: AtomicU64 = AtomicU64::new(0);

/// This process's reactor, started on first use (and anew in a forked
/// child, whose copy of the parent's has no thread).
fn reactor() -> &'static Reactor {
    let pid = current_pid();
    loop {
        // SYNC: aio-reactor (Acquire: the reactor's fields, written before
        // its address was published with the Release below)
        let address = CURRENT.load(Ordering::Acquire);
        if address != 0 {
            // SAFETY: a non-zero CURRENT is the address of a leaked (never
            // freed) Reactor, published with Release below.
            let found = unsafe { &*(address as *const Reactor) };
            if found.pid == pid {
                return found;
            }
        }
        let fresh: &'static Reactor = Box::leak(Box::new(Reactor {
            pid,
            table: Mutex::new(Table::default()),
            next_ticket: AtomicU64::new(0),
            rearm: AtomicU32::new(0),
        }));
        let new = fresh as *const Reactor as u64;
        // SYNC: aio-reactor (Release: the reactor's fields before its address)
        if CURRENT
            .compare_exchange(address, new, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return fresh;
        }
        // Another thread of this process won: drop ours (never shared).
        // SAFETY: `fresh` was leaked just above and nobody else saw it.
        drop(unsafe { Box::from_raw(new as *mut Reactor) });
    }
}

/// An async endpoint's membership: the waiter thread runs while any
/// member lives, and the last one to go stops and joins it.
pub(crate) struct Enlisted {
    reactor: &'static Reactor,
}

impl std::fmt::Debug for Enlisted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enlisted").finish_non_exhaustive()
    }
}

impl Enlisted {
    pub(crate) fn new() -> Self {
        let reactor = reactor();
        lock(&reactor.table).users += 1;
        Self { reactor }
    }
}

impl Default for Enlisted {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Enlisted {
    fn drop(&mut self) {
        // Inherited across a fork: the parent's reactor, not ours to touch.
        if self.reactor.pid != current_pid() {
            return;
        }
        let handle = {
            let mut table = lock(&self.reactor.table);
            table.users -= 1;
            if table.users > 0 {
                return;
            }
            table.thread = None;
            table.handle.take()
        };
        let Some(handle) = handle else {
            return;
        };
        self.reactor.rearm_thread();
        // An executor that runs a task inside `wake` could drop the last
        // endpoint on the waiter thread itself: it exits on its own then.
        if handle.thread().id() != std::thread::current().id() {
            let _ = handle.join();
        }
    }
}

/// Starts the thread if none runs; `false` if it cannot be spawned.
fn ensure_thread(reactor: &'static Reactor, table: &mut Table) -> bool {
    if table.thread.is_some() {
        return true;
    }
    table.generations += 1;
    let generation = table.generations;
    let spawned = std::thread::Builder::new()
        .name(THREAD_NAME.into())
        .spawn(move || reactor.run(generation));
    match spawned {
        Ok(handle) => {
            table.thread = Some(generation);
            table.handle = Some(handle);
            true
        }
        Err(_) => false,
    }
}

/// Registers a parked task, announced on `signal` as `prepared`: `waker`
/// is woken once the word it sleeps on moves (the thread then withdraws
/// the announcement for it, at once, so that publishers stop making wake
/// syscalls without waiting for the task to run), or after a liveness tick
/// (the task stays announced). The caller must [`unpark`] the ticket before
/// the mapping holding the signal's words can go away. Without a waiter
/// thread (it could not be spawned) the task is woken at once: it polls
/// instead of sleeping, and nothing is lost.
pub(crate) fn park(
    signal: Signal<'_>,
    probe: Option<TickProbe<'_>>,
    prepared: Prepared,
    waker: &Waker,
) -> Option<Ticket> {
    let reactor = reactor();
    let id = reactor.next_ticket.fetch_add(1, Ordering::Relaxed);
    // SAFETY: a lifetime extension only (same type otherwise). The entry
    // is used only under the table's lock while it is in the table, and
    // the endpoint removes it (`unpark`, under that lock) before its
    // mapping can go: every async endpoint disarms in its `Drop`, in
    // `into_inner` and in its futures' `Drop` (SAFETY.md §3).
    let signal = unsafe { std::mem::transmute::<Signal<'_>, Signal<'static>>(signal) };
    // SAFETY: as for `signal`: the probe reads the endpoint's mapping and
    // its storage's box (whose address stays when the endpoint moves),
    // both kept until the entry is removed.
    let probe =
        unsafe { std::mem::transmute::<Option<TickProbe<'_>>, Option<TickProbe<'static>>>(probe) };
    let entry = Entry {
        ticket: id,
        signal,
        prepared,
        probe,
        waker: waker.clone(),
        since: Instant::now(),
    };
    {
        let mut table = lock(&reactor.table);
        if !ensure_thread(reactor, &mut table) {
            drop(table);
            waker.wake_by_ref();
            return None;
        }
        table.entries.push(entry);
    }
    reactor.rearm_thread();
    Some(Ticket { reactor, id })
}

/// Removes a registration. Returns whether it was still there: then the
/// caller withdraws its announcement itself; if not, the thread woke it
/// and withdrew it. After this returns the thread no longer reads the
/// entry's words. A ticket inherited across a fork names the parent's
/// reactor, which the child must not lock (its thread is not here): the
/// parent's endpoint owns the announcement, and the child leaves it.
pub(crate) fn unpark(ticket: Ticket) -> bool {
    if ticket.reactor.pid != current_pid() {
        return false;
    }
    let entries = &mut lock(&ticket.reactor.table).entries;
    match entries.iter().position(|e| e.ticket == ticket.id) {
        Some(at) => {
            entries.swap_remove(at);
            true
        }
        None => false,
    }
}

/// For a parked task polled again while its word has not moved (a
/// liveness tick, or its executor polling it for another reason): keeps
/// the registration, with `waker` as the one to wake. `false` if the entry
/// is gone (the thread woke it: its word moved).
pub(crate) fn refresh(ticket: Ticket, waker: &Waker) -> bool {
    if ticket.reactor.pid != current_pid() {
        return false;
    }
    let mut table = lock(&ticket.reactor.table);
    match table.entries.iter_mut().find(|e| e.ticket == ticket.id) {
        Some(entry) => {
            if !entry.waker.will_wake(waker) {
                entry.waker.clone_from(waker);
            }
            true
        }
        None => false,
    }
}

/// The table's lock; a panic while holding it (none is possible: the
/// critical sections only move entries and load atomics) is ignored.
fn lock(table: &Mutex<Table>) -> std::sync::MutexGuard<'_, Table> {
    table
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What one look at the table leaves to do: the words to sleep on and
/// until when.
struct Round {
    waitv: Vec<Waitv>,
    /// Some entries could not go into `waitv`.
    overflow: bool,
    /// The earliest liveness tick of an entry.
    until: Option<Instant>,
}

impl Reactor {
    /// Makes the thread look at the table again (a new entry, or a stop):
    /// moves its word and wakes it. Relaxed: what the thread then reads is
    /// ordered by the table's lock; the word only makes the kernel refuse
    /// (or end) its sleep.
    fn rearm_thread(&self) {
        self.rearm.fetch_add(1, Ordering::Relaxed);
        futex::wake(&self.rearm, 1);
    }

    fn run(&'static self, generation: u64) {
        let mut futex_waitv_works = !futex_waitv_disabled();
        WAITV_FALLBACK.set(u32::from(!futex_waitv_works));
        let mut due = Vec::new();
        loop {
            // Read before the table: a change to the table after this
            // read moves the word, and the sleep below is refused.
            let rearm_seen = self.rearm.load(Ordering::Relaxed);
            let Some(round) = self.look(generation, rearm_seen, &mut due) else {
                return;
            };
            for waker in due.drain(..) {
                waker.wake();
            }
            let until = if round.overflow || !futex_waitv_works {
                let soon = Instant::now() + POLL_PERIOD;
                Some(round.until.map_or(soon, |t| t.min(soon)))
            } else {
                round.until
            };
            if futex_waitv_works {
                match futex_waitv(&round.waitv, until) {
                    Err(libc::ENOSYS) => {
                        futex_waitv_works = false;
                        WAITV_FALLBACK.set(1);
                    }
                    Err(libc::EFAULT | libc::EINVAL) => {
                        // A word we could not wait on (an unmapped one, in
                        // a race with its unpark): look again shortly.
                        std::thread::sleep(POLL_PERIOD);
                    }
                    _ => {}
                }
            }
            if !futex_waitv_works {
                // Linux before 5.16: sleep on our own word only, and look
                // at the others every POLL_PERIOD while any is parked.
                let nap = until.map(|t| t.saturating_duration_since(Instant::now()));
                futex::wait(&self.rearm, rearm_seen, nap);
            }
        }
    }

    /// Under the lock: wakes (into `due`) the entries whose word moved or
    /// whose tick passed, and lists the rest to sleep on; `None` when this
    /// thread (of `generation`) is to exit.
    fn look(&self, generation: u64, rearm_seen: u32, due: &mut Vec<Waker>) -> Option<Round> {
        let now = Instant::now();
        let mut round = Round {
            waitv: Vec::with_capacity(WAITV_MAX),
            overflow: false,
            until: None,
        };
        round.waitv.push(Waitv::new(&self.rearm, rearm_seen));
        let mut table = lock(&self.table);
        if table.thread != Some(generation) {
            return None;
        }
        table.entries.retain_mut(|entry| {
            // An entry's words stay mapped while it is in the table, and
            // we hold the table's lock (module docs).
            let (word, expected) = entry.signal.sleep_target(entry.prepared);
            if word.load(Ordering::Relaxed) != expected {
                // Woken: withdraw for the task now (it learns so from
                // `unpark`), as a blocking sleeper withdraws on waking.
                entry.signal.cancel(entry.prepared);
                due.push(entry.waker.clone());
                return false;
            }
            let mut tick = entry.since + LIVENESS_TICK;
            if now >= tick {
                // A liveness tick: the task checks its peer and stays
                // parked (entry and announcement kept: see `refresh`),
                // unless the probe finds nothing for it to see.
                if entry.probe.is_none_or(|probe| probe.wake_task()) {
                    due.push(entry.waker.clone());
                }
                entry.since = now;
                tick = now + LIVENESS_TICK;
            }
            round.until = Some(round.until.map_or(tick, |t: Instant| t.min(tick)));
            let listed = round
                .waitv
                .iter()
                .any(|w| w.uaddr == word.as_ptr() as u64 && w.val == u64::from(expected));
            if !listed {
                if round.waitv.len() < WAITV_MAX {
                    round.waitv.push(Waitv::new(word, expected));
                } else {
                    round.overflow = true;
                }
            }
            true
        });
        Some(round)
    }
}

/// `SHMLANE_NO_FUTEX_WAITV=1`: the waiter thread behaves as on a kernel
/// without `futex_waitv` (before 5.16) from its start; the tests' switch for
/// that path, read when the thread starts.
fn futex_waitv_disabled() -> bool {
    std::env::var_os("SHMLANE_NO_FUTEX_WAITV").is_some_and(|v| v == "1")
}

/// 1 once this process's waiter thread sleeps without `futex_waitv`.
static WAITV_FALLBACK: crate::sync::PerProcess = crate::sync::PerProcess::new();

/// Whether this process's waiter thread has started and waits without
/// `futex_waitv` (its kernel lacks it, or `SHMLANE_NO_FUTEX_WAITV=1`):
/// `None` before it started.
#[cfg(feature = "test-support")]
pub(crate) fn waits_without_futex_waitv() -> Option<bool> {
    WAITV_FALLBACK.get().map(|fallback| fallback != 0)
}

/// The kernel's `struct futex_waitv`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct Waitv {
    val: u64,
    uaddr: u64,
    flags: u32,
    reserved: u32,
}

/// `FUTEX2_SIZE_U32`: a 32-bit futex word. Never `FUTEX2_PRIVATE`, not
/// even for the re-arm word: its wakes are the shared FUTEX_WAKE of
/// `wait::futex`, and a private and a shared futex on one word have
/// different keys (a shared wake would miss a private sleeper).
const FUTEX2_SIZE_U32: u32 = 0x02;

impl Waitv {
    fn new(word: &AtomicU32, expected: u32) -> Self {
        Self {
            val: u64::from(expected),
            uaddr: word.as_ptr() as u64,
            flags: FUTEX2_SIZE_U32,
            reserved: 0,
        }
    }
}

/// Sleeps until one of `waitv`'s words is woken (or does not hold its
/// value) or `until` passes. `Err(errno)` for ENOSYS (no futex_waitv),
/// EFAULT and EINVAL; every other outcome means "look again".
fn futex_waitv(waitv: &[Waitv], until: Option<Instant>) -> Result<(), i32> {
    let deadline = until.map(monotonic_at);
    let deadline_ptr = deadline
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `waitv` is an array of `waitv.len()` (1..=128) initialised
    // `struct futex_waitv`s whose addresses were live words when listed
    // (the kernel reads them fault-safely), `deadline` outlives the call,
    // and CLOCK_MONOTONIC is the clock it is measured on.
    let result = unsafe {
        libc::syscall(
            libc::SYS_futex_waitv,
            waitv.as_ptr(),
            waitv.len() as libc::c_uint,
            0 as libc::c_uint,
            deadline_ptr,
            libc::CLOCK_MONOTONIC,
        )
    };
    if result >= 0 {
        return Ok(());
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(errno @ (libc::ENOSYS | libc::EFAULT | libc::EINVAL)) => Err(errno),
        _ => Ok(()),
    }
}

/// `at` as an absolute CLOCK_MONOTONIC time (the clock `Instant` reads).
fn monotonic_at(at: Instant) -> libc::timespec {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for the call to fill; the clock
    // always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    let left = at.saturating_duration_since(Instant::now());
    let nanos = i128::from(now.tv_nsec) + i128::from(left.subsec_nanos());
    libc::timespec {
        tv_sec: now
            .tv_sec
            .saturating_add(left.as_secs() as libc::time_t)
            .saturating_add((nanos / 1_000_000_000) as libc::time_t),
        tv_nsec: (nanos % 1_000_000_000) as libc::c_long,
    }
}
