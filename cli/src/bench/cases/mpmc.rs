//! The shmlane MPMC ring between processes.
//!
//! Busy (try-send/try-recv spun by the bench): `mpmc-rtt`, `mpmc-tput`
//! (one sender process, one receiver process), against the in-process
//! `arrayqueue-*` baselines. `mpmc-tput-2p2c`: two sender processes and
//! two receiver processes with the blocking calls, senders sharing core A
//! and receivers core B; on two cores that measures the ring under
//! oversubscription (every process is preempted now and then while it
//! holds a slot), and reports the slots skipped; with four busy processes
//! on two cores it tells nothing about contention, so it prints that
//! instead of a ratio. `mpmc-fanout-rtt`: one sender, three receiver
//! processes parked in `recv`, one item at a time, answered on a second
//! ring: the round trip and the futex wakes per message of a parked pool.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use shmlane::{Options, PopError, PushError, WaitStrategy, mpmc};

use super::{CAPACITY, PopOne, PushOne, Setup, Single, busy_rtt, stream};
use crate::bench::affinity::Cores;
use crate::bench::error::BenchError;
use crate::bench::measure::{Budget, Figures, MSG_BYTES, RoundTrip, TputStats, rtt};
use crate::bench::runner::run_pair;
use crate::bench::shared::SharedPage;

impl PushOne for mpmc::Sender<u64> {
    #[inline(always)]
    fn try_push(&mut self, v: u64) -> Result<bool, BenchError> {
        match self.try_send(v) {
            Ok(()) => Ok(true),
            Err(PushError::Full(_)) => Ok(false),
            Err(e) => Err(BenchError::lib(e)),
        }
    }

    fn wake_syscalls(&self) -> Option<u64> {
        Some(self.stats().wake_syscalls)
    }
}

impl PopOne for mpmc::Receiver<u64> {
    #[inline(always)]
    fn try_pop(&mut self) -> Result<Option<u64>, BenchError> {
        match self.try_recv() {
            Ok(v) => Ok(Some(v)),
            Err(PopError::Empty) => Ok(None),
            Err(e) => Err(BenchError::lib(e)),
        }
    }
}

fn ring() -> Result<(mpmc::Sender<u64>, mpmc::Receiver<u64>), BenchError> {
    mpmc::pair::<u64>(&Options::new().capacity(CAPACITY)).map_err(BenchError::lib)
}

/// `mpmc-rtt`: busy try-send/try-recv on both sides, two rings.
pub fn case_rtt(setup: &Setup) -> Result<Figures, BenchError> {
    let (ping_tx, ping_rx) = ring()?;
    let (pong_tx, pong_rx) = ring()?;
    busy_rtt(setup, ping_tx, ping_rx, pong_tx, pong_rx)
}

/// `mpmc-tput`: one value per try-send and per try-recv.
pub fn case_tput(setup: &Setup) -> Result<Figures, BenchError> {
    let (tx, rx) = ring()?;
    stream(setup, Single(tx), Single(rx)).map(Figures::Tput)
}

// Words of the shared page of `mpmc-tput-2p2c`: what each sender sent, what
// each receiver received, when (ns since the start) each receiver saw the
// senders gone, and the ring's skipped count at the end. Written before the
// writer exits; read after it is reaped (SYNC: 2p2c-figures: Release
// stores, Acquire loads).
const SENT: usize = 0;
const RECEIVED: usize = 2;
const DONE_NS: usize = 4;
const SKIPPED: usize = 6;

/// `mpmc-tput-2p2c`: senders 0 and 1 each send `id << 32 | seq` for
/// `--secs`, then drop; receivers take items until every sender is gone,
/// check each sender's order, and report counts. The rate is all items
/// over the time from the start to the last receive.
pub fn case_tput_2p2c(setup: &Setup) -> Result<Figures, BenchError> {
    let (tx0, rx0) = ring()?;
    let tx1 = tx0.try_clone().map_err(BenchError::lib)?;
    let rx1 = rx0.try_clone().map_err(BenchError::lib)?;
    let page = SharedPage::new()?;
    let page = &page;
    let secs = Duration::from_secs_f64(setup.secs);
    let start = Instant::now();
    // Senders share core A, receivers core B.
    let same = |core| Cores { a: core, b: core };
    let (senders, receivers) = (same(setup.cores.a), same(setup.cores.b));
    run_pair(
        setup.peers,
        setup.cores,
        move |_| {
            run_pair(
                setup.peers,
                receivers,
                move |_| receive(rx1, 1, page, start),
                move |_| receive(rx0, 0, page, start),
            )
        },
        move |_| {
            run_pair(
                setup.peers,
                senders,
                move |_| send(tx1, 1, secs, page),
                move |_| send(tx0, 0, secs, page),
            )
        },
    )?;
    let word = |i| page.word(i).load(Ordering::Acquire);
    let sent = word(SENT) + word(SENT + 1);
    let received = word(RECEIVED) + word(RECEIVED + 1);
    if received != sent {
        return Err(BenchError::Lost { sent, received });
    }
    let elapsed_ns = word(DONE_NS).max(word(DONE_NS + 1)).max(1);
    let msgs_per_s = received as f64 / (elapsed_ns as f64 / 1e9);
    Ok(Figures::Tput(TputStats {
        n: received,
        msgs_per_s,
        gb_per_s: msgs_per_s * MSG_BYTES as f64 / 1e9,
        wakes_per_msg: None,
        skipped: Some(word(SKIPPED)),
        note: Some(
            "4 busy processes on 2 cores: the ring under preemption, \
             not contention; no ratio",
        ),
    }))
}

