//! The loom test shown in shmlane's README ("Model-check your pipeline
//! with loom"), verbatim, so that it cannot drift.
#![cfg(loom)]
use shmlane::{Options, spsc};

#[test]
fn my_stage_forwards_everything() {
    let mut model = loom::model::Builder::new(); // reads LOOM_MAX_PREEMPTIONS
    model.preemption_bound.get_or_insert(2); // unbounded: many minutes, even here
    model.check(|| {
        let (mut tx, mut rx) = spsc::heap_pair::<u64>(&Options::new().capacity(1)).unwrap();
        let producer = loom::thread::spawn(move || {
            for v in 1..=2 {
                tx.send(v).unwrap(); // blocking: waits for room
            }
        });
        assert_eq!(rx.recv(), Ok(1)); // blocking: waits for an item
        assert_eq!(rx.recv(), Ok(2));
        producer.join().unwrap();
    });
}
