//! An audio-style pipeline between two processes: a source process makes
//! blocks of 256 stereo f32 frames at a steady rate (48 kHz: one block
//! every 5.33 ms) and a sink process, blocked in `recv` until each block
//! arrives, processes it. The ring is small (4 blocks, about 21 ms of
//! audio) and its memory prefaulted and, where the limit allows, locked,
//! as real-time audio wants.
//!
//! It counts what an audio engineer counts: overruns (the source found the
//! ring full: the sink fell behind and a block was lost) and underruns (the
//! sink waited more than a block's time past its due: the output would
//! have glitched), and prints the percentiles of the latency from a
//! block's creation to the sink's receipt.
//!
//! Run: `cargo run --release --example audio_pipeline [SECONDS]` (default 2)

use std::time::Duration;

use bytemuck::{Pod, Zeroable};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, fork};
use shmlane::{OpenError, Options, PopError, PushError, spsc};

const SAMPLE_RATE: u64 = 48_000;
const FRAMES_PER_BLOCK: usize = 256;
/// One block's time: 256 frames at 48 kHz.
const PERIOD: Duration =
    Duration::from_nanos(FRAMES_PER_BLOCK as u64 * 1_000_000_000 / SAMPLE_RATE);
/// Blocks the ring holds.
const RING_BLOCKS: usize = 4;

/// One block: 256 interleaved stereo frames, its sequence number and the
/// time it was made (CLOCK_MONOTONIC, the same clock in both processes).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Block {
    seq: u64,
    made_ns: u64,
    samples: [f32; 2 * FRAMES_PER_BLOCK],
}

/// Nanoseconds of CLOCK_MONOTONIC.
fn now_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec for the call.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec).unwrap_or(0)
}

/// The ring's options: prefaulted, and locked if RLIMIT_MEMLOCK allows.
fn ring() -> Result<(spsc::Producer<Block>, spsc::Consumer<Block>), OpenError> {
    let opts = Options::new().capacity(RING_BLOCKS).prefault(true);
    match spsc::pair::<Block>(&opts.clone().lock_memory(true)) {
        Err(e @ OpenError::LockMemory { .. }) => {
            eprintln!("not locking the ring: {e}");
            spsc::pair::<Block>(&opts)
        }
        other => other,
    }
}

/// The sink: receives every block, "processes" it (its peak level), and
/// prints the counts and latency percentiles when the source is gone.
fn sink(mut rx: spsc::Consumer<Block>) -> Result<(), Box<dyn std::error::Error>> {
    let mut latencies_us = Vec::new();
    let (mut underruns, mut lost, mut next, mut peak) = (0u64, 0u64, 0u64, 0f32);
    loop {
        // A block is due every PERIOD; waiting two means the output starved.
        let block = match rx.recv_timeout(2 * PERIOD) {
            Ok(block) => block,
            Err(PopError::Timeout) => {
                underruns += 1;
                continue;
            }
            Err(PopError::Disconnected) => break,
            Err(e) => return Err(e.into()),
        };
        latencies_us.push(now_ns().saturating_sub(block.made_ns) as f64 / 1e3);
        lost += block.seq - next; // blocks the source dropped (overruns)
        next = block.seq + 1;
        peak = block.samples.iter().fold(peak, |p, s| p.max(s.abs()));
    }
    latencies_us.sort_by(f64::total_cmp);
    let at = |q: f64| latencies_us[((latencies_us.len() - 1) as f64 * q) as usize];
    println!(
        "sink: {} blocks, {underruns} underruns, {lost} blocks lost to overruns, peak {peak:.2}",
        latencies_us.len()
    );
    if !latencies_us.is_empty() {
        println!(
            "latency µs: p50 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}",
            at(0.5),
            at(0.99),
            at(0.999),
            at(1.0)
        );
    }
    Ok(())
}

/// The source: one block per PERIOD, on a fixed schedule (no drift), a
/// 440 Hz tone; a full ring is an overrun and the block is dropped.
fn source(mut tx: spsc::Producer<Block>, secs: f64) -> Result<u64, Box<dyn std::error::Error>> {
    let blocks = (secs * SAMPLE_RATE as f64 / FRAMES_PER_BLOCK as f64) as u64;
    let start = now_ns();
    let mut overruns = 0;
    for seq in 0..blocks {
        let due = start + seq * PERIOD.as_nanos() as u64;
        let now = now_ns();
        if due > now {
            std::thread::sleep(Duration::from_nanos(due - now));
        }
        let mut block = Block {
            seq,
            made_ns: 0,
            samples: [0.0; 2 * FRAMES_PER_BLOCK],
        };
        for (i, frame) in block.samples.chunks_exact_mut(2).enumerate() {
            let t = (seq * FRAMES_PER_BLOCK as u64 + i as u64) as f32 / SAMPLE_RATE as f32;
            let v = 0.5 * (2.0 * std::f32::consts::PI * 440.0 * t).sin();
            frame.copy_from_slice(&[v, v]);
        }
        block.made_ns = now_ns();
        match tx.push(block) {
            Ok(()) => {}
            Err(PushError::Full(_)) => overruns += 1,
            Err(e) => return Err(e.into()),
        }
    }
    println!("source: {blocks} blocks, {overruns} overruns");
    Ok(overruns)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secs: f64 = std::env::args().nth(1).map_or(Ok(2.0), |s| s.parse())?;
    let (tx, rx) = ring()?;
    println!("memory: {:?}", tx.memory_report());
    // SAFETY: single-threaded here; the child only uses the ring and exits.
    match unsafe { fork() }? {
        ForkResult::Child => {
            drop(tx);
            let code = match sink(rx) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("sink: {e}");
                    1
                }
            };
            std::process::exit(code);
        }
        ForkResult::Parent { child } => {
            drop(rx);
            source(tx, secs)?; // dropping the producer ends the sink's loop
            waitpid(child, None)?;
            Ok(())
        }
    }
}
