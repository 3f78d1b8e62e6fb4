//! The benchmark cases: the registry ([`CASES`], one line per case), the
//! cases by family, and what they share: one-value push/pop over any ring
//! with watchdog retries, and the wiring of a throughput case.
//!
//! Families: `atomic` and `futex` (the busy and the sleeping round-trip
//! floors), `rtrb` (the in-process throughput baseline), `spsc` (the
//! shmlane ring, busy and blocking), `semaphore` (shmlane's semaphore),
//! `memcpy` and `pipe` (the copy baselines of the byte ring), `bytes` (the
//! byte ring), `transport` (shmlane's transports) against `ipc_raw` (the
//! same kernel mechanisms through plain syscalls), `arrayqueue` (the
//! in-process MPMC baseline), `mpmc` (the shmlane MPMC ring),
//! `first_message` (fresh 64 MiB rings with and without prefault), and
//! with the cargo feature `iceoryx2`, `iox2` (iceoryx2's publish-subscribe,
//! the peer a user would pick instead), and with the cargo feature `tokio`,
//! `aio` (the async endpoints on tokio, beside a tokio Unix socket).
//!
//! A new case is a function `fn(&Setup) -> Result<Figures, BenchError>` in
//! its family's file, usually built on [`stream`] or [`busy_rtt`] (or on
//! the runner's `run_pair` for its own protocol), and one line in
//! [`CASES`] after its baseline. Every line of `CASES` runs in the
//! integration tests (`cli/tests/bench_cli.rs`). A new transport gets its
//! case in `transport` beside a raw baseline in `ipc_raw` (ARCHITECTURE.md,
//! "adding a transport").

#[cfg(feature = "tokio")]
pub mod aio;
pub mod arrayqueue;
pub mod atomic;
pub mod bytes;
pub mod first_message;
pub mod futex;
#[cfg(feature = "iceoryx2")]
pub mod iox2;
pub mod ipc_raw;
pub mod lock;
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
use super::runner::Peers::{self, Proc, Solo, Thread};
use super::runner::run_pair;
use super::shared::SharedPage;
use super::spin::Watch;

/// One benchmark case: a line of [`CASES`].
#[derive(Debug)]
pub struct Case {
    pub name: &'static str,
    /// Process or thread peer; the case runs its peer as declared here.
    pub peers: Peers,
    /// Message sizes in bytes the case can send.
    pub sizes: &'static [usize],
    /// The case whose key figure (p50 for rtt, msgs/s for tput) this
    /// case's is divided by, for the ratio: an earlier case of the same
    /// mode, or the case itself for a baseline; `None` for no ratio.
    pub ratio_to: Option<&'static str>,
    pub run: fn(&Setup) -> Result<Figures, BenchError>,
}

impl Case {
    /// The fields in table order, so that [`CASES`] holds one case a line.
    const fn new(
        name: &'static str,
        peers: Peers,
        sizes: &'static [usize],
        ratio_to: Option<&'static str>,
        run: fn(&Setup) -> Result<Figures, BenchError>,
    ) -> Self {
        Self {
            name,
            peers,
            sizes,
            ratio_to,
            run,
        }
    }
}

/// The one size of the cases that move a `u64` per message.
const U64: &[usize] = &[8];
/// The copy baselines and the byte ring: a small message and a page.
const SMALL_AND_PAGE: &[usize] = &[64, 4096];
/// `memcpy`: a page (stays in cache) and 64 MiB (streams through memory).
const PAGE_AND_64MIB: &[usize] = &[4096, 64 << 20];

