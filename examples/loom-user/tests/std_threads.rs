//! The same pipeline on std threads, as the normal `cargo test` runs it.
//! `sink_buggy` passes here nearly always too: the interleaving that
//! breaks it is rare on real threads, which is why it takes loom.
#![cfg(not(loom))]

use loom_user::{Outcome, run, sink};

#[test]
fn the_pipeline_delivers_every_item_in_order() {
    let items: Vec<u64> = (1..=1000).collect();
    let expected: Vec<u64> = items.iter().map(|v| v * 10).collect();
    let outcome = run(&items, sink);
    assert_eq!(
        outcome,
        Outcome {
            received: expected,
            in_flight: 0
        }
    );
}
