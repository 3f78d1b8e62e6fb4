//! The rings, and the plumbing every ring kind shares: making or finding
//! the segment, claiming a role, and the typed view of its slots.

pub(crate) mod index;
pub mod spsc;

use std::marker::PhantomData;
use std::ptr::NonNull;

use bytemuck::Pod;

use crate::error::OpenError;
use crate::options::{DEFAULT_CAPACITY, Options};
use crate::peer::{Attachment, Role};
use crate::segment::{Header, Heap, Layout, RingControl, RingKind, Storage};
use crate::sync::UnsafeCell;
use index::Capacity;

/// How an endpoint finds its segment.
#[cfg(not(shmlane_loom))]
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source<'a> {
    /// Make a new named segment.
    Create(&'a str),
    /// Attach to an existing named segment.
    Open(&'a str),
}

/// One endpoint's typed view of a segment's header and slots.
pub(crate) struct RingMemory<T> {
    header: NonNull<Header>,
    slots: NonNull<UnsafeCell<T>>,
    capacity: Capacity,
    // Declared last: dropped after nothing can use the pointers above.
    attachment: Attachment,
    _slots: PhantomData<T>,
}

// SAFETY: the pointers target the storage owned by `attachment` (Send);
// moving the endpoint to another thread moves its only user of them, and
// values of `T: Send` cross threads.
unsafe impl<T: Send> Send for RingMemory<T> {}

impl<T: Pod> RingMemory<T> {
    /// The typed view of `attachment`'s storage, whose header was validated
    /// (or written) for `layout`, itself made for `T`.
    pub(crate) fn new(attachment: Attachment, layout: &Layout) -> Self {
        let storage = attachment.storage();
        Self {
            header: NonNull::from(storage.header()),
            slots: storage.slot_area().cast(),
            capacity: layout.capacity,
            attachment,
            _slots: PhantomData,
        }
    }

    /// A named segment, created or opened for `role`.
    #[cfg(not(shmlane_loom))]
    pub(crate) fn named(
        source: Source<'_>,
        kind: RingKind,
        role: Role,
        opts: &Options,
    ) -> Result<Self, OpenError> {
        use crate::segment::Mapping;
        let capacity = opts.capacity.unwrap_or(DEFAULT_CAPACITY);
        let wanted = Layout::for_slots::<T>(kind, capacity, opts.schema_id)?;
        let (mapping, layout) = match source {
            Source::Create(name) => (Mapping::create_shm(name, &wanted, opts)?, wanted),
            Source::Open(name) => Mapping::open_shm(name, &wanted, opts.capacity.is_some(), opts)?,
        };
        Ok(Self::new(
            Attachment::claim(Box::new(mapping), role)?,
            &layout,
        ))
    }

    /// Two endpoints over a new anonymous memfd segment, each with its own
    /// open file description (so each holds its own role lock).
    #[cfg(not(shmlane_loom))]
    pub(crate) fn memfd_pair(
        kind: RingKind,
        roles: (Role, Role),
        opts: &Options,
    ) -> Result<(Self, Self), OpenError> {
        use crate::segment::Mapping;
        opts.check_anonymous("an anonymous (memfd) pair")?;
        let capacity = opts.capacity.unwrap_or(DEFAULT_CAPACITY);
        let layout = Layout::for_slots::<T>(kind, capacity, opts.schema_id)?;
        let first = Mapping::create_memfd(&layout)?;
        let (second, _) = first.reopen(&layout)?;
        Ok((
            Self::new(Attachment::claim(Box::new(first), roles.0)?, &layout),
            Self::new(Attachment::claim(Box::new(second), roles.1)?, &layout),
        ))
    }

    /// Two endpoints over a new heap segment (one process).
    pub(crate) fn heap_pair(
        kind: RingKind,
        roles: (Role, Role),
        opts: &Options,
    ) -> Result<(Self, Self), OpenError>
    where
        T: Send,
    {
        opts.check_anonymous("an in-process (heap) pair")?;
        let capacity = opts.capacity.unwrap_or(DEFAULT_CAPACITY);
        let layout = Layout::for_slots::<T>(kind, capacity, opts.schema_id)?;
        let first = Heap::<T>::create(&layout)?;
        // The same validator as for a mapping: one path for every storage.
        let layout = Storage::header(&first)
            .validate_published(first.name(), &layout, true, layout.segment_len)?
            .ok_or_else(|| OpenError::InvalidConfig("heap header not published".into()))?;
        let second = first.share();
        Ok((
            Self::new(Attachment::claim(Box::new(first), roles.0)?, &layout),
            Self::new(Attachment::claim(Box::new(second), roles.1)?, &layout),
        ))
    }

    /// The segment's header.
    #[inline(always)]
    pub(crate) fn header(&self) -> &Header {
        // SAFETY: `header` came from the storage owned by `attachment`, which
        // promises (Storage, point 1) that it lives and stays put as long as
        // the storage does; `self` owns the attachment.
        unsafe { self.header.as_ref() }
    }

    /// The ring indices.
    #[inline(always)]
    pub(crate) fn control(&self) -> &RingControl {
        &self.header().ring
    }

    /// The capacity, as validated at attach.
    #[inline(always)]
    pub(crate) fn capacity(&self) -> Capacity {
        self.capacity
    }

    /// The cell of the slot holding `position`.
    #[inline(always)]
    pub(crate) fn slot(&self, position: u64) -> &UnsafeCell<T> {
        let index = self.capacity.slot(position);
        // SAFETY: `index < capacity` (masked), and the slot area holds
        // `capacity` cells (Storage, point 2), so the offset stays inside it.
        let cell = unsafe { self.slots.add(index) };
        // SAFETY: `cell` points to an initialised `UnsafeCell<T>` that lives
        // as long as the storage, which `self` owns.
        unsafe { cell.as_ref() }
    }

    /// Pointer to the first of `len` consecutive slots from `index`, for the
    /// chunk API. `index + len <= capacity` must hold (from `Capacity::split`).
    #[cfg(not(shmlane_loom))]
    #[inline(always)]
    pub(crate) fn slot_run(&self, index: usize, len: usize) -> NonNull<T> {
        debug_assert!(index as u64 + len as u64 <= self.capacity.get());
        // SAFETY: `index <= capacity` (caller, via `split`), so the result is
        // within or one past the slot area; `UnsafeCell<T>` has `T`'s layout
        // outside loom.
        unsafe { self.slots.add(index).cast() }
    }

    /// The segment's name, for messages.
    pub(crate) fn name(&self) -> &str {
        self.attachment.storage().name()
    }
}
