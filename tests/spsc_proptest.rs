//! Random sequences of push, pop, write_chunk/commit and read_chunk/release
//! against a `VecDeque` model (heap storage, one thread).
#![cfg(not(shmlane_loom))]

use std::collections::VecDeque;

use proptest::prelude::*;
use shmlane::{Options, PopError, PushError, ReserveError, spsc};

#[derive(Debug, Clone)]
enum Op {
    Push(u64),
    Pop,
    /// Ask for `want` slots, fill them, commit `commit` of them.
    WriteChunk {
        want: usize,
        commit: usize,
    },
    /// Ask for `want` items, check them, release `release` of them.
    ReadChunk {
        want: usize,
        release: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<u64>().prop_map(Op::Push),
        Just(Op::Pop),
        (0usize..40, 0usize..40).prop_map(|(want, commit)| Op::WriteChunk { want, commit }),
        (0usize..40, 0usize..40).prop_map(|(want, release)| Op::ReadChunk { want, release }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 512 }))]

    #[test]
    fn the_ring_behaves_like_a_bounded_deque(
        capacity_log2 in 0u32..6,
        ops in prop::collection::vec(op(), 1..300),
    ) {
        let capacity = 1usize << capacity_log2;
        let (mut tx, mut rx) = spsc::heap_pair::<u64>(&Options::new().capacity(capacity)).unwrap();
        let mut model: VecDeque<u64> = VecDeque::new();
        let mut next = 0u64;
        for op in ops {
            match op {
                Op::Push(v) => match tx.push(v) {
                    Ok(()) => {
                        prop_assert!(model.len() < capacity);
                        model.push_back(v);
                    }
                    Err(PushError::Full(back)) => {
                        prop_assert_eq!(back, v);
                        prop_assert_eq!(model.len(), capacity);
                    }
                    Err(e) => prop_assert!(false, "push: {}", e),
                },
                Op::Pop => match rx.pop() {
                    Ok(v) => prop_assert_eq!(Some(v), model.pop_front()),
                    Err(PopError::Empty) => prop_assert!(model.is_empty()),
                    Err(e) => prop_assert!(false, "pop: {}", e),
                },
                Op::WriteChunk { want, commit } => match tx.write_chunk(want) {
                    Ok(mut chunk) => {
                        let free = capacity - model.len();
                        prop_assert_eq!(chunk.len(), want.min(free));
                        let (a, b) = chunk.as_mut_slices();
                        let mut values = Vec::new();
                        for slot in a.iter_mut().chain(b.iter_mut()) {
                            next += 1;
                            *slot = next;
                            values.push(next);
                        }
                        let done = chunk.commit(commit);
                        prop_assert_eq!(done, commit.min(values.len()));
                        model.extend(&values[..done]);
                    }
                    Err(ReserveError::Full) => {
                        prop_assert!(want > 0 && model.len() == capacity);
                    }
                    Err(e) => prop_assert!(false, "write_chunk: {}", e),
                },
                Op::ReadChunk { want, release } => match rx.read_chunk(want) {
                    Ok(chunk) => {
                        prop_assert_eq!(chunk.len(), want.min(model.len()));
                        let (a, b) = chunk.as_slices();
                        let seen: Vec<u64> = a.iter().chain(b).copied().collect();
                        let expected: Vec<u64> = model.iter().take(seen.len()).copied().collect();
                        prop_assert_eq!(&seen, &expected);
                        let done = chunk.release(release);
                        prop_assert_eq!(done, release.min(seen.len()));
                        model.drain(..done);
                    }
                    Err(PopError::Empty) => prop_assert!(want > 0 && model.is_empty()),
                    Err(e) => prop_assert!(false, "read_chunk: {}", e),
                },
            }
            prop_assert_eq!(tx.len(), model.len());
            prop_assert_eq!(rx.len(), model.len());
            prop_assert_eq!(tx.is_full(), model.len() == capacity);
            prop_assert_eq!(rx.is_empty(), model.is_empty());
        }
    }
}
