//! Shared futex wait and wake: the only syscalls of the blocking path.
//!
//! Never `FUTEX_PRIVATE_FLAG`: the peer is another process, and a private
//! futex is keyed by address space. Timeouts are relative, which the kernel
//! measures on CLOCK_MONOTONIC.
//!
//! Loom cannot see a syscall, so under `cfg(shmlane_loom)` the same two
//! functions act on a loom `Mutex` + `Condvar` that stand for the kernel's
//! futex hash bucket: `wait` compares the word under the bucket lock and
//! queues itself with the word's address, `wake` takes the lock and marks
//! up to `count` of that word's queued waiters woken, oldest first. That
//! is the kernel's contract (per word, FUTEX_WAKE with a count), so loom
//! checks the eventcount's lost-wakeup freedom with wake-one.
//! Under loom timeouts are ignored: a wait that is never woken is a
//! deadlock that loom reports, not a silent liveness-tick delay.

use std::time::Duration;

use crate::sync::AtomicU32;

/// How a futex wait ended.
#[cfg_attr(shmlane_loom, allow(dead_code, reason = "loom has no timeouts"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A FUTEX_WAKE woke us.
    Woken,
    /// The timeout passed.
    TimedOut,
    /// The word was not the expected value, or a signal interrupted us.
    Other,
}

/// Process-wide tallies of futex wait outcomes, for tests: whether wakes
/// are delivered (woken) or rescued by the liveness tick (timed out).
#[cfg(not(shmlane_loom))]
pub(crate) static WOKEN: crate::sync::AtomicU64 = crate::sync::AtomicU64::new(0);
#[cfg(not(shmlane_loom))]
pub(crate) static TIMED_OUT: crate::sync::AtomicU64 = crate::sync::AtomicU64::new(0);

#[cfg(not(shmlane_loom))]
mod imp {
    use super::*;

    /// Sleeps while `*word == expected`, at most `timeout`. Returns on a
    /// wake, a changed word, a timeout or a signal: callers re-check.
    pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> Outcome {
        let timespec = timeout.map(|d| libc::timespec {
            tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: libc::c_long::from(d.subsec_nanos() as i32),
        });
        let timespec_ptr = timespec
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `word` is a live, aligned u32 (an atomic in a mapping or
        // on the heap) for the whole call; FUTEX_WAIT only reads it, and the
        // timespec outlives the call. Every outcome (woken, EAGAIN,
        // ETIMEDOUT, EINTR) means "re-check"; it is only tallied.
        let result = unsafe {
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
        let outcome = match result {
            0 => Outcome::Woken,
            _ if std::io::Error::last_os_error().raw_os_error() == Some(libc::ETIMEDOUT) => {
                Outcome::TimedOut
            }
            _ => Outcome::Other,
        };
        let tally = match outcome {
            Outcome::Woken => &WOKEN,
            Outcome::TimedOut => &TIMED_OUT,
            Outcome::Other => return outcome,
        };
        tally.fetch_add(1, crate::sync::Ordering::Relaxed);
        outcome
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

    /// The bucket's queue: (word address, ticket) of each sleeper, oldest
    /// first, and the tickets woken but not yet back.
    #[derive(Default)]
    struct Queue {
        next: usize,
        sleeping: Vec<(usize, usize)>,
        woken: Vec<usize>,
    }

    loom::lazy_static! {
        static ref BUCKET: (Mutex<Queue>, Condvar) = (Mutex::new(Queue::default()), Condvar::new());
    }

    fn address(word: &AtomicU32) -> usize {
        std::ptr::from_ref(word) as usize
    }

    pub(crate) fn wait(word: &AtomicU32, expected: u32, _timeout: Option<Duration>) -> Outcome {
        let mut queue = BUCKET.0.lock().unwrap();
        if word.load(Ordering::Relaxed) != expected {
            return Outcome::Other;
        }
        let ticket = queue.next;
        queue.next += 1;
        queue.sleeping.push((address(word), ticket));
        loop {
            queue = BUCKET.1.wait(queue).unwrap();
            if let Some(i) = queue.woken.iter().position(|&t| t == ticket) {
                queue.woken.swap_remove(i);
                return Outcome::Woken;
            }
        }
    }

    pub(crate) fn wake(word: &AtomicU32, count: i32) {
        let mut queue = BUCKET.0.lock().unwrap();
        let address = address(word);
        let mut left = count;
        while left > 0 {
            let Some(i) = queue.sleeping.iter().position(|&(a, _)| a == address) else {
                break;
            };
            let (_, ticket) = queue.sleeping.remove(i);
            queue.woken.push(ticket);
            left -= 1;
        }
        BUCKET.1.notify_all();
    }
}

pub(crate) use imp::{wait, wake};
