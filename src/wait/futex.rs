//! Shared futex wait and wake: the only syscalls of the blocking path.
//!
//! Never `FUTEX_PRIVATE_FLAG`: the peer is another process, and a private
//! futex is keyed by address space. Timeouts are relative, which the kernel
//! measures on CLOCK_MONOTONIC.
//!
//! Loom cannot see a syscall, so under `cfg(shmlane_loom)` the same two
//! functions act on a loom `Mutex` + `Condvar` that stand for the kernel's
//! futex hash bucket: `wait` compares the word under the bucket lock and
//! sleeps, `wake` takes the lock and wakes everyone. That is exactly the
//! kernel's contract, so loom checks the eventcount's lost-wakeup freedom.
//! Under loom timeouts are ignored: a wait that is never woken is a
//! deadlock that loom reports, not a silent liveness-tick delay.

use std::time::Duration;

use crate::sync::AtomicU32;

#[cfg(not(shmlane_loom))]
mod imp {
    use super::*;

    /// Sleeps while `*word == expected`, at most `timeout`. Returns on a
    /// wake, a changed word, a timeout or a signal: callers re-check.
    pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
        let timespec = timeout.map(|d| libc::timespec {
            tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: libc::c_long::from(d.subsec_nanos() as i32),
        });
        let timespec_ptr = timespec
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `word` is a live, aligned u32 (an atomic in a mapping or
        // on the heap) for the whole call; FUTEX_WAIT only reads it, and the
        // timespec outlives the call. The result is deliberately ignored:
        // every outcome (woken, EAGAIN, ETIMEDOUT, EINTR) means "re-check".
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT,
                expected,
                timespec_ptr,
                std::ptr::null::<u32>(),
                0u32,
            )
        };
    }

    /// Wakes up to `count` sleepers on `word`.
    pub(crate) fn wake(word: &AtomicU32, count: i32) {
        // SAFETY: as for `wait`; FUTEX_WAKE does not access the word.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAKE,
                count,
                std::ptr::null::<libc::timespec>(),
                std::ptr::null::<u32>(),
                0u32,
            )
        };
    }
}

#[cfg(shmlane_loom)]
mod imp {
    use super::*;
    use crate::sync::{Condvar, Mutex, Ordering};

    loom::lazy_static! {
        static ref BUCKET: (Mutex<()>, Condvar) = (Mutex::new(()), Condvar::new());
    }

    pub(crate) fn wait(word: &AtomicU32, expected: u32, _timeout: Option<Duration>) {
        let guard = BUCKET.0.lock().unwrap();
        if word.load(Ordering::Relaxed) == expected {
            drop(BUCKET.1.wait(guard).unwrap());
        }
    }

    pub(crate) fn wake(_word: &AtomicU32, _count: i32) {
        let _guard = BUCKET.0.lock().unwrap();
        BUCKET.1.notify_all();
    }
}

pub(crate) use imp::{wait, wake};
