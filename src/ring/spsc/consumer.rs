//! The reading end of the typed SPSC ring.

use std::time::{Duration, Instant};

use crate::ring::endpoint_accessors;
use bytemuck::Pod;

#[cfg(not(shmlane_loom))]
use super::super::Source;
use super::super::item::{Load, TakeValue};
use super::super::{RingMemory, Wake};
use super::ReadChunk;
use super::{Refresh, len_or_capacity};
use crate::error::{Corruption, OpenError, PopError};
use crate::options::Options;
use crate::options::WaitStrategy;
#[cfg(not(shmlane_loom))]
use crate::segment::RingKind;
#[cfg(not(shmlane_loom))]
use crate::segment::peer::Role;
use crate::sync::{Ordering, UnsafeCell, spin_hint};
use crate::wait::{self, Limit};

/// The reading end of an SPSC ring. Exactly one may be attached at a time.
pub struct Consumer<T: Pod> {
    pub(super) ring: RingMemory<T>,
    /// Next position to read; the segment's `head` mirrors it.
    pub(super) head: u64,
    /// Last `tail` read from the segment; `cached_tail - head <= capacity`.
    pub(super) cached_tail: u64,
    pub(super) strategy: WaitStrategy,
}

/// Items for a consumer at `head`, from the segment (no cached state).
fn has_items<T: Pod>(ring: &RingMemory<T>, head: u64) -> Result<bool, Corruption> {
    // SYNC: spsc-publish
    let tail = ring.tail().load(Ordering::Acquire);
    Ok(ring.capacity().occupied(head, tail)? > 0)
}

impl<T: Pod + Send> Consumer<T> {
    /// Creates the named segment `name` and attaches as its consumer.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shmlane::{Options, spsc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // The consumer may come first: it makes the segment, a producer opens it.
    /// let mut rx = spsc::Consumer::<u64>::create("ticks", &Options::new().capacity(1024))?;
    /// println!("{}", rx.recv()?); // waits for a producer
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(not(shmlane_loom))]
    pub fn create(name: &str, opts: &Options) -> Result<Self, OpenError> {
        let ring = RingMemory::named(Source::Create(name), RingKind::Spsc, Role::Consumer, opts)?;
        Self::attach(ring, opts)
    }

    /// Opens the named segment `name` and attaches as its consumer; fails
    /// with [`OpenError::RoleTaken`] while another live consumer is attached.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shmlane::{Options, spsc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // The segment's capacity is adopted when none is given.
    /// let mut rx = spsc::Consumer::<u64>::open("ticks", &Options::new())?;
    /// while let Ok(tick) = rx.recv() {
    ///     println!("{tick}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(not(shmlane_loom))]
    pub fn open(name: &str, opts: &Options) -> Result<Self, OpenError> {
        let ring = RingMemory::named(Source::Open(name), RingKind::Spsc, Role::Consumer, opts)?;
        Self::attach(ring, opts)
    }

    /// Opens the named segment `name` as its consumer if some endpoint holds
    /// it (or it was made with `persist`), and creates it otherwise,
    /// replacing a stale segment of that name (one every endpoint of which
    /// died): the one call for a program that may be the first to start or
    /// a restart after a crash. A new session never sees a dead session's
    /// items; a live peer's are all there. `opts` serve both ways.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shmlane::{Options, spsc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let end = spsc::Consumer::<u64>::open_or_create("restartable", &Options::new())?;
    /// # drop(end);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(not(shmlane_loom))]
    pub fn open_or_create(name: &str, opts: &Options) -> Result<Self, OpenError> {
        let source = Source::OpenOrCreate(name, opts);
        let ring = RingMemory::named(source, RingKind::Spsc, Role::Consumer, opts)?;
        Self::attach(ring, opts)
    }

    pub(crate) fn attach(ring: RingMemory<T>, opts: &Options) -> Result<Self, OpenError> {
        let (head, _) = ring.positions()?;
        Ok(Self {
            ring,
            head,
            // The cache starts out saying "empty", so that the first pop
            // takes the slow path, which marks the endpoint attached.
            cached_tail: head,
            strategy: opts.wait_strategy.unwrap_or_default(),
        })
    }
}

