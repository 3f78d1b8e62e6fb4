//! The Rust peer of the Python tests (python/tests/test_cross_language.py):
//! a typed `spsc::Producer<Tick>` or `Consumer<Tick>` on a named segment
//! that a Python `shmlane.spsc` end shares.
//!
//! ```text
//! records_peer send NAME COUNT   opens NAME, sends ticks 0..COUNT, detaches
//! records_peer recv NAME COUNT   creates NAME, receives COUNT ticks in order
//!                                (seq, price = seq / 4, qty = seq % 1000),
//!                                then expects the disconnect
//! ```
//!
//! Both use schema id [`SCHEMA`]; the Python side's dtype is
//! `[("seq", "<u8"), ("price", "<f8"), ("qty", "<u4"), ("venue", "<u4")]`.

use std::process::ExitCode;
use std::time::Duration;

use shmlane::{Options, PopError, spsc};

/// The record both languages agree on: 24 bytes, aligned to 8.
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Tick {
    seq: u64,
    price: f64,
    qty: u32,
    venue: u32,
}

/// The schema id of `Tick` on both sides.
const SCHEMA: u64 = 0x7469_636b;

fn tick(seq: u64) -> Tick {
    Tick {
        seq,
        price: seq as f64 / 4.0,
        qty: (seq % 1000) as u32,
        venue: 7,
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let [mode, name, count] = args else {
        return Err("usage: records_peer send|recv NAME COUNT".into());
    };
    let count: u64 = count.parse().map_err(|e| format!("COUNT {count:?}: {e}"))?;
    let opts = Options::new()
        .schema_id(SCHEMA)
        .open_timeout(Duration::from_secs(10));
    match mode.as_str() {
        "send" => {
            let mut tx = spsc::Producer::<Tick>::open(name, &opts).map_err(|e| e.to_string())?;
            for seq in 0..count {
                tx.send(tick(seq)).map_err(|e| format!("send {seq}: {e}"))?;
            }
            Ok(())
        }
        "recv" => {
            let opts = opts.capacity(1024);
            let mut rx = spsc::Consumer::<Tick>::create(name, &opts).map_err(|e| e.to_string())?;
            // Tells the test the segment exists.
            println!("ready");
            for seq in 0..count {
                let got = rx.recv().map_err(|e| format!("recv {seq}: {e}"))?;
                if got != tick(seq) {
                    return Err(format!(
                        "record {seq}: got {got:?}, expected {:?}",
                        tick(seq)
                    ));
                }
            }
            match rx.recv() {
                Err(PopError::Disconnected) => Ok(()),
                other => Err(format!(
                    "after {count} records: {other:?}, expected the disconnect"
                )),
            }
        }
        other => Err(format!("unknown mode {other:?}: send or recv")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("records_peer: {e}");
            ExitCode::FAILURE
        }
    }
}
