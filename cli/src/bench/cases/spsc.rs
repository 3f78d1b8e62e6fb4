//! The shmlane SPSC ring between two processes: `spsc-rtt`, `spsc-tput`,
//! `spsc-chunk-tput`.

use shmlane::{Options, PopError, PushError, WriteChunkError, spsc};

use super::{CAPACITY, PopOne, PushOne, Setup, Single, pop, push, stream};
use crate::bench::affinity::run_pair;
use crate::bench::error::BenchError;
use crate::bench::measure::{Budget, Figures, STOP, StreamRx, StreamTx, check_seq, rtt};
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

fn ring() -> Result<(spsc::Producer<u64>, spsc::Consumer<u64>), BenchError> {
    spsc::pair::<u64>(&Options::new().capacity(CAPACITY)).map_err(BenchError::lib)
}

/// `spsc-rtt`: a value goes out on one ring and comes back on a second.
pub fn case_rtt(setup: &Setup) -> Result<Figures, BenchError> {
    let (mut ping_tx, mut ping_rx) = ring()?;
    let (mut pong_tx, mut pong_rx) = ring()?;
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

/// `spsc-tput`: one value per push and per pop.
pub fn case_tput(setup: &Setup) -> Result<Figures, BenchError> {
    let (tx, rx) = ring()?;
    stream(setup, Single(tx), Single(rx)).map(Figures::Tput)
}

/// `spsc-chunk-tput`: the same stream through write_chunk/commit and
/// read_chunk/release, up to [`CHUNK`] slots at a time.
pub fn case_chunk_tput(setup: &Setup) -> Result<Figures, BenchError> {
    let (tx, rx) = ring()?;
    stream(setup, Chunked(tx), Chunked(rx)).map(Figures::Tput)
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
            Err(WriteChunkError::Full) => return Ok(None),
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
