//! What a trial's processes write down, in one `MAP_SHARED` anonymous
//! mapping they all inherit across `fork`, so that it survives any of them
//! being SIGKILLed: how far each producer's sends returned, every item each
//! consumer incarnation took, in order, and torn items seen.
//!
//! Every word is written by one process at a time (its owner: a producer
//! incarnation, or a consumer incarnation's log) and read by the parent
//! after the writers are gone, or as a progress hint while they run.

use std::sync::atomic::Ordering;

use crate::bench::error::BenchError;
use crate::bench::shared::SharedPage;

/// Producers a trial can have.
pub const MAX_PRODUCERS: usize = 4;
/// Consumer incarnations a trial can have (first ones and restarts).
pub const MAX_LOGS: usize = 8;

const TORN: usize = 0;
const RETURNED: usize = 1;
const DONE: usize = RETURNED + MAX_PRODUCERS;
const LOGS: usize = DONE + MAX_PRODUCERS;

/// The journal of one trial.
pub struct Journal {
    page: SharedPage,
    /// Entries one log holds: every item of the trial, and the duplicates
    /// a crash may cause.
    log_capacity: usize,
}

impl Journal {
    /// A zeroed journal for trials of at most `items` items in all.
    pub fn new(items: usize) -> Result<Self, BenchError> {
        let log_capacity = items + 2 * MAX_LOGS + 2 * MAX_PRODUCERS;
        let page = SharedPage::with_words(LOGS + MAX_LOGS * (1 + log_capacity))?;
        Ok(Self { page, log_capacity })
    }

    /// Zeroes every word this trial used, for the next one.
    pub fn reset(&self) {
        for word in 0..LOGS {
            self.page.word(word).store(0, Ordering::Relaxed);
        }
        for log in 0..MAX_LOGS {
            let len = self.log_len(log);
            for i in 0..=len.min(self.log_capacity) {
                self.page
                    .word(self.log_base(log) + i)
                    .store(0, Ordering::Relaxed);
            }
        }
    }

    fn log_base(&self, log: usize) -> usize {
        LOGS + log * (1 + self.log_capacity)
    }

    /// Counts a torn item (its checksum did not match).
    pub fn note_torn(&self) {
        self.page.word(TORN).fetch_add(1, Ordering::Relaxed);
    }

    pub fn torn(&self) -> u64 {
        self.page.word(TORN).load(Ordering::Relaxed)
    }

    /// Producer `p`'s sends of sequence numbers below `seq` have returned.
    pub fn set_returned(&self, p: usize, seq: u64) {
        self.page.word(RETURNED + p).store(seq, Ordering::Release);
    }

    pub fn returned(&self, p: usize) -> u64 {
        self.page.word(RETURNED + p).load(Ordering::Acquire)
    }

    /// Producer `p` sent all of its items (its last send returned).
    pub fn set_done(&self, p: usize) {
        self.page.word(DONE + p).store(1, Ordering::Release);
    }

    pub fn all_done(&self, producers: usize) -> bool {
        (0..producers).all(|p| self.page.word(DONE + p).load(Ordering::Acquire) == 1)
    }

    /// Appends `tag` to consumer log `log`: false if it is full (a ring
    /// that delivers more than the trial sent).
    pub fn append(&self, log: usize, tag: u64) -> bool {
        let len_word = self.page.word(self.log_base(log));
        let len = len_word.load(Ordering::Relaxed) as usize;
        if len >= self.log_capacity {
            return false;
        }
        self.page
            .word(self.log_base(log) + 1 + len)
            .store(tag, Ordering::Relaxed);
        // The entry before the length: a kill between the two loses only
        // the length's step, which the checker sees as the item not taken.
        len_word.store(len as u64 + 1, Ordering::Release);
        true
    }

    pub fn log_len(&self, log: usize) -> usize {
        let len = self.page.word(self.log_base(log)).load(Ordering::Acquire) as usize;
        len.min(self.log_capacity)
    }

    /// The entries of log `log`, in the order they were taken.
    pub fn log(&self, log: usize) -> Vec<u64> {
        (0..self.log_len(log))
            .map(|i| {
                self.page
                    .word(self.log_base(log) + 1 + i)
                    .load(Ordering::Relaxed)
            })
            .collect()
    }

    /// Items taken so far by every consumer (a progress hint).
    pub fn taken(&self, logs: usize) -> usize {
        (0..logs).map(|log| self.log_len(log)).sum()
    }
}

/// An item's identity: its producer, the producer's incarnation and its
/// sequence number, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag {
    pub producer: usize,
    pub incarnation: u64,
    pub seq: u64,
}

impl Tag {
    pub fn encode(self) -> u64 {
        ((self.producer as u64) << 56) | ((self.incarnation & 0xffff) << 40) | (self.seq & MAX_SEQ)
    }

    pub fn decode(word: u64) -> Self {
        Self {
            producer: (word >> 56) as usize,
            incarnation: (word >> 40) & 0xffff,
            seq: word & MAX_SEQ,
        }
    }
}

const MAX_SEQ: u64 = (1 << 40) - 1;

/// A fixed mix of `tag` and `i`: an item's payload words and checksum.
pub fn mix(tag: u64, i: u64) -> u64 {
    let mut z = tag ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
