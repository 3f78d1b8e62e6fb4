//! The seeds' counter (two processes add to one number under a lock), with
//! one of them SIGKILLed halfway through an update. With `Semaphore` the
//! lock would stay taken for ever; with `Shared<T>` the survivor's next
//! `lock` gets it, is told the holder died, and repairs the update from a
//! journal the update keeps beside the number.
//!
//! Run: `cargo run --release --example shared_counter_crash`

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, fork};
use shmlane::{LockError, Options, Shared, SharedGuard, spsc};

/// The counter and its journal: an update writes the new count to
/// `journal` first, then to `count`, then clears `journal`. A holder that
/// dies between leaves `journal` set, and a repair rolls it forward.
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Counter {
    count: u64,
    journal: u64,
}

const ROUNDS: u64 = 50_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let name = format!("shared-counter-{}", std::process::id());
    let counter = Shared::<Counter>::create(&name)?;
    // The victim says "I am mid-update" over a ring.
    let (mut mid_tx, mut mid_rx) = spsc::pair::<u64>(&Options::new().capacity(2))?;
    // SAFETY: single-threaded here; the child only uses shmlane and exits.
    let victim = match unsafe { fork() }? {
        ForkResult::Child => {
            drop(mid_rx);
            let counter = Shared::<Counter>::open(&name)?; // a handle of its own
            for _ in 0..ROUNDS {
                add(&counter, None)?;
            }
            // One more update, stopped halfway: the parent kills us here.
            let mut guard = lock(&counter)?;
            guard.journal = guard.count + 1;
            mid_tx.send(1).map_err(|e| e.to_string())?;
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        ForkResult::Parent { child } => child,
    };
    drop(mid_tx);
    for _ in 0..ROUNDS {
        add(&counter, None)?;
    }
    mid_rx.recv()?; // the victim holds the lock, mid-update
    kill(victim, Signal::SIGKILL)?;
    waitpid(victim, None)?;
    println!("killed process {victim} holding the lock, halfway through an update");
    let mut repaired = false;
    add(&counter, Some(&mut repaired))?;
    assert!(repaired, "the survivor was not told that the holder died");
    let total = lock(&counter)?.count;
    println!("counter = {total} (expected {})", 2 * ROUNDS + 2);
    assert_eq!(total, 2 * ROUNDS + 2, "an update was lost or doubled");
    Ok(())
}

/// Locks, repairing what a dead holder left (and saying so in `repaired`).
fn lock_repairing<'a>(
    counter: &'a Shared<Counter>,
    repaired: Option<&mut bool>,
) -> Result<SharedGuard<'a, Counter>, Box<dyn std::error::Error>> {
    match counter.lock() {
        Ok(guard) => Ok(guard),
        Err(LockError::OwnerDied(mut guard)) => {
            if guard.journal != 0 {
                println!(
                    "previous holder died: rolling its update forward ({} -> {})",
                    guard.count, guard.journal
                );
                guard.count = guard.journal;
                guard.journal = 0;
            }
            guard.mark_consistent();
            if let Some(repaired) = repaired {
                *repaired = true;
            }
            Ok(guard)
        }
        Err(other) => Err(other.to_string().into()),
    }
}

fn lock(counter: &Shared<Counter>) -> Result<SharedGuard<'_, Counter>, Box<dyn std::error::Error>> {
    lock_repairing(counter, None)
}

/// One journaled increment under the lock.
fn add(
    counter: &Shared<Counter>,
    repaired: Option<&mut bool>,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut guard = lock_repairing(counter, repaired)?;
    guard.journal = guard.count + 1;
    guard.count = guard.journal;
    guard.journal = 0;
    Ok(())
}
