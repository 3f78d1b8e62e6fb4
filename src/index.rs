//! Position arithmetic shared by every ring.
//!
//! Positions are `u64` counters that only grow (wrapping after 2^64, which
//! at 10^9 items a second takes 584 years, but handled anyway): the slot of
//! position `p` is `p & (capacity - 1)`, and the number of items between a
//! head and a tail is `tail - head` (wrapping). Any difference larger than
//! the capacity is impossible for honest peers and is reported as
//! [`Corruption`], never trusted.

use crate::error::Corruption;

/// A validated ring capacity: a non-zero power of two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Capacity {
    mask: u64,
}

impl Capacity {
    /// `None` unless `slots` is a non-zero power of two.
    pub(crate) const fn new(slots: u64) -> Option<Self> {
        if slots.is_power_of_two() {
            Some(Self { mask: slots - 1 })
        } else {
            None
        }
    }

    /// Number of slots.
    #[inline(always)]
    pub(crate) const fn get(self) -> u64 {
        self.mask + 1
    }

    /// Slot index of a position; always `< capacity`.
    #[inline(always)]
    pub(crate) const fn slot(self, position: u64) -> usize {
        (position & self.mask) as usize
    }

    /// Items between `head` and `tail`, or `Corruption` if they are further
    /// apart than the capacity (or `tail` is behind `head`).
    #[inline(always)]
    pub(crate) const fn occupied(self, head: u64, tail: u64) -> Result<u64, Corruption> {
        let used = tail.wrapping_sub(head);
        if used <= self.mask + 1 {
            Ok(used)
        } else {
            Err(Corruption {
                what: "tail - head exceeds the capacity",
                found: used,
                limit: self.mask + 1,
            })
        }
    }

    #[cfg_attr(
        shmlane_loom,
        allow(
            dead_code,
            reason = "only the chunk API splits; loom builds leave it out"
        )
    )]
    /// Splits `len` slots starting at `position` into the run up to the end
    /// of the slot array and the run wrapped to its start:
    /// `(first_slot, first_len, second_len)`. `len` must be `<= capacity`.
    #[inline]
    pub(crate) const fn split(self, position: u64, len: u64) -> (usize, usize, usize) {
        let first_slot = self.slot(position);
        let to_end = self.get() - first_slot as u64;
        let first_len = if len < to_end { len } else { to_end };
        (first_slot, first_len as usize, (len - first_len) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_must_be_a_power_of_two() {
        assert!(Capacity::new(0).is_none());
        assert!(Capacity::new(3).is_none());
        assert!(Capacity::new(u64::MAX).is_none());
        assert_eq!(Capacity::new(1).map(Capacity::get), Some(1));
        assert_eq!(Capacity::new(1 << 63).map(Capacity::get), Some(1 << 63));
    }

    #[test]
    fn occupied_accepts_wrapping_and_refuses_impossible() {
        let cap = Capacity::new(8).unwrap();
        assert_eq!(cap.occupied(5, 5), Ok(0));
        assert_eq!(cap.occupied(5, 13), Ok(8));
        assert_eq!(cap.occupied(u64::MAX - 1, 2), Ok(4));
        let err = cap.occupied(5, 14).unwrap_err();
        assert_eq!((err.found, err.limit), (9, 8));
        assert!(cap.occupied(6, 5).is_err(), "tail behind head");
    }

    #[test]
    fn split_wraps_at_the_end_of_the_array() {
        let cap = Capacity::new(8).unwrap();
        assert_eq!(cap.split(0, 8), (0, 8, 0));
        assert_eq!(cap.split(6, 5), (6, 2, 3));
        assert_eq!(cap.split(14, 2), (6, 2, 0));
        assert_eq!(cap.split(7, 0), (7, 0, 0));
        assert_eq!(cap.split(u64::MAX, 2), (7, 1, 1));
    }
}