/// The parent's side of `mpmc-fanout-rtt`: one item out to the pool, its
/// echo back.
struct FanoutTrip {
    ping: mpmc::Sender<u64>,
    pong: mpmc::Receiver<u64>,
}

impl RoundTrip for FanoutTrip {
    fn round_trip(&mut self, seq: u64) -> Result<(), BenchError> {
        self.ping.send(seq).map_err(BenchError::lib)?;
        match self.pong.recv().map_err(BenchError::lib)? {
            got if got == seq => Ok(()),
            got => Err(BenchError::Mismatch { expected: seq, got }),
        }
    }

    fn wake_syscalls(&self) -> Option<u64> {
        Some(self.ping.stats().wake_syscalls + self.pong.stats().wake_syscalls)
    }
}

/// A receiver of the `mpmc-fanout-rtt` pool: parks in `recv`, echoes each
/// item, ends when the sender is gone.
fn echo(mut rx: mpmc::Receiver<u64>, mut tx: mpmc::Sender<u64>) -> Result<(), BenchError> {
    loop {
        match rx.recv() {
            Ok(v) => tx.send(v).map_err(BenchError::lib)?,
            Err(PopError::Disconnected) => return Ok(()),
            Err(e) => return Err(BenchError::lib(e)),
        }
    }
}

/// `mpmc-fanout-rtt`: one sender, three receiver processes parked at once
/// (`WaitStrategy::Park`) on core B, one item at a time; each receiver
/// answers on a second ring whose one receiver (the parent) parks too.
/// `wake/msg` counts the futex wakes of both rings per message: 1 when a
/// publish wakes exactly the one sleeper that takes the item.
pub fn case_fanout_rtt(setup: &Setup) -> Result<Figures, BenchError> {
    let parked = Options::new()
        .capacity(CAPACITY)
        .wait_strategy(WaitStrategy::Park);
    let (ping, rx0) = mpmc::pair::<u64>(&parked).map_err(BenchError::lib)?;
    let (tx0, pong) = mpmc::pair::<u64>(&parked).map_err(BenchError::lib)?;
    let clone_rx = |rx: &mpmc::Receiver<u64>| rx.try_clone().map_err(BenchError::lib);
    let clone_tx = |tx: &mpmc::Sender<u64>| tx.try_clone().map_err(BenchError::lib);
    let (rx1, rx2) = (clone_rx(&rx0)?, clone_rx(&rx0)?);
    let (tx1, tx2) = (clone_tx(&tx0)?, clone_tx(&tx0)?);
    let secs = setup.secs;
    let peers = setup.peers;
    let pool = Cores {
        a: setup.cores.b,
        b: setup.cores.b,
    };
    let stats = run_pair(
        peers,
        setup.cores,
        move |_| {
            run_pair(
                peers,
                pool,
                move |_| echo(rx2, tx2),
                move |_| {
                    run_pair(
                        peers,
                        pool,
                        move |_| echo(rx1, tx1),
                        move |_| echo(rx0, tx0),
                    )
                },
            )
        },
        move |_| {
            let trip = FanoutTrip { ping, pong };
            rtt(Budget::rtt_warmup(secs), Budget::rtt_measure(secs), trip)
            // Dropping the trip drops the sender: the pool sees it gone.
        },
    )?;
    Ok(Figures::Rtt(stats))
}

/// Sender `id` of `mpmc-tput-2p2c`: sends for `secs`, then drops its end
/// (which the receivers see as it leaving).
fn send(
    mut tx: mpmc::Sender<u64>,
    id: u64,
    secs: Duration,
    page: &SharedPage,
) -> Result<(), BenchError> {
    let start = Instant::now();
    let mut seq = 0u64;
    while start.elapsed() < secs {
        for _ in 0..1024 {
            tx.send(id << 32 | seq).map_err(BenchError::lib)?;
            seq += 1;
        }
    }
    drop(tx);
    page.word(SENT + id as usize).store(seq, Ordering::Release);
    Ok(())
}

/// Receiver `id` of `mpmc-tput-2p2c`: receives until every sender is gone,
/// checking that each sender's items come in order. The end is timed when
/// it sees them gone (their drop wakes it at once).
fn receive(
    mut rx: mpmc::Receiver<u64>,
    id: usize,
    page: &SharedPage,
    start: Instant,
) -> Result<(), BenchError> {
    let mut next = [0u64; 2];
    let mut received = 0u64;
    loop {
        match rx.recv() {
            Ok(v) => {
                let (sender, seq) = ((v >> 32) as usize, v & 0xffff_ffff);
                let Some(expected) = next.get_mut(sender) else {
                    return Err(BenchError::Mismatch {
                        expected: 0,
                        got: v,
                    });
                };
                // Each sender's items in order (gaps are the other
                // receiver's).
                if seq < *expected {
                    return Err(BenchError::Mismatch {
                        expected: *expected,
                        got: seq,
                    });
                }
                *expected = seq + 1;
                received += 1;
            }
            Err(PopError::Disconnected) => break,
            Err(e) => return Err(BenchError::lib(e)),
        }
    }
    let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
    page.word(RECEIVED + id).store(received, Ordering::Release);
    page.word(DONE_NS + id).store(ns, Ordering::Release);
    if id == 0 {
        page.word(SKIPPED)
            .store(rx.stats().skipped, Ordering::Release);
    }
    Ok(())
}
