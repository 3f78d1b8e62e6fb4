//! A tokio service answering requests over shared memory: the service
//! process receives `Request`s on one named SPSC ring and answers on
//! another with `recv().await` / `send().await`, next to a timer in the
//! same `select!` (a receive dropped by `select!` loses no request), on
//! one current-thread runtime, with no thread of its own per ring. The
//! client is a plain blocking process (forked here; any process that opens
//! the two names works the same).
//!
//! Run: `cargo run --release --features tokio --example async_service [REQUESTS]`
//! (default 100000)

use std::time::{Duration, Instant};

use bytemuck::{Pod, Zeroable};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, fork};
use shmlane::{Options, PopError, spsc};

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Request {
    id: u64,
    a: u64,
    b: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Reply {
    id: u64,
    sum: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let requests: u64 = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 100_000,
    };
    let pid = std::process::id();
    let (req_name, rep_name) = (
        format!("async-svc-{pid}-req"),
        format!("async-svc-{pid}-rep"),
    );
    let opts = Options::new().capacity(256);
    // Made before the fork: the client opens names that exist.
    let rx = spsc::Consumer::<Request>::create(&req_name, &opts)?;
    let tx = spsc::Producer::<Reply>::create(&rep_name, &opts)?;

    // SAFETY: this process is single-threaded here (no runtime yet).
    match unsafe { fork() }? {
        ForkResult::Child => {
            // The client: plain blocking calls.
            drop((rx, tx)); // the service's ends (never used here)
            let code = match client(&req_name, &rep_name, &opts, requests) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("client: {e}");
                    1
                }
            };
            std::process::exit(code);
        }
        ForkResult::Parent { child } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()?;
            let served = runtime.block_on(serve(rx.into_async(), tx.into_async()))?;
            let status = waitpid(child, None)?;
            println!("service: answered {served} requests; client {status:?}");
        }
    }
    Ok(())
}

/// Answers until the client is gone; prints a status line every second.
async fn serve(
    mut rx: shmlane::aio::spsc::AsyncConsumer<Request>,
    mut tx: shmlane::aio::spsc::AsyncProducer<Reply>,
) -> Result<u64, Box<dyn std::error::Error>> {
    let mut status = tokio::time::interval(Duration::from_secs(1));
    let mut served = 0u64;
    loop {
        tokio::select! {
            request = rx.recv() => match request {
                Ok(Request { id, a, b }) => {
                    tx.send(Reply { id, sum: a + b }).await.map_err(|e| e.to_string())?;
                    served += 1;
                }
                Err(PopError::Disconnected) => return Ok(served),
                Err(e) => return Err(e.into()),
            },
            _ = status.tick() => println!("service: {served} answered so far"),
        }
    }
}

fn client(
    req_name: &str,
    rep_name: &str,
    opts: &Options,
    requests: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut tx = spsc::Producer::<Request>::open(req_name, opts)?;
    let mut rx = spsc::Consumer::<Reply>::open(rep_name, opts)?;
    let start = Instant::now();
    for id in 0..requests {
        tx.send(Request {
            id,
            a: id,
            b: 2 * id,
        })
        .map_err(|e| e.to_string())?;
        let reply = rx.recv()?;
        if reply.id != id || reply.sum != 3 * id {
            return Err(format!("request {id}: wrong reply {reply:?}").into());
        }
    }
    let each = start.elapsed() / requests.max(1) as u32;
    println!("client: {requests} requests answered, {each:?} per round trip");
    Ok(())
}
