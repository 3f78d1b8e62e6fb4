//! The async endpoints (cargo feature `tokio`): round trips between
//! processes, cancellation (a dropped receive loses nothing, a dropped send
//! hands its value back), a peer dropped while a task waits, a runtime shut
//! down mid-call, and an idle endpoint that leaves the waiter thread
//! blocked in futex_waitv instead of polling.
#![cfg(all(feature = "tokio", not(any(miri, shmlane_loom))))]
#![allow(
    clippy::disallowed_methods,
    reason = "the peers dropped while a task waits run on test threads, not ring code"
)]

mod common;

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use common::{
    ShmName, Watchdog, fork_child, put_u64, raw_mapping, thread_named, thread_syscall, wait_until,
};
use futures_core::Stream;
use futures_sink::Sink;
use shmlane::aio::{self, PollRecv};
use shmlane::{GrantError, Options, PopError, PushError, bytes, mpmc, spsc};

const LIMIT: Duration = Duration::from_secs(60);
const ROUNDS: u64 = 2_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn opts() -> Options {
    Options::new().capacity(64)
}

/// Polls `future` once with a waker that does nothing.
fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
}

/// Polls `future` until it parks: once, and again past the yield window
/// (the first poll that finds nothing re-polls through the executor for a
/// few tens of microseconds before it registers with the waiter thread).
fn park<F: Future + Unpin>(future: &mut F) {
    assert!(poll_once(future).is_pending());
    std::thread::sleep(Duration::from_millis(1));
    assert!(poll_once(future).is_pending());
}

/// The waiter thread's id, once it runs (a new thread takes its name a
/// moment after it starts).
fn waiter_thread() -> nix::unistd::Pid {
    let mut found = None;
    wait_until("the waiter thread", LIMIT, || {
        found = thread_named(aio::THREAD_NAME);
        found.is_some()
    });
    found.expect("found above")
}

#[test]
fn an_async_service_answers_a_blocking_client_in_another_process() {
    let _watchdog = Watchdog::new("async service round trips", LIMIT);
    let (requests, replies) = (ShmName::new("aio-req"), ShmName::new("aio-rep"));
    let rx = spsc::Consumer::<u64>::create(requests.as_str(), &opts()).unwrap();
    let tx = spsc::Producer::<u64>::create(replies.as_str(), &opts()).unwrap();
    let client = fork_child(|| {
        let mut tx = spsc::Producer::<u64>::open(requests.as_str(), &opts()).unwrap();
        let mut rx = spsc::Consumer::<u64>::open(replies.as_str(), &opts()).unwrap();
        for n in 0..ROUNDS {
            tx.send(n).unwrap();
            assert_eq!(rx.recv().unwrap(), n * 2);
        }
        0
    });
    runtime().block_on(async {
        let (mut rx, mut tx) = (rx.into_async(), tx.into_async());
        for n in 0..ROUNDS {
            let request = rx.recv().await.unwrap();
            assert_eq!(request, n);
            tx.send(request * 2).await.unwrap();
        }
        // The client detaches: the service's next receive says so.
        assert_eq!(rx.recv().await, Err(PopError::Disconnected));
    });
    assert_eq!(client.wait(LIMIT), 0);
}

#[test]
fn a_blocking_service_answers_an_async_client_in_another_process() {
    let _watchdog = Watchdog::new("async client round trips", LIMIT);
    let (requests, replies) = (ShmName::new("aio-req"), ShmName::new("aio-rep"));
    let tx = bytes::Producer::create(requests.as_str(), &Options::new().capacity(4096)).unwrap();
    let rx = mpmc::Receiver::<u64>::create(replies.as_str(), &opts()).unwrap();
    let service = fork_child(|| {
        let mut rx =
            bytes::Consumer::open(requests.as_str(), &Options::new().capacity(4096)).unwrap();
        let mut tx = mpmc::Sender::<u64>::open(replies.as_str(), &opts()).unwrap();
        let mut frame = Vec::new();
        while let Ok(len) = rx.recv(&mut frame) {
            tx.send(len as u64 + u64::from(frame[0])).unwrap();
        }
        0
    });
    let (mut tx, mut rx) = (aio::bytes::AsyncProducer::new(tx), rx.into_async());
    runtime().block_on(async {
        for n in 0..ROUNDS {
            let frame = vec![(n % 200) as u8; 1 + (n % 300) as usize];
            tx.send(&frame).await.unwrap();
            assert_eq!(rx.recv().await.unwrap(), frame.len() as u64 + n % 200);
        }
    });
    drop(tx); // the service's receive ends
    assert_eq!(service.wait(LIMIT), 0);
    drop(rx);
}

