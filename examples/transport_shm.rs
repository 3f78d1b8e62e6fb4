//! The `shm://` transport: shmlane's byte ring in a named shared-memory
//! segment, behind the same `Sender`/`Receiver` traits as every other
//! mechanism. A forked child receives; the parent sends, then leaves, and
//! the child drains and sees the end.
//!
//! Run: `cargo run --release --example transport_shm`
//!
//! From the shell: `shmlane recv shm://demo &`, then
//! `echo "this is shared memory" | shmlane send shm://demo` (either first).

use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, fork};
use shmlane::transport::{self, RecvError};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = format!("shm://shmlane-example-{}?max=1024", std::process::id());
    // The receiver first (it creates the segment), then the sender, which
    // would otherwise wait for a receiver.
    let (mut tx, mut rx) = transport::pair(&url)?;
    // SAFETY: single-threaded here; the child only receives and exits.
    match unsafe { fork() }? {
        ForkResult::Child => {
            drop(tx); // never used here: detaches nothing
            let mut msg = Vec::new();
            loop {
                match rx.recv(&mut msg) {
                    Ok(_) => println!("child got: {}", String::from_utf8_lossy(&msg)),
                    Err(RecvError::Disconnected { .. }) => break,
                    Err(e) => return Err(e.into()),
                }
            }
            std::process::exit(0);
        }
        ForkResult::Parent { child } => {
            drop(rx);
            for line in ["this is shared memory", "no copy through the kernel"] {
                tx.send(line.as_bytes())?;
            }
            drop(tx); // the child drains, then sees Disconnected
            waitpid(child, None)?;
        }
    }
    Ok(())
}
