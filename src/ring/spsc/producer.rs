//! The writing end of the typed SPSC ring.

use std::time::{Duration, Instant};

use crate::ring::endpoint_accessors;
use bytemuck::Pod;

#[cfg(not(shmlane_loom))]
use super::super::Source;
use super::super::item::Store;
use super::super::{RingMemory, Wake};
use super::WriteChunk;
use super::{Refresh, len_or_capacity};
use crate::error::ReserveError;
use crate::error::{Corruption, OpenError, PushError};
use crate::options::Options;
use crate::options::WaitStrategy;
#[cfg(not(shmlane_loom))]
use crate::segment::RingKind;
#[cfg(not(shmlane_loom))]
use crate::segment::peer::Role;
use crate::sync::{Ordering, UnsafeCell, spin_hint};
use crate::wait::{self, Limit};

/// The writing end of an SPSC ring. Exactly one may be attached at a time.
pub struct Producer<T: Pod> {
    pub(super) ring: RingMemory<T>,
    /// Next position to write; the segment's `tail` mirrors it.
    pub(super) tail: u64,
    /// Last `head` read from the segment; `tail - cached_head <= capacity`.
    pub(super) cached_head: u64,
    pub(super) strategy: WaitStrategy,
    /// A push was refused because the consumer was gone: every push takes
    /// the slow path (which re-checks) until a consumer is seen again.
    pub(super) consumer_was_gone: bool,
}

/// Room for a producer at `tail`, from the segment (no cached state): for
/// the readiness checks of blocking calls.
fn has_room<T: Pod>(ring: &RingMemory<T>, tail: u64) -> Result<bool, Corruption> {
    // SYNC: spsc-release
    let head = ring.head().load(Ordering::Acquire);
    Ok(ring.capacity().occupied(head, tail)? < ring.capacity().get())
}

impl<T: Pod + Send> Producer<T> {
    /// Creates the named segment `name` and attaches as its producer.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shmlane::{Options, spsc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tx = spsc::Producer::<u64>::create("ticks", &Options::new().capacity(1024))?;
    /// tx.push(1).unwrap(); // the item waits in the ring until a consumer opens "ticks"
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(not(shmlane_loom))]
    pub fn create(name: &str, opts: &Options) -> Result<Self, OpenError> {
        let ring = RingMemory::named(Source::Create(name), RingKind::Spsc, Role::Producer, opts)?;
        Self::attach(ring, opts)
    }

    /// Opens the named segment `name` and attaches as its producer; fails
    /// with [`OpenError::RoleTaken`] while another live producer is attached.
    /// The replacement of a dead producer continues at the last committed
    /// position.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shmlane::{Options, spsc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // The segment's capacity is adopted when none is given.
    /// let mut tx = spsc::Producer::<u64>::open("ticks", &Options::new())?;
    /// tx.send(2).unwrap();
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(not(shmlane_loom))]
    pub fn open(name: &str, opts: &Options) -> Result<Self, OpenError> {
        let ring = RingMemory::named(Source::Open(name), RingKind::Spsc, Role::Producer, opts)?;
        Self::attach(ring, opts)
    }

    /// Opens the named segment `name` as its producer if some endpoint holds
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
    /// let end = spsc::Producer::<u64>::open_or_create("restartable", &Options::new())?;
    /// # drop(end);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(not(shmlane_loom))]
    pub fn open_or_create(name: &str, opts: &Options) -> Result<Self, OpenError> {
        let source = Source::OpenOrCreate(name, opts);
        let ring = RingMemory::named(source, RingKind::Spsc, Role::Producer, opts)?;
        Self::attach(ring, opts)
    }

    pub(super) fn attach(ring: RingMemory<T>, opts: &Options) -> Result<Self, OpenError> {
        let (_, tail) = ring.positions()?;
        Ok(Self {
            // The cache starts out saying "full", so that the first push
            // takes the slow path, which marks the endpoint attached.
            cached_head: tail.wrapping_sub(ring.capacity().get()),
            ring,
            tail,
            strategy: opts.wait_strategy.unwrap_or_default(),
            consumer_was_gone: false,
        })
    }
}

impl<T: Pod> Producer<T> {
    /// The segment, for the fuzz targets' hostile writes and the async
    /// endpoints' wake word.
    #[cfg(all(any(feature = "test-support", feature = "tokio"), not(shmlane_loom)))]
    pub(crate) fn memory(&self) -> &RingMemory<T> {
        &self.ring
    }

