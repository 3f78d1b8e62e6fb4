//! The rings, and the plumbing every ring kind shares: making or finding
//! the segment, claiming a role, the typed view of its slots, waking and
//! detaching.

pub mod bytes;
mod endpoint;
pub(crate) mod item;
pub mod mpmc;
pub mod spsc;

pub use endpoint::Stats;
pub(crate) use endpoint::endpoint_accessors;

use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::time::Instant;

use bytemuck::Pod;

use crate::error::{Corruption, OpenError};
use crate::index::Capacity;
use crate::options::{
    DEFAULT_CAPACITY, DEFAULT_PARTICIPANTS, Options, WaitStrategy, Waiter, refuse_set,
};
#[cfg(all(feature = "tokio", not(shmlane_loom)))]
use crate::segment::peer::PeerProbe;
use crate::segment::peer::{Attachment, PeerStatus, Role};
use crate::segment::{
    Counters, Events, FreshCell, Header, Heap, IndexLine, Layout, RingKind, Storage, Strict,
    WakeWord,
};
use crate::sync::AtomicU64;
use crate::sync::{Ordering, UnsafeCell};
use crate::wait::{self, Signal, barrier};

/// How an endpoint finds its segment.
#[cfg(not(shmlane_loom))]
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source<'a> {
    /// Make a new named segment, replacing a stale one of that name
    /// (`AlreadyExists` naming the live pids if it is in use).
    Create(&'a str),
    /// Attach to an existing named segment (taking over a dead endpoint's
    /// role; its unread items are still there).
    Open(&'a str),
    /// Attach to the named segment if it is in use or was made to persist,
    /// else make it anew (replacing a stale one: a new session never sees
    /// a dead one's items). Opens with these options, creates with the
    /// call's.
    OpenOrCreate(&'a str, &'a Options),
}

/// Times an endpoint looks a name up again when the segment it found was
/// removed under it (each needs another process removing or replacing it).
#[cfg(not(shmlane_loom))]
const ATTACH_ATTEMPTS: usize = 4;

/// Non-blocking calls that find nothing to do between two liveness checks
/// of their own (one `F_OFD_GETLK` syscall): a polling loop learns of a
/// dead peer within this many empty (or full) polls.
pub(crate) const IDLE_POLLS_PER_CHECK: u32 = 1024;

/// What a blocked call found when its wait ended (other than its deadline
/// passing): the one answer of every ring kind's readiness checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// The condition may hold now: retry the operation (which re-checks).
    Ready,
    /// The peer (every peer, for MPMC) is gone: the caller drains what is
    /// left, then reports `Disconnected`.
    Disconnected,
    /// The segment holds an impossible value: the caller poisons itself.
    Corrupted(Corruption),
}

/// One endpoint's typed view of a segment's header and slots; `S` is the
/// ring kind's slot cell (a plain `UnsafeCell<T>`, or MPMC's stamped slot).
pub(crate) struct RingMemory<T, S = UnsafeCell<T>> {
    header: NonNull<Header>,
    slots: NonNull<S>,
    /// The validated layout: kind-specific limits (a byte ring's max
    /// frame), and what another endpoint on the same segment needs.
    layout: Layout,
    capacity: Capacity,
    waiter: Waiter,
    /// Whether this process may publish with the light fence.
    light: bool,
    role: Role,
    /// The first corruption this endpoint met; once set, every operation
    /// returns it (see [`poison`](Self::poison)).
    poisoned: Option<Corruption>,
    /// Non-blocking calls that found nothing to do (empty or full) since
    /// the last liveness check they triggered (see
    /// [`idle_poll_found_peer_gone`](Self::idle_poll_found_peer_gone)).
    idle_polls: u32,
    /// When a blocking call of this endpoint last checked the peer's
    /// liveness: a timed call shorter than a liveness tick checks on its
    /// way out once the last check is a tick old (see `block_until`).
    peer_checked_at: Cell<Option<Instant>>,
    /// What the memory options did to this endpoint's mapping (set by the
    /// constructors that apply them, `named` and `memfd_pair`).
    memory: crate::MemoryReport,
    // Declared last: dropped after nothing can use the pointers above.
    attachment: Attachment,
    _slots: PhantomData<(T, S)>,
}

// SAFETY: the pointers target the storage owned by `attachment` (Send);
// moving the endpoint to another thread moves its only user of them, and
// values of `T: Send` cross threads (the cells hold `T`s).
unsafe impl<T: Send, S> Send for RingMemory<T, S> {}

