//! A job queue across processes: the parent writes jobs in place into an
//! MPMC ring, three worker processes take them (each job exactly once) and
//! send results back on a second ring.
//!
//! Run: `cargo run --release --example mpmc_workers`

use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, fork};
use shmlane::{Options, PopError, mpmc};

const WORKERS: u64 = 3;
const JOBS: u64 = 10_000;

#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Job {
    id: u64,
    /// Count the Collatz steps from here down to 1.
    start: u64,
}

#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Done {
    id: u64,
    worker: u64,
    steps: u64,
}

fn collatz_steps(mut n: u64) -> u64 {
    let mut steps = 0;
    while n > 1 {
        n = if n.is_multiple_of(2) {
            n / 2
        } else {
            3 * n + 1
        };
        steps += 1;
    }
    steps
}

/// A worker: takes jobs until the parent has sent them all and left.
fn work(
    worker: u64,
    mut jobs: mpmc::Receiver<Job>,
    mut results: mpmc::Sender<Done>,
) -> Result<(), Box<dyn std::error::Error>> {
    loop {
        match jobs.recv() {
            Ok(job) => {
                let steps = collatz_steps(job.start);
                results
                    .send(Done {
                        id: job.id,
                        worker,
                        steps,
                    })
                    .map_err(|e| e.to_string())?;
            }
            Err(PopError::Disconnected) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let opts = Options::new().capacity(256).participants(8);
    let (mut jobs_tx, jobs_rx) = mpmc::pair::<Job>(&opts)?;
    let (results_tx, mut results_rx) = mpmc::pair::<Done>(&opts)?;
    // One receiver of jobs and one sender of results per worker, made
    // before the forks; the unused originals go now.
    let ends: Vec<_> = (0..WORKERS)
        .map(|_| Ok((jobs_rx.try_clone()?, results_tx.try_clone()?)))
        .collect::<Result<_, shmlane::OpenError>>()?;
    drop((jobs_rx, results_tx));
    let mut children = Vec::new();
    for (worker, (jobs, results)) in (0..).zip(ends) {
        // SAFETY: single-threaded here; the child only uses its two ends
        // and exits.
        match unsafe { fork() }? {
            ForkResult::Child => {
                // A child drops every end it does not use (unused ends
                // detach nothing) and keeps its own two.
                drop((children, results_rx));
                std::mem::forget(jobs_tx);
                let code = match work(worker, jobs, results) {
                    Ok(()) => 0,
                    Err(e) => {
                        eprintln!("worker {worker}: {e}");
                        1
                    }
                };
                std::process::exit(code);
            }
            ForkResult::Parent { child } => {
                drop((jobs, results));
                children.push(child);
            }
        }
    }
    let mut seen = vec![false; JOBS as usize];
    let mut per_worker = [0u64; WORKERS as usize];
    let mut record = |done: Done| {
        assert!(!seen[done.id as usize], "job {} done twice", done.id);
        assert_eq!(done.steps, collatz_steps((done.id + 1) * 1_000_003));
        seen[done.id as usize] = true;
        per_worker[done.worker as usize] += 1;
    };
    // Jobs are written in place in the ring, then committed. While the
    // job ring is full, take results (else workers could block on a full
    // result ring while we block on a full job ring).
    let mut id = 0;
    while id < JOBS {
        match jobs_tx.reserve() {
            Ok(mut slot) => {
                *slot.get_mut() = Job {
                    id,
                    start: (id + 1) * 1_000_003,
                };
                slot.commit();
                id += 1;
            }
            Err(shmlane::ReserveError::Full) => {
                match results_rx.recv_timeout(std::time::Duration::from_millis(1)) {
                    Ok(done) => record(done),
                    Err(PopError::Timeout) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    // Leaving tells the workers that no more jobs will come.
    drop(jobs_tx);
    loop {
        match results_rx.recv() {
            Ok(done) => record(done),
            // Every worker has left and every result is in.
            Err(PopError::Disconnected) => break,
            Err(e) => return Err(e.into()),
        }
    }
    for child in children {
        waitpid(child, None)?;
    }
    assert!(seen.iter().all(|&s| s), "a job was lost");
    println!("{JOBS} jobs done exactly once; per worker: {per_worker:?}");
    Ok(())
}
