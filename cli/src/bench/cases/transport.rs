//! The shmlane transports, through the `Sender`/`Receiver` traits (boxed,
//! as a program that picks the mechanism by URL holds them): a `--size`
//! message out and back between two processes, each call blocking.
//! Each case's ratio is taken against the same mechanism's raw syscalls
//! ([`ipc_raw`](super::ipc_raw)), measured in the same run:
//!
//! | case | baseline |
//! | --- | --- |
//! | `pipe-rtt` | `pipe-rtt-raw` |
//! | `fifo-rtt` | `fifo-rtt-raw` |
//! | `mq-rtt` | `mq-rtt-raw` |
//! | `sysvmq-rtt` | `sysvmq-rtt-raw` |
//! | `unix-rtt` | `uds-rtt-raw` |
//! | `seqpacket-rtt` | `seqpacket-rtt-raw` |
//! | `tcp-rtt` | `tcp-rtt-raw` |
//! | `zenoh-rtt` (feature `zenoh`) | `tcp-rtt-raw` |
//!
//! One-way mechanisms use two channels (ping and pong); sockets use one
//! connection in both directions, as their baselines do.

use shmlane::transport::{self, Connection, Receiver, Sender};

use super::Setup;
use super::ipc_raw::{check_echo, seq_of};
use crate::bench::error::BenchError;
use crate::bench::measure::{Budget, Figures, RttStats, STOP, rtt};
use crate::bench::runner::run_pair;

/// Message sizes the transport cases (and their baselines) send, in bytes:
/// each carries its sequence number in the first 8. The figure is
/// the 64 B round trip; the cases can send any size from 8 up, but the
/// registry keeps the default run short.
pub const SIZES: &[usize] = &[64];

/// The parent's ends (out, back) and the child's (back, out).
struct RoundTrip {
    tx: Box<dyn Sender>,
    rx: Box<dyn Receiver>,
    peer_tx: Box<dyn Sender>,
    peer_rx: Box<dyn Receiver>,
}

/// One process's ends of a round trip: (out, back).
type Ends = (Box<dyn Sender>, Box<dyn Receiver>);

/// The round trip over ends made before the peers start.
fn transport_rtt(setup: &Setup, ends: RoundTrip) -> Result<Figures, BenchError> {
    let RoundTrip {
        tx,
        rx,
        peer_tx,
        peer_rx,
    } = ends;
    rtt_of(setup, move || Ok((peer_tx, peer_rx)), move || Ok((tx, rx))).map(Figures::Rtt)
}

/// The round trip: the parent sends message `seq` and waits for its echo;
/// the child echoes until STOP. Each side's ends come from its opener,
/// called once the peers run (a Zenoh session cannot cross a fork).
fn rtt_of(
    setup: &Setup,
    peer_ends: impl FnOnce() -> Result<Ends, BenchError> + Send,
    my_ends: impl FnOnce() -> Result<Ends, BenchError>,
) -> Result<RttStats, BenchError> {
    let (size, secs) = (setup.size, setup.secs);
    run_pair(
        setup.peers,
        setup.cores,
        move |_watch| {
            let (mut peer_tx, mut peer_rx) = peer_ends()?;
            let mut buf = Vec::with_capacity(size);
            loop {
                peer_rx.recv(&mut buf).map_err(BenchError::lib)?;
                if seq_of(&buf) == STOP {
                    return Ok(());
                }
                peer_tx.send(&buf).map_err(BenchError::lib)?;
            }
        },
        move |_watch| {
            let (mut tx, mut rx) = my_ends()?;
            let mut msg = vec![0u8; size];
            let mut buf = Vec::with_capacity(size);
            let stats = rtt(
                Budget::rtt_warmup(secs),
                Budget::rtt_measure(secs),
                |seq: u64| {
                    msg[..8].copy_from_slice(&seq.to_le_bytes());
                    tx.send(&msg).map_err(BenchError::lib)?;
                    rx.recv(&mut buf).map_err(BenchError::lib)?;
                    check_echo(seq, &buf, size)
                },
            )?;
            msg[..8].copy_from_slice(&STOP.to_le_bytes());
            tx.send(&msg).map_err(BenchError::lib)?;
            Ok(stats)
        },
    )
}

/// Two one-way channels, `url(tag)` each: ping (parent to child) and pong.
fn two_channels(url: impl Fn(&str) -> String) -> Result<RoundTrip, BenchError> {
    let (tx, peer_rx) = transport::pair(&url("ping")).map_err(BenchError::lib)?;
    let (peer_tx, rx) = transport::pair(&url("pong")).map_err(BenchError::lib)?;
    Ok(RoundTrip {
        tx,
        rx,
        peer_tx,
        peer_rx,
    })
}

/// One connection, both directions: the parent connects, the child is the
/// accepted side.
fn one_connection(url: &str, size: usize) -> Result<RoundTrip, BenchError> {
    let mut listener = transport::listen(url).map_err(BenchError::lib)?;
    let at = format!("{}?max={size}", listener.url());
    let Connection {
        sender: tx,
        receiver: rx,
    } = transport::connect(&at).map_err(BenchError::lib)?;
    let Connection {
        sender: peer_tx,
        receiver: peer_rx,
    } = listener.accept().map_err(BenchError::lib)?;
    Ok(RoundTrip {
        tx,
        rx,
        peer_tx,
        peer_rx,
    })
}

