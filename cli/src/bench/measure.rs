//! The two measurement harnesses every case goes through.
//!
//! * [`rtt`]: round trips, one timestamp per round trip, every round trip
//!   after a warm-up recorded into an HDR histogram.
//! * [`tput_producer`] / [`tput_consumer`]: a one-way stream of sequence
//!   numbers; one warm-up repetition, then [`REPS`] measured ones, median
//!   reported. The consumer checks every value.
//!
//! Both read the rings' futex wake counter (when the case has one) just
//! before and just after the measured phase, for `wakes_per_msg`. The
//! `idle` mode has no harness of its own: its one case measures itself.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::error::BenchError;
use super::shared::SharedPage;
use super::spin::Watch;

/// Sent in place of a message to say "stop" (rtt) or "end of repetition"
/// (tput). Sequence numbers start at 0 and never reach it.
pub const STOP: u64 = u64::MAX;

/// Bytes per message of the u64 cases.
pub const MSG_BYTES: u64 = size_of::<u64>() as u64;

/// When a phase (warm-up or measurement) is over: after at least
/// `min_iters` iterations *and* `min_time`.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub min_iters: u64,
    pub min_time: Duration,
}

impl Budget {
    /// The warm-up of an rtt case of `secs` seconds: 10% of the time, and
    /// at least 10k round trips.
    pub fn rtt_warmup(secs: f64) -> Self {
        Self {
            min_iters: 10_000,
            min_time: Duration::from_secs_f64(secs * 0.1),
        }
    }

    /// The measured phase of an rtt case: `secs` seconds.
    pub fn rtt_measure(secs: f64) -> Self {
        Self {
            min_iters: 1,
            min_time: Duration::from_secs_f64(secs),
        }
    }

    fn done(&self, iters: u64, elapsed: Duration) -> bool {
        iters >= self.min_iters && elapsed >= self.min_time
    }
}

/// What one case measured.
#[derive(Debug, Clone, Copy)]
pub enum Figures {
    Rtt(RttStats),
    Tput(TputStats),
    Idle(IdleStats),
}

impl Figures {
    pub fn mode(&self) -> &'static str {
        match self {
            Self::Rtt(_) => "rtt",
            Self::Tput(_) => "tput",
            Self::Idle(_) => "idle",
        }
    }

    /// Round trips or messages measured (1 for the one idle wait).
    pub fn n(&self) -> u64 {
        match self {
            Self::Rtt(r) => r.n,
            Self::Tput(t) => t.n,
            Self::Idle(_) => 1,
        }
    }

    /// The figure a ratio is taken of: p50 for rtt, msgs/s for tput; none
    /// for idle.
    pub fn key(&self) -> Option<f64> {
        match self {
            Self::Rtt(r) => Some(r.p50_ns as f64),
            Self::Tput(t) => Some(t.msgs_per_s),
            Self::Idle(_) => None,
        }
    }

    /// Futex wake syscalls per message, from the rings' counters; `None`
    /// when the case has no such counters.
    pub fn wakes_per_msg(&self) -> Option<f64> {
        match self {
            Self::Rtt(r) => r.wakes_per_msg,
            Self::Tput(t) => t.wakes_per_msg,
            Self::Idle(_) => None,
        }
    }

    /// Why the row has no ratio, if its case says so.
    pub fn note(&self) -> Option<&'static str> {
        match self {
            Self::Tput(t) => t.note,
            Self::Rtt(_) | Self::Idle(_) => None,
        }
    }
}

/// What an idle wait cost.
#[derive(Debug, Clone, Copy)]
pub struct IdleStats {
    /// CPU time (user + system) the waiting process used per second of
    /// waiting, in milliseconds.
    pub cpu_ms_per_s: f64,
}

/// Wake syscalls per message between two readings of a wake counter, or
/// `None` if there is no counter (or no message).
fn per_msg(before: Option<u64>, after: Option<u64>, messages: u64) -> Option<f64> {
    let (before, after) = (before?, after?);
    (messages > 0).then(|| after.saturating_sub(before) as f64 / messages as f64)
}

