//! # shmlane
//!
//! Inter-process communication for Linux at the speed of a cache line: a
//! zero-copy, lock-free ring buffer inside a POSIX shared-memory segment.
//!
//! * [`spsc`]: a typed single-producer single-consumer ring of `T:
//!   bytemuck::Pod` items, created by name ([`spsc::Producer::create`]),
//!   opened by name from another process ([`spsc::Consumer::open`]), or made
//!   as an anonymous pair to share across `fork` ([`spsc::pair`]). A
//!   zero-copy chunk API writes and reads slots in place.
//! * [`bytes`]: a single-producer single-consumer ring of variable-length
//!   frames (8-byte aligned, never wrapped), written in place through a
//!   [`bytes::Grant`] and read in place through a [`bytes::Frame`], with an
//!   overflow policy (block, fail or drop) fixed at create time.
//! * [`mpmc`]: a typed multi-producer multi-consumer ring: any number of
//!   [`mpmc::Sender`]s and [`mpmc::Receiver`]s in any number of processes
//!   (up to a participant limit), per-sender FIFO, in-place writes through
//!   [`mpmc::Sender::reserve`], and a participant that dies holding a slot
//!   never stalls the others.
//! * [`Options`]: one builder for every ring kind.
//! * [`transport`]: discrete byte messages through one pair of traits over
//!   every kernel IPC mechanism (pipe, FIFO, POSIX and System V message
//!   queues, Unix stream and seqpacket sockets, TCP), picked by URL at run
//!   time: `transport::sender("mq:///jobs")`.
//! * Errors are typed per operation ([`OpenError`], [`PushError`],
//!   [`PopError`], [`ReserveError`]) and never a panic: a peer can write
//!   anything into shared memory, and shmlane validates every index it reads
//!   there (see `SAFETY.md` for the threat model).
//!
//! ```no_run
//! use shmlane::{Options, spsc};
//!
//! #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
//! #[repr(C)]
//! struct Tick { price: f64, qty: u32, venue: u32 }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let opts = Options::new().capacity(4096);
//! // Process A:
//! let mut tx = spsc::Producer::<Tick>::create("md", &opts)?;
//! tx.push(Tick { price: 101.5, qty: 10, venue: 3 }).map_err(|e| e.to_string())?;
//! // Process B:
//! let mut rx = spsc::Consumer::<Tick>::open("md", &opts)?;
//! let tick = rx.pop()?;
//! # Ok(())
//! # }
//! ```
//!
//! # Model-checking your code with loom
//!
//! Built with `RUSTFLAGS="--cfg loom"` (the cfg tokio honours too;
//! crossbeam's is `crossbeam_loom`), shmlane's rings run on
//! [loom](https://docs.rs/loom)'s atomics and cells, with the futex
//! modelled by a loom mutex and condvar, so a loom model of your threads
//! explores the rings' operations inside them too. The build script turns
//! `loom` into the crate's own `shmlane_loom` cfg (which also works alone).
//! Your crate needs `loom = "0.7"`, the version shmlane uses (one model
//! runtime must see both crates), and must make and use every ring inside
//! `loom::model`. The README's "Model-check your pipeline with loom" has
//! the recipe, and `examples/loom-user/` a crate that follows it.
//!
//! Under loom, one process and no clock:
//!
//! * **Kept**: the heap pairs ([`spsc::heap_pair`], [`bytes::heap_pair`],
//!   [`mpmc::heap_pair`], and `try_clone` of MPMC ends),
//!   [`Semaphore::in_process`], [`Options`], and every non-blocking and
//!   blocking call on them (`push`/`pop`, `send`/`recv`,
//!   `try_send`/`try_recv`, `reserve`, `grant`/`commit`, the chunks
//!   `write_chunk`/`read_chunk`, `bytes::Consumer::read` and its `Frame`,
//!   and the `_timeout`/`_deadline` forms), `stats()`, `is_disconnected()`.
//! * **Compiled out**: named segments (`create`/`open` of every ring and
//!   of [`Semaphore`]), memfd pairs (`spsc::pair`, `bytes::pair`,
//!   `mpmc::pair`, `Semaphore::anonymous`), `transport`.
//! * **Different**: a `_timeout` or `_deadline` call never times out (it
//!   waits as the plain blocking call does), every blocking call parks at
//!   once whatever its [`WaitStrategy`], and there is no check of a peer's
//!   liveness. loom's cells cannot be viewed as slices, so a chunk, a
//!   `Frame` and a `Grant` hand out a copy: a read chunk or frame loads
//!   its slots when taken, a write chunk or grant stores them at commit
//!   (each access tracked, inside the same window as the in-place views'),
//!   and a write chunk starts zeroed rather than holding the old items.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

#[cfg(all(feature = "tokio", not(shmlane_loom)))]
pub mod aio;
mod error;
mod index;
mod options;
mod ring;
mod segment;
mod shared;
mod sync;
#[cfg(not(shmlane_loom))]
pub mod sysvsem;
#[cfg(all(feature = "test-support", not(shmlane_loom)))]
#[doc(hidden)]
pub mod test_support;
#[cfg(not(shmlane_loom))]
pub mod transport;
mod trust;
mod wait;

pub use error::{
    CorruptedPush, Corruption, GrantError, OpenError, PopError, PushError, RecordError,
    ReserveError, SemError,
};
pub use options::{
    DEFAULT_CAPACITY, DEFAULT_MODE, DEFAULT_OPEN_TIMEOUT, DEFAULT_PARTICIPANTS, HugePages,
    MAX_PARTICIPANTS, MAX_SLOT_ALIGN, Options, Overflow, SlotShape, WaitStrategy, Waiter,
};
pub use ring::{Stats, bytes, mpmc, spsc};
pub use segment::MemoryReport;
#[cfg(not(shmlane_loom))]
pub use segment::registry;
#[cfg(shmlane_loom)]
#[doc(hidden)]
pub use shared::loom_model;
#[cfg(not(shmlane_loom))]
pub use shared::{LockError, LockResult, Shared, SharedGuard};
pub use trust::Trust;
pub use wait::LIVENESS_TICK;
#[cfg(shmlane_loom)]
#[doc(hidden)]
pub use wait::barrier::set_membarrier_broken;
pub use wait::semaphore::{SEM_VALUE_MAX, Semaphore};

/// The README's examples, compiled as doctests so they cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
