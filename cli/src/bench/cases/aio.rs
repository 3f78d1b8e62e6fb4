//! The async endpoints (`shmlane::aio`, cargo feature `tokio`), each
//! process running one tokio current-thread runtime: `async-rtt` (two
//! SPSC rings, one per direction) beside `tokio-uds-rtt` (the same round
//! trip over a tokio Unix stream socket, the kernel's path an async
//! service would otherwise take), `async-tput` beside `spsc-blocking-tput`,
//! and `async-idle-cpu` (what a parked async consumer costs).
//!
//! The harness is synchronous, so the measuring side enters its runtime
//! once per round trip (`block_on`), and once per repetition in
//! `async-tput`; the peer runs one `block_on` for the whole case.

use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use shmlane::aio::spsc::{AsyncConsumer, AsyncProducer};
use shmlane::{Options, spsc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;

use super::spsc::cpu_time;
use super::{CAPACITY, Setup, stream};
use crate::bench::error::BenchError;
use crate::bench::measure::{
    Budget, Figures, IdleStats, RoundTrip, STOP, StreamRx, StreamTx, check_seq, rtt,
};
use crate::bench::runner::run_pair;
use crate::bench::shared::SharedPage;
use crate::bench::spin::Watch;

/// One current-thread runtime (per process: made after the fork).
fn runtime() -> Result<Runtime, BenchError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| BenchError::Lib(format!("tokio runtime: {e}")))
}

fn ring() -> Result<(spsc::Producer<u64>, spsc::Consumer<u64>), BenchError> {
    spsc::pair::<u64>(&Options::new().capacity(CAPACITY)).map_err(BenchError::lib)
}

/// The measuring side of `async-rtt`: out on `ping`, back on `pong`.
struct AsyncTrip {
    runtime: Runtime,
    ping: AsyncProducer<u64>,
    pong: AsyncConsumer<u64>,
}

impl RoundTrip for AsyncTrip {
    fn round_trip(&mut self, k: u64) -> Result<(), BenchError> {
        let (ping, pong) = (&mut self.ping, &mut self.pong);
        self.runtime.block_on(async {
            ping.send(k).await.map_err(BenchError::lib)?;
            match pong.recv().await.map_err(BenchError::lib)? {
                v if v == k => Ok(()),
                got => Err(BenchError::Mismatch { expected: k, got }),
            }
        })
    }

    fn wake_syscalls(&self) -> Option<u64> {
        Some(self.ping.get_ref().stats().wake_syscalls + self.pong.get_ref().stats().wake_syscalls)
    }
}

/// `async-rtt`: a value out and back over two SPSC rings, both sides
/// async.
pub fn case_rtt(setup: &Setup) -> Result<Figures, BenchError> {
    let (ping_tx, ping_rx) = ring()?;
    let (pong_tx, pong_rx) = ring()?;
    let secs = setup.secs;
    let stats = run_pair(
        setup.peers,
        setup.cores,
        move |_watch| {
            let (mut rx, mut tx) = (ping_rx.into_async(), pong_tx.into_async());
            runtime()?.block_on(async {
                loop {
                    let v = rx.recv().await.map_err(BenchError::lib)?;
                    if v == STOP {
                        return Ok(());
                    }
                    tx.send(v).await.map_err(BenchError::lib)?;
                }
            })
        },
        move |_watch| {
            let mut trip = AsyncTrip {
                runtime: runtime()?,
                ping: ping_tx.into_async(),
                pong: pong_rx.into_async(),
            };
            let stats = rtt(
                Budget::rtt_warmup(secs),
                Budget::rtt_measure(secs),
                &mut trip,
            )?;
            let ping = &mut trip.ping;
            trip.runtime
                .block_on(ping.send(STOP))
                .map_err(BenchError::lib)?;
            Ok(stats)
        },
    )?;
    Ok(Figures::Rtt(stats))
}

impl RoundTrip for &mut AsyncTrip {
    fn round_trip(&mut self, k: u64) -> Result<(), BenchError> {
        (**self).round_trip(k)
    }

    fn wake_syscalls(&self) -> Option<u64> {
        (**self).wake_syscalls()
    }
}

/// The measuring side of `tokio-uds-rtt`: 8 bytes out and back.
struct UdsTrip {
    runtime: Runtime,
    socket: tokio::net::UnixStream,
}

impl UdsTrip {
    fn exchange(&mut self, k: u64) -> Result<u64, BenchError> {
        let socket = &mut self.socket;
        self.runtime
            .block_on(async {
                socket.write_all(&k.to_le_bytes()).await?;
                let mut back = [0; 8];
                socket.read_exact(&mut back).await?;
                Ok::<_, std::io::Error>(u64::from_le_bytes(back))
            })
            .map_err(|e| BenchError::Lib(format!("unix socket: {e}")))
    }
}

