use super::*;
use crate::error::{PopError, PushError, ReserveError};
use crate::sync::Ordering;

fn ring(capacity: usize) -> (Producer<u64>, Consumer<u64>) {
    heap_pair(&Options::new().capacity(capacity)).expect("heap pair")
}

#[test]
fn pops_in_push_order_and_reports_full_and_empty() {
    let (mut tx, mut rx) = ring(4);
    assert_eq!(rx.pop(), Err(PopError::Empty));
    for v in 0..4 {
        tx.push(v).unwrap();
    }
    assert!(tx.is_full());
    assert_eq!(tx.push(99), Err(PushError::Full(99)));
    assert_eq!(rx.len(), 4);
    for v in 0..4 {
        assert_eq!(rx.pop(), Ok(v));
    }
    assert!(rx.is_empty() && tx.is_empty());
    assert_eq!(rx.pop(), Err(PopError::Empty));
}

#[test]
fn wraps_around_many_times() {
    let (mut tx, mut rx) = ring(8);
    for round in 0..100u64 {
        for i in 0..5 {
            tx.push(round * 5 + i).unwrap();
        }
        for i in 0..5 {
            assert_eq!(rx.pop(), Ok(round * 5 + i));
        }
    }
}

#[test]
fn write_chunk_splits_at_the_wrap_and_commits_only_k() {
    let (mut tx, mut rx) = ring(8);
    for v in 0..6 {
        tx.push(v).unwrap();
    }
    for v in 0..6 {
        assert_eq!(rx.pop(), Ok(v));
    }
    // tail is at slot 6: a chunk of 5 is 2 slots then 3 wrapped.
    let mut chunk = tx.write_chunk(5).unwrap();
    let (a, b) = chunk.as_mut_slices();
    assert_eq!((a.len(), b.len()), (2, 3));
    for (i, slot) in a.iter_mut().chain(b.iter_mut()).enumerate() {
        *slot = 100 + i as u64;
    }
    assert_eq!(chunk.commit(4), 4);
    let read = rx.read_chunk(10).unwrap();
    assert_eq!(read.len(), 4);
    let (a, b) = read.as_slices();
    assert_eq!([a, b].concat(), vec![100, 101, 102, 103]);
    assert_eq!(read.release(3), 3);
    assert_eq!(rx.pop(), Ok(103));
    assert_eq!(rx.pop(), Err(PopError::Empty));
}

#[test]
fn chunks_clamp_to_what_exists() {
    let (mut tx, mut rx) = ring(4);
    assert!(matches!(rx.read_chunk(1), Err(PopError::Empty)));
    assert_eq!(rx.read_chunk(0).map(|c| c.len()), Ok(0));
    let chunk = tx.write_chunk(100).unwrap();
    assert_eq!(chunk.len(), 4);
    assert_eq!(chunk.commit(100), 4, "commit clamps to the chunk");
    assert!(matches!(tx.write_chunk(1), Err(ReserveError::Full)));
    assert_eq!(tx.write_chunk(0).map(|c| c.len()), Ok(0));
    assert_eq!(rx.read_chunk(2).unwrap().release_all(), 2);
    assert_eq!(rx.read_chunk(100).unwrap().release(100), 2);
}

#[test]
fn dropped_chunks_publish_and_free_nothing() {
    let (mut tx, mut rx) = ring(4);
    {
        let mut chunk = tx.write_chunk(2).unwrap();
        chunk.as_mut_slices().0.fill(7);
    }
    assert_eq!(rx.pop(), Err(PopError::Empty));
    tx.push(1).unwrap();
    {
        let _unreleased = rx.read_chunk(1).unwrap();
    }
    assert_eq!(rx.pop(), Ok(1));
}

