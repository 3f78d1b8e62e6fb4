//! Single-producer single-consumer ring of variable-length frames.
//!
//! For messages whose size varies (market data, audio buffers, serialized
//! structs). The segment's slots are 8-byte words; positions count words
//! and only grow. A frame is one header word (payload length in the low 32
//! bits, flags in the high 32) followed by its payload rounded up to whole
//! words, so every frame starts 8-byte aligned. A frame never wraps: when it
//! does not fit before the end of the ring, a *padding* frame fills the rest
//! and the frame starts at word 0. The largest frame is fixed at create time
//! ([`Options::max_frame`]), at most half the ring, so a frame always fits
//! after at most one padding frame.
//!
//! The producer writes in place into a [`Grant`] and publishes with
//! [`Grant::commit`]; the consumer reads in place from a [`Frame`] and frees
//! it by dropping it (or [`Frame::release`]). [`Producer::send`] and
//! [`Consumer::recv`] (and their `try_`, `_timeout` and `_deadline`
//! forms) copy for convenience.
//!
//! The consumer hands space back lazily: it publishes its index after
//! freeing an eighth of the ring, whenever it finds the ring empty, and when
//! it is dropped, so a busy stream does not bounce the index's cache line
//! once per frame. A producer may therefore see up to an eighth of the ring
//! as still in use.
//!
//! # Sizing
//!
//! A busy stream runs fastest when the ring fits in each core's L1 data
//! cache with room to spare for the caller's buffers: every line then moves
//! L1 to L1 between the cores. On the development machine (32 KiB L1) a
//! 16 KiB ring streamed 64 B frames about 1.6x and 4 KiB frames 2-3x
//! faster than a 64 KiB one, whose lines come back from L2 every lap. A
//! bigger ring absorbs longer bursts; pick the smallest that holds the
//! bursts you expect. The consumer prefetches published lines a little
//! ahead of the frame it reads, so the cross-core misses of a run of small
//! frames overlap.
//!
//! # Untrusted peers
//!
//! Every index and frame header read from the segment is read once,
//! validated (distance at most the capacity, length at most the max frame,
//! the frame inside the ring and inside what was published, flags known) and
//! only then used; a violation is [`Corruption`] and poisons the endpoint:
//! every later call returns the same error. A [`Frame`]'s bytes (and a
//! [`Grant`]'s) stay in shared memory while the guard lives, where a
//! hostile peer could still change them: use [`Consumer::recv`], which
//! copies the frame out once, when the producer is not trusted.
//!
//! ```no_run
//! use shmlane::{Options, bytes};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let opts = Options::new().capacity(1 << 16).max_frame(4096);
//! let mut tx = bytes::Producer::create("quotes", &opts)?; // this process
//! let mut rx = bytes::Consumer::open("quotes", &opts)?;   // usually another one
//! tx.send(b"EURUSD 1.0842")?;
//! let mut grant = tx.grant(64)?;                          // zero-copy
//! grant[..5].copy_from_slice(b"hello");
//! grant.commit(5);
//! let mut buf = Vec::new();
//! rx.try_recv(&mut buf)?;
//! assert_eq!(buf, b"EURUSD 1.0842");
//! assert_eq!(&*rx.read()?, b"hello");
//! # Ok(())
//! # }
//! ```

use std::time::{Duration, Instant};

#[cfg(not(shmlane_loom))]
use super::Source;
use super::{RingMemory, Wake};
use crate::error::{Corruption, GrantError, OpenError, PopError};
use crate::index::Capacity;
use crate::options::Options;
pub use crate::options::Overflow;
use crate::options::{WaitStrategy, Waiter};
use crate::segment::peer::Role;
use crate::segment::{Layout, RingKind};
use crate::sync::{Ordering, spin_hint};
use crate::wait::{self, Limit};

/// Default capacity of a byte ring, in bytes, when none is given.
pub const DEFAULT_BYTES_CAPACITY: usize = 64 * 1024;

/// How far ahead of `head` the consumer prefetches, in words, and how many
/// lines from there. Measured on this project's machine (64 B frames
/// through a 16 KiB ring between two cores): fetching published lines ahead
/// made the stream about 15% faster; 4 KiB frames neither gain nor lose
/// (the hardware prefetcher already streams them).
const PREFETCH_AHEAD: u64 = 64;
const PREFETCH_LINES: u64 = 2;
/// Words in a 64-byte cache line.
const WORDS_PER_LINE: u64 = 8;

/// Frame header flag: a frame of payload.
const FRAME_DATA: u32 = 1;
/// Frame header flag: filler up to the end of the ring.
const FRAME_PADDING: u32 = 2;

