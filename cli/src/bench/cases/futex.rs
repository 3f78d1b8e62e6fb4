//! `futex-rtt`: the floor for a round trip in which both sides sleep.
//!
//! One u32 in a shared page, bounced between two processes with raw shared
//! futexes (no FUTEX_PRIVATE_FLAG: the library's futexes are shared too, as
//! they must be across processes). Every wait goes straight to FUTEX_WAIT,
//! no spinning first, and every hand-over does a FUTEX_WAKE whether or not
//! anybody sleeps: what a sleeping round trip costs with nothing clever in
//! the way. The blocking rings are compared with it.

use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};

use nix::errno::Errno;

use super::Setup;
use crate::bench::error::BenchError;
use crate::bench::measure::{Budget, Figures, rtt};
use crate::bench::runner::run_pair;
use crate::bench::shared::SharedPage;

/// The child's turn is over; the parent may ping.
const IDLE: u32 = 0;
/// The parent pinged; the child answers by storing IDLE.
const PING: u32 = 1;
/// The parent is done; the child exits.
const STOP: u32 = 2;
/// The child ended (failed) without being told to stop.
const CHILD_GONE: u32 = 3;

/// The `futex-rtt` case.
pub fn case(setup: &Setup) -> Result<Figures, BenchError> {
    let page = SharedPage::new()?;
    // SYNC: futex-pingpong. Each side stores with Release and loads with
    // Acquire; the futex calls only put a side to sleep and wake it.
    let word = page.word32(0);
    let secs = setup.secs;
    let stats = run_pair(
        setup.peers,
        setup.cores,
        |_watch| {
            let _guard = ExitGuard(word);
            loop {
                match word.load(Ordering::Acquire) {
                    IDLE => wait(word, IDLE)?,
                    PING => {
                        word.store(IDLE, Ordering::Release);
                        wake(word)?;
                    }
                    STOP => return Ok(()),
                    other => return Err(unexpected(other)),
                }
            }
        },
        |_watch| {
            let gone = |what| BenchError::PeerGone { what };
            let stats = rtt(Budget::rtt_warmup(secs), Budget::rtt_measure(secs), |_| {
                // A CAS, not a store: a plain store could overwrite the
                // CHILD_GONE of a child that just failed and then sleep
                // for ever. It costs next to nothing beside two syscalls.
                match word.compare_exchange(IDLE, PING, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => {}
                    Err(CHILD_GONE) => return Err(gone("sending the futex ping")),
                    Err(other) => return Err(unexpected(other)),
                }
                wake(word)?;
                loop {
                    match word.load(Ordering::Acquire) {
                        PING => wait(word, PING)?,
                        IDLE => return Ok(()),
                        CHILD_GONE => return Err(gone("waiting for the futex pong")),
                        other => return Err(unexpected(other)),
                    }
                }
            })?;
            word.store(STOP, Ordering::Release);
            wake(word)?;
            Ok(stats)
        },
    )?;
    Ok(Figures::Rtt(stats))
}

/// Wakes the parent, should it sleep, when the child's side ends for any
/// reason (error or panic) without having been stopped: a sleeping waiter
/// cannot watch for its peer's end. After STOP it changes nothing the
/// parent still looks at.
struct ExitGuard<'a>(&'a AtomicU32);

impl Drop for ExitGuard<'_> {
    fn drop(&mut self) {
        self.0.store(CHILD_GONE, Ordering::Release);
        // Nothing more to do if it fails: the parent's reap is bounded.
        let _ = wake(self.0);
    }
}

fn unexpected(v: u32) -> BenchError {
    BenchError::Peer(format!("futex word holds {v}, which no side writes"))
}

/// Sleeps in the kernel while `*word == expected`. Returns on a wake, a
/// spurious wake, EINTR, or at once (EAGAIN) if the word already differs:
/// the caller re-reads the word and decides.
fn wait(word: &AtomicU32, expected: u32) -> Result<(), BenchError> {
    // SAFETY: FUTEX_WAIT reads the aligned u32 at `word`, which lives in a
    // mapping that outlives this call, and writes no memory; the timeout
    // pointer is null (no timeout), which FUTEX_WAIT accepts.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            ptr::null::<libc::timespec>(),
        )
    };
    if r == 0 {
        return Ok(());
    }
    match Errno::last() {
        Errno::EAGAIN | Errno::EINTR => Ok(()),
        errno => Err(BenchError::Os {
            op: "futex(FUTEX_WAIT)".into(),
            errno,
        }),
    }
}

/// Wakes at most one sleeper on `word`.
fn wake(word: &AtomicU32) -> Result<(), BenchError> {
    // SAFETY: FUTEX_WAKE only uses `word` as the key of the futex to wake
    // (an aligned u32 in a live mapping); it reads and writes no memory.
    let r = unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, 1) };
    if r >= 0 {
        Ok(())
    } else {
        Err(BenchError::Os {
            op: "futex(FUTEX_WAKE)".into(),
            errno: Errno::last(),
        })
    }
}