#[test]
fn moves_items_between_threads_in_order() {
    let count: u64 = if cfg!(miri) { 500 } else { 200_000 };
    let (mut tx, mut rx) = ring(16);
    let producer = crate::sync::thread::spawn(move || {
        for v in 0..count {
            let mut item = v;
            while let Err(PushError::Full(back)) = tx.push(item) {
                item = back;
                std::thread::yield_now();
            }
        }
    });
    let mut expected = 0;
    while expected < count {
        match rx.pop() {
            Ok(v) => {
                assert_eq!(v, expected);
                expected += 1;
            }
            Err(PopError::Empty) => std::thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
    }
    producer.join().unwrap();
}

#[test]
fn impossible_indices_are_corruption_not_a_panic() {
    let (mut tx, mut rx) = ring(4);
    tx.push(1).unwrap();
    // A hostile producer moves tail far ahead of head.
    tx.ring.tail().store(1000, Ordering::Relaxed);
    rx.cached_tail = rx.head; // force a re-read
    assert!(matches!(rx.pop(), Err(PopError::Corrupted(c)) if c.found == 1000));
    assert_eq!(rx.len(), 4, "len saturates to the capacity");
    // A hostile consumer moves head past tail.
    tx.ring.head().store(5000, Ordering::Relaxed);
    tx.cached_head = 0;
    tx.tail = 4;
    assert!(matches!(tx.push(9), Err(PushError::Corrupted(refused)) if refused.value == 9));
    assert!(matches!(tx.write_chunk(1), Err(ReserveError::Corrupted(_))));
}

#[test]
fn corruption_poisons_the_endpoint_for_good() {
    let (mut tx, mut rx) = ring(4);
    tx.push(1).unwrap();
    tx.push(2).unwrap();
    // A hostile producer moves tail far ahead, then puts it back.
    tx.ring.tail().store(1000, Ordering::Relaxed);
    rx.cached_tail = rx.head;
    let first = match rx.pop() {
        Err(PopError::Corrupted(c)) => c,
        other => panic!("expected Corrupted, got {other:?}"),
    };
    tx.ring.tail().store(2, Ordering::Relaxed);
    assert_eq!(rx.pop(), Err(PopError::Corrupted(first.clone())));
    assert_eq!(rx.recv(), Err(PopError::Corrupted(first.clone())));
    assert!(matches!(rx.read_chunk(0), Err(PopError::Corrupted(c)) if c == first));
    // The producer side: head past tail, then restored.
    tx.ring.head().store(5000, Ordering::Relaxed);
    tx.cached_head = 0;
    tx.tail = 4;
    let first = match tx.push(9) {
        Err(PushError::Corrupted(refused)) if refused.value == 9 => refused.corruption,
        other => panic!("expected Corrupted, got {other:?}"),
    };
    tx.ring.head().store(4, Ordering::Relaxed);
    assert_eq!(tx.push(10), Err(PushError::corrupted(10, first)));
    assert_eq!(tx.send(11), Err(PushError::corrupted(11, first)));
    assert!(matches!(tx.write_chunk(0), Err(ReserveError::Corrupted(c)) if c == first));
}

#[test]
fn invalid_capacities_are_config_errors() {
    for capacity in [0, 3, 1000, usize::MAX] {
        let err = heap_pair::<u64>(&Options::new().capacity(capacity)).unwrap_err();
        assert!(
            matches!(err, OpenError::InvalidConfig(_)),
            "{capacity}: {err}"
        );
    }
    let err = heap_pair::<u64>(&Options::new().mode(0o644)).unwrap_err();
    assert!(
        matches!(err, OpenError::InvalidConfig(ref m) if m.contains("mode")),
        "{err}"
    );
    let err = heap_pair::<u64>(&Options::new().schema_id(0)).unwrap_err();
    assert!(matches!(err, OpenError::InvalidConfig(_)), "{err}");
}

#[test]
#[cfg_attr(
    miri,
    ignore = "Miri aborts on allocation failure instead of reporting it"
)]
fn a_capacity_too_large_for_memory_is_no_space() {
    let err = heap_pair::<[u64; 8]>(&Options::new().capacity(1 << 50)).unwrap_err();
    assert!(matches!(err, OpenError::NoSpace { .. }), "{err}");
}

#[test]
fn stats_count_positions_and_their_bytes_in_one_struct() {
    let (mut tx, mut rx) = ring(8);
    for v in 0..3 {
        tx.push(v).unwrap();
    }
    rx.pop().unwrap();
    let stats = rx.stats();
    assert_eq!((stats.pushes, stats.pops), (3, 1));
    assert_eq!((stats.written_bytes, stats.released_bytes), (24, 8));
    assert_eq!((stats.drops, stats.skipped, stats.recovered), (0, 0, 0));
    assert_eq!(tx.stats(), stats, "both ends read the same segment");
}
