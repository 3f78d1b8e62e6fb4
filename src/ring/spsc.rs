//! Typed single-producer single-consumer ring.
//!
//! The producer owns `tail`, the consumer owns `head` (both in the
//! segment, each on its own cache line). Each side keeps its own position
//! in a local field and a cached copy of the other side's, and reads the
//! other side's index from shared memory only when the cache says the ring
//! is full (producer) or empty (consumer): in a busy stream most pushes and
//! pops touch no cache line the other core is writing.
//!
//! Every index read from the segment is validated (distance from the other
//! index at most the capacity) before use: an impossible one is [`Corruption`], never an out-of-bounds
//! access.
//!
//! ```no_run
//! use shmlane::{Options, spsc};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let opts = Options::new().capacity(4096);
//! let mut tx = spsc::Producer::<u64>::create("md-ticks", &opts)?; // this process
//! let mut rx = spsc::Consumer::<u64>::open("md-ticks", &opts)?;   // usually another one
//! tx.push(42).map_err(|e| e.to_string())?;
//! assert_eq!(rx.pop()?, 42);
//! # Ok(())
//! # }
//! ```

use bytemuck::Pod;

use super::RingMemory;
#[cfg(not(shmlane_loom))]
use super::Source;
use super::index::Capacity;
#[cfg(not(shmlane_loom))]
use crate::error::WriteChunkError;
use crate::error::{Corruption, OpenError, PopError, PushError};
use crate::options::Options;
use crate::peer::Role;
use crate::segment::RingKind;
use crate::sync::Ordering;

/// The writing end of an SPSC ring. Exactly one may be attached at a time.
pub struct Producer<T: Pod> {
    ring: RingMemory<T>,
    /// Next position to write; the segment's `tail` mirrors it.
    tail: u64,
    /// Last `head` read from the segment; `tail - cached_head <= capacity`.
    cached_head: u64,
}

/// The reading end of an SPSC ring. Exactly one may be attached at a time.
pub struct Consumer<T: Pod> {
    ring: RingMemory<T>,
    /// Next position to read; the segment's `head` mirrors it.
    head: u64,
    /// Last `tail` read from the segment; `cached_tail - head <= capacity`.
    cached_tail: u64,
}

/// A producer and a consumer over one new anonymous shared-memory segment
/// (memfd). Fork after this call and keep one end in each process (drop the
/// other end in each), or pass the segment to another process over a Unix
/// socket.
///
/// `opts` may set the capacity and schema id; `mode`, `persist` and
/// `open_timeout` apply only to named segments and are refused here.
#[cfg(not(shmlane_loom))]
pub fn pair<T: Pod + Send>(opts: &Options) -> Result<(Producer<T>, Consumer<T>), OpenError> {
    let roles = (Role::Producer, Role::Consumer);
    let (tx, rx) = RingMemory::memfd_pair(RingKind::Spsc, roles, opts)?;
    Ok((Producer::attach(tx)?, Consumer::attach(rx)?))
}

/// A producer and a consumer over process-local memory: the same ring for
/// threads of one process.
pub fn heap_pair<T: Pod + Send>(opts: &Options) -> Result<(Producer<T>, Consumer<T>), OpenError> {
    let roles = (Role::Producer, Role::Consumer);
    let (tx, rx) = RingMemory::heap_pair(RingKind::Spsc, roles, opts)?;
    Ok((Producer::attach(tx)?, Consumer::attach(rx)?))
}

/// Reads both indices once and checks they are at most `capacity` apart.
fn attach_positions<T: Pod>(ring: &RingMemory<T>) -> Result<(u64, u64), OpenError> {
    let control = ring.control();
    // SYNC: spsc-release (Acquire: the last consumer's reads of the slots
    // before `head` are done)
    let head = control.head.load(Ordering::Acquire);
    // SYNC: spsc-publish (Acquire: the last producer's slot writes before
    // `tail` are visible)
    let tail = control.tail.load(Ordering::Acquire);
    ring.capacity()
        .occupied(head, tail)
        .map(|_| (head, tail))
        .map_err(|corruption| OpenError::Corrupted {
            name: ring.name().to_owned(),
            corruption,
        })
}