/// A name unique to this run and `tag`.
fn name(tag: &str) -> String {
    format!("shmlane-bench-{}-{tag}", std::process::id())
}

fn temp(tag: &str) -> String {
    std::env::temp_dir().join(name(tag)).display().to_string()
}

/// `pipe-rtt`.
pub fn case_pipe(setup: &Setup) -> Result<Figures, BenchError> {
    let size = setup.size;
    transport_rtt(setup, two_channels(|_| format!("pipe:?max={size}"))?)
}

/// `fifo-rtt`.
pub fn case_fifo(setup: &Setup) -> Result<Figures, BenchError> {
    let size = setup.size;
    let ends = two_channels(|tag| format!("fifo://{}?max={size}", temp(tag)))?;
    transport_rtt(setup, ends)
}

/// `mq-rtt`.
pub fn case_mq(setup: &Setup) -> Result<Figures, BenchError> {
    let size = setup.size;
    let ends = two_channels(|tag| format!("mq:///{}?max={size}&capacity=4", name(tag)))?;
    transport_rtt(setup, ends)
}

/// `sysvmq-rtt`.
pub fn case_sysvmq(setup: &Setup) -> Result<Figures, BenchError> {
    let size = setup.size;
    // Keys of this process; a stale queue of an earlier run is replaced.
    let key = |tag: &str| {
        let pid = std::process::id() & 0xf_ffff;
        0x5342_0000_u32.wrapping_add(pid << 1 | u32::from(tag == "pong")) as i32
    };
    let keys = [key("ping"), key("pong")];
    for k in keys {
        let _ = transport::sysv_mq::remove(k);
    }
    let _remove = RemoveKeys(keys);
    let ends = two_channels(|tag| format!("sysvmq://{}?max={size}", key(tag)))?;
    transport_rtt(setup, ends)
}

/// Removes the System V queues of a case when it ends: one of them was
/// used only by the child, which exits without dropping its end.
struct RemoveKeys([i32; 2]);

impl Drop for RemoveKeys {
    fn drop(&mut self) {
        for key in self.0 {
            let _ = transport::sysv_mq::remove(key);
        }
    }
}

/// `unix-rtt`.
pub fn case_unix(setup: &Setup) -> Result<Figures, BenchError> {
    let url = format!("unix://{}.sock?max={}", temp("unix"), setup.size);
    transport_rtt(setup, one_connection(&url, setup.size)?)
}

/// `seqpacket-rtt`.
pub fn case_seqpacket(setup: &Setup) -> Result<Figures, BenchError> {
    let url = format!("unix+seqpacket://{}.sock?max={}", temp("seq"), setup.size);
    transport_rtt(setup, one_connection(&url, setup.size)?)
}

/// `shm-rtt`: the byte ring through the transport API, blocking calls
/// (the default wait strategy: a brief spin, then the futex).
pub fn case_shm(setup: &Setup) -> Result<Figures, BenchError> {
    let size = setup.size;
    let ends = two_channels(|tag| format!("shm://{}?max={size}", name(tag)))?;
    transport_rtt(setup, ends)
}

/// `tcp-rtt`.
pub fn case_tcp(setup: &Setup) -> Result<Figures, BenchError> {
    let url = format!("tcp://127.0.0.1:0?max={}", setup.size);
    transport_rtt(setup, one_connection(&url, setup.size)?)
}

/// `zenoh-rtt`: a Zenoh publication each way (ping and pong keys) between
/// two processes over loopback TCP, one session per end. Each process
/// opens its receiver first (its session listens), then its sender (which
/// connects to the other's and waits for its subscriber). Run in a process
/// of its own (`runner::isolated`): Zenoh's runtime threads outlive its sessions.
#[cfg(feature = "zenoh")]
pub fn case_zenoh(setup: &Setup) -> Result<Figures, BenchError> {
    let setup = *setup;
    crate::bench::runner::isolated(move || {
        // Two free ports: both listeners held until both are known, so the
        // two differ; each is free again for its session to listen on.
        let free = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .map_err(|e| BenchError::Lib(format!("a free loopback port: {e}")))
        };
        let (ping_port, pong_port) = (free()?, free()?);
        let at = |listener: std::net::TcpListener| -> Result<String, BenchError> {
            let port = listener
                .local_addr()
                .map_err(|e| BenchError::Lib(format!("a free loopback port: {e}")))?
                .port();
            Ok(format!("tcp/127.0.0.1:{port}"))
        };
        let (ping_at, pong_at) = (at(ping_port)?, at(pong_port)?);
        let size = setup.size;
        let key = |tag: &str| format!("shmlane-bench/{}/{tag}", std::process::id());
        let (ping, pong) = (key("ping"), key("pong"));
        let open = move |rx_key: String, rx_at: String, tx_key: String, tx_at: String| {
            move || -> Result<Ends, BenchError> {
                let rx =
                    transport::receiver(&format!("zenoh://{rx_key}?max={size}&listen={rx_at}"))
                        .map_err(BenchError::lib)?;
                let tx = transport::sender(&format!(
                    "zenoh://{tx_key}?max={size}&connect={tx_at}&timeout_ms=10000"
                ))
                .map_err(BenchError::lib)?;
                Ok((tx, rx))
            }
        };
        rtt_of(
            &setup,
            open(ping.clone(), ping_at.clone(), pong.clone(), pong_at.clone()),
            open(pong, pong_at, ping, ping_at),
        )
    })
    .map(Figures::Rtt)
}
