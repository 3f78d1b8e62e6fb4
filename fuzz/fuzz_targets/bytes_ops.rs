//! Random sequences of grant/commit/send/read/recv of random sizes on a
//! byte ring, checked against a model of the frame stream. The body lives
//! in `shmlane::test_support`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shmlane::test_support::bytes_ops(data);
});
