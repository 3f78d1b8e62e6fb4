//! The reading end of a byte ring, and its in-place [`Frame`].

use std::time::{Duration, Instant};

#[cfg(not(shmlane_loom))]
use super::Source;
#[cfg(not(shmlane_loom))]
use super::frame::payload_ptr;
use super::frame::{FRAME_DATA, FRAME_PADDING, copy_from_ring, payload_words, read_frame_word};
use super::{RingMemory, Wake};
use crate::error::{Corruption, OpenError, PopError};
use crate::options::{Options, WaitStrategy};
use crate::ring::endpoint_accessors;
#[cfg(not(shmlane_loom))]
use crate::segment::{RingKind, peer::Role};
use crate::sync::{Ordering, spin_hint};
use crate::wait::{self, Limit};

/// How far ahead of `head` the consumer prefetches, in words, and how many
/// lines from there: fetching published lines ahead overlaps the cross-core
/// misses of a run of small frames instead of taking them one frame at a
/// time; large frames gain nothing (the hardware prefetcher already streams
/// their lines). `shmlane bench --case bytes-tput --size 64` shows what it
/// is worth, against a build without the prefetch.
const PREFETCH_AHEAD: u64 = 64;
const PREFETCH_LINES: u64 = 2;
/// Words in a 64-byte cache line.
const WORDS_PER_LINE: u64 = 8;

/// The reading end of a byte ring. Exactly one may be attached at a time.
pub struct Consumer {
    pub(super) ring: RingMemory<u64>,
    /// Next frame's position (local; published lazily).
    pub(super) head: u64,
    /// The `head` last stored in the segment.
    published_head: u64,
    /// Last `tail` read from the segment; `cached_tail - head <= capacity`.
    cached_tail: u64,
    max_frame: u64,
    /// Freed words after which `head` is published (1 with
    /// [`Options::release_each_frame`]: after every frame).
    release_batch: u64,
    strategy: WaitStrategy,
}

/// Where the next frame's payload is.
#[derive(Debug, Clone, Copy)]
struct FrameAt {
    /// Slot of the first payload word.
    payload: usize,
    /// Payload bytes.
    len: usize,
    /// Words the frame takes, header included.
    words: u64,
}

impl Consumer {
    /// The segment, for the async endpoints' wake word.
    #[cfg(all(feature = "tokio", not(shmlane_loom)))]
    pub(crate) fn memory(&self) -> &RingMemory<u64> {
        &self.ring
    }

    /// How this endpoint waits (the async endpoints follow it too).
    #[cfg(all(feature = "tokio", not(shmlane_loom)))]
    pub(crate) fn wait_strategy(&self) -> crate::options::WaitStrategy {
        self.strategy
    }

