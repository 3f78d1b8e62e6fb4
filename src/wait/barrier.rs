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
    #[cfg(any(shmlane_loom, miri))]
    false
}

/// The publisher's side: between its Release store and its sleeper check.
#[inline(always)]
pub(crate) fn publisher(light: bool) {
    if light {
        compiler_fence(Ordering::SeqCst);
    } else {
        fence(Ordering::SeqCst);
    }
}

/// The sleeper's side: between announcing itself and re-checking.
pub(crate) fn sleeper() {
    #[cfg(not(shmlane_loom))]
    if membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) == 0 {
        // The kernel's barrier covers registered publishers; our own
        // StoreLoad order needs a fence as well.
        fence(Ordering::SeqCst);
        return;
    }
    fence(Ordering::SeqCst);
}
