//! The async ends of the transports (cargo feature `tokio`):
//! `transport::async_sender` / `async_receiver` over every mechanism that
//! waits differently (a ring's wake word, a descriptor in tokio's epoll, a
//! polled System V queue), each message whole and in order, the end of
//! the stream, and a dropped receive that loses nothing.
#![cfg(all(feature = "tokio", not(any(miri, shmlane_loom))))]

mod common;
mod transport_support;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use common::{ShmName, Watchdog};
use futures_core::Stream;
use shmlane::transport::{self, ConnectError, RecvError};
use transport_support::{QueueName, SysvKey, TempPath};

const LIMIT: Duration = Duration::from_secs(60);
const COUNT: u64 = 1_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Message `seq`: its number and a length that varies (up to 1 KiB).
fn message(seq: u64) -> Vec<u8> {
    let len = 8 + (seq * 131 % 1000) as usize;
    let mut msg: Vec<u8> = seq.to_le_bytes().into_iter().collect();
    msg.extend((8..len).map(|i| (seq as usize + i) as u8));
    msg
}

/// A sender task and a receiver task on one current-thread runtime: the
/// receiver opens first (it listens or creates), the sender's open waits
/// for it; `COUNT` messages, then the end of the stream.
fn stream_through(rx_url: &str, tx_url: &str) {
    runtime().block_on(async {
        let receiving = async {
            let mut rx = transport::async_receiver(rx_url).await.unwrap();
            let mut buf = Vec::new();
            for seq in 0..COUNT {
                let len = rx.recv(&mut buf).await.unwrap();
                assert_eq!(len, buf.len());
                assert_eq!(buf, message(seq), "{rx_url}: message {seq}");
            }
            let end = rx.recv(&mut buf).await;
            assert!(
                matches!(end, Err(RecvError::Disconnected { .. })),
                "{rx_url}: {end:?}"
            );
        };
        let sending = async {
            let mut tx = transport::async_sender(tx_url).await.unwrap();
            for seq in 0..COUNT {
                tx.send(&message(seq)).await.unwrap();
            }
            tx.close().await.unwrap();
        };
        tokio::join!(receiving, sending);
    });
}

#[test]
fn shm_waits_on_the_ring() {
    let _dog = Watchdog::new("async shm://", LIMIT);
    let name = ShmName::new("async-shm");
    // A small ring: the sender waits for room many times.
    let url = format!("shm://{}?capacity=8192&max=2048", name.as_str());
    stream_through(&url, &url);
}

#[test]
fn sockets_wait_in_tokios_epoll() {
    let _dog = Watchdog::new("async sockets", LIMIT);
    for scheme in ["unix", "unix+seqpacket"] {
        let path = TempPath::new("async-sock");
        let url = path.url(scheme);
        stream_through(&url, &format!("{url}?timeout_ms=10000"));
    }
    // TCP: the receiver listens on a port picked beforehand.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let url = format!("tcp://127.0.0.1:{port}");
    stream_through(&url, &format!("{url}?timeout_ms=10000"));
}

#[test]
fn a_fifo_and_a_posix_queue_wait_in_tokios_epoll() {
    let _dog = Watchdog::new("async fifo and mq", LIMIT);
    let path = TempPath::new("async-fifo");
    let url = path.url("fifo");
    stream_through(&url, &url);
    let queue = QueueName::new("async-mq");
    let url = format!("mq://{}?max=1024&capacity=8", queue.0);
    stream_through(&url, &url);
}

#[test]
fn a_system_v_queue_is_polled() {
    let _dog = Watchdog::new("async sysvmq", LIMIT);
    let key = SysvKey::new();
    let url = format!("sysvmq://{}?max=1024", key.0);
    stream_through(&url, &url);
}

/// Polls `future` once with a waker that does nothing.
fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn a_dropped_receive_loses_nothing_and_the_stream_ends_with_the_sender() {
    let _dog = Watchdog::new("async cancel", LIMIT);
    let path = TempPath::new("async-cancel");
    let url = path.url("unix");
    let tx_url = format!("{url}?timeout_ms=10000");
    runtime().block_on(async {
        let (rx, tx) = tokio::join!(
            transport::async_receiver(&url),
            transport::async_sender(&tx_url)
        );
        let (mut rx, mut tx) = (rx.unwrap(), tx.unwrap());
        let mut buf = Vec::new();
        {
            // Nothing sent yet: the receive waits, and is dropped.
            let mut waiting = Box::pin(rx.recv(&mut buf));
            assert!(poll_once(&mut waiting).is_pending());
        }
        tx.send(b"kept").await.unwrap();
        tx.send(b"and the next").await.unwrap();
        tx.close().await.unwrap();
        let mut got = Vec::new();
        let mut stream = std::pin::pin!(rx);
        while let Some(msg) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
            got.push(msg.unwrap());
        }
        assert_eq!(got, [b"kept".to_vec(), b"and the next".to_vec()]);
    });
}

/// `zenoh://` has no async end (Zenoh's engine panics when blocked inside
/// a current-thread runtime): opening one says so, in a typed error, on
/// any build.
#[test]
fn zenoh_has_no_async_end_and_says_so() {
    runtime().block_on(async {
        for opened in [
            transport::async_sender("zenoh://shmlane-test/async")
                .await
                .map(|_| ()),
            transport::async_receiver("zenoh://shmlane-test/async")
                .await
                .map(|_| ()),
        ] {
            match opened {
                Err(ConnectError::Unsupported { reason, .. }) => {
                    assert!(reason.contains("zenoh://"), "{reason}")
                }
                other => panic!("expected Unsupported, got {other:?}"),
            }
        }
    });
}
