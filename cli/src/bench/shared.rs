//! One page of atomics that a forked child shares with its parent.
//!
//! Used for the atomic ping-pong (the baseline and the probe), the futex
//! ping-pong, the throughput harness's end-of-repetition acknowledgement
//! and the figures a child hands back. It works between threads just as
//! well, so thread and process peers use the same code.
//!
//! Each use names its Release/Acquire pair with a `SYNC: <name>` comment on
//! both sides, as the library does (ARCHITECTURE.md, "SYNC pairs").

use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64};

use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous, munmap};

use super::error::BenchError;

const PAGE_BYTES: usize = 4096;
/// Number of `AtomicU64` words in the page.
pub const WORDS: usize = PAGE_BYTES / size_of::<AtomicU64>();

/// A `MAP_SHARED | MAP_ANONYMOUS` page (or several: [`with_words`](Self::with_words))
/// seen as `[AtomicU64; WORDS]`.
///
/// MAP_SHARED (not private) is the point: after `fork` both processes see
/// the same physical page, so a store by one is a load by the other.
pub struct SharedPage {
    base: NonNull<AtomicU64>,
    /// Length of the mapping in u64 words.
    words: usize,
}

// SAFETY: the page is only ever accessed through `&AtomicU64`, which is
// Sync; the pointer itself is never written after creation.
unsafe impl Send for SharedPage {}
// SAFETY: as for Send: all shared access is atomic.
unsafe impl Sync for SharedPage {}

impl SharedPage {
    /// Maps a fresh zero-filled page.
    pub fn new() -> Result<Self, BenchError> {
        Self::with_words(WORDS)
    }

    /// Maps fresh zero-filled pages holding at least `words` u64 words.
    pub fn with_words(words: usize) -> Result<Self, BenchError> {
        let words = words.max(1).div_ceil(WORDS) * WORDS;
        let bytes = words
            .checked_mul(size_of::<AtomicU64>())
            .ok_or_else(|| BenchError::Usage(format!("{words} shared words do not fit")))?;
        let len = NonZeroUsize::new(bytes).expect("at least one page");
        // SAFETY: a new anonymous mapping at an address of the kernel's
        // choosing (addr None) cannot alias any memory Rust already owns.
        let ptr = unsafe {
            mmap_anonymous(
                None,
                len,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
            )
        }
        .map_err(BenchError::os("mmap of a shared page"))?;
        Ok(Self {
            base: ptr.cast(),
            words,
        })
    }

    /// Word `i` of the page.
    pub fn word(&self, i: usize) -> &AtomicU64 {
        assert!(i < self.words, "shared page word {i} out of range");
        let word = self.base.as_ptr().wrapping_add(i);
        // SAFETY: `word` is in bounds (asserted above). The mapping is
        // page-aligned, `words` long, zero-filled and readable/writable,
        // and lives until `self` drops, which the returned borrow cannot
        // outlive. AtomicU64 has the size and alignment of u64, any bit
        // pattern is a valid value, and every access to the page goes
        // through atomics.
        unsafe { &*word }
    }

    /// The 32-bit word `i` of the page (a futex word). A page is used
    /// either as u64 words or as u32 words, never both: the two views
    /// overlap (u32 words 2k and 2k+1 are u64 word k).
    pub fn word32(&self, i: usize) -> &AtomicU32 {
        assert!(i < 2 * self.words, "shared page u32 word {i} out of range");
        let word = self.base.as_ptr().cast::<AtomicU32>().wrapping_add(i);
        // SAFETY: as for `word`: in bounds (asserted above), within a live,
        // zero-filled, readable/writable mapping that outlives the borrow;
        // AtomicU32 has the size and alignment of u32 (the page is
        // page-aligned, so every u32 offset is 4-aligned) and every bit
        // pattern is valid. All access to the page goes through atomics.
        unsafe { &*word }
    }
}

impl Drop for SharedPage {
    fn drop(&mut self) {
        // SAFETY: `base` is the start of a mapping of `words` u64 words
        // made in `with_words` and not unmapped before; no borrow of it
        // outlives `self`.
        let unmapped = unsafe { munmap(self.base.cast(), self.words * size_of::<AtomicU64>()) };
        // Nothing to recover if it fails: it would only leak the page.
        debug_assert!(unmapped.is_ok(), "munmap of the shared page failed");
    }
}
