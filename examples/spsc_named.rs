//! Two unrelated processes find one ring by name.
//!
//! Terminal 1: `cargo run --example spsc_named -- produce ticks`
//! Terminal 2: `cargo run --example spsc_named -- consume ticks`
//!
//! The producer creates the segment (mode 0600) and removes it when it
//! exits; the consumer opens it, checks the item type, and prints what
//! arrives.

use std::time::{Duration, Instant};

use bytemuck::{Pod, Zeroable};
use shmlane::{Options, PopError, PushError, spsc};

/// A market-data tick: plain old data, the same layout in both processes.
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
#[repr(C)]
struct Tick {
    seq: u64,
    price: f64,
    qty: u32,
    venue: u32,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (role, name) = match (args.next(), args.next()) {
        (Some(role), Some(name)) => (role, name),
        _ => return Err("usage: spsc_named produce|consume NAME".into()),
    };
    let opts = Options::new().capacity(4096);
    match role.as_str() {
        "produce" => {
            let mut tx = spsc::Producer::<Tick>::create(&name, &opts)?;
            println!("created {name:?}; start the consumer now");
            for seq in 0..10 {
                let mut tick = Tick {
                    seq,
                    price: 100.0 + seq as f64 / 4.0,
                    qty: 10,
                    venue: 1,
                };
                while let Err(PushError::Full(back)) = tx.push(tick) {
                    tick = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            // Give the consumer a few seconds to drain before the name goes
            // away (it may have gone already).
            let deadline = Instant::now() + Duration::from_secs(5);
            while !tx.is_empty() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        "consume" => {
            let mut rx = spsc::Consumer::<Tick>::open(&name, &opts)?;
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut got = 0;
            while got < 10 && Instant::now() < deadline {
                match rx.pop() {
                    Ok(tick) => {
                        println!("{tick:?}");
                        got += 1;
                    }
                    Err(PopError::Empty) => std::thread::sleep(Duration::from_millis(1)),
                    Err(e) => return Err(e.into()),
                }
            }
        }
        other => return Err(format!("unknown role {other:?}").into()),
    }
    Ok(())
}
