//! `probe_ns`: how fast the two cores talk right now.
//!
//! On shared or virtual machines the physical cores behind the two pinned
//! ones move, and with them every figure. Before and after each case the
//! runner takes the median round trip of a busy-spun atomic between the
//! same two cores; two rows compare only when their probes agree.

use std::time::Duration;

use super::affinity::Cores;
use super::cases::atomic::pingpong;
use super::error::BenchError;
use super::measure::Budget;
use super::runner::Peers;

/// Unmeasured round trips before the probe's sample.
const WARMUP: u64 = 10_000;
/// Round trips in the probe's sample.
const SAMPLE: u64 = 20_000;

/// The median atomic round trip between two processes on `cores`, in ns.
pub fn median_rtt_ns(cores: Cores) -> Result<u64, BenchError> {
    let count = |min_iters| Budget {
        min_iters,
        min_time: Duration::ZERO,
    };
    Ok(pingpong(Peers::Proc, cores, count(WARMUP), count(SAMPLE))?.p50_ns)
}
