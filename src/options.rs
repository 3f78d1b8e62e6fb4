//! The builder shared by every ring kind.

use std::time::Duration;

use crate::error::OpenError;
use crate::trust::Trust;

/// Default ring capacity (slots) when none is given.
pub const DEFAULT_CAPACITY: usize = 1024;
/// Default permission bits of a created segment.
pub const DEFAULT_MODE: u32 = 0o600;
/// Default participant limit of an MPMC ring (senders and receivers
/// attached at once).
pub const DEFAULT_PARTICIPANTS: u32 = 64;
/// Largest participant limit an MPMC ring can have (a slot's stamp names
/// its owner's row in 7 bits).
pub const MAX_PARTICIPANTS: u32 = 128;
/// How long `open` waits by default for the creator to finish initialising.
pub const DEFAULT_OPEN_TIMEOUT: Duration = Duration::from_secs(2);

/// Options for creating or opening a ring.
///
/// The same value can be passed to the creator and the opener: `mode` and
/// `persist` only act at create time. A field that cannot apply to the call
/// (for example `mode` for an anonymous [`spsc::pair`](crate::spsc::pair))
/// is an [`OpenError::InvalidConfig`], never silently ignored.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub(crate) capacity: Option<usize>,
    pub(crate) mode: Option<u32>,
    pub(crate) persist: Option<bool>,
    pub(crate) open_timeout: Option<Duration>,
    pub(crate) schema_id: Option<u64>,
    pub(crate) wait_strategy: Option<WaitStrategy>,
    pub(crate) waiter: Option<Waiter>,
    pub(crate) max_frame: Option<usize>,
    pub(crate) overflow: Option<Overflow>,
    pub(crate) participants: Option<u32>,
    pub(crate) release_each_frame: Option<bool>,
    /// Set by the raw endpoints only (`spsc::RawProducer`, ...): the slot
    /// size and alignment they were given at run time, which replace the
    /// compile-time type's in the expected layout.
    pub(crate) slot_shape: Option<SlotShape>,
    pub(crate) prefault: Option<bool>,
    pub(crate) lock_memory: Option<bool>,
    pub(crate) huge_pages: Option<HugePages>,
    pub(crate) trust: Option<Trust>,
}

impl Options {
    /// Default options: capacity [`DEFAULT_CAPACITY`], mode 0600, the
    /// segment removed when its creator drops.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of slots; a power of two. At open, a capacity given here must
    /// match the segment's (else `Incompatible`); if none is given, the
    /// segment's is used.
    pub fn capacity(mut self, slots: usize) -> Self {
        self.capacity = Some(slots);
        self
    }

    /// Permission bits of a created segment (default 0600). Applied with
    /// `fchmod` after creation, so the umask neither widens nor narrows it.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Keep the segment's name after the creator drops (default: removed).
    pub fn persist(mut self, persist: bool) -> Self {
        self.persist = Some(persist);
        self
    }

    /// How long `open` waits for a creator that has made the segment but not
    /// yet initialised it (default [`DEFAULT_OPEN_TIMEOUT`]).
    pub fn open_timeout(mut self, timeout: Duration) -> Self {
        self.open_timeout = Some(timeout);
        self
    }

    /// A user schema id (non-zero). When either side sets one, the ends
    /// must agree on it instead of on the Rust type name, so two programs
    /// that define the same `#[repr(C)]` struct under different paths can
    /// talk. Size and alignment are always checked.
    pub fn schema_id(mut self, id: u64) -> Self {
        self.schema_id = Some(id);
        self
    }

