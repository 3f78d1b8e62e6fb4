//! Pinning: the two cores a case runs on, and pinning a thread to one.
//!
//! Starting the peer that runs on the second core is the runner's job
//! ([`super::runner`]).

use std::fmt;

use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::unistd::{Pid, getpid};

use super::error::BenchError;

/// The two cores a case runs on: the caller's side on `a`, the peer on `b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cores {
    pub a: usize,
    pub b: usize,
}

impl Cores {
    /// Parses `A,B` (the `--cores` option).
    pub fn parse(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        let [a, b] = parts.as_slice() else {
            return Err(format!("expected two cores as A,B, got {s:?}"));
        };
        let core = |t: &str| {
            t.parse::<usize>()
                .map_err(|_| format!("{t:?} is not a core number"))
        };
        let cores = Self {
            a: core(a)?,
            b: core(b)?,
        };
        if cores.a == cores.b {
            // Two busy-spinning peers on one core would measure the scheduler.
            return Err(format!("the two cores must differ, got {s:?}"));
        }
        Ok(cores)
    }

    /// Checks that this process may run on both cores. Call before the first
    /// pin: pinning narrows the process's own mask.
    pub fn check_allowed(self) -> Result<(), BenchError> {
        let allowed =
            sched_getaffinity(Pid::from_raw(0)).map_err(BenchError::os("sched_getaffinity"))?;
        for core in [self.a, self.b] {
            if !allowed.is_set(core).unwrap_or(false) {
                return Err(BenchError::Usage(format!(
                    "--cores {},{}: this process may not run on core {core} (see nproc / taskset -p {})",
                    self.a,
                    self.b,
                    getpid()
                )));
            }
        }
        Ok(())
    }
}

impl fmt::Display for Cores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.a, self.b)
    }
}

/// Pins the calling thread to `core`.
pub fn pin(core: usize) -> Result<(), BenchError> {
    let mut set = CpuSet::new();
    set.set(core)
        .map_err(BenchError::os(format!("selecting core {core}")))?;
    sched_setaffinity(Pid::from_raw(0), &set)
        .map_err(BenchError::os(format!("pinning to core {core}")))
}
