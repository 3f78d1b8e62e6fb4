//! The writing end of a byte ring, and its in-place [`Grant`].

use std::time::{Duration, Instant};

#[cfg(not(shmlane_loom))]
use super::Source;
use super::frame::{FRAME_DATA, FRAME_PADDING, Placement, copy_to_ring, frame_word, payload_words};
use super::grant::{Grant, GrantTarget};
use super::{Overflow, RingMemory, Wake};
use crate::error::{Corruption, GrantError, OpenError};
use crate::options::{Options, WaitStrategy};
use crate::ring::endpoint_accessors;
#[cfg(not(shmlane_loom))]
use crate::segment::{RingKind, peer::Role};
use crate::sync::{Ordering, spin_hint};
use crate::wait::{self, Limit};

/// The writing end of a byte ring. Exactly one may be attached at a time.
pub struct Producer {
    pub(super) ring: RingMemory<u64>,
    /// Next position to write; the segment's `tail` mirrors it.
    pub(super) tail: u64,
    /// Last `head` read from the segment; `tail - cached_head <= capacity`.
    cached_head: u64,
    max_frame: u64,
    overflow: Overflow,
    strategy: WaitStrategy,
    /// A grant was refused because the consumer was gone: every grant
    /// re-reads `head` and the consumer's state until one is seen again.
    consumer_was_gone: bool,
    /// Where dropped frames are written ([`Overflow::DropNewest`]); grows to
    /// the largest dropped grant, then is reused.
    pub(super) scratch: Vec<u8>,
}

/// What a look for room found.
enum Room {
    /// The frame fits at this placement.
    Fits(Placement),
    /// It does not, as of this look.
    Full,
}

