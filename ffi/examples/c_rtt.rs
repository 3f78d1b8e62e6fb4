//! Round trip through a pair of SPSC rings, Rust to C and Rust to Rust in
//! the same run: the C ABI's cost against the Rust endpoints'.
//!
//! ```text
//! make -C examples/c && cargo run --release -p shmlane-ffi --example c_rtt -- [ROUND_TRIPS] [PAIRS]
//! ```
//!
//! This process pushes a u64 on `ping` and spins until it pops it back from
//! `pong`, like `shmlane bench --case spsc-rtt`; the echo is a second
//! process: this example itself (`c_rtt echo PING PONG`, the Rust
//! endpoints) or `examples/c/build/echo` (the C ABI). Each side spins on
//! non-blocking calls.
//!
//! The host moves this VM's cores between near and far physical ones
//! every few seconds, which changes a round trip about threefold; so the
//! run is `PAIRS` short pairs of blocks (a Rust echo, then a C echo, each
//! `ROUND_TRIPS` after a warm-up, a fraction of a second), and each C block
//! is judged against the Rust block just before it. A pair whose two
//! medians differ by more than 1.5x in either direction straddled a move
//! and is left out of the summary (printed, marked). Pin the two processes
//! to two cores for steadier figures (e.g. run under `taskset -c 2,3`).

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Instant;

use shmlane::{Options, PopError, PushError, spsc};

/// The rings' schema id (examples/c/echo.c's SCHEMA).
const SCHEMA: u64 = 0x5254_5454;
const STOP: u64 = u64::MAX;
const WARMUP: usize = 20_000;
/// Two medians further apart than this were measured at different core
/// distances (near ones are about 3x faster than far ones).
const SAME_DISTANCE: f64 = 1.5;

fn opts() -> Options {
    Options::new().schema_id(SCHEMA).capacity(1024)
}

type Failure = Box<dyn std::error::Error>;

fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 4 && args[1] == "echo" {
        return echo(&args[2], &args[3]);
    }
    let round_trips: usize = args.get(1).map_or(Ok(200_000), |n| n.parse())?;
    let pairs: usize = args.get(2).map_or(Ok(10), |n| n.parse())?;
    if round_trips == 0 || pairs == 0 {
        return Err("ROUND_TRIPS and PAIRS must be at least 1".into());
    }
    let c_echo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/c/build/echo");
    if !c_echo.exists() {
        return Err(format!(
            "{} is missing: run `make -C examples/c` first",
            c_echo.display()
        )
        .into());
    }
    let me = std::env::current_exe()?;
    let mut ratios = Vec::with_capacity(pairs);
    for pair in 0..pairs {
        let rust = measure("rust", round_trips, |ping, pong| {
            Command::new(&me).args(["echo", ping, pong]).spawn()
        })?;
        let c = measure("c", round_trips, |ping, pong| {
            Command::new(&c_echo).args([ping, pong]).spawn()
        })?;
        let ratio = c.median / rust.median;
        let comparable = (1.0 / SAME_DISTANCE..=SAME_DISTANCE).contains(&ratio);
        println!(
            "pair {pair}: rust-to-rust median {:.0} ns (p99 {} ns), rust-to-c median {:.0} ns (p99 {} ns): {ratio:.2}x{}",
            rust.median,
            rust.p99,
            c.median,
            c.p99,
            if comparable {
                ""
            } else {
                "  (core distance changed: left out)"
            }
        );
        if comparable {
            ratios.push((rust.median, ratio));
        }
    }
    if ratios.is_empty() {
        return Err("every pair straddled a change of core distance: run again".into());
    }
    // Near and far pairs apart: a ratio means little across distances.
    let fastest = ratios
        .iter()
        .map(|(base, _)| *base)
        .fold(f64::MAX, f64::min);
    for (what, near) in [("near cores", true), ("far cores", false)] {
        let mut group: Vec<f64> = ratios
            .iter()
            .filter(|(base, _)| (*base < fastest * SAME_DISTANCE) == near)
            .map(|(_, ratio)| *ratio)
            .collect();
        if group.is_empty() {
            continue;
        }
        group.sort_by(f64::total_cmp);
        println!(
            "{what}: rust-to-c / rust-to-rust over {} pairs: median {:.2}, range {:.2}-{:.2}",
            group.len(),
            group[group.len() / 2],
            group[0],
            group[group.len() - 1]
        );
    }
    Ok(())
}

/// Median and 99th percentile round trip, in nanoseconds.
struct Figures {
    median: f64,
    p99: u64,
}

/// Round trips through two new rings to the echo `spawn` starts.
fn measure(
    label: &str,
    round_trips: usize,
    spawn: impl FnOnce(&str, &str) -> std::io::Result<Child>,
) -> Result<Figures, Failure> {
    let ping_name = format!("shmlane-c-rtt-{}-{label}-ping", std::process::id());
    let pong_name = format!("shmlane-c-rtt-{}-{label}-pong", std::process::id());
    let mut ping = spsc::Producer::<u64>::create(&ping_name, &opts())?;
    let mut pong = spsc::Consumer::<u64>::create(&pong_name, &opts())?;
    let mut echo = spawn(&ping_name, &pong_name)?;
    let mut samples = Vec::with_capacity(round_trips);
    for i in 0..WARMUP + round_trips {
        let start = Instant::now();
        round_trip(&mut ping, &mut pong, i as u64)?;
        if i >= WARMUP {
            samples.push(start.elapsed().as_nanos() as u64);
        }
    }
    round_trip(&mut ping, &mut pong, STOP)?;
    let status = echo.wait()?;
    if !status.success() {
        return Err(format!("{label}: the echo failed ({status})").into());
    }
    samples.sort_unstable();
    Ok(Figures {
        median: samples[samples.len() / 2] as f64,
        p99: samples[samples.len() * 99 / 100],
    })
}

/// Pushes `v` on `ping` and spins until it comes back on `pong`.
fn round_trip(
    ping: &mut spsc::Producer<u64>,
    pong: &mut spsc::Consumer<u64>,
    v: u64,
) -> Result<(), Failure> {
    loop {
        match ping.push(v) {
            Ok(()) => break,
            Err(PushError::Full(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    loop {
        match pong.pop() {
            Ok(back) if back == v => return Ok(()),
            Ok(back) => return Err(format!("sent {v}, got {back} back").into()),
            Err(PopError::Empty) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// The Rust echo: what examples/c/echo.c does, with the Rust endpoints.
fn echo(ping_name: &str, pong_name: &str) -> Result<(), Failure> {
    let mut ping = spsc::Consumer::<u64>::open(ping_name, &opts())?;
    let mut pong = spsc::Producer::<u64>::open(pong_name, &opts())?;
    loop {
        let v = loop {
            match ping.pop() {
                Ok(v) => break v,
                Err(PopError::Empty) => {}
                Err(e) => return Err(e.into()),
            }
        };
        loop {
            match pong.push(v) {
                Ok(()) => break,
                Err(PushError::Full(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if v == STOP {
            return Ok(());
        }
    }
}
