//! A POSIX message queue as a mailbox: the sender posts messages with
//! priorities and leaves before anybody reads them; the receiver, later,
//! gets the most urgent first, then the end-of-stream marker the sender
//! left when it was dropped.
//!
//! Run: `cargo run --release --example transport_mq`
//!
//! From the shell: `echo hi | shmlane send mq:///jobs`, then
//! `shmlane recv mq:///jobs`.

use shmlane::transport::{Config, RecvError, Sender, mq};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let name = format!("/shmlane-example-{}", std::process::id());
    let config = Config::new().max_message_size(256);
    {
        let mut tx = mq::MqSender::open(&name, &config)?; // creates the queue
        tx.send(b"routine report")?; // the channel's priority, 1
        tx.send_with_priority(b"disk almost full", 20)?;
        tx.send_with_priority(b"backup finished", 5)?;
        // Dropped: the messages wait in the kernel, with an end marker.
    }
    let mut rx = mq::MqReceiver::open(&name, &config)?;
    let mut msg = Vec::new();
    loop {
        match rx.recv_with_priority(&mut msg) {
            Ok((_, priority)) => {
                println!("priority {priority:>2}: {}", String::from_utf8_lossy(&msg));
            }
            Err(RecvError::Disconnected { .. }) => break,
            Err(e) => return Err(e.into()),
        }
    }
    // A sender never removes a queue (its messages wait there): clean up.
    mq::unlink(&name)?;
    Ok(())
}
