//! The zero-copy batch API: slices straight into the segment.

use std::ptr::NonNull;

use super::{Consumer, Producer};
use bytemuck::Pod;

/// Up to two runs of free slots (the second wraps to the ring's start),
/// written in place and published by [`commit`](Self::commit).
/// Dropping the chunk publishes nothing.
///
/// The slots hold whatever was there before (old items or zeroes): every
/// bit pattern is a valid `T: Pod`, so they are handed out as `&mut [T]`.
///
/// The slices point into shared memory: an honest consumer does not touch
/// free slots, a hostile one (or anyone who can write the segment) could
/// while the borrow lives (see SAFETY.md). Use `push` when the peer is
/// not trusted.
pub struct WriteChunk<'a, T: Pod> {
    pub(super) producer: &'a mut Producer<T>,
    pub(super) first: NonNull<T>,
    pub(super) first_len: usize,
    pub(super) second: NonNull<T>,
    pub(super) second_len: usize,
}

impl<T: Pod> WriteChunk<'_, T> {
    /// The two runs, in ring order.
    pub fn as_mut_slices(&mut self) -> (&mut [T], &mut [T]) {
        // SAFETY: the first run is free slots inside the slot area (from
        // `Capacity::split` over `free_slots`), aligned for T, and no
        // other endpoint touches them until `commit` publishes them
        // (SYNC: spsc-publish); the `&mut self` borrow makes this the
        // only reference.
        let first = unsafe { std::slice::from_raw_parts_mut(self.first.as_ptr(), self.first_len) };
        // SAFETY: as for the first run; the wrapped run starts at slot 0
        // and ends before the first run starts, so the two are disjoint.
        let second =
            unsafe { std::slice::from_raw_parts_mut(self.second.as_ptr(), self.second_len) };
        (first, second)
    }

    /// Number of slots in the chunk.
    pub fn len(&self) -> usize {
        self.first_len + self.second_len
    }

    /// Whether the chunk has no slot.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Publishes the first `k` slots (at most [`len`](Self::len)) and
    /// returns how many were published.
    pub fn commit(self, k: usize) -> usize {
        let k = k.min(self.len());
        let tail = self.producer.tail.wrapping_add(k as u64);
        self.producer.publish(tail);
        k
    }

    /// Publishes every slot of the chunk.
    pub fn commit_all(self) -> usize {
        let len = self.len();
        self.commit(len)
    }
}

/// Up to two runs of ready items (the second wraps to the ring's
/// start), read in place and freed by [`release`](Self::release).
/// Dropping the chunk frees nothing.
///
/// The slices point into shared memory: an honest producer does not
/// touch them until they are released; a hostile one could (see
/// SAFETY.md). Copy the items out first if the peer is not trusted.
pub struct ReadChunk<'a, T: Pod> {
    pub(super) consumer: &'a mut Consumer<T>,
    pub(super) first: NonNull<T>,
    pub(super) first_len: usize,
    pub(super) second: NonNull<T>,
    pub(super) second_len: usize,
}

impl<T: Pod> ReadChunk<'_, T> {
    /// The two runs, in ring order.
    pub fn as_slices(&self) -> (&[T], &[T]) {
        // SAFETY: the first run is published slots inside the slot area
        // (from `Capacity::split` over `available`, SYNC: spsc-publish),
        // aligned; the producer does not write them until `release`
        // frees them; the chunk borrows the consumer mutably, so nothing
        // releases them while this borrow lives.
        let first = unsafe { std::slice::from_raw_parts(self.first.as_ptr(), self.first_len) };
        // SAFETY: as for the first run (the wrapped run from slot 0).
        let second = unsafe { std::slice::from_raw_parts(self.second.as_ptr(), self.second_len) };
        (first, second)
    }

    /// Number of items in the chunk.
    pub fn len(&self) -> usize {
        self.first_len + self.second_len
    }

    /// Whether the chunk has no item.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Frees the first `k` items (at most [`len`](Self::len)) for the
    /// producer and returns how many were freed.
    pub fn release(self, k: usize) -> usize {
        let k = k.min(self.len());
        let head = self.consumer.head.wrapping_add(k as u64);
        self.consumer.release_to(head);
        k
    }

    /// Frees every item of the chunk.
    pub fn release_all(self) -> usize {
        let len = self.len();
        self.release(len)
    }
}