    /// How this endpoint's blocking calls wait (default
    /// [`WaitStrategy::SpinThenPark`]). Per endpoint: the two ends may differ.
    pub fn wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.wait_strategy = Some(strategy);
        self
    }

    /// Which mechanism wakes sleepers (default [`Waiter::EventCount`]).
    /// Recorded in the segment at create; at open, a waiter given here must
    /// match the segment's (else `Incompatible`), and none adopts it.
    pub fn waiter(mut self, waiter: Waiter) -> Self {
        self.waiter = Some(waiter);
        self
    }

    /// MPMC only: how many endpoints (senders and receivers together) may
    /// be attached at once, 1 to [`MAX_PARTICIPANTS`] (default
    /// [`DEFAULT_PARTICIPANTS`]); one more is refused with
    /// [`OpenError::TooManyParticipants`]. Recorded in the segment at
    /// create; at open, a limit given here must match the segment's (else
    /// `Incompatible`), and none adopts it. Other ring kinds refuse it.
    pub fn participants(mut self, limit: u32) -> Self {
        self.participants = Some(limit);
        self
    }

    /// Byte rings only: the largest frame payload in bytes (default: the
    /// most the capacity allows, which is half the ring less the 8-byte
    /// frame header). A larger frame is refused with `FrameTooLarge`. At
    /// open, a value given here must match the segment's.
    pub fn max_frame(mut self, bytes: usize) -> Self {
        self.max_frame = Some(bytes);
        self
    }

    /// Byte rings only: what a producer does when the ring is full (default
    /// [`Overflow::Block`]). Recorded in the segment at create; at open, a
    /// policy given here must match the segment's.
    pub fn overflow(mut self, policy: Overflow) -> Self {
        self.overflow = Some(policy);
        self
    }

    /// Byte rings only, per endpoint (it acts on the consumer): publish the
    /// consumer's position after every frame it frees (default: after an
    /// eighth of the ring, whenever it finds the ring empty, and at drop).
    ///
    /// With it, a consumer killed after a receive returned never lets its
    /// replacement receive that frame again (exactly once for every frame
    /// whose receive returned, or whose [`Frame`](crate::bytes::Frame) was
    /// released); without it, the replacement may receive again up to an
    /// eighth of the ring (at least once). The cost is one more cache line
    /// moving between the cores per frame: compare `bytes-tput` with
    /// `bytes-tput-each` in `shmlane bench`. See the delivery table in
    /// SAFETY.md.
    pub fn release_each_frame(mut self, each: bool) -> Self {
        self.release_each_frame = Some(each);
        self
    }

    /// Shared-memory rings only: map every page of the segment at create
    /// and open (`madvise(MADV_POPULATE_WRITE)`, Linux 5.14 or later), so
    /// that no first message pays for a page fault. Per endpoint. See
    /// `memory_report()` on the endpoints for what was applied.
    pub fn prefault(mut self, prefault: bool) -> Self {
        self.prefault = Some(prefault);
        self
    }

    /// Shared-memory rings only: lock the segment's pages in memory
    /// (`mlock`) at create and open, so that they are never swapped out;
    /// implies their being resident. Fails with
    /// [`OpenError::LockMemory`], naming `RLIMIT_MEMLOCK`, when the limit
    /// is too small. Per endpoint and per mapping: a forked child does not
    /// inherit the lock, but the pages stay locked while any mapping holds
    /// them.
    pub fn lock_memory(mut self, lock: bool) -> Self {
        self.lock_memory = Some(lock);
        self
    }

    /// Shared-memory rings only: back the segment with huge pages where the
    /// system allows it (default [`HugePages::Off`]). When it does not (the
    /// shmem THP setting is `never` or `deny`, or `madvise` refuses), the
    /// ring uses normal pages and says why in `memory_report()` of the endpoint,
    /// rather than failing.
    pub fn huge_pages(mut self, huge: HugePages) -> Self {
        self.huge_pages = Some(huge);
        self
    }

    /// Whose existing segments `open` accepts (default [`Trust::new`]:
    /// this user's and root's, not writable by group or others). Checked
    /// with `fstat` right after `shm_open`, before anything is mapped or
    /// read; a refusal is [`OpenError::Untrusted`]. Acts at open only.
    pub fn trust(mut self, trust: Trust) -> Self {
        self.trust = Some(trust);
        self
    }

    /// The trust rule of an open: the given one or the default.
    #[cfg_attr(shmlane_loom, allow(dead_code, reason = "named segments only"))]
    pub(crate) fn trust_or_default(&self) -> Trust {
        self.trust.clone().unwrap_or_default()
    }

    /// Refuses the memory options (prefault, lock, huge pages) for memory
    /// that is not a shared-memory segment.
    pub(crate) fn check_no_memory_policy(&self, target: &str) -> Result<(), OpenError> {
        refuse_set(
            &[
                ("prefault", self.prefault.is_some()),
                ("lock_memory", self.lock_memory.is_some()),
                ("huge_pages", self.huge_pages.is_some()),
            ],
            target,
        )
    }

    /// Refuses the fields that only byte rings have, for a ring of typed
    /// slots.
    pub(crate) fn check_typed_slots(&self) -> Result<(), OpenError> {
        refuse_set(
            &[
                ("max_frame", self.max_frame.is_some()),
                ("overflow", self.overflow.is_some()),
                ("release_each_frame", self.release_each_frame.is_some()),
            ],
            "a ring of typed slots (byte rings only)",
        )
    }

    #[cfg_attr(shmlane_loom, allow(dead_code, reason = "named segments only"))]
    pub(crate) fn effective_mode(&self) -> u32 {
        self.mode.unwrap_or(DEFAULT_MODE)
    }

    #[cfg_attr(shmlane_loom, allow(dead_code, reason = "named segments only"))]
    pub(crate) fn effective_open_timeout(&self) -> Duration {
        self.open_timeout.unwrap_or(DEFAULT_OPEN_TIMEOUT)
    }

    /// Refuses the fields that only make sense for a named segment.
    pub(crate) fn check_anonymous(&self, what: &str) -> Result<(), OpenError> {
        refuse_set(
            &[
                ("mode", self.mode.is_some()),
                ("persist", self.persist.is_some()),
                ("open_timeout", self.open_timeout.is_some()),
            ],
            &format!("{what}: it has no name"),
        )
    }

    #[cfg_attr(shmlane_loom, allow(dead_code, reason = "named segments only"))]
    pub(crate) fn check_mode(&self) -> Result<(), OpenError> {
        match self.mode {
            Some(mode) if mode & !0o777 != 0 => Err(OpenError::InvalidConfig(format!(
                "mode {mode:#o} has bits outside 0o777"
            ))),
            _ => Ok(()),
        }
    }
}