/// A std socket as a tokio one, inside `runtime` (tokio registers it with
/// the runtime's reactor).
fn tokio_socket(
    runtime: &Runtime,
    socket: StdUnixStream,
) -> Result<tokio::net::UnixStream, BenchError> {
    let _entered = runtime.enter();
    socket
        .set_nonblocking(true)
        .and_then(|()| tokio::net::UnixStream::from_std(socket))
        .map_err(|e| BenchError::Lib(format!("unix socket: {e}")))
}

/// `tokio-uds-rtt`: the round trip over a Unix stream socket pair, both
/// sides on tokio: the path an async service takes without shared memory.
pub fn case_uds_rtt(setup: &Setup) -> Result<Figures, BenchError> {
    let (mine, theirs) =
        StdUnixStream::pair().map_err(|e| BenchError::Lib(format!("socketpair: {e}")))?;
    let secs = setup.secs;
    let stats = run_pair(
        setup.peers,
        setup.cores,
        move |_watch| {
            let runtime = runtime()?;
            let mut socket = tokio_socket(&runtime, theirs)?;
            runtime
                .block_on(async {
                    let mut word = [0; 8];
                    loop {
                        socket.read_exact(&mut word).await?;
                        if u64::from_le_bytes(word) == STOP {
                            return Ok(());
                        }
                        socket.write_all(&word).await?;
                    }
                })
                .map_err(|e: std::io::Error| BenchError::Lib(format!("unix socket: {e}")))
        },
        move |_watch| {
            let runtime = runtime()?;
            let socket = tokio_socket(&runtime, mine)?;
            let mut trip = UdsTrip { runtime, socket };
            let stats = rtt(
                Budget::rtt_warmup(secs),
                Budget::rtt_measure(secs),
                |k| match trip.exchange(k)? {
                    v if v == k => Ok(()),
                    got => Err(BenchError::Mismatch { expected: k, got }),
                },
            )?;
            let socket = &mut trip.socket;
            trip.runtime
                .block_on(socket.write_all(&STOP.to_le_bytes()))
                .map_err(|e| BenchError::Lib(format!("unix socket: {e}")))?;
            Ok(stats)
        },
    )?;
    Ok(Figures::Rtt(stats))
}

/// A stream end on a runtime of its own (made lazily, in the process that
/// uses it: the consumer's after the fork).
struct OnRuntime<E> {
    end: E,
    runtime: Option<Runtime>,
}

impl<E> OnRuntime<E> {
    fn new(end: E) -> Self {
        Self { end, runtime: None }
    }

    fn block_on<R>(&mut self, run: impl AsyncFnOnce(&mut E) -> R) -> Result<R, BenchError> {
        if self.runtime.is_none() {
            self.runtime = Some(runtime()?);
        }
        let runtime = self.runtime.as_ref().expect("made just above");
        Ok(runtime.block_on(run(&mut self.end)))
    }
}

impl StreamTx for OnRuntime<AsyncProducer<u64>> {
    fn send(&mut self, from: u64, count: u64, _: &Watch<'_>) -> Result<(), BenchError> {
        self.block_on(async |tx| {
            for v in from..from + count {
                tx.send(v).await.map_err(BenchError::lib)?;
            }
            Ok(())
        })?
    }

    fn send_stop(&mut self, _: &Watch<'_>) -> Result<(), BenchError> {
        self.block_on(async |tx| tx.send(STOP).await.map_err(BenchError::lib))?
    }

    fn wake_syscalls(&self) -> Option<u64> {
        Some(self.end.get_ref().stats().wake_syscalls)
    }
}

impl StreamRx for OnRuntime<AsyncConsumer<u64>> {
    fn recv_rep(&mut self, _: &Watch<'_>) -> Result<u64, BenchError> {
        self.block_on(async |rx| {
            let mut next = 0;
            loop {
                let v = rx.recv().await.map_err(BenchError::lib)?;
                if check_seq(&[v], &mut next)?.1 {
                    return Ok(next);
                }
            }
        })?
    }
}

/// `async-tput`: the stream of `spsc-blocking-tput` through `send().await`
/// and `recv().await`.
pub fn case_tput(setup: &Setup) -> Result<Figures, BenchError> {
    let (tx, rx) = ring()?;
    let (tx, rx) = (
        OnRuntime::new(tx.into_async()),
        OnRuntime::new(rx.into_async()),
    );
    stream(setup, tx, rx).map(Figures::Tput)
}

