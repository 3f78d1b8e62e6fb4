//! The shmlane SPSC ring between two processes.
//!
//! Busy (try-push/try-pop spun by the bench): `spsc-rtt`, `spsc-tput`,
//! `spsc-chunk-tput`, and the two halves `spsc-chunkwrite-tput` and
//! `spsc-chunkread-tput`. Blocking (the library's own waiting):
//! `spsc-blocking-rtt`, `spsc-spinpark-rtt`, `spsc-sem-rtt`,
//! `spsc-blocking-tput`, `spsc-idle-cpu`.

use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::time::{TimeVal, TimeValLike};
use shmlane::{Options, PopError, PushError, ReserveError, WaitStrategy, Waiter, spsc};

use super::{CAPACITY, PopOne, PushOne, Setup, Single, pop, push, stream};
use crate::bench::error::BenchError;
use crate::bench::measure::{
    Budget, Figures, IdleStats, RoundTrip, STOP, StreamRx, StreamTx, check_seq, rtt,
};
use crate::bench::runner::run_pair;
use crate::bench::shared::SharedPage;
use crate::bench::spin::Watch;

/// Most slots one write or read chunk asks for.
const CHUNK: usize = 256;

impl PushOne for spsc::Producer<u64> {
    #[inline(always)]
    fn try_push(&mut self, v: u64) -> Result<bool, BenchError> {
        match self.push(v) {
            Ok(()) => Ok(true),
            Err(PushError::Full(_)) => Ok(false),
            Err(e) => Err(BenchError::lib(e)),
        }
    }

    fn wake_syscalls(&self) -> Option<u64> {
        Some(self.stats().wake_syscalls)
    }
}

impl PopOne for spsc::Consumer<u64> {
    #[inline(always)]
    fn try_pop(&mut self) -> Result<Option<u64>, BenchError> {
        match self.pop() {
            Ok(v) => Ok(Some(v)),
            Err(PopError::Empty) => Ok(None),
            Err(e) => Err(BenchError::lib(e)),
        }
    }
}

/// The options every ring of these cases starts from.
fn opts() -> Options {
    Options::new().capacity(CAPACITY)
}

fn ring(opts: &Options) -> Result<(spsc::Producer<u64>, spsc::Consumer<u64>), BenchError> {
    spsc::pair::<u64>(opts).map_err(BenchError::lib)
}

