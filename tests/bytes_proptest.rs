//! Random sequences of send, grant/commit, abandoned grants, try_recv and
//! read on the byte ring against a `VecDeque<Vec<u8>>` model (heap storage,
//! one thread), with sizes from 0 to past the max frame, so that wraps,
//! padding frames and refusals all happen. The model run is the one the
//! `bytes_ops` fuzz target uses (`shmlane::test_support::run_bytes_model`).
#![cfg(not(shmlane_loom))]

use proptest::prelude::*;
use shmlane::test_support::{BytesOp, run_bytes_model};

/// Ops with sizes up to `limit` (a little past the max frame).
fn op(limit: usize) -> impl Strategy<Value = BytesOp> {
    prop_oneof![
        (0..=limit).prop_map(BytesOp::Send),
        (0..=limit, 0..=limit).prop_map(|(len, commit)| BytesOp::Grant { len, commit }),
        (0..=limit).prop_map(BytesOp::Abandon),
        Just(BytesOp::Recv),
        Just(BytesOp::Read),
    ]
}

/// A ring of `64 << k` bytes, a max frame up to the largest it allows, and
/// ops sized for it.
fn case() -> impl Strategy<Value = (usize, usize, Vec<BytesOp>)> {
    (0usize..6).prop_flat_map(|k| {
        let capacity = 64 << k;
        let limit = capacity / 2 - 8;
        (0..=limit).prop_flat_map(move |max_frame| {
            let ops = prop::collection::vec(op(max_frame + 8), 0..200);
            (Just(capacity), Just(max_frame), ops)
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 512 }))]

    #[test]
    fn the_byte_ring_behaves_like_a_deque_of_frames((capacity, max_frame, ops) in case()) {
        run_bytes_model(capacity, max_frame, &ops);
    }
}