/// A stream end moved in batches of up to [`BATCH`] values per await
/// (`send_slice` / `recv_many`), as `spsc-chunk-tput` moves chunks.
struct Batched<E>(OnRuntime<E>);

/// Values per batch of `async-tput-batch` (the chunk cases' size).
const BATCH: usize = 256;

impl StreamTx for Batched<AsyncProducer<u64>> {
    fn send(&mut self, from: u64, count: u64, _: &Watch<'_>) -> Result<(), BenchError> {
        self.0.block_on(async |tx| {
            let mut values = [0u64; BATCH];
            let (mut next, end) = (from, from + count);
            while next < end {
                let want = usize::try_from(end - next).unwrap_or(BATCH).min(BATCH);
                for (slot, v) in values[..want].iter_mut().zip(next..) {
                    *slot = v;
                }
                let sent = tx
                    .send_slice(&values[..want])
                    .await
                    .map_err(BenchError::lib)?;
                next += sent as u64;
            }
            Ok(())
        })?
    }

    fn send_stop(&mut self, watch: &Watch<'_>) -> Result<(), BenchError> {
        self.0.send_stop(watch)
    }

    fn wake_syscalls(&self) -> Option<u64> {
        self.0.wake_syscalls()
    }
}

impl StreamRx for Batched<AsyncConsumer<u64>> {
    fn recv_rep(&mut self, _: &Watch<'_>) -> Result<u64, BenchError> {
        self.0.block_on(async |rx| {
            let (mut next, mut batch) = (0, Vec::with_capacity(BATCH));
            loop {
                batch.clear();
                rx.recv_many(&mut batch, BATCH)
                    .await
                    .map_err(BenchError::lib)?;
                if check_seq(&batch, &mut next)?.1 {
                    return Ok(next);
                }
            }
        })?
    }
}

/// `async-tput-batch`: the same stream through `send_slice().await` and
/// `recv_many().await`, one await per batch: what an async consumer of a
/// busy stream should use.
pub fn case_tput_batch(setup: &Setup) -> Result<Figures, BenchError> {
    let (tx, rx) = ring()?;
    let (tx, rx) = (
        Batched(OnRuntime::new(tx.into_async())),
        Batched(OnRuntime::new(rx.into_async())),
    );
    stream(setup, tx, rx).map(Figures::Tput)
}

/// `async-idle-cpu`: what an async consumer parked on an empty ring costs
/// its process (runtime thread and waiter thread together), as
/// `spsc-idle-cpu` measures a blocked one: the child awaits one value that
/// the parent sends after `--secs`. The process's waiter thread is started
/// first (a receive given up after `WARM_UP`): its start is a one-time
/// cost of the process, not of being idle, and at the default half second
/// it alone added 0.3-0.5 ms/s. The measured receive pays its own spin and
/// yield window before it parks, as the blocking case does.
pub fn case_idle_cpu(setup: &Setup) -> Result<Figures, BenchError> {
    /// The one value sent.
    const WAKE: u64 = 42;
    /// How long the first, abandoned receive waits (it parks, so the
    /// waiter thread starts).
    const WARM_UP: Duration = Duration::from_millis(20);
    let (mut tx, rx) = ring()?;
    let page = SharedPage::new()?;
    // SYNC: idle-figure (as in spsc-idle-cpu)
    let figure = page.word(0);
    // 1 once the child's waiter thread runs: the parent's `--secs` start then.
    let warmed = page.word(1);
    let secs = setup.secs;
    run_pair(
        setup.peers,
        setup.cores,
        move |_watch| {
            let runtime = runtime()?;
            let mut rx = rx.into_async();
            // Dropped unfinished: cancel-safe, nothing is taken.
            let early = runtime.block_on(async { tokio::time::timeout(WARM_UP, rx.recv()).await });
            if let Ok(got) = early {
                return Err(BenchError::Lib(format!(
                    "async-idle-cpu: a value before the parent sent one: {got:?}"
                )));
            }
            // Relaxed: a go-ahead only, no data rides on it.
            warmed.store(1, Ordering::Relaxed);
            let cpu_before = cpu_time()?;
            let start = Instant::now();
            let v = runtime.block_on(rx.recv()).map_err(BenchError::lib)?;
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
        move |watch| {
            watch.until("the async consumer's warm-up", || {
                Ok((warmed.load(Ordering::Relaxed) != 0).then_some(()))
            })?;
            thread::sleep(Duration::from_secs_f64(secs));
            tx.send(WAKE).map_err(BenchError::lib)
        },
    )?;
    let cpu_ms_per_s = f64::from_bits(figure.load(Ordering::Acquire));
    Ok(Figures::Idle(IdleStats { cpu_ms_per_s }))
}
