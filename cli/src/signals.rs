//! SIGINT, SIGTERM and SIGHUP for `send` and `recv`: they stop at the next
//! slice of their wait, detach and remove what they made, and exit with
//! 128 + the signal's number, as a shell expects of a process a signal
//! ended.
//!
//! The three signals are blocked in every thread and taken by one thread
//! with `sigwait`, which only records which came: no work in a signal
//! handler, and no syscall of the command's is interrupted. The command
//! waits in slices of [`SLICE`] and looks between them, opening included
//! (`transport::Opening`). Should a slice not end (a destination that
//! never drains while a cut frame is finished), the signal thread ends the
//! process itself after [`GRACE`]; whatever it leaves is stale, and the
//! next `create` or `open_or_create` replaces it.

use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use nix::sys::signal::{SigSet, Signal};

/// How long a wait runs before the command looks for a signal.
pub const SLICE: Duration = Duration::from_millis(50);
/// How long the signal thread lets the command clean up.
const GRACE: Duration = Duration::from_secs(1);

/// The signal taken, 0 before any.
static CAUGHT: AtomicI32 = AtomicI32::new(0);

/// Blocks SIGINT, SIGTERM and SIGHUP in this thread (and so in every thread
/// it starts later) and starts the thread that takes them.
pub fn install() -> std::io::Result<()> {
    let mut set = SigSet::empty();
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(signal);
    }
    set.thread_block()?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Ok(signal) = set.wait() {
                CAUGHT.store(signal as i32, Ordering::SeqCst);
                std::thread::sleep(GRACE);
                std::process::exit(exit_code(signal));
            }
        })?;
    Ok(())
}

/// The signal taken so far, if any.
pub fn caught() -> Option<Signal> {
    match CAUGHT.load(Ordering::SeqCst) {
        0 => None,
        n => Signal::try_from(n).ok(),
    }
}

/// The exit status of a command that `signal` ended.
pub fn exit_code(signal: Signal) -> i32 {
    128 + signal as i32
}