/// Every case, in the order they run: each baseline before the cases
/// whose ratio is taken against it (checked by a test below).
#[rustfmt::skip]
pub const CASES: &[Case] = &[
    //        name                    peers   sizes             ratio to                    run
    Case::new("atomic-pingpong",      Proc,   U64,              Some("atomic-pingpong"),    atomic::case),
    Case::new("spsc-rtt",             Proc,   U64,              Some("atomic-pingpong"),    spsc::case_rtt),
    Case::new("rtrb-tput",            Thread, U64,              Some("rtrb-tput"),          rtrb::case),
    Case::new("spsc-tput",            Proc,   U64,              Some("rtrb-tput"),          spsc::case_tput),
    Case::new("spsc-chunk-tput",      Proc,   U64,              Some("rtrb-tput"),          spsc::case_chunk_tput),
    Case::new("spsc-chunkwrite-tput", Proc,   U64,              Some("rtrb-tput"),          spsc::case_chunkwrite_tput),
    Case::new("spsc-chunkread-tput",  Proc,   U64,              Some("rtrb-tput"),          spsc::case_chunkread_tput),
    Case::new("futex-rtt",            Proc,   U64,              Some("futex-rtt"),          futex::case),
    Case::new("spsc-blocking-rtt",    Proc,   U64,              Some("futex-rtt"),          spsc::case_blocking_rtt),
    Case::new("spsc-spinpark-rtt",    Proc,   U64,              Some("spsc-rtt"),           spsc::case_spinpark_rtt),
    Case::new("spsc-blocking-tput",   Proc,   U64,              Some("spsc-tput"),          spsc::case_blocking_tput),
    Case::new("spsc-sem-rtt",         Proc,   U64,              Some("futex-rtt"),          spsc::case_sem_rtt),
    Case::new("semaphore-rtt",        Proc,   U64,              Some("futex-rtt"),          semaphore::case),
    Case::new("lock-semaphore",       Solo,   U64,              Some("lock-semaphore"),     lock::case_uncontended_semaphore),
    Case::new("lock-sysvsem",         Solo,   U64,              Some("lock-semaphore"),     lock::case_uncontended_sysvsem),
    Case::new("lock-shared",          Solo,   U64,              Some("lock-semaphore"),     lock::case_uncontended_shared),
    Case::new("handover-semaphore-rtt", Proc, U64,              Some("handover-semaphore-rtt"), lock::case_handover_semaphore),
    Case::new("handover-sysvsem-rtt", Proc,   U64,              Some("handover-semaphore-rtt"), lock::case_handover_sysvsem),
    Case::new("handover-shared-rtt",  Proc,   U64,              Some("handover-semaphore-rtt"), lock::case_handover_shared),
    Case::new("memcpy",               Solo,   PAGE_AND_64MIB,   Some("memcpy"),             memcpy::case),
    Case::new("pipe-tput",            Proc,   SMALL_AND_PAGE,   Some("pipe-tput"),          pipe::case),
    Case::new("bytes-tput",           Proc,   SMALL_AND_PAGE,   Some("pipe-tput"),          bytes::case_tput),
    Case::new("bytes-tput-each",      Proc,   SMALL_AND_PAGE,   Some("bytes-tput"),         bytes::case_tput_each),
    Case::new("bytes-rtt",            Proc,   &[64],            Some("spsc-rtt"),           bytes::case_rtt),
    Case::new("arrayqueue-rtt",       Thread, U64,              Some("arrayqueue-rtt"),     arrayqueue::case_rtt),
    Case::new("mpmc-rtt",             Proc,   U64,              Some("arrayqueue-rtt"),     mpmc::case_rtt),
    Case::new("arrayqueue-tput",      Thread, U64,              Some("arrayqueue-tput"),    arrayqueue::case_tput),
    Case::new("mpmc-tput",            Proc,   U64,              Some("arrayqueue-tput"),    mpmc::case_tput),
    Case::new("mpmc-tput-2p2c",       Proc,   U64,              None,                       mpmc::case_tput_2p2c),
    Case::new("mpmc-fanout-rtt",      Proc,   U64,              Some("spsc-blocking-rtt"),  mpmc::case_fanout_rtt),
    Case::new("spsc-idle-cpu",        Proc,   U64,              None,                       spsc::case_idle_cpu),
    Case::new("first-message-rtt",    Proc,   U64,              Some("first-message-rtt"),  first_message::case_cold),
    Case::new("first-message-rtt-prefault", Proc, U64,          Some("first-message-rtt"),  first_message::case_prefault),
    // Each transport beside its mechanism's raw syscalls.
    Case::new("pipe-rtt-raw",         Proc,   transport::SIZES, Some("pipe-rtt-raw"),       ipc_raw::case_pipe),
    Case::new("pipe-rtt",             Proc,   transport::SIZES, Some("pipe-rtt-raw"),       transport::case_pipe),
    Case::new("fifo-rtt-raw",         Proc,   transport::SIZES, Some("fifo-rtt-raw"),       ipc_raw::case_fifo),
    Case::new("fifo-rtt",             Proc,   transport::SIZES, Some("fifo-rtt-raw"),       transport::case_fifo),
    Case::new("mq-rtt-raw",           Proc,   transport::SIZES, Some("mq-rtt-raw"),         ipc_raw::case_mq),
    Case::new("mq-rtt",               Proc,   transport::SIZES, Some("mq-rtt-raw"),         transport::case_mq),
    Case::new("sysvmq-rtt-raw",       Proc,   transport::SIZES, Some("sysvmq-rtt-raw"),     ipc_raw::case_sysvmq),
    Case::new("sysvmq-rtt",           Proc,   transport::SIZES, Some("sysvmq-rtt-raw"),     transport::case_sysvmq),
    Case::new("uds-rtt-raw",          Proc,   transport::SIZES, Some("uds-rtt-raw"),        ipc_raw::case_uds),
    Case::new("unix-rtt",             Proc,   transport::SIZES, Some("uds-rtt-raw"),        transport::case_unix),
    Case::new("seqpacket-rtt-raw",    Proc,   transport::SIZES, Some("seqpacket-rtt-raw"),  ipc_raw::case_seqpacket),
    Case::new("seqpacket-rtt",        Proc,   transport::SIZES, Some("seqpacket-rtt-raw"),  transport::case_seqpacket),
    Case::new("tcp-rtt-raw",          Proc,   transport::SIZES, Some("tcp-rtt-raw"),        ipc_raw::case_tcp),
    Case::new("tcp-rtt",              Proc,   transport::SIZES, Some("tcp-rtt-raw"),        transport::case_tcp),
    Case::new("shm-rtt",              Proc,   transport::SIZES, Some("spsc-blocking-rtt"),  transport::case_shm),
    // Zenoh's engine over loopback TCP (cargo feature zenoh).
    #[cfg(feature = "zenoh")]
    Case::new("zenoh-rtt",            Proc,   transport::SIZES, Some("tcp-rtt-raw"),        transport::case_zenoh),
    // The async endpoints, beside tokio's Unix socket and the blocking ring
    // (cargo feature tokio).
    #[cfg(feature = "tokio")]
    Case::new("tokio-uds-rtt",        Proc,   U64,              Some("tokio-uds-rtt"),      aio::case_uds_rtt),
    #[cfg(feature = "tokio")]
    Case::new("async-rtt",            Proc,   U64,              Some("tokio-uds-rtt"),      aio::case_rtt),
    #[cfg(feature = "tokio")]
    Case::new("async-tput",           Proc,   U64,              Some("spsc-blocking-tput"), aio::case_tput),
    #[cfg(feature = "tokio")]
    Case::new("async-tput-batch",     Proc,   U64,              Some("spsc-blocking-tput"), aio::case_tput_batch),
    #[cfg(feature = "tokio")]
    Case::new("async-idle-cpu",       Proc,   U64,              None,                       aio::case_idle_cpu),
    // The peer a user would pick instead (cargo feature iceoryx2).
    #[cfg(feature = "iceoryx2")]
    Case::new("iceoryx2-rtt",         Proc,   U64,              Some("spsc-rtt"),           iox2::case_rtt),
    #[cfg(feature = "iceoryx2")]
    Case::new("iceoryx2-tput",        Proc,   U64,              Some("spsc-tput"),          iox2::case_tput),
];

