//! `first-message-rtt` and `first-message-rtt-prefault`: the first round
//! trips through fresh 64 MiB SPSC rings (ping and pong), measured from the
//! very first one (no warm-up), without and with `Options::prefault`.
//!
//! Without prefault every 512th message (a 4 KiB page of u64 slots) lands
//! on a page nobody has touched: the producer's write faults it in (the
//! kernel allocates and zeroes it), which shows in the tail percentiles.
//! With prefault the pages were mapped at create. The pair is made before
//! the fork, so the parent's mappings are prefaulted; the child's take a
//! minor fault per page (the kernel does not copy the page tables of a
//! shared mapping to a child), but no allocation.

use std::time::Duration;

use shmlane::{Options, spsc};

use super::{Setup, busy_rtt_after};
use crate::bench::error::BenchError;
use crate::bench::measure::{Budget, Figures};

/// Slots of each ring: 64 MiB of u64.
const SLOTS: usize = 8 << 20;

/// Round trips from the first: no warm-up at all.
const NO_WARMUP: Budget = Budget {
    min_iters: 0,
    min_time: Duration::ZERO,
};

fn fresh_rings_rtt(setup: &Setup, opts: &Options) -> Result<Figures, BenchError> {
    let (ping_tx, ping_rx) = spsc::pair::<u64>(opts).map_err(BenchError::lib)?;
    let (pong_tx, pong_rx) = spsc::pair::<u64>(opts).map_err(BenchError::lib)?;
    busy_rtt_after(setup, NO_WARMUP, ping_tx, ping_rx, pong_tx, pong_rx)
}

/// `first-message-rtt`: fresh rings, pages faulted in as messages reach them.
pub fn case_cold(setup: &Setup) -> Result<Figures, BenchError> {
    fresh_rings_rtt(setup, &Options::new().capacity(SLOTS))
}

/// `first-message-rtt-prefault`: fresh rings made with `prefault(true)`.
pub fn case_prefault(setup: &Setup) -> Result<Figures, BenchError> {
    fresh_rings_rtt(setup, &Options::new().capacity(SLOTS).prefault(true))
}