    /// Creates the named byte ring `name` and attaches as its consumer.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shmlane::{Options, bytes};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // The consumer may come first: it makes the ring, a producer opens it.
    /// let mut rx = bytes::Consumer::create("quotes", &Options::new().capacity(1 << 16))?;
    /// let mut buf = Vec::new();
    /// rx.recv(&mut buf)?; // waits for a producer's first frame
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(not(shmlane_loom))]
    pub fn create(name: &str, opts: &Options) -> Result<Self, OpenError> {
        let ring = RingMemory::named(Source::Create(name), RingKind::Bytes, Role::Consumer, opts)?;
        Self::attach(ring, opts)
    }

    /// Opens the named byte ring `name` and attaches as its consumer; fails
    /// with [`OpenError::RoleTaken`] while another live consumer is
    /// attached. A replacement of a dead consumer starts at the last
    /// position the dead one published: frames it had read but not yet
    /// handed back (at most an eighth of the ring) are read again.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shmlane::{Options, bytes};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // The segment's capacity and max frame are adopted.
    /// let mut rx = bytes::Consumer::open("quotes", &Options::new())?;
    /// let frame = rx.read_blocking()?;
    /// println!("{}", String::from_utf8_lossy(&frame));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(not(shmlane_loom))]
    pub fn open(name: &str, opts: &Options) -> Result<Self, OpenError> {
        let ring = RingMemory::named(Source::Open(name), RingKind::Bytes, Role::Consumer, opts)?;
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
    /// use shmlane::{Options, bytes};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let end = bytes::Consumer::open_or_create("restartable", &Options::new())?;
    /// # drop(end);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(not(shmlane_loom))]
    pub fn open_or_create(name: &str, opts: &Options) -> Result<Self, OpenError> {
        let source = Source::OpenOrCreate(name, opts);
        let ring = RingMemory::named(source, RingKind::Bytes, Role::Consumer, opts)?;
        Self::attach(ring, opts)
    }

    pub(crate) fn attach(ring: RingMemory<u64>, opts: &Options) -> Result<Self, OpenError> {
        let (head, _) = ring.positions()?;
        let max_frame = ring.layout().max_frame;
        Ok(Self {
            release_batch: match opts.release_each_frame {
                Some(true) => 1,
                _ => (ring.capacity().get() / 8).max(1),
            },
            ring,
            head,
            published_head: head,
            // The cache starts out saying "empty", so that the first read
            // takes the slow path, which marks the endpoint attached.
            cached_tail: head,
            max_frame,
            strategy: opts.wait_strategy.unwrap_or_default(),
        })
    }

    /// For `shm://`: the consumer of the ring `name`, opened with `open` or
    /// created with `create`, marked attached at first use.
    #[cfg(not(shmlane_loom))]
    pub(crate) fn open_or_create_with(
        name: &str,
        open: &Options,
        create: &Options,
    ) -> Result<Self, OpenError> {
        let source = Source::OpenOrCreate(name, open);
        let ring = RingMemory::named_unmarked(source, RingKind::Bytes, Role::Consumer, create)?;
        Self::attach(ring, open)
    }

    /// The largest frame payload this ring takes, in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, bytes};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (_tx, rx) = bytes::heap_pair(&Options::new().capacity(4096))?;
    /// assert_eq!(rx.max_frame(), 4096 / 2 - 8); // by default: half the ring, less a header
    /// # Ok(())
    /// # }
    /// ```
    pub fn max_frame(&self) -> usize {
        self.max_frame as usize
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
        unit: "bytes",
        per_slot: 8,
        peer: "the producer",
        example: {
            uses: "use shmlane::{Options, bytes};",
            pair: "let (mut tx, mut rx) = bytes::heap_pair(&Options::new().capacity(4096))?;",
            round_trip: "tx.send(b\"hi\")?;\nassert_eq!(rx.try_recv(&mut Vec::new())?, 2);",
            this: "rx",
            other: "tx",
            capacity: "4096",
        },
    }

    /// Poisons the endpoint; the cache then says "empty", which sends every
    /// call to the slow path, which checks the poison.
    #[cold]
    pub(crate) fn poison(&mut self, found: Corruption) -> Corruption {
        self.cached_tail = self.head;
        self.ring.poison(found)
    }

    /// Re-reads `tail`: also where the endpoint marks itself attached.
    #[cold]
    #[inline(never)]
    fn refresh_tail(&mut self) -> Result<(), Corruption> {
        self.ring.poisoned()?;
        self.ring.ensure_attached();
        // SYNC: bytes-publish (Acquire: the producer's writes of every frame
        // before `tail` are visible)
        let tail = self.ring.tail().load(Ordering::Acquire);
        match self.ring.capacity().occupied(self.head, tail) {
            Ok(_) => {
                self.cached_tail = tail;
                Ok(())
            }
            Err(corruption) => Err(self.poison(corruption)),
        }
    }

    /// Hands the space of every frame read so far back to the producer and
    /// wakes it if it sleeps.
    fn publish_head(&mut self) {
        if self.published_head != self.head {
            self.published_head = self.head;
            // SYNC: bytes-release (Release: our reads of every frame before
            // `head` happen-before the producer's Acquire load that sees it)
            self.ring.head().store(self.head, Ordering::Release);
            self.ring.notify_peer();
        }
    }

    /// Frees the frame at `head` (of `words` words).
    #[inline]
    fn release_frame(&mut self, words: u64) {
        self.head = self.head.wrapping_add(words);
        if self.head.wrapping_sub(self.published_head) >= self.release_batch {
            self.publish_head();
        }
    }

    /// Prefetches the [`PREFETCH_LINES`] lines from [`PREFETCH_AHEAD`] words
    /// past `head`, those of them within the `available` published words
    /// (only published ones: see [`RingMemory::prefetch`]).
    #[inline(always)]
    fn prefetch_ahead(&self, available: u64) {
        for line in 0..PREFETCH_LINES {
            let offset = PREFETCH_AHEAD + line * WORDS_PER_LINE;
            if offset < available {
                self.ring.prefetch(self.head.wrapping_add(offset));
            }
        }
    }

    /// The next published frame, validated; `None` if the ring is empty
    /// (then the space read so far is handed back).
    fn next_frame(&mut self) -> Result<Option<FrameAt>, Corruption> {
        self.ring.poisoned()?;
        // At most two rounds: a padding frame, then a frame at slot 0.
        loop {
            if self.cached_tail == self.head {
                self.refresh_tail()?;
                if self.cached_tail == self.head {
                    self.publish_head();
                    return Ok(None);
                }
            }
            let capacity = self.ring.capacity();
            let available = self.cached_tail.wrapping_sub(self.head);
            let slot = capacity.slot(self.head);
            let to_end = capacity.get() - slot as u64;
            let word = read_frame_word(&self.ring, self.head);
            let len = word & u64::from(u32::MAX);
            match (word >> 32) as u32 {
                FRAME_DATA => {
                    let words = 1 + payload_words(len);
                    let bad = if len > self.max_frame {
                        Some(("frame longer than the max frame", len, self.max_frame))
                    } else if words > to_end {
                        Some(("frame runs past the end of the ring", words, to_end))
                    } else if words > available {
                        Some(("frame runs past the published tail", words, available))
                    } else {
                        None
                    };
                    if let Some((what, found, limit)) = bad {
                        return Err(self.poison(Corruption { what, found, limit }));
                    }
                    self.prefetch_ahead(available);
                    return Ok(Some(FrameAt {
                        payload: slot + 1,
                        len: len as usize,
                        words,
                    }));
                }
                FRAME_PADDING => {
                    let filler = (to_end - 1) * 8;
                    let bad = if slot == 0 || len != filler {
                        Some(("padding frame does not end the ring", len, filler))
                    } else if to_end > available {
                        Some(("padding runs past the published tail", to_end, available))
                    } else {
                        None
                    };
                    if let Some((what, found, limit)) = bad {
                        return Err(self.poison(Corruption { what, found, limit }));
                    }
                    self.release_frame(to_end);
                }
                flags => {
                    let corruption = Corruption {
                        what: "unknown frame flags",
                        found: flags.into(),
                        limit: FRAME_PADDING.into(),
                    };
                    return Err(self.poison(corruption));
                }
            }
        }
    }

    /// The next frame, or `Empty` / `Disconnected` (after the drain: the
    /// Acquire load that saw the producer gone, SYNC: peer-state, orders
    /// its last publish before one more look).
    fn next_or_disconnected(&mut self) -> Result<FrameAt, PopError> {
        if let Some(frame) = self.next_frame().map_err(PopError::corrupted)? {
            return Ok(frame);
        }
        // An empty look: now and then also a liveness check, so that a
        // loop of non-blocking reads learns of a SIGKILLed producer.
        if !self.ring.idle_poll_found_peer_gone() {
            return Err(PopError::Empty);
        }
        self.refresh_tail().map_err(PopError::corrupted)?;
        match self.next_frame().map_err(PopError::corrupted)? {
            Some(frame) => Ok(frame),
            None => Err(PopError::Disconnected),
        }
    }

    /// The next frame, waiting up to `deadline` when `wait` says so.
    fn next_with(&mut self, wait: bool, deadline: Option<Instant>) -> Result<FrameAt, PopError> {
        match self.next_or_disconnected() {
            Err(PopError::Empty) if wait => {}
            done => return done,
        }
        for _ in 0..wait::brief_spins(self.strategy) {
            spin_hint();
            match self.next_or_disconnected() {
                Err(PopError::Empty) => {}
                done => return done,
            }
        }
        loop {
            self.wait_for_frame(deadline)?;
            match self.next_or_disconnected() {
                Err(PopError::Empty) => {}
                done => return done,
            }
        }
    }

    /// Sleeps until a frame is published, the producer is gone or
    /// `deadline` passes (then `Timeout`).
    #[cold]
    fn wait_for_frame(&mut self, deadline: Option<Instant>) -> Result<(), PopError> {
        let ring = &self.ring;
        let head = self.head;
        let published = || {
            // SYNC: bytes-publish
            let tail = ring.tail().load(Ordering::Acquire);
            Ok(ring.capacity().occupied(head, tail)? > 0)
        };
        match ring.block_until_progress(self.strategy, deadline, published) {
            Some(Wake::Ready | Wake::Disconnected) => Ok(()),
            Some(Wake::Corrupted(corruption)) => Err(PopError::corrupted(self.poison(corruption))),
            None => Err(PopError::Timeout),
        }
    }

    fn recv_with(
        &mut self,
        dst: &mut Vec<u8>,
        wait: bool,
        deadline: Option<Instant>,
    ) -> Result<usize, PopError> {
        let frame = self.next_with(wait, deadline)?;
        dst.clear();
        copy_from_ring(&self.ring, frame.payload, frame.len, dst);
        self.release_frame(frame.words);
        Ok(frame.len)
    }

    /// Copies the next frame into `dst` (replacing its contents) and frees
    /// it; returns its length. [`PopError::Empty`] if there is none,
    /// [`PopError::Disconnected`] once the producer is gone and every frame
    /// it committed has been received. The one copy is taken once, so this
    /// is the safe way to read from a producer you do not trust.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, PopError, bytes};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = bytes::heap_pair(&Options::new().capacity(4096))?;
    /// let mut buf = Vec::new();
    /// assert_eq!(rx.try_recv(&mut buf), Err(PopError::Empty));
    /// tx.send(b"hello")?;
    /// assert_eq!(rx.try_recv(&mut buf)?, 5);
    /// assert_eq!(buf, b"hello");
    /// # Ok(())
    /// # }
    /// ```
    pub fn try_recv(&mut self, dst: &mut Vec<u8>) -> Result<usize, PopError> {
        self.recv_with(dst, false, None)
    }

    /// Like [`try_recv`](Self::try_recv), waiting for a frame, waiting as long as it takes (as the endpoint's
    /// [`WaitStrategy`](crate::WaitStrategy) says).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, PopError, bytes};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = bytes::heap_pair(&Options::new().capacity(4096))?;
    /// tx.send(b"hello")?;
    /// drop(tx);
    /// let mut buf = Vec::new();
    /// assert_eq!(rx.recv(&mut buf)?, 5); // what was committed comes first
    /// assert_eq!(rx.recv(&mut buf), Err(PopError::Disconnected));
    /// # Ok(())
    /// # }
    /// ```
    pub fn recv(&mut self, dst: &mut Vec<u8>) -> Result<usize, PopError> {
        self.recv_within(dst, Limit::Forever)
    }

    /// Like [`recv`](Self::recv), giving up with a timeout
    /// error after `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, PopError, bytes};
    /// use std::time::Duration;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = bytes::heap_pair(&Options::new().capacity(4096))?;
    /// let (mut buf, wait) = (Vec::new(), Duration::from_millis(10));
    /// assert_eq!(rx.recv_timeout(&mut buf, wait), Err(PopError::Timeout));
    /// tx.send(b"hello")?;
    /// assert_eq!(rx.recv_timeout(&mut buf, wait)?, 5);
    /// # Ok(())
    /// # }
    /// ```
    pub fn recv_timeout(
        &mut self,
        dst: &mut Vec<u8>,
        timeout: Duration,
    ) -> Result<usize, PopError> {
        self.recv_within(dst, Limit::Timeout(timeout))
    }

    /// Like [`recv`](Self::recv), giving up with a timeout
    /// error at `deadline`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, PopError, bytes};
    /// use std::time::{Duration, Instant};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = bytes::heap_pair(&Options::new().capacity(4096))?;
    /// let (mut buf, deadline) = (Vec::new(), Instant::now() + Duration::from_millis(10));
    /// assert_eq!(rx.recv_deadline(&mut buf, deadline), Err(PopError::Timeout));
    /// tx.send(b"hello")?;
    /// assert_eq!(rx.recv_deadline(&mut buf, deadline)?, 5); // ready: no wait, deadline or not
    /// # Ok(())
    /// # }
    /// ```
    pub fn recv_deadline(
        &mut self,
        dst: &mut Vec<u8>,
        deadline: Instant,
    ) -> Result<usize, PopError> {
        self.recv_within(dst, Limit::Deadline(deadline))
    }

    fn recv_within(&mut self, dst: &mut Vec<u8>, limit: Limit) -> Result<usize, PopError> {
        self.recv_with(dst, true, limit.deadline())
    }

    /// The next frame, read in place; it is freed when the guard drops.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, PopError, bytes};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = bytes::heap_pair(&Options::new().capacity(4096))?;
    /// tx.send(b"hello")?;
    /// let frame = rx.read()?;
    /// assert_eq!(&*frame, b"hello"); // the bytes in the ring: no copy
    /// drop(frame); // frees its space
    /// assert_eq!(rx.read().err(), Some(PopError::Empty));
    /// # Ok(())
    /// # }
    /// ```
    pub fn read(&mut self) -> Result<Frame<'_>, PopError> {
        let at = self.next_with(false, None)?;
        Ok(Frame::new(self, at))
    }

    /// Like [`read`](Self::read), waiting for a frame, waiting as long as it takes (as the endpoint's
    /// [`WaitStrategy`](crate::WaitStrategy) says).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, bytes};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = bytes::heap_pair(&Options::new().capacity(4096))?;
    /// tx.send(b"hello")?;
    /// let frame = rx.read_blocking()?; // waits only while the ring is empty
    /// assert_eq!(&*frame, b"hello");
    /// # Ok(())
    /// # }
    /// ```
    pub fn read_blocking(&mut self) -> Result<Frame<'_>, PopError> {
        self.read_within(Limit::Forever)
    }

    /// Like [`read_blocking`](Self::read_blocking), giving up with a timeout
    /// error after `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, PopError, bytes};
    /// use std::time::Duration;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = bytes::heap_pair(&Options::new().capacity(4096))?;
    /// let empty = rx.read_timeout(Duration::from_millis(10)); // nothing was sent
    /// assert_eq!(empty.err(), Some(PopError::Timeout));
    /// tx.send(b"hello")?;
    /// assert_eq!(&*rx.read_timeout(Duration::from_millis(10))?, b"hello");
    /// # Ok(())
    /// # }
    /// ```
    pub fn read_timeout(&mut self, timeout: Duration) -> Result<Frame<'_>, PopError> {
        self.read_within(Limit::Timeout(timeout))
    }

    /// Like [`read_blocking`](Self::read_blocking), giving up with a timeout
    /// error at `deadline`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, PopError, bytes};
    /// use std::time::{Duration, Instant};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = bytes::heap_pair(&Options::new().capacity(4096))?;
    /// let deadline = Instant::now() + Duration::from_millis(10);
    /// assert_eq!(rx.read_deadline(deadline).err(), Some(PopError::Timeout));
    /// tx.send(b"hello")?;
    /// assert_eq!(&*rx.read_deadline(deadline)?, b"hello");
    /// # Ok(())
    /// # }
    /// ```
    pub fn read_deadline(&mut self, deadline: Instant) -> Result<Frame<'_>, PopError> {
        self.read_within(Limit::Deadline(deadline))
    }

    fn read_within(&mut self, limit: Limit) -> Result<Frame<'_>, PopError> {
        let at = self.next_with(true, limit.deadline())?;
        Ok(Frame::new(self, at))
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        // Hand back what was read, so that a later consumer does not read
        // it again.
        if self.ring.is_attached() && !self.ring.is_poisoned() {
            self.publish_head();
        }
    }
}