#[test]
fn a_dropped_recv_future_loses_no_item() {
    let _watchdog = Watchdog::new("dropped recv", LIMIT);
    let (mut tx, rx) = spsc::pair::<u64>(&opts()).unwrap();
    let mut rx = rx.into_async();
    // Parked: the future registered with the waiter thread.
    for _ in 0..3 {
        park(&mut rx.recv());
    }
    let mut recv = rx.recv();
    park(&mut recv);
    tx.push(7).unwrap(); // arrives while the future is parked ...
    drop(recv); // ... which is dropped before it takes it
    runtime().block_on(async {
        assert_eq!(rx.recv().await, Ok(7));
    });
    let mut rx = rx.into_inner();
    assert_eq!(rx.pop(), Err(PopError::Empty));
}

#[test]
fn a_dropped_send_future_sent_its_value_or_hands_it_back() {
    let _watchdog = Watchdog::new("dropped send", LIMIT);
    let (tx, mut rx) = spsc::pair::<u64>(&Options::new().capacity(2)).unwrap();
    let mut tx = tx.into_async();
    runtime().block_on(async {
        tx.send(1).await.unwrap();
        tx.send(2).await.unwrap();
    });
    let mut send = tx.send(3);
    park(&mut send); // the ring is full
    assert_eq!(send.take_back(), Some(3), "not sent: handed back");
    drop(send);
    assert_eq!(
        (rx.pop(), rx.pop(), rx.pop()),
        (Ok(1), Ok(2), Err(PopError::Empty))
    );
    let mut send = tx.send(4);
    assert_eq!(poll_once(&mut send), Poll::Ready(Ok(())));
    assert_eq!(send.take_back(), None, "sent: nothing to hand back");
    drop(send);
    assert_eq!(rx.pop(), Ok(4));
}

#[test]
fn a_peer_dropped_while_a_task_waits_ends_the_wait() {
    let _watchdog = Watchdog::new("peer dropped while waiting", LIMIT);
    let (tx, rx) = mpmc::pair::<u64>(&Options::new().capacity(2)).unwrap();
    let (mut tx, mut rx) = (tx.into_async(), rx.into_async());
    runtime().block_on(async {
        // Both ends in use first (an end never used detaches nothing).
        tx.send(1).await.unwrap();
        assert_eq!(rx.recv().await, Ok(1));
        let dropper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            drop(tx);
        });
        assert_eq!(rx.recv().await, Err(PopError::Disconnected));
        dropper.join().unwrap();
    });
    let (tx, rx) = spsc::pair::<u64>(&Options::new().capacity(2)).unwrap();
    let (mut tx, mut rx) = (tx.into_async(), rx.into_async());
    runtime().block_on(async {
        tx.send(1).await.unwrap();
        assert_eq!(rx.recv().await, Ok(1));
        tx.send(2).await.unwrap();
        tx.send(3).await.unwrap();
        let dropper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            drop(rx);
        });
        assert_eq!(tx.send(4).await, Err(PushError::Disconnected(4)));
        dropper.join().unwrap();
    });
}

