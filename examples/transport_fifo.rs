//! The named-pipe demo of the classic texts (`mkfifo test; echo "this is
//! a pipe" > test; cat < test`), through shmlane: a reader process opens
//! the FIFO (creating it, mode 0600), a writer process sends lines into
//! it. Opening the writer waits for a reader, as `echo > test` does.
//!
//! Run: `cargo run --release --example transport_fifo`
//!
//! Or with the shell on one side:
//! `cargo run --release --example transport_fifo -- recv /tmp/test` and, in
//! another terminal, `echo "this is a pipe" > /tmp/test`.

use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, fork};
use shmlane::transport::{self, RecvError};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [cmd, path] = args.as_slice()
        && cmd == "recv"
    {
        return receive(&format!("fifo://{path}?framing=lines"));
    }
    let path = std::env::temp_dir().join(format!("shmlane-example-{}.fifo", std::process::id()));
    let url = format!("fifo://{}?framing=lines", path.display());
    // The reader first: it makes the FIFO, so the writer finds it.
    let rx = transport::receiver(&url)?;
    // SAFETY: single-threaded here; the child only sends and exits.
    match unsafe { fork() }? {
        ForkResult::Child => {
            drop(rx); // never used here: only closes this copy
            let mut tx = transport::sender(&url)?;
            tx.send(b"this is a pipe")?;
            tx.send("命名管道 (named pipe)".as_bytes())?;
            std::process::exit(0);
        }
        ForkResult::Parent { child } => {
            drain(rx)?;
            waitpid(child, None)?;
        }
    }
    Ok(())
}

fn receive(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    println!("waiting on {url}");
    drain(transport::receiver(url)?)
}

fn drain(mut rx: Box<dyn transport::Receiver>) -> Result<(), Box<dyn std::error::Error>> {
    let mut line = Vec::new();
    loop {
        match rx.recv(&mut line) {
            Ok(_) => println!("{}", String::from_utf8_lossy(&line)),
            Err(RecvError::Disconnected { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}
