//! The P/V example of the classic IPC texts: two processes add to one
//! counter in shared memory, and a named semaphore makes each
//! read-modify-write exclusive, so no update is lost.
//!
//! Run: `cargo run --release --example semaphore_counter`

use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, fork};
use shmlane::{Options, Semaphore, spsc};

const ROUNDS: u64 = 100_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let name = format!("semaphore-counter-{}", std::process::id());
    let lock = Semaphore::create(&name, 1)?;
    // The child reports how many rounds it did over a ring.
    let (mut report_tx, mut report_rx) = spsc::pair::<u64>(&Options::new().capacity(2))?;
    let counter = SharedCounter::new()?;
    // SAFETY: single-threaded here; the child uses the semaphore and the
    // counter, then exits.
    match unsafe { fork() }? {
        ForkResult::Child => {
            drop(report_rx);
            let lock = Semaphore::open(&name)?; // the other process opens by name
            add(&lock, &counter)?;
            report_tx.send(ROUNDS).map_err(|e| e.to_string())?;
            std::process::exit(0);
        }
        ForkResult::Parent { child } => {
            drop(report_tx);
            add(&lock, &counter)?;
            let child_rounds = report_rx.recv()?;
            waitpid(child, None)?;
            let total = counter.get();
            println!("counter = {total} (expected {})", ROUNDS + child_rounds);
            assert_eq!(total, ROUNDS + child_rounds, "an update was lost");
        }
    }
    Ok(())
}

/// P, read, add one, write, V: without the semaphore the two processes'
/// read-modify-writes interleave and lose updates.
fn add(lock: &Semaphore, counter: &SharedCounter) -> Result<(), shmlane::SemError> {
    for _ in 0..ROUNDS {
        lock.wait()?;
        counter.set(counter.get() + 1);
        lock.post()?;
    }
    Ok(())
}

/// A u64 in an anonymous shared page (inherited across fork).
struct SharedCounter(*mut u64);

impl SharedCounter {
    fn new() -> std::io::Result<Self> {
        // SAFETY: a fresh anonymous shared mapping of one page; it is never
        // unmapped (the example ends with the process).
        let page = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if page == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Self(page.cast()))
    }

    fn get(&self) -> u64 {
        // SAFETY: the page is mapped and aligned; callers hold the semaphore.
        unsafe { self.0.read_volatile() }
    }

    fn set(&self, value: u64) {
        // SAFETY: as for `get`.
        unsafe { self.0.write_volatile(value) }
    }
}
