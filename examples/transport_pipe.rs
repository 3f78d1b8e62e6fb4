//! An anonymous pipe from a parent to a child program, as in the classic
//! parent/child example: the parent makes the pipe, hands the read end to
//! the child as its stdin, and sends framed messages; the child opens
//! `pipe:` (its stdin) and receives them until the parent is done.
//!
//! Run: `cargo run --release --example transport_pipe`
//!
//! The same from the shell, through `|`:
//! `printf 'a\nb\n' | shmlane send pipe: | shmlane recv pipe:`

use std::process::Command;

use shmlane::transport::{self, Config, RecvError, Sender, pipe};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().nth(1).as_deref() == Some("child") {
        return child();
    }
    let (mut tx, rx) = pipe::pair(&Config::new())?;
    // The read end becomes the child's stdin; the parent keeps no copy.
    let mut child = Command::new(std::env::current_exe()?)
        .arg("child")
        .stdin(rx.into_fd()?)
        .spawn()?;
    for msg in ["hello from the parent", "", "a message\nwith a newline"] {
        tx.send(msg.as_bytes())?;
    }
    drop(tx); // end of stream: the child's receiver sees Disconnected
    let status = child.wait()?;
    println!("parent: child exited with {status}");
    Ok(())
}

fn child() -> Result<(), Box<dyn std::error::Error>> {
    let mut rx = transport::receiver("pipe:")?;
    let mut msg = Vec::new();
    loop {
        match rx.recv(&mut msg) {
            Ok(len) => println!("child: {len} bytes: {:?}", String::from_utf8_lossy(&msg)),
            Err(RecvError::Disconnected { .. }) => break,
            Err(e) => return Err(e.into()),
        }
    }
    println!("child: the parent closed the pipe");
    Ok(())
}