/// Round-trip statistics, all in nanoseconds. Serde: an isolated case
/// (`runner::isolated`) sends them from its own process.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct RttStats {
    pub n: u64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    /// Exact, not the histogram's bucket.
    pub max_ns: u64,
    /// Exact: sum / n.
    pub mean_ns: f64,
    /// Wake syscalls over both rings per message (two per round trip).
    pub wakes_per_msg: Option<f64>,
    /// The round trip at each of [`CURVE_QUANTILES`], for `--plot`.
    pub curve: [u64; CURVE_QUANTILES.len()],
}

/// The quantiles of a latency curve (`--plot`): p50 to p99.99.
pub const CURVE_QUANTILES: [f64; 5] = [0.5, 0.9, 0.99, 0.999, 0.9999];

/// One round trip, as the [`rtt`] harness drives it. Any
/// `FnMut(seq) -> Result<(), BenchError>` is one (with no wake counter).
pub trait RoundTrip {
    /// Sends `seq` out and waits for it to come back.
    fn round_trip(&mut self, seq: u64) -> Result<(), BenchError>;

    /// Futex wake syscalls so far, summed over the channels of the round
    /// trip, from their shared counters; `None` if they have none.
    fn wake_syscalls(&self) -> Option<u64> {
        None
    }
}

impl<F: FnMut(u64) -> Result<(), BenchError>> RoundTrip for F {
    #[inline(always)]
    fn round_trip(&mut self, seq: u64) -> Result<(), BenchError> {
        self(seq)
    }
}

/// Largest round trip the histogram tracks (60 s); larger ones saturate.
/// The watchdog aborts long before that.
const HIST_MAX_NS: u64 = 60_000_000_000;

/// Messages per round trip: one out, one back.
const MSGS_PER_ROUND_TRIP: u64 = 2;

/// Runs `trip.round_trip(seq)` with `seq` = 0, 1, 2, ... through `warmup`,
/// then through `measure`, timing each measured round trip.
///
/// One clock read per round trip: the end of one is the start of the next,
/// so the loop's own cost (a histogram record) is in every sample, once.
pub fn rtt(
    warmup: Budget,
    measure: Budget,
    mut trip: impl RoundTrip,
) -> Result<RttStats, BenchError> {
    let mut seq = 0u64;
    let start = Instant::now();
    while !warmup.done(seq, start.elapsed()) {
        trip.round_trip(seq)?;
        seq += 1;
    }

    let mut hist = Histogram::<u64>::new_with_bounds(1, HIST_MAX_NS, 3)
        .expect("constant histogram bounds are valid");
    let (mut n, mut sum, mut max) = (0u64, 0u128, 0u64);
    let wakes_before = trip.wake_syscalls();
    let start = Instant::now();
    let mut prev = start;
    loop {
        trip.round_trip(seq)?;
        seq += 1;
        let now = Instant::now();
        let ns = u64::try_from((now - prev).as_nanos()).unwrap_or(u64::MAX);
        prev = now;
        hist.saturating_record(ns);
        n += 1;
        sum += u128::from(ns);
        max = max.max(ns);
        if measure.done(n, now - start) {
            break;
        }
    }
    let wakes_per_msg = per_msg(wakes_before, trip.wake_syscalls(), n * MSGS_PER_ROUND_TRIP);
    // A quantile is its bucket's upper edge; never report one above the
    // exact maximum.
    let quantile = |q| hist.value_at_quantile(q).min(max);
    Ok(RttStats {
        n,
        p50_ns: quantile(0.50),
        p99_ns: quantile(0.99),
        p999_ns: quantile(0.999),
        max_ns: max,
        mean_ns: sum as f64 / n as f64,
        wakes_per_msg,
        curve: CURVE_QUANTILES.map(quantile),
    })
}

/// Measured repetitions of a throughput case; the median is reported.
pub const REPS: usize = 5;
/// Unmeasured repetitions first: page faults, caches, CPU clocks ramping.
const WARMUP_REPS: usize = 1;
/// Messages sent between two looks at the clock: a clock read costs more
/// than a push, so the producer reads it only every BATCH messages.
const BATCH: u64 = 8192;

