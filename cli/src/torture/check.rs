//! The verdict on one trial, from its journal: every item whose send
//! returned was taken, exactly once or within the documented window of a
//! kill (SAFETY.md section 9), in order per producer, none torn.

use super::Kind;
use super::journal::{Journal, Tag};

/// What a trial did, as the parent saw it.
#[derive(Debug, Default, Clone)]
pub struct Trial {
    pub producers: usize,
    /// Items each producer sends in all.
    pub items: u64,
    /// Consumer logs used (first consumers and restarts).
    pub logs: usize,
    /// Consumer logs of incarnations that run at the same time (MPMC), so
    /// that only each log's own order means anything.
    pub concurrent_consumers: bool,
    pub producer_kills: u64,
    pub consumer_kills: u64,
}

/// The figures of a trial that passed.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub expected: u64,
    pub taken: u64,
    /// Items taken twice, within the window a kill allows.
    pub duplicates: u64,
    /// Items never taken, within the window a kill allows.
    pub lost: u64,
}

/// Checks the journal of `trial`; `Err` says what was violated.
pub fn check(kind: Kind, trial: &Trial, journal: &Journal) -> Result<Tally, String> {
    if journal.torn() > 0 {
        return Err(format!("{} torn item(s)", journal.torn()));
    }
    let logs: Vec<Vec<Tag>> = (0..trial.logs)
        .map(|l| journal.log(l).into_iter().map(Tag::decode).collect())
        .collect();
    // A duplicate: the item a killed consumer had journaled but not yet
    // released (one per kill: one chunk item or one frame), or the item a
    // killed producer was sending, sent again by its replacement with the
    // next incarnation (one per kill). MPMC releases before returning, so
    // a receiver killed after `recv` returned and before its journal loses
    // that one item instead.
    let (dup_window, loss_window) = match kind {
        Kind::Spsc | Kind::Bytes => (trial.consumer_kills + trial.producer_kills, 0),
        Kind::Mpmc => (trial.producer_kills, trial.consumer_kills),
    };
    let mut tally = Tally {
        expected: trial.items * trial.producers as u64,
        ..Tally::default()
    };
    for p in 0..trial.producers {
        if journal.returned(p) != trial.items {
            return Err(format!(
                "producer {p}: {} of {} sends returned",
                journal.returned(p),
                trial.items
            ));
        }
        let mut counts = vec![0u64; trial.items as usize];
        for tag in logs.iter().flatten().filter(|t| t.producer == p) {
            let Some(count) = counts.get_mut(tag.seq as usize) else {
                return Err(format!("producer {p}: seq {} was never sent", tag.seq));
            };
            *count += 1;
        }
        tally.taken += counts.iter().sum::<u64>();
        tally.duplicates += counts.iter().map(|&c| c.saturating_sub(1)).sum::<u64>();
        tally.lost += counts.iter().filter(|&&c| c == 0).count() as u64;
        // Order: within each log, and across consecutive logs of one
        // consumer at a time, a producer's sequence numbers never go back
        // (except to the one item a window allows again).
        let mut previous: Option<u64> = None;
        for (l, log) in logs.iter().enumerate() {
            if trial.concurrent_consumers {
                previous = None;
            }
            for tag in log.iter().filter(|t| t.producer == p) {
                if let Some(prev) = previous
                    && tag.seq < prev
                {
                    return Err(format!(
                        "producer {p}: seq {} after seq {prev} (log {l}): out of order",
                        tag.seq
                    ));
                }
                previous = Some(tag.seq);
            }
        }
    }
    if tally.duplicates > dup_window {
        return Err(format!(
            "{} duplicate(s); the kills allow {dup_window}",
            tally.duplicates
        ));
    }
    if tally.lost > loss_window {
        return Err(format!(
            "{} item(s) whose send returned were never taken; the kills allow {loss_window}",
            tally.lost
        ));
    }
    Ok(tally)
}
