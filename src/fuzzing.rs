//! Fuzz target bodies, kept in the library so that an ordinary test
//! (`tests/fuzz_corpus.rs`) replays the committed corpus on stable Rust,
//! and the `fuzz/` crate only forwards libFuzzer's input here. Not a stable
//! API.

use std::io::Write;
use std::time::Duration;

use nix::sys::memfd::{MFdFlags, memfd_create};

pub use crate::segment::HeaderOffsets;
use crate::options::Options;
use crate::peer::{Attachment, Role};
use crate::ring::RingMemory;
use crate::segment::{Layout, Mapping, RingKind};
use crate::spsc;

/// Largest segment the `open_header` target builds (keeps runs fast).
const MAX_SEGMENT: usize = 1 << 20;

/// Opens an SPSC `u64` segment whose bytes are `data` (the first byte picks
/// the options, the rest is the file) and, if it validates, pops from it.
/// Must never panic, hang or fault, whatever `data` holds.
pub fn open_header(data: &[u8]) {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let bytes = &bytes[..bytes.len().min(MAX_SEGMENT)];
    let Ok(fd) = memfd_create(c"shmlane-fuzz", MFdFlags::MFD_CLOEXEC) else {
        return;
    };
    let mut file = std::fs::File::from(fd);
    if file.write_all(bytes).is_err() {
        return;
    }
    let capacity = 1usize << (selector & 15);
    let opts = Options::new().capacity(capacity);
    let Ok(expected) = Layout::for_slots::<u64>(RingKind::Spsc, capacity, opts.schema_id) else {
        return;
    };
    let expect_capacity = selector & 0x10 != 0;
    let Ok((mapping, layout)) =
        Mapping::attach(file, "(fuzz)", &expected, expect_capacity, Duration::ZERO)
    else {
        return;
    };
    let Ok(attachment) = Attachment::claim(Box::new(mapping), Role::Consumer) else {
        return;
    };
    let Ok(mut rx) = spsc::Consumer::<u64>::attach(RingMemory::new(attachment, &layout)) else {
        return;
    };
    for _ in 0..4 {
        let _ = rx.pop();
    }
    if let Ok(chunk) = rx.read_chunk(usize::from(selector >> 5) + 1) {
        let (a, b) = chunk.as_slices();
        let _sum: u64 = a.iter().chain(b).fold(0, |s, v| s.wrapping_add(*v));
        chunk.release_all();
    }
    let _ = rx.len();
}
