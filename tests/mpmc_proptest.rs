//! Random sequences of sends, receives and reservations (committed or
//! dropped) through two senders and two receivers, against a `VecDeque`
//! model (heap storage, one thread).
#![cfg(not(shmlane_loom))]

use std::collections::VecDeque;

use proptest::prelude::*;
use shmlane::{Options, PopError, PushError, ReserveError, mpmc};

#[derive(Debug, Clone)]
enum Op {
    Send {
        sender: usize,
        value: u64,
    },
    Recv {
        receiver: usize,
    },
    /// Reserve, write `value`, commit.
    Commit {
        sender: usize,
        value: u64,
    },
    /// Reserve, write, drop uncommitted: a skipped slot.
    Drop {
        sender: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0usize..2, any::<u64>()).prop_map(|(sender, value)| Op::Send { sender, value }),
        (0usize..2).prop_map(|receiver| Op::Recv { receiver }),
        (0usize..2, any::<u64>()).prop_map(|(sender, value)| Op::Commit { sender, value }),
        (0usize..2).prop_map(|sender| Op::Drop { sender }),
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
        let opts = Options::new().capacity(capacity).participants(4);
        let (tx, rx) = mpmc::heap_pair::<u64>(&opts).unwrap();
        let mut txs = [tx.try_clone().unwrap(), tx];
        let mut rxs = [rx.try_clone().unwrap(), rx];
        // `None`: a skipped slot, which holds room until a receiver passes.
        let mut model: VecDeque<Option<u64>> = VecDeque::new();
        let mut skipped = 0;
        for op in ops {
            match op {
                Op::Send { sender, value } => match txs[sender].try_send(value) {
                    Ok(()) => {
                        prop_assert!(model.len() < capacity);
                        model.push_back(Some(value));
                    }
                    Err(PushError::Full(back)) => {
                        prop_assert_eq!(back, value);
                        prop_assert_eq!(model.len(), capacity);
                    }
                    Err(e) => prop_assert!(false, "send: {}", e),
                },
                Op::Recv { receiver } => {
                    let got = rxs[receiver].try_recv();
                    // Receivers pass over every skipped slot in front.
                    while model.front() == Some(&None) {
                        model.pop_front();
                    }
                    match got {
                        Ok(v) => prop_assert_eq!(model.pop_front(), Some(Some(v))),
                        Err(PopError::Empty) => prop_assert!(model.is_empty()),
                        Err(e) => prop_assert!(false, "recv: {}", e),
                    }
                }
                Op::Commit { sender, value } => match txs[sender].reserve() {
                    Ok(mut slot) => {
                        *slot.get_mut() = value;
                        slot.commit();
                        prop_assert!(model.len() < capacity);
                        model.push_back(Some(value));
                    }
                    Err(ReserveError::Full) => prop_assert_eq!(model.len(), capacity),
                    Err(e) => prop_assert!(false, "reserve: {}", e),
                },
                Op::Drop { sender } => match txs[sender].reserve() {
                    Ok(mut slot) => {
                        *slot.get_mut() = u64::MAX;
                        drop(slot);
                        prop_assert!(model.len() < capacity);
                        model.push_back(None);
                        skipped += 1;
                    }
                    Err(ReserveError::Full) => prop_assert_eq!(model.len(), capacity),
                    Err(e) => prop_assert!(false, "reserve: {}", e),
                },
            }
            prop_assert_eq!(txs[0].len(), model.len());
            prop_assert_eq!(rxs[1].len(), model.len());
            prop_assert_eq!(rxs[0].stats().skipped, skipped);
        }
    }
}
