//! What the typed rings move in and out of a slot: a Rust value, or a raw
//! record of the segment's run-time slot size (the raw endpoints, for the
//! C ABI and other languages). The rings' send and receive logic is
//! written once, generic over these two traits; only the copy differs.

use bytemuck::Pod;

use super::RingMemory;
use super::mpmc::Slot;
use crate::options::SlotShape;
use crate::segment::RingKind;
use crate::sync::{AtomicU64, UnsafeCell};

/// The type name a raw endpoint records and expects: two raw endpoints
/// without a schema id agree on it (a typed one never does).
pub(crate) const RAW_TYPE_NAME: &str = "shmlane::raw";

/// Where a ring kind's slot cell holds the value: the cell itself (SPSC),
/// or beside the stamp (MPMC).
pub(crate) trait ValueCell<T> {
    fn value(&self) -> &UnsafeCell<T>;
}

impl<T> ValueCell<T> for UnsafeCell<T> {
    #[inline(always)]
    fn value(&self) -> &UnsafeCell<T> {
        self
    }
}

impl<T> ValueCell<T> for Slot<T> {
    #[inline(always)]
    fn value(&self) -> &UnsafeCell<T> {
        &self.value
    }
}

/// Something a sender stores into a claimed slot; `Copy`, so that the
/// refusals on the slow paths can hand a copy back.
pub(crate) trait Store<T, S>: Copy {
    /// Copies `self` into the slot at `position`.
    ///
    /// # Safety
    ///
    /// The caller holds the slot at `position` for writing: no other
    /// endpoint reads or writes its value until the caller publishes it.
    unsafe fn store(self, ring: &RingMemory<T, S>, position: u64);
}

/// Something a receiver loads a claimed slot into.
pub(crate) trait Load<T, S> {
    /// What the load returns (the value, or nothing for a caller's buffer).
    type Output;

    /// Copies the value of the slot at `position` out.
    ///
    /// # Safety
    ///
    /// The caller holds the published slot at `position` for reading: no
    /// endpoint writes it until the caller frees it.
    unsafe fn load(&mut self, ring: &RingMemory<T, S>, position: u64) -> Self::Output;
}

impl<T: Pod, S: ValueCell<T>> Store<T, S> for T {
    #[inline(always)]
    unsafe fn store(self, ring: &RingMemory<T, S>, position: u64) {
        ring.slot(position).value().with_mut(|slot| {
            // SAFETY: the caller holds the slot for writing (this fn's
            // contract); the cell is an initialised, aligned `T`.
            unsafe { slot.write(self) }
        });
    }
}

/// Loads a typed slot as its value.
pub(crate) struct TakeValue;

impl<T: Pod, S: ValueCell<T>> Load<T, S> for TakeValue {
    type Output = T;

    #[inline(always)]
    unsafe fn load(&mut self, ring: &RingMemory<T, S>, position: u64) -> T {
        ring.slot(position).value().with(|slot| {
            // SAFETY: the caller holds the published slot (this fn's
            // contract); any bytes are a valid `T: Pod`.
            unsafe { slot.read() }
        })
    }
}

/// Where a raw record sits in a ring kind's cell, and the cell's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawCell {
    /// Bytes from the start of the cell to the record.
    pub(crate) value_offset: usize,
    /// Bytes from one cell to the next.
    pub(crate) stride: usize,
}

/// The cell a ring of `kind` keeps a record of `shape` in: what the typed
/// endpoints' cell type is for a Rust type of that size and alignment
/// (`UnsafeCell<T>`, or MPMC's `#[repr(C)]` stamp-then-value `Slot<T>`),
/// so that raw and typed endpoints share a segment.
pub(crate) fn raw_cell(kind: RingKind, shape: SlotShape) -> RawCell {
    match kind {
        RingKind::Mpmc => {
            let stamp = size_of::<AtomicU64>();
            let value_offset = stamp.next_multiple_of(shape.align());
            let cell_align = shape.align().max(align_of::<AtomicU64>());
            RawCell {
                value_offset,
                stride: (value_offset + shape.size()).next_multiple_of(cell_align),
            }
        }
        _ => RawCell {
            value_offset: 0,
            stride: shape.size(),
        },
    }
}

/// A record to store: exactly one slot's bytes (the raw endpoints check
/// the length before they build one).
#[cfg(not(shmlane_loom))]
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawRecord<'a>(pub(crate) &'a [u8]);

/// A caller's buffer of exactly one slot's bytes to load a record into.
#[cfg(not(shmlane_loom))]
#[derive(Debug)]
pub(crate) struct RawBuffer<'a>(pub(crate) &'a mut [u8]);

