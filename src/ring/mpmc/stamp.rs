//! The stamp word of a slot (lap, owner row and generation, state), the
//! slot that carries it, and the decoding that checks a stamp against a
//! position.

use bytemuck::Zeroable;

use crate::error::Corruption;
use crate::segment::FreshCell;
use crate::sync::{AtomicU64, UnsafeCell};

// The stamp word. See the module docs.
pub(super) const STATE_MASK: u64 = 0b111;
pub(super) const EMPTY: u64 = 0;
pub(super) const WRITING: u64 = 1;
pub(super) const FULL: u64 = 2;
pub(super) const READING: u64 = 3;
pub(super) const SKIPPED: u64 = 4;
pub(super) const ROW_SHIFT: u32 = 3;
pub(super) const ROW_MASK: u64 = 0x7f;
pub(super) const GENERATION_SHIFT: u32 = 10;
pub(super) const GENERATION_MASK: u64 = crate::segment::peer::CLAIM_GENERATION_MASK as u64;
pub(super) const LAP_SHIFT: u32 = 18;
/// The stamp of the same state one lap later.
pub(super) const ONE_LAP: u64 = 1 << LAP_SHIFT;
const OWNER_BITS: u64 = (ROW_MASK << ROW_SHIFT) | (GENERATION_MASK << GENERATION_SHIFT);

/// One slot: its stamp, and the item beside it (on the same cache line for
/// small items: a hand-over moves one line).
#[repr(C)]
pub(crate) struct Slot<T> {
    pub(super) stamp: AtomicU64,
    pub(crate) value: UnsafeCell<T>,
}

impl<T> Slot<T> {
    /// Stores `stamp` as a hostile peer would (the fuzz targets).
    #[cfg(all(feature = "test-support", not(shmlane_loom)))]
    pub(crate) fn forge_stamp(&self, stamp: u64) {
        self.stamp.store(stamp, crate::sync::Ordering::Release);
    }

    /// The stamp, for the fuzz targets' near-valid forgeries.
    #[cfg(all(feature = "test-support", not(shmlane_loom)))]
    pub(crate) fn stamp(&self) -> u64 {
        self.stamp.load(crate::sync::Ordering::Relaxed)
    }
}

impl<T: Zeroable> FreshCell for Slot<T> {
    fn fresh() -> Self {
        Self {
            stamp: AtomicU64::new(0),
            value: UnsafeCell::new(T::zeroed()),
        }
    }
}

/// A stamp read from a slot, checked against a position.
#[derive(Debug, Clone, Copy)]
pub(super) struct Seen {
    /// The stamp's lap minus the position's (signed, modulo 2^46).
    pub(super) laps: i64,
    pub(super) state: u64,
    pub(super) row: usize,
    pub(super) generation: u32,
}

/// Splits `stamp` as seen for the position whose lap bits are `base`, and
/// checks what must hold whatever the position: a known state, an owner
/// only in the two claimed states, inside the table of `rows` rows.
#[inline]
pub(super) fn decode(stamp: u64, base: u64, rows: u64) -> Result<Seen, Corruption> {
    let state = stamp & STATE_MASK;
    let row = (stamp >> ROW_SHIFT) & ROW_MASK;
    let seen = Seen {
        // `base` has no low bits: the difference's low bits are the stamp's,
        // its high bits the lap difference, which the shift sign-extends.
        laps: (stamp.wrapping_sub(base) as i64) >> LAP_SHIFT,
        state,
        row: row as usize,
        generation: ((stamp >> GENERATION_SHIFT) & GENERATION_MASK) as u32,
    };
    match state {
        WRITING | READING if row >= rows => Err(Corruption {
            what: "slot stamp names an owner outside the participant table",
            found: row,
            limit: rows,
        }),
        WRITING | READING => Ok(seen),
        EMPTY | FULL | SKIPPED if stamp & OWNER_BITS != 0 => Err(Corruption {
            what: "slot stamp names an owner in an unowned state",
            found: stamp,
            limit: 0,
        }),
        EMPTY | FULL | SKIPPED => Ok(seen),
        _ => Err(Corruption {
            what: "slot stamp has an unknown state",
            found: state,
            limit: SKIPPED,
        }),
    }
}

/// A stamp that no honest ring can show at this position.
pub(super) fn misfit(stamp: u64) -> Corruption {
    Corruption {
        what: "slot stamp does not fit the position",
        found: stamp,
        limit: 0,
    }
}