#[test]
fn a_runtime_shut_down_mid_call_leaves_no_sleeper_behind() {
    let _watchdog = Watchdog::new("runtime shut down", LIMIT);
    // Parks at the first poll: a parked task with a quiet live peer is not
    // polled again until something happens.
    let opts = opts().wait_strategy(shmlane::WaitStrategy::Park);
    let (mut tx, rx) = spsc::pair::<u64>(&opts).unwrap();
    let runtime = runtime();
    let (parked_tx, parked_rx) = std::sync::mpsc::channel();
    // Outlives the runtime, so that the ring's consumer is still attached
    // when the test publishes after the shutdown.
    let rx: &'static mut aio::spsc::AsyncConsumer<u64> = Box::leak(Box::new(rx.into_async()));
    let task = runtime.spawn(async move {
        let mut recv = rx.recv();
        // Tell the test once a poll returned Pending: with `Park`, that
        // poll parked (registered with the waiter thread).
        poll_fn(|cx| {
            let polled = Pin::new(&mut recv).poll(cx);
            if polled.is_pending() {
                let _ = parked_tx.send(());
            }
            polled
        })
        .await
    });
    runtime.block_on(async {
        while parked_rx.try_recv().is_err() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    assert!(!task.is_finished());
    drop(runtime); // drops the task and its future: no panic
    let before = tx.stats().wake_syscalls;
    tx.push(1).unwrap_or_else(|e| panic!("push: {e}"));
    assert_eq!(
        tx.stats().wake_syscalls,
        before,
        "the dropped task withdrew its announcement: no wake syscall"
    );
}

#[test]
fn an_idle_async_consumer_leaves_the_waiter_thread_blocked_in_futex_waitv() {
    let _watchdog = Watchdog::new("idle async consumer", LIMIT);
    let (mut tx, rx) = spsc::pair::<u64>(&opts()).unwrap();
    let mut rx = rx.into_async();
    let mut recv = rx.recv();
    park(&mut recv);
    let waiter = waiter_thread();
    // Blocked in futex_waitv (not polling): it stays there until a tick or
    // a wake, and a publisher sees the announced sleeper.
    wait_until("waiter thread in futex_waitv", LIMIT, || {
        thread_syscall(waiter) == Some(libc::SYS_futex_waitv)
    });
    let before = tx.stats().wake_syscalls;
    tx.push(5).unwrap_or_else(|e| panic!("push: {e}"));
    assert_eq!(
        tx.stats().wake_syscalls,
        before + 1,
        "the parked consumer is woken"
    );
    runtime().block_on(async { assert_eq!((&mut recv).await, Ok(5)) });
    drop(recv);
    // Awake (not parked), the consumer costs the publisher no syscall.
    let before = tx.stats().wake_syscalls;
    for n in 0..10 {
        tx.push(n).unwrap_or_else(|e| panic!("push: {e}"));
        assert_eq!(poll_once(&mut rx.recv()), Poll::Ready(Ok(n)));
    }
    assert_eq!(tx.stats().wake_syscalls, before);
}

#[test]
fn streams_and_sinks_move_every_item_in_order() {
    let _watchdog = Watchdog::new("stream and sink", LIMIT);
    let (tx, rx) = spsc::pair::<u64>(&Options::new().capacity(8)).unwrap();
    let (mut tx, mut rx) = (tx.into_async(), rx.into_async());
    let (btx, brx) = bytes::pair(&Options::new().capacity(256)).unwrap();
    let (mut btx, mut brx) = (btx.into_async(), brx.into_async());
    runtime().block_on(async {
        let producer = async {
            for n in 0..1000u64 {
                poll_fn(|cx| Pin::new(&mut tx).poll_ready(cx))
                    .await
                    .unwrap();
                Pin::new(&mut tx).start_send(n).unwrap();
                poll_fn(|cx| Pin::new(&mut btx).poll_ready(cx))
                    .await
                    .unwrap();
                Pin::new(&mut btx)
                    .start_send(n.to_le_bytes().to_vec())
                    .unwrap();
            }
            poll_fn(|cx| Pin::new(&mut tx).poll_close(cx))
                .await
                .unwrap();
            poll_fn(|cx| Pin::new(&mut btx).poll_close(cx))
                .await
                .unwrap();
            drop((tx, btx));
        };
        let consumer = async {
            let mut next = 0u64;
            while let Some(item) = poll_fn(|cx| Pin::new(&mut rx).poll_next(cx)).await {
                assert_eq!(item, Ok(next));
                let frame = poll_fn(|cx| Pin::new(&mut brx).poll_next(cx))
                    .await
                    .unwrap();
                assert_eq!(frame, Ok(next.to_le_bytes().to_vec()));
                next += 1;
            }
            assert_eq!(next, 1000);
            assert!(poll_fn(|cx| brx.poll_recv(cx)).await == Err(PopError::Disconnected));
        };
        tokio::join!(producer, consumer);
    });
}

#[test]
fn a_byte_ring_that_fails_when_full_fails_an_async_send_at_once() {
    let opts = Options::new()
        .capacity(64)
        .overflow(shmlane::Overflow::Fail);
    let (tx, _rx) = bytes::pair(&opts).unwrap();
    let mut tx = tx.into_async();
    runtime().block_on(async {
        tx.send([1u8; 24]).await.unwrap();
        tx.send([2u8; 24]).await.unwrap();
        assert_eq!(tx.send(b"x").await, Err(GrantError::Full));
    });
}

#[test]
fn the_waiter_thread_lives_only_while_async_endpoints_do() {
    let _watchdog = Watchdog::new("waiter thread lifecycle", LIMIT);
    // In a forked child: one thread, and no other test's endpoints.
    let child = fork_child(|| {
        assert_eq!(thread_named(aio::THREAD_NAME), None, "none before use");
        let (tx, rx) = spsc::pair::<u64>(&opts()).unwrap();
        let (tx, mut rx) = (tx.into_async(), rx.into_async());
        park(&mut rx.recv());
        let waiter = waiter_thread(); // started by the park
        let tx = tx.into_inner();
        assert_eq!(thread_named(aio::THREAD_NAME), Some(waiter), "rx lives");
        let rx = rx.into_inner(); // the last async endpoint goes: joined
        // (its /proc entry may outlive the join by a moment)
        wait_until("waiter thread gone", LIMIT, || {
            thread_named(aio::THREAD_NAME).is_none()
        });
        let mut rx = rx.into_async();
        park(&mut rx.recv());
        waiter_thread(); // started again
        drop((tx, rx));
        0
    });
    assert_eq!(child.wait(LIMIT), 0);
}

#[test]
fn a_parked_task_learns_of_a_killed_peer_within_its_liveness_ticks() {
    let _watchdog = Watchdog::new("killed peer", LIMIT);
    let name = ShmName::new("aio-killed");
    let rx = spsc::Consumer::<u64>::create(name.as_str(), &opts()).unwrap();
    let producer = fork_child(|| {
        let mut tx = spsc::Producer::<u64>::open(name.as_str(), &opts()).unwrap();
        tx.push(1).unwrap();
        loop {
            std::thread::sleep(Duration::from_secs(1)); // killed here
        }
    });
    let pid = producer.pid();
    let mut rx = rx.into_async();
    runtime().block_on(async {
        assert_eq!(rx.recv().await, Ok(1));
        // SIGKILL wakes nobody: the parked task finds out at a tick.
        let killer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
        });
        assert_eq!(rx.recv().await, Err(PopError::Disconnected));
        killer.join().unwrap();
    });
    producer.kill(); // reaps it
}