/// The layout a byte ring endpoint expects from `opts`.
pub(crate) fn layout(opts: &Options, waiter: Waiter) -> Result<Layout, OpenError> {
    crate::options::refuse_set(
        &[("schema_id", opts.schema_id.is_some())],
        "a byte ring (its frames are untyped bytes)",
    )?;
    Layout::for_frames(
        opts.capacity.unwrap_or(DEFAULT_BYTES_CAPACITY),
        opts.max_frame,
        opts.overflow.unwrap_or_default().code(),
        waiter,
    )
}

/// The header word of a frame.
const fn frame_word(len: u64, flags: u32) -> u64 {
    len | (flags as u64) << 32
}

/// Words a payload of `len` bytes occupies.
const fn payload_words(len: u64) -> u64 {
    len.div_ceil(8)
}

/// Where a frame goes: after `padding` words of filler (0 when it fits
/// before the end of the ring), its header and payload take `words`.
#[derive(Debug, Clone, Copy)]
struct Placement {
    padding: u64,
    words: u64,
}

impl Placement {
    /// The placement of a frame of `len` payload bytes at position `tail`.
    fn at(capacity: Capacity, tail: u64, len: u64) -> Self {
        let words = 1 + payload_words(len);
        let to_end = capacity.get() - capacity.slot(tail) as u64;
        let padding = if words > to_end { to_end } else { 0 };
        Self { padding, words }
    }

    /// Words the frame needs free, padding included.
    const fn need(self) -> u64 {
        self.padding + self.words
    }
}

/// Counters of a byte ring (shared by both ends).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes published since the segment was created, frame headers and
    /// padding included (the tail position in bytes).
    pub written_bytes: u64,
    /// Bytes freed since the segment was created, as the consumer last
    /// published them (the head position in bytes).
    pub released_bytes: u64,
    /// Frames dropped because the ring was full ([`Overflow::DropNewest`]).
    pub drops: u64,
    /// Blocking producer calls that found the ring full and had to wait.
    pub full_waits: u64,
    /// Blocking consumer calls that found the ring empty and had to wait.
    pub empty_waits: u64,
    /// futex wake syscalls issued by either end.
    pub wake_syscalls: u64,
    /// futex wait syscalls issued by either end.
    pub wait_syscalls: u64,
}

fn stats(ring: &RingMemory<u64>) -> Stats {
    let typed = ring.stats();
    Stats {
        written_bytes: typed.pushes.wrapping_mul(8),
        released_bytes: typed.pops.wrapping_mul(8),
        drops: ring.counters().drops.load(Ordering::Relaxed),
        full_waits: typed.full_waits,
        empty_waits: typed.empty_waits,
        wake_syscalls: typed.wake_syscalls,
        wait_syscalls: typed.wait_syscalls,
    }
}

/// The writing end of a byte ring. Exactly one may be attached at a time.
pub struct Producer {
    ring: RingMemory<u64>,
    /// Next position to write; the segment's `tail` mirrors it.
    tail: u64,
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
    scratch: Vec<u8>,
}

/// The reading end of a byte ring. Exactly one may be attached at a time.
pub struct Consumer {
    ring: RingMemory<u64>,
    /// Next frame's position (local; published lazily).
    head: u64,
    /// The `head` last stored in the segment.
    published_head: u64,
    /// Last `tail` read from the segment; `cached_tail - head <= capacity`.
    cached_tail: u64,
    max_frame: u64,
    /// Freed words after which `head` is published.
    release_batch: u64,
    strategy: WaitStrategy,
}

/// A producer and a consumer over one new anonymous shared-memory segment
/// (memfd), for a fork; see [`spsc::pair`](crate::spsc::pair) for how to
/// hand the ends over.
#[cfg(not(shmlane_loom))]
pub fn pair(opts: &Options) -> Result<(Producer, Consumer), OpenError> {
    let roles = (Role::Producer, Role::Consumer);
    let (tx, rx) = RingMemory::memfd_pair(RingKind::Bytes, roles, opts)?;
    Ok((Producer::attach(tx, opts)?, Consumer::attach(rx, opts)?))
}

/// A producer and a consumer over process-local memory: the same ring for
/// threads of one process.
pub fn heap_pair(opts: &Options) -> Result<(Producer, Consumer), OpenError> {
    let roles = (Role::Producer, Role::Consumer);
    let (tx, rx) = RingMemory::heap_pair(RingKind::Bytes, roles, opts)?;
    Ok((Producer::attach(tx, opts)?, Consumer::attach(rx, opts)?))
}

/// The first byte of a payload of `len` bytes from slot `first`; the run
/// of words it spans must be inside the slot area (a placed or validated
/// frame never wraps).
#[cfg(not(shmlane_loom))]
fn payload_ptr(ring: &RingMemory<u64>, first: usize, len: usize) -> std::ptr::NonNull<u8> {
    let words = payload_words(len as u64) as usize;
    ring.slot_run(first, words).cast::<u8>()
}

