//! `shmlane torture`: real processes over a named ring, one of them
//! SIGKILLed at a random moment and started again the way a user would
//! (the same program calling `open_or_create`), with sequence numbers and
//! checksums. Each trial checks that every item whose send returned was
//! taken exactly once (or within the window SAFETY.md section 9 documents
//! for the kill), in order per producer, none torn; that no call hung; and
//! after the run that nothing of it is left in /dev/shm.

mod check;
mod journal;
mod worker;

use std::fmt;
use std::io::Write;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

use check::{Tally, Trial};
use journal::{Journal, MAX_LOGS};

/// Items a producer sends in a trial, at most.
const MAX_ITEMS: u64 = 400;
/// A trial's processes all finish within this, or it hung.
const TRIAL_LIMIT: Duration = Duration::from_secs(60);

/// Options of `shmlane torture`.
#[derive(Debug, Args)]
pub struct TortureArgs {
    /// Which ring kind to torture.
    #[arg(long, value_enum, default_value_t = KindArg::All)]
    kind: KindArg,
    /// Trials per ring kind.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    trials: u64,
    /// Seed of the first trial (trial i uses seed + i); default: from the clock.
    #[arg(long)]
    seed: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum KindArg {
    Spsc,
    Bytes,
    Mpmc,
    All,
}

/// A ring kind under torture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Spsc,
    Bytes,
    Mpmc,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Spsc => "spsc",
            Kind::Bytes => "bytes",
            Kind::Mpmc => "mpmc",
        }
    }

    /// (producers, consumers) of a trial.
    fn cast(self) -> (usize, usize) {
        match self {
            Kind::Spsc | Kind::Bytes => (1, 1),
            Kind::Mpmc => (2, 2),
        }
    }
}

/// Why `shmlane torture` failed.
#[derive(Debug)]
pub enum TortureError {
    /// A trial broke a promise; replay it with the seed.
    Violation { kind: Kind, seed: u64, what: String },
    /// The run left these segments behind.
    Leftovers(Vec<String>),
    /// The machine refused something the run needs.
    Os(String),
}

impl fmt::Display for TortureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Violation { kind, seed, what } => write!(
                f,
                "{} trial with seed {seed}: {what}; replay: shmlane torture --kind {} --trials 1 --seed {seed}",
                kind.name(),
                kind.name()
            ),
            Self::Leftovers(names) => {
                write!(f, "the run left segments in /dev/shm: {}", names.join(", "))
            }
            Self::Os(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for TortureError {}

/// One kind's figures over the run.
#[derive(Debug, Default)]
struct Summary {
    trials: u64,
    producer_kills: u64,
    consumer_kills: u64,
    unkilled: u64,
    expected: u64,
    taken: u64,
    duplicates: u64,
    lost: u64,
}

/// `shmlane torture`.
pub fn run(args: &TortureArgs) -> Result<(), TortureError> {
    let kinds: &[Kind] = match args.kind {
        KindArg::Spsc => &[Kind::Spsc],
        KindArg::Bytes => &[Kind::Bytes],
        KindArg::Mpmc => &[Kind::Mpmc],
        KindArg::All => &[Kind::Spsc, Kind::Bytes, Kind::Mpmc],
    };
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let prefix = format!("shmlane-torture-{}-", std::process::id());
    let journal = Journal::new(MAX_ITEMS as usize * journal::MAX_PRODUCERS)
        .map_err(|e| TortureError::Os(e.to_string()))?;
    let mut summaries = Vec::new();
    let mut outcome = Ok(());
    'kinds: for &kind in kinds {
        let mut summary = Summary::default();
        let started = Instant::now();
        for trial in 0..args.trials {
            let trial_seed = seed.wrapping_add(trial);
            let name = format!("{prefix}{}-{trial}", kind.name());
            let result = run_trial(kind, &name, trial_seed, &journal, &mut summary);
            // Also after a violation: the run leaves nothing behind.
            let cleaned = clean_up(&name);
            let result = result.and(cleaned);
            if let Err(what) = result {
                outcome = Err(TortureError::Violation {
                    kind,
                    seed: trial_seed,
                    what,
                });
                summaries.push((kind, summary));
                break 'kinds;
            }
            progress(kind, trial + 1, args.trials, started);
        }
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            eprintln!();
        }
        summaries.push((kind, summary));
    }
    print_summary(&summaries, seed, &prefix);
    outcome?;
    let left: Vec<String> = shmlane::registry::list_matching(&prefix)
        .map_err(|e| TortureError::Os(format!("listing /dev/shm: {e}")))?
        .into_iter()
        .map(|entry| entry.name)
        .collect();
    if left.is_empty() {
        Ok(())
    } else {
        Err(TortureError::Leftovers(left))
    }
}

