//! The `#[repr(C)]` header at the start of every segment, and its one
//! validator.
//!
//! Every field is an atomic: a peer process can write any byte of the
//! segment at any time, and a `&Header` must never promise otherwise. The
//! creator writes the identity fields with `Relaxed` stores and then
//! publishes `init_state` with `Release`; an opener reads `init_state` with
//! `Acquire`, copies every field once into a [`HeaderSnapshot`] and
//! validates the copy.

use crossbeam_utils::CachePadded;

use crate::error::{Corruption, OpenError};
use crate::index::Capacity;
use crate::options::{Overflow, Waiter};
use crate::sync::{AtomicU32, AtomicU64, Ordering};

/// "SHMLANE" and a format byte, little-endian.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"SHMLANE\x01");
/// Bumped whenever the byte layout of a segment changes.
pub(crate) const LAYOUT_VERSION: u32 = 5;
/// `init_state` once the creator has written the header.
const INIT_READY: u32 = 0x5245_4459;
/// Bytes of the type name kept for display; the hash covers all of it.
pub(crate) const TYPE_NAME_BYTES: usize = 128;
/// Rows of the peer table.
pub(crate) const MAX_PEERS: usize = 4;
pub(crate) use crate::options::MAX_PARTICIPANTS;
/// Slot areas start on this boundary at least (two cache lines: the
/// adjacent-line prefetcher pairs them).
const SLOT_AREA_ALIGN: u64 = 128;
/// Largest slot alignment a mapping (page aligned) can honour.
const MAX_SLOT_ALIGN: usize = 4096;

const ENDIAN_TAG: u32 = if cfg!(target_endian = "little") { 1 } else { 2 };

/// What kind of ring a segment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum RingKind {
    /// Typed single-producer single-consumer ring.
    Spsc = 1,
    /// A counting semaphore (no ring).
    Semaphore = 2,
    /// Typed multi-producer multi-consumer ring (per-slot stamps).
    Mpmc = 3,
    /// Single-producer single-consumer ring of variable-length frames.
    Bytes = 4,
}

impl RingKind {
    fn name(raw: u32) -> String {
        match raw {
            1 => "spsc".to_owned(),
            2 => "semaphore".to_owned(),
            3 => "mpmc".to_owned(),
            4 => "bytes".to_owned(),
            other => format!("unknown kind {other}"),
        }
    }
}

/// One row of the peer table: the state of a role (see `peer.rs`) and who
/// holds it (pid and start time, for display: liveness is decided by the
/// role's lock). The header holds the rows of one-producer one-consumer
/// kinds; an MPMC segment has a table of its own, one row per participant.
#[repr(C)]
#[derive(Debug)]
pub struct PeerSlot {
    /// Heap storage only: 1 while the role is claimed.
    pub(crate) claimed: AtomicU32,
    /// `generation << 2 | VACANT/ATTACHED/DETACHED` (see `peer.rs`).
    pub(crate) state: AtomicU32,
    pub(crate) pid: AtomicU32,
    /// MPMC rows: the role of the row's holder (see `peer.rs`), 0 if none;
    /// the header's rows leave it 0 (the row is the role).
    pub(crate) role: AtomicU32,
    pub(crate) start_time: AtomicU64,
}

impl PeerSlot {
    /// A vacant row, as a freshly sized file reads.
    pub(crate) fn zeroed() -> Self {
        Self {
            claimed: AtomicU32::new(0),
            state: AtomicU32::new(0),
            pid: AtomicU32::new(0),
            role: AtomicU32::new(0),
            start_time: AtomicU64::new(0),
        }
    }
}

/// An index and a counter its writer keeps beside it: the counter is
/// bumped on a line the writer already owns, by its only writer (a plain
/// load and store, no locked instruction).
#[repr(C)]
#[derive(Debug)]
pub struct IndexLine {
    /// The position (head or tail).
    pub(crate) position: AtomicU64,
    /// Blocking calls of the index's writer that found the ring full
    /// (producer) or empty (consumer) and waited.
    pub(crate) waits: AtomicU64,
}