/// Copies `src` into the payload words from slot `first` (no wrap: the
/// caller placed the frame).
#[cfg(not(shmlane_loom))]
fn copy_to_ring(ring: &RingMemory<u64>, first: usize, src: &[u8]) {
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
fn copy_to_ring(ring: &RingMemory<u64>, first: usize, src: &[u8]) {
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
fn copy_from_ring(ring: &RingMemory<u64>, first: usize, len: usize, dst: &mut Vec<u8>) {
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
fn copy_from_ring(ring: &RingMemory<u64>, first: usize, len: usize, dst: &mut Vec<u8>) {
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
fn read_frame_word(ring: &RingMemory<u64>, position: u64) -> u64 {
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

/// The named ring `name` for `role`, opened if it exists and created
/// (with `create`) if not, not yet marked attached (see
/// [`RingMemory::named_unmarked`]). For the `shm://` transport, whose two
/// ends may start in either order.
#[cfg(not(shmlane_loom))]
fn open_or_create(
    name: &str,
    role: Role,
    open: &Options,
    create: &Options,
) -> Result<RingMemory<u64>, OpenError> {
    // A creator that goes away between our two attempts: try again, and
    // let a last open say what is wrong.
    for _ in 0..3 {
        match RingMemory::named_unmarked(Source::Open(name), RingKind::Bytes, role, open) {
            Err(OpenError::NotFound { .. }) => {}
            other => return other,
        }
        match RingMemory::named_unmarked(Source::Create(name), RingKind::Bytes, role, create) {
            Err(OpenError::AlreadyExists { .. }) => {}
            other => return other,
        }
    }
    RingMemory::named_unmarked(Source::Open(name), RingKind::Bytes, role, open)
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
    /// [`DEFAULT_BYTES_CAPACITY`]), the max frame and the overflow policy.
    #[cfg(not(shmlane_loom))]
    pub fn create(name: &str, opts: &Options) -> Result<Self, OpenError> {
        let ring = RingMemory::named(Source::Create(name), RingKind::Bytes, Role::Producer, opts)?;
        Self::attach(ring, opts)
    }

    /// Opens the named byte ring `name` and attaches as its producer; fails
    /// with [`OpenError::RoleTaken`] while another live producer is
    /// attached. A replacement of a dead producer continues after the last
    /// committed frame.
    #[cfg(not(shmlane_loom))]
    pub fn open(name: &str, opts: &Options) -> Result<Self, OpenError> {
        let ring = RingMemory::named(Source::Open(name), RingKind::Bytes, Role::Producer, opts)?;
        Self::attach(ring, opts)
    }

    fn attach(ring: RingMemory<u64>, opts: &Options) -> Result<Self, OpenError> {
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
    pub(crate) fn open_or_create(
        name: &str,
        open: &Options,
        create: &Options,
    ) -> Result<Self, OpenError> {
        Self::attach(open_or_create(name, Role::Producer, open, create)?, open)
    }

    /// Whether a consumer holds the ring's consumer role now (a syscall).
    #[cfg(not(shmlane_loom))]
    pub(crate) fn consumer_present(&self) -> bool {
        self.ring.peer_role_held()
    }

    /// The largest frame payload this ring takes, in bytes.
    pub fn max_frame(&self) -> usize {
        self.max_frame as usize
    }

    /// What this ring does when full.
    pub fn overflow(&self) -> Overflow {
        self.overflow
    }

    /// The ring's size in bytes (frame headers and padding take part of it).
    pub fn capacity(&self) -> usize {
        (self.ring.capacity().get() * 8) as usize
    }

    /// The ring's counters (shared by both ends).
    pub fn stats(&self) -> Stats {
        stats(&self.ring)
    }

    /// Whether the consumer is gone (detached, or found dead).
    pub fn is_disconnected(&self) -> bool {
        self.ring.peer_gone()
    }

    /// Checks now whether an attached consumer's process is still alive (a
    /// syscall); blocking calls do this by themselves while they wait.
    pub fn check_peer(&self) {
        self.ring.check_peer_alive();
    }

    /// The segment, for the fuzz targets' hostile writes.
    #[cfg(all(feature = "test-support", not(shmlane_loom)))]
    pub(crate) fn memory(&self) -> &RingMemory<u64> {
        &self.ring
    }

    /// Makes the cache say "full", so that the next call re-reads `head`.
    fn forget_room(&mut self) {
        self.cached_head = self.tail.wrapping_sub(self.ring.capacity().get());
    }

    /// Poisons the endpoint; the cache then sends every call to the slow
    /// path, which checks the poison.
    #[cold]
    fn poison(&mut self, found: Corruption) -> Corruption {
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
    fn publish_frame(&mut self, placement: Placement, len: u64) {
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

    fn write_word(&self, position: u64, value: u64) {
        self.ring.slot(position).with_mut(|word| {
            // SAFETY: the word is in the free part of the ring (the
            // placement fit, SYNC: bytes-release) and only this producer
            // writes free words.
            unsafe { word.write(value) }
        });
    }

    /// The slot of the payload of a frame placed at `placement`.
    fn payload_slot(&self, placement: Placement) -> usize {
        self.ring
            .capacity()
            .slot(self.tail.wrapping_add(placement.padding + 1))
    }

    /// Counts a dropped frame (one writer: a plain load and store).
    fn count_drop(&self) {
        let drops = &self.ring.counters().drops;
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
    pub fn try_send(&mut self, data: &[u8]) -> Result<(), GrantError> {
        self.send_with(data, false, None)
    }

    /// Sends one frame holding a copy of `data`, waiting for room if the
    /// policy is [`Overflow::Block`], waiting as long as it takes (as the endpoint's
    /// [`WaitStrategy`](crate::WaitStrategy) says).
    pub fn send(&mut self, data: &[u8]) -> Result<(), GrantError> {
        self.send_within(data, Limit::Forever)
    }

    /// Like [`send`](Self::send), giving up with a timeout
    /// error after `timeout`.
    pub fn send_timeout(&mut self, data: &[u8], timeout: Duration) -> Result<(), GrantError> {
        self.send_within(data, Limit::Timeout(timeout))
    }

    /// Like [`send`](Self::send), giving up with a timeout
    /// error at `deadline`.
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
            Some(placement) => GrantTarget::Ring(placement),
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
    pub fn grant(&mut self, len: usize) -> Result<Grant<'_>, GrantError> {
        self.grant_with(len, false, None)
    }

    /// Like [`grant`](Self::grant), waiting for room if the policy is
    /// [`Overflow::Block`], waiting as long as it takes (as the endpoint's
    /// [`WaitStrategy`](crate::WaitStrategy) says).
    pub fn grant_blocking(&mut self, len: usize) -> Result<Grant<'_>, GrantError> {
        self.grant_within(len, Limit::Forever)
    }

    /// Like [`grant_blocking`](Self::grant_blocking), giving up with a timeout
    /// error after `timeout`.
    pub fn grant_timeout(
        &mut self,
        len: usize,
        timeout: Duration,
    ) -> Result<Grant<'_>, GrantError> {
        self.grant_within(len, Limit::Timeout(timeout))
    }

    /// Like [`grant_blocking`](Self::grant_blocking), giving up with a timeout
    /// error at `deadline`.
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

/// Where a grant's bytes live.
#[derive(Debug, Clone, Copy)]
enum GrantTarget {
    /// In the ring, at this placement.
    Ring(Placement),
    /// In the producer's scratch buffer: the frame is dropped at commit.
    Dropped,
}

/// Room for one frame, written in place and published by
/// [`commit`](Self::commit). Dropping it uncommitted publishes nothing.
///
/// The bytes are in shared memory (unless the frame is being dropped, see
/// [`Overflow::DropNewest`]): an honest consumer does not touch them, a
/// hostile one could while the grant lives (see SAFETY.md). They hold
/// whatever was there before.
pub struct Grant<'a> {
    producer: &'a mut Producer,
    target: GrantTarget,
    len: usize,
}

impl Grant<'_> {
    /// Number of bytes granted.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the grant has no byte.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the ring was full and this frame will be dropped at commit
    /// ([`Overflow::DropNewest`]).
    pub fn is_dropped(&self) -> bool {
        matches!(self.target, GrantTarget::Dropped)
    }

    /// Publishes the first `n` bytes (at most [`len`](Self::len)) as one
    /// frame and returns how many were published (0 when the frame was
    /// dropped).
    pub fn commit(self, n: usize) -> usize {
        let n = n.min(self.len);
        match self.target {
            GrantTarget::Ring(placement) => {
                self.producer.publish_frame(placement, n as u64);
                n
            }
            GrantTarget::Dropped => {
                self.producer.count_drop();
                0
            }
        }
    }
}

#[cfg(not(shmlane_loom))]
impl std::ops::Deref for Grant<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self.target {
            GrantTarget::Ring(placement) => {
                let slot = self.producer.payload_slot(placement);
                let bytes = payload_ptr(&self.producer.ring, slot, self.len);
                // SAFETY: the payload run is inside the slot area (the
                // placement keeps the frame before the end of the ring),
                // free, and unseen by the consumer until commit; `len <=
                // words * 8`; the grant borrows the producer mutably.
                unsafe { std::slice::from_raw_parts(bytes.as_ptr(), self.len) }
            }
            GrantTarget::Dropped => &self.producer.scratch[..self.len],
        }
    }
}

#[cfg(not(shmlane_loom))]
impl std::ops::DerefMut for Grant<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        match self.target {
            GrantTarget::Ring(placement) => {
                let slot = self.producer.payload_slot(placement);
                let bytes = payload_ptr(&self.producer.ring, slot, self.len);
                // SAFETY: as in `deref`; `&mut self` makes this the only
                // reference to the run.
                unsafe { std::slice::from_raw_parts_mut(bytes.as_ptr(), self.len) }
            }
            GrantTarget::Dropped => &mut self.producer.scratch[..self.len],
        }
    }
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
    /// Creates the named byte ring `name` and attaches as its consumer.
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
    #[cfg(not(shmlane_loom))]
    pub fn open(name: &str, opts: &Options) -> Result<Self, OpenError> {
        let ring = RingMemory::named(Source::Open(name), RingKind::Bytes, Role::Consumer, opts)?;
        Self::attach(ring, opts)
    }

    pub(crate) fn attach(ring: RingMemory<u64>, opts: &Options) -> Result<Self, OpenError> {
        let (head, _) = ring.positions()?;
        let max_frame = ring.layout().max_frame;
        Ok(Self {
            release_batch: (ring.capacity().get() / 8).max(1),
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
    pub(crate) fn open_or_create(
        name: &str,
        open: &Options,
        create: &Options,
    ) -> Result<Self, OpenError> {
        Self::attach(open_or_create(name, Role::Consumer, open, create)?, open)
    }

    /// The largest frame payload this ring takes, in bytes.
    pub fn max_frame(&self) -> usize {
        self.max_frame as usize
    }

    /// The ring's size in bytes.
    pub fn capacity(&self) -> usize {
        (self.ring.capacity().get() * 8) as usize
    }

    /// The ring's counters (shared by both ends).
    pub fn stats(&self) -> Stats {
        stats(&self.ring)
    }

    /// Whether the producer is gone; frames it committed may still wait.
    pub fn is_disconnected(&self) -> bool {
        self.ring.peer_gone()
    }

    /// Checks now whether an attached producer's process is still alive (a
    /// syscall); blocking calls do this by themselves while they wait.
    pub fn check_peer(&self) {
        self.ring.check_peer_alive();
    }

    /// Poisons the endpoint; the cache then says "empty", which sends every
    /// call to the slow path, which checks the poison.
    #[cold]
    fn poison(&mut self, found: Corruption) -> Corruption {
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
        if let Some(frame) = self.next_frame().map_err(PopError::Corrupted)? {
            return Ok(frame);
        }
        if !self.ring.peer_gone() {
            return Err(PopError::Empty);
        }
        self.refresh_tail().map_err(PopError::Corrupted)?;
        match self.next_frame().map_err(PopError::Corrupted)? {
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
            Some(Wake::Corrupted(corruption)) => Err(PopError::Corrupted(self.poison(corruption))),
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
    pub fn try_recv(&mut self, dst: &mut Vec<u8>) -> Result<usize, PopError> {
        self.recv_with(dst, false, None)
    }

    /// Like [`try_recv`](Self::try_recv), waiting for a frame, waiting as long as it takes (as the endpoint's
    /// [`WaitStrategy`](crate::WaitStrategy) says).
    pub fn recv(&mut self, dst: &mut Vec<u8>) -> Result<usize, PopError> {
        self.recv_within(dst, Limit::Forever)
    }

    /// Like [`recv`](Self::recv), giving up with a timeout
    /// error after `timeout`.
    pub fn recv_timeout(
        &mut self,
        dst: &mut Vec<u8>,
        timeout: Duration,
    ) -> Result<usize, PopError> {
        self.recv_within(dst, Limit::Timeout(timeout))
    }

    /// Like [`recv`](Self::recv), giving up with a timeout
    /// error at `deadline`.
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
    #[cfg(not(shmlane_loom))]
    pub fn read(&mut self) -> Result<Frame<'_>, PopError> {
        let at = self.next_with(false, None)?;
        Ok(Frame { consumer: self, at })
    }

    /// Like [`read`](Self::read), waiting for a frame, waiting as long as it takes (as the endpoint's
    /// [`WaitStrategy`](crate::WaitStrategy) says).
    #[cfg(not(shmlane_loom))]
    pub fn read_blocking(&mut self) -> Result<Frame<'_>, PopError> {
        self.read_within(Limit::Forever)
    }

    /// Like [`read_blocking`](Self::read_blocking), giving up with a timeout
    /// error after `timeout`.
    #[cfg(not(shmlane_loom))]
    pub fn read_timeout(&mut self, timeout: Duration) -> Result<Frame<'_>, PopError> {
        self.read_within(Limit::Timeout(timeout))
    }

    /// Like [`read_blocking`](Self::read_blocking), giving up with a timeout
    /// error at `deadline`.
    #[cfg(not(shmlane_loom))]
    pub fn read_deadline(&mut self, deadline: Instant) -> Result<Frame<'_>, PopError> {
        self.read_within(Limit::Deadline(deadline))
    }

    #[cfg(not(shmlane_loom))]
    fn read_within(&mut self, limit: Limit) -> Result<Frame<'_>, PopError> {
        let at = self.next_with(true, limit.deadline())?;
        Ok(Frame { consumer: self, at })
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
#[cfg(not(shmlane_loom))]
pub struct Frame<'a> {
    consumer: &'a mut Consumer,
    at: FrameAt,
}

#[cfg(not(shmlane_loom))]
impl Frame<'_> {
    /// Frees the frame (the same as dropping it).
    pub fn release(self) {}
}

#[cfg(not(shmlane_loom))]
impl std::ops::Deref for Frame<'_> {
    type Target = [u8];

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

#[cfg(not(shmlane_loom))]
impl Drop for Frame<'_> {
    fn drop(&mut self) {
        self.consumer.release_frame(self.at.words);
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

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("bytes::Consumer")
            .field("segment", &self.ring.name())
            .field("capacity", &self.capacity())
            .field("max_frame", &self.max_frame)
            .finish_non_exhaustive()
    }
}

