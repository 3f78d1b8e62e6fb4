//! Market-data fan-out: one feed process publishes ticks to several
//! consumer processes, each through its own SPSC ring, and never waits for
//! a slow one: a tick that finds a consumer's ring full is dropped for that
//! consumer alone (it sees the gap in the sequence numbers). Each consumer
//! prints its lag (from the tick's publication to its receipt) and the
//! ticks it missed; the last one does extra work per tick, to show a slow
//! consumer lagging and dropping while the others keep up.
//!
//! The feed publishes at a steady rate, as an exchange feed does.
//!
//! Run: `cargo run --release --example market_fanout [CONSUMERS] [TICKS] [PER_SECOND]`
//! (defaults 3, 200 000 and 100 000: two seconds)

use bytemuck::{Pod, Zeroable};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, fork};
use shmlane::{Options, PopError, PushError, WaitStrategy, spsc};

/// Ticks each ring holds.
const RING: usize = 4096;

/// One quote: sequence number, publication time (CLOCK_MONOTONIC ns, the
/// same clock in every process), instrument, price in ticks, size.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Tick {
    seq: u64,
    sent_ns: u64,
    instrument: u32,
    size: u32,
    price: i64,
}

fn now_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec for the call.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec).unwrap_or(0)
}

/// One consumer: receives until the feed is gone, then prints its lag
/// percentiles and the ticks it missed. `slow` adds work per tick.
fn consume(
    id: usize,
    mut rx: spsc::Consumer<Tick>,
    ticks: u64,
    slow: bool,
) -> Result<(), PopError> {
    let mut lags_ns = Vec::new();
    let mut notional = 0i64;
    loop {
        let tick = match rx.recv() {
            Ok(tick) => tick,
            Err(PopError::Disconnected) => break,
            Err(e) => return Err(e),
        };
        lags_ns.push(now_ns().saturating_sub(tick.sent_ns));
        notional = notional.wrapping_add(tick.price * i64::from(tick.size));
        if slow {
            // A strategy that does real work per tick.
            let mut x = tick.price as u64;
            for _ in 0..20_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
            std::hint::black_box(x);
        }
    }
    let missed = ticks - lags_ns.len() as u64;
    lags_ns.sort_unstable();
    let at = |q: f64| lags_ns[((lags_ns.len() - 1) as f64 * q) as usize] as f64 / 1e3;
    if lags_ns.is_empty() {
        println!("consumer {id}: no ticks");
    } else {
        println!(
            "consumer {id}{}: {} ticks, {missed} missed; lag µs p50 {:.1} p99 {:.1} max {:.1} (checksum {notional})",
            if slow { " (slow)" } else { "" },
            lags_ns.len(),
            at(0.5),
            at(0.99),
            at(1.0)
        );
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let consumers: usize = args.next().map_or(Ok(3), |s| s.parse())?;
    let ticks: u64 = args.next().map_or(Ok(200_000), |s| s.parse())?;
    let per_second: u64 = args.next().map_or(Ok(100_000), |s| s.parse())?;
    // Consumers spin briefly, then sleep: they keep up without burning a
    // core each when the feed is quiet.
    let opts = Options::new()
        .capacity(RING)
        .wait_strategy(WaitStrategy::SpinThenPark);
    let mut feeds = Vec::new();
    let mut children = Vec::new();
    for id in 0..consumers {
        let (tx, rx) = spsc::pair::<Tick>(&opts)?;
        // SAFETY: single-threaded here; the child only uses its ring and
        // exits.
        match unsafe { fork() }? {
            ForkResult::Child => {
                // This child's copies of the earlier rings' producers are
                // the feed's: drop them so each ring has one producer.
                drop(feeds);
                drop(tx);
                let code = i32::from(consume(id, rx, ticks, id + 1 == consumers).is_err());
                std::process::exit(code);
            }
            ForkResult::Parent { child } => {
                drop(rx);
                feeds.push((tx, 0u64));
                children.push(child);
            }
        }
    }
    let start = now_ns();
    let period_ns = 1_000_000_000 / per_second.max(1);
    for seq in 0..ticks {
        // On schedule: spin to the tick's time (a feed handler owns its core).
        let due = start + seq * period_ns;
        while now_ns() < due {
            std::hint::spin_loop();
        }
        let tick = Tick {
            seq,
            sent_ns: now_ns(),
            instrument: (seq % 64) as u32,
            size: 100,
            price: 10_000 + (seq % 17) as i64,
        };
        for (tx, dropped) in &mut feeds {
            match tx.push(tick) {
                Ok(()) => {}
                Err(PushError::Full(_)) => *dropped += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }
    let dropped: Vec<u64> = feeds.iter().map(|(_, d)| *d).collect();
    drop(feeds); // the consumers drain, see Disconnected and report
    for child in children {
        waitpid(child, None)?;
    }
    println!("feed: {ticks} ticks to {consumers} consumers; dropped per consumer {dropped:?}");
    Ok(())
}