/// Throughput: the median of [`REPS`] repetitions.
#[derive(Debug, Clone, Copy)]
pub struct TputStats {
    /// Messages over all measured repetitions.
    pub n: u64,
    pub msgs_per_s: f64,
    /// Decimal gigabytes (1e9 bytes) of payload per second.
    pub gb_per_s: f64,
    /// Wake syscalls per message over all measured repetitions.
    pub wakes_per_msg: Option<f64>,
    /// Slots skipped instead of delivered (MPMC), if the case counts them.
    pub skipped: Option<u64>,
    /// Why this row gets no ratio, when the case knows its figure does not
    /// compare (printed instead of the ratio).
    pub note: Option<&'static str>,
}

/// The producer end of a stream under the tput harness.
pub trait StreamTx {
    /// Sends `from, from+1, ..., from+count-1` in order, waiting while the
    /// ring is full.
    fn send(&mut self, from: u64, count: u64, watch: &Watch<'_>) -> Result<(), BenchError>;
    /// Sends [`STOP`], waiting while the ring is full.
    fn send_stop(&mut self, watch: &Watch<'_>) -> Result<(), BenchError>;
    /// Bytes of payload per message, for `gb_per_s`.
    fn msg_bytes(&self) -> u64 {
        MSG_BYTES
    }
    /// Futex wake syscalls so far, from the ring's shared counters (both
    /// ends' wakes); `None` if the ring has none.
    fn wake_syscalls(&self) -> Option<u64> {
        None
    }
}

/// The consumer end of a stream under the tput harness.
pub trait StreamRx {
    /// Receives one repetition, `0, 1, 2, ...` up to [`STOP`], checking each
    /// value with [`check_seq`]; returns how many messages came before STOP.
    fn recv_rep(&mut self, watch: &Watch<'_>) -> Result<u64, BenchError>;
}

/// Checks that `values` continue the sequence at `*next` and advances it.
/// Returns how many values were consumed and whether the last was [`STOP`]
/// (nothing after STOP is looked at).
pub fn check_seq(values: &[u64], next: &mut u64) -> Result<(usize, bool), BenchError> {
    for (i, &v) in values.iter().enumerate() {
        if v == STOP {
            return Ok((i + 1, true));
        }
        if v != *next {
            return Err(BenchError::Mismatch {
                expected: *next,
                got: v,
            });
        }
        *next += 1;
    }
    Ok((values.len(), false))
}

// Words of the shared page used to hand a repetition's end back to the
// producer. SYNC: tput-ack. The consumer stores ACK_COUNT (Relaxed) then
// ACK_REPS (Release); the producer loads ACK_REPS (Acquire) then ACK_COUNT.
const ACK_REPS: usize = 0;
const ACK_COUNT: usize = 1;

/// The producer's side of a throughput case: streams for about `secs`
/// (split over the repetitions) and returns the median rate.
///
/// A repetition is timed from its first send until the consumer has
/// acknowledged its STOP, so messages still in the ring are not counted as
/// delivered.
pub fn tput_producer(
    secs: f64,
    tx: &mut impl StreamTx,
    page: &SharedPage,
    watch: &Watch<'_>,
) -> Result<TputStats, BenchError> {
    let (acked, count) = (page.word(ACK_REPS), page.word(ACK_COUNT));
    let mut rates = Vec::with_capacity(REPS);
    let mut total = 0u64;
    let mut wakes_before = None;
    for rep in 0..WARMUP_REPS + REPS {
        if rep == WARMUP_REPS {
            // The warm-up was acknowledged: nothing of it is still in flight.
            wakes_before = tx.wake_syscalls();
        }
        let share = if rep < WARMUP_REPS {
            0.1
        } else {
            1.0 / REPS as f64
        };
        let budget = Duration::from_secs_f64(secs * share);
        let start = Instant::now();
        let mut sent = 0u64;
        loop {
            tx.send(sent, BATCH, watch)?;
            sent += BATCH;
            if start.elapsed() >= budget {
                break;
            }
        }
        tx.send_stop(watch)?;
        let want = rep as u64 + 1;
        watch.until("waiting for the consumer to finish a repetition", || {
            Ok((acked.load(Ordering::Acquire) == want).then_some(()))
        })?;
        let elapsed = start.elapsed();
        let received = count.load(Ordering::Relaxed);
        if received != sent {
            return Err(BenchError::Lost { sent, received });
        }
        if rep >= WARMUP_REPS {
            rates.push(sent as f64 / elapsed.as_secs_f64());
            total += sent;
        }
    }
    let wakes_per_msg = per_msg(wakes_before, tx.wake_syscalls(), total);
    let msgs_per_s = median(&mut rates);
    Ok(TputStats {
        n: total,
        msgs_per_s,
        gb_per_s: msgs_per_s * tx.msg_bytes() as f64 / 1e9,
        wakes_per_msg,
        skipped: None,
        note: None,
    })
}

/// The consumer's side of a throughput case: receives every repetition
/// that [`tput_producer`] sends and acknowledges each.
pub fn tput_consumer(
    rx: &mut impl StreamRx,
    page: &SharedPage,
    watch: &Watch<'_>,
) -> Result<(), BenchError> {
    let (acked, count) = (page.word(ACK_REPS), page.word(ACK_COUNT));
    for rep in 0..WARMUP_REPS + REPS {
        let received = rx.recv_rep(watch)?;
        count.store(received, Ordering::Relaxed);
        acked.store(rep as u64 + 1, Ordering::Release);
    }
    Ok(())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_seq_advances_and_stops_at_stop() {
        let mut next = 5;
        assert_eq!(check_seq(&[5, 6, 7], &mut next).unwrap(), (3, false));
        assert_eq!(next, 8);
        assert_eq!(check_seq(&[8, STOP, 99], &mut next).unwrap(), (2, true));
        assert_eq!(next, 9);
    }

    #[test]
    fn check_seq_reports_mismatch() {
        let mut next = 0;
        let err = check_seq(&[0, 2], &mut next).unwrap_err();
        assert!(matches!(
            err,
            BenchError::Mismatch {
                expected: 1,
                got: 2
            }
        ));
    }

    #[test]
    fn median_of_five() {
        assert_eq!(median(&mut [5.0, 1.0, 4.0, 2.0, 3.0]), 3.0);
    }

    #[test]
    fn rtt_counts_round_trips() {
        let warm = Budget {
            min_iters: 10,
            min_time: Duration::ZERO,
        };
        let measure = Budget {
            min_iters: 100,
            min_time: Duration::ZERO,
        };
        let mut seqs = Vec::new();
        let stats = rtt(warm, measure, |s| {
            seqs.push(s);
            Ok(())
        })
        .unwrap();
        assert_eq!(stats.n, 100);
        assert_eq!(seqs, (0..110).collect::<Vec<_>>());
        assert!(stats.p50_ns <= stats.p99_ns && stats.p99_ns <= stats.p999_ns);
        assert_eq!(stats.wakes_per_msg, None, "a closure has no wake counter");
    }

    /// A round trip whose channels "wake" once per round trip, warm-up
    /// included.
    struct Counted(u64);

    impl RoundTrip for Counted {
        fn round_trip(&mut self, _seq: u64) -> Result<(), BenchError> {
            self.0 += 1;
            Ok(())
        }

        fn wake_syscalls(&self) -> Option<u64> {
            Some(self.0)
        }
    }

    #[test]
    fn rtt_counts_wakes_of_the_measured_phase_only() {
        let warm = Budget {
            min_iters: 50,
            min_time: Duration::ZERO,
        };
        let measure = Budget {
            min_iters: 100,
            min_time: Duration::ZERO,
        };
        let stats = rtt(warm, measure, Counted(0)).unwrap();
        // 100 wakes over 100 round trips of two messages each.
        assert_eq!(stats.wakes_per_msg, Some(0.5));
    }

    #[test]
    fn per_msg_needs_both_readings_and_messages() {
        assert_eq!(per_msg(Some(10), Some(30), 40), Some(0.5));
        assert_eq!(per_msg(None, Some(30), 40), None);
        assert_eq!(per_msg(Some(10), None, 40), None);
        assert_eq!(per_msg(Some(10), Some(30), 0), None);
    }
}
