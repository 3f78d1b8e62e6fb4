//! A two-stage pipeline over shmlane's in-process rings, written as a
//! shmlane user would write it, and model-checked with loom in
//! `tests/loom.rs`:
//!
//! ```text
//! source ──spsc──▶ stage 1 (scale) ──mpmc──▶ stage 2 (sink)
//!                        └── in_flight += 1     └── in_flight -= 1
//! ```
//!
//! Every call that waits is a blocking one: the source `send`s and drops
//! its end when done; stage 1 `recv`s until it hears `Disconnected` and
//! forwards each item with `send`; the sink `recv`s the number of items it
//! was told to expect (a batch). `in_flight` is a gauge of the items
//! between the two stages (what a supervisor would read to add sinks):
//! stage 1 adds one before it forwards an item, the sink takes one off
//! after it has received one, so it reads 0 once the pipeline has drained.
//!
//! [`sink_buggy`] holds the planted bug that loom finds; [`sink`] is the
//! fix. What threads share comes from [`sync`]: loom's under `--cfg loom`,
//! std's otherwise, the same switch shmlane makes.

use shmlane::{Options, PopError, mpmc, spsc};

/// Std's threads and atomics, or loom's under `--cfg loom`.
pub mod sync {
    #[cfg(loom)]
    pub use loom::{
        sync::{
            Arc,
            atomic::{AtomicU64, Ordering},
        },
        thread,
    };
    #[cfg(not(loom))]
    pub use std::{
        sync::{
            Arc,
            atomic::{AtomicU64, Ordering},
        },
        thread,
    };
}

use sync::{Arc, AtomicU64, Ordering, thread};

/// Stage 1: receives from the source until it is gone and drained, and
/// forwards each item, scaled by 10, to the sink.
pub fn stage1(mut rx: spsc::Consumer<u64>, mut tx: mpmc::Sender<u64>, in_flight: &AtomicU64) {
    loop {
        match rx.recv() {
            Ok(v) => {
                // Before the send: the sink's decrement must find it there.
                in_flight.fetch_add(1, Ordering::SeqCst);
                tx.send(v * 10).expect("forward");
            }
            Err(PopError::Disconnected) => return, // the source is gone, all forwarded
            Err(e) => panic!("stage 1: {e}"),
        }
    }
}

/// Stage 2, with the planted bug: it receives `items` items and takes
/// each off the gauge with a load and then a store, two operations where
/// one `fetch_sub` is needed.
///
/// The interleaving that breaks it: the source has sent item 1 and waits
/// for room for item 2 (the SPSC ring has one slot); stage 1 forwards item
/// 1 and waits for item 2; the sink receives item 1 and loads the gauge
/// (1). Here the sink is preempted: the source sends item 2, stage 1 adds
/// one for it (1 to 2) and forwards it; then the sink stores 0, though the
/// gauge now reads 2. One of the two updates is lost, and the gauge no
/// longer ends at 0 (loom's failing run ends at 1). It takes one
/// preemption, of the sink between its load and its store: loom finds it
/// with a preemption bound of 1 (a few hundred executions in), and with a
/// bound of 0 explores every run without finding it. Without preemptions
/// the sink's load and store are never apart, and its SeqCst load reads
/// the latest count.
pub fn sink_buggy(rx: &mut mpmc::Receiver<u64>, in_flight: &AtomicU64, items: usize) -> Vec<u64> {
    let mut got = Vec::new();
    while got.len() < items {
        match rx.recv() {
            Ok(v) => {
                got.push(v);
                // BUG: not atomic as a whole; stage 1 may add in between.
                let n = in_flight.load(Ordering::SeqCst);
                in_flight.store(n.wrapping_sub(1), Ordering::SeqCst);
            }
            Err(e) => panic!("sink: {e}"),
        }
    }
    got
}

/// Stage 2, fixed: one read-modify-write, which nothing can split.
pub fn sink(rx: &mut mpmc::Receiver<u64>, in_flight: &AtomicU64, items: usize) -> Vec<u64> {
    let mut got = Vec::new();
    while got.len() < items {
        match rx.recv() {
            Ok(v) => {
                got.push(v);
                in_flight.fetch_sub(1, Ordering::SeqCst);
            }
            Err(e) => panic!("sink: {e}"),
        }
    }
    got
}

/// A sink: [`sink`] or [`sink_buggy`].
pub type Sink = fn(&mut mpmc::Receiver<u64>, &AtomicU64, usize) -> Vec<u64>;

/// What a run of the pipeline ends with.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    /// What the sink received, in order.
    pub received: Vec<u64>,
    /// The `in_flight` gauge once every stage has finished: 0 if it is right.
    pub in_flight: u64,
}

/// Runs the pipeline over `items`, the calling thread being the source,
/// on an SPSC ring of one slot (so the source waits for stage 1 after each
/// item) and an MPMC ring of two.
pub fn run(items: &[u64], sink: Sink) -> Outcome {
    let (mut source, stage1_rx) =
        spsc::heap_pair::<u64>(&Options::new().capacity(1)).expect("spsc ring");
    // Two participants, stage 1 and the sink (a clone of either would be a
    // third). The sink counts its items rather than waiting for stage 1's
    // `Disconnected`: one fewer wakeup for loom to explore (half the time).
    let (stage1_tx, mut sink_rx) =
        mpmc::heap_pair::<u64>(&Options::new().capacity(2).participants(2)).expect("mpmc ring");
    let in_flight = Arc::new(AtomicU64::new(0));

    let stage1 = {
        let in_flight = in_flight.clone();
        thread::spawn(move || stage1(stage1_rx, stage1_tx, &in_flight))
    };
    let stage2 = {
        let in_flight = in_flight.clone();
        let items = items.len();
        thread::spawn(move || sink(&mut sink_rx, &in_flight, items))
    };
    for &v in items {
        source.send(v).expect("source");
    }
    drop(source); // stage 1 drains, then hears Disconnected
    stage1.join().expect("stage 1");
    let received = stage2.join().expect("stage 2");
    Outcome {
        received,
        in_flight: in_flight.load(Ordering::SeqCst),
    }
}
