//! `arrayqueue-tput` / `arrayqueue-rtt`: the MPMC baselines, crossbeam's
//! `ArrayQueue<u64>` (Vyukov's bounded queue with per-slot stamps) between
//! two threads of one process. Same streams, same checks, same cores as
//! `mpmc-tput` / `mpmc-rtt`.

use std::sync::Arc;

use crossbeam_queue::ArrayQueue;

use super::{CAPACITY, PopOne, PushOne, Setup, Single, busy_rtt, stream};
use crate::bench::error::BenchError;
use crate::bench::measure::Figures;

/// One end of an `ArrayQueue` shared by two threads.
pub struct Queue(Arc<ArrayQueue<u64>>);

impl PushOne for Queue {
    #[inline(always)]
    fn try_push(&mut self, v: u64) -> Result<bool, BenchError> {
        // ArrayQueue's only push error is "full".
        Ok(self.0.push(v).is_ok())
    }
}

impl PopOne for Queue {
    #[inline(always)]
    fn try_pop(&mut self) -> Result<Option<u64>, BenchError> {
        Ok(self.0.pop())
    }
}

/// Two ends of a new queue of [`CAPACITY`] slots.
fn queue() -> (Queue, Queue) {
    let q = Arc::new(ArrayQueue::new(CAPACITY));
    (Queue(Arc::clone(&q)), Queue(q))
}

/// The `arrayqueue-tput` case.
pub fn case_tput(setup: &Setup) -> Result<Figures, BenchError> {
    let (tx, rx) = queue();
    stream(setup, Single(tx), Single(rx)).map(Figures::Tput)
}

/// The `arrayqueue-rtt` case: out on one queue, back on a second.
pub fn case_rtt(setup: &Setup) -> Result<Figures, BenchError> {
    let (ping_tx, ping_rx) = queue();
    let (pong_tx, pong_rx) = queue();
    busy_rtt(setup, ping_tx, ping_rx, pong_tx, pong_rx)
}
