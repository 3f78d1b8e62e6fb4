//! Open an SPSC segment whose bytes are arbitrary, then pop from it. The
//! body lives in `shmlane::fuzzing` so that `tests/fuzz_corpus.rs` replays
//! the corpus on stable Rust.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = shmlane::fuzzing::open_header(data);
});