/// The wake-up words of one direction.
#[repr(C)]
#[derive(Debug)]
pub struct WakeWord {
    /// Eventcount word (sleepers | epoch), or the semaphore waiter's
    /// sleeper count.
    pub(crate) event: AtomicU32,
    /// The semaphore waiter's value (a futex word); a `Semaphore`'s value.
    pub(crate) sem: AtomicU32,
}

/// Both directions' wake-up words, on a line of their own. It is written
/// only when an endpoint goes to sleep, so both ends keep it cached and a
/// publisher's "anyone asleep?" load is an L1 hit. (On the index lines it
/// would miss whenever the other end polls that index: measured, 4x slower
/// streams.)
#[repr(C)]
#[derive(Debug)]
pub struct WakeWords {
    /// The consumer sleeps here; the producer notifies after publishing.
    pub(crate) not_empty: WakeWord,
    /// The producer sleeps here; the consumer notifies after releasing.
    pub(crate) not_full: WakeWord,
    /// MPMC: bumped whenever a participant row changes hands or state, so
    /// that endpoints re-read the participant table only when it moved.
    pub(crate) roster: AtomicU32,
}

/// Syscall counters, on a line of their own (bumped only beside a
/// syscall). Pushes and pops are the tail and head positions; waits are
/// counted on the index lines.
#[repr(C)]
#[derive(Debug)]
pub struct Counters {
    /// futex wake syscalls issued.
    pub(crate) wake_syscalls: AtomicU64,
    /// futex wait syscalls issued.
    pub(crate) wait_syscalls: AtomicU64,
    /// Frames a lossy byte ring dropped because it was full.
    pub(crate) drops: AtomicU64,
    /// MPMC: slots published as skipped (dropped reservations, claims of
    /// dead senders).
    pub(crate) skipped: AtomicU64,
    /// MPMC: items a dead receiver had claimed, handed out again.
    pub(crate) recovered: AtomicU64,
}

/// The indices every ring kind shares, each on its own cache line so the
/// producer's and the consumer's stores never contend for one line.
#[repr(C)]
#[derive(Debug)]
pub struct RingControl {
    /// Next position to read; written by the consumer only.
    pub(crate) head: CachePadded<IndexLine>,
    /// Next position to write; written by the producer only.
    pub(crate) tail: CachePadded<IndexLine>,
    /// Wake-up words, read-mostly.
    pub(crate) wake: CachePadded<WakeWords>,
    /// Slow-path counters.
    pub(crate) counters: CachePadded<Counters>,
}

/// The segment header. See the module docs for the init protocol.
#[repr(C)]
#[derive(Debug)]
pub struct Header {
    magic: AtomicU64,
    layout_version: AtomicU32,
    init_state: AtomicU32,
    kind: AtomicU32,
    pointer_width: AtomicU32,
    endianness: AtomicU32,
    header_len: AtomicU32,
    capacity: AtomicU64,
    slot_size: AtomicU32,
    slot_align: AtomicU32,
    slots_offset: AtomicU64,
    segment_len: AtomicU64,
    type_hash: AtomicU64,
    schema_id: AtomicU64,
    created_unix_ns: AtomicU64,
    creator_pid: AtomicU32,
    type_name_len: AtomicU32,
    waiter: AtomicU32,
    /// Byte rings: what a full ring does (`bytes::Overflow` code); else 0.
    overflow: AtomicU32,
    /// Byte rings: the largest frame payload in bytes; else 0.
    max_frame: AtomicU64,
    type_name: [AtomicU64; TYPE_NAME_BYTES / 8],
    pub(crate) peers: [PeerSlot; MAX_PEERS],
    pub(crate) ring: RingControl,
    /// MPMC: rows of the participant table after the header (0 for the
    /// other kinds).
    participants: AtomicU32,
    _reserved_end: AtomicU32,
}

/// Size of [`Header`] in bytes; also recorded in the header so that a
/// build with another layout is refused.
pub(crate) const HEADER_LEN: usize = size_of::<Header>();