#[test]
fn the_wait_strategy_decides_when_an_operation_parks() {
    let _watchdog = Watchdog::new("wait strategy", LIMIT);
    for (strategy, parks_at_first_poll) in [
        (shmlane::WaitStrategy::Park, true),
        (shmlane::WaitStrategy::SpinThenPark, false),
        (shmlane::WaitStrategy::Spin, false),
    ] {
        let (mut tx, rx) = spsc::pair::<u64>(&opts().wait_strategy(strategy)).unwrap();
        let mut rx = rx.into_async();
        let mut recv = rx.recv();
        assert!(poll_once(&mut recv).is_pending());
        let before = tx.stats().wake_syscalls;
        tx.push(1).unwrap_or_else(|e| panic!("push: {e}"));
        let woke = tx.stats().wake_syscalls - before;
        assert_eq!(woke == 1, parks_at_first_poll, "{strategy:?}");
        assert_eq!(poll_once(&mut recv), Poll::Ready(Ok(1)), "{strategy:?}");
    }
}

/// The switch that makes the waiter thread behave as on a kernel without
/// `futex_waitv` (Linux before 5.16), read when the thread starts.
const NO_FUTEX_WAITV: &str = "SHMLANE_NO_FUTEX_WAITV";

/// Not a test of its own: the body that
/// [`parked_tasks_wake_on_a_kernel_without_futex_waitv`] runs in a child
/// process (this binary again, with [`NO_FUTEX_WAITV`] set), so that the
/// process's waiter thread starts on the fallback path.
#[test]
fn parked_tasks_wake_on_a_kernel_without_futex_waitv_body() {
    if std::env::var_os(NO_FUTEX_WAITV).is_none() {
        return; // run by the test below only
    }
    let _watchdog = Watchdog::new("waiter without futex_waitv", LIMIT);
    let (mut tx, rx) = spsc::pair::<u64>(&opts()).unwrap();
    let mut rx = rx.into_async();
    let mut recv = rx.recv();
    park(&mut recv);
    // Asleep on its own word (a plain futex wait with a short period),
    // never in futex_waitv.
    let waiter = waiter_thread();
    wait_until("waiter thread in a plain futex wait", LIMIT, || {
        thread_syscall(waiter) == Some(libc::SYS_futex)
    });
    assert_eq!(
        shmlane::test_support::async_waiter_without_futex_waitv(),
        Some(true),
        "the waiter thread took the fallback path"
    );
    tx.push(5).unwrap_or_else(|e| panic!("push: {e}"));
    runtime().block_on(async { assert_eq!((&mut recv).await, Ok(5)) });
    drop(recv);
    // A producer that pauses, so the task parks again and again: every
    // item arrives, in order, then the end.
    let producer = std::thread::spawn(move || {
        for n in 0..200u64 {
            if n % 20 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
            tx.send(n).unwrap();
        }
    });
    runtime().block_on(async {
        for n in 0..200u64 {
            assert_eq!(rx.recv().await, Ok(n));
        }
        assert_eq!(rx.recv().await, Err(PopError::Disconnected));
    });
    producer.join().unwrap();
}