/// Cases of cargo features, with the feature each needs: registered in
/// [`CASES`] only when built with it, and named here so that asking for
/// one without it says which feature to build with.
pub const FEATURE_CASES: &[(&str, &str)] = &[
    ("iceoryx2-rtt", "iceoryx2"),
    ("iceoryx2-tput", "iceoryx2"),
    ("tokio-uds-rtt", "tokio"),
    ("async-rtt", "tokio"),
    ("async-tput", "tokio"),
    ("async-tput-batch", "tokio"),
    ("async-idle-cpu", "tokio"),
    ("zenoh-rtt", "zenoh"),
];

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
    ping_tx: impl PushOne,
    ping_rx: impl PopOne + Send,
    pong_tx: impl PushOne + Send,
    pong_rx: impl PopOne,
) -> Result<Figures, BenchError> {
    let warmup = Budget::rtt_warmup(setup.secs);
    busy_rtt_after(setup, warmup, ping_tx, ping_rx, pong_tx, pong_rx)
}

/// [`busy_rtt`] after the given warm-up (none, for the first round trips
/// of fresh rings).
pub fn busy_rtt_after(
    setup: &Setup,
    warmup: Budget,
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
            let stats = rtt(warmup, Budget::rtt_measure(secs), |k| {
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

#[cfg(test)]
mod tests {
    use super::CASES;

    #[test]
    fn ratio_baselines_run_first() {
        for (i, case) in CASES.iter().enumerate() {
            if let Some(base) = case.ratio_to {
                assert!(
                    CASES[..=i].iter().any(|c| c.name == base),
                    "{}: baseline {base} is not registered before it",
                    case.name
                );
            }
        }
        let mut names: Vec<_> = CASES.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CASES.len(), "case names are unique");
    }
}
