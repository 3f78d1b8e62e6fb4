//! The shape of a segment: its ring kind, and where the participant table,
//! the slot area and the end of the segment fall for a slot type.

use super::header::{HEADER_LEN, PeerSlot};
use crate::error::OpenError;
use crate::index::Capacity;
use crate::options::Waiter;

pub(crate) use crate::options::MAX_PARTICIPANTS;
/// Slot areas start on this boundary at least (two cache lines: the
/// adjacent-line prefetcher pairs them).
const SLOT_AREA_ALIGN: u64 = 128;
use crate::options::MAX_SLOT_ALIGN;

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
    /// One `T` guarded by a robust lock (`Shared<T>`), with a participant
    /// table of the handles that may hold it.
    #[cfg_attr(shmlane_loom, allow(dead_code, reason = "named segments only"))]
    Shared = 5,
}

impl RingKind {
    pub(super) fn name(raw: u32) -> String {
        match raw {
            1 => "spsc".to_owned(),
            2 => "semaphore".to_owned(),
            3 => "mpmc".to_owned(),
            4 => "bytes".to_owned(),
            5 => "shared".to_owned(),
            other => format!("unknown kind {other}"),
        }
    }
}

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

impl Layout {
    /// The layout of a ring of `capacity` slots of `T`.
    pub(crate) fn for_slots<T>(
        kind: RingKind,
        capacity: usize,
        schema_id: Option<u64>,
        waiter: Waiter,
    ) -> Result<Self, OpenError> {
        let slot = (size_of::<T>(), align_of::<T>(), core::any::type_name::<T>());
        Self::for_sized_slots(kind, capacity, slot, schema_id, waiter)
    }

    /// The layout of a ring of `capacity` slots of `(size, align,
    /// type_name)`: a Rust type's, or a shape given at run time.
    pub(crate) fn for_sized_slots(
        kind: RingKind,
        capacity: usize,
        (size, align, type_name): (usize, usize, &'static str),
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
        if align > MAX_SLOT_ALIGN {
            return Err(OpenError::InvalidConfig(format!(
                "slot type alignment {align} exceeds the page size"
            )));
        }
        let too_big = || {
            OpenError::InvalidConfig(format!(
                "capacity {} of {size}-byte slots overflows the address space",
                capacity.get(),
            ))
        };
        let slot_size = u32::try_from(size).map_err(|_| too_big())?;
        let slot_align = align as u32;
        let (_, slots_offset) = body_offsets(slot_align, 0);
        let segment_len = segment_len(capacity, u64::from(slot_size), slots_offset)
            .filter(|&len| len <= isize::MAX as u64)
            .ok_or_else(too_big)?;
        Ok(Self {
            kind,
            capacity,
            slot_size,
            slot_align,
            type_name,
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

/// Where the participant table (if `participants > 0`: its rows, then one
/// 4-byte sleeper mark per row) and the slot area start:
/// `(peers_offset, slots_offset)`.
pub(super) fn body_offsets(slot_align: u32, participants: u32) -> (u64, u64) {
    let align = SLOT_AREA_ALIGN.max(u64::from(slot_align));
    let header = HEADER_LEN as u64;
    if participants == 0 {
        return (0, header.next_multiple_of(align));
    }
    let peers = header.next_multiple_of(align_of::<PeerSlot>() as u64);
    let table = u64::from(participants) * (size_of::<PeerSlot>() + size_of::<u32>()) as u64;
    (peers, (peers + table).next_multiple_of(align))
}

/// Bytes of a segment: the slot area after `slots_offset`, or `None` on
/// overflow.
pub(super) fn segment_len(capacity: Capacity, stride: u64, slots_offset: u64) -> Option<u64> {
    capacity
        .get()
        .checked_mul(stride)
        .and_then(|slots| slots.checked_add(slots_offset))
}