impl<T: Pod, S> RingMemory<T, S> {
    /// The typed view of `attachment`'s storage, whose header was validated
    /// (or written) for `layout`, itself made for `T` in cells `S`.
    pub(crate) fn new(attachment: Attachment, layout: &Layout, role: Role) -> Self {
        let storage = attachment.storage();
        let ring = Self {
            header: NonNull::from(storage.header()),
            slots: storage.slot_area().cast(),
            layout: layout.clone(),
            capacity: layout.capacity,
            waiter: layout.waiter,
            light: barrier::register_publisher(),
            role,
            poisoned: None,
            idle_polls: 0,
            peer_checked_at: Cell::new(None),
            memory: crate::MemoryReport::default(),
            attachment,
            _slots: PhantomData,
        };
        // Before this endpoint can sleep (and before the threads or
        // processes it is handed to publish): a process whose sleepers run
        // no membarrier marks its wake word HEAVY (SAFETY.md §5).
        ring.wait_signal().note_sleeper();
        ring
    }

    /// The two ends of an anonymous pair.
    fn pair_over(
        first: Box<dyn Storage>,
        second: Box<dyn Storage>,
        layout: &Layout,
        roles: (Role, Role),
    ) -> Result<(Self, Self), OpenError> {
        let mut ends = (
            Self::claimed(first, layout, roles.0)?,
            Self::claimed(second, layout, roles.1)?,
        );
        ends.0.attachment.set_paired();
        ends.1.attachment.set_paired();
        Ok(ends)
    }

    /// Claims `role` in `storage` (a participant row if the layout has a
    /// table) and builds the view.
    fn claimed(storage: Box<dyn Storage>, layout: &Layout, role: Role) -> Result<Self, OpenError> {
        let attachment = match layout.participants {
            0 => Attachment::claim(storage, role)?,
            rows => Attachment::claim_participant(storage, role, rows)?,
        };
        let ring = Self::new(attachment, layout, role);
        // The row's previous holder died asleep: its count is off now.
        if let Some(sleeper) = ring.attachment.take_inherited_sleeper() {
            ring.release_sleepers(sleeper, 1);
        }
        Ok(ring)
    }

    /// Another endpoint of `role` on this segment, with its own hold on it
    /// (its own open file description and row): MPMC's `try_clone`.
    pub(crate) fn duplicate(&self, role: Role) -> Result<Self, OpenError> {
        let storage = self.attachment.storage().duplicate(&self.layout)?;
        let mut twin = Self::claimed(storage, &self.layout, role)?;
        if self.attachment.is_paired() {
            twin.attachment.set_paired();
        }
        Ok(twin)
    }

    fn expected_layout(kind: RingKind, opts: &Options) -> Result<Layout, OpenError> {
        if kind != RingKind::Bytes {
            opts.check_typed_slots()?;
        }
        let waiter = opts.waiter.unwrap_or_default();
        if kind == RingKind::Bytes {
            return bytes::layout(opts, waiter);
        }
        let capacity = opts.capacity.unwrap_or(DEFAULT_CAPACITY);
        let participants = match kind {
            RingKind::Mpmc => {
                if waiter == Waiter::Semaphore {
                    // Its words count one sleeper's units: with several
                    // sleepers on a word, one entering `prepare` drains the
                    // unit posted for one already parked, and a disconnect
                    // posts one unit for N sleepers (issue 14, defect 2).
                    return Err(OpenError::InvalidConfig(
                        "the semaphore waiter has one sleeper per wake word; an MPMC ring \
                         has many: use Waiter::EventCount"
                            .into(),
                    ));
                }
                let limit = opts.participants.unwrap_or(DEFAULT_PARTICIPANTS);
                if limit == 0 {
                    return Err(OpenError::InvalidConfig(
                        "an MPMC ring needs at least 1 participant".into(),
                    ));
                }
                limit
            }
            _ => {
                refuse_set(
                    &[("participants", opts.participants.is_some())],
                    "this ring kind: only MPMC rings have participants",
                )?;
                0
            }
        };
        let (layout, stride) = match opts.slot_shape {
            // Raw endpoints (`T` is `()`): the shape given at run time.
            Some(shape) if size_of::<T>() == 0 => {
                let slot = (shape.size(), shape.align(), item::RAW_TYPE_NAME);
                let layout = Layout::for_sized_slots(kind, capacity, slot, opts.schema_id, waiter)?;
                (layout, item::raw_cell(kind, shape).stride)
            }
            _ => {
                let layout = Layout::for_slots::<T>(kind, capacity, opts.schema_id, waiter)?;
                (layout, size_of::<S>())
            }
        };
        layout.with_cells(stride, participants)
    }

    /// A named segment, created or opened for `role`, marked attached.
    #[cfg(not(shmlane_loom))]
    pub(crate) fn named(
        source: Source<'_>,
        kind: RingKind,
        role: Role,
        opts: &Options,
    ) -> Result<Self, OpenError> {
        let mut ring = Self::named_unmarked(source, kind, role, opts)?;
        ring.ensure_attached();
        Ok(ring)
    }

