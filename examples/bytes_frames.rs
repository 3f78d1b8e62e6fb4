//! Variable-length frames between two processes: a telemetry producer
//! writes messages of varying size in place (grant/commit), a consumer in a
//! forked child copies each one out (`recv`, the safe path when the
//! producer is not trusted) and prints a summary.
//!
//! Run: `cargo run --release --example bytes_frames`

use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, fork};
use shmlane::{Options, PopError, bytes};

const FRAMES: u32 = 100_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let opts = Options::new().capacity(1 << 16).max_frame(1024);
    let (mut tx, mut rx) = bytes::pair(&opts)?;
    // SAFETY: single-threaded here; the child only uses the ring and exits.
    match unsafe { fork() }? {
        ForkResult::Child => {
            drop(tx);
            let (mut frames, mut bytes_in) = (0u32, 0usize);
            let mut buf = Vec::new();
            loop {
                match rx.recv(&mut buf) {
                    Ok(len) => {
                        frames += 1;
                        bytes_in += len;
                    }
                    // The producer is gone and everything it sent is read.
                    Err(PopError::Disconnected) => break,
                    Err(e) => return Err(e.into()),
                }
            }
            println!("child received {frames} frames, {bytes_in} bytes");
            std::process::exit(0);
        }
        ForkResult::Parent { child } => {
            drop(rx);
            let mut bytes_out = 0;
            for i in 0..FRAMES {
                // A serializer that knows only an upper bound of its output:
                // grant the bound, write, commit what was written.
                let mut grant = tx.grant_blocking(1024)?;
                let text = format!(
                    "sensor {} reading {}",
                    i % 16,
                    i.wrapping_mul(2_654_435_761)
                );
                grant[..text.len()].copy_from_slice(text.as_bytes());
                bytes_out += grant.commit(text.len());
            }
            drop(tx); // the consumer drains, then sees Disconnected
            waitpid(child, None)?;
            println!("parent sent {FRAMES} frames, {bytes_out} bytes");
        }
    }
    Ok(())
}
