//! [`Shared<T>`] and its guard: the value in a named segment, the handle
//! that holds a participant row, and the lock calls over `lock.rs`.

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use bytemuck::Pod;

use super::LockError;
use super::lock::{self, Acquired, RobustLock, lock_word};

use crate::error::OpenError;
use crate::options::{DEFAULT_PARTICIPANTS, Options, Waiter};
use crate::segment::peer::{Attachment, Role};
use crate::segment::{Layout, Mapping, RingKind, Strict};
use crate::wait::Limit;

/// What every lock call returns: a guard, or why not (an
/// [`OwnerDied`](LockError::OwnerDied) holds a guard too).
pub type LockResult<'a, T> = Result<SharedGuard<'a, T>, LockError<SharedGuard<'a, T>>>;

/// One `T` in a named shared-memory segment, guarded by a lock that
/// survives its holder: if a process dies (SIGKILL, a crash) holding it,
/// the next [`lock`](Self::lock) anywhere takes it over within a
/// [`LIVENESS_TICK`](crate::LIVENESS_TICK) and returns
/// [`LockError::OwnerDied`] with the guard, as `EOWNERDEAD` does for a
/// robust pthread mutex. The caller repairs the data and calls
/// [`SharedGuard::mark_consistent`]; until someone does, every lock is
/// told again.
///
/// Each handle (each `create` or `open`) takes a row of the segment's
/// participant table ([`Options::participants`], default 64), whose OFD
/// lock tells its holders alive from dead. A handle is for one thread
/// (`Send`, not `Sync`): give each thread its own `open`. A child forked
/// after the open must open the segment itself
/// ([`LockError::OtherProcess`]). The lock is not recursive: a second
/// `lock` from the holder's own handle waits (use `try_lock` or
/// `lock_timeout` to find out).
///
/// A new segment's `T` is all zero bytes. The segment is removed when the last
/// handle detaches (whoever made it), unless created with [`Options::persist`].
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shmlane::{LockError, Shared};
/// let counter = Shared::<u64>::create("hits")?;
/// let mut guard = match counter.lock() {
///     Ok(guard) => guard,
///     Err(LockError::OwnerDied(mut guard)) => {
///         // A holder died mid-update: repair *guard here, then say so.
///         guard.mark_consistent();
///         guard
///     }
///     Err(other) => return Err(other.to_string().into()),
/// };
/// *guard += 1;
/// # Ok(())
/// # }
/// ```
pub struct Shared<T: Pod> {
    attachment: Attachment,
    /// This handle's token in the lock word (row and claim generation).
    me: u32,
    _value: PhantomData<T>,
}

impl<T: Pod> Shared<T> {
    fn layout(opts: &Options) -> Result<Layout, OpenError> {
        let participants = opts.participants.unwrap_or(DEFAULT_PARTICIPANTS);
        if participants == 0 {
            return Err(OpenError::InvalidConfig(
                "a shared segment needs at least 1 participant".into(),
            ));
        }
        Layout::for_slots::<T>(RingKind::Shared, 1, opts.schema_id, Waiter::EventCount)?
            .with_cells(size_of::<T>(), participants)
    }

    /// Creates the segment `name` holding a zeroed `T` (mode 0600, removed
    /// when the last handle detaches, unless `persist`).
    pub fn create(name: &str) -> Result<Self, OpenError> {
        Self::create_with(name, &Options::new())
    }

    /// [`create`](Self::create) with options: `mode`, `persist`,
    /// `participants` (handles at once), `schema_id`. Ring options are
    /// refused.
    pub fn create_with(name: &str, opts: &Options) -> Result<Self, OpenError> {
        check_shared_options(opts)?;
        let layout = Self::layout(opts)?;
        let mapping = Mapping::create_shm(name, &layout, opts)?;
        Self::attach(mapping, &layout)
    }