#[cfg(not(shmlane_loom))]
impl std::fmt::Debug for Grant<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("len", &self.len)
            .field("dropped", &self.is_dropped())
            .finish()
    }
}

#[cfg(not(shmlane_loom))]
impl std::fmt::Debug for Frame<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame").field("len", &self.at.len).finish()
    }
}

#[cfg(all(test, not(shmlane_loom)))]
mod tests {
    use super::*;

    fn ring(capacity: usize) -> (Producer, Consumer) {
        heap_pair(&Options::new().capacity(capacity)).expect("heap pair")
    }

    fn recv(rx: &mut Consumer) -> Result<Vec<u8>, PopError> {
        let mut buf = Vec::new();
        rx.try_recv(&mut buf).map(|_| buf)
    }

    #[test]
    fn frames_keep_their_boundaries_and_order() {
        let (mut tx, mut rx) = ring(256);
        assert_eq!(recv(&mut rx), Err(PopError::Empty));
        tx.try_send(b"").unwrap();
        tx.try_send(b"a").unwrap();
        tx.try_send(&[7u8; 13]).unwrap();
        assert_eq!(recv(&mut rx).unwrap(), b"");
        assert_eq!(recv(&mut rx).unwrap(), b"a");
        assert_eq!(&*rx.read().unwrap(), &[7u8; 13]);
        assert_eq!(recv(&mut rx), Err(PopError::Empty));
    }