    /// How this endpoint waits (the async endpoints follow it too).
    #[cfg(all(feature = "tokio", not(shmlane_loom)))]
    pub(crate) fn wait_strategy(&self) -> crate::options::WaitStrategy {
        self.strategy
    }

    /// Makes the cache say "full", so that the next operation takes the slow
    /// path: after a disconnect every push re-checks until a consumer
    /// attaches again.
    fn forget_room(&mut self) {
        self.cached_head = self.tail.wrapping_sub(self.ring.capacity().get());
    }

    /// Free slots as the cache says (no shared-memory access).
    #[inline(always)]
    fn cached_free(&self) -> u64 {
        self.ring.capacity().get() - self.tail.wrapping_sub(self.cached_head)
    }

    /// Free slots, re-reading `head` only if the cache shows fewer than
    /// `want`.
    #[cfg_attr(
        shmlane_loom,
        allow(dead_code, reason = "only the chunk API asks for n slots")
    )]
    #[inline]
    fn free_slots(&mut self, want: u64) -> Result<u64, Corruption> {
        let free = self.cached_free();
        if free >= want {
            return Ok(free);
        }
        self.refresh_head()
    }

    /// The common refresh, inline: an attached endpoint whose re-read of
    /// `head` finds valid room. Anything else (first use, full, corruption,
    /// a gone consumer, which is checked whenever the ring fills) is left
    /// to the cold path.
    #[inline(always)]
    fn refresh_head_fast(&mut self) -> Refresh {
        if !self.ring.is_attached() || self.consumer_was_gone || self.ring.is_poisoned() {
            return Refresh::Slow;
        }
        // SYNC: spsc-release (Acquire: as in refresh_head)
        let head = self.ring.head().load(Ordering::Acquire);
        match self.ring.capacity().occupied(head, self.tail) {
            Ok(used) if used < self.ring.capacity().get() => {
                self.cached_head = head;
                Refresh::Found
            }
            Ok(_) => Refresh::None,
            Err(_) => Refresh::Slow,
        }
    }

    /// `head` was just re-read and showed no room: `Full`, unless the
    /// consumer is gone (checked whenever the ring fills).
    #[cold]
    #[inline(never)]
    fn push_found_full<V>(&mut self, value: V) -> PushError<V> {
        // A full look: now and then also a liveness check, so that a loop
        // of non-blocking pushes learns of a SIGKILLed consumer.
        if self.ring.idle_poll_found_peer_gone() {
            self.consumer_was_gone = true;
            self.forget_room();
            PushError::Disconnected(value)
        } else {
            PushError::Full(value)
        }
    }

    /// Re-reads `head` (the slow path of every producer operation): also
    /// where this endpoint marks itself attached on first use.
    #[cold]
    #[inline(never)]
    fn refresh_head(&mut self) -> Result<u64, Corruption> {
        self.ring.poisoned()?;
        self.ring.ensure_attached();
        // SYNC: spsc-release (Acquire: the consumer has finished reading
        // every slot before `head`, so they may be overwritten)
        let head = self.ring.head().load(Ordering::Acquire);
        match self.ring.capacity().occupied(head, self.tail) {
            Ok(used) => {
                self.cached_head = head;
                Ok(self.ring.capacity().get() - used)
            }
            Err(corruption) => Err(self.poison(corruption)),
        }
    }

    /// Poisons the endpoint (every later call reports the first corruption)
    /// and makes the cache say "full" so that every call takes the slow
    /// path, which checks the poison.
    #[cold]
    pub(crate) fn poison(&mut self, found: Corruption) -> Corruption {
        self.forget_room();
        self.ring.poison(found)
    }

    /// Makes positions up to `tail` visible to the consumer and wakes it if
    /// it sleeps.
    #[inline(always)]
    pub(super) fn publish(&mut self, tail: u64) {
        self.tail = tail;
        // SYNC: spsc-publish (Release: the slot writes before `tail`
        // happen-before the consumer's Acquire load that sees it)
        self.ring.tail().store(tail, Ordering::Release);
        self.ring.notify_peer();
    }

    /// Appends `value`, or hands it back: [`PushError::Full`] when the ring
    /// is full, [`PushError::Disconnected`] once the consumer is gone.
    ///
    /// The consumer's state is checked whenever this end re-reads the
    /// consumer's index, that is whenever its cached view says the ring is
    /// full: a push to a ring whose consumer has gone is refused at the
    /// latest when the ring fills, without a shared load on every push.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, PushError, spsc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = spsc::heap_pair::<u64>(&Options::new().capacity(2))?;
    /// tx.push(1).unwrap();
    /// tx.push(2).unwrap();
    /// assert!(matches!(tx.push(3), Err(PushError::Full(3)))); // 3 is handed back
    /// assert_eq!(rx.pop()?, 1);
    /// # Ok(())
    /// # }
    /// ```
    // Always inlined: the fast path is a few instructions, and an
    // out-of-line call returns its Result through memory, which a busy
    // stream pays on every item (`spsc-tput` in `shmlane bench` shows it
    // against a non-inlined push or pop).
    #[inline(always)]
    pub fn push(&mut self, value: T) -> Result<(), PushError<T>> {
        self.push_item(value)
    }

    /// `push` of a value or of a raw record (see `ring::item`).
    #[inline(always)]
    pub(super) fn push_item<V: Store<T, UnsafeCell<T>>>(
        &mut self,
        value: V,
    ) -> Result<(), PushError<V>> {
        if self.cached_free() == 0 {
            // The slow checks hand the value back on refusal.
            match self.refresh_head_fast() {
                Refresh::Found => {}
                Refresh::None => return Err(self.push_found_full(value)),
                Refresh::Slow => self.push_slow_check(value)?,
            }
        }
        // SAFETY: the slot at `tail` is free (the cache, or the refresh in
        // push_slow_check, saw room): the consumer has released it (SYNC:
        // spsc-release) and will not read it before we publish; only this
        // producer writes slots.
        unsafe { value.store(&self.ring, self.tail) };
        self.publish(self.tail.wrapping_add(1));
        Ok(())
    }

    /// The slow half of `push`: the cache says full.
    #[cold]
    #[inline(never)]
    fn push_slow_check<V>(&mut self, value: V) -> Result<(), PushError<V>> {
        let free = match self.refresh_head() {
            Ok(free) => free,
            Err(corruption) => return Err(PushError::corrupted(value, corruption)),
        };
        self.consumer_was_gone = match free {
            0 => self.ring.idle_poll_found_peer_gone(),
            _ => self.ring.peer_gone(),
        };
        match free {
            _ if self.consumer_was_gone => {
                self.forget_room();
                Err(PushError::Disconnected(value))
            }
            0 => Err(PushError::Full(value)),
            _ => Ok(()),
        }
    }

    /// Appends `value`, waiting for room, waiting as long as it takes (as the endpoint's
    /// [`WaitStrategy`](crate::WaitStrategy) says).
    /// [`PushError::Disconnected`] hands the value back; a consumer killed
    /// while we wait is noticed within about
    /// [`LIVENESS_TICK`](crate::LIVENESS_TICK).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, spsc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = spsc::heap_pair::<u64>(&Options::new().capacity(2))?;
    /// let consumer = std::thread::spawn(move || (0..5).map(|_| rx.recv().unwrap()).sum::<u64>());
    /// for i in 0..5 {
    ///     tx.send(i).unwrap(); // waits while the ring is full
    /// }
    /// assert_eq!(consumer.join().unwrap(), 10);
    /// # Ok(())
    /// # }
    /// ```
    #[inline(always)]
    pub fn send(&mut self, value: T) -> Result<(), PushError<T>> {
        self.send_within(value, Limit::Forever)
    }

    /// Like [`send`](Self::send), giving up with a timeout
    /// error after `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, PushError, spsc};
    /// use std::time::Duration;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, _rx) = spsc::heap_pair::<u64>(&Options::new().capacity(1))?; // one slot
    /// tx.send_timeout(1, Duration::from_millis(10)).unwrap();
    /// let full = tx.send_timeout(2, Duration::from_millis(10)); // nobody pops
    /// assert!(matches!(full, Err(PushError::Timeout(2))));
    /// # Ok(())
    /// # }
    /// ```
    #[inline(always)]
    pub fn send_timeout(&mut self, value: T, timeout: Duration) -> Result<(), PushError<T>> {
        self.send_within(value, Limit::Timeout(timeout))
    }

    /// Like [`send`](Self::send), giving up with a timeout
    /// error at `deadline`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, PushError, spsc};
    /// use std::time::{Duration, Instant};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, _rx) = spsc::heap_pair::<u64>(&Options::new().capacity(1))?; // one slot
    /// let deadline = Instant::now() + Duration::from_millis(10);
    /// tx.send_deadline(1, deadline).unwrap();
    /// let full = tx.send_deadline(2, deadline); // nobody pops
    /// assert!(matches!(full, Err(PushError::Timeout(2))));
    /// # Ok(())
    /// # }
    /// ```
    #[inline(always)]
    pub fn send_deadline(&mut self, value: T, deadline: Instant) -> Result<(), PushError<T>> {
        self.send_within(value, Limit::Deadline(deadline))
    }

    /// The blocking forms of `push`.
    // Inline: a push that finds room costs what `push` costs; only a full
    // ring goes out of line (an out-of-line call per item returns its
    // Result through memory, paid on every item: `spsc-blocking-tput` in
    // `shmlane bench` shows it).
    #[inline(always)]
    pub(super) fn send_within<V: Store<T, UnsafeCell<T>>>(
        &mut self,
        value: V,
        limit: Limit,
    ) -> Result<(), PushError<V>> {
        match self.push_item(value) {
            Err(PushError::Full(value)) => self.send_slow(value, limit),
            done => done,
        }
    }

    /// `send_within` once the ring was found full.
    #[cold]
    #[inline(never)]
    fn send_slow<V: Store<T, UnsafeCell<T>>>(
        &mut self,
        value: V,
        limit: Limit,
    ) -> Result<(), PushError<V>> {
        let mut value = value;
        for _ in 0..wait::brief_spins(self.strategy) {
            spin_hint();
            value = match self.push_item(value) {
                Err(PushError::Full(value)) => value,
                done => return done,
            };
        }
        let deadline = limit.deadline();
        loop {
            match self.wait_for_room(deadline) {
                Some(Wake::Ready) => {}
                Some(Wake::Disconnected) => return Err(PushError::Disconnected(value)),
                Some(Wake::Corrupted(corruption)) => {
                    return Err(PushError::corrupted(value, corruption));
                }
                None => return Err(PushError::Timeout(value)),
            }
            value = match self.push_item(value) {
                Err(PushError::Full(value)) => value,
                done => return done,
            };
        }
    }

    /// Waits until a slot is free, the consumer is gone or `deadline`
    /// passes (`None`).
    fn wait_for_room(&mut self, deadline: Option<std::time::Instant>) -> Option<Wake> {
        let tail = self.tail;
        let ring = &self.ring;
        match ring.block_until_progress(self.strategy, deadline, || has_room(ring, tail)) {
            Some(Wake::Corrupted(corruption)) => Some(Wake::Corrupted(self.poison(corruption))),
            other => other,
        }
    }

    /// Hands out up to `n` free slots to write in place; see [`WriteChunk`].
    /// [`ReserveError::Full`] if no slot is free (and `n > 0`),
    /// [`ReserveError::Disconnected`] once the consumer is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, spsc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = spsc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// let mut chunk = tx.write_chunk(3)?;
    /// let (first, _) = chunk.as_mut_slices(); // a fresh ring's free slots do not wrap
    /// first.copy_from_slice(&[1, 2, 3]);
    /// chunk.commit_all(); // one publish for the three
    /// assert_eq!(rx.pop()?, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn write_chunk(&mut self, n: usize) -> Result<WriteChunk<'_, T>, ReserveError> {
        self.ring.poisoned().map_err(ReserveError::Corrupted)?;
        let free = self.free_slots(n as u64).map_err(ReserveError::Corrupted)?;
        // As for `push`: the consumer's state is read only when the cache
        // was short and `head` had to be re-read.
        let gone = match free {
            0 => self.ring.idle_poll_found_peer_gone(),
            _ => self.ring.peer_gone(),
        };
        if free < n as u64 && gone {
            self.consumer_was_gone = true;
            self.forget_room();
            return Err(ReserveError::Disconnected);
        }
        if free == 0 && n > 0 {
            return Err(ReserveError::Full);
        }
        let len = free.min(n as u64);
        let (first_slot, first_len, second_len) = self.ring.capacity().split(self.tail, len);
        #[cfg(shmlane_loom)]
        {
            let _ = first_slot;
            Ok(WriteChunk {
                first_len,
                second_len,
                staged: vec![T::zeroed(); first_len + second_len],
                producer: self,
            })
        }
        #[cfg(not(shmlane_loom))]
        Ok(WriteChunk {
            first: self.ring.slot_run(first_slot, first_len),
            first_len,
            second: self.ring.slot_run(0, second_len),
            second_len,
            producer: self,
        })
    }

    /// Like [`write_chunk`](Self::write_chunk), but waits (as
    /// [`send`](Self::send) does) until at least one slot is free; the
    /// chunk then holds up to `n`. Waits, waiting as long as it takes (as the endpoint's
    /// [`WaitStrategy`](crate::WaitStrategy) says).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, spsc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = spsc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// let mut chunk = tx.write_chunk_blocking(4)?; // waits only while the ring is full
    /// chunk.as_mut_slices().0.fill(7);
    /// assert_eq!(chunk.commit_all(), 4);
    /// assert_eq!(rx.len(), 4);
    /// # Ok(())
    /// # }
    /// ```
    pub fn write_chunk_blocking(&mut self, n: usize) -> Result<WriteChunk<'_, T>, ReserveError> {
        self.write_chunk_within(n, Limit::Forever)
    }

    /// Like [`write_chunk_blocking`](Self::write_chunk_blocking), giving up with a timeout
    /// error after `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, ReserveError, spsc};
    /// use std::time::Duration;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, _rx) = spsc::heap_pair::<u64>(&Options::new().capacity(1))?; // one slot
    /// tx.push(1).unwrap();
    /// let full = tx.write_chunk_timeout(1, Duration::from_millis(10)); // nobody pops
    /// assert_eq!(full.err(), Some(ReserveError::Timeout));
    /// # Ok(())
    /// # }
    /// ```
    pub fn write_chunk_timeout(
        &mut self,
        n: usize,
        timeout: Duration,
    ) -> Result<WriteChunk<'_, T>, ReserveError> {
        self.write_chunk_within(n, Limit::Timeout(timeout))
    }

    /// Like [`write_chunk_blocking`](Self::write_chunk_blocking), giving up with a timeout
    /// error at `deadline`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, ReserveError, spsc};
    /// use std::time::{Duration, Instant};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, _rx) = spsc::heap_pair::<u64>(&Options::new().capacity(1))?; // one slot
    /// tx.push(1).unwrap();
    /// let full = tx.write_chunk_deadline(1, Instant::now() + Duration::from_millis(10));
    /// assert_eq!(full.err(), Some(ReserveError::Timeout)); // nobody popped
    /// # Ok(())
    /// # }
    /// ```
    pub fn write_chunk_deadline(
        &mut self,
        n: usize,
        deadline: Instant,
    ) -> Result<WriteChunk<'_, T>, ReserveError> {
        self.write_chunk_within(n, Limit::Deadline(deadline))
    }

    fn write_chunk_within(
        &mut self,
        n: usize,
        limit: Limit,
    ) -> Result<WriteChunk<'_, T>, ReserveError> {
        let deadline = limit.deadline();
        loop {
            // Probe first: `write_chunk`'s borrow would outlive the loop.
            match self.free_slots(1) {
                Ok(free) if free > 0 || n == 0 => return self.write_chunk(n),
                Ok(_) if self.ring.peer_gone() => return Err(ReserveError::Disconnected),
                Ok(_) => {}
                Err(corruption) => return Err(ReserveError::Corrupted(corruption)),
            }
            match self.wait_for_room(deadline) {
                Some(Wake::Ready) => {}
                Some(Wake::Disconnected) => return Err(ReserveError::Disconnected),
                Some(Wake::Corrupted(corruption)) => {
                    return Err(ReserveError::Corrupted(corruption));
                }
                None => return Err(ReserveError::Timeout),
            }
        }
    }

    /// Number of items in the ring, as far as this end can tell. If the
    /// consumer wrote an impossible index this reports the capacity, and
    /// the next push reports the corruption.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, spsc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = spsc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// tx.push(1).unwrap();
    /// tx.push(2).unwrap();
    /// assert_eq!(tx.len(), 2);
    /// rx.pop()?;
    /// assert_eq!(tx.len(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        // SYNC: spsc-release
        let head = self.ring.head().load(Ordering::Acquire);
        len_or_capacity(self.ring.capacity(), head, self.tail)
    }

    /// Whether the ring is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, spsc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = spsc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// assert!(tx.is_empty());
    /// tx.push(1).unwrap();
    /// assert!(!tx.is_empty());
    /// rx.pop()?;
    /// assert!(tx.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the ring is full.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, spsc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, _rx) = spsc::heap_pair::<u64>(&Options::new().capacity(1))?; // one slot
    /// assert!(!tx.is_full());
    /// tx.push(1).unwrap();
    /// assert!(tx.is_full());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_full(&self) -> bool {
        self.len() as u64 == self.ring.capacity().get()
    }

    endpoint_accessors! {
        memory: ring,
        gone: ring.peer_gone,
        check: ring.check_peer_alive => check_peer,
        unit: "slots",
        per_slot: 1,
        peer: "the consumer",
        example: {
            uses: "use shmlane::{Options, spsc};",
            pair: "let (mut tx, mut rx) = spsc::heap_pair::<u64>(&Options::new().capacity(8))?;",
            round_trip: "tx.push(7).unwrap();\nassert_eq!(rx.pop()?, 7);",
            this: "tx",
            other: "rx",
            capacity: "8",
        },
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