/// The shape of a segment: what the creator writes and the opener expects.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) kind: RingKind,
    pub(crate) capacity: Capacity,
    pub(crate) slot_size: u32,
    pub(crate) slot_align: u32,
    pub(crate) type_name: &'static str,
    pub(crate) schema_id: u64,
    pub(crate) slots_offset: u64,
    pub(crate) segment_len: u64,
    /// How sleepers are woken (recorded at create, adopted at open).
    pub(crate) waiter: Waiter,
    /// A semaphore's initial value (0 for rings).
    pub(crate) initial: u32,
    /// Byte rings: the largest frame payload in bytes (0 for other kinds).
    pub(crate) max_frame: u64,
    /// Byte rings: the overflow policy's code (0 for other kinds).
    pub(crate) overflow: u32,
    /// Bytes from one slot to the next: the slot type's size, or the size
    /// of the ring kind's slot cell around it (MPMC: stamp and value).
    /// Computed by this build for the type, never read from a segment.
    pub(crate) slot_stride: u64,
    /// MPMC: rows of the participant table (0: the header's peer rows).
    pub(crate) participants: u32,
    /// Where the participant table starts (0 when there is none).
    pub(crate) peers_offset: u64,
}

/// Which fields an opener insists on; the others it adopts from the segment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Strict {
    pub(crate) capacity: bool,
    pub(crate) waiter: bool,
    pub(crate) max_frame: bool,
    pub(crate) overflow: bool,
    pub(crate) participants: bool,
}

impl Strict {
    /// Every field must match (a segment this process has just made, or a
    /// pair's second end).
    pub(crate) const EXACT: Self = Self {
        capacity: true,
        waiter: true,
        max_frame: true,
        overflow: true,
        participants: true,
    };

    /// The fields the caller set in `opts` must match; the rest are adopted.
    #[cfg_attr(shmlane_loom, allow(dead_code, reason = "named segments only"))]
    pub(crate) fn from_options(opts: &crate::Options) -> Self {
        Self {
            capacity: opts.capacity.is_some(),
            waiter: opts.waiter.is_some(),
            max_frame: opts.max_frame.is_some(),
            overflow: opts.overflow.is_some(),
            participants: opts.participants.is_some(),
        }
    }
}

impl Layout {
    /// The layout of a ring of `capacity` slots of `T`.
    pub(crate) fn for_slots<T>(
        kind: RingKind,
        capacity: usize,
        schema_id: Option<u64>,
        waiter: Waiter,
    ) -> Result<Self, OpenError> {
        let capacity = Capacity::new(capacity as u64).ok_or_else(|| {
            OpenError::InvalidConfig(format!(
                "capacity {capacity} must be a non-zero power of two"
            ))
        })?;
        let schema_id = match schema_id {
            Some(0) => {
                return Err(OpenError::InvalidConfig(
                    "schema id 0 is reserved for \"no schema\"".into(),
                ));
            }
            Some(id) => id,
            None => 0,
        };
        if align_of::<T>() > MAX_SLOT_ALIGN {
            return Err(OpenError::InvalidConfig(format!(
                "slot type alignment {} exceeds the page size",
                align_of::<T>()
            )));
        }
        let too_big = || {
            OpenError::InvalidConfig(format!(
                "capacity {} of {}-byte slots overflows the address space",
                capacity.get(),
                size_of::<T>()
            ))
        };
        let slot_size = u32::try_from(size_of::<T>()).map_err(|_| too_big())?;
        let slot_align = align_of::<T>() as u32;
        let (_, slots_offset) = body_offsets(slot_align, 0);
        let segment_len = segment_len(capacity, u64::from(slot_size), slots_offset)
            .filter(|&len| len <= isize::MAX as u64)
            .ok_or_else(too_big)?;
        Ok(Self {
            kind,
            capacity,
            slot_size,
            slot_align,
            type_name: core::any::type_name::<T>(),
            schema_id,
            slots_offset,
            segment_len,
            waiter,
            initial: 0,
            slot_stride: u64::from(slot_size),
            participants: 0,
            peers_offset: 0,
            max_frame: 0,
            overflow: 0,
        })
    }