impl<T: Pod> Consumer<T> {
    /// The segment, for the async endpoints' wake word.
    #[cfg(all(feature = "tokio", not(shmlane_loom)))]
    pub(crate) fn memory(&self) -> &RingMemory<T> {
        &self.ring
    }

    /// How this endpoint waits (the async endpoints follow it too).
    #[cfg(all(feature = "tokio", not(shmlane_loom)))]
    pub(crate) fn wait_strategy(&self) -> crate::options::WaitStrategy {
        self.strategy
    }

    /// Items ready, re-reading `tail` only if the cache shows fewer than
    /// `want`.
    #[inline]
    fn available(&mut self, want: u64) -> Result<u64, Corruption> {
        let ready = self.cached_tail.wrapping_sub(self.head);
        if ready >= want {
            return Ok(ready);
        }
        self.refresh_tail()
    }

    /// The common refresh, inline, for an attached endpoint: one load of
    /// `tail`. First use and corruption are left to the cold path.
    #[inline(always)]
    fn refresh_tail_fast(&mut self) -> Refresh {
        if !self.ring.is_attached() || self.ring.is_poisoned() {
            return Refresh::Slow;
        }
        // SYNC: spsc-publish (Acquire: as in refresh_tail)
        let tail = self.ring.tail().load(Ordering::Acquire);
        match self.ring.capacity().occupied(self.head, tail) {
            Ok(0) => Refresh::None,
            Ok(_) => {
                self.cached_tail = tail;
                Refresh::Found
            }
            Err(_) => Refresh::Slow,
        }
    }

    /// `tail` was just re-read and showed nothing: `Empty`, or the drain
    /// and disconnect of [`none_or_disconnected`](Self::none_or_disconnected).
    #[cold]
    #[inline(never)]
    fn pop_found_none(&mut self) -> Result<(), PopError> {
        match self.none_or_disconnected()? {
            0 => Err(PopError::Empty),
            _ => Ok(()),
        }
    }

    /// Re-reads `tail` (the slow path of every consumer operation): also
    /// where this endpoint marks itself attached on first use.
    #[cold]
    #[inline(never)]
    fn refresh_tail(&mut self) -> Result<u64, Corruption> {
        self.ring.poisoned()?;
        self.ring.ensure_attached();
        // SYNC: spsc-publish (Acquire: the producer's writes of every slot
        // before `tail` are visible)
        let tail = self.ring.tail().load(Ordering::Acquire);
        match self.ring.capacity().occupied(self.head, tail) {
            Ok(ready) => {
                self.cached_tail = tail;
                Ok(ready)
            }
            Err(corruption) => Err(self.poison(corruption)),
        }
    }

    /// Poisons the endpoint and makes the cache say "empty" so that every
    /// call takes the slow path, which checks the poison.
    #[cold]
    pub(crate) fn poison(&mut self, found: Corruption) -> Corruption {
        self.cached_tail = self.head;
        self.ring.poison(found)
    }

    /// Items ready; if none and the producer is gone, `Disconnected` (after
    /// one more look, so that everything it committed is drained first).
    #[inline]
    fn ready_or_disconnected(&mut self, want: u64) -> Result<u64, PopError> {
        match self.available(want).map_err(PopError::corrupted)? {
            0 => self.none_or_disconnected(),
            ready => Ok(ready),
        }
    }

    /// A look at `tail` showed nothing: 0, unless the producer is gone, in
    /// which case one more look drains what it published before it left
    /// or reports `Disconnected`. The Acquire load that saw it gone (SYNC:
    /// peer-state) orders its last publish before this re-read, which must
    /// really re-read `tail` (the cache may be stale, and `available(0)`
    /// would not look).
    fn none_or_disconnected(&mut self) -> Result<u64, PopError> {
        // An empty look: now and then also a liveness check, so that a
        // loop of non-blocking pops learns of a SIGKILLed producer.
        if !self.ring.idle_poll_found_peer_gone() {
            return Ok(0);
        }
        match self.refresh_tail().map_err(PopError::corrupted)? {
            0 => Err(PopError::Disconnected),
            ready => Ok(ready),
        }
    }

