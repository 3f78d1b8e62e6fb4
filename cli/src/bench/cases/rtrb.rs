//! `rtrb-tput`: the throughput baseline, rtrb's SPSC ring between two
//! threads of one process. Same stream, same checks, same cores as
//! `spsc-tput`, so the ratio shows what crossing processes (and shmlane's
//! own checks) cost against a well-tuned in-process ring.

use super::{CAPACITY, PopOne, PushOne, Setup, Single, stream};
use crate::bench::error::BenchError;
use crate::bench::measure::Figures;

impl PushOne for rtrb::Producer<u64> {
    #[inline(always)]
    fn try_push(&mut self, v: u64) -> Result<bool, BenchError> {
        // rtrb's only push error is Full.
        Ok(self.push(v).is_ok())
    }
}

impl PopOne for rtrb::Consumer<u64> {
    #[inline(always)]
    fn try_pop(&mut self) -> Result<Option<u64>, BenchError> {
        // rtrb's only pop error is Empty.
        Ok(self.pop().ok())
    }
}

/// The `rtrb-tput` case.
pub fn case(setup: &Setup) -> Result<Figures, BenchError> {
    let (tx, rx) = rtrb::RingBuffer::<u64>::new(CAPACITY);
    stream(setup, Single(tx), Single(rx)).map(Figures::Tput)
}
