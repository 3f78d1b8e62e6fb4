//! Fuzz target bodies, kept in the library so that an ordinary test
//! (`tests/fuzz_corpus.rs`) replays the committed corpus on stable Rust,
//! and the `fuzz/` crate only forwards libFuzzer's input here. Not a stable
//! API.

use std::io::Write;
use std::time::Duration;

use nix::sys::memfd::{MFdFlags, memfd_create};

use crate::options::Options;
use crate::peer::{Attachment, Role};
use crate::ring::RingMemory;
pub use crate::segment::HeaderOffsets;
use crate::segment::{Layout, Mapping, RingKind, Strict};
use crate::spsc;
use crate::wait::Waiter;

/// Largest segment the `open_header` target builds (keeps runs fast).
const MAX_SEGMENT: usize = 1 << 20;

/// What [`open_header`] got to do with its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenOutcome {
    /// The input could not even be set up (empty, or the memfd failed).
    NotRun,
    /// `open` refused the segment with a typed error.
    Refused,
    /// The segment opened; this many items were popped before the ring was
    /// empty or an error stopped it.
    Opened {
        /// Items popped.
        popped: usize,
    },
}

/// Opens an SPSC `u64` segment whose bytes are `data` (the first byte picks
/// the options: capacity `1 << (b & 15)`, bit 4 = insist on that capacity;
/// the rest is the file) and, if it validates, pops from it. Must never
/// panic, hang or fault, whatever `data` holds.
pub fn open_header(data: &[u8]) -> OpenOutcome {
    let Some((&selector, bytes)) = data.split_first() else {
        return OpenOutcome::NotRun;
    };
    let bytes = &bytes[..bytes.len().min(MAX_SEGMENT)];
    let Ok(fd) = memfd_create(c"shmlane-fuzz", MFdFlags::MFD_CLOEXEC) else {
        return OpenOutcome::NotRun;
    };
    let mut file = std::fs::File::from(fd);
    if file.write_all(bytes).is_err() {
        return OpenOutcome::NotRun;
    }
    let capacity = 1usize << (selector & 15);
    let opts = Options::new().capacity(capacity);
    let Ok(expected) =
        Layout::for_slots::<u64>(RingKind::Spsc, capacity, opts.schema_id, Waiter::EventCount)
    else {
        return OpenOutcome::NotRun;
    };
    let strict = Strict {
        capacity: selector & 0x10 != 0,
        waiter: false,
        participants: false,
    };
    let Ok((mapping, layout)) = Mapping::attach(file, "(fuzz)", &expected, strict, Duration::ZERO)
    else {
        return OpenOutcome::Refused;
    };
    let Ok(attachment) = Attachment::claim(Box::new(mapping), Role::Consumer) else {
        return OpenOutcome::Refused;
    };
    let ring = RingMemory::new(attachment, &layout, Role::Consumer);
    let Ok(mut rx) = spsc::Consumer::<u64>::attach(ring, &opts) else {
        return OpenOutcome::Refused;
    };
    let mut popped = 0;
    while popped < 4 && rx.pop().is_ok() {
        popped += 1;
    }
    if let Ok(chunk) = rx.read_chunk(usize::from(selector >> 5) + 1) {
        let (a, b) = chunk.as_slices();
        let _sum: u64 = a.iter().chain(b).fold(0, |s, v| s.wrapping_add(*v));
        popped += chunk.release_all();
    }
    let _ = rx.len();
    OpenOutcome::Opened { popped }
}
