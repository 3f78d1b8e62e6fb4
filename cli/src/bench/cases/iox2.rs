//! `iceoryx2-rtt` and `iceoryx2-tput` (cargo feature `iceoryx2`): the peer
//! a user would pick instead of shmlane, measured by the same harnesses,
//! pinning and probes as `spsc-rtt` and `spsc-tput`.
//!
//! Publish-subscribe of a `u64` between two processes over iceoryx2's
//! `ipc` services, both sides busy polling (`send_copy` / `receive`). Each
//! process makes its own node and ports after the fork, inside its closure,
//! so each drops them (and iceoryx2 cleans up) before the process ends.
//! The services are named after this process and a counter, so runs and
//! re-runs never meet.
//!
//! A subscriber sees only what was sent after it connected (no history),
//! so the rtt case first says hello until the echo comes back; the
//! throughput case's service keeps every sample (no safe overflow, a
//! blocking publisher) so that the consumer can check the sequence.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::prelude::*;

use super::Setup;
use crate::bench::error::BenchError;
use crate::bench::measure::{
    Budget, Figures, STOP, StreamRx, StreamTx, check_seq, rtt, tput_consumer, tput_producer,
};
use crate::bench::runner::run_pair;
use crate::bench::shared::SharedPage;
use crate::bench::spin::Watch;

/// The handshake value of the rtt case (never a sequence number).
const HELLO: u64 = u64::MAX - 1;
/// Samples the throughput service buffers per subscriber (the ring
/// capacity of the shmlane cases).
const TPUT_BUFFER: usize = super::CAPACITY;

type Pub = Publisher<ipc::Service, u64, ()>;
type Sub = Subscriber<ipc::Service, u64, ()>;

/// `shmlane-bench/<pid>/<n>/<what>`, the same in parent and child (made
/// before the fork).
fn service_name(what: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("shmlane-bench/{}/{n}/{what}", std::process::id())
}

fn node() -> Result<Node<ipc::Service>, BenchError> {
    // Its warnings (no config file: the defaults apply) are not the
    // bench's output; errors still print.
    set_log_level(LogLevel::Error);
    NodeBuilder::new()
        // The bench's own signals stay the bench's.
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<ipc::Service>()
        .map_err(BenchError::lib)
}

/// The ports of one process: a publisher on `out`, a subscriber on `back`.
struct Ports {
    publisher: Pub,
    subscriber: Sub,
    // Declared last: dropped after the ports that use it.
    _node: Node<ipc::Service>,
}

fn ports(out: &str, back: &str, lossless: bool) -> Result<Ports, BenchError> {
    let node = node()?;
    let service = |name: &str| {
        let name = ServiceName::new(name).map_err(BenchError::lib)?;
        let builder = node.service_builder(&name).publish_subscribe::<u64>();
        let builder = if lossless {
            builder
                .enable_safe_overflow(false)
                .subscriber_max_buffer_size(TPUT_BUFFER)
        } else {
            builder
        };
        builder.open_or_create().map_err(BenchError::lib)
    };
    let (out_service, back_service) = (service(out)?, service(back)?);
    let publisher = if lossless {
        out_service
            .publisher_builder()
            .unable_to_deliver_strategy(UnableToDeliverStrategy::Block)
            .create()
    } else {
        out_service.publisher_builder().create()
    }
    .map_err(BenchError::lib)?;
    let subscriber = if lossless {
        back_service
            .subscriber_builder()
            .buffer_size(TPUT_BUFFER)
            .create()
    } else {
        back_service.subscriber_builder().create()
    }
    .map_err(BenchError::lib)?;
    Ok(Ports {
        publisher,
        subscriber,
        _node: node,
    })
}

fn send(publisher: &Pub, v: u64) -> Result<(), BenchError> {
    publisher.send_copy(v).map(drop).map_err(BenchError::lib)
}

fn try_receive(subscriber: &Sub) -> Result<Option<u64>, BenchError> {
    Ok(subscriber.receive().map_err(BenchError::lib)?.map(|s| *s))
}

/// Sends HELLO until its echo comes back: both subscribers are connected.
fn handshake(ports: &Ports, watch: &Watch<'_>) -> Result<(), BenchError> {
    watch.until("waiting for the iceoryx2 peer to connect", || {
        send(&ports.publisher, HELLO)?;
        let deadline = Instant::now() + Duration::from_micros(200);
        while Instant::now() < deadline {
            if try_receive(&ports.subscriber)? == Some(HELLO) {
                return Ok(Some(()));
            }
        }
        Ok(None)
    })
}