    /// Frees positions up to `head` for the producer and wakes it if it
    /// sleeps.
    #[inline(always)]
    pub(super) fn release_to(&mut self, head: u64) {
        self.head = head;
        // SYNC: spsc-release (Release: our reads of the slots before `head`
        // happen-before the producer's Acquire load that sees it)
        self.ring.head().store(head, Ordering::Release);
        self.ring.notify_peer();
    }

    /// Removes and returns the oldest item: [`PopError::Empty`] if there is
    /// none, [`PopError::Disconnected`] once the producer is gone and every
    /// item it committed has been popped.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, PopError, spsc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = spsc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// assert_eq!(rx.pop(), Err(PopError::Empty));
    /// tx.push(42).unwrap();
    /// assert_eq!(rx.pop()?, 42);
    /// # Ok(())
    /// # }
    /// ```
    // Always inlined, as `push`.
    #[inline(always)]
    pub fn pop(&mut self) -> Result<T, PopError> {
        self.pop_item(&mut TakeValue)
    }

    /// `pop` into a value or a raw buffer (see `ring::item`).
    #[inline(always)]
    pub(super) fn pop_item<L: Load<T, UnsafeCell<T>>>(
        &mut self,
        load: &mut L,
    ) -> Result<L::Output, PopError> {
        if self.cached_tail == self.head {
            match self.refresh_tail_fast() {
                Refresh::Found => {}
                Refresh::None => self.pop_found_none()?,
                Refresh::Slow => self.pop_slow_check()?,
            }
        }
        // SAFETY: the slot at `head` was published (available >= 1, SYNC:
        // spsc-publish) and the producer will not rewrite it before we
        // release it.
        let value = unsafe { load.load(&self.ring, self.head) };
        self.release_to(self.head.wrapping_add(1));
        Ok(value)
    }

    /// The slow half of `pop`: the cache says empty.
    #[cold]
    #[inline(never)]
    fn pop_slow_check(&mut self) -> Result<(), PopError> {
        match self.ready_or_disconnected(1)? {
            0 => Err(PopError::Empty),
            _ => Ok(()),
        }
    }

    /// Removes and returns the oldest item, waiting as long as it takes (as the endpoint's
    /// [`WaitStrategy`](crate::WaitStrategy) says).
    /// A producer killed while we wait is noticed within about
    /// [`LIVENESS_TICK`](crate::LIVENESS_TICK); what it committed is
    /// received first, then [`PopError::Disconnected`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, PopError, spsc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = spsc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// tx.push(42).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.recv()?, 42); // what was committed comes first
    /// assert_eq!(rx.recv(), Err(PopError::Disconnected));
    /// # Ok(())
    /// # }
    /// ```
    #[inline(always)]
    pub fn recv(&mut self) -> Result<T, PopError> {
        self.recv_within(Limit::Forever)
    }

    /// Like [`recv`](Self::recv), giving up with a timeout
    /// error after `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, PopError, spsc};
    /// use std::time::Duration;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = spsc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// assert_eq!(rx.recv_timeout(Duration::from_millis(10)), Err(PopError::Timeout));
    /// tx.push(42).unwrap();
    /// assert_eq!(rx.recv_timeout(Duration::from_millis(10))?, 42);
    /// # Ok(())
    /// # }
    /// ```
    #[inline(always)]
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<T, PopError> {
        self.recv_within(Limit::Timeout(timeout))
    }

    /// Like [`recv`](Self::recv), giving up with a timeout
    /// error at `deadline`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, PopError, spsc};
    /// use std::time::{Duration, Instant};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = spsc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// let deadline = Instant::now() + Duration::from_millis(10);
    /// assert_eq!(rx.recv_deadline(deadline), Err(PopError::Timeout));
    /// tx.push(42).unwrap();
    /// assert_eq!(rx.recv_deadline(deadline)?, 42); // ready: no wait, deadline or not
    /// # Ok(())
    /// # }
    /// ```
    #[inline(always)]
    pub fn recv_deadline(&mut self, deadline: Instant) -> Result<T, PopError> {
        self.recv_within(Limit::Deadline(deadline))
    }