/// One frame, read in place; dropping it (or [`release`](Self::release))
/// frees its space for the producer.
///
/// The bytes stay in shared memory while the guard lives: an honest
/// producer does not touch them, a hostile one could change them while you
/// read (see SAFETY.md). Use [`Consumer::recv`] when the producer is
/// not trusted.
///
/// Under loom the ring's cells cannot be viewed as bytes: the frame copies
/// its payload out (each word's access tracked) when it is read, and its
/// bytes are that copy; the release is the same.
pub struct Frame<'a> {
    consumer: &'a mut Consumer,
    at: FrameAt,
    #[cfg(shmlane_loom)]
    staged: Vec<u8>,
}

impl<'a> Frame<'a> {
    fn new(consumer: &'a mut Consumer, at: FrameAt) -> Self {
        #[cfg(shmlane_loom)]
        {
            let mut staged = Vec::with_capacity(at.len);
            copy_from_ring(&consumer.ring, at.payload, at.len, &mut staged);
            Self {
                consumer,
                at,
                staged,
            }
        }
        #[cfg(not(shmlane_loom))]
        Self { consumer, at }
    }
}

impl Frame<'_> {
    /// Frees the frame (the same as dropping it).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, bytes};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = bytes::heap_pair(&Options::new().capacity(4096))?;
    /// tx.send(b"a")?;
    /// tx.send(b"b")?;
    /// let frame = rx.read()?;
    /// assert_eq!(&*frame, b"a");
    /// frame.release(); // the same as dropping it
    /// assert_eq!(&*rx.read()?, b"b");
    /// # Ok(())
    /// # }
    /// ```
    pub fn release(self) {}

    /// Leaves the frame in the ring, unreleased: the next read returns it
    /// again (a peek; the C ABI's receive into a buffer too small for the
    /// frame keeps it this way).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, bytes};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = bytes::heap_pair(&Options::new().capacity(4096))?;
    /// tx.send(b"a")?;
    /// rx.read()?.unread();
    /// assert_eq!(&*rx.read()?, b"a"); // the same frame
    /// # Ok(())
    /// # }
    /// ```
    pub fn unread(self) {
        // Not dropped: its drop is what releases the frame. The guard owns
        // nothing else (a borrow and a position), so nothing leaks.
        std::mem::forget(self);
    }
}

impl std::ops::Deref for Frame<'_> {
    type Target = [u8];

    #[cfg(shmlane_loom)]
    fn deref(&self) -> &[u8] {
        &self.staged
    }

    #[cfg(not(shmlane_loom))]
    fn deref(&self) -> &[u8] {
        let bytes = payload_ptr(&self.consumer.ring, self.at.payload, self.at.len);
        // SAFETY: the payload run was validated by `next_frame` to lie inside
        // the ring and inside what the producer published (SYNC:
        // bytes-publish); it is not released while the guard, which borrows
        // the consumer mutably, lives; an honest producer does not write it
        // before release (a hostile one: SAFETY.md §1).
        unsafe { std::slice::from_raw_parts(bytes.as_ptr(), self.at.len) }
    }
}

impl Drop for Frame<'_> {
    fn drop(&mut self) {
        self.consumer.release_frame(self.at.words);
    }
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("bytes::Consumer")
            .field("segment", &self.ring.name())
            .field("capacity", &self.capacity())
            .field("max_frame", &self.max_frame)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Frame<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame").field("len", &self.at.len).finish()
    }
}
