//! Loom models of the pipeline in `src/lib.rs`: every interleaving of the
//! source, stage 1 and the sink, up to the preemption bound, and loom's
//! model of shmlane's rings inside them.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test --release` (this crate's
//! directory). `LOOM_MAX_PREEMPTIONS` overrides the bound of 1.
#![cfg(loom)]

use loom_user::{Outcome, Sink, run, sink, sink_buggy};

/// Two items: the sink must get both, scaled, in order, and the gauge must
/// end at 0.
const ITEMS: [u64; 2] = [1, 2];

/// Explores `run(ITEMS, sink)` and returns how many executions it took.
fn explore(sink: Sink) -> usize {
    // Counts loom's reruns of the closure: bookkeeping outside the model,
    // so a std atomic (one per test: the tests run in parallel).
    let executions = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        // The planted bug needs 1 (see `sink_buggy`). Each step of the
        // bound multiplies the executions: at 1 the fixed model takes
        // about 15 s in release, at 2 many minutes.
        builder.preemption_bound = Some(1);
    }
    let counter = executions.clone();
    builder.check(move || {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let outcome = run(&ITEMS, sink);
        let expected = Outcome {
            received: vec![10, 20],
            in_flight: 0,
        };
        assert_eq!(outcome, expected, "wrong outcome in execution {n}");
    });
    executions.load(std::sync::atomic::Ordering::Relaxed)
}

/// Loom finds the sink that takes an item off the gauge with a load and a
/// store: one interleaving (see `sink_buggy`) loses stage 1's increment.
/// The panic message names the execution: a few hundred in, never the
/// first; with `LOOM_MAX_PREEMPTIONS=0` loom does not find it at all.
#[test]
#[should_panic(expected = "wrong outcome in execution")]
fn loom_finds_the_update_the_buggy_sink_loses() {
    explore(sink_buggy);
}

/// The fixed sink: every item arrives, and the gauge ends at 0, in every
/// explored interleaving.
#[test]
fn the_fixed_sink_keeps_the_gauge_right() {
    let executions = explore(sink);
    eprintln!("{executions} executions, all right");
}
