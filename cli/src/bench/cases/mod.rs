//! The benchmark cases, by family, and what they share: one-value push/pop
//! over any ring with watchdog retries, and the wiring of a throughput case.
//!
//! Families: `atomic` and `futex` (the busy and the sleeping round-trip
//! floors), `rtrb` (the in-process throughput baseline), `spsc` (the
//! shmlane ring, busy and blocking), `semaphore` (shmlane's semaphore),
//! `memcpy` and `pipe` (the copy baselines of the byte ring), `bytes` (the
//! byte ring), `transport` (shmlane's transports) against `ipc_raw` (the
//! same kernel mechanisms through plain syscalls), `arrayqueue` (the
//! in-process MPMC baseline), `mpmc` (the shmlane MPMC ring).

pub mod arrayqueue;
pub mod atomic;
pub mod bytes;
pub mod futex;
pub mod ipc_raw;
pub mod memcpy;
pub mod mpmc;
pub mod pipe;
pub mod rtrb;
pub mod semaphore;
pub mod spsc;
pub mod transport;

use super::affinity::Cores;
use super::error::BenchError;
use super::measure::{
    Budget, Figures, STOP, StreamRx, StreamTx, TputStats, check_seq, rtt, tput_consumer,
    tput_producer,
};
use super::runner::{Peers, run_pair};
use super::shared::SharedPage;
use super::spin::Watch;

/// What a case needs to know from the command line.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    /// Seconds of measurement.
    pub secs: f64,
    pub cores: Cores,
    /// Process or thread peer, as the registry declares for the case.
    pub peers: Peers,
    /// Message size in bytes (one of the sizes the case declares).
    pub size: usize,
}

/// Capacity of every ring, in u64 slots.
pub const CAPACITY: usize = 1024;

/// A ring producer that can try to push one u64.
pub trait PushOne {
    /// `Ok(false)` when the ring is full.
    fn try_push(&mut self, v: u64) -> Result<bool, BenchError>;

    /// Futex wake syscalls so far, from the ring's shared counters; `None`
    /// if the ring keeps none.
    fn wake_syscalls(&self) -> Option<u64> {
        None
    }
}

/// A ring consumer that can try to pop one u64.
pub trait PopOne {
    /// `Ok(None)` when the ring is empty.
    fn try_pop(&mut self) -> Result<Option<u64>, BenchError>;
}

/// Pushes `v`, busy-retrying while the ring is full. The first try is
/// outside the watchdog's closure, so that the common case (room) is the
/// ring's own inlined fast path rather than a call per message.
#[inline(always)]
pub fn push(tx: &mut impl PushOne, v: u64, watch: &Watch<'_>) -> Result<(), BenchError> {
    if tx.try_push(v)? {
        return Ok(());
    }
    watch.until("pushing into a full ring", || {
        Ok(tx.try_push(v)?.then_some(()))
    })
}

/// Pops one value, busy-retrying while the ring is empty (first try
/// inline, as in [`push`]).
#[inline(always)]
pub fn pop(rx: &mut impl PopOne, watch: &Watch<'_>) -> Result<u64, BenchError> {
    if let Some(v) = rx.try_pop()? {
        return Ok(v);
    }
    watch.until("popping from an empty ring", || rx.try_pop())
}

/// A stream end that moves one value per push or pop.
pub struct Single<T>(pub T);

impl<T: PushOne> StreamTx for Single<T> {
    fn send(&mut self, from: u64, count: u64, watch: &Watch<'_>) -> Result<(), BenchError> {
        for v in from..from + count {
            push(&mut self.0, v, watch)?;
        }
        Ok(())
    }

    fn send_stop(&mut self, watch: &Watch<'_>) -> Result<(), BenchError> {
        push(&mut self.0, super::measure::STOP, watch)
    }

    fn wake_syscalls(&self) -> Option<u64> {
        self.0.wake_syscalls()
    }
}

impl<T: PopOne> StreamRx for Single<T> {
    fn recv_rep(&mut self, watch: &Watch<'_>) -> Result<u64, BenchError> {
        let mut next = 0;
        loop {
            let v = pop(&mut self.0, watch)?;
            if check_seq(&[v], &mut next)?.1 {
                return Ok(next);
            }
        }
    }
}

/// Runs a throughput case: `tx` streams from this side (core A), `rx`
/// receives on the peer (core B).
pub fn stream(
    setup: &Setup,
    mut tx: impl StreamTx,
    mut rx: impl StreamRx + Send,
) -> Result<TputStats, BenchError> {
    let page = SharedPage::new()?;
    let page = &page;
    run_pair(
        setup.peers,
        setup.cores,
        move |watch| tput_consumer(&mut rx, page, &watch),
        move |watch| tput_producer(setup.secs, &mut tx, page, &watch),
    )
}

/// Runs a busy round-trip case over any rings: the value goes out on
/// `ping` (this side pushes, the peer pops) and comes back on `pong`, each
/// side spinning with try-push/try-pop under its watchdog.
pub fn busy_rtt(
    setup: &Setup,
    mut ping_tx: impl PushOne,
    mut ping_rx: impl PopOne + Send,
    mut pong_tx: impl PushOne + Send,
    mut pong_rx: impl PopOne,
) -> Result<Figures, BenchError> {
    let secs = setup.secs;
    let stats = run_pair(
        setup.peers,
        setup.cores,
        move |watch| loop {
            let v = pop(&mut ping_rx, &watch)?;
            if v == STOP {
                return Ok(());
            }
            push(&mut pong_tx, v, &watch)?;
        },
        move |watch| {
            let stats = rtt(Budget::rtt_warmup(secs), Budget::rtt_measure(secs), |k| {
                push(&mut ping_tx, k, &watch)?;
                match pop(&mut pong_rx, &watch)? {
                    v if v == k => Ok(()),
                    got => Err(BenchError::Mismatch { expected: k, got }),
                }
            })?;
            push(&mut ping_tx, STOP, &watch)?;
            Ok(stats)
        },
    )?;
    Ok(Figures::Rtt(stats))
}
