//! A producer and a consumer in two processes over an anonymous segment:
//! make the pair, fork, keep one end in each process.
//!
//! Run: `cargo run --release --example spsc_fork`

use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, fork};
use shmlane::{Options, PopError, PushError, spsc};

const COUNT: u64 = 1_000_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut tx, mut rx) = spsc::pair::<u64>(&Options::new().capacity(1024))?;
    // SAFETY: single-threaded here; the child only uses the ring and exits.
    match unsafe { fork() }? {
        ForkResult::Child => {
            drop(tx);
            let mut sum = 0u64;
            let mut received = 0;
            while received < COUNT {
                match rx.pop() {
                    Ok(v) => {
                        sum += v;
                        received += 1;
                    }
                    Err(PopError::Empty) => std::hint::spin_loop(),
                    Err(e) => return Err(e.into()),
                }
            }
            println!("child received {received} items, sum {sum}");
            std::process::exit(0);
        }
        ForkResult::Parent { child } => {
            drop(rx);
            for v in 0..COUNT {
                let mut item = v;
                while let Err(PushError::Full(back)) = tx.push(item) {
                    item = back;
                    std::hint::spin_loop();
                }
            }
            waitpid(child, None)?;
            println!(
                "parent sent {COUNT} items, expected sum {}",
                COUNT * (COUNT - 1) / 2
            );
        }
    }
    Ok(())
}
