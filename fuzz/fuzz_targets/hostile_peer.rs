//! An honest endpoint of each ring kind facing a peer that rewrites the
//! segment's indices, frame headers and payload between calls. The body
//! lives in `shmlane::test_support` so that `tests/fuzz_corpus.rs` replays the
//! corpus on stable Rust.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shmlane::test_support::hostile_peer(data);
});