    /// A named segment, created or opened for `role`, with its indices
    /// validated but not marked attached: it marks itself at first use, in
    /// the process that uses it, as the ends of a pair do (the transports
    /// hand such ends across `fork`).
    #[cfg(not(shmlane_loom))]
    pub(crate) fn named_unmarked(
        source: Source<'_>,
        kind: RingKind,
        role: Role,
        opts: &Options,
    ) -> Result<Self, OpenError> {
        let name = match source {
            Source::Create(name) | Source::Open(name) | Source::OpenOrCreate(name, _) => name,
        };
        for _ in 0..ATTACH_ATTEMPTS {
            if let Some(ring) = Self::attach_named(source, kind, role, opts)? {
                return Ok(ring);
            }
        }
        Err(OpenError::NotFound {
            name: name.to_owned(),
        })
    }

    /// One attempt of [`named_unmarked`](Self::named_unmarked): `None` if
    /// the segment was removed (or the name freed) under us.
    #[cfg(not(shmlane_loom))]
    fn attach_named(
        source: Source<'_>,
        kind: RingKind,
        role: Role,
        opts: &Options,
    ) -> Result<Option<Self>, OpenError> {
        use crate::segment::Mapping;
        use crate::segment::registry::{Occupant, clear_stale};
        let wanted = Self::expected_layout(kind, opts)?;
        let open = |name: &str, opts: &Options| {
            let expected = Self::expected_layout(kind, opts)?;
            Mapping::open_shm(name, &expected, Strict::from_options(opts), opts)
        };
        let (mapping, layout) = match source {
            Source::Open(name) => open(name, opts)?,
            Source::Create(name) | Source::OpenOrCreate(name, _) => {
                let resume = matches!(source, Source::OpenOrCreate(..));
                match Mapping::create_shm(name, &wanted, opts) {
                    Ok(mapping) => (mapping, wanted),
                    Err(OpenError::AlreadyExists { .. }) => {
                        match (source, clear_stale(name, resume)) {
                            (_, Occupant::Gone) => return Ok(None),
                            (Source::OpenOrCreate(_, open_opts), _) => {
                                match open(name, open_opts) {
                                    Err(OpenError::NotFound { .. }) => return Ok(None),
                                    opened => opened?,
                                }
                            }
                            (_, Occupant::Live(pids)) => {
                                return Err(OpenError::AlreadyExists {
                                    name: name.to_owned(),
                                    pids,
                                    reason: String::new(),
                                });
                            }
                            (_, Occupant::Persistent) => {
                                return Err(OpenError::AlreadyExists {
                                    name: name.to_owned(),
                                    pids: Vec::new(),
                                    reason: "it was made to persist".to_owned(),
                                });
                            }
                            (_, Occupant::Other(reason)) => {
                                return Err(OpenError::AlreadyExists {
                                    name: name.to_owned(),
                                    pids: Vec::new(),
                                    reason,
                                });
                            }
                        }
                    }
                    Err(other) => return Err(other),
                }
            }
        };
        let memory = crate::segment::apply_memory_policy(&mapping, opts)?;
        let mut ring = Self::claimed(Box::new(mapping), &layout, role)?;
        ring.memory = memory;
        // Holding our lock now: a removal that judged the segment unused
        // before it was taken has finished, and shows in the link count.
        if !ring.attachment.storage().still_named()? {
            return Ok(None);
        }
        // Attached only once its indices have validated, so that an opener
        // refused as corrupted never marks or detaches anything. An MPMC
        // ring's head and tail are hints that may be apart by more than the
        // capacity, or cross, for a moment (a receiver can move the head
        // hint past a sender that has not yet moved the tail hint): its
        // endpoints validate the slots' stamps instead.
        if layout.participants == 0 {
            ring.positions()?;
        }
        Ok(Some(ring))
    }

    /// Two endpoints over a new anonymous memfd segment, each with its own
    /// open file description (so each holds its own role lock). They mark
    /// themselves attached at first use, in the process that uses them.
    #[cfg(not(shmlane_loom))]
    pub(crate) fn memfd_pair(
        kind: RingKind,
        roles: (Role, Role),
        opts: &Options,
    ) -> Result<(Self, Self), OpenError> {
        use crate::segment::Mapping;
        opts.check_anonymous("an anonymous (memfd) pair")?;
        let layout = Self::expected_layout(kind, opts)?;
        let first = Mapping::create_memfd(&layout)?;
        let (second, _) = first.reopen(&layout)?;
        let apply = |m| crate::segment::apply_memory_policy(m, opts);
        let memory = (apply(&first)?, apply(&second)?);
        let mut ends = Self::pair_over(Box::new(first), Box::new(second), &layout, roles)?;
        (ends.0.memory, ends.1.memory) = memory;
        Ok(ends)
    }