/// `InvalidConfig` naming the first of `fields` that is set, as not
/// applying to `target`.
pub(crate) fn refuse_set(fields: &[(&str, bool)], target: &str) -> Result<(), OpenError> {
    match fields.iter().find(|(_, set)| *set) {
        Some((field, _)) => Err(OpenError::InvalidConfig(format!(
            "option `{field}` does not apply to {target}"
        ))),
        None => Ok(()),
    }
}

/// Whether a segment asks for huge pages ([`Options::huge_pages`](crate::Options::huge_pages)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum HugePages {
    /// Normal pages.
    #[default]
    Off,
    /// Transparent huge pages by `madvise(MADV_HUGEPAGE)`, where the
    /// system's shmem setting (`/sys/kernel/mm/transparent_hugepage/shmem_enabled`)
    /// allows them; normal pages, with a note, where it does not.
    Transparent,
}

/// How a blocking call waits (per endpoint, [`Options::wait_strategy`](crate::Options::wait_strategy)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WaitStrategy {
    /// Busy-spin with the pause instruction until the ring changes: the
    /// lowest latency, a whole core while waiting. Deadlines and peer death
    /// are still checked.
    Spin,
    /// Spin briefly (about 20 µs), then yield (about 50 µs), then sleep in
    /// the kernel: a peer that answers quickly never pays for a sleep, and
    /// an idle wait costs no CPU.
    #[default]
    SpinThenPark,
    /// Sleep in the kernel at once: the least CPU, the cost of a wakeup on
    /// every wait.
    Park,
}

/// Which mechanism wakes a sleeping endpoint; chosen when the segment is
/// created and recorded in it, so both ends agree
/// ([`Options::waiter`](crate::Options::waiter)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Waiter {
    /// An eventcount per direction: a publisher makes a syscall only when
    /// someone sleeps.
    #[default]
    EventCount,
    /// A process-shared counting semaphore per direction (posted only when
    /// someone sleeps), the classic P/V design.
    Semaphore,
}

