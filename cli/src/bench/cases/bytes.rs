//! The shmlane byte ring between two processes, busy (try-send/try-recv
//! spun by the bench): `bytes-tput` (64 and 4096 B) and `bytes-rtt` (64 B).
//!
//! As a pipe makes two copies (write into the kernel, read out of it), the
//! stream makes two: the producer copies each message into the ring
//! (`try_send`), the consumer copies it out (`try_recv`). Each message starts
//! with its sequence number, which the consumer checks.

use shmlane::{GrantError, Options, PopError, bytes};

use super::{Setup, stream};
use crate::bench::error::BenchError;
use crate::bench::measure::{Budget, Figures, RoundTrip, STOP, StreamRx, StreamTx, check_seq, rtt};
use crate::bench::runner::run_pair;
use crate::bench::spin::Watch;

/// Ring size in bytes. Small enough that the ring, the message and the
/// receive buffer stay in each core's L1 data cache (typically 32 KiB or
/// more), so a frame's lines move L1 to L1; a 64 KiB ring (a pipe's
/// default buffer) streams slower, its lines coming back from L2 every
/// lap (change this constant and rerun `bytes-tput` to see by how much on
/// your machine). A pipe gains nothing from a smaller buffer (it only gets
/// slower at 4 KiB messages), so `pipe-tput` keeps its default.
const RING_BYTES: usize = 16 * 1024;

fn ring(size: usize) -> Result<(bytes::Producer, bytes::Consumer), BenchError> {
    ring_with(Options::new().capacity(RING_BYTES).max_frame(size))
}

fn ring_with(opts: Options) -> Result<(bytes::Producer, bytes::Consumer), BenchError> {
    bytes::pair(&opts).map_err(BenchError::lib)
}

/// The sequence number at the start of a message.
fn seq_of(message: &[u8]) -> Result<u64, BenchError> {
    let head: [u8; 8] = message
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| BenchError::Lib(format!("a {}-byte message", message.len())))?;
    Ok(u64::from_le_bytes(head))
}

/// Sends `message` (its first 8 bytes set to `seq`), busy-retrying while
/// the ring is full.
#[inline(always)]
fn send(
    tx: &mut bytes::Producer,
    message: &mut [u8],
    seq: u64,
    watch: &Watch<'_>,
) -> Result<(), BenchError> {
    message[..8].copy_from_slice(&seq.to_le_bytes());
    send_as_is(tx, message, watch)
}

/// Sends `message` unchanged, busy-retrying while the ring is full.
#[inline(always)]
fn send_as_is(
    tx: &mut bytes::Producer,
    message: &[u8],
    watch: &Watch<'_>,
) -> Result<(), BenchError> {
    watch.until("sending into a full ring", || match tx.try_send(message) {
        Ok(()) => Ok(Some(())),
        Err(GrantError::Full) => Ok(None),
        Err(e) => Err(BenchError::lib(e)),
    })
}

/// Receives one message into `buf`, busy-retrying while the ring is
/// empty; returns its sequence number.
#[inline(always)]
fn recv(rx: &mut bytes::Consumer, buf: &mut Vec<u8>, watch: &Watch<'_>) -> Result<u64, BenchError> {
    watch.until("receiving from an empty ring", || match rx.try_recv(buf) {
        Ok(_) => Ok(Some(())),
        Err(PopError::Empty) => Ok(None),
        Err(e) => Err(BenchError::lib(e)),
    })?;
    seq_of(buf)
}

struct Tx {
    ring: bytes::Producer,
    message: Vec<u8>,
}

impl StreamTx for Tx {
    fn send(&mut self, from: u64, count: u64, watch: &Watch<'_>) -> Result<(), BenchError> {
        for seq in from..from + count {
            send(&mut self.ring, &mut self.message, seq, watch)?;
        }
        Ok(())
    }

    fn send_stop(&mut self, watch: &Watch<'_>) -> Result<(), BenchError> {
        send(&mut self.ring, &mut self.message, STOP, watch)
    }

    fn msg_bytes(&self) -> u64 {
        self.message.len() as u64
    }