impl<T: Pod + Send> Producer<T> {
    /// Creates the named segment `name` and attaches as its producer.
    #[cfg(not(shmlane_loom))]
    pub fn create(name: &str, opts: &Options) -> Result<Self, OpenError> {
        Self::attach(RingMemory::named(
            Source::Create(name),
            RingKind::Spsc,
            Role::Producer,
            opts,
        )?)
    }

    /// Opens the named segment `name` and attaches as its producer; fails
    /// with [`OpenError::RoleTaken`] while another live producer is attached.
    #[cfg(not(shmlane_loom))]
    pub fn open(name: &str, opts: &Options) -> Result<Self, OpenError> {
        Self::attach(RingMemory::named(
            Source::Open(name),
            RingKind::Spsc,
            Role::Producer,
            opts,
        )?)
    }

    fn attach(ring: RingMemory<T>) -> Result<Self, OpenError> {
        let (head, tail) = attach_positions(&ring)?;
        Ok(Self {
            ring,
            tail,
            cached_head: head,
        })
    }
}

impl<T: Pod> Producer<T> {
    /// Free slots, re-reading `head` only if the cache shows fewer than
    /// `want`.
    #[inline]
    fn free_slots(&mut self, want: u64) -> Result<u64, Corruption> {
        let capacity = self.ring.capacity().get();
        let free = capacity - self.tail.wrapping_sub(self.cached_head);
        if free >= want {
            return Ok(free);
        }
        // SYNC: spsc-release (Acquire: the consumer has finished reading
        // every slot before `head`, so they may be overwritten)
        let head = self.ring.control().head.load(Ordering::Acquire);
        let used = self.ring.capacity().occupied(head, self.tail)?;
        self.cached_head = head;
        Ok(capacity - used)
    }

    /// Makes positions up to `tail` visible to the consumer.
    #[inline(always)]
    fn publish(&mut self, tail: u64) {
        self.tail = tail;
        // SYNC: spsc-publish (Release: the slot writes before `tail`
        // happen-before the consumer's Acquire load that sees it)
        self.ring.control().tail.store(tail, Ordering::Release);
    }

    /// Appends `value`, or hands it back in [`PushError::Full`].
    #[inline]
    pub fn push(&mut self, value: T) -> Result<(), PushError<T>> {
        match self.free_slots(1) {
            Ok(0) => return Err(PushError::Full(value)),
            Ok(_) => {}
            Err(corruption) => return Err(PushError::Corrupted(value, corruption)),
        }
        self.ring.slot(self.tail).with_mut(|slot| {
            // SAFETY: the slot at `tail` is free (free_slots >= 1): the
            // consumer has released it (SYNC: spsc-release) and will not read
            // it before we publish; only this producer writes slots.
            unsafe { slot.write(value) }
        });
        self.publish(self.tail.wrapping_add(1));
        Ok(())
    }

    /// Hands out up to `n` free slots to write in place; see [`WriteChunk`].
    /// [`WriteChunkError::Full`] if no slot is free (and `n > 0`).
    #[cfg(not(shmlane_loom))]
    pub fn write_chunk(&mut self, n: usize) -> Result<WriteChunk<'_, T>, WriteChunkError> {
        let free = self
            .free_slots(n as u64)
            .map_err(WriteChunkError::Corrupted)?;
        if free == 0 && n > 0 {
            return Err(WriteChunkError::Full);
        }
        let len = free.min(n as u64);
        let (first_slot, first_len, second_len) = self.ring.capacity().split(self.tail, len);
        Ok(WriteChunk {
            first: self.ring.slot_run(first_slot, first_len),
            first_len,
            second: self.ring.slot_run(0, second_len),
            second_len,
            producer: self,
        })
    }

    /// Number of items in the ring, as far as this end can tell. If the
    /// consumer wrote an impossible index this reports the capacity, and
    /// the next push reports the corruption.
    pub fn len(&self) -> usize {
        // SYNC: spsc-release
        let head = self.ring.control().head.load(Ordering::Acquire);
        len_or_capacity(self.ring.capacity(), head, self.tail)
    }

    /// Whether the ring is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the ring is full.
    pub fn is_full(&self) -> bool {
        self.len() as u64 == self.ring.capacity().get()
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.ring.capacity().get() as usize
    }
}