    /// Opens the segment `name`, made by [`create`](Self::create) for the
    /// same `T`.
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_with(name, &Options::new())
    }

    /// [`open`](Self::open) with options (`open_timeout`, `schema_id`, and
    /// `participants` if it must match).
    pub fn open_with(name: &str, opts: &Options) -> Result<Self, OpenError> {
        check_shared_options(opts)?;
        let layout = Self::layout(opts)?;
        let strict = Strict::from_options(opts);
        let (mapping, layout) = Mapping::open_shm(name, &layout, strict, opts)?;
        Self::attach(mapping, &layout)
    }

    fn attach(mapping: Mapping, layout: &Layout) -> Result<Self, OpenError> {
        let name = crate::segment::Storage::name(&mapping).to_owned();
        let mut attachment =
            Attachment::claim_participant(Box::new(mapping), Role::Producer, layout.participants)?;
        // Holding our row now: a removal that judged the segment unused
        // before has finished and shows in the link count.
        if !attachment.storage().still_named()? {
            return Err(OpenError::NotFound { name });
        }
        let corrupted = |corruption| OpenError::Corrupted {
            name: name.clone(),
            corruption,
        };
        // A lock word left naming our row with our claim generation is an
        // earlier, dead holder's of the row: move ours off it, so that it
        // is judged dead rather than taken for ours.
        let mut in_use = [false; 256];
        let word = lock_word(&attachment).load(crate::sync::Ordering::Relaxed);
        if let Some((row, generation)) = lock::holder_of(word)
            && row == attachment.own_row()
        {
            in_use[generation as usize] = true;
        }
        attachment.renew_generation(&in_use).map_err(corrupted)?;
        attachment.mark_attached().map_err(corrupted)?;
        let me = lock::token(attachment.own_row(), attachment.claim_generation());
        Ok(Self {
            attachment,
            me,
            _value: PhantomData,
        })
    }

    fn robust_lock(&self) -> RobustLock<'_> {
        RobustLock {
            word: lock_word(&self.attachment),
            attachment: &self.attachment,
            me: self.me,
        }
    }

    fn guard(&self, acquired: Acquired) -> LockResult<'_, T> {
        let guard = SharedGuard {
            shared: self,
            consistent: acquired == Acquired::Clean,
            _not_send: PhantomData,
        };
        match acquired {
            Acquired::Clean => Ok(guard),
            Acquired::OwnerDied => Err(LockError::OwnerDied(guard)),
        }
    }

    fn lock_within(&self, limit: Limit) -> LockResult<'_, T> {
        if !self.attachment.is_marked() {
            return Err(LockError::OtherProcess);
        }
        match self.robust_lock().acquire(limit.deadline()) {
            Ok(acquired) => self.guard(acquired),
            Err(()) => Err(LockError::Timeout),
        }
    }

    /// Takes the lock, sleeping while a live holder has it. A holder that
    /// died holding it is taken over within a liveness tick:
    /// [`LockError::OwnerDied`] with the guard.
    pub fn lock(&self) -> LockResult<'_, T> {
        self.lock_within(Limit::Forever)
    }

    /// [`lock`](Self::lock) for at most `timeout`: [`LockError::Timeout`]
    /// after.
    pub fn lock_timeout(&self, timeout: Duration) -> LockResult<'_, T> {
        self.lock_within(Limit::Timeout(timeout))
    }

    /// Takes the lock if it is free: [`LockError::WouldBlock`] if held. A
    /// dead holder is found only by the waiting forms (judging one takes a
    /// syscall and a liveness tick).
    pub fn try_lock(&self) -> LockResult<'_, T> {
        if !self.attachment.is_marked() {
            return Err(LockError::OtherProcess);
        }
        match self.robust_lock().try_acquire(false) {
            Ok(acquired) => self.guard(acquired),
            Err(_) => Err(LockError::WouldBlock),
        }
    }

    /// The segment's name.
    pub fn name(&self) -> &str {
        self.attachment.storage().name()
    }

    /// The value's place in the segment: the slot area, which holds one
    /// `UnsafeCell<T>` (validated layout, `Storage` promise 2).
    fn value_ptr(&self) -> *mut T {
        self.attachment.storage().slot_area().as_ptr().cast::<T>()
    }
}