/// The waiter thread's fallback for kernels without `futex_waitv`: parked
/// tasks still wake for every item and for the end.
#[test]
fn parked_tasks_wake_on_a_kernel_without_futex_waitv() {
    let _watchdog = Watchdog::new("fallback child", LIMIT);
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "parked_tasks_wake_on_a_kernel_without_futex_waitv_body",
            "--test-threads=1",
        ])
        .env(NO_FUTEX_WAITV, "1")
        .status()
        .unwrap();
    assert!(status.success(), "{status}");
}

/// `send_slice` and `recv_many` (one await per batch): every item, in
/// order, through a ring much smaller than the stream (so batches wrap
/// and wait), then the end.
#[test]
fn batches_move_every_item_in_order_and_the_end() {
    let _watchdog = Watchdog::new("async batches", LIMIT);
    const ITEMS: u64 = 50_000;
    let (tx, rx) = spsc::pair::<u64>(&Options::new().capacity(64)).unwrap();
    let (mut tx, mut rx) = (tx.into_async(), rx.into_async());
    let producer = std::thread::spawn(move || {
        runtime().block_on(async {
            let items: Vec<u64> = (0..ITEMS).collect();
            let mut rest = &items[..];
            while !rest.is_empty() {
                // Odd sizes, so batches straddle the ring's end.
                let take = rest.len().min(97);
                let n = tx.send_slice(&rest[..take]).await.unwrap();
                assert!(n > 0 && n <= take, "{n} of {take}");
                rest = &rest[n..];
            }
            assert_eq!(tx.send_slice(&[]).await, Ok(0));
        });
    });
    runtime().block_on(async {
        let mut got = Vec::new();
        while (got.len() as u64) < ITEMS {
            let before = got.len();
            let n = rx.recv_many(&mut got, 40).await.unwrap();
            assert!(n > 0 && n <= 40 && got.len() == before + n);
        }
        assert!(got.iter().copied().eq(0..ITEMS), "order");
        producer.join().unwrap();
        assert_eq!(
            rx.recv_many(&mut got, 40).await,
            Err(PopError::Disconnected)
        );
    });
}