    fn wake_syscalls(&self) -> Option<u64> {
        Some(self.ring.stats().wake_syscalls)
    }
}

struct Rx {
    ring: bytes::Consumer,
    buf: Vec<u8>,
    size: usize,
}

impl StreamRx for Rx {
    fn recv_rep(&mut self, watch: &Watch<'_>) -> Result<u64, BenchError> {
        let mut next = 0;
        loop {
            let seq = recv(&mut self.ring, &mut self.buf, watch)?;
            if self.buf.len() != self.size {
                return Err(BenchError::Lib(format!(
                    "a {}-byte message in a {}-byte stream",
                    self.buf.len(),
                    self.size
                )));
            }
            if check_seq(&[seq], &mut next)?.1 {
                return Ok(next);
            }
        }
    }
}

/// `bytes-tput`: a one-way stream of `setup.size`-byte messages.
pub fn case_tput(setup: &Setup) -> Result<Figures, BenchError> {
    stream_over(setup, ring(setup.size)?)
}

/// `bytes-tput-each`: `bytes-tput` with the consumer publishing its
/// position after every frame (`Options::release_each_frame`, exactly once
/// across a consumer crash): the cost of that guarantee.
pub fn case_tput_each(setup: &Setup) -> Result<Figures, BenchError> {
    let opts = Options::new()
        .capacity(RING_BYTES)
        .max_frame(setup.size)
        .release_each_frame(true);
    stream_over(setup, ring_with(opts)?)
}

fn stream_over(
    setup: &Setup,
    (tx, rx): (bytes::Producer, bytes::Consumer),
) -> Result<Figures, BenchError> {
    let tx = Tx {
        ring: tx,
        message: vec![0xa5; setup.size],
    };
    let rx = Rx {
        ring: rx,
        buf: Vec::with_capacity(setup.size),
        size: setup.size,
    };
    stream(setup, tx, rx).map(Figures::Tput)
}

/// The parent's round trip: out on one ring, back on the other.
struct Trip<'a, 'w> {
    ping: &'a mut bytes::Producer,
    pong: &'a mut bytes::Consumer,
    message: Vec<u8>,
    buf: Vec<u8>,
    watch: &'a Watch<'w>,
}

impl RoundTrip for Trip<'_, '_> {
    #[inline(always)]
    fn round_trip(&mut self, seq: u64) -> Result<(), BenchError> {
        send(self.ping, &mut self.message, seq, self.watch)?;
        match recv(self.pong, &mut self.buf, self.watch)? {
            got if got == seq => Ok(()),
            got => Err(BenchError::Mismatch { expected: seq, got }),
        }
    }

    fn wake_syscalls(&self) -> Option<u64> {
        Some(self.ping.stats().wake_syscalls + self.pong.stats().wake_syscalls)
    }
}

/// `bytes-rtt`: a `setup.size`-byte message goes out on one ring and the
/// peer copies it back on a second.
pub fn case_rtt(setup: &Setup) -> Result<Figures, BenchError> {
    let (mut ping_tx, mut ping_rx) = ring(setup.size)?;
    let (mut pong_tx, mut pong_rx) = ring(setup.size)?;
    let (secs, size) = (setup.secs, setup.size);
    let stats = run_pair(
        setup.peers,
        setup.cores,
        move |watch| {
            let mut buf = Vec::with_capacity(size);
            loop {
                let seq = recv(&mut ping_rx, &mut buf, &watch)?;
                if seq == STOP {
                    return Ok(());
                }
                send_as_is(&mut pong_tx, &buf, &watch)?;
            }
        },
        move |watch| {
            let trip = Trip {
                ping: &mut ping_tx,
                pong: &mut pong_rx,
                message: vec![0x5a; size],
                buf: Vec::with_capacity(size),
                watch: &watch,
            };
            let stats = rtt(Budget::rtt_warmup(secs), Budget::rtt_measure(secs), trip)?;
            send(&mut ping_tx, &mut vec![0; size], STOP, &watch)?;
            Ok(stats)
        },
    )?;
    Ok(Figures::Rtt(stats))
}
