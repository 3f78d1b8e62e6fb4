//! The shared lock's protocol on a heap segment, for `tests/loom.rs` only
//! (loom builds have no named segments, and loom's cells have no `T`
//! layout to lend as `&T`): handles of one segment that lock, add one to a
//! loom-tracked value, and unlock, so that loom checks mutual exclusion,
//! the hand-over of the value (SYNC: shared-lock) and that no unlock's
//! wake is lost (a lost wake is a deadlock under loom).

use super::lock::{self, Acquired, RobustLock, lock_word};
use crate::options::Waiter;
use crate::segment::peer::{Attachment, Role};
use crate::segment::{Heap, Layout, RingKind};
use crate::sync::UnsafeCell;

/// A heap segment of the shared kind holding one `u64`.
pub struct LockModel {
    storage: Heap<UnsafeCell<u64>>,
    rows: u32,
}

/// One handle of the segment: a claimed participant row.
pub struct ModelHandle {
    attachment: Attachment,
    me: u32,
}

impl LockModel {
    /// A segment with room for `rows` handles.
    pub fn new(rows: u32) -> Self {
        let layout = Layout::for_slots::<u64>(RingKind::Shared, 1, None, Waiter::EventCount)
            .and_then(|layout| layout.with_cells(size_of::<u64>(), rows))
            .expect("a one-u64 shared layout");
        let storage = Heap::create(&layout).expect("heap segment");
        Self { storage, rows }
    }

    /// A new handle (a free row, as `Shared::open` claims).
    pub fn handle(&self) -> ModelHandle {
        let attachment = Attachment::claim_participant(
            Box::new(self.storage.share()),
            Role::Producer,
            self.rows,
        )
        .expect("a free row");
        let me = lock::token(attachment.own_row(), attachment.claim_generation());
        ModelHandle { attachment, me }
    }
}

impl ModelHandle {
    fn robust_lock(&self) -> RobustLock<'_> {
        RobustLock {
            word: lock_word(&self.attachment),
            attachment: &self.attachment,
            me: self.me,
        }
    }

    fn value(&self) -> &UnsafeCell<u64> {
        // SAFETY: the heap storage's slot area is its boxed slice of one
        // `UnsafeCell<u64>` (Storage contract point 2), alive as long as
        // the attachment that borrows it here.
        unsafe {
            &*self
                .attachment
                .storage()
                .slot_area()
                .as_ptr()
                .cast::<UnsafeCell<u64>>()
        }
    }

    /// Locks (sleeping while held), adds one to the value, unlocks.
    /// Returns whether the lock reported a dead owner.
    pub fn increment(&self) -> bool {
        let lock = self.robust_lock();
        let acquired = lock.acquire(None).expect("no deadline, no timeout");
        // SAFETY: the lock is held: no other handle touches the value until
        // the release below (what loom checks).
        self.value().with_mut(|value| unsafe { *value += 1 });
        lock.release(true);
        acquired == Acquired::OwnerDied
    }

    /// The value, read under the lock.
    pub fn read(&self) -> u64 {
        let lock = self.robust_lock();
        lock.acquire(None).expect("no deadline, no timeout");
        // SAFETY: as in `increment`: read under the lock.
        let value = self.value().with(|value| unsafe { *value });
        lock.release(true);
        value
    }
}