impl Waiter {
    pub(crate) fn code(self) -> u32 {
        match self {
            Waiter::EventCount => 1,
            Waiter::Semaphore => 2,
        }
    }

    pub(crate) fn from_code(code: u32) -> Option<Self> {
        match code {
            1 => Some(Waiter::EventCount),
            2 => Some(Waiter::Semaphore),
            _ => None,
        }
    }
}

/// What a producer does with a frame that finds the ring full. Chosen at
/// create time and recorded in the segment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overflow {
    /// The non-blocking calls return [`GrantError::Full`](crate::GrantError::Full); the blocking
    /// ones wait for room (up to their timeout).
    #[default]
    Block,
    /// Every call returns [`GrantError::Full`](crate::GrantError::Full) at once, blocking or not:
    /// the producer never waits for the consumer. The data is not consumed.
    Fail,
    /// Lossy (telemetry, audio): the frame is dropped, counted in
    /// [`Stats::drops`](crate::Stats::drops), and the call succeeds. A [`Grant`](crate::bytes::Grant) of a dropped
    /// frame still hands out a buffer (process memory, not the ring), so
    /// the writer's code is the same.
    DropNewest,
}

impl Overflow {
    /// Largest code in the segment header.
    pub(crate) const MAX_CODE: u32 = 3;

    /// The code recorded in the segment header.
    pub(crate) const fn code(self) -> u32 {
        match self {
            Self::Block => 1,
            Self::Fail => 2,
            Self::DropNewest => 3,
        }
    }

    /// The policy a header code names.
    pub(crate) const fn from_code(code: u32) -> Option<Self> {
        match code {
            1 => Some(Self::Block),
            2 => Some(Self::Fail),
            3 => Some(Self::DropNewest),
            _ => None,
        }
    }

    /// A header code in words, for messages.
    pub(crate) fn describe(code: u32) -> String {
        Self::from_code(code).map_or_else(|| format!("unknown policy {code}"), |p| format!("{p:?}"))
    }
}

/// The size and alignment of one slot, given at run time: what the raw
/// endpoints ([`spsc::RawProducer`](crate::spsc::RawProducer),
/// [`mpmc::RawSender`](crate::mpmc::RawSender), ...) move instead of a
/// Rust type. A segment made by a typed endpoint for `T` takes raw
/// endpoints of `size_of::<T>()` and `align_of::<T>()` (and the same schema
/// id, see [`Options::schema_id`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotShape {
    size: u32,
    align: u32,
}

/// Largest slot alignment a segment can honour (its mapping is page
/// aligned).
pub const MAX_SLOT_ALIGN: usize = 4096;

impl SlotShape {
    /// A slot of `size` bytes aligned to `align`: `align` a power of two of
    /// at most [`MAX_SLOT_ALIGN`], `size` a non-zero multiple of it (as a
    /// Rust or C type's size always is) that fits in 32 bits.
    pub fn new(size: usize, align: usize) -> Result<Self, OpenError> {
        if !align.is_power_of_two() || align > MAX_SLOT_ALIGN {
            return Err(OpenError::InvalidConfig(format!(
                "slot alignment {align} must be a power of two of at most {MAX_SLOT_ALIGN}"
            )));
        }
        if size == 0 || !size.is_multiple_of(align) {
            return Err(OpenError::InvalidConfig(format!(
                "slot size {size} must be a non-zero multiple of the alignment {align} \
                 (pass sizeof and alignof of the slot type)"
            )));
        }
        let size = u32::try_from(size).map_err(|_| {
            OpenError::InvalidConfig(format!("slot size {size} does not fit in 32 bits"))
        })?;
        Ok(Self {
            size,
            align: align as u32,
        })
    }

    /// The shape a validated layout records (its checks passed at create).
    #[cfg(not(shmlane_loom))]
    pub(crate) fn recorded(size: u32, align: u32) -> Self {
        Self { size, align }
    }

    /// Bytes of one slot.
    pub fn size(self) -> usize {
        self.size as usize
    }

    /// Alignment of one slot.
    pub fn align(self) -> usize {
        self.align as usize
    }
}
