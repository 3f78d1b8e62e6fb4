//! A Unix stream socket as the local link between a server and its
//! clients, as nginx talks to php-fpm or `mysql --socket` to mysqld: the
//! server listens on a path, a client connects and sends requests, the
//! server answers each on the same connection.
//!
//! Run: `cargo run --release --example transport_unix`
//!
//! Any program speaking the framing is a peer; with `?framing=lines`, so
//! is `socat - UNIX-CONNECT:/path`.

use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, fork};
use shmlane::transport::{self, RecvError};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join(format!("shmlane-example-{}.sock", std::process::id()));
    let url = format!("unix://{}", path.display());
    let mut listener = transport::listen(&url)?; // removed when dropped
    // SAFETY: single-threaded here; the child only talks and exits.
    match unsafe { fork() }? {
        ForkResult::Child => {
            let mut conn = transport::connect(&url)?;
            let mut reply = Vec::new();
            for request in ["select 1", "select now()"] {
                conn.sender.send(request.as_bytes())?;
                conn.receiver.recv(&mut reply)?;
                println!(
                    "client: {request:?} -> {:?}",
                    String::from_utf8_lossy(&reply)
                );
            }
            std::process::exit(0);
        }
        ForkResult::Parent { child } => {
            let mut conn = listener.accept()?;
            let mut request = Vec::new();
            loop {
                match conn.receiver.recv(&mut request) {
                    Ok(_) => {
                        let answer = format!("ok: {}", String::from_utf8_lossy(&request));
                        conn.sender.send(answer.as_bytes())?;
                    }
                    Err(RecvError::Disconnected { .. }) => break,
                    Err(e) => return Err(e.into()),
                }
            }
            waitpid(child, None)?;
            println!("server: the client hung up");
        }
    }
    Ok(())
}
