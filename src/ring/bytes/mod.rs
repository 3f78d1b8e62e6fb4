//! Single-producer single-consumer ring of variable-length frames.
//!
//! For messages whose size varies (market data, audio buffers, serialized
//! structs). The segment's slots are 8-byte words; positions count words
//! and only grow. A frame is one header word (payload length in the low 32
//! bits, flags in the high 32) followed by its payload rounded up to whole
//! words, so every frame starts 8-byte aligned. A frame never wraps: when it
//! does not fit before the end of the ring, a *padding* frame fills the rest
//! and the frame starts at word 0. The largest frame is fixed at create time
//! ([`Options::max_frame`]), at most half the ring, so a frame always fits
//! after at most one padding frame.
//!
//! The producer writes in place into a [`Grant`] and publishes with
//! [`Grant::commit`]; the consumer reads in place from a [`Frame`] and frees
//! it by dropping it (or [`Frame::release`]). [`Producer::send`] and
//! [`Consumer::recv`] (and their `try_`, `_timeout` and `_deadline`
//! forms) copy for convenience.
//!
//! The consumer hands space back lazily: it publishes its index after
//! freeing an eighth of the ring, whenever it finds the ring empty, and when
//! it is dropped, so a busy stream does not bounce the index's cache line
//! once per frame. A producer may therefore see up to an eighth of the ring
//! as still in use.
//!
//! # Sizing
//!
//! A busy stream runs fastest when the ring fits in each core's L1 data
//! cache with room to spare for the caller's buffers: every line then moves
//! L1 to L1 between the cores, where the lines of a ring bigger than L1
//! come back from L2 every lap. A bigger ring absorbs longer bursts; pick
//! the smallest that holds the bursts you expect, and measure with
//! `shmlane bench --case bytes-tput` (64 B and 4 KiB frames) on the machine
//! that will run it. The consumer prefetches published lines a little
//! ahead of the frame it reads, so the cross-core misses of a run of small
//! frames overlap.
//!
//! # Untrusted peers
//!
//! Every index and frame header read from the segment is read once,
//! validated (distance at most the capacity, length at most the max frame,
//! the frame inside the ring and inside what was published, flags known) and
//! only then used; a violation is [`Corruption`](crate::Corruption) and poisons the endpoint:
//! every later call returns the same error. A [`Frame`]'s bytes (and a
//! [`Grant`]'s) stay in shared memory while the guard lives, where a
//! hostile peer could still change them: use [`Consumer::recv`], which
//! copies the frame out once, when the producer is not trusted.
//!
//! ```no_run
//! use shmlane::{Options, bytes};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let opts = Options::new().capacity(1 << 16).max_frame(4096);
//! let mut tx = bytes::Producer::create("quotes", &opts)?; // this process
//! let mut rx = bytes::Consumer::open("quotes", &opts)?;   // usually another one
//! tx.send(b"EURUSD 1.0842")?;
//! let mut grant = tx.grant(64)?;                          // zero-copy
//! grant[..5].copy_from_slice(b"hello");
//! grant.commit(5);
//! let mut buf = Vec::new();
//! rx.try_recv(&mut buf)?;
//! assert_eq!(buf, b"EURUSD 1.0842");
//! assert_eq!(&*rx.read()?, b"hello");
//! # Ok(())
//! # }
//! ```

#[cfg(not(shmlane_loom))]
use super::Source;
use super::{RingMemory, Wake};
use crate::error::OpenError;
use crate::options::Options;
pub use crate::options::Overflow;
use crate::options::Waiter;
use crate::segment::peer::Role;
use crate::segment::{Layout, RingKind};

mod consumer;
mod frame;
mod grant;
mod producer;

pub use consumer::{Consumer, Frame};
pub use grant::Grant;
pub use producer::Producer;

/// Default capacity of a byte ring, in bytes, when none is given.
pub const DEFAULT_BYTES_CAPACITY: usize = 64 * 1024;

/// The layout a byte ring endpoint expects from `opts`.
pub(crate) fn layout(opts: &Options, waiter: Waiter) -> Result<Layout, OpenError> {
    crate::options::refuse_set(
        &[("schema_id", opts.schema_id.is_some())],
        "a byte ring (its frames are untyped bytes)",
    )?;
    Layout::for_frames(
        opts.capacity.unwrap_or(DEFAULT_BYTES_CAPACITY),
        opts.max_frame,
        opts.overflow.unwrap_or_default().code(),
        waiter,
    )
}

/// A producer and a consumer over one new anonymous shared-memory segment
/// (memfd), for a fork; see [`spsc::pair`](crate::spsc::pair) for how to
/// hand the ends over.
///
/// # Examples
///
/// ```
/// use shmlane::{Options, bytes};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (mut tx, mut rx) = bytes::pair(&Options::new().capacity(4096))?;
/// // Both ends stay in this process here; across a fork, each keeps one.
/// tx.send(b"hello")?;
/// let mut buf = Vec::new();
/// rx.try_recv(&mut buf)?;
/// assert_eq!(buf, b"hello");
/// # Ok(())
/// # }
/// ```
#[cfg(not(shmlane_loom))]
pub fn pair(opts: &Options) -> Result<(Producer, Consumer), OpenError> {
    let roles = (Role::Producer, Role::Consumer);
    let (tx, rx) = RingMemory::memfd_pair(RingKind::Bytes, roles, opts)?;
    Ok((Producer::attach(tx, opts)?, Consumer::attach(rx, opts)?))
}

/// A producer and a consumer over process-local memory: the same ring for
/// threads of one process.
///
/// # Examples
///
/// ```
/// use shmlane::{Options, bytes};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (mut tx, mut rx) = bytes::heap_pair(&Options::new().capacity(4096))?;
/// let consumer = std::thread::spawn(move || {
///     let mut buf = Vec::new();
///     rx.recv(&mut buf).map(|_| buf)
/// });
/// tx.send(b"hello")?;
/// assert_eq!(consumer.join().unwrap()?, b"hello");
/// # Ok(())
/// # }
/// ```
pub fn heap_pair(opts: &Options) -> Result<(Producer, Consumer), OpenError> {
    let roles = (Role::Producer, Role::Consumer);
    let (tx, rx) = RingMemory::heap_pair(RingKind::Bytes, roles, opts)?;
    Ok((Producer::attach(tx, opts)?, Consumer::attach(rx, opts)?))
}

#[cfg(all(test, not(shmlane_loom)))]
mod tests;
