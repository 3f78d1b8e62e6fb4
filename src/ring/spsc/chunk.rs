//! The zero-copy batch API: slices straight into the segment.
//!
//! Under loom the slot cells are loom's (they cannot be viewed as a
//! slice): a chunk stages its slots in a buffer of its own, filled from the
//! cells when a read chunk is taken and stored into them when a write chunk
//! is committed, every access tracked by loom. The indices, the
//! publication and the waits are the same code as outside loom, and each
//! slot is accessed inside the same window (after the reservation, before
//! the publish), so a protocol race shows as a concurrent cell access.

#[cfg(not(shmlane_loom))]
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
    #[cfg(not(shmlane_loom))]
    pub(super) first: NonNull<T>,
    pub(super) first_len: usize,
    #[cfg(not(shmlane_loom))]
    pub(super) second: NonNull<T>,
    pub(super) second_len: usize,
    /// Loom: the chunk's slots, stored into their cells at commit.
    #[cfg(shmlane_loom)]
    pub(super) staged: Vec<T>,
}

impl<T: Pod> WriteChunk<'_, T> {
    /// The two runs, in ring order.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, spsc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = spsc::heap_pair::<u64>(&Options::new().capacity(4))?;
    /// for i in 0..3 { tx.push(i).unwrap(); rx.pop()?; } // on to the last slot
    /// let mut chunk = tx.write_chunk(2)?;
    /// let (first, second) = chunk.as_mut_slices(); // the free slots wrap
    /// (first[0], second[0]) = (10, 11);
    /// chunk.commit_all();
    /// assert_eq!((rx.pop()?, rx.pop()?), (10, 11));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(shmlane_loom)]
    pub fn as_mut_slices(&mut self) -> (&mut [T], &mut [T]) {
        self.staged.split_at_mut(self.first_len)
    }

    /// The two runs, in ring order (see the loom variant above).
    #[cfg(not(shmlane_loom))]
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
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, spsc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, _rx) = spsc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// let chunk = tx.write_chunk(16)?;
    /// assert_eq!(chunk.len(), 8); // at most the free slots
    /// # Ok(())
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        self.first_len + self.second_len
    }

    /// Whether the chunk has no slot.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, spsc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, _rx) = spsc::heap_pair::<u64>(&Options::new().capacity(1))?; // one slot
    /// tx.push(1).unwrap();
    /// assert!(tx.write_chunk(0)?.is_empty()); // asking for none is never Full
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Publishes the first `k` slots (at most [`len`](Self::len)) and
    /// returns how many were published.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, spsc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, rx) = spsc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// let mut chunk = tx.write_chunk(3)?;
    /// chunk.as_mut_slices().0.copy_from_slice(&[1, 2, 3]);
    /// assert_eq!(chunk.commit(2), 2); // the third slot stays free
    /// assert_eq!(rx.len(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn commit(self, k: usize) -> usize {
        let k = k.min(self.len());
        #[cfg(shmlane_loom)]
        for (i, &value) in self.staged[..k].iter().enumerate() {
            use crate::ring::item::Store;
            let position = self.producer.tail.wrapping_add(i as u64);
            // SAFETY: the chunk's slots are free and this producer's until
            // the publish below (SYNC: spsc-publish), as for `push`.
            unsafe { value.store(&self.producer.ring, position) };
        }
        let tail = self.producer.tail.wrapping_add(k as u64);
        self.producer.publish(tail);
        k
    }

    /// Publishes every slot of the chunk.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, spsc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = spsc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// let mut chunk = tx.write_chunk(3)?;
    /// chunk.as_mut_slices().0.fill(5);
    /// assert_eq!(chunk.commit_all(), 3);
    /// assert_eq!(rx.pop()?, 5);
    /// # Ok(())
    /// # }
    /// ```
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
    #[cfg(not(shmlane_loom))]
    pub(super) first: NonNull<T>,
    pub(super) first_len: usize,
    #[cfg(not(shmlane_loom))]
    pub(super) second: NonNull<T>,
    pub(super) second_len: usize,
    /// Loom: the chunk's items, loaded from their cells when it was taken.
    #[cfg(shmlane_loom)]
    pub(super) staged: Vec<T>,
}

impl<T: Pod> ReadChunk<'_, T> {
    /// The two runs, in ring order.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, spsc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = spsc::heap_pair::<u64>(&Options::new().capacity(4))?;
    /// for i in 0..3 { tx.push(i).unwrap(); rx.pop()?; } // on to the last slot
    /// tx.push(10).unwrap();
    /// tx.push(11).unwrap();
    /// let chunk = rx.read_chunk(2)?;
    /// assert_eq!(chunk.as_slices(), (&[10][..], &[11][..])); // the items wrap
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(shmlane_loom)]
    pub fn as_slices(&self) -> (&[T], &[T]) {
        self.staged.split_at(self.first_len)
    }

    /// The two runs, in ring order (see the loom variant above).
    #[cfg(not(shmlane_loom))]
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
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, spsc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = spsc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// tx.push(1).unwrap();
    /// tx.push(2).unwrap();
    /// assert_eq!(rx.read_chunk(8)?.len(), 2); // at most the ready items
    /// # Ok(())
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        self.first_len + self.second_len
    }

    /// Whether the chunk has no item.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, spsc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (_tx, mut rx) = spsc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// assert!(rx.read_chunk(0)?.is_empty()); // asking for none is never Empty
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Frees the first `k` items (at most [`len`](Self::len)) for the
    /// producer and returns how many were freed.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, spsc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = spsc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// for i in 1..=3 {
    ///     tx.push(i).unwrap();
    /// }
    /// let chunk = rx.read_chunk(3)?;
    /// assert_eq!(chunk.release(2), 2); // the third stays in the ring
    /// assert_eq!(rx.pop()?, 3);
    /// # Ok(())
    /// # }
    /// ```
    pub fn release(self, k: usize) -> usize {
        let k = k.min(self.len());
        let head = self.consumer.head.wrapping_add(k as u64);
        self.consumer.release_to(head);
        k
    }

    /// Frees every item of the chunk.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, spsc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = spsc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// for i in 1..=3 {
    ///     tx.push(i).unwrap();
    /// }
    /// assert_eq!(rx.read_chunk(3)?.release_all(), 3);
    /// assert!(tx.is_empty()); // the producer sees the room
    /// # Ok(())
    /// # }
    /// ```
    pub fn release_all(self) -> usize {
        let len = self.len();
        self.release(len)
    }
}