/// A parked `recv_many` or `send_slice` dropped before it is ready moves
/// nothing and leaves the endpoint usable (cancel safety).
#[test]
fn a_dropped_batch_moves_nothing() {
    let _watchdog = Watchdog::new("dropped batches", LIMIT);
    let (tx, rx) = spsc::pair::<u64>(&Options::new().capacity(4)).unwrap();
    let (mut tx, mut rx) = (tx.into_async(), rx.into_async());
    let mut got = Vec::new();
    {
        let mut parked = rx.recv_many(&mut got, 8);
        assert!(poll_once(&mut parked).is_pending());
    }
    assert!(got.is_empty());
    // Fill the ring, then park a send of more.
    assert_eq!(
        poll_once(&mut tx.send_slice(&[1, 2, 3, 4])),
        Poll::Ready(Ok(4))
    );
    {
        let mut parked = tx.send_slice(&[5, 6]);
        assert!(poll_once(&mut parked).is_pending());
    }
    runtime().block_on(async {
        assert_eq!(rx.recv_many(&mut got, 8).await, Ok(4));
        assert_eq!(got, [1, 2, 3, 4]);
        // The dropped send put nothing in; the ring is empty.
        assert_eq!(poll_once(&mut rx.recv()), Poll::Pending);
        assert_eq!(tx.send_slice(&[5, 6]).await, Ok(2));
        got.clear();
        assert_eq!(rx.recv_many(&mut got, 8).await, Ok(2));
        assert_eq!(got, [5, 6]);
    });
}

/// A waker that counts its wakes (a test's own counter, nothing for loom
/// to model).
#[allow(
    clippy::disallowed_types,
    reason = "a test's wake counter, not ring code"
)]
struct CountingWaker(std::sync::atomic::AtomicUsize);

impl std::task::Wake for CountingWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Polls `future` once with a waker that counts its wakes.
#[allow(
    clippy::disallowed_types,
    reason = "a test's wake counter, not ring code"
)]
fn park_counting<F: Future + Unpin>(future: &mut F) -> std::sync::Arc<CountingWaker> {
    let counter = std::sync::Arc::new(CountingWaker(std::sync::atomic::AtomicUsize::new(0)));
    let waker = Waker::from(counter.clone());
    let polled = Pin::new(future).poll(&mut Context::from_waker(&waker));
    assert!(polled.is_pending(), "parked");
    counter
}

/// Issue 18's idle cost: a task parked on a one-to-one ring whose peer is
/// alive and quiet is not woken on liveness ticks (the waiter thread looks
/// at the peer and the indices itself); a push wakes it once.
#[test]
fn a_quiet_live_peer_costs_a_parked_task_no_wakes() {
    let _watchdog = Watchdog::new("quiet peer", LIMIT);
    let name = ShmName::new("aio-quiet");
    // Parks at the first poll (no yield, which would wake it).
    let opts = opts().wait_strategy(shmlane::WaitStrategy::Park);
    let rx = spsc::Consumer::<u64>::create(name.as_str(), &opts).unwrap();
    let mut tx = spsc::Producer::<u64>::open(name.as_str(), &opts).unwrap();
    let mut rx = rx.into_async();
    let mut recv = rx.recv();
    let wakes = park_counting(&mut recv);
    // Three liveness ticks and more.
    std::thread::sleep(shmlane::LIVENESS_TICK * 4);
    assert_eq!(
        wakes.0.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "woken with nothing to see"
    );
    tx.push(9).unwrap_or_else(|e| panic!("push: {e}"));
    wait_until("the push wakes the task", LIMIT, || {
        wakes.0.load(std::sync::atomic::Ordering::Relaxed) > 0
    });
    assert_eq!(poll_once(&mut recv), Poll::Ready(Ok(9)));
}

