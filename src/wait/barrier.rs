//! The asymmetric fence pair that keeps a full fence off the hot path.
//!
//! A sleeper announces itself (store) and then re-checks the ring (load);
//! a publisher publishes (store) and then looks for sleepers (load). Each
//! side needs a StoreLoad fence between its two steps, or both can miss the
//! other (a lost wakeup). A full fence on every push costs about two thirds
//! of a busy ring's throughput, so the publisher issues only a compiler
//! fence and the sleeper, which is about to sleep anyway, pays with
//! `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`: the kernel runs a full
//! barrier on every CPU currently running a thread of a registered process,
//! which orders the publisher's store before its load as a fence would.
//!
//! A process registers (`MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED`) before
//! it may publish with the light fence; one that cannot register (old
//! kernel, seccomp) publishes with a full fence, and a sleeper whose
//! membarrier fails uses a full fence too. The waiter also never sleeps more
//! than one liveness tick, so even a misconfigured peer costs a delay, not a
//! hang. Under loom both sides use a SeqCst fence.

use crate::sync::{Ordering, compiler_fence, fence};

#[cfg(not(shmlane_loom))]
const MEMBARRIER_CMD_QUERY: libc::c_int = 0;
#[cfg(not(shmlane_loom))]
const MEMBARRIER_CMD_GLOBAL_EXPEDITED: libc::c_int = 1 << 1;
#[cfg(not(shmlane_loom))]
const MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED: libc::c_int = 1 << 2;

#[cfg(not(shmlane_loom))]
fn membarrier(cmd: libc::c_int) -> libc::c_long {
    // SAFETY: membarrier takes two integers and touches no memory of ours.
    unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0u32) }
}

/// Registers this process for global expedited membarriers, once per
/// process. Returns whether publishers in this process may use the light
/// fence. The registration belongs to the address space: a forked child
/// inherits it (checked on Linux 6.18), so an endpoint made before a fork
/// keeps a valid answer; exec drops it, and a new process registers when it
/// makes its first endpoint.
pub(crate) fn register_publisher() -> bool {
    // Under loom publishers are light: `publisher` models what the light
    // fence is worth (see there).
    #[cfg(shmlane_loom)]
    return true;
    // Miri cannot make this syscall; its heap-only tests never sleep, and a
    // full fence on the publisher's side is always correct.
    #[cfg(not(any(shmlane_loom, miri)))]
    {
        // Registration is idempotent: two threads racing here both register
        // and store the same answer.
        static REGISTERED: crate::sync::PerProcess = crate::sync::PerProcess::new();
        if let Some(light) = REGISTERED.get() {
            return light != 0;
        }
        let supported = membarrier(MEMBARRIER_CMD_QUERY);
        let light = supported >= 0
            && supported & libc::c_long::from(MEMBARRIER_CMD_GLOBAL_EXPEDITED) != 0
            && membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0;
        REGISTERED.set(u32::from(light));
        light
    }
    #[cfg(miri)]
    false
}

/// The publisher's side: between its Release store and its sleeper check.
/// Under loom the light fence stands for the barrier the kernel runs during
/// a sleeper's membarrier, so it is a SeqCst fence, unless the model says
/// the sleepers' membarrier fails: then it is nothing at all, as on a real
/// CPU, and only the HEAVY bit of the wake word (see `eventcount`) keeps
/// the model from losing wakeups.
#[inline(always)]
pub(crate) fn publisher(light: bool) {
    #[cfg(shmlane_loom)]
    if light && !sleeper_barrier_works() {
        return;
    }
    if light {
        compiler_fence(Ordering::SeqCst);
    } else {
        fence(Ordering::SeqCst);
    }
}

/// The publisher's fallback when a sleeper could not run its membarrier
/// (the wake word's HEAVY bit): a real fence.
#[cold]
pub(crate) fn publisher_heavy() {
    fence(Ordering::SeqCst);
}

/// Whether this process's sleepers can run `membarrier(GLOBAL_EXPEDITED)`:
/// probed once per process (the first call makes one), `false` when
/// `SHMLANE_NO_MEMBARRIER=1` is set (read once per process: the tests'
/// switch for the failure path) and from the first failure on. A process
/// whose answer is `false` marks the wake words it sleeps on HEAVY before
/// its endpoints first sleep (see `eventcount`).
#[cfg(not(shmlane_loom))]
pub(crate) fn sleeper_barrier_works() -> bool {
    #[cfg(miri)]
    return false;
    #[cfg(not(miri))]
    {
        if let Some(works) = SLEEPER_BARRIER.get() {
            return works != 0;
        }
        let disabled = std::env::var_os("SHMLANE_NO_MEMBARRIER").is_some_and(|v| v == "1");
        let works = !disabled && membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) == 0;
        SLEEPER_BARRIER.set(u32::from(works));
        works
    }
}

#[cfg(not(any(shmlane_loom, miri)))]
static SLEEPER_BARRIER: crate::sync::PerProcess = crate::sync::PerProcess::new();

#[cfg(shmlane_loom)]
loom::lazy_static! {
    /// Loom: whether the model's sleepers "have" a working membarrier
    /// (per execution; see [`set_membarrier_broken`]).
    static ref LOOM_BROKEN: crate::sync::AtomicU32 = crate::sync::AtomicU32::new(0);
}

/// Loom: the model's switch to the membarrier-failure path (set it before
/// spawning threads).
#[cfg(shmlane_loom)]
pub fn set_membarrier_broken(broken: bool) {
    LOOM_BROKEN.store(u32::from(broken), Ordering::SeqCst);
}

#[cfg(shmlane_loom)]
pub(crate) fn sleeper_barrier_works() -> bool {
    LOOM_BROKEN.load(Ordering::Relaxed) == 0
}

/// The sleeper's side: between announcing itself and re-checking. Returns
/// whether the membarrier ran: when it did not, registered publishers used
/// only a compiler fence, and the caller must mark its wake word HEAVY
/// (see `eventcount`) so that they fence from then on.
pub(crate) fn sleeper() -> bool {
    // Our own StoreLoad order needs a fence in every case; the kernel's
    // barrier covers registered publishers.
    #[cfg(not(any(shmlane_loom, miri)))]
    let ran = sleeper_barrier_works() && {
        let ok = membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) == 0;
        if !ok {
            // From now on this process marks its words HEAVY up front.
            SLEEPER_BARRIER.set(0);
        }
        ok
    };
    #[cfg(any(shmlane_loom, miri))]
    let ran = sleeper_barrier_works();
    fence(Ordering::SeqCst);
    ran
}