    #[test]
    fn a_frame_that_does_not_fit_before_the_end_starts_at_zero() {
        // 16 words; max frame (8 - 1) * 8 = 56 bytes.
        let (mut tx, mut rx) = ring(128);
        assert_eq!(tx.max_frame(), 56);
        tx.try_send(&[1u8; 40]).unwrap(); // 6 words at 0..6
        tx.try_send(&[2u8; 40]).unwrap(); // 6 words at 6..12
        assert_eq!(recv(&mut rx).unwrap(), [1u8; 40]);
        assert_eq!(recv(&mut rx).unwrap(), [2u8; 40]);
        // 4 words left at the end: a 6-word frame pads them and wraps.
        tx.try_send(&[3u8; 40]).unwrap();
        assert_eq!(tx.tail, 12 + 4 + 6);
        assert_eq!(recv(&mut rx).unwrap(), [3u8; 40]);
        assert_eq!(rx.head, tx.tail);
    }

    #[test]
    fn oversized_frames_are_refused_never_a_hang() {
        let (mut tx, _rx) = ring(128);
        let err = tx.try_send(&[0u8; 57]).unwrap_err();
        assert_eq!(err, GrantError::FrameTooLarge { len: 57, max: 56 });
        let err = tx.grant_blocking(1000).unwrap_err();
        assert_eq!(err, GrantError::FrameTooLarge { len: 1000, max: 56 });
        let err = heap_pair(&Options::new().capacity(128).max_frame(57)).unwrap_err();
        assert!(matches!(err, OpenError::InvalidConfig(_)), "{err}");
    }