    /// Two endpoints over a new heap segment (one process).
    pub(crate) fn heap_pair(
        kind: RingKind,
        roles: (Role, Role),
        opts: &Options,
    ) -> Result<(Self, Self), OpenError>
    where
        T: Send,
        S: FreshCell + Send + 'static,
    {
        opts.check_anonymous("an in-process (heap) pair")?;
        if opts.slot_shape.is_some() {
            // The heap storage allocates cells of `S`, not of a run-time
            // stride: raw endpoints exist over mapped segments only.
            return Err(OpenError::InvalidConfig(
                "raw (run-time sized) endpoints need a named or memfd segment".into(),
            ));
        }
        opts.check_no_memory_policy("an in-process (heap) pair: it is not shared memory")?;
        let layout = Self::expected_layout(kind, opts)?;
        let first = Heap::<S>::create(&layout)?;
        // The same validator as for a mapping: one path for every storage.
        let layout = Storage::header(&first)
            .validate_published(first.name(), &layout, Strict::EXACT, layout.segment_len)?
            .ok_or_else(|| OpenError::InvalidConfig("heap header not published".into()))?;
        let second = first.share();
        Self::pair_over(Box::new(first), Box::new(second), &layout, roles)
    }

    /// Reads both indices once (for an endpoint's start) and checks they
    /// are at most `capacity` apart.
    pub(crate) fn positions(&self) -> Result<(u64, u64), OpenError> {
        // SYNC: spsc-release, bytes-release (Acquire: the last consumer is
        // done with everything before `head`)
        let head = self.head().load(Ordering::Acquire);
        // SYNC: spsc-publish, bytes-publish (Acquire: the last producer's
        // writes before `tail` are visible)
        let tail = self.tail().load(Ordering::Acquire);
        self.capacity
            .occupied(head, tail)
            .map(|_| (head, tail))
            .map_err(|corruption| OpenError::Corrupted {
                name: self.name().to_owned(),
                corruption,
            })
    }

    /// The segment's header.
    #[inline(always)]
    pub(crate) fn header(&self) -> &Header {
        // SAFETY: `header` came from the storage owned by `attachment`, which
        // promises (Storage, point 1) that it lives and stays put as long as
        // the storage does; `self` owns the attachment.
        unsafe { self.header.as_ref() }
    }

    /// The consumer's index (next position to read).
    #[inline(always)]
    pub(crate) fn head(&self) -> &AtomicU64 {
        &self.header().ring.head.position
    }

    /// The producer's index (next position to write).
    #[inline(always)]
    pub(crate) fn tail(&self) -> &AtomicU64 {
        &self.header().ring.tail.position
    }

    /// This endpoint's wait counter (on the line of the index it writes).
    #[inline(always)]
    pub(crate) fn own_waits(&self) -> &AtomicU64 {
        &self.own_line().waits
    }

    /// The line of the index this endpoint writes, with its side's counters.
    #[inline(always)]
    fn own_line(&self) -> &IndexLine {
        side_line(self.header(), self.role)
    }

    /// This side's syscall counters.
    #[inline(always)]
    pub(crate) fn counters(&self) -> &Counters {
        &self.own_line().syscalls
    }

    /// The ring's rare-event counters (drops, skipped, recovered).
    #[inline(always)]
    pub(crate) fn events(&self) -> &Events {
        &self.header().ring.events
    }

    /// Counts a non-blocking call that found the ring full (producer) or
    /// empty (consumer); every [`IDLE_POLLS_PER_CHECK`] of them adds them
    /// to this side's `hits` (one add on its own line) and returns `true`:
    /// time for a liveness check.
    #[cold]
    pub(crate) fn count_idle_poll(&mut self) -> bool {
        self.idle_polls += 1;
        if self.idle_polls < IDLE_POLLS_PER_CHECK {
            return false;
        }
        self.flush_hits();
        true
    }

    /// Adds the idle polls counted since the last flush to `hits`.
    fn flush_hits(&mut self) {
        let mut polls = std::mem::take(&mut self.idle_polls);
        add_hits(self.own_line(), &mut polls);
    }

    /// The wake word this endpoint sleeps on, and the one it notifies.
    #[inline(always)]
    fn wake_words(&self) -> (&WakeWord, &WakeWord) {
        let wake = &self.header().ring.wake;
        match self.role {
            Role::Producer => (&wake.not_full, &wake.not_empty),
            Role::Consumer => (&wake.not_empty, &wake.not_full),
        }
    }

