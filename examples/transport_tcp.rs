//! TCP, for peers on other hosts: the same API as every other transport,
//! with `TCP_NODELAY` set so each message leaves at once. The mechanism
//! is picked by URL at run time:
//!
//! Run: `cargo run --release --example transport_tcp`
//! (or `-- unix:///tmp/echo.sock`, `-- unix+seqpacket:///tmp/echo.seq`:
//! any socket URL).

use shmlane::transport::{self, RecvError};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tcp://127.0.0.1:0".to_owned());
    let mut listener = transport::listen(&url)?;
    let address = listener.url().to_owned(); // with the port the kernel chose
    println!("echo server at {address}");
    std::thread::scope(|s| {
        let client = s.spawn(|| -> Result<(), Error> {
            let mut conn = transport::connect(&address)?;
            let mut echo = Vec::new();
            for msg in ["hello", "over", "tcp"] {
                conn.sender.send(msg.as_bytes())?;
                conn.receiver.recv(&mut echo)?;
                println!("client got {:?}", String::from_utf8_lossy(&echo));
            }
            Ok(())
        });
        let mut conn = listener.accept()?;
        let mut msg = Vec::new();
        loop {
            match conn.receiver.recv(&mut msg) {
                Ok(_) => conn.sender.send(&msg)?,
                Err(RecvError::Disconnected { .. }) => break,
                Err(e) => return Err(e.into()),
            }
        }
        client.join().map_err(|_| "the client thread panicked")?
    })
}