    /// The blocking forms of `pop`.
    // Inline as `send_within`: only an empty ring goes out of line.
    #[inline(always)]
    fn recv_within(&mut self, limit: Limit) -> Result<T, PopError> {
        self.recv_item_within(&mut TakeValue, limit)
    }

    /// `recv_within` into a value or a raw buffer.
    #[inline(always)]
    pub(super) fn recv_item_within<L: Load<T, UnsafeCell<T>>>(
        &mut self,
        load: &mut L,
        limit: Limit,
    ) -> Result<L::Output, PopError> {
        match self.pop_item(load) {
            Err(PopError::Empty) => self.recv_slow(load, limit),
            done => done,
        }
    }

    /// `recv_within` once the ring was found empty.
    #[cold]
    #[inline(never)]
    fn recv_slow<L: Load<T, UnsafeCell<T>>>(
        &mut self,
        load: &mut L,
        limit: Limit,
    ) -> Result<L::Output, PopError> {
        for _ in 0..wait::brief_spins(self.strategy) {
            spin_hint();
            match self.pop_item(load) {
                Err(PopError::Empty) => {}
                done => return done,
            }
        }
        let deadline = limit.deadline();
        loop {
            match self.pop_item(load) {
                Err(PopError::Empty) => self.wait_for_items(deadline)?,
                done => return done,
            }
        }
    }

    /// Waits until an item is ready, the producer is gone or `deadline`
    /// passes (an error for the last two; `Disconnected` is re-checked by the
    /// caller's next pop, which drains first).
    fn wait_for_items(&mut self, deadline: Option<std::time::Instant>) -> Result<(), PopError> {
        let head = self.head;
        let ring = &self.ring;
        match ring.block_until_progress(self.strategy, deadline, || has_items(ring, head)) {
            // The next pop drains what is left, then reports Disconnected.
            Some(Wake::Ready | Wake::Disconnected) => Ok(()),
            Some(Wake::Corrupted(corruption)) => Err(PopError::corrupted(self.poison(corruption))),
            None => Err(PopError::Timeout),
        }
    }