    /// The signal this endpoint sleeps on (the peer's index moving).
    #[inline(always)]
    pub(crate) fn wait_signal(&self) -> Signal<'_> {
        let (own, _) = self.wake_words();
        Signal::new(self.waiter, &own.event, &own.sem).marked(self.attachment.sleeper_mark())
    }

    /// The one blocking helper of every ring kind: waits on this endpoint's
    /// wake word, as `strategy` says, until `ready` answers (returned) or
    /// `deadline` passes (`None`). `ready` must be cheap and re-read what
    /// it checks; `check_peers` runs about every liveness tick and may
    /// record a dead peer for the next `ready` to see.
    ///
    /// The wait loop checks the peer once per liveness tick of one call; a
    /// caller that loops on timed calls shorter than a tick would never
    /// reach that check, so a call about to report its timeout checks once
    /// more when this endpoint's last check is a tick old: a peer dead for
    /// a tick is reported before one more `Timeout`.
    pub(crate) fn block_until(
        &self,
        strategy: WaitStrategy,
        deadline: Option<Instant>,
        mut ready: impl FnMut() -> Option<Wake>,
        mut check_peers: impl FnMut(),
    ) -> Option<Wake> {
        let signal = self.wait_signal();
        let waits = self.own_waits();
        // A named segment shrunk under our mapping (a peer's ftruncate):
        // found at the liveness tick, before the caller touches a slot.
        let shrunk: Cell<Option<Corruption>> = Cell::new(None);
        let mut ready = || match shrunk.get() {
            Some(corruption) => Some(Wake::Corrupted(corruption)),
            None => ready(),
        };
        let mut checked = || {
            if !cfg!(shmlane_loom) {
                self.peer_checked_at.set(Some(Instant::now()));
            }
            shrunk.set(self.liveness_tick(&mut check_peers));
        };
        let counters = self.counters();
        let outcome = wait::wait_until(
            signal,
            strategy,
            deadline,
            counters,
            waits,
            &mut ready,
            &mut checked,
        );
        if outcome.is_some() || cfg!(shmlane_loom) {
            return outcome;
        }
        let stale = self
            .peer_checked_at
            .get()
            .is_none_or(|at| at.elapsed() >= wait::LIVENESS_TICK);
        if !stale {
            return None;
        }
        checked();
        // Only a gone peer changes the answer: anything else stays a
        // timeout (the deadline has passed).
        ready().filter(|wake| *wake == Wake::Disconnected)
    }

    /// For a non-blocking call that found nothing to do (an empty or full
    /// ring): every [`IDLE_POLLS_PER_CHECK`] such calls, look for a dead
    /// peer (a syscall), so that a loop of non-blocking calls learns of a
    /// SIGKILLed peer as blocking calls do. Returns whether the peer is
    /// recorded as gone. Only the idle path pays: no shared load or store
    /// is added to a call that moves an item.
    #[cold]
    pub(crate) fn idle_poll_found_peer_gone(&mut self) -> bool {
        if self.count_idle_poll() {
            self.check_peer_alive();
        }
        self.peer_gone()
    }

    /// [`block_until`](Self::block_until) for a one-to-one ring: ready when
    /// the peer is gone or `progress` (a re-read of the peer's index) says
    /// the operation can go on; the peer's role lock is the liveness check.
    pub(crate) fn block_until_progress(
        &self,
        strategy: WaitStrategy,
        deadline: Option<Instant>,
        mut progress: impl FnMut() -> Result<bool, Corruption>,
    ) -> Option<Wake> {
        let ready = || {
            if self.peer_gone() {
                return Some(Wake::Disconnected);
            }
            match progress() {
                Ok(true) => Some(Wake::Ready),
                Ok(false) => None,
                Err(corruption) => Some(Wake::Corrupted(corruption)),
            }
        };
        self.block_until(strategy, deadline, ready, || self.check_peer_alive())
    }

    /// After publishing our index: wake the peer if it sleeps.
    #[inline(always)]
    pub(crate) fn notify_peer(&self) {
        let (_, peer) = self.wake_words();
        Signal::new(self.waiter, &peer.event, &peer.sem).notify(self.light, self.counters());
    }

    /// Takes `n` sleepers off the wake word endpoints of `role` sleep on:
    /// those dead MPMC participants left counted (the caller took their
    /// sleeper marks). A saturated count stays saturated.
    pub(crate) fn release_sleepers(&self, role: Role, n: u32) {
        if n == 0 {
            return;
        }
        let (own, peer) = self.wake_words();
        let word = if role == self.role { own } else { peer };
        Signal::new(self.waiter, &word.event, &word.sem).release_sleepers(n);
    }

    /// The slot size and alignment of the layout validated at attach.
    #[cfg(not(shmlane_loom))]
    #[inline(always)]
    pub(crate) fn slot_shape(&self) -> crate::options::SlotShape {
        crate::options::SlotShape::recorded(self.layout.slot_size, self.layout.slot_align)
    }

    /// The layout validated at attach.
    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Wakes one sleeper of this endpoint's own word, if one is announced
    /// (MPMC: an endpoint that waited and then found more ready than the
    /// one it took hands the rest on; see SAFETY.md §5, "one wake per
    /// item").
    #[cold]
    pub(crate) fn notify_own(&self) {
        self.wait_signal().notify(self.light, self.counters());
    }

    /// After a change both directions may wait for (MPMC undoing a dead
    /// endpoint's claim): wake sleepers of either.
    #[cold]
    pub(crate) fn notify_both(&self) {
        let (own, peer) = self.wake_words();
        for word in [own, peer] {
            Signal::new(self.waiter, &word.event, &word.sem).notify(self.light, self.counters());
        }
    }

    /// The capacity, as validated at attach.
    #[inline(always)]
    pub(crate) fn capacity(&self) -> Capacity {
        self.capacity
    }

    /// The cell of the slot holding `position`.
    #[inline(always)]
    pub(crate) fn slot(&self, position: u64) -> &S {
        let cell = if size_of::<T>() == 0 {
            // Raw endpoints: cells are `slot_stride` bytes apart (a run-time
            // value), not `size_of::<S>()` (decided at compile time).
            self.slot_start(position).cast::<S>()
        } else {
            let index = self.capacity.slot(position);
            // SAFETY: `index < capacity` (masked), and the slot area holds
            // `capacity` cells (Storage, point 2), so the offset stays inside it.
            unsafe { self.slots.add(index) }
        };
        // SAFETY: `cell` points to an initialised `UnsafeCell<T>` that lives
        // as long as the storage, which `self` owns.
        unsafe { cell.as_ref() }
    }

    /// The first byte of the cell of the slot holding `position`, `layout.
    /// slot_stride` bytes per slot from the start of the slot area, with the
    /// slot area's provenance (the raw endpoints copy records through it).
    #[inline(always)]
    pub(crate) fn slot_start(&self, position: u64) -> NonNull<u8> {
        let index = self.capacity.slot(position);
        let offset = index * self.layout.slot_stride as usize;
        // SAFETY: `index < capacity` (masked) and the slot area holds
        // `capacity` cells of `slot_stride` bytes (Storage, point 2; the
        // layout was validated at attach), so the offset stays inside it.
        unsafe { self.slots.cast::<u8>().add(offset) }
    }

    /// Asks the CPU to start fetching the cache line of the slot holding
    /// `position`, so that a consumer streaming through published slots
    /// overlaps the cross-core misses of the lines ahead instead of taking
    /// them one frame at a time. Only a hint: no memory is accessed, and
    /// nothing changes where it is not supported (loom, Miri, other
    /// architectures). Callers prefetch only published slots, never one
    /// the producer may still be writing: that would pull the line away
    /// from it mid-write.
    #[inline(always)]
    pub(crate) fn prefetch(&self, position: u64) {
        #[cfg(all(target_arch = "x86_64", not(shmlane_loom), not(miri)))]
        {
            let index = self.capacity.slot(position);
            let line = self.slots.as_ptr().wrapping_add(index).cast::<i8>();
            // SAFETY: SSE, which `_mm_prefetch` requires, is part of the
            // x86_64 baseline; a prefetch reads no memory architecturally
            // and cannot fault, whatever the address.
            unsafe {
                core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(line);
            }
        }
        #[cfg(not(all(target_arch = "x86_64", not(shmlane_loom), not(miri))))]
        let _ = position;
    }

    /// Whether the fast paths may run: the endpoint is marked attached in
    /// this process and not poisoned (one check for both).
    #[inline(always)]
    pub(crate) fn usable(&self) -> bool {
        self.poisoned.is_none() && self.attachment.is_marked()
    }

    /// The corruption that poisoned this endpoint, if any. Endpoints call
    /// this on their slow paths only: poisoning also sends the fast paths
    /// there (each ring kind arranges that).
    #[inline]
    pub(crate) fn poisoned(&self) -> Result<(), Corruption> {
        self.poisoned.map_or(Ok(()), Err)
    }

    /// Whether the endpoint is poisoned (for the inline refreshes, which
    /// must then leave the work to the slow path).
    #[inline(always)]
    pub(crate) fn is_poisoned(&self) -> bool {
        self.poisoned.is_some()
    }

    /// Records `found` as the endpoint's poison and returns the corruption
    /// every later call must report: the first one found, so that a peer
    /// rewriting the segment cannot make the error change or go away.
    #[cold]
    pub(crate) fn poison(&mut self, found: Corruption) -> Corruption {
        *self.poisoned.get_or_insert(found)
    }

    /// The segment's name, for messages.
    pub(crate) fn name(&self) -> &str {
        self.attachment.storage().name()
    }

    /// Marks this endpoint attached if this process has not yet: named
    /// endpoints at open, anonymous pairs at first use (so that the ends a
    /// forked parent or child does not use are never marked, and dropping
    /// them detaches nothing). A replacement of a dead endpoint also clears
    /// the sleepers the dead one may have left on its wait signal.
    /// Whether this process has marked the endpoint attached.
    #[inline(always)]
    pub(crate) fn is_attached(&self) -> bool {
        self.attachment.is_marked()
    }

    #[inline(always)]
    pub(crate) fn ensure_attached(&mut self) {
        if !self.attachment.is_marked() {
            self.mark_attached();
        }
    }

    #[cold]
    fn mark_attached(&mut self) {
        // One endpoint per role sleeps on a wake word of a one-to-one ring,
        // so the replacement of a dead one may clear its count. An MPMC
        // word has many sleepers: clearing would break their count.
        if self.layout.participants == 0 {
            self.wait_signal().clear_sleepers();
        }
        // The process that uses the endpoint may not be the one that made
        // it (a pair handed across fork), nor may its sleepers' membarrier.
        self.wait_signal().note_sleeper();
        // A peer that keeps rewriting our row's state word: not marked,
        // and every later call reports it.
        if let Err(found) = self.attachment.mark_attached() {
            self.poison(found);
        }
    }

    /// The endpoint's hold on the segment (its row, liveness checks).
    #[inline(always)]
    pub(crate) fn attachment(&self) -> &Attachment {
        &self.attachment
    }

    /// The participant table's change counter (MPMC), read through the
    /// endpoint's header pointer (no call through the storage).
    #[inline(always)]
    pub(crate) fn roster(&self) -> u32 {
        // SYNC: peer-state (Acquire: pairs with Attachment::bump_roster)
        self.header().ring.wake.roster.load(Ordering::Acquire)
    }

    /// The role this endpoint holds.
    pub(crate) fn role(&self) -> Role {
        self.role
    }

    /// Rows of the participant table (0: none, a one-to-one ring).
    pub(crate) fn participants(&self) -> u32 {
        self.layout.participants
    }

    /// The peer's state as the segment records it (cheap: one load).
    #[inline(always)]
    pub(crate) fn peer_status(&self) -> PeerStatus {
        self.attachment.peer_status()
    }

    /// Whether the peer is recorded as gone (detached, or found dead).
    #[inline(always)]
    pub(crate) fn peer_gone(&self) -> bool {
        self.peer_status() == PeerStatus::Gone
    }

    /// Whether another endpoint holds the peer's role now (a syscall for
    /// mapped storages).
    #[cfg(not(shmlane_loom))]
    pub(crate) fn peer_role_held(&self) -> bool {
        let peer = self.role.peer() as usize;
        self.attachment
            .storage()
            .role_is_held(peer)
            .unwrap_or(false)
    }

    /// Whether this endpoint found its peer dead (its process gone without
    /// detaching) rather than detached.
    pub(crate) fn peer_crashed(&self) -> bool {
        self.attachment.peer_died()
    }

    /// What the async waiter thread looks at on a liveness tick of a task
    /// parked on this one-to-one ring, instead of waking it (see
    /// [`TickProbe`]).
    #[cfg(all(feature = "tokio", not(shmlane_loom)))]
    pub(crate) fn tick_probe(&self) -> TickProbe<'_> {
        let (head, tail) = (self.head(), self.tail());
        TickProbe {
            peer: self.attachment.peer_probe(),
            seen: (head.load(Ordering::Relaxed), tail.load(Ordering::Relaxed)),
            head,
            tail,
        }
    }

    /// A named segment's file shrunk under this mapping (a peer's
    /// `ftruncate`; one `fstat`): what the slots past its end would raise
    /// (SIGBUS), reported instead at a liveness tick.
    pub(crate) fn shrunk(&self) -> Option<Corruption> {
        self.attachment.storage().shrunk()
    }

    /// A liveness tick's checks, blocking or async: the segment's size
    /// first, then `check_peers` (which records a dead peer) only if the
    /// file is whole, since an MPMC end's peer check reads the stamp at its
    /// cursor. What the caller must poison the endpoint with, if anything.
    pub(crate) fn liveness_tick(&self, check_peers: impl FnOnce()) -> Option<Corruption> {
        let shrunk = self.shrunk();
        if shrunk.is_none() {
            check_peers();
        }
        shrunk
    }

    /// Looks for a dead peer (its role lock gone) and records it (syscall).
    pub(crate) fn check_peer_alive(&self) {
        self.attachment.check_peer_alive();
    }

    /// What the memory options did to this endpoint's mapping.
    pub(crate) fn memory_report(&self) -> crate::MemoryReport {
        self.memory.clone()
    }

    /// The counters, with the positions as pushes and pops.
    pub(crate) fn stats(&self) -> Stats {
        let relaxed = Ordering::Relaxed;
        self.stats_at(self.head().load(relaxed), self.tail().load(relaxed))
    }

    /// The counters, with `pops` and `pushes` as the positions (a ring
    /// whose indices are hints knows better ones).
    pub(crate) fn stats_at(&self, pops: u64, pushes: u64) -> Stats {
        let ring = &self.header().ring;
        let events = self.events();
        let relaxed = Ordering::Relaxed;
        let both = |of: fn(&Counters) -> &AtomicU64| {
            of(&ring.head.syscalls)
                .load(relaxed)
                .wrapping_add(of(&ring.tail.syscalls).load(relaxed))
        };
        let slot_size = u64::from(self.layout.slot_size);
        Stats {
            pushes,
            pops,
            written_bytes: pushes.wrapping_mul(slot_size),
            released_bytes: pops.wrapping_mul(slot_size),
            drops: events.drops.load(relaxed),
            full_hits: ring.tail.hits.load(relaxed),
            empty_hits: ring.head.hits.load(relaxed),
            full_waits: ring.tail.waits.load(relaxed),
            empty_waits: ring.head.waits.load(relaxed),
            wake_syscalls: both(|c| &c.wake_syscalls),
            wait_syscalls: both(|c| &c.wait_syscalls),
            skipped: events.skipped.load(relaxed),
            recovered: events.recovered.load(relaxed),
        }
    }
}