/// The tick's other job, kept: an item published without a wake (a
/// hostile or broken producer that wrote the slot and the tail but never
/// woke anyone, here written from a second mapping) reaches a parked task
/// at the next tick, as it reaches a blocked consumer.
#[test]
fn an_item_published_without_a_wake_reaches_a_parked_task_at_a_tick() {
    let _watchdog = Watchdog::new("unwoken publish", LIMIT);
    let name = ShmName::new("aio-unwoken");
    let opts = opts().wait_strategy(shmlane::WaitStrategy::Park);
    let rx = spsc::Consumer::<u64>::create(name.as_str(), &opts).unwrap();
    // The producer's role is held (a live peer) but it sends nothing.
    let _tx = spsc::Producer::<u64>::open(name.as_str(), &opts).unwrap();
    let mut rx = rx.into_async();
    let mut map = raw_mapping(&name);
    // Parked (with `Park`, at the first poll) before the item is written.
    let (parked_tx, parked_rx) = std::sync::mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        parked_rx.recv().unwrap();
        let offsets = shmlane::test_support::HeaderOffsets::get();
        put_u64(&mut map, offsets.slots, 77);
        put_u64(&mut map, offsets.tail, 1);
    });
    runtime().block_on(async {
        // Parked: now the unwoken publish.
        assert_eq!(tell_when_parked(rx.recv(), parked_tx).await, Ok(77));
    });
    writer.join().unwrap();
}

/// Polls `future` to the end, telling `parked` at its first `Pending`.
async fn tell_when_parked<F: Future + Unpin>(
    mut future: F,
    parked: std::sync::mpsc::Sender<()>,
) -> F::Output {
    let mut told = Some(parked);
    poll_fn(|cx| {
        let polled = Pin::new(&mut future).poll(cx);
        if polled.is_pending() {
            told.take().map(|tell| tell.send(()));
        }
        polled
    })
    .await
}

/// How far the tests below move a ring's indices before they cut its
/// file down to the header's page: the next slot then lies past the end.
const PAST_THE_FIRST_PAGE: u64 = 1024;

/// Cuts `name`'s file down to its first page (the header's) once told a
/// task parked; then, if `hostile_tail` is set, writes it as the ring's
/// `tail` without waking anyone, so that an unpoisoned consumer would read
/// a slot past the new end at its next look.
fn cut_once_parked(
    name: &ShmName,
    hostile_tail: Option<u64>,
) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (parked, seen) = std::sync::mpsc::channel::<()>();
    let path = name.path();
    // Mapped now, written after the cut (within the page that is left).
    let hostile = hostile_tail.map(|tail| (raw_mapping(name), tail));
    let cutter = std::thread::spawn(move || {
        seen.recv().unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(4096))
            .unwrap();
        if let Some((mut map, tail)) = hostile {
            let offsets = shmlane::test_support::HeaderOffsets::get();
            put_u64(&mut map, offsets.tail, tail);
        }
    });
    (parked, cutter)
}

/// Checks that a receive ended with the shrunk segment's `Corrupted`.
fn assert_shrunk(got: Result<u64, PopError>) {
    match got {
        Err(PopError::Corrupted(c)) => assert!(c.what.contains("shrunk"), "{c}"),
        other => panic!("expected Corrupted, got {other:?}"),
    }
}

