//! `memcpy`: one core copying a buffer, the ceiling of any copying
//! transport. At 4096 B source and destination stay in the core's caches;
//! at 64 MiB every copy streams through memory, the rate a ring between
//! two cores approaches when every message brings fresh cache lines.

use std::hint::black_box;
use std::time::{Duration, Instant};

use super::Setup;
use crate::bench::affinity::pin;
use crate::bench::error::BenchError;
use crate::bench::measure::{Figures, REPS, TputStats};

/// The `memcpy` case: copies per second of `setup.size` bytes, median of
/// [`REPS`] repetitions after one warm-up.
pub fn case(setup: &Setup) -> Result<Figures, BenchError> {
    pin(setup.cores.a)?;
    let src = vec![0x5au8; setup.size];
    let mut dst = vec![0u8; setup.size];
    let mut rates = Vec::with_capacity(REPS);
    let mut total = 0u64;
    for rep in 0..=REPS {
        let share = if rep == 0 { 0.1 } else { 1.0 / REPS as f64 };
        let budget = Duration::from_secs_f64(setup.secs * share);
        let start = Instant::now();
        let mut copies = 0u64;
        while start.elapsed() < budget {
            // Enough copies between clock reads that the clock is noise.
            for _ in 0..(1 << 20) / setup.size.max(1) + 1 {
                dst.copy_from_slice(black_box(&src));
                black_box(&mut dst);
                copies += 1;
            }
        }
        if rep > 0 {
            rates.push(copies as f64 / start.elapsed().as_secs_f64());
            total += copies;
        }
    }
    rates.sort_by(f64::total_cmp);
    let msgs_per_s = rates[REPS / 2];
    Ok(Figures::Tput(TputStats {
        n: total,
        msgs_per_s,
        gb_per_s: msgs_per_s * setup.size as f64 / 1e9,
        wakes_per_msg: None,
        skipped: None,
        note: None,
    }))
}
