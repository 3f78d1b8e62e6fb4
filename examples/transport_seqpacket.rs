//! A Unix seqpacket socket: like a stream socket, but the kernel keeps
//! each message whole, so there is no framing at all: one `send` is one
//! record at the other end, empty records included.
//!
//! Run: `cargo run --release --example transport_seqpacket`

use shmlane::transport::{self, RecvError};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join(format!("shmlane-example-{}.seq", std::process::id()));
    // Both ends in this process: listen, connect, accept.
    let (mut tx, mut rx) = transport::pair(&format!("unix+seqpacket://{}", path.display()))?;
    for record in [&b"one record"[..], b"", &[0u8, 1, 2, 255]] {
        tx.send(record)?;
    }
    drop(tx);
    let mut msg = Vec::new();
    loop {
        match rx.recv(&mut msg) {
            Ok(len) => println!("{len} bytes: {msg:?}"),
            Err(RecvError::Disconnected { .. }) => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
