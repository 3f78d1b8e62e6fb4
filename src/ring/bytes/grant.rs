//! A byte-ring producer's in-place write: [`Grant`].

use super::frame::Placement;
#[cfg(not(shmlane_loom))]
use super::frame::payload_ptr;
use super::producer::Producer;

/// Where a grant's bytes live.
#[derive(Debug, Clone, Copy)]
pub(super) enum GrantTarget {
    /// In the ring, at this placement.
    Ring(Placement),
    /// In the producer's scratch buffer: the frame is dropped at commit.
    Dropped,
}

/// Room for one frame, written in place and published by
/// [`commit`](Self::commit). Dropping it uncommitted publishes nothing.
///
/// The bytes are in shared memory (unless the frame is being dropped, see
/// [`Overflow::DropNewest`](crate::Overflow::DropNewest)): an honest consumer does not touch them, a
/// hostile one could while the grant lives (see SAFETY.md). They hold
/// whatever was there before.
pub struct Grant<'a> {
    pub(super) producer: &'a mut Producer,
    pub(super) target: GrantTarget,
    pub(super) len: usize,
}

impl Grant<'_> {
    /// Number of bytes granted.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, bytes};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, _rx) = bytes::heap_pair(&Options::new().capacity(4096))?;
    /// let grant = tx.grant(100)?;
    /// assert_eq!(grant.len(), 100);
    /// # Ok(())
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the grant has no byte.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, bytes};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = bytes::heap_pair(&Options::new().capacity(4096))?;
    /// let grant = tx.grant(0)?;
    /// assert!(grant.is_empty());
    /// grant.commit(0); // an empty frame is still a frame
    /// assert_eq!(rx.try_recv(&mut Vec::new())?, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the ring was full and this frame will be dropped at commit
    /// ([`Overflow::DropNewest`](crate::Overflow::DropNewest)).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, Overflow, bytes};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let opts = Options::new().capacity(64).overflow(Overflow::DropNewest); // 8 words
    /// let (mut tx, _rx) = bytes::heap_pair(&opts)?;
    /// tx.try_send(&[0; 24])?; // a header word and 3 payload words
    /// tx.try_send(&[0; 24])?; // the ring is full
    /// let grant = tx.grant(8)?; // process memory, not the ring
    /// assert!(grant.is_dropped());
    /// assert_eq!(grant.commit(8), 0);
    /// assert_eq!(tx.stats().drops, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_dropped(&self) -> bool {
        matches!(self.target, GrantTarget::Dropped)
    }

    /// Publishes the first `n` bytes (at most [`len`](Self::len)) as one
    /// frame and returns how many were published (0 when the frame was
    /// dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, bytes};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = bytes::heap_pair(&Options::new().capacity(4096))?;
    /// let mut grant = tx.grant(64)?;
    /// grant[..2].copy_from_slice(b"hi");
    /// assert_eq!(grant.commit(2), 2); // the frame holds 2 bytes, not 64
    /// assert_eq!(&*rx.read()?, b"hi");
    /// # Ok(())
    /// # }
    /// ```
    pub fn commit(self, n: usize) -> usize {
        let n = n.min(self.len);
        match self.target {
            GrantTarget::Ring(placement) => {
                // Loom: the bytes were written into the scratch buffer
                // (see `Deref`); into the frame's words now, before the
                // publish, each access tracked.
                #[cfg(shmlane_loom)]
                {
                    let slot = self.producer.payload_slot(placement);
                    super::frame::copy_to_ring(
                        &self.producer.ring,
                        slot,
                        &self.producer.scratch[..n],
                    );
                }
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

/// Loom: the ring's cells cannot be viewed as bytes, so a grant's bytes
/// are the producer's scratch buffer, copied into the frame at commit.
#[cfg(shmlane_loom)]
impl std::ops::Deref for Grant<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.producer.scratch[..self.len]
    }
}

#[cfg(shmlane_loom)]
impl std::ops::DerefMut for Grant<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.producer.scratch[..self.len]
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

impl std::fmt::Debug for Grant<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("len", &self.len)
            .field("dropped", &self.is_dropped())
            .finish()
    }
}
