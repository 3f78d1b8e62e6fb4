//! The `#[repr(C)]` header at the start of every segment; its one
//! validator is in `snapshot.rs`.
//!
//! Every field is an atomic: a peer process can write any byte of the
//! segment at any time, and a `&Header` must never promise otherwise. The
//! creator writes the identity fields with `Relaxed` stores and then
//! publishes `init_state` with `Release`; an opener reads `init_state` with
//! `Acquire`, copies every field once into a
//! [`HeaderSnapshot`](super::snapshot::HeaderSnapshot) and
//! validates the copy.

use crossbeam_utils::CachePadded;

#[cfg(all(feature = "test-support", not(shmlane_loom)))]
use super::layout::body_offsets;
use crate::sync::{AtomicU32, AtomicU64, Ordering};

// `mapped.rs` and `storage.rs` name these through `header`.
pub(super) use super::layout::Layout;
#[cfg(not(shmlane_loom))]
pub(super) use super::snapshot::Strict;

/// "SHMLANE" and a format byte, little-endian.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"SHMLANE\x01");
/// Bumped whenever the byte layout of a segment changes.
pub(crate) const LAYOUT_VERSION: u32 = 7;
/// `init_state` once the creator has written the header.
pub(super) const INIT_READY: u32 = 0x5245_4459;
/// Bytes of the type name kept for display; the hash covers all of it.
pub(crate) const TYPE_NAME_BYTES: usize = 128;
/// Rows of the peer table.
pub(crate) const MAX_PEERS: usize = 4;

pub(super) const ENDIAN_TAG: u32 = if cfg!(target_endian = "little") { 1 } else { 2 };

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