    /// The same ring with slots `stride` bytes apart (a ring kind's slot
    /// cell around the type) and, if `participants` is non-zero, a
    /// participant table of that many rows between header and slots.
    pub(crate) fn with_cells(
        mut self,
        stride: usize,
        participants: u32,
    ) -> Result<Self, OpenError> {
        if participants > MAX_PARTICIPANTS {
            return Err(OpenError::InvalidConfig(format!(
                "{participants} participants is more than the {MAX_PARTICIPANTS} a ring can have"
            )));
        }
        let (peers_offset, slots_offset) = body_offsets(self.slot_align, participants);
        self.slot_stride = stride as u64;
        self.participants = participants;
        self.peers_offset = peers_offset;
        self.slots_offset = slots_offset;
        self.segment_len = segment_len(self.capacity, self.slot_stride, slots_offset)
            .filter(|&len| len <= isize::MAX as u64)
            .ok_or_else(|| {
                OpenError::InvalidConfig(format!(
                    "capacity {} of {stride}-byte slots overflows the address space",
                    self.capacity.get()
                ))
            })?;
        Ok(self)
    }

    /// The layout of a byte ring of `capacity_bytes` (a power of two, at
    /// least [`MIN_FRAME_RING_BYTES`]) whose frames carry at most
    /// `max_frame` payload bytes (`None`: the most the capacity allows).
    /// Its slots are 8-byte words, so every frame starts 8-byte aligned.
    pub(crate) fn for_frames(
        capacity_bytes: usize,
        max_frame: Option<usize>,
        overflow: u32,
        waiter: Waiter,
    ) -> Result<Self, OpenError> {
        if !capacity_bytes.is_power_of_two() || capacity_bytes < MIN_FRAME_RING_BYTES {
            return Err(OpenError::InvalidConfig(format!(
                "byte ring capacity {capacity_bytes} must be a power of two of at least {MIN_FRAME_RING_BYTES} bytes"
            )));
        }
        let words = Capacity::new((capacity_bytes / 8) as u64).ok_or_else(|| {
            OpenError::InvalidConfig(format!("byte ring capacity {capacity_bytes} is too large"))
        })?;
        let limit = max_frame_limit(words);
        let max_frame = match max_frame {
            None => limit,
            Some(max) if max as u64 <= limit => max as u64,
            Some(max) => {
                return Err(OpenError::InvalidConfig(format!(
                    "max frame {max} does not fit a {capacity_bytes}-byte ring: at most {limit} (a frame and its 8-byte header take at most half the ring)"
                )));
            }
        };
        let mut layout =
            Self::for_slots::<u64>(RingKind::Bytes, words.get() as usize, None, waiter)?;
        layout.max_frame = max_frame;
        layout.overflow = overflow;
        Ok(layout)
    }
}

/// The smallest byte ring: eight 8-byte words.
pub(crate) const MIN_FRAME_RING_BYTES: usize = 64;

/// The largest frame payload a byte ring of `words` 8-byte words accepts:
/// header plus payload, rounded up to words, at most half the ring, so a
/// frame always fits after at most one padding frame.
pub(crate) const fn max_frame_limit(words: Capacity) -> u64 {
    (words.get() / 2 - 1) * 8
}

/// Where the participant table (if `participants > 0`) and the slot area
/// start: `(peers_offset, slots_offset)`.
fn body_offsets(slot_align: u32, participants: u32) -> (u64, u64) {
    let align = SLOT_AREA_ALIGN.max(u64::from(slot_align));
    let header = HEADER_LEN as u64;
    if participants == 0 {
        return (0, header.next_multiple_of(align));
    }
    let peers = header.next_multiple_of(align_of::<PeerSlot>() as u64);
    let table = u64::from(participants) * size_of::<PeerSlot>() as u64;
    (peers, (peers + table).next_multiple_of(align))
}

/// Bytes of a segment: the slot area after `slots_offset`, or `None` on
/// overflow.
fn segment_len(capacity: Capacity, stride: u64, slots_offset: u64) -> Option<u64> {
    capacity
        .get()
        .checked_mul(stride)
        .and_then(|slots| slots.checked_add(slots_offset))
}