/// Options for the rings cut short: 4096 slots, so that most lie past the
/// header's page, and tasks that park at once.
fn shrink_opts() -> Options {
    Options::new()
        .capacity(4096)
        .wait_strategy(shmlane::WaitStrategy::Park)
}

/// A named segment truncated under a parked task (by a process with write
/// permission) is found at a liveness tick, as a blocked call finds it:
/// `Corrupted`, the endpoint poisoned before it touches a slot past the
/// new end (SIGBUS). A receive parked on an empty SPSC ring, whose
/// producer's process then publishes an item past the end without a wake:
/// the tick probe wakes the task for it, and the size test comes first.
#[test]
fn a_segment_shrunk_under_a_parked_receive_is_corrupted_not_sigbus() {
    let _watchdog = Watchdog::new("shrunk under a parked receive", LIMIT);
    let name = ShmName::new("aio-shrunk-rx");
    let mut tx = spsc::Producer::<u64>::create(name.as_str(), &shrink_opts()).unwrap();
    let mut rx = spsc::Consumer::<u64>::open(name.as_str(), &shrink_opts()).unwrap();
    for v in 0..PAST_THE_FIRST_PAGE {
        tx.push(v).unwrap();
        assert_eq!(rx.pop(), Ok(v));
    }
    let (parked, cutter) = cut_once_parked(&name, Some(PAST_THE_FIRST_PAGE + 1));
    let mut rx = rx.into_async();
    runtime().block_on(async {
        assert_shrunk(tell_when_parked(rx.recv(), parked).await);
        // Poisoned: the same error again, at once.
        assert!(matches!(rx.recv().await, Err(PopError::Corrupted(_))));
    });
    cutter.join().unwrap();
}

/// The same for a send parked on a full SPSC ring.
#[test]
fn a_segment_shrunk_under_a_parked_send_is_corrupted_not_sigbus() {
    let _watchdog = Watchdog::new("shrunk under a parked send", LIMIT);
    let name = ShmName::new("aio-shrunk-tx");
    let mut tx = spsc::Producer::<u64>::create(name.as_str(), &shrink_opts()).unwrap();
    let _rx = spsc::Consumer::<u64>::open(name.as_str(), &shrink_opts()).unwrap();
    for v in 0..4096 {
        tx.push(v).unwrap();
    }
    let (parked, cutter) = cut_once_parked(&name, None);
    let mut tx = tx.into_async();
    runtime().block_on(async {
        let refused = tell_when_parked(tx.send(4096), parked)
            .await
            .expect_err("a full ring, cut short");
        let found = refused.corruption().expect("Corrupted");
        assert!(found.what.contains("shrunk"), "{found}");
        assert_eq!(refused.into_inner(), 4096);
        assert!(tx.send(4097).await.is_err_and(|e| e.corruption().is_some()));
    });
    cutter.join().unwrap();
}

/// An MPMC receive parked with its cursor past the header's page: its
/// tick's peer check reads the stamp at the cursor, so the size test must
/// come first there too.
#[test]
fn a_segment_shrunk_under_a_parked_mpmc_receive_is_corrupted_not_sigbus() {
    let _watchdog = Watchdog::new("shrunk under a parked MPMC receive", LIMIT);
    let name = ShmName::new("aio-shrunk-mpmc");
    let mut tx = mpmc::Sender::<u64>::create(name.as_str(), &shrink_opts()).unwrap();
    let mut rx = mpmc::Receiver::<u64>::open(name.as_str(), &shrink_opts()).unwrap();
    for v in 0..PAST_THE_FIRST_PAGE {
        tx.try_send(v).unwrap();
        assert_eq!(rx.try_recv(), Ok(v));
    }
    let (parked, cutter) = cut_once_parked(&name, None);
    let mut rx = rx.into_async();
    runtime().block_on(async {
        assert_shrunk(tell_when_parked(rx.recv(), parked).await);
    });
    cutter.join().unwrap();
}