/// An index and the counters of the side that writes it, on that side's
/// own line: only that side's endpoints write them, so reading them costs
/// the other side nothing it does not pay for the index already.
#[repr(C)]
#[derive(Debug)]
pub struct IndexLine {
    /// The position (head or tail).
    pub(crate) position: AtomicU64,
    /// Blocking calls of the index's writer that found the ring full
    /// (producer) or empty (consumer) and waited.
    pub(crate) waits: AtomicU64,
    /// Non-blocking calls of the index's writer that found the ring full
    /// (producer) or empty (consumer). An endpoint counts them itself and
    /// adds them here once every `IDLE_POLLS_PER_CHECK` (with its liveness
    /// check) and when it drops: nothing per call.
    pub(crate) hits: AtomicU64,
    /// This side's futex syscalls.
    pub(crate) syscalls: Counters,
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

/// One side's futex syscalls (bumped only beside a syscall, with an add:
/// an MPMC side has many writers).
#[repr(C)]
#[derive(Debug)]
pub struct Counters {
    /// futex wake syscalls issued.
    pub(crate) wake_syscalls: AtomicU64,
    /// futex wait syscalls issued.
    pub(crate) wait_syscalls: AtomicU64,
}

/// Rare events that either side may count, on a line of their own (an add
/// per event: a dropped frame, a skipped or recovered slot).
#[repr(C)]
#[derive(Debug)]
pub struct Events {
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
    /// Rare events.
    pub(crate) events: CachePadded<Events>,
}

/// The segment header. See the module docs for the init protocol.
#[repr(C)]
#[derive(Debug)]
pub struct Header {
    pub(super) magic: AtomicU64,
    pub(super) layout_version: AtomicU32,
    pub(super) init_state: AtomicU32,
    pub(super) kind: AtomicU32,
    pub(super) pointer_width: AtomicU32,
    pub(super) endianness: AtomicU32,
    pub(super) header_len: AtomicU32,
    pub(super) capacity: AtomicU64,
    pub(super) slot_size: AtomicU32,
    pub(super) slot_align: AtomicU32,
    pub(super) slots_offset: AtomicU64,
    pub(super) segment_len: AtomicU64,
    pub(super) type_hash: AtomicU64,
    pub(super) schema_id: AtomicU64,
    created_unix_ns: AtomicU64,
    creator_pid: AtomicU32,
    pub(super) type_name_len: AtomicU32,
    pub(super) waiter: AtomicU32,
    /// Byte rings: what a full ring does (`bytes::Overflow` code); else 0.
    pub(super) overflow: AtomicU32,
    /// Byte rings: the largest frame payload in bytes; else 0.
    pub(super) max_frame: AtomicU64,
    pub(super) type_name: [AtomicU64; TYPE_NAME_BYTES / 8],
    pub(crate) peers: [PeerSlot; MAX_PEERS],
    pub(crate) ring: RingControl,
    /// MPMC: rows of the participant table after the header (0 for the
    /// other kinds).
    pub(super) participants: AtomicU32,
    /// [`FLAG_PERSIST`] if the creator asked the name to outlive every
    /// endpoint; MPMC: [`FLAG_HAD_SENDER`], [`FLAG_HAD_RECEIVER`].
    pub(super) flags: AtomicU32,
}

/// In [`Header`]'s flags: no endpoint removes the name when it detaches
/// (created with `Options::persist(true)`).
// Under loom only heap segments exist: nothing persists.
#[cfg_attr(shmlane_loom, allow(dead_code))]
pub(crate) const FLAG_PERSIST: u32 = 1;
/// In [`Header`]'s flags (MPMC): a sender has attached at some time. Rows
/// are reused by whichever role claims them next, so the table alone can
/// forget that senders came and went; without senders now, this says
/// "gone" rather than "not yet".
pub(crate) const FLAG_HAD_SENDER: u32 = 2;
/// As [`FLAG_HAD_SENDER`], for receivers.
pub(crate) const FLAG_HAD_RECEIVER: u32 = 4;

/// Size of [`Header`] in bytes; also recorded in the header so that a
/// build with another layout is refused.
pub(crate) const HEADER_LEN: usize = size_of::<Header>();

/// FNV-1a: a stable hash for the type fingerprint (std's hashers are not
/// stable across builds, and two builds must agree).
pub(super) fn fnv1a(bytes: &[u8]) -> u64 {
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
                hits: AtomicU64::new(0),
                syscalls: Counters {
                    wake_syscalls: AtomicU64::new(0),
                    wait_syscalls: AtomicU64::new(0),
                },
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
                events: CachePadded::new(Events {
                    drops: AtomicU64::new(0),
                    skipped: AtomicU64::new(0),
                    recovered: AtomicU64::new(0),
                }),
            },
            participants: AtomicU32::new(0),
            flags: AtomicU32::new(0),
        }
    }

    /// Writes the identity of `layout` and `flags` and publishes the
    /// header. Called once, by the creator, before any other process can
    /// validate it.
    pub(crate) fn initialize(&self, layout: &Layout, flags: u32) {
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
        self.flags.store(flags, relaxed);
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

    /// Whether the creator asked the name to outlive every endpoint. Read
    /// from shared memory: a peer that flips it only changes who removes
    /// the name.
    #[cfg_attr(shmlane_loom, allow(dead_code))]
    pub(crate) fn persists(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & FLAG_PERSIST != 0
    }
}

fn unix_now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
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
    /// A semaphore's value; a shared segment's lock word (u32).
    pub lock_word: usize,
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
            lock_word: (&raw const header.ring.wake.not_empty.sem).addr() - base,
            len: HEADER_LEN,
            slots: body_offsets(8, 0).1 as usize,
        }
    }
}