fn len_or_capacity(capacity: Capacity, head: u64, tail: u64) -> usize {
    capacity.occupied(head, tail).unwrap_or(capacity.get()) as usize
}

impl<T: Pod + Send> Consumer<T> {
    /// Creates the named segment `name` and attaches as its consumer.
    #[cfg(not(shmlane_loom))]
    pub fn create(name: &str, opts: &Options) -> Result<Self, OpenError> {
        Self::attach(RingMemory::named(
            Source::Create(name),
            RingKind::Spsc,
            Role::Consumer,
            opts,
        )?)
    }

    /// Opens the named segment `name` and attaches as its consumer; fails
    /// with [`OpenError::RoleTaken`] while another live consumer is attached.
    #[cfg(not(shmlane_loom))]
    pub fn open(name: &str, opts: &Options) -> Result<Self, OpenError> {
        Self::attach(RingMemory::named(
            Source::Open(name),
            RingKind::Spsc,
            Role::Consumer,
            opts,
        )?)
    }

    pub(crate) fn attach(ring: RingMemory<T>) -> Result<Self, OpenError> {
        let (head, tail) = attach_positions(&ring)?;
        Ok(Self {
            ring,
            head,
            cached_tail: tail,
        })
    }
}

impl<T: Pod> Consumer<T> {
    /// Items ready, re-reading `tail` only if the cache shows fewer than
    /// `want`.
    #[inline]
    fn available(&mut self, want: u64) -> Result<u64, Corruption> {
        let ready = self.cached_tail.wrapping_sub(self.head);
        if ready >= want {
            return Ok(ready);
        }
        // SYNC: spsc-publish (Acquire: the producer's writes of every slot
        // before `tail` are visible)
        let tail = self.ring.control().tail.load(Ordering::Acquire);
        let ready = self.ring.capacity().occupied(self.head, tail)?;
        self.cached_tail = tail;
        Ok(ready)
    }

    /// Frees positions up to `head` for the producer.
    #[inline(always)]
    fn release_to(&mut self, head: u64) {
        self.head = head;
        // SYNC: spsc-release (Release: our reads of the slots before `head`
        // happen-before the producer's Acquire load that sees it)
        self.ring.control().head.store(head, Ordering::Release);
    }

    /// Removes and returns the oldest item, or [`PopError::Empty`].
    #[inline]
    pub fn pop(&mut self) -> Result<T, PopError> {
        match self.available(1) {
            Ok(0) => return Err(PopError::Empty),
            Ok(_) => {}
            Err(corruption) => return Err(PopError::Corrupted(corruption)),
        }
        let value = self.ring.slot(self.head).with(|slot| {
            // SAFETY: the slot at `head` was published (available >= 1, SYNC:
            // spsc-publish) and the producer will not rewrite it before we
            // release it; any bytes are a valid `T: Pod`.
            unsafe { slot.read() }
        });
        self.release_to(self.head.wrapping_add(1));
        Ok(value)
    }

    /// Hands out up to `n` ready items to read in place; see [`ReadChunk`].
    /// [`PopError::Empty`] if none is ready (and `n > 0`).
    #[cfg(not(shmlane_loom))]
    pub fn read_chunk(&mut self, n: usize) -> Result<ReadChunk<'_, T>, PopError> {
        let ready = self.available(n as u64).map_err(PopError::Corrupted)?;
        if ready == 0 && n > 0 {
            return Err(PopError::Empty);
        }
        let len = ready.min(n as u64);
        let (first_slot, first_len, second_len) = self.ring.capacity().split(self.head, len);
        Ok(ReadChunk {
            first: self.ring.slot_run(first_slot, first_len),
            first_len,
            second: self.ring.slot_run(0, second_len),
            second_len,
            consumer: self,
        })
    }

    /// Number of items ready, as far as this end can tell. If the producer
    /// wrote an impossible index this reports the capacity, and the next
    /// pop reports the corruption.
    pub fn len(&self) -> usize {
        // SYNC: spsc-publish
        let tail = self.ring.control().tail.load(Ordering::Acquire);
        len_or_capacity(self.ring.capacity(), self.head, tail)
    }

    /// Whether no item is ready.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether every slot holds an item.
    pub fn is_full(&self) -> bool {
        self.len() as u64 == self.ring.capacity().get()
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.ring.capacity().get() as usize
    }
}