impl<T: Pod> RingMemory<T, UnsafeCell<T>> {
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
}

/// A parked one-to-one endpoint's liveness tick, run by the async waiter
/// thread: the task is woken only if its peer looks gone, either index
/// moved since it parked (a publish whose wake did not come, say because a
/// hostile peer cleared the announcement) or the segment's file shrunk,
/// which are the things the task's own tick would find. Otherwise the task
/// sleeps on, and an idle endpoint costs one thread's wakeup a tick instead
/// of two.
#[cfg(all(feature = "tokio", not(shmlane_loom)))]
#[derive(Clone, Copy)]
pub(crate) struct TickProbe<'a> {
    peer: PeerProbe<'a>,
    head: &'a AtomicU64,
    tail: &'a AtomicU64,
    /// The indices when the task parked.
    seen: (u64, u64),
}

#[cfg(all(feature = "tokio", not(shmlane_loom)))]
impl TickProbe<'_> {
    /// Whether the task should be woken for this tick.
    pub(crate) fn wake_task(&self) -> bool {
        // Relaxed: a change is only a reason to wake; the task's own
        // loads order what it then reads.
        let now = (
            self.head.load(Ordering::Relaxed),
            self.tail.load(Ordering::Relaxed),
        );
        now != self.seen || self.peer.looks_gone() || self.peer.segment_shrunk()
    }
}