impl Producer {
    /// Creates the named byte ring `name` and attaches as its producer.
    /// `opts` sets the capacity in bytes (default
    /// [`DEFAULT_BYTES_CAPACITY`](super::DEFAULT_BYTES_CAPACITY)), the max frame and the overflow policy.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shmlane::{Options, Overflow, bytes};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let opts = Options::new().capacity(1 << 16).max_frame(4096).overflow(Overflow::DropNewest);
    /// let mut tx = bytes::Producer::create("quotes", &opts)?;
    /// tx.send(b"EURUSD 1.0842")?; // never waits: a full ring drops the frame
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(not(shmlane_loom))]
    pub fn create(name: &str, opts: &Options) -> Result<Self, OpenError> {
        let ring = RingMemory::named(Source::Create(name), RingKind::Bytes, Role::Producer, opts)?;
        Self::attach(ring, opts)
    }

    /// Opens the named byte ring `name` and attaches as its producer; fails
    /// with [`OpenError::RoleTaken`] while another live producer is
    /// attached. A replacement of a dead producer continues after the last
    /// committed frame.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shmlane::{Options, bytes};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // The segment's capacity, max frame and overflow policy are adopted.
    /// let mut tx = bytes::Producer::open("quotes", &Options::new())?;
    /// tx.send(b"EURUSD 1.0843")?;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(not(shmlane_loom))]
    pub fn open(name: &str, opts: &Options) -> Result<Self, OpenError> {
        let ring = RingMemory::named(Source::Open(name), RingKind::Bytes, Role::Producer, opts)?;
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
    /// use shmlane::{Options, bytes};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let end = bytes::Producer::open_or_create("restartable", &Options::new())?;
    /// # drop(end);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(not(shmlane_loom))]
    pub fn open_or_create(name: &str, opts: &Options) -> Result<Self, OpenError> {
        let source = Source::OpenOrCreate(name, opts);
        let ring = RingMemory::named(source, RingKind::Bytes, Role::Producer, opts)?;
        Self::attach(ring, opts)
    }

    pub(super) fn attach(ring: RingMemory<u64>, opts: &Options) -> Result<Self, OpenError> {
        let (_, tail) = ring.positions()?;
        let layout = ring.layout();
        let overflow = Overflow::from_code(layout.overflow).unwrap_or_default();
        let max_frame = layout.max_frame;
        Ok(Self {
            // The cache starts out saying "full", so that the first grant
            // takes the slow path, which marks the endpoint attached.
            cached_head: tail.wrapping_sub(ring.capacity().get()),
            ring,
            tail,
            max_frame,
            overflow,
            strategy: opts.wait_strategy.unwrap_or_default(),
            consumer_was_gone: false,
            scratch: Vec::new(),
        })
    }

    /// For `shm://`: the producer of the ring `name`, opened with `open` or
    /// created with `create`, marked attached at first use.
    #[cfg(not(shmlane_loom))]
    pub(crate) fn open_or_create_with(
        name: &str,
        open: &Options,
        create: &Options,
    ) -> Result<Self, OpenError> {
        let source = Source::OpenOrCreate(name, open);
        let ring = RingMemory::named_unmarked(source, RingKind::Bytes, Role::Producer, create)?;
        Self::attach(ring, open)
    }

    /// Whether a consumer holds the ring's consumer role now (a syscall).
    #[cfg(not(shmlane_loom))]
    pub(crate) fn consumer_present(&self) -> bool {
        self.ring.peer_role_held()
    }

    /// The largest frame payload this ring takes, in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{GrantError, Options, bytes};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, _rx) = bytes::heap_pair(&Options::new().capacity(4096).max_frame(256))?;
    /// assert_eq!(tx.max_frame(), 256);
    /// let too_large = tx.try_send(&[0; 300]);
    /// assert_eq!(too_large, Err(GrantError::FrameTooLarge { len: 300, max: 256 }));
    /// # Ok(())
    /// # }
    /// ```
    pub fn max_frame(&self) -> usize {
        self.max_frame as usize
    }

    /// What this ring does when full.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, Overflow, bytes};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let opts = Options::new().capacity(4096).overflow(Overflow::Fail);
    /// let (tx, _rx) = bytes::heap_pair(&opts)?;
    /// assert_eq!(tx.overflow(), Overflow::Fail); // even `send` never waits
    /// # Ok(())
    /// # }
    /// ```
    pub fn overflow(&self) -> Overflow {
        self.overflow
    }

    endpoint_accessors! {
        memory: ring,
        gone: ring.peer_gone,
        check: ring.check_peer_alive => check_peer,
        unit: "bytes (frame headers and padding take part of it)",
        per_slot: 8,
        peer: "the consumer",
        example: {
            uses: "use shmlane::{Options, bytes};",
            pair: "let (mut tx, mut rx) = bytes::heap_pair(&Options::new().capacity(4096))?;",
            round_trip: "tx.send(b\"hi\")?;\nassert_eq!(rx.try_recv(&mut Vec::new())?, 2);",
            this: "tx",
            other: "rx",
            capacity: "4096",
        },
    }

    /// The segment, for the fuzz targets' hostile writes and the async
    /// endpoints' wake word.
    #[cfg(all(any(feature = "test-support", feature = "tokio"), not(shmlane_loom)))]
    pub(crate) fn memory(&self) -> &RingMemory<u64> {
        &self.ring
    }

    /// How this endpoint waits (the async endpoints follow it too).
    #[cfg(all(feature = "tokio", not(shmlane_loom)))]
    pub(crate) fn wait_strategy(&self) -> crate::options::WaitStrategy {
        self.strategy
    }

    /// Makes the cache say "full", so that the next call re-reads `head`.
    pub(super) fn forget_room(&mut self) {
        self.cached_head = self.tail.wrapping_sub(self.ring.capacity().get());
    }

    /// Poisons the endpoint; the cache then sends every call to the slow
    /// path, which checks the poison.
    #[cold]
    pub(crate) fn poison(&mut self, found: Corruption) -> Corruption {
        self.forget_room();
        self.ring.poison(found)
    }

    /// Looks for room for `len` payload bytes: from the cache, else by
    /// re-reading `head`.
    #[inline]
    fn find_room(&mut self, len: usize) -> Result<Room, GrantError> {
        if len as u64 > self.max_frame {
            return Err(GrantError::FrameTooLarge {
                len,
                max: self.max_frame as usize,
            });
        }
        let placement = Placement::at(self.ring.capacity(), self.tail, len as u64);
        let used = self.tail.wrapping_sub(self.cached_head);
        if self.ring.capacity().get() - used >= placement.need() && !self.consumer_was_gone {
            return Ok(Room::Fits(placement));
        }
        self.refresh_room(placement)
    }

    /// The slow half of `find_room`: the cache says there is not enough
    /// room (or the endpoint is new, poisoned or saw the consumer leave).
    #[cold]
    #[inline(never)]
    fn refresh_room(&mut self, placement: Placement) -> Result<Room, GrantError> {
        self.ring.poisoned().map_err(GrantError::Corrupted)?;
        self.ring.ensure_attached();
        // SYNC: bytes-release (Acquire: the consumer is done with every
        // frame before `head`, so its words may be overwritten)
        let head = self.ring.head().load(Ordering::Acquire);
        let used = match self.ring.capacity().occupied(head, self.tail) {
            Ok(used) => used,
            Err(corruption) => return Err(GrantError::Corrupted(self.poison(corruption))),
        };
        self.cached_head = head;
        // The consumer's state is read whenever `head` is: a grant to a ring
        // whose consumer left is refused at the latest when the ring fills.
        self.consumer_was_gone = self.ring.peer_gone();
        if self.consumer_was_gone {
            self.forget_room();
            return Err(GrantError::Disconnected);
        }
        if self.ring.capacity().get() - used >= placement.need() {
            Ok(Room::Fits(placement))
        } else if self.ring.idle_poll_found_peer_gone() {
            // A full look: now and then also a liveness check, so that a
            // loop of non-blocking sends learns of a SIGKILLed consumer.
            self.consumer_was_gone = true;
            self.forget_room();
            Err(GrantError::Disconnected)
        } else {
            Ok(Room::Full)
        }
    }

    /// Room for a frame of `len` bytes, applying the overflow policy when
    /// there is none: `Ok(None)` means "drop it". Waits (Block policy) when
    /// `wait` says so, up to `deadline`.
    fn reserve(
        &mut self,
        len: usize,
        wait: bool,
        deadline: Option<Instant>,
    ) -> Result<Option<Placement>, GrantError> {
        let mut spins = if wait {
            wait::brief_spins(self.strategy)
        } else {
            0
        };
        loop {
            match self.find_room(len)? {
                Room::Fits(placement) => return Ok(Some(placement)),
                Room::Full => match self.overflow {
                    Overflow::DropNewest => return Ok(None),
                    Overflow::Fail => return Err(GrantError::Full),
                    Overflow::Block if !wait => return Err(GrantError::Full),
                    Overflow::Block if spins > 0 => {
                        spins -= 1;
                        spin_hint();
                    }
                    Overflow::Block => self.wait_for_room(len, deadline)?,
                },
            }
        }
    }

    /// Sleeps until `len` bytes fit, the consumer is gone or `deadline`
    /// passes.
    #[cold]
    fn wait_for_room(&mut self, len: usize, deadline: Option<Instant>) -> Result<(), GrantError> {
        let ring = &self.ring;
        let need = Placement::at(ring.capacity(), self.tail, len as u64).need();
        let tail = self.tail;
        let fits = || {
            // SYNC: bytes-release
            let head = ring.head().load(Ordering::Acquire);
            let used = ring.capacity().occupied(head, tail)?;
            Ok(ring.capacity().get() - used >= need)
        };
        match ring.block_until_progress(self.strategy, deadline, fits) {
            // The next look re-reads `head` and the consumer's state.
            Some(Wake::Ready | Wake::Disconnected) => {
                self.forget_room();
                Ok(())
            }
            Some(Wake::Corrupted(corruption)) => {
                Err(GrantError::Corrupted(self.poison(corruption)))
            }
            None => Err(GrantError::Timeout),
        }
    }

    /// Writes the frame headers of a frame of `len` bytes at `placement` and
    /// publishes it (its payload written already).
    pub(super) fn publish_frame(&mut self, placement: Placement, len: u64) {
        if placement.padding > 0 {
            let filler = (placement.padding - 1) * 8;
            self.write_word(self.tail, frame_word(filler, FRAME_PADDING));
        }
        let start = self.tail.wrapping_add(placement.padding);
        self.write_word(start, frame_word(len, FRAME_DATA));
        self.tail = start.wrapping_add(1 + payload_words(len));
        // SYNC: bytes-publish (Release: the frame's header and payload
        // writes happen-before the consumer's Acquire load that sees `tail`)
        self.ring.tail().store(self.tail, Ordering::Release);
        self.ring.notify_peer();
    }

    pub(super) fn write_word(&self, position: u64, value: u64) {
        self.ring.slot(position).with_mut(|word| {
            // SAFETY: the word is in the free part of the ring (the
            // placement fit, SYNC: bytes-release) and only this producer
            // writes free words.
            unsafe { word.write(value) }
        });
    }

    /// The slot of the payload of a frame placed at `placement`.
    pub(super) fn payload_slot(&self, placement: Placement) -> usize {
        self.ring
            .capacity()
            .slot(self.tail.wrapping_add(placement.padding + 1))
    }

    /// Counts a dropped frame (one writer: a plain load and store).
    pub(super) fn count_drop(&self) {
        let drops = &self.ring.events().drops;
        drops.store(
            drops.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
    }

    fn send_with(
        &mut self,
        data: &[u8],
        wait: bool,
        deadline: Option<Instant>,
    ) -> Result<(), GrantError> {
        match self.reserve(data.len(), wait, deadline)? {
            Some(placement) => {
                copy_to_ring(&self.ring, self.payload_slot(placement), data);
                self.publish_frame(placement, data.len() as u64);
            }
            None => self.count_drop(),
        }
        Ok(())
    }

    /// Sends one frame holding a copy of `data`, without waiting: a full
    /// ring is [`GrantError::Full`] (policies Block and Fail) or a counted
    /// drop (DropNewest).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{GrantError, Options, bytes};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = bytes::heap_pair(&Options::new().capacity(64))?; // 8 words
    /// tx.try_send(&[1; 24])?; // a header word and 3 payload words
    /// tx.try_send(&[2; 24])?;
    /// assert_eq!(tx.try_send(b"x"), Err(GrantError::Full));
    /// assert_eq!(rx.try_recv(&mut Vec::new())?, 24);
    /// # Ok(())
    /// # }
    /// ```
    pub fn try_send(&mut self, data: &[u8]) -> Result<(), GrantError> {
        self.send_with(data, false, None)
    }

    /// Sends one frame holding a copy of `data`, waiting for room if the
    /// policy is [`Overflow::Block`], waiting as long as it takes (as the endpoint's
    /// [`WaitStrategy`](crate::WaitStrategy) says).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, bytes};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = bytes::heap_pair(&Options::new().capacity(64))?; // 8 words
    /// let consumer = std::thread::spawn(move || (0..4).map(|_| rx.recv(&mut Vec::new()).unwrap()).sum::<usize>());
    /// for _ in 0..4 {
    ///     tx.send(&[0; 24])?; // waits while the ring is full (policy Block)
    /// }
    /// assert_eq!(consumer.join().unwrap(), 4 * 24);
    /// # Ok(())
    /// # }
    /// ```
    pub fn send(&mut self, data: &[u8]) -> Result<(), GrantError> {
        self.send_within(data, Limit::Forever)
    }

    /// Like [`send`](Self::send), giving up with a timeout
    /// error after `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{GrantError, Options, bytes};
    /// use std::time::Duration;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, _rx) = bytes::heap_pair(&Options::new().capacity(64))?; // 8 words
    /// tx.try_send(&[0; 24])?; // a header word and 3 payload words
    /// tx.try_send(&[0; 24])?; // the ring is full
    /// let full = tx.send_timeout(b"x", Duration::from_millis(10)); // nobody reads
    /// assert_eq!(full, Err(GrantError::Timeout));
    /// # Ok(())
    /// # }
    /// ```
    pub fn send_timeout(&mut self, data: &[u8], timeout: Duration) -> Result<(), GrantError> {
        self.send_within(data, Limit::Timeout(timeout))
    }

    /// Like [`send`](Self::send), giving up with a timeout
    /// error at `deadline`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{GrantError, Options, bytes};
    /// use std::time::{Duration, Instant};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, _rx) = bytes::heap_pair(&Options::new().capacity(64))?; // 8 words
    /// tx.try_send(&[0; 24])?; // a header word and 3 payload words
    /// tx.try_send(&[0; 24])?; // the ring is full
    /// let full = tx.send_deadline(b"x", Instant::now() + Duration::from_millis(10));
    /// assert_eq!(full, Err(GrantError::Timeout)); // nobody read
    /// # Ok(())
    /// # }
    /// ```
    pub fn send_deadline(&mut self, data: &[u8], deadline: Instant) -> Result<(), GrantError> {
        self.send_within(data, Limit::Deadline(deadline))
    }

    fn send_within(&mut self, data: &[u8], limit: Limit) -> Result<(), GrantError> {
        self.send_with(data, true, limit.deadline())
    }

    fn grant_with(
        &mut self,
        len: usize,
        wait: bool,
        deadline: Option<Instant>,
    ) -> Result<Grant<'_>, GrantError> {
        let target = match self.reserve(len, wait, deadline)? {
            Some(placement) => {
                // Loom: the grant's bytes (see its `Deref`).
                #[cfg(shmlane_loom)]
                if self.scratch.len() < len {
                    self.scratch.resize(len, 0);
                }
                GrantTarget::Ring(placement)
            }
            None => {
                if self.scratch.len() < len {
                    self.scratch.resize(len, 0);
                }
                GrantTarget::Dropped
            }
        };
        Ok(Grant {
            producer: self,
            target,
            len,
        })
    }

    /// Hands out `len` contiguous bytes of the ring to write in place,
    /// published by [`Grant::commit`]; see [`send`](Self::send) for a full
    /// ring.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, bytes};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = bytes::heap_pair(&Options::new().capacity(4096))?;
    /// let mut grant = tx.grant(64)?; // room for up to 64 bytes
    /// grant[..5].copy_from_slice(b"hello");
    /// grant.commit(5); // one frame of the 5 bytes written
    /// assert_eq!(&*rx.read()?, b"hello");
    /// # Ok(())
    /// # }
    /// ```
    pub fn grant(&mut self, len: usize) -> Result<Grant<'_>, GrantError> {
        self.grant_with(len, false, None)
    }

    /// Like [`grant`](Self::grant), waiting for room if the policy is
    /// [`Overflow::Block`], waiting as long as it takes (as the endpoint's
    /// [`WaitStrategy`](crate::WaitStrategy) says).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, bytes};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = bytes::heap_pair(&Options::new().capacity(4096))?;
    /// let mut grant = tx.grant_blocking(5)?; // waits only while the ring is full
    /// grant.copy_from_slice(b"hello");
    /// grant.commit(5);
    /// assert_eq!(&*rx.read()?, b"hello");
    /// # Ok(())
    /// # }
    /// ```
    pub fn grant_blocking(&mut self, len: usize) -> Result<Grant<'_>, GrantError> {
        self.grant_within(len, Limit::Forever)
    }

    /// Like [`grant_blocking`](Self::grant_blocking), giving up with a timeout
    /// error after `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{GrantError, Options, bytes};
    /// use std::time::Duration;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, _rx) = bytes::heap_pair(&Options::new().capacity(64))?; // 8 words
    /// tx.try_send(&[0; 24])?; // a header word and 3 payload words
    /// tx.try_send(&[0; 24])?; // the ring is full
    /// let full = tx.grant_timeout(8, Duration::from_millis(10)); // nobody reads
    /// assert_eq!(full.err(), Some(GrantError::Timeout));
    /// # Ok(())
    /// # }
    /// ```
    pub fn grant_timeout(
        &mut self,
        len: usize,
        timeout: Duration,
    ) -> Result<Grant<'_>, GrantError> {
        self.grant_within(len, Limit::Timeout(timeout))
    }

    /// Like [`grant_blocking`](Self::grant_blocking), giving up with a timeout
    /// error at `deadline`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{GrantError, Options, bytes};
    /// use std::time::{Duration, Instant};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, _rx) = bytes::heap_pair(&Options::new().capacity(64))?; // 8 words
    /// tx.try_send(&[0; 24])?; // a header word and 3 payload words
    /// tx.try_send(&[0; 24])?; // the ring is full
    /// let full = tx.grant_deadline(8, Instant::now() + Duration::from_millis(10));
    /// assert_eq!(full.err(), Some(GrantError::Timeout)); // nobody read
    /// # Ok(())
    /// # }
    /// ```
    pub fn grant_deadline(
        &mut self,
        len: usize,
        deadline: Instant,
    ) -> Result<Grant<'_>, GrantError> {
        self.grant_within(len, Limit::Deadline(deadline))
    }

    fn grant_within(&mut self, len: usize, limit: Limit) -> Result<Grant<'_>, GrantError> {
        self.grant_with(len, true, limit.deadline())
    }
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("bytes::Producer")
            .field("segment", &self.ring.name())
            .field("capacity", &self.capacity())
            .field("max_frame", &self.max_frame)
            .field("overflow", &self.overflow)
            .finish_non_exhaustive()
    }
}