/// A progress line on stderr: rewritten in place on a terminal, else one
/// line every tenth of the run.
/// Removes what a finished trial left under `name` the way a user would,
/// with `gc` (its segment is persistent and stale now; a creator killed
/// mid-create leaves a temporary file), and checks that nothing is left.
fn clean_up(name: &str) -> Result<(), String> {
    let opts = shmlane::registry::GcOptions {
        prefix: Some(name.to_owned()),
        min_age: Duration::ZERO,
        dry_run: false,
    };
    let report = shmlane::registry::gc(&opts).map_err(|e| format!("gc: {e}"))?;
    if let Some((entry, why)) = report.skipped.first() {
        return Err(format!("gc left {} behind: {why}", entry.name));
    }
    Ok(())
}

fn progress(kind: Kind, done: u64, trials: u64, started: Instant) {
    use std::io::IsTerminal;
    let terminal = std::io::stderr().is_terminal();
    let every = if terminal { trials / 100 } else { trials / 10 }.max(1);
    if done != trials && !done.is_multiple_of(every) {
        return;
    }
    let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-9);
    let line = format!(
        "torture {}: {done}/{trials} trials, {rate:.0} trials/s",
        kind.name()
    );
    if terminal {
        eprint!("\r{line}   ");
        let _ = std::io::stderr().flush();
    } else {
        eprintln!("{line}");
    }
}

fn print_summary(summaries: &[(Kind, Summary)], seed: u64, prefix: &str) {
    println!("seed {seed}");
    println!("segments: {prefix}*");
    println!(
        "{:<6} {:>7} {:>10} {:>10} {:>8} {:>9} {:>9} {:>6} {:>5}",
        "KIND", "TRIALS", "PROD-KILL", "CONS-KILL", "NO-KILL", "EXPECTED", "TAKEN", "DUPS", "LOST"
    );
    for (kind, s) in summaries {
        println!(
            "{:<6} {:>7} {:>10} {:>10} {:>8} {:>9} {:>9} {:>6} {:>5}",
            kind.name(),
            s.trials,
            s.producer_kills,
            s.consumer_kills,
            s.unkilled,
            s.expected,
            s.taken,
            s.duplicates,
            s.lost
        );
    }
}

/// A process of the trial.
struct Worker {
    pid: Pid,
    producer: Option<usize>,
    /// Exit status once reaped.
    status: Option<i32>,
    killed: bool,
}

/// Forks a worker running `body`; the child exits 0 if it returns `Ok`,
/// else prints the error and exits 1.
fn spawn(body: impl FnOnce() -> Result<(), String>) -> Result<Pid, String> {
    // SAFETY: `shmlane torture` runs on one thread (it starts none), so the
    // child is a complete copy: no lock is held by a thread it lacks, and
    // it may allocate. The child never returns into the parent's code: it
    // `_exit`s.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
                Ok(Ok(())) => 0,
                Ok(Err(e)) => {
                    eprintln!("shmlane torture: worker {}: {e}", std::process::id());
                    1
                }
                Err(_) => 101,
            };
            // SAFETY: ends the child without running the parent's exit
            // handlers or unwinding into its stack.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => Ok(child),
    }
}

/// A small random number source for one trial (the trial's seed fixes its
/// sizes and its kill).
fn rng(seed: u64) -> fastrand::Rng {
    fastrand::Rng::with_seed(seed)
}

