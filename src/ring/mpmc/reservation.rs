//! A claimed slot, written in place: [`Sender::reserve`]'s guard.

use bytemuck::Pod;

use super::sender::Sender;
use super::stamp::FULL;

/// A claimed slot, written in place and published by
/// [`commit`](Self::commit); see [`Sender::reserve`].
///
/// The slot holds whatever was there before (an old item or zeroes): every
/// bit pattern is a valid `T: Pod`, so it is handed out as `&mut T`. It
/// points into shared memory: an honest peer does not touch a claimed
/// slot, a hostile one could while the borrow lives (see SAFETY.md).
pub struct Reservation<'a, T: Pod> {
    pub(super) sender: &'a mut Sender<T>,
    pub(super) position: u64,
}

impl<T: Pod> Reservation<'_, T> {
    /// The item in the slot, to write in place.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, mpmc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = mpmc::heap_pair::<[u64; 2]>(&Options::new().capacity(8))?;
    /// let mut slot = tx.reserve()?;
    /// let item = slot.get_mut(); // whatever the slot held before
    /// item[0] = 1;
    /// item[1] = 2;
    /// slot.commit();
    /// assert_eq!(rx.try_recv()?, [1, 2]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        let slot = self.sender.end.ring.slot(self.position);
        // SAFETY: the slot is claimed by this sender (WRITING with its tag)
        // until commit or drop, which need `self` by value or end the
        // borrow; no honest endpoint reads or writes a claimed slot's
        // value; the cell holds a valid `T: Pod` (any bytes are one) and
        // lives as long as the segment, which the sender (borrowed for
        // `'_`) owns.
        slot.value.with_mut(|item| unsafe { &mut *item })
    }

    /// Overwrites the item in the slot.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, mpmc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = mpmc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// let mut slot = tx.reserve()?;
    /// slot.write(42);
    /// slot.commit();
    /// assert_eq!(rx.try_recv()?, 42);
    /// # Ok(())
    /// # }
    /// ```
    pub fn write(&mut self, value: T) {
        self.sender
            .end
            .ring
            .slot(self.position)
            .value
            .with_mut(|item| {
                // SAFETY: as in `get_mut`: the slot is ours until commit.
                unsafe { item.write(value) }
            });
    }

    /// Publishes the item for the receivers.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, PopError, mpmc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = mpmc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// let mut slot = tx.reserve()?;
    /// slot.write(42);
    /// assert_eq!(rx.try_recv(), Err(PopError::Empty)); // not yet published
    /// slot.commit();
    /// assert_eq!(rx.try_recv()?, 42);
    /// # Ok(())
    /// # }
    /// ```
    pub fn commit(self) {
        let mut this = std::mem::ManuallyDrop::new(self);
        this.sender.pending = None;
        this.sender.publish(this.position, FULL);
    }
}

impl<T: Pod> Drop for Reservation<'_, T> {
    fn drop(&mut self) {
        self.sender.pending = None;
        self.sender.skip(self.position);
    }
}