/// FNV-1a: a stable hash for the type fingerprint (std's hashers are not
/// stable across builds, and two builds must agree).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl Header {
    /// A header of zeroes, as a freshly sized file reads (heap storage).
    pub(crate) fn zeroed() -> Self {
        let peer = PeerSlot::zeroed;
        let line = || {
            CachePadded::new(IndexLine {
                position: AtomicU64::new(0),
                waits: AtomicU64::new(0),
            })
        };
        let wake = || WakeWord {
            event: AtomicU32::new(0),
            sem: AtomicU32::new(0),
        };
        Self {
            magic: AtomicU64::new(0),
            layout_version: AtomicU32::new(0),
            init_state: AtomicU32::new(0),
            kind: AtomicU32::new(0),
            pointer_width: AtomicU32::new(0),
            endianness: AtomicU32::new(0),
            header_len: AtomicU32::new(0),
            capacity: AtomicU64::new(0),
            slot_size: AtomicU32::new(0),
            slot_align: AtomicU32::new(0),
            slots_offset: AtomicU64::new(0),
            segment_len: AtomicU64::new(0),
            type_hash: AtomicU64::new(0),
            schema_id: AtomicU64::new(0),
            created_unix_ns: AtomicU64::new(0),
            creator_pid: AtomicU32::new(0),
            type_name_len: AtomicU32::new(0),
            waiter: AtomicU32::new(0),
            overflow: AtomicU32::new(0),
            max_frame: AtomicU64::new(0),
            type_name: core::array::from_fn(|_| AtomicU64::new(0)),
            peers: core::array::from_fn(|_| peer()),
            ring: RingControl {
                head: line(),
                tail: line(),
                wake: CachePadded::new(WakeWords {
                    not_empty: wake(),
                    not_full: wake(),
                    roster: AtomicU32::new(0),
                }),
                counters: CachePadded::new(Counters {
                    wake_syscalls: AtomicU64::new(0),
                    wait_syscalls: AtomicU64::new(0),
                    drops: AtomicU64::new(0),
                    skipped: AtomicU64::new(0),
                    recovered: AtomicU64::new(0),
                }),
            },
            participants: AtomicU32::new(0),
            _reserved_end: AtomicU32::new(0),
        }
    }

    /// Writes the identity of `layout` and publishes the header. Called once,
    /// by the creator, before any other process can validate it.
    pub(crate) fn initialize(&self, layout: &Layout) {
        let relaxed = Ordering::Relaxed;
        self.magic.store(MAGIC, relaxed);
        self.layout_version.store(LAYOUT_VERSION, relaxed);
        self.kind.store(layout.kind as u32, relaxed);
        self.pointer_width.store(usize::BITS, relaxed);
        self.endianness.store(ENDIAN_TAG, relaxed);
        self.header_len.store(HEADER_LEN as u32, relaxed);
        self.capacity.store(layout.capacity.get(), relaxed);
        self.slot_size.store(layout.slot_size, relaxed);
        self.slot_align.store(layout.slot_align, relaxed);
        self.slots_offset.store(layout.slots_offset, relaxed);
        self.segment_len.store(layout.segment_len, relaxed);
        self.type_hash
            .store(fnv1a(layout.type_name.as_bytes()), relaxed);
        self.schema_id.store(layout.schema_id, relaxed);
        self.created_unix_ns.store(unix_now_ns(), relaxed);
        self.creator_pid.store(std::process::id(), relaxed);
        self.waiter.store(layout.waiter.code(), relaxed);
        self.overflow.store(layout.overflow, relaxed);
        self.max_frame.store(layout.max_frame, relaxed);
        self.participants.store(layout.participants, relaxed);
        self.ring.wake.not_empty.sem.store(layout.initial, relaxed);
        let name = layout.type_name.as_bytes();
        let kept = &name[..name.len().min(TYPE_NAME_BYTES)];
        self.type_name_len.store(kept.len() as u32, relaxed);
        for (word, chunk) in self.type_name.iter().zip(kept.chunks(8)) {
            let mut bytes = [0u8; 8];
            bytes[..chunk.len()].copy_from_slice(chunk);
            word.store(u64::from_le_bytes(bytes), relaxed);
        }
        // SYNC: segment-init (Release: every store above happens-before an
        // opener's Acquire load that sees INIT_READY)
        self.init_state.store(INIT_READY, Ordering::Release);
    }

    /// Whether the creator has published the header. A value other than 0
    /// (not yet) or ready means the bytes are not a shmlane header.
    fn is_initialized(&self) -> Result<bool, Corruption> {
        // SYNC: segment-init (Acquire: pairs with the creator's Release)
        match self.init_state.load(Ordering::Acquire) {
            0 => Ok(false),
            INIT_READY => Ok(true),
            other => Err(Corruption {
                what: "unknown init state",
                found: u64::from(other),
                limit: u64::from(INIT_READY),
            }),
        }
    }

    /// `None` while the creator has not published the header; otherwise the
    /// validated layout (see [`HeaderSnapshot::validate`]).
    pub(crate) fn validate_published(
        &self,
        name: &str,
        expected: &Layout,
        strict: Strict,
        mapped_len: u64,
    ) -> Result<Option<Layout>, OpenError> {
        match self.is_initialized() {
            Ok(false) => Ok(None),
            Ok(true) => self
                .snapshot()
                .validate(name, expected, strict, mapped_len)
                .map(Some),
            Err(corruption) => Err(OpenError::Corrupted {
                name: name.to_owned(),
                corruption,
            }),
        }
    }

    /// Copies every identity field once. Call after
    /// [`is_initialized`](Self::is_initialized) returned `Ok(true)`.
    fn snapshot(&self) -> HeaderSnapshot {
        let relaxed = Ordering::Relaxed;
        let mut type_name = [0u8; TYPE_NAME_BYTES];
        for (chunk, word) in type_name.chunks_mut(8).zip(&self.type_name) {
            chunk.copy_from_slice(&word.load(relaxed).to_le_bytes());
        }
        HeaderSnapshot {
            magic: self.magic.load(relaxed),
            layout_version: self.layout_version.load(relaxed),
            kind: self.kind.load(relaxed),
            pointer_width: self.pointer_width.load(relaxed),
            endianness: self.endianness.load(relaxed),
            header_len: self.header_len.load(relaxed),
            capacity: self.capacity.load(relaxed),
            slot_size: self.slot_size.load(relaxed),
            slot_align: self.slot_align.load(relaxed),
            slots_offset: self.slots_offset.load(relaxed),
            segment_len: self.segment_len.load(relaxed),
            type_hash: self.type_hash.load(relaxed),
            schema_id: self.schema_id.load(relaxed),
            type_name_len: self.type_name_len.load(relaxed),
            waiter: self.waiter.load(relaxed),
            overflow: self.overflow.load(relaxed),
            max_frame: self.max_frame.load(relaxed),
            participants: self.participants.load(relaxed),
            type_name,
        }
    }
}