fn run_trial(
    kind: Kind,
    name: &str,
    seed: u64,
    journal: &Journal,
    summary: &mut Summary,
) -> Result<(), String> {
    journal.reset();
    let mut rng = rng(seed);
    let (producers, consumers) = kind.cast();
    let items = rng.u64(1..=MAX_ITEMS);
    let mut trial = Trial {
        producers,
        items,
        logs: consumers,
        concurrent_consumers: consumers > 1,
        ..Trial::default()
    };
    let mut incarnations = vec![0u64; producers];
    let mut workers = Vec::new();
    let start_producer = |p: usize, incarnation: u64, from: u64| {
        spawn(|| worker::produce(kind, name, p, incarnation, (from, items), journal))
    };
    let start_consumer =
        |log: usize| spawn(|| worker::consume(kind, name, log, producers, journal));
    // Start order varies: either side may create the ring.
    let producers_first = rng.bool();
    for step in 0..2 {
        if (step == 0) == producers_first {
            for p in 0..producers {
                let pid = start_producer(p, 0, 0)?;
                workers.push(Worker {
                    pid,
                    producer: Some(p),
                    status: None,
                    killed: false,
                });
            }
        } else {
            for log in 0..consumers {
                let pid = start_consumer(log)?;
                workers.push(Worker {
                    pid,
                    producer: None,
                    status: None,
                    killed: false,
                });
            }
        }
    }

    // The kill: once a random share of the items was taken (or at once),
    // plus a random spin, a random worker still running.
    let total = items as usize * producers;
    let target = rng.usize(0..=total);
    let spin = rng.u32(0..20_000);
    let deadline = Instant::now() + TRIAL_LIMIT;
    while journal.taken(trial.logs) < target && !all_reaped(&mut workers)? {
        if Instant::now() > deadline {
            kill_all(&mut workers);
            return Err("no progress before the kill: hung".into());
        }
        std::hint::spin_loop();
    }
    for _ in 0..spin {
        std::hint::spin_loop();
    }
    reap(&mut workers)?;
    let running: Vec<usize> = (0..workers.len())
        .filter(|&i| workers[i].status.is_none())
        .collect();
    if running.is_empty() {
        summary.unkilled += 1;
    } else {
        let victim = running[rng.usize(0..running.len())];
        let pid = workers[victim].pid;
        let _ = kill(pid, Signal::SIGKILL);
        let status = waitpid(pid, None).map_err(|e| format!("waitpid: {e}"))?;
        workers[victim].status = Some(exit_code(status));
        workers[victim].killed = true;
        // Started again, as a supervisor would.
        let replacement = match workers[victim].producer {
            Some(p) => {
                trial.producer_kills += 1;
                incarnations[p] += 1;
                let from = journal.returned(p);
                Worker {
                    pid: start_producer(p, incarnations[p], from)?,
                    producer: Some(p),
                    status: None,
                    killed: false,
                }
            }
            None => {
                trial.consumer_kills += 1;
                if trial.logs >= MAX_LOGS {
                    return Err("too many consumer logs".into());
                }
                trial.logs += 1;
                Worker {
                    pid: start_consumer(trial.logs - 1)?,
                    producer: None,
                    status: None,
                    killed: false,
                }
            }
        };
        workers.push(replacement);
    }

    while !all_reaped(&mut workers)? {
        if Instant::now() > deadline {
            kill_all(&mut workers);
            return Err(format!(
                "a process did not finish within {} s: hung",
                TRIAL_LIMIT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    if let Some(failed) = workers.iter().find(|w| !w.killed && w.status != Some(0)) {
        return Err(format!(
            "{} {} exited with status {:?} (its message is above)",
            if failed.producer.is_some() {
                "producer"
            } else {
                "consumer"
            },
            failed.pid,
            failed.status
        ));
    }
    let tally: Tally = check::check(kind, &trial, journal)?;
    summary.trials += 1;
    summary.producer_kills += trial.producer_kills;
    summary.consumer_kills += trial.consumer_kills;
    summary.expected += tally.expected;
    summary.taken += tally.taken;
    summary.duplicates += tally.duplicates;
    summary.lost += tally.lost;
    Ok(())
}

fn exit_code(status: WaitStatus) -> i32 {
    match status {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(_, signal, _) => 128 + signal as i32,
        _ => -1,
    }
}

/// Reaps the workers that ended (without waiting).
fn reap(workers: &mut [Worker]) -> Result<(), String> {
    for worker in workers.iter_mut().filter(|w| w.status.is_none()) {
        match waitpid(worker.pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(status) => worker.status = Some(exit_code(status)),
            Err(e) => return Err(format!("waitpid {}: {e}", worker.pid)),
        }
    }
    Ok(())
}

fn all_reaped(workers: &mut [Worker]) -> Result<bool, String> {
    reap(workers)?;
    Ok(workers.iter().all(|w| w.status.is_some()))
}

fn kill_all(workers: &mut [Worker]) {
    for worker in workers.iter_mut().filter(|w| w.status.is_none()) {
        let _ = kill(worker.pid, Signal::SIGKILL);
        let _ = waitpid(worker.pid, None);
        worker.status = Some(128 + Signal::SIGKILL as i32);
    }
}
