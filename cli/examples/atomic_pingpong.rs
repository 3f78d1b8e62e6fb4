//! The `atomic-pingpong` loop of `shmlane bench` as a minimal standalone
//! program, to check that the bench does not distort what it measures:
//! run both on the same cores, one after the other, and compare the p50s
//! (they should agree within 1.1x).
//!
//! One AtomicU64 in a shared anonymous page, two processes pinned to two
//! cores: the parent stores the odd value 2k+1, the child answers 2k+2.
//! Each round trip is timed on its own, after a warm-up of 10% of the time
//! (and at least 10 000 round trips), as the bench does; the times are
//! counted per nanosecond in a plain array (up to 100 µs; longer ones in
//! one last bucket), not in the bench's HDR histogram.
//!
//! Run: `cargo run --release -p shmlane-cli --example atomic_pingpong -- 0,1 2`
//! (cores A,B and seconds; the defaults), then
//! `shmlane bench --case atomic-pingpong --cores 0,1 --secs 2`.

use std::hint::spin_loop;
use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::sched::{CpuSet, sched_setaffinity};
use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid, fork};

/// Tells the child to exit (odd, never a ping: pings stay far below it).
const STOP: u64 = u64::MAX;

fn pin(core: usize) -> Result<(), Box<dyn std::error::Error>> {
    let mut set = CpuSet::new();
    set.set(core)?;
    sched_setaffinity(Pid::from_raw(0), &set)?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cores = args.first().map_or("0,1", String::as_str);
    let (a, b) = cores.split_once(',').ok_or("cores are given as A,B")?;
    let (a, b): (usize, usize) = (a.trim().parse()?, b.trim().parse()?);
    let secs: f64 = args.get(1).map_or(Ok(2.0), |s| s.parse())?;

    // SAFETY: a new anonymous mapping at an address of the kernel's
    // choosing; it aliases nothing, and it is never unmapped (the process
    // ends with it).
    let page: NonNull<std::ffi::c_void> = unsafe {
        mmap_anonymous(
            None,
            NonZeroUsize::new(4096).ok_or("page size")?,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_SHARED,
        )
    }?;
    // SAFETY: the mapping is page-aligned, 4096 bytes, zeroed (a valid
    // AtomicU64 of 0), lives to the end of the process, and is only ever
    // accessed through this atomic, in both processes.
    let word: &AtomicU64 = unsafe { page.cast::<AtomicU64>().as_ref() };

    // SAFETY: the process has one thread, so the child is a complete copy.
    match unsafe { fork() }? {
        ForkResult::Child => {
            pin(b)?;
            let mut last = 0;
            loop {
                // SYNC: example-pingpong. Acquire loads, Release stores, on
                // both sides.
                let ping = word.load(Ordering::Acquire);
                if ping.is_multiple_of(2) || ping == last {
                    spin_loop();
                    continue;
                }
                if ping == STOP {
                    std::process::exit(0);
                }
                word.store(ping + 1, Ordering::Release);
                last = ping;
            }
        }
        ForkResult::Parent { child } => {
            pin(a)?;
            let mut k = 0u64;
            let mut round_trip = || {
                let ping = 2 * k + 1;
                k += 1;
                word.store(ping, Ordering::Release);
                while word.load(Ordering::Acquire) != ping + 1 {
                    spin_loop();
                }
            };
            let warmup = Duration::from_secs_f64(secs * 0.1);
            let start = Instant::now();
            let mut n = 0;
            while n < 10_000 || start.elapsed() < warmup {
                round_trip();
                n += 1;
            }
            let measure = Duration::from_secs_f64(secs);
            // counts[ns]: round trips that took ns nanoseconds; the last
            // bucket holds every longer one.
            let mut counts = vec![0u64; 100_001];
            let last = counts.len() - 1;
            let mut n = 0u64;
            let start = Instant::now();
            let mut prev = start;
            loop {
                round_trip();
                let now = Instant::now();
                let ns = usize::try_from((now - prev).as_nanos()).unwrap_or(usize::MAX);
                counts[ns.min(last)] += 1;
                n += 1;
                prev = now;
                if now - start >= measure {
                    break;
                }
            }
            word.store(STOP, Ordering::Release);
            waitpid(child, None)?;
            let at = |q: f64| {
                let rank = (n as f64 * q).ceil() as u64;
                let mut seen = 0;
                counts
                    .iter()
                    .position(|&c| {
                        seen += c;
                        seen >= rank
                    })
                    .map_or(">100000".to_string(), |ns| ns.to_string())
            };
            println!(
                "atomic ping-pong, cores {a},{b}: n {n} p50 {} ns p99 {} ns p99.9 {} ns",
                at(0.5),
                at(0.99),
                at(0.999)
            );
            Ok(())
        }
    }
}