fn unix_now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A copy of a header's identity fields, taken once and then validated, so
/// that a peer rewriting the header cannot change what was checked.
#[derive(Debug, Clone)]
pub(crate) struct HeaderSnapshot {
    magic: u64,
    layout_version: u32,
    kind: u32,
    pointer_width: u32,
    endianness: u32,
    header_len: u32,
    capacity: u64,
    slot_size: u32,
    slot_align: u32,
    slots_offset: u64,
    segment_len: u64,
    type_hash: u64,
    schema_id: u64,
    type_name_len: u32,
    waiter: u32,
    overflow: u32,
    max_frame: u64,
    participants: u32,
    type_name: [u8; TYPE_NAME_BYTES],
}

impl HeaderSnapshot {
    /// The type name the creator recorded (at most [`TYPE_NAME_BYTES`]).
    pub(crate) fn type_name(&self) -> String {
        let len = (self.type_name_len as usize).min(TYPE_NAME_BYTES);
        String::from_utf8_lossy(&self.type_name[..len]).into_owned()
    }

    /// Checks the snapshot against what this endpoint expects and against the
    /// size of the memory actually mapped (`mapped_len`). The one validator
    /// of segment headers.
    pub(crate) fn validate(
        &self,
        name: &str,
        expected: &Layout,
        strict: Strict,
        mapped_len: u64,
    ) -> Result<Layout, OpenError> {
        let corrupted = |what, found: u64, limit: u64| OpenError::Corrupted {
            name: name.to_owned(),
            corruption: Corruption { what, found, limit },
        };
        let incompatible = |field, expected: String, found: String| OpenError::Incompatible {
            name: name.to_owned(),
            field,
            expected,
            found,
        };
        if self.magic != MAGIC {
            return Err(corrupted(
                "bad magic: not a shmlane segment",
                self.magic,
                MAGIC,
            ));
        }
        let checks: [(&'static str, u64, u64); 4] = [
            (
                "layout_version",
                LAYOUT_VERSION.into(),
                self.layout_version.into(),
            ),
            (
                "pointer_width",
                usize::BITS.into(),
                self.pointer_width.into(),
            ),
            ("endianness", ENDIAN_TAG.into(), self.endianness.into()),
            ("header_len", HEADER_LEN as u64, self.header_len.into()),
        ];
        for (field, want, found) in checks {
            if want != found {
                return Err(incompatible(field, want.to_string(), found.to_string()));
            }
        }
        if self.kind != expected.kind as u32 {
            return Err(incompatible(
                "ring kind",
                RingKind::name(expected.kind as u32),
                RingKind::name(self.kind),
            ));
        }
        if self.slot_size != expected.slot_size || self.slot_align != expected.slot_align {
            return Err(incompatible(
                "slot type size/align",
                format!(
                    "{} ({}/{})",
                    expected.type_name, expected.slot_size, expected.slot_align
                ),
                format!(
                    "{} ({}/{})",
                    self.type_name(),
                    self.slot_size,
                    self.slot_align
                ),
            ));
        }
        if self.schema_id != 0 || expected.schema_id != 0 {
            if self.schema_id != expected.schema_id {
                return Err(incompatible(
                    "schema_id",
                    expected.schema_id.to_string(),
                    self.schema_id.to_string(),
                ));
            }
        } else if self.type_hash != fnv1a(expected.type_name.as_bytes()) {
            return Err(incompatible(
                "type",
                expected.type_name.to_owned(),
                self.type_name(),
            ));
        }
        let capacity = Capacity::new(self.capacity)
            .ok_or_else(|| corrupted("capacity is not a power of two", self.capacity, 0))?;
        if strict.capacity && capacity != expected.capacity {
            return Err(incompatible(
                "capacity",
                expected.capacity.get().to_string(),
                self.capacity.to_string(),
            ));
        }
        // Only an MPMC segment has a participant table, of 1 to
        // MAX_PARTICIPANTS rows.
        let participants_ok = match expected.kind {
            RingKind::Mpmc => (1..=MAX_PARTICIPANTS).contains(&self.participants),
            _ => self.participants == 0,
        };
        if !participants_ok {
            return Err(corrupted(
                "participant table size",
                self.participants.into(),
                MAX_PARTICIPANTS.into(),
            ));
        }
        if strict.participants && self.participants != expected.participants {
            return Err(incompatible(
                "participants",
                expected.participants.to_string(),
                self.participants.to_string(),
            ));
        }
        let (peers_offset, want_offset) = body_offsets(self.slot_align, self.participants);
        if self.slots_offset != want_offset {
            return Err(corrupted("slots offset", self.slots_offset, want_offset));
        }
        // The stride is this build's, for the type just checked to match.
        let want_len = segment_len(capacity, expected.slot_stride, want_offset)
            .ok_or_else(|| corrupted("capacity overflows the segment size", self.capacity, 0))?;
        if self.segment_len != want_len {
            return Err(corrupted("segment length", self.segment_len, want_len));
        }
        if want_len > mapped_len {
            return Err(corrupted(
                "segment is smaller than its header says",
                mapped_len,
                want_len,
            ));
        }
        let waiter = Waiter::from_code(self.waiter)
            .ok_or_else(|| corrupted("unknown waiter kind", self.waiter.into(), 2))?;
        if strict.waiter && waiter != expected.waiter {
            return Err(incompatible(
                "waiter",
                format!("{:?}", expected.waiter),
                format!("{waiter:?}"),
            ));
        }
        let (max_frame, overflow) = if expected.kind == RingKind::Bytes {
            self.validate_frames(capacity, expected, strict, incompatible, corrupted)?
        } else {
            (0, 0)
        };
        Ok(Layout {
            capacity,
            slots_offset: want_offset,
            segment_len: want_len,
            waiter,
            max_frame,
            overflow,
            participants: self.participants,
            peers_offset,
            ..expected.clone()
        })
    }

    /// A byte ring's frame limit and overflow policy.
    fn validate_frames(
        &self,
        capacity: Capacity,
        expected: &Layout,
        strict: Strict,
        incompatible: impl Fn(&'static str, String, String) -> OpenError,
        corrupted: impl Fn(&'static str, u64, u64) -> OpenError,
    ) -> Result<(u64, u32), OpenError> {
        let limit = max_frame_limit(capacity);
        if self.max_frame > limit {
            return Err(corrupted(
                "max frame exceeds half the ring",
                self.max_frame,
                limit,
            ));
        }
        if Overflow::from_code(self.overflow).is_none() {
            return Err(corrupted(
                "unknown overflow policy",
                self.overflow.into(),
                Overflow::MAX_CODE.into(),
            ));
        }
        if strict.max_frame && self.max_frame != expected.max_frame {
            return Err(incompatible(
                "max_frame",
                expected.max_frame.to_string(),
                self.max_frame.to_string(),
            ));
        }
        if strict.overflow && self.overflow != expected.overflow {
            return Err(incompatible(
                "overflow",
                Overflow::describe(expected.overflow),
                Overflow::describe(self.overflow),
            ));
        }
        Ok((self.max_frame, self.overflow))
    }
}

#[cfg(all(feature = "test-support", not(shmlane_loom)))]
/// Byte offsets of the header fields that tests and fuzz targets corrupt on
/// purpose, measured on this build.
#[derive(Debug, Clone, Copy)]
pub struct HeaderOffsets {
    /// `magic` (u64).
    pub magic: usize,
    /// `layout_version` (u32).
    pub layout_version: usize,
    /// `init_state` (u32).
    pub init_state: usize,
    /// `kind` (u32).
    pub kind: usize,
    /// `capacity` (u64).
    pub capacity: usize,
    /// The ring's `head` (u64).
    pub head: usize,
    /// The ring's `tail` (u64).
    pub tail: usize,
    /// Byte rings: `max_frame` (u64).
    pub max_frame: usize,
    /// Byte rings: `overflow` (u32).
    pub overflow: usize,
    /// MPMC: rows of the participant table (u32).
    pub participants: usize,
    /// Size of the header.
    pub len: usize,
    /// Start of the slot area of a ring whose slots align to at most 128
    /// bytes (every `u64` ring, and every byte ring).
    pub slots: usize,
}

#[cfg(all(feature = "test-support", not(shmlane_loom)))]
impl HeaderOffsets {
    /// The offsets of this build's header.
    pub fn get() -> Self {
        let header = Header::zeroed();
        let base = (&raw const header).addr();
        Self {
            magic: core::mem::offset_of!(Header, magic),
            layout_version: core::mem::offset_of!(Header, layout_version),
            init_state: core::mem::offset_of!(Header, init_state),
            kind: core::mem::offset_of!(Header, kind),
            capacity: core::mem::offset_of!(Header, capacity),
            head: (&raw const header.ring.head.position).addr() - base,
            tail: (&raw const header.ring.tail.position).addr() - base,
            max_frame: core::mem::offset_of!(Header, max_frame),
            overflow: core::mem::offset_of!(Header, overflow),
            participants: core::mem::offset_of!(Header, participants),
            len: HEADER_LEN,
            slots: body_offsets(8, 0).1 as usize,
        }
    }
}
