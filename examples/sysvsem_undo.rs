//! The seeds' semaphore lock (value 1, P before touching the shared
//! memory, V after) with its holder SIGKILLed between P and V. A System V
//! semaphore taken with `SEM_UNDO` is given back by the kernel when the
//! holder dies, so the next process gets the lock; `shmlane::Semaphore`
//! would stay at 0.
//!
//! Run: `cargo run --release --example sysvsem_undo`

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, fork};
use shmlane::sysvsem::{SemOp, SemaphoreSet};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Semaphore 0: the lock. Semaphore 1: "the holder has it", posted
    // without undo so that it stays when the holder dies.
    let set = SemaphoreSet::private(2, 0)?;
    set.set_values(&[1, 0])?;
    // SAFETY: single-threaded here; the child only makes semop calls.
    let holder = match unsafe { fork() }? {
        ForkResult::Child => {
            set.wait(0)?; // P, with SEM_UNDO
            set.apply(&[SemOp::post(1).without_undo()])?;
            loop {
                std::thread::sleep(Duration::from_secs(1)); // never V
            }
        }
        ForkResult::Parent { child } => child,
    };
    set.wait_timeout(1, Duration::from_secs(10))?; // the holder has the lock
    println!(
        "process {holder} holds the lock (value {}); killing it",
        set.value(0)?
    );
    kill(holder, Signal::SIGKILL)?;
    waitpid(holder, None)?;
    println!("after its death the value is {} again", set.value(0)?);
    set.wait_timeout(0, Duration::from_secs(10))?;
    println!("the next process took the lock");
    set.post(0)?;
    Ok(())
}
