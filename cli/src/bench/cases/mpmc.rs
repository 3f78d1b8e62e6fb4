//! The shmlane MPMC ring between processes.
//!
//! Busy (try-send/try-recv spun by the bench): `mpmc-rtt`, `mpmc-tput`
//! (one sender process, one receiver process), against the in-process
//! `arrayqueue-*` baselines. `mpmc-tput-2p2c`: two sender processes and
//! two receiver processes with the blocking calls, senders sharing core A
//! and receivers core B; on two cores that measures the ring under
//! oversubscription (every process is preempted now and then while it
//! holds a slot), and reports the slots skipped.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use shmlane::{Options, PopError, PushError, mpmc};

use super::{CAPACITY, PopOne, PushOne, Setup, Single, busy_rtt, stream};
use crate::bench::affinity::Cores;
use crate::bench::error::BenchError;
use crate::bench::measure::{Figures, MSG_BYTES, TputStats};
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
    }))
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