#[cfg(not(shmlane_loom))]
pub use chunks::{ReadChunk, WriteChunk};

/// The zero-copy batch API: slices straight into the segment.
#[cfg(not(shmlane_loom))]
mod chunks {
    use std::ptr::NonNull;

    use super::{Consumer, Producer};
    use bytemuck::Pod;

    /// Up to two runs of free slots (the second wraps to the ring's start),
    /// written in place and published by [`commit`](Self::commit).
    /// Dropping the chunk publishes nothing.
    ///
    /// The slots hold whatever was there before (old items or zeroes): every
    /// bit pattern is a valid `T: Pod`, so they are handed out as `&mut [T]`.
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
            let first =
                unsafe { std::slice::from_raw_parts_mut(self.first.as_ptr(), self.first_len) };
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
            let second =
                unsafe { std::slice::from_raw_parts(self.second.as_ptr(), self.second_len) };
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
}

impl<T: Pod> std::fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("segment", &self.ring.name())
            .field("capacity", &self.ring.capacity().get())
            .field("tail", &self.tail)
            .finish_non_exhaustive()
    }
}

impl<T: Pod> std::fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("segment", &self.ring.name())
            .field("capacity", &self.ring.capacity().get())
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(shmlane_loom)))]
mod tests {
    use super::*;

    fn ring(capacity: usize) -> (Producer<u64>, Consumer<u64>) {
        heap_pair(&Options::new().capacity(capacity)).expect("heap pair")
    }

    #[test]
    fn pops_in_push_order_and_reports_full_and_empty() {
        let (mut tx, mut rx) = ring(4);
        assert_eq!(rx.pop(), Err(PopError::Empty));
        for v in 0..4 {
            tx.push(v).unwrap();
        }
        assert!(tx.is_full());
        assert_eq!(tx.push(99), Err(PushError::Full(99)));
        assert_eq!(rx.len(), 4);
        for v in 0..4 {
            assert_eq!(rx.pop(), Ok(v));
        }
        assert!(rx.is_empty() && tx.is_empty());
        assert_eq!(rx.pop(), Err(PopError::Empty));
    }

    #[test]
    fn wraps_around_many_times() {
        let (mut tx, mut rx) = ring(8);
        for round in 0..100u64 {
            for i in 0..5 {
                tx.push(round * 5 + i).unwrap();
            }
            for i in 0..5 {
                assert_eq!(rx.pop(), Ok(round * 5 + i));
            }
        }
    }

    #[test]
    fn write_chunk_splits_at_the_wrap_and_commits_only_k() {
        let (mut tx, mut rx) = ring(8);
        for v in 0..6 {
            tx.push(v).unwrap();
        }
        for v in 0..6 {
            assert_eq!(rx.pop(), Ok(v));
        }
        // tail is at slot 6: a chunk of 5 is 2 slots then 3 wrapped.
        let mut chunk = tx.write_chunk(5).unwrap();
        let (a, b) = chunk.as_mut_slices();
        assert_eq!((a.len(), b.len()), (2, 3));
        for (i, slot) in a.iter_mut().chain(b.iter_mut()).enumerate() {
            *slot = 100 + i as u64;
        }
        assert_eq!(chunk.commit(4), 4);
        let read = rx.read_chunk(10).unwrap();
        assert_eq!(read.len(), 4);
        let (a, b) = read.as_slices();
        assert_eq!([a, b].concat(), vec![100, 101, 102, 103]);
        assert_eq!(read.release(3), 3);
        assert_eq!(rx.pop(), Ok(103));
        assert_eq!(rx.pop(), Err(PopError::Empty));
    }

