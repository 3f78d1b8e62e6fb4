//! Open an SPSC segment whose bytes are arbitrary, then pop from it. The
//! body lives in `shmlane::test_support` so that `tests/fuzz_corpus.rs` replays
//! the corpus on stable Rust.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = shmlane::test_support::open_header(data);
});