impl<T: Pod> Drop for Shared<T> {
    fn drop(&mut self) {
        // As a ring endpoint: the last handle out removes the name.
        let user = self.attachment.used_here();
        let detached = self.attachment.mark_detached();
        if user {
            self.attachment.storage().remove_if_last(detached);
        }
    }
}

impl<T: Pod> std::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("name", &self.name())
            .field("row", &self.attachment.own_row())
            .finish()
    }
}

/// Refuses the ring options, which mean nothing for a shared value.
fn check_shared_options(opts: &Options) -> Result<(), OpenError> {
    crate::options::refuse_set(
        &[
            ("capacity", opts.capacity.is_some()),
            ("waiter", opts.waiter.is_some()),
            ("wait_strategy", opts.wait_strategy.is_some()),
            ("max_frame", opts.max_frame.is_some()),
            ("overflow", opts.overflow.is_some()),
            ("release_each_frame", opts.release_each_frame.is_some()),
        ],
        "a shared value",
    )
}

/// The lock, held: dereferences to the `T`. Dropping it unlocks; a drop
/// during a panic unlocks with the data marked inconsistent, so that the
/// next holder is told ([`LockError::OwnerDied`]) as after a death.
///
/// `*guard` is a reference into shared memory, which a peer that ignores
/// the lock (or is hostile) can write while we hold it: the contents may
/// change under the reference (never to an invalid `T`, as `T: Pod`). Use
/// [`get`](Self::get) and [`set`](Self::set), one copy each through a raw
/// pointer, when the other processes are not trusted (SAFETY.md §1).
pub struct SharedGuard<'a, T: Pod> {
    shared: &'a Shared<T>,
    /// Whether the unlock marks the data consistent.
    consistent: bool,
    /// A futex lock is the holder's to give back: keep the guard on the
    /// thread that took it, as std's `MutexGuard` does.
    _not_send: PhantomData<*const ()>,
}

impl<T: Pod> SharedGuard<'_, T> {
    /// Marks the data consistent (repaired after a holder died): the next
    /// lock is clean. A guard from a clean lock is consistent already.
    pub fn mark_consistent(&mut self) {
        self.consistent = true;
    }

    /// Whether this guard's unlock will mark the data consistent.
    pub fn is_consistent(&self) -> bool {
        self.consistent
    }

    /// A copy of the value, read once through a raw pointer.
    pub fn get(&self) -> T {
        // SAFETY: the pointer is the slot area's, aligned for `T` and
        // holding one `T` (Storage promise 2; the layout was validated for
        // `T`); `T: Pod` is valid for any bytes, so even bytes a peer is
        // writing read as some `T`; volatile: one read the compiler cannot
        // assume stable or repeat.
        unsafe { self.shared.value_ptr().read_volatile() }
    }

    /// Writes `value`, once through a raw pointer.
    pub fn set(&mut self, value: T) {
        // SAFETY: as in `get`: in bounds and aligned for one `T`; the lock
        // makes us its only honest writer.
        unsafe { self.shared.value_ptr().write_volatile(value) }
    }
}

impl<T: Pod> Deref for SharedGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: in bounds, aligned, one `T` (see `get`); every byte
        // pattern is a `T`; the lock gives this guard the only honest
        // access while it lives, and the reference borrows the guard. A
        // peer ignoring the lock is the documented caveat above.
        unsafe { &*self.shared.value_ptr() }
    }
}

impl<T: Pod> DerefMut for SharedGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for `deref`; `&mut self` makes the reference unique
        // within this process (one guard per lock, one handle per thread).
        unsafe { &mut *self.shared.value_ptr() }
    }
}

impl<T: Pod> Drop for SharedGuard<'_, T> {
    fn drop(&mut self) {
        // A panic between the halves of an update leaves them apart, as a
        // death would: the next holder is told (std's `Mutex` poisons).
        let consistent = self.consistent && !std::thread::panicking();
        self.shared.robust_lock().release(consistent);
    }
}

impl<T: Pod> std::fmt::Debug for SharedGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedGuard")
            .field("name", &self.shared.name())
            .field("consistent", &self.consistent)
            .finish()
    }
}
