//! Where a segment lives: one unsafe trait, and the heap storage used by
//! in-process rings, property tests, Miri and loom. The shared-memory
//! storages are in [`mapped`](super::mapped).

use std::io;
use std::ptr::NonNull;
use std::sync::Arc;

use bytemuck::Zeroable;

use super::header::{Header, Layout};
use crate::error::OpenError;
use crate::sync::{Ordering, UnsafeCell};

/// Memory holding one segment: a header followed by a slot area.
///
/// # Safety
///
/// An implementation promises, for as long as the value lives:
/// 1. [`header`](Self::header) returns the same, never-moving `Header`,
///    shared with every other endpoint of the segment and with nothing else;
/// 2. [`slot_area`](Self::slot_area) returns the same pointer, aligned to the
///    layout's slot alignment, to `capacity * slot_size` bytes that are
///    readable and writable and hold the slots as `UnsafeCell<T>` for the
///    slot type `T` of the layout the storage was created or validated for;
/// 3. no access to these bytes can fault (the size is reserved and cannot
///    shrink beneath the mapping, or the cost of a peer shrinking it is
///    documented in SAFETY.md).
pub(crate) unsafe trait Storage: Send + Sync {
    /// The segment header.
    fn header(&self) -> &Header;

    /// Start of the slot area.
    fn slot_area(&self) -> NonNull<u8>;

    /// The segment's name, for messages.
    fn name(&self) -> &str;

    /// Claims `role` (a row of the peer table) for this endpoint; `Ok(false)`
    /// if a live endpoint holds it.
    fn claim_role(&self, role: usize) -> io::Result<bool>;

    /// Gives up `role`; called when an endpoint drops.
    fn release_role(&self, role: usize);

    /// Whether some other endpoint holds `role` (and, for shared storages,
    /// its process is alive).
    fn role_is_held(&self, role: usize) -> io::Result<bool>;
}

/// A segment on the heap, shared by endpoints in one process.
pub(crate) struct Heap<T> {
    shared: Arc<HeapSegment<T>>,
}

struct HeapSegment<T> {
    header: Header,
    slots: Box<[UnsafeCell<T>]>,
}

// SAFETY: the slots are only touched through the ring protocol, which gives
// each position to one endpoint at a time and orders the hand-over with
// Acquire/Release (SYNC: spsc-publish, spsc-release); `T: Send` because
// values move between the endpoints' threads.
unsafe impl<T: Send> Send for Heap<T> {}
// SAFETY: as for `Send`: shared access goes through atomics and the ring
// protocol's exclusive slot ranges.
unsafe impl<T: Send> Sync for Heap<T> {}

impl<T: Zeroable> Heap<T> {
    /// A new segment of `layout`, initialised like a fresh mapping.
    pub(crate) fn create(layout: &Layout) -> Result<Self, OpenError> {
        let capacity = usize::try_from(layout.capacity.get()).map_err(|_| no_memory(layout))?;
        let mut slots = Vec::new();
        slots
            .try_reserve_exact(capacity)
            .map_err(|_| no_memory(layout))?;
        slots.extend((0..capacity).map(|_| UnsafeCell::new(T::zeroed())));
        let header = Header::zeroed();
        header.initialize(layout);
        Ok(Self {
            shared: Arc::new(HeapSegment {
                header,
                slots: slots.into_boxed_slice(),
            }),
        })
    }

    /// Another handle to the same segment, for the other endpoint.
    pub(crate) fn share(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

fn no_memory(layout: &Layout) -> OpenError {
    OpenError::NoSpace {
        name: "(heap)".into(),
        bytes: layout.segment_len,
        source: io::Error::from(io::ErrorKind::OutOfMemory),
    }
}

// SAFETY: (1) the header lives in the `Arc` allocation, shared by every
// handle from `share`; (2) the slot area is the boxed slice of
// `UnsafeCell<T>`, allocated for `T` with `capacity` cells by `create`;
// (3) heap memory cannot fault.
unsafe impl<T: Send> Storage for Heap<T> {
    fn header(&self) -> &Header {
        &self.shared.header
    }

    fn slot_area(&self) -> NonNull<u8> {
        NonNull::from(&*self.shared.slots).cast()
    }

    fn name(&self) -> &str {
        "(heap)"
    }

    fn claim_role(&self, role: usize) -> io::Result<bool> {
        let claimed = &self.shared.header.peers[role].claimed;
        // SYNC: heap-role-handoff (Acquire: sees the previous holder's
        // writes, released when it gave the role up)
        Ok(claimed
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok())
    }

    fn release_role(&self, role: usize) {
        // SYNC: heap-role-handoff (Release: pairs with the next claim)
        self.shared.header.peers[role]
            .claimed
            .store(0, Ordering::Release);
    }

    fn role_is_held(&self, role: usize) -> io::Result<bool> {
        Ok(self.shared.header.peers[role]
            .claimed
            .load(Ordering::Relaxed)
            != 0)
    }
}
