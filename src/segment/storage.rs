//! Where a segment lives: one unsafe trait, and the heap storage used by
//! in-process rings, property tests, Miri and loom. The shared-memory
//! storages are in [`mapped`](super::mapped).

use std::io;
use std::ptr::NonNull;
use std::sync::Arc;

use bytemuck::Zeroable;

use super::header::{Header, Layout, PeerSlot};
use crate::error::OpenError;
use crate::sync::{AtomicU32, Ordering, UnsafeCell};

/// Memory holding one segment: a header followed by a slot area.
///
/// # Safety
///
/// An implementation promises, for as long as the value lives:
/// 1. [`header`](Self::header) returns the same, never-moving `Header`,
///    shared with every other endpoint of the segment and with nothing else;
/// 2. [`slot_area`](Self::slot_area) returns the same pointer, aligned to the
///    layout's slot alignment (and to 128 bytes), to `capacity *
///    slot_stride` bytes that are readable and writable and hold the slots
///    as the ring kind's slot cell (`UnsafeCell<T>`, or MPMC's stamped
///    `Slot<T>`) for the slot type `T` of the layout the storage was
///    created or validated for;
/// 3. no access to these bytes can fault (the size is reserved and cannot
///    shrink beneath the mapping, or the cost of a peer shrinking it is
///    documented in SAFETY.md);
/// 4. [`peer_rows`](Self::peer_rows) returns the same rows every time,
///    shared with every other endpoint of the segment: the header's for
///    a layout without a participant table, the table's otherwise; and
///    [`sleeper_marks`](Self::sleeper_marks) the same marks, one per
///    participant row (none without a table).
pub(crate) unsafe trait Storage: Send + Sync {
    /// The segment header.
    fn header(&self) -> &Header;

    /// The peer table: one row per role (the header's), or per participant.
    fn peer_rows(&self) -> &[PeerSlot];

    /// A participant table's sleeper marks, one per row (empty without a
    /// table): nonzero while the row's endpoint is counted as a sleeper on
    /// its role's wake word, so that whoever finds it dead can take its
    /// count off (MPMC; see `wait::SleeperMark`).
    fn sleeper_marks(&self) -> &[AtomicU32];

    /// Another view of the same segment with a hold of its own (its own
    /// open file description, for a mapping), for one more endpoint.
    fn duplicate(&self, layout: &Layout) -> Result<Box<dyn Storage>, OpenError>;

    /// Start of the slot area.
    fn slot_area(&self) -> NonNull<u8>;

    /// The segment's name, for messages.
    fn name(&self) -> &str;

    /// Claims row `role` of the peer table for this endpoint; `Ok(false)`
    /// if a live endpoint holds it.
    fn claim_role(&self, role: usize) -> io::Result<bool>;

    /// Removes the segment's name if no other endpoint holds it and its
    /// creator did not ask it to persist: called by the process that used
    /// an endpoint, when it drops; `detached` says the endpoint was in
    /// use (marked attached) rather than opened and let go, which removes
    /// only what it made (see `segment/removal.rs`). Nothing to do for
    /// storages without a name.
    fn remove_if_last(&self, _detached: bool) {}

    /// Whether the file under a named segment is now shorter than the
    /// mapping (a peer with write permission truncated it): the next access
    /// past its end would raise SIGBUS. A syscall; `None` for storages that
    /// cannot shrink (heap, sealed memfd).
    fn shrunk(&self) -> Option<crate::error::Corruption> {
        None
    }

    /// After the endpoint took its lock: whether the segment's name still
    /// links it, once any removal in progress is done (`false`: it was
    /// removed meanwhile; let it go and look the name up again). Always
    /// for storages without a name.
    // Under loom only heap storage exists, which never asks.
    #[cfg_attr(shmlane_loom, allow(dead_code))]
    fn still_named(&self) -> Result<bool, OpenError> {
        Ok(true)
    }

    /// Gives up row `role`; called when an endpoint drops.
    fn release_role(&self, role: usize);