/// The line of the index `role` writes, with that side's counters.
fn side_line(header: &Header, role: Role) -> &IndexLine {
    match role {
        Role::Producer => &header.ring.tail,
        Role::Consumer => &header.ring.head,
    }
}

/// Adds `*idle_polls` to `line`'s hits (one add, and only if there are
/// any) and zeroes it.
fn add_hits(line: &IndexLine, idle_polls: &mut u32) {
    if *idle_polls > 0 {
        line.hits
            .fetch_add(u64::from(*idle_polls), Ordering::Relaxed);
        *idle_polls = 0;
    }
}

impl<T, S> Drop for RingMemory<T, S> {
    fn drop(&mut self) {
        // SAFETY: as in `header()`: the storage is still owned here (it
        // drops after this body, with `attachment`).
        let header = unsafe { self.header.as_ref() };
        let line = side_line(header, self.role);
        add_hits(line, &mut self.idle_polls);
        // Before `mark_detached`, which forgets who marked the row.
        let user = self.attachment.used_here();
        let detached = self.attachment.mark_detached();
        if detached {
            // Wake the peer whatever its sleeper count says: it must see the
            // disconnect now, not at its next liveness tick.
            let wake = &header.ring.wake;
            let peer = match self.role {
                Role::Producer => &wake.not_empty,
                Role::Consumer => &wake.not_full,
            };
            Signal::new(self.waiter, &peer.event, &peer.sem).wake_all(&line.syscalls);
        }
        if user {
            // The last endpoint out removes the name (SAFETY.md section 1).
            self.attachment.storage().remove_if_last(detached);
        }
    }
}
