//! `atomic-pingpong`: the floor for any cross-process round trip.
//!
//! One AtomicU64 in a shared page, bounced between two processes: no ring,
//! no indices, just the two cache-line transfers a round trip must cost.
//! The probe runs the same code for a fixed count.

use std::sync::atomic::Ordering;

use super::Setup;
use crate::bench::affinity::Cores;
use crate::bench::error::BenchError;
use crate::bench::measure::{Budget, Figures, RttStats, STOP, rtt};
use crate::bench::runner::{Peers, run_pair};
use crate::bench::shared::SharedPage;

/// The `atomic-pingpong` case.
pub fn case(setup: &Setup) -> Result<Figures, BenchError> {
    let stats = pingpong(
        setup.peers,
        setup.cores,
        Budget::rtt_warmup(setup.secs),
        Budget::rtt_measure(setup.secs),
    )?;
    Ok(Figures::Rtt(stats))
}

/// The parent writes the odd value 2k+1; the child, seeing a new odd value,
/// writes it + 1; the parent waits for that. STOP (odd) ends the child.
pub fn pingpong(
    peers: Peers,
    cores: Cores,
    warmup: Budget,
    measure: Budget,
) -> Result<RttStats, BenchError> {
    let page = SharedPage::new()?;
    // SYNC: pingpong. Each side stores with Release and loads with Acquire.
    let word = page.word(0);
    run_pair(
        peers,
        cores,
        |watch| {
            let mut last = 0;
            loop {
                let ping = watch.until("waiting for the next ping", || {
                    let v = word.load(Ordering::Acquire);
                    Ok((v % 2 == 1 && v != last).then_some(v))
                })?;
                if ping == STOP {
                    return Ok(());
                }
                word.store(ping + 1, Ordering::Release);
                last = ping;
            }
        },
        |watch| {
            let stats = rtt(warmup, measure, |k| {
                let ping = 2 * k + 1;
                word.store(ping, Ordering::Release);
                watch.until("waiting for the pong", || {
                    Ok((word.load(Ordering::Acquire) == ping + 1).then_some(()))
                })
            })?;
            word.store(STOP, Ordering::Release);
            Ok(stats)
        },
    )
}