/// The record's bytes in the slot at `position`.
#[cfg(not(shmlane_loom))]
#[inline(always)]
fn record_at<T: Pod, S>(ring: &RingMemory<T, S>, position: u64) -> std::ptr::NonNull<u8> {
    let cell = raw_cell(ring.layout().kind, ring.slot_shape());
    // SAFETY: the record lies inside its cell (`raw_cell`: offset plus
    // size at most the stride), which lies inside the slot area.
    unsafe { ring.slot_start(position).add(cell.value_offset) }
}

#[cfg(not(shmlane_loom))]
impl<S> Store<(), S> for RawRecord<'_> {
    #[inline(always)]
    unsafe fn store(self, ring: &RingMemory<(), S>, position: u64) {
        debug_assert_eq!(self.0.len(), ring.slot_shape().size());
        let len = self.0.len().min(ring.slot_shape().size());
        // SAFETY: the destination is the slot's record (`len` bytes at
        // most, inside the slot area) which the caller holds for writing
        // (this fn's contract); the source is a caller's slice, which
        // cannot overlap the segment's slot being written by us alone.
        unsafe { copy_record(self.0.as_ptr(), record_at(ring, position).as_ptr(), len) };
    }
}

#[cfg(not(shmlane_loom))]
impl<S> Load<(), S> for RawBuffer<'_> {
    type Output = ();

    #[inline(always)]
    unsafe fn load(&mut self, ring: &RingMemory<(), S>, position: u64) {
        debug_assert_eq!(self.0.len(), ring.slot_shape().size());
        let len = self.0.len().min(ring.slot_shape().size());
        // SAFETY: the source is the slot's record (`len` bytes at most,
        // inside the slot area), published and held by the caller (this
        // fn's contract); the destination is the caller's exclusive slice.
        unsafe { copy_record(record_at(ring, position).as_ptr(), self.0.as_mut_ptr(), len) };
    }
}

/// Copies a record of `len` bytes: the common small sizes with a length
/// known here (a few moves, inlined), others through `memcpy` (a call per
/// record otherwise, which a round trip of small records would pay twice).
///
/// # Safety
///
/// As `ptr::copy_nonoverlapping(src, dst, len)`.
#[cfg(not(shmlane_loom))]
#[inline(always)]
unsafe fn copy_record(src: *const u8, dst: *mut u8, len: usize) {
    use std::ptr::copy_nonoverlapping as copy;
    match len {
        // SAFETY: each arm copies exactly `len` bytes (this fn's contract).
        8 => unsafe { copy(src, dst, 8) },
        // SAFETY: as above.
        16 => unsafe { copy(src, dst, 16) },
        // SAFETY: as above.
        32 => unsafe { copy(src, dst, 32) },
        // SAFETY: as above.
        64 => unsafe { copy(src, dst, 64) },
        // SAFETY: as above.
        _ => unsafe { copy(src, dst, len) },
    }
}

/// `opts` for a raw endpoint of `shape`: the shape replaces the type's in
/// the expected layout (`RingMemory::expected_layout`).
#[cfg(not(shmlane_loom))]
pub(crate) fn raw_options(
    shape: SlotShape,
    opts: &crate::options::Options,
) -> crate::options::Options {
    let mut opts = opts.clone();
    opts.slot_shape = Some(shape);
    opts
}

/// Refuses a record or buffer that is not exactly one slot of `shape`.
#[cfg(not(shmlane_loom))]
pub(crate) fn check_record<E>(
    given: usize,
    shape: SlotShape,
) -> Result<(), crate::error::RecordError<E>> {
    if given == shape.size() {
        Ok(())
    } else {
        Err(crate::error::RecordError::WrongSize {
            given,
            slot_size: shape.size(),
        })
    }
}

#[cfg(all(test, not(shmlane_loom)))]
mod tests {
    use super::*;

    /// `raw_cell` for the shape of `T` is the typed endpoints' cell of `T`.
    fn assert_cells_match<T>() {
        let shape = SlotShape::new(size_of::<T>(), align_of::<T>()).unwrap();
        let spsc = raw_cell(RingKind::Spsc, shape);
        assert_eq!(spsc.value_offset, 0);
        assert_eq!(spsc.stride, size_of::<UnsafeCell<T>>());
        let mpmc = raw_cell(RingKind::Mpmc, shape);
        assert_eq!(mpmc.value_offset, std::mem::offset_of!(Slot<T>, value));
        assert_eq!(
            mpmc.stride,
            size_of::<Slot<T>>(),
            "{}",
            core::any::type_name::<T>()
        );
    }

    #[repr(C, align(16))]
    struct Wide([u8; 48]);

    #[repr(C, align(64))]
    struct Line([u8; 64]);

    #[test]
    fn raw_cells_are_laid_out_as_the_typed_cells() {
        assert_cells_match::<u8>();
        assert_cells_match::<[u8; 3]>();
        assert_cells_match::<u32>();
        assert_cells_match::<u64>();
        assert_cells_match::<[u64; 3]>();
        assert_cells_match::<Wide>();
        assert_cells_match::<Line>();
    }
}