    #[test]
    fn chunks_clamp_to_what_exists() {
        let (mut tx, mut rx) = ring(4);
        assert!(matches!(rx.read_chunk(1), Err(PopError::Empty)));
        assert_eq!(rx.read_chunk(0).map(|c| c.len()), Ok(0));
        let chunk = tx.write_chunk(100).unwrap();
        assert_eq!(chunk.len(), 4);
        assert_eq!(chunk.commit(100), 4, "commit clamps to the chunk");
        assert!(matches!(tx.write_chunk(1), Err(WriteChunkError::Full)));
        assert_eq!(tx.write_chunk(0).map(|c| c.len()), Ok(0));
        assert_eq!(rx.read_chunk(2).unwrap().release_all(), 2);
        assert_eq!(rx.read_chunk(100).unwrap().release(100), 2);
    }

    #[test]
    fn dropped_chunks_publish_and_free_nothing() {
        let (mut tx, mut rx) = ring(4);
        {
            let mut chunk = tx.write_chunk(2).unwrap();
            chunk.as_mut_slices().0.fill(7);
        }
        assert_eq!(rx.pop(), Err(PopError::Empty));
        tx.push(1).unwrap();
        {
            let _unreleased = rx.read_chunk(1).unwrap();
        }
        assert_eq!(rx.pop(), Ok(1));
    }

    #[test]
    fn moves_items_between_threads_in_order() {
        let count: u64 = if cfg!(miri) { 500 } else { 200_000 };
        let (mut tx, mut rx) = ring(16);
        let producer = crate::sync::thread::spawn(move || {
            for v in 0..count {
                let mut item = v;
                while let Err(PushError::Full(back)) = tx.push(item) {
                    item = back;
                    std::thread::yield_now();
                }
            }
        });
        let mut expected = 0;
        while expected < count {
            match rx.pop() {
                Ok(v) => {
                    assert_eq!(v, expected);
                    expected += 1;
                }
                Err(PopError::Empty) => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        producer.join().unwrap();
    }

    #[test]
    fn impossible_indices_are_corruption_not_a_panic() {
        let (mut tx, mut rx) = ring(4);
        tx.push(1).unwrap();
        // A hostile producer moves tail far ahead of head.
        tx.ring.control().tail.store(1000, Ordering::Relaxed);
        rx.cached_tail = rx.head; // force a re-read
        assert!(matches!(rx.pop(), Err(PopError::Corrupted(c)) if c.found == 1000));
        assert_eq!(rx.len(), 4, "len saturates to the capacity");
        // A hostile consumer moves head past tail.
        tx.ring.control().head.store(5000, Ordering::Relaxed);
        tx.cached_head = 0;
        tx.tail = 4;
        assert!(matches!(tx.push(9), Err(PushError::Corrupted(9, _))));
        assert!(matches!(
            tx.write_chunk(1),
            Err(WriteChunkError::Corrupted(_))
        ));
    }

    #[test]
    fn invalid_capacities_are_config_errors() {
        for capacity in [0, 3, 1000, usize::MAX] {
            let err = heap_pair::<u64>(&Options::new().capacity(capacity)).unwrap_err();
            assert!(
                matches!(err, OpenError::InvalidConfig(_)),
                "{capacity}: {err}"
            );
        }
        let err = heap_pair::<u64>(&Options::new().mode(0o644)).unwrap_err();
        assert!(
            matches!(err, OpenError::InvalidConfig(ref m) if m.contains("mode")),
            "{err}"
        );
        let err = heap_pair::<u64>(&Options::new().schema_id(0)).unwrap_err();
        assert!(matches!(err, OpenError::InvalidConfig(_)), "{err}");
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "Miri aborts on allocation failure instead of reporting it"
    )]
    fn a_capacity_too_large_for_memory_is_no_space() {
        let err = heap_pair::<[u64; 8]>(&Options::new().capacity(1 << 50)).unwrap_err();
        assert!(matches!(err, OpenError::NoSpace { .. }), "{err}");
    }
}