    #[test]
    fn grant_commits_a_prefix_and_an_uncommitted_grant_publishes_nothing() {
        let (mut tx, mut rx) = ring(256);
        let mut grant = tx.grant(32).unwrap();
        grant[..3].copy_from_slice(b"abc");
        let _ = grant; // not committed
        assert_eq!(recv(&mut rx), Err(PopError::Empty));
        let mut grant = tx.grant(32).unwrap();
        assert_eq!(grant.len(), 32);
        grant[..3].copy_from_slice(b"xyz");
        assert_eq!(grant.commit(3), 3);
        assert_eq!(recv(&mut rx).unwrap(), b"xyz");
        assert_eq!(tx.grant(8).unwrap().commit(100), 8, "commit is capped");
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "blocks in futex/membarrier syscalls, which Miri cannot run"
    )]
    fn overflow_policies() {
        let fill = |tx: &mut Producer| {
            let mut sent = 0;
            while tx.try_send(&[9u8; 24]).is_ok() && sent < 100 {
                sent += 1;
            }
            sent
        };
        // Block: the non-blocking forms report Full, blocking ones time out.
        let (mut tx, _rx) = ring(128);
        assert!(fill(&mut tx) > 0);
        assert_eq!(tx.try_send(b"x"), Err(GrantError::Full));
        assert_eq!(
            tx.send_timeout(b"x", Duration::from_millis(1)),
            Err(GrantError::Timeout)
        );
        // Fail: even the blocking forms return Full at once.
        let opts = Options::new().capacity(128).overflow(Overflow::Fail);
        let (mut tx, _rx) = heap_pair(&opts).unwrap();
        fill(&mut tx);
        assert_eq!(tx.send(b"x"), Err(GrantError::Full));
        assert!(matches!(tx.grant_blocking(8), Err(GrantError::Full)));
        // DropNewest: the frame is dropped and counted; the ring keeps
        // what it had.
        let opts = Options::new().capacity(128).overflow(Overflow::DropNewest);
        let (mut tx, mut rx) = heap_pair(&opts).unwrap();
        let mut kept = 0;
        while tx.stats().drops == 0 {
            tx.try_send(&[kept as u8; 24]).unwrap();
            kept += 1;
        }
        let mut grant = tx.grant_blocking(24).unwrap();
        assert!(grant.is_dropped());
        grant.copy_from_slice(&[0xee; 24]);
        assert_eq!(grant.commit(24), 0);
        assert_eq!(tx.stats().drops, 2);
        for i in 0..kept - 1 {
            assert_eq!(recv(&mut rx).unwrap(), [i as u8; 24]);
        }
        assert_eq!(recv(&mut rx), Err(PopError::Empty));
        assert_eq!(rx.stats().drops, 2);
    }

    #[test]
    fn space_is_handed_back_lazily_but_always_when_empty() {
        let (mut tx, mut rx) = ring(1024); // 128 words, batch of 16
        for _ in 0..3 {
            tx.try_send(&[1u8; 8]).unwrap(); // 2 words each
        }
        for _ in 0..3 {
            recv(&mut rx).unwrap();
        }
        assert_eq!(tx.stats().released_bytes, 0, "under a batch: not yet");
        assert_eq!(recv(&mut rx), Err(PopError::Empty));
        assert_eq!(tx.stats().released_bytes, 48, "empty: handed back");
    }

    #[test]
    fn drop_of_the_consumer_hands_back_what_it_read() {
        let (mut tx, mut rx) = ring(1024);
        tx.try_send(b"one").unwrap();
        tx.try_send(b"two").unwrap();
        assert_eq!(recv(&mut rx).unwrap(), b"one");
        drop(rx);
        assert_eq!(tx.stats().released_bytes, 16);
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "blocks in futex/membarrier syscalls, which Miri cannot run"
    )]
    fn a_gone_consumer_is_disconnected_when_the_ring_fills() {
        let (mut tx, mut rx) = ring(128);
        tx.try_send(b"x").unwrap();
        recv(&mut rx).unwrap(); // used, so its drop detaches
        drop(rx);
        let mut result = Ok(());
        for _ in 0..100 {
            result = tx.try_send(&[0u8; 24]);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(GrantError::Disconnected));
        assert_eq!(tx.send(b"y"), Err(GrantError::Disconnected));
        // An end that was never used detaches nothing when dropped; a
        // blocking call finds it gone through its liveness check.
        let (mut tx, rx) = ring(128);
        drop(rx);
        while tx.try_send(&[0u8; 24]).is_ok() {}
        assert_eq!(tx.send(b"y"), Err(GrantError::Disconnected));
    }

    #[test]
    fn the_consumer_drains_then_reports_disconnected() {
        let (mut tx, mut rx) = ring(256);
        tx.try_send(b"last words").unwrap();
        drop(tx);
        assert_eq!(recv(&mut rx).unwrap(), b"last words");
        assert_eq!(recv(&mut rx), Err(PopError::Disconnected));
        let mut buf = Vec::new();
        assert_eq!(rx.recv(&mut buf), Err(PopError::Disconnected));
    }

    /// Writes `word` at `position` as a hostile producer would, and
    /// publishes up to `tail`.
    fn forge(tx: &Producer, position: u64, word: u64, tail: u64) {
        tx.write_word(position, word);
        tx.ring.tail().store(tail, Ordering::Release);
    }

    fn corruption_of(rx: &mut Consumer) -> Corruption {
        match recv(rx) {
            Err(PopError::Corrupted(c)) => c,
            other => panic!("expected Corrupted, got {other:?}"),
        }
    }

    #[test]
    fn every_bad_frame_header_is_corruption_and_poisons() {
        type Case = (u64, u64, u64, &'static str);
        // 16 words, max frame 56.
        let cases: [Case; 6] = [
            (
                0,
                frame_word(57, FRAME_DATA),
                9,
                "frame longer than the max frame",
            ),
            (
                0,
                frame_word(8, FRAME_DATA),
                1,
                "frame runs past the published tail",
            ),
            (0, frame_word(8, 7), 2, "unknown frame flags"),
            (
                0,
                frame_word(120, FRAME_PADDING),
                16,
                "padding frame does not end the ring",
            ),
            (
                0,
                frame_word(0, FRAME_DATA),
                17,
                "tail - head exceeds the capacity",
            ),
            (
                12,
                frame_word(40, FRAME_DATA),
                18,
                "frame runs past the end of the ring",
            ),
        ];
        for (at, word, tail, what) in cases {
            let (mut tx, mut rx) = ring(128);
            if at > 0 {
                // Move both ends to `at` with honest frames.
                tx.try_send(&[0u8; 40]).unwrap();
                tx.try_send(&[0u8; 40]).unwrap();
                recv(&mut rx).unwrap();
                recv(&mut rx).unwrap();
            }
            forge(&tx, at, word, tail);
            let first = corruption_of(&mut rx);
            assert_eq!(first.what, what);
            // Putting things right does not lift the poison.
            forge(&tx, at, frame_word(1, FRAME_DATA), at + 2);
            assert_eq!(corruption_of(&mut rx), first);
            assert!(matches!(rx.read(), Err(PopError::Corrupted(c)) if c == first));
            assert!(matches!(rx.read_blocking(), Err(PopError::Corrupted(c)) if c == first));
        }
    }

    #[test]
    fn padding_that_runs_past_the_tail_is_corruption() {
        let (mut tx, mut rx) = ring(128);
        tx.try_send(&[0u8; 40]).unwrap();
        tx.try_send(&[0u8; 40]).unwrap();
        recv(&mut rx).unwrap();
        recv(&mut rx).unwrap();
        forge(&tx, 12, frame_word(24, FRAME_PADDING), 14);
        assert_eq!(
            corruption_of(&mut rx).what,
            "padding runs past the published tail"
        );
    }

    #[test]
    fn a_producer_meeting_an_impossible_head_is_poisoned() {
        let (mut tx, rx) = ring(128);
        rx.ring.head().store(1000, Ordering::Release);
        tx.forget_room();
        let first = match tx.try_send(b"x") {
            Err(GrantError::Corrupted(c)) => c,
            other => panic!("expected Corrupted, got {other:?}"),
        };
        rx.ring.head().store(0, Ordering::Release);
        assert_eq!(tx.try_send(b"x"), Err(GrantError::Corrupted(first)));
        assert!(matches!(tx.grant(1), Err(GrantError::Corrupted(c)) if c == first));
    }

    #[test]
    fn options_that_do_not_apply_are_refused() {
        let err = heap_pair(&Options::new().schema_id(7)).unwrap_err();
        assert!(matches!(err, OpenError::InvalidConfig(ref m) if m.contains("schema_id")));
        for capacity in [0, 32, 100] {
            let err = heap_pair(&Options::new().capacity(capacity)).unwrap_err();
            assert!(matches!(err, OpenError::InvalidConfig(_)), "{capacity}");
        }
        let err = crate::spsc::heap_pair::<u64>(&Options::new().max_frame(8)).unwrap_err();
        assert!(matches!(err, OpenError::InvalidConfig(ref m) if m.contains("max_frame")));
        let err =
            crate::spsc::heap_pair::<u64>(&Options::new().overflow(Overflow::Fail)).unwrap_err();
        assert!(matches!(err, OpenError::InvalidConfig(ref m) if m.contains("overflow")));
    }

    #[test]
    fn two_threads_stream_frames_of_every_size() {
        let (mut tx, mut rx) = ring(512);
        let count: u32 = if cfg!(miri) { 300 } else { 20_000 };
        let producer = crate::sync::thread::spawn(move || {
            for i in 0..count {
                let len = (i % 57) as usize;
                let frame: Vec<u8> = (0..len).map(|b| (i as usize + b) as u8).collect();
                // Spin-yield rather than block: Miri runs this test too.
                while let Err(e) = tx.try_send(&frame) {
                    assert_eq!(e, GrantError::Full);
                    std::thread::yield_now();
                }
            }
        });
        let mut buf = Vec::new();
        for i in 0..count {
            while let Err(e) = rx.try_recv(&mut buf) {
                assert_eq!(e, PopError::Empty);
                std::thread::yield_now();
            }
            let len = (i % 57) as usize;
            assert_eq!(buf.len(), len);
            assert!(
                buf.iter()
                    .enumerate()
                    .all(|(b, &v)| v == (i as usize + b) as u8)
            );
        }
        producer.join().unwrap();
        assert_eq!(rx.try_recv(&mut buf), Err(PopError::Disconnected));
    }
}