    /// Hands out up to `n` ready items to read in place; see [`ReadChunk`].
    /// [`PopError::Empty`] if none is ready (and `n > 0`),
    /// [`PopError::Disconnected`] once the producer is gone and drained.
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
    /// let chunk = rx.read_chunk(8)?; // up to 8: here the 3 ready
    /// assert_eq!(chunk.as_slices().0, [1, 2, 3]);
    /// chunk.release_all(); // one publish for the three
    /// # Ok(())
    /// # }
    /// ```
    pub fn read_chunk(&mut self, n: usize) -> Result<ReadChunk<'_, T>, PopError> {
        self.ring.poisoned().map_err(PopError::corrupted)?;
        let ready = self.ready_or_disconnected(n as u64)?;
        if ready == 0 && n > 0 {
            return Err(PopError::Empty);
        }
        let len = ready.min(n as u64);
        let (first_slot, first_len, second_len) = self.ring.capacity().split(self.head, len);
        #[cfg(shmlane_loom)]
        {
            let _ = first_slot;
            let staged = (0..len)
                .map(|i| {
                    // SAFETY: the chunk's items are published (SYNC:
                    // spsc-publish) and this consumer's until released.
                    unsafe { TakeValue.load(&self.ring, self.head.wrapping_add(i)) }
                })
                .collect();
            Ok(ReadChunk {
                first_len,
                second_len,
                staged,
                consumer: self,
            })
        }
        #[cfg(not(shmlane_loom))]
        Ok(ReadChunk {
            first: self.ring.slot_run(first_slot, first_len),
            first_len,
            second: self.ring.slot_run(0, second_len),
            second_len,
            consumer: self,
        })
    }

    /// Like [`read_chunk`](Self::read_chunk), but waits (as
    /// [`recv`](Self::recv) does) until at least one item is ready; the
    /// chunk then holds up to `n`. Waits, waiting as long as it takes (as the endpoint's
    /// [`WaitStrategy`](crate::WaitStrategy) says).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, spsc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = spsc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// tx.push(7).unwrap();
    /// let chunk = rx.read_chunk_blocking(4)?; // waits only while the ring is empty
    /// assert_eq!(chunk.as_slices().0, [7]);
    /// chunk.release_all();
    /// # Ok(())
    /// # }
    /// ```
    pub fn read_chunk_blocking(&mut self, n: usize) -> Result<ReadChunk<'_, T>, PopError> {
        self.read_chunk_within(n, Limit::Forever)
    }

    /// Like [`read_chunk_blocking`](Self::read_chunk_blocking), giving up with a timeout
    /// error after `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, PopError, spsc};
    /// use std::time::Duration;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = spsc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// let empty = rx.read_chunk_timeout(4, Duration::from_millis(10)); // nothing was pushed
    /// assert_eq!(empty.err(), Some(PopError::Timeout));
    /// tx.push(7).unwrap();
    /// assert_eq!(rx.read_chunk_timeout(4, Duration::from_millis(10))?.len(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn read_chunk_timeout(
        &mut self,
        n: usize,
        timeout: Duration,
    ) -> Result<ReadChunk<'_, T>, PopError> {
        self.read_chunk_within(n, Limit::Timeout(timeout))
    }

    /// Like [`read_chunk_blocking`](Self::read_chunk_blocking), giving up with a timeout
    /// error at `deadline`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, PopError, spsc};
    /// use std::time::{Duration, Instant};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = spsc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// let deadline = Instant::now() + Duration::from_millis(10);
    /// assert_eq!(rx.read_chunk_deadline(4, deadline).err(), Some(PopError::Timeout));
    /// tx.push(7).unwrap();
    /// assert_eq!(rx.read_chunk_deadline(4, deadline)?.len(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn read_chunk_deadline(
        &mut self,
        n: usize,
        deadline: Instant,
    ) -> Result<ReadChunk<'_, T>, PopError> {
        self.read_chunk_within(n, Limit::Deadline(deadline))
    }

    fn read_chunk_within(&mut self, n: usize, limit: Limit) -> Result<ReadChunk<'_, T>, PopError> {
        let deadline = limit.deadline();
        loop {
            // Probe first: `read_chunk`'s borrow would outlive the loop.
            if n == 0 || self.ready_or_disconnected(1)? > 0 {
                return self.read_chunk(n);
            }
            self.wait_for_items(deadline)?;
        }
    }

    /// Number of items ready, as far as this end can tell. If the producer
    /// wrote an impossible index this reports the capacity, and the next
    /// pop reports the corruption.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, spsc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = spsc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// tx.push(1).unwrap();
    /// tx.push(2).unwrap();
    /// assert_eq!(rx.len(), 2);
    /// rx.pop()?;
    /// assert_eq!(rx.len(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        // SYNC: spsc-publish
        let tail = self.ring.tail().load(Ordering::Acquire);
        len_or_capacity(self.ring.capacity(), self.head, tail)
    }

    /// Whether no item is ready.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, spsc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = spsc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// assert!(rx.is_empty());
    /// tx.push(1).unwrap();
    /// assert!(!rx.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether every slot holds an item.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, spsc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, rx) = spsc::heap_pair::<u64>(&Options::new().capacity(1))?; // one slot
    /// assert!(!rx.is_full());
    /// tx.push(1).unwrap();
    /// assert!(rx.is_full());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_full(&self) -> bool {
        self.len() as u64 == self.ring.capacity().get()
    }

    /// Whether the producer is gone because its process died without
    /// detaching (SIGKILL, a crash), as this end found when it checked,
    /// rather than because it was dropped: after `Disconnected`, tells a
    /// stream that ended from one that was cut (what it committed was all
    /// delivered either way; what it was still writing was lost).
    pub fn peer_crashed(&self) -> bool {
        self.ring.peer_crashed()
    }

    endpoint_accessors! {
        memory: ring,
        gone: ring.peer_gone,
        check: ring.check_peer_alive => check_peer,
        unit: "slots",
        per_slot: 1,
        peer: "the producer",
        example: {
            uses: "use shmlane::{Options, spsc};",
            pair: "let (mut tx, mut rx) = spsc::heap_pair::<u64>(&Options::new().capacity(8))?;",
            round_trip: "tx.push(7).unwrap();\nassert_eq!(rx.pop()?, 7);",
            this: "rx",
            other: "tx",
            capacity: "8",
        },
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