/// How a side of an rtt case waits for its rings.
trait Wait {
    fn send(tx: &mut spsc::Producer<u64>, v: u64, watch: &Watch<'_>) -> Result<(), BenchError>;
    fn recv(rx: &mut spsc::Consumer<u64>, watch: &Watch<'_>) -> Result<u64, BenchError>;
}

/// Try-push/try-pop, spun by the bench under its watchdog.
struct Spin;

impl Wait for Spin {
    #[inline(always)]
    fn send(tx: &mut spsc::Producer<u64>, v: u64, watch: &Watch<'_>) -> Result<(), BenchError> {
        push(tx, v, watch)
    }

    #[inline(always)]
    fn recv(rx: &mut spsc::Consumer<u64>, watch: &Watch<'_>) -> Result<u64, BenchError> {
        pop(rx, watch)
    }
}

/// send/recv (the blocking forms) without a timeout: the library waits, with
/// the strategy the ring was created with. A peer that fails drops its
/// ends, which wakes this side with Disconnected.
struct Block;

impl Wait for Block {
    #[inline(always)]
    fn send(tx: &mut spsc::Producer<u64>, v: u64, _: &Watch<'_>) -> Result<(), BenchError> {
        tx.send(v).map_err(BenchError::lib)
    }

    #[inline(always)]
    fn recv(rx: &mut spsc::Consumer<u64>, _: &Watch<'_>) -> Result<u64, BenchError> {
        rx.recv().map_err(BenchError::lib)
    }
}

/// The parent's round trip: out on `ping`, back on `pong`.
struct Trip<'a, 'w, W> {
    ping: &'a mut spsc::Producer<u64>,
    pong: &'a mut spsc::Consumer<u64>,
    watch: &'a Watch<'w>,
    wait: PhantomData<W>,
}

impl<W: Wait> RoundTrip for Trip<'_, '_, W> {
    #[inline(always)]
    fn round_trip(&mut self, k: u64) -> Result<(), BenchError> {
        W::send(self.ping, k, self.watch)?;
        match W::recv(self.pong, self.watch)? {
            v if v == k => Ok(()),
            got => Err(BenchError::Mismatch { expected: k, got }),
        }
    }

    fn wake_syscalls(&self) -> Option<u64> {
        Some(self.ping.stats().wake_syscalls + self.pong.stats().wake_syscalls)
    }
}

/// A value goes out on one ring and comes back on a second, both made with
/// `opts`, each side waiting as `W` says.
fn ring_rtt<W: Wait>(setup: &Setup, opts: &Options) -> Result<Figures, BenchError> {
    let (mut ping_tx, mut ping_rx) = ring(opts)?;
    let (mut pong_tx, mut pong_rx) = ring(opts)?;
    let secs = setup.secs;
    let stats = run_pair(
        setup.peers,
        setup.cores,
        move |watch| loop {
            let v = W::recv(&mut ping_rx, &watch)?;
            if v == STOP {
                return Ok(());
            }
            W::send(&mut pong_tx, v, &watch)?;
        },
        move |watch| {
            let trip = Trip::<W> {
                ping: &mut ping_tx,
                pong: &mut pong_rx,
                watch: &watch,
                wait: PhantomData,
            };
            let stats = rtt(Budget::rtt_warmup(secs), Budget::rtt_measure(secs), trip)?;
            W::send(&mut ping_tx, STOP, &watch)?;
            Ok(stats)
        },
    )?;
    Ok(Figures::Rtt(stats))
}

/// `spsc-rtt`: busy try-push/try-pop on both sides.
pub fn case_rtt(setup: &Setup) -> Result<Figures, BenchError> {
    ring_rtt::<Spin>(setup, &opts())
}

/// `spsc-blocking-rtt`: the blocking calls, parking at once.
pub fn case_blocking_rtt(setup: &Setup) -> Result<Figures, BenchError> {
    ring_rtt::<Block>(setup, &opts().wait_strategy(WaitStrategy::Park))
}

/// `spsc-spinpark-rtt`: the blocking calls, spinning then parking.
pub fn case_spinpark_rtt(setup: &Setup) -> Result<Figures, BenchError> {
    ring_rtt::<Block>(setup, &opts().wait_strategy(WaitStrategy::SpinThenPark))
}

/// `spsc-sem-rtt`: as `spsc-blocking-rtt`, with the semaphore waiter.
pub fn case_sem_rtt(setup: &Setup) -> Result<Figures, BenchError> {
    let opts = opts()
        .wait_strategy(WaitStrategy::Park)
        .waiter(Waiter::Semaphore);
    ring_rtt::<Block>(setup, &opts)
}

/// `spsc-tput`: one value per push and per pop.
pub fn case_tput(setup: &Setup) -> Result<Figures, BenchError> {
    let (tx, rx) = ring(&opts())?;
    stream(setup, Single(tx), Single(rx)).map(Figures::Tput)
}

/// `spsc-chunk-tput`: the same stream through write_chunk/commit and
/// read_chunk/release, up to [`CHUNK`] slots at a time.
pub fn case_chunk_tput(setup: &Setup) -> Result<Figures, BenchError> {
    let (tx, rx) = ring(&opts())?;
    stream(setup, Chunked(tx), Chunked(rx)).map(Figures::Tput)
}

/// `spsc-chunkwrite-tput`: write_chunk/commit on the producer, one pop per
/// value on the consumer. With `spsc-chunkread-tput` it shows which side's
/// per-item publication bounds `spsc-tput`.
pub fn case_chunkwrite_tput(setup: &Setup) -> Result<Figures, BenchError> {
    let (tx, rx) = ring(&opts())?;
    stream(setup, Chunked(tx), Single(rx)).map(Figures::Tput)
}

/// `spsc-chunkread-tput`: one push per value (each publishing `tail`), and
/// read_chunk/release on the consumer.
pub fn case_chunkread_tput(setup: &Setup) -> Result<Figures, BenchError> {
    let (tx, rx) = ring(&opts())?;
    stream(setup, Single(tx), Chunked(rx)).map(Figures::Tput)
}

/// `spsc-blocking-tput`: the stream through the blocking send/recv,
/// with the default wait strategy.
pub fn case_blocking_tput(setup: &Setup) -> Result<Figures, BenchError> {
    let (tx, rx) = ring(&opts())?;
    stream(setup, Blocking(tx), Blocking(rx)).map(Figures::Tput)
}

/// A stream end that moves one value per blocking call, no timeout.
struct Blocking<T>(T);

impl StreamTx for Blocking<spsc::Producer<u64>> {
    fn send(&mut self, from: u64, count: u64, _: &Watch<'_>) -> Result<(), BenchError> {
        for v in from..from + count {
            self.0.send(v).map_err(BenchError::lib)?;
        }
        Ok(())
    }

    fn send_stop(&mut self, _: &Watch<'_>) -> Result<(), BenchError> {
        self.0.send(STOP).map_err(BenchError::lib)
    }

    fn wake_syscalls(&self) -> Option<u64> {
        Some(self.0.stats().wake_syscalls)
    }
}

impl StreamRx for Blocking<spsc::Consumer<u64>> {
    fn recv_rep(&mut self, _: &Watch<'_>) -> Result<u64, BenchError> {
        let mut next = 0;
        loop {
            let v = self.0.recv().map_err(BenchError::lib)?;
            if check_seq(&[v], &mut next)?.1 {
                return Ok(next);
            }
        }
    }
}

/// `spsc-idle-cpu`: what a consumer blocked on an empty ring costs. The
/// child blocks in `recv()` (default strategy) while the parent
/// sleeps for `--secs`, then the parent pushes one value to end the wait.
/// The child hands its CPU time per second of waiting back through the
/// shared page.
pub fn case_idle_cpu(setup: &Setup) -> Result<Figures, BenchError> {
    /// The one value sent.
    const WAKE: u64 = 42;
    let (mut tx, mut rx) = ring(&opts())?;
    let page = SharedPage::new()?;
    // SYNC: idle-figure. The child stores the f64's bits (Release) before it
    // exits; the parent loads them (Acquire) after reaping it.
    let figure = page.word(0);
    let secs = setup.secs;
    run_pair(
        setup.peers,
        setup.cores,
        move |_watch| {
            let cpu_before = cpu_time()?;
            let start = Instant::now();
            let v = rx.recv().map_err(BenchError::lib)?;
            let wall = start.elapsed();
            let cpu = cpu_time()?.saturating_sub(cpu_before);
            if v != WAKE {
                return Err(BenchError::Mismatch {
                    expected: WAKE,
                    got: v,
                });
            }
            let ms_per_s = cpu.as_secs_f64() * 1e3 / wall.as_secs_f64();
            figure.store(ms_per_s.to_bits(), Ordering::Release);
            Ok(())
        },
        move |_watch| {
            thread::sleep(Duration::from_secs_f64(secs));
            tx.send(WAKE).map_err(BenchError::lib)
        },
    )?;
    // run_pair returned Ok: the child exited 0, so it stored the figure.
    let cpu_ms_per_s = f64::from_bits(figure.load(Ordering::Acquire));
    Ok(Figures::Idle(IdleStats { cpu_ms_per_s }))
}

/// CPU time (user + system) this process has used so far.
pub(super) fn cpu_time() -> Result<Duration, BenchError> {
    let usage = getrusage(UsageWho::RUSAGE_SELF).map_err(BenchError::os("getrusage"))?;
    Ok(duration(usage.user_time()) + duration(usage.system_time()))
}

fn duration(t: TimeVal) -> Duration {
    // CPU times are never negative.
    Duration::from_micros(u64::try_from(t.num_microseconds()).unwrap_or(0))
}

/// A stream end that moves values through the zero-copy chunk API.
struct Chunked<T>(T);

impl Chunked<spsc::Producer<u64>> {
    /// Fills one chunk of up to `want` slots with `value(i)` for slot i and
    /// commits it; `None` when the ring is full. The chunk is used and
    /// committed in here because it borrows the producer.
    #[inline(always)]
    fn write(
        &mut self,
        want: usize,
        value: impl Fn(u64) -> u64,
    ) -> Result<Option<u64>, BenchError> {
        let mut chunk = match self.0.write_chunk(want) {
            Ok(chunk) => chunk,
            Err(ReserveError::Full) => return Ok(None),
            Err(e) => return Err(BenchError::lib(e)),
        };
        let (a, b) = chunk.as_mut_slices();
        let mut i = 0;
        for slot in a.iter_mut().chain(b.iter_mut()) {
            *slot = value(i);
            i += 1;
        }
        chunk.commit_all();
        Ok(Some(i))
    }
}

impl StreamTx for Chunked<spsc::Producer<u64>> {
    fn send(&mut self, from: u64, count: u64, watch: &Watch<'_>) -> Result<(), BenchError> {
        let end = from + count;
        let mut next = from;
        while next < end {
            let want = usize::try_from(end - next).unwrap_or(CHUNK).min(CHUNK);
            let first = next;
            let written = watch.until("writing into a full ring", || {
                self.write(want, |i| first + i)
            })?;
            next += written;
        }
        Ok(())
    }

    fn send_stop(&mut self, watch: &Watch<'_>) -> Result<(), BenchError> {
        watch
            .until("writing into a full ring", || self.write(1, |_| STOP))
            .map(drop)
    }

    fn wake_syscalls(&self) -> Option<u64> {
        self.0.wake_syscalls()
    }
}

impl Chunked<spsc::Consumer<u64>> {
    /// Checks and releases one chunk of up to [`CHUNK`] values; `None` when
    /// the ring is empty, else whether STOP was among them.
    #[inline(always)]
    fn read(&mut self, next: &mut u64) -> Result<Option<bool>, BenchError> {
        let chunk = match self.0.read_chunk(CHUNK) {
            Ok(chunk) => chunk,
            Err(PopError::Empty) => return Ok(None),
            Err(e) => return Err(BenchError::lib(e)),
        };
        let (a, b) = chunk.as_slices();
        let (mut used, mut stopped) = check_seq(a, next)?;
        if !stopped {
            let (used_b, stopped_b) = check_seq(b, next)?;
            used += used_b;
            stopped = stopped_b;
        }
        chunk.release(used);
        Ok(Some(stopped))
    }
}

impl StreamRx for Chunked<spsc::Consumer<u64>> {
    fn recv_rep(&mut self, watch: &Watch<'_>) -> Result<u64, BenchError> {
        let mut next = 0;
        loop {
            if watch.until("reading from an empty ring", || self.read(&mut next))? {
                return Ok(next);
            }
        }
    }
}