/// Byte offsets of every header field a reader of a copy of the header
/// needs (the registry decodes `pread` bytes with them): this build's
/// layout, measured, never written down by hand.
#[cfg(not(shmlane_loom))]
#[derive(Debug, Clone, Copy)]
pub(super) struct FieldOffsets {
    pub(super) magic: usize,
    pub(super) layout_version: usize,
    pub(super) init_state: usize,
    pub(super) kind: usize,
    pub(super) pointer_width: usize,
    pub(super) endianness: usize,
    pub(super) header_len: usize,
    pub(super) capacity: usize,
    pub(super) slot_size: usize,
    pub(super) slot_align: usize,
    pub(super) slots_offset: usize,
    pub(super) segment_len: usize,
    pub(super) schema_id: usize,
    pub(super) created_unix_ns: usize,
    pub(super) creator_pid: usize,
    pub(super) type_name_len: usize,
    pub(super) waiter: usize,
    pub(super) overflow: usize,
    pub(super) max_frame: usize,
    pub(super) type_name: usize,
    pub(super) peers: usize,
    pub(super) head: usize,
    pub(super) head_waits: usize,
    pub(super) tail: usize,
    pub(super) tail_waits: usize,
    pub(super) semaphore_value: usize,
    pub(super) head_hits: usize,
    pub(super) tail_hits: usize,
    pub(super) head_wakes: usize,
    pub(super) tail_wakes: usize,
    pub(super) head_sleeps: usize,
    pub(super) tail_sleeps: usize,
    pub(super) drops: usize,
    pub(super) skipped: usize,
    pub(super) recovered: usize,
    pub(super) participants: usize,
    pub(super) flags: usize,
    /// Within a [`PeerSlot`]: its state word, pid and role, and its size.
    pub(super) row_state: usize,
    pub(super) row_pid: usize,
    pub(super) row_role: usize,
    pub(super) row_len: usize,
}

#[cfg(not(shmlane_loom))]
impl FieldOffsets {
    /// The offsets of this build's header.
    pub(super) fn get() -> Self {
        use core::mem::offset_of;
        // The fields inside `CachePadded` are reached through its `Deref`,
        // so they are measured on a value rather than with `offset_of!`.
        let header = Header::zeroed();
        let base = (&raw const header).addr();
        let at = |addr: usize| addr - base;
        let ring = &header.ring;
        Self {
            magic: offset_of!(Header, magic),
            layout_version: offset_of!(Header, layout_version),
            init_state: offset_of!(Header, init_state),
            kind: offset_of!(Header, kind),
            pointer_width: offset_of!(Header, pointer_width),
            endianness: offset_of!(Header, endianness),
            header_len: offset_of!(Header, header_len),
            capacity: offset_of!(Header, capacity),
            slot_size: offset_of!(Header, slot_size),
            slot_align: offset_of!(Header, slot_align),
            slots_offset: offset_of!(Header, slots_offset),
            segment_len: offset_of!(Header, segment_len),
            schema_id: offset_of!(Header, schema_id),
            created_unix_ns: offset_of!(Header, created_unix_ns),
            creator_pid: offset_of!(Header, creator_pid),
            type_name_len: offset_of!(Header, type_name_len),
            waiter: offset_of!(Header, waiter),
            overflow: offset_of!(Header, overflow),
            max_frame: offset_of!(Header, max_frame),
            type_name: offset_of!(Header, type_name),
            peers: offset_of!(Header, peers),
            head: at((&raw const ring.head.position).addr()),
            head_waits: at((&raw const ring.head.waits).addr()),
            tail: at((&raw const ring.tail.position).addr()),
            tail_waits: at((&raw const ring.tail.waits).addr()),
            semaphore_value: at((&raw const ring.wake.not_empty.sem).addr()),
            head_hits: at((&raw const ring.head.hits).addr()),
            tail_hits: at((&raw const ring.tail.hits).addr()),
            head_wakes: at((&raw const ring.head.syscalls.wake_syscalls).addr()),
            tail_wakes: at((&raw const ring.tail.syscalls.wake_syscalls).addr()),
            head_sleeps: at((&raw const ring.head.syscalls.wait_syscalls).addr()),
            tail_sleeps: at((&raw const ring.tail.syscalls.wait_syscalls).addr()),
            drops: at((&raw const ring.events.drops).addr()),
            skipped: at((&raw const ring.events.skipped).addr()),
            recovered: at((&raw const ring.events.recovered).addr()),
            participants: offset_of!(Header, participants),
            flags: offset_of!(Header, flags),
            row_state: offset_of!(PeerSlot, state),
            row_pid: offset_of!(PeerSlot, pid),
            row_role: offset_of!(PeerSlot, role),
            row_len: size_of::<PeerSlot>(),
        }
    }
}
