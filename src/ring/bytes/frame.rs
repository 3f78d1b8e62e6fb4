//! The frame format: the header word, its flags, where a frame goes, and
//! the copies of payload bytes into and out of the ring.

use super::RingMemory;
use crate::index::Capacity;

/// Frame header flag: a frame of payload.
pub(super) const FRAME_DATA: u32 = 1;
/// Frame header flag: filler up to the end of the ring.
pub(super) const FRAME_PADDING: u32 = 2;

/// The header word of a frame.
pub(super) const fn frame_word(len: u64, flags: u32) -> u64 {
    len | (flags as u64) << 32
}

/// Words a payload of `len` bytes occupies.
pub(super) const fn payload_words(len: u64) -> u64 {
    len.div_ceil(8)
}

/// Where a frame goes: after `padding` words of filler (0 when it fits
/// before the end of the ring), its header and payload take `words`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Placement {
    pub(super) padding: u64,
    pub(super) words: u64,
}

impl Placement {
    /// The placement of a frame of `len` payload bytes at position `tail`.
    pub(super) fn at(capacity: Capacity, tail: u64, len: u64) -> Self {
        let words = 1 + payload_words(len);
        let to_end = capacity.get() - capacity.slot(tail) as u64;
        let padding = if words > to_end { to_end } else { 0 };
        Self { padding, words }
    }

    /// Words the frame needs free, padding included.
    pub(super) const fn need(self) -> u64 {
        self.padding + self.words
    }
}

/// The first byte of a payload of `len` bytes from slot `first`; the run
/// of words it spans must be inside the slot area (a placed or validated
/// frame never wraps).
#[cfg(not(shmlane_loom))]
pub(super) fn payload_ptr(
    ring: &RingMemory<u64>,
    first: usize,
    len: usize,
) -> std::ptr::NonNull<u8> {
    let words = payload_words(len as u64) as usize;
    ring.slot_run(first, words).cast::<u8>()
}

/// Copies `src` into the payload words from slot `first` (no wrap: the
/// caller placed the frame).
#[cfg(not(shmlane_loom))]
pub(super) fn copy_to_ring(ring: &RingMemory<u64>, first: usize, src: &[u8]) {
    let dst = payload_ptr(ring, first, src.len());
    // SAFETY: the run `first..first + words` is inside the slot area (the
    // placement keeps the frame before the end of the ring) and free: the
    // consumer released it (SYNC: bytes-release) and reads it only after we
    // publish; `src.len() <= words * 8`; `src` is our own memory, so the two
    // do not overlap.
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst.as_ptr(), src.len()) };
}

/// Loom's cells cannot be viewed as bytes: copy word by word.
#[cfg(shmlane_loom)]
pub(super) fn copy_to_ring(ring: &RingMemory<u64>, first: usize, src: &[u8]) {
    for (i, chunk) in src.chunks(8).enumerate() {
        let mut bytes = [0u8; 8];
        bytes[..chunk.len()].copy_from_slice(chunk);
        ring.slot((first + i) as u64).with_mut(|word| {
            // SAFETY: as in the mapped version: the word is free and ours
            // until published.
            unsafe { word.write(u64::from_ne_bytes(bytes)) }
        });
    }
}

/// Appends `len` bytes of the payload at slot `first` to `dst`.
#[cfg(not(shmlane_loom))]
pub(super) fn copy_from_ring(ring: &RingMemory<u64>, first: usize, len: usize, dst: &mut Vec<u8>) {
    let src = payload_ptr(ring, first, len);
    dst.reserve(len);
    let spare = dst.spare_capacity_mut();
    // SAFETY: the run is a published frame inside the slot area (validated
    // by `next_frame`; SYNC: bytes-publish) that the producer does not
    // rewrite before we release it; `spare` has room for `len` bytes (just
    // reserved) and is our own memory, so the two do not overlap. A hostile
    // producer writing concurrently can only change which bytes we copy.
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), spare.as_mut_ptr().cast(), len) };
    // SAFETY: the first `len` spare bytes were initialised just above.
    unsafe { dst.set_len(dst.len() + len) };
}

/// Loom's cells cannot be viewed as bytes: copy word by word.
#[cfg(shmlane_loom)]
pub(super) fn copy_from_ring(ring: &RingMemory<u64>, first: usize, len: usize, dst: &mut Vec<u8>) {
    let mut left = len;
    let mut slot = first as u64;
    while left > 0 {
        // SAFETY: as in the mapped version: a published, unreleased word.
        let word = ring.slot(slot).with(|word| unsafe { word.read() });
        let take = left.min(8);
        dst.extend_from_slice(&word.to_ne_bytes()[..take]);
        left -= take;
        slot += 1;
    }
}

/// Reads the header word at `position` once. Volatile, so that the value
/// validated is the value used: the compiler may not read it again.
pub(super) fn read_frame_word(ring: &RingMemory<u64>, position: u64) -> u64 {
    ring.slot(position).with(|word| {
        // SAFETY: the word lies before the `tail` we loaded with Acquire
        // (SYNC: bytes-publish), so the producer wrote it before publishing;
        // any bits are a valid u64; the pointer is in bounds and aligned.
        unsafe { read_word(word) }
    })
}

/// # Safety
/// `word` must be valid for reads and aligned.
#[cfg(not(shmlane_loom))]
unsafe fn read_word(word: *const u64) -> u64 {
    // SAFETY: the caller's contract.
    unsafe { word.read_volatile() }
}

/// # Safety
/// `word` must be valid for reads and aligned.
#[cfg(shmlane_loom)]
unsafe fn read_word(word: *const u64) -> u64 {
    // SAFETY: the caller's contract (loom tracks the access through `with`).
    unsafe { word.read() }
}
