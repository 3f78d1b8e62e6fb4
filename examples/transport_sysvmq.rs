//! A System V message queue read by message type, as the classic texts
//! describe (`msgrcv`'s `msgtyp`): one queue carries orders (type 1) and
//! cancellations (type 2); the receiver takes the cancellations first,
//! then everything else in send order.
//!
//! Run: `cargo run --release --example transport_sysvmq`

use shmlane::transport::{Config, Receiver, RecvError, sysv_mq};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const ORDER: i64 = 1;
    const CANCEL: i64 = 2;
    let key = 0x5e00_0000 | (std::process::id() & 0xff_ffff) as i32;
    let config = Config::new().max_message_size(128);
    let mut rx = sysv_mq::SysvReceiver::open(key, &config)?;
    {
        let mut tx = sysv_mq::SysvSender::open(key, &config)?;
        tx.send_type(ORDER, b"buy 10")?;
        tx.send_type(CANCEL, b"cancel order 7")?;
        tx.send_type(ORDER, b"sell 3")?;
    }
    let mut msg = Vec::new();
    let (_, t) = rx.recv_type(CANCEL, &mut msg)?;
    println!("type {t}: {}", String::from_utf8_lossy(&msg));
    loop {
        match rx.recv(&mut msg) {
            Ok(_) => println!("next: {}", String::from_utf8_lossy(&msg)),
            Err(RecvError::Disconnected { .. }) => break,
            Err(e) => return Err(e.into()),
        }
    }
    // The receiver made the queue and used it: dropping it removes it.
    Ok(())
}