/// `iceoryx2-rtt`: a u64 out on one service and back on another.
pub fn case_rtt(setup: &Setup) -> Result<Figures, BenchError> {
    let (ping, pong) = (service_name("ping"), service_name("pong"));
    let secs = setup.secs;
    let (ping_peer, pong_peer) = (ping.clone(), pong.clone());
    let stats = run_pair(
        setup.peers,
        setup.cores,
        move |watch| {
            let ports = ports(&pong_peer, &ping_peer, false)?;
            loop {
                let v = watch.until("waiting for a ping", || try_receive(&ports.subscriber))?;
                if v == STOP {
                    return Ok(());
                }
                send(&ports.publisher, v)?;
            }
        },
        move |watch| {
            let ports = ports(&ping, &pong, false)?;
            handshake(&ports, &watch)?;
            let stats = rtt(Budget::rtt_warmup(secs), Budget::rtt_measure(secs), |k| {
                send(&ports.publisher, k)?;
                loop {
                    // Echoes of surplus hellos may still arrive first.
                    match watch.until("waiting for the pong", || try_receive(&ports.subscriber))? {
                        HELLO => {}
                        v if v == k => return Ok(()),
                        got => return Err(BenchError::Mismatch { expected: k, got }),
                    }
                }
            })?;
            send(&ports.publisher, STOP)?;
            Ok(stats)
        },
    )?;
    Ok(Figures::Rtt(stats))
}

/// The producer end of the throughput case.
struct IoxTx(Ports);

impl StreamTx for IoxTx {
    fn send(&mut self, from: u64, count: u64, _watch: &Watch<'_>) -> Result<(), BenchError> {
        // The publisher blocks while the subscriber's buffer is full.
        for v in from..from + count {
            send(&self.0.publisher, v)?;
        }
        Ok(())
    }

    fn send_stop(&mut self, _watch: &Watch<'_>) -> Result<(), BenchError> {
        send(&self.0.publisher, STOP)
    }
}

/// The consumer end of the throughput case, with the first sample if the
/// handshake received it.
struct IoxRx {
    ports: Ports,
    pending: Option<u64>,
}

impl StreamRx for IoxRx {
    fn recv_rep(&mut self, watch: &Watch<'_>) -> Result<u64, BenchError> {
        let mut next = 0;
        loop {
            let v = match self.pending.take() {
                Some(v) => v,
                None => watch.until("waiting for a sample", || {
                    try_receive(&self.ports.subscriber)
                })?,
            };
            if check_seq(&[v], &mut next)?.1 {
                return Ok(next);
            }
        }
    }
}

/// `iceoryx2-tput`: a one-way stream of u64 samples, none lost.
pub fn case_tput(setup: &Setup) -> Result<Figures, BenchError> {
    let (data, reverse) = (service_name("data"), service_name("reverse"));
    let page = SharedPage::new()?;
    let page = &page;
    let secs = setup.secs;
    let (data_peer, reverse_peer) = (data.clone(), reverse.clone());
    let stats = run_pair(
        setup.peers,
        setup.cores,
        move |watch| {
            let ports = ports(&reverse_peer, &data_peer, true)?;
            // Hello on the reverse service until the first sample comes:
            // the producer starts streaming once a hello reaches it.
            let first = watch.until("waiting for the iceoryx2 producer", || {
                send(&ports.publisher, HELLO)?;
                let deadline = Instant::now() + Duration::from_micros(200);
                while Instant::now() < deadline {
                    if let Some(v) = try_receive(&ports.subscriber)? {
                        return Ok(Some(v));
                    }
                }
                Ok(None)
            })?;
            let mut rx = IoxRx {
                ports,
                pending: Some(first),
            };
            tput_consumer(&mut rx, page, &watch)
        },
        move |watch| {
            let ports = ports(&data, &reverse, true)?;
            watch.until("waiting for the iceoryx2 consumer", || {
                Ok((try_receive(&ports.subscriber)? == Some(HELLO)).then_some(()))
            })?;
            tput_producer(secs, &mut IoxTx(ports), page, &watch)
        },
    )?;
    Ok(Figures::Tput(stats))
}
