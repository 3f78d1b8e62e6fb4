//! A segment: a header and a slot area, in one of three storages.
//!
//! * [`Heap`]: process-local memory (in-process rings, tests, Miri, loom);
//! * `Shm`: a named POSIX shared-memory object (`shm_open`), found by name;
//! * `Memfd`: an anonymous file (`memfd_create`), shared by `fork`.
//!
//! The last two are [`Mapping`]s and exist only outside loom builds (loom's
//! atomics have no integer layout to overlay on a mapping).

mod header;
mod layout;
#[cfg(not(shmlane_loom))]
mod mapped;
mod memory_policy;
pub(crate) mod peer;
#[cfg(not(shmlane_loom))]
pub mod registry;
#[cfg(not(shmlane_loom))]
mod removal;
mod snapshot;
mod storage;

#[cfg(all(feature = "test-support", not(shmlane_loom)))]
pub use header::HeaderOffsets;
#[cfg(all(feature = "test-support", not(shmlane_loom)))]
pub(crate) use header::LAYOUT_VERSION;
pub(crate) use header::{Counters, Events, Header, IndexLine, PeerSlot, WakeWord};
#[cfg(all(feature = "test-support", not(shmlane_loom)))]
pub(crate) use layout::MIN_FRAME_RING_BYTES;
pub(crate) use layout::{Layout, RingKind};
#[cfg(not(shmlane_loom))]
pub(crate) use mapped::Mapping;
pub use memory_policy::MemoryReport;
#[cfg(not(shmlane_loom))]
pub(crate) use memory_policy::apply_memory_policy;
pub(crate) use snapshot::Strict;
pub(crate) use storage::{FreshCell, Heap, Storage};