    /// Whether some other endpoint holds row `role` (and, for shared
    /// storages, its process is alive).
    fn role_is_held(&self, role: usize) -> io::Result<bool>;
}

/// A slot cell as a fresh segment holds it (all zero bytes), for the heap
/// storage to build.
pub(crate) trait FreshCell {
    fn fresh() -> Self;
}

impl<T: Zeroable> FreshCell for UnsafeCell<T> {
    fn fresh() -> Self {
        UnsafeCell::new(T::zeroed())
    }
}

/// A segment on the heap, shared by endpoints in one process; `S` is the
/// ring kind's slot cell.
pub(crate) struct Heap<S> {
    shared: Arc<HeapSegment<S>>,
}

struct HeapSegment<S> {
    header: Header,
    /// The participant table (empty: the header's rows are the table).
    peers: Box<[PeerSlot]>,
    /// One sleeper mark per participant row.
    marks: Box<[AtomicU32]>,
    slots: Box<[S]>,
}

// SAFETY: the slots are only touched through the ring protocol, which gives
// each position to one endpoint at a time and orders the hand-over with
// Acquire/Release (SYNC: spsc-publish, spsc-release, mpmc-publish,
// mpmc-release); `S: Send` (the cell of a `T: Send`) because values move
// between the endpoints' threads.
unsafe impl<S: Send> Send for Heap<S> {}
// SAFETY: as for `Send`: shared access goes through atomics and the ring
// protocol's exclusive slot ranges.
unsafe impl<S: Send> Sync for Heap<S> {}

impl<S: FreshCell> Heap<S> {
    /// A new segment of `layout`, initialised like a fresh mapping.
    pub(crate) fn create(layout: &Layout) -> Result<Self, OpenError> {
        let capacity = usize::try_from(layout.capacity.get()).map_err(|_| no_memory(layout))?;
        let mut slots = Vec::new();
        slots
            .try_reserve_exact(capacity)
            .map_err(|_| no_memory(layout))?;
        slots.extend((0..capacity).map(|_| S::fresh()));
        let peers = (0..layout.participants).map(|_| PeerSlot::zeroed());
        let marks = (0..layout.participants).map(|_| AtomicU32::new(0));
        let header = Header::zeroed();
        header.initialize(layout, 0);
        Ok(Self {
            shared: Arc::new(HeapSegment {
                header,
                peers: peers.collect(),
                marks: marks.collect(),
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
// handle from `share`; (2) the slot area is the boxed slice of `capacity`
// cells `S` (the ring kind's cell, as its caller built the layout for);
// (3) heap memory cannot fault; (4) the rows live in the same allocation.
unsafe impl<S: Send + FreshCell + 'static> Storage for Heap<S> {
    fn header(&self) -> &Header {
        &self.shared.header
    }

    fn peer_rows(&self) -> &[PeerSlot] {
        if self.shared.peers.is_empty() {
            &self.shared.header.peers
        } else {
            &self.shared.peers
        }
    }

    fn sleeper_marks(&self) -> &[AtomicU32] {
        &self.shared.marks
    }

    fn duplicate(&self, _layout: &Layout) -> Result<Box<dyn Storage>, OpenError> {
        Ok(Box::new(self.share()))
    }

    fn slot_area(&self) -> NonNull<u8> {
        NonNull::from(&*self.shared.slots).cast()
    }

    fn name(&self) -> &str {
        "(heap)"
    }

    fn claim_role(&self, role: usize) -> io::Result<bool> {
        let claimed = &self.peer_rows()[role].claimed;
        // SYNC: heap-role-handoff (Acquire: sees the previous holder's
        // writes, released when it gave the role up)
        Ok(claimed
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok())
    }

    fn release_role(&self, role: usize) {
        // SYNC: heap-role-handoff (Release: pairs with the next claim)
        self.peer_rows()[role].claimed.store(0, Ordering::Release);
    }

    fn role_is_held(&self, role: usize) -> io::Result<bool> {
        Ok(self.peer_rows()[role].claimed.load(Ordering::Relaxed) != 0)
    }
}
