//! Typed single-producer single-consumer ring.
//!
//! The producer owns `tail`, the consumer owns `head` (both in the
//! segment, each on its own cache line). Each side keeps its own position
//! in a local field and a cached copy of the other side's, and reads the
//! other side's index from shared memory only when the cache says the ring
//! is full (producer) or empty (consumer): in a busy stream most pushes and
//! pops touch no cache line the other core is writing.
//!
//! Every index read from the segment is validated (distance from the other
//! index at most the capacity) before use: an impossible one is [`Corruption`](crate::Corruption), never an out-of-bounds
//! access.
//!
//! # Throughput
//!
//! Each `push` publishes its value at once (one store of `tail`), so a
//! consumer that keeps up reads lines the producer is still writing and
//! they cross between the cores every few values: `push`/`pop` stream at
//! about the rate of other rings of this design (`spsc-tput` against
//! rtrb's `rtrb-tput` in `shmlane bench`). For streams,
//! [`Producer::write_chunk`] and [`Consumer::read_chunk`] on *both* sides
//! publish once per chunk and move each line once, which streams faster:
//! compare `spsc-chunk-tput` with `spsc-tput` in `shmlane bench` on the
//! machine that will run it.
//!
//! ```no_run
//! use shmlane::{Options, spsc};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let opts = Options::new().capacity(4096);
//! let mut tx = spsc::Producer::<u64>::create("md-ticks", &opts)?; // this process
//! let mut rx = spsc::Consumer::<u64>::open("md-ticks", &opts)?;   // usually another one
//! tx.push(42).map_err(|e| e.to_string())?;
//! assert_eq!(rx.pop()?, 42);
//! # Ok(())
//! # }
//! ```

use bytemuck::Pod;

use super::RingMemory;
use crate::error::OpenError;
use crate::index::Capacity;
use crate::options::Options;
use crate::segment::RingKind;
use crate::segment::peer::Role;

mod chunk;
mod consumer;
mod producer;
#[cfg(not(shmlane_loom))]
mod raw;

pub use chunk::{ReadChunk, WriteChunk};
pub use consumer::Consumer;
pub use producer::Producer;
#[cfg(not(shmlane_loom))]
pub use raw::{RawConsumer, RawProducer, raw_pair};

/// A producer and a consumer over one new anonymous shared-memory segment
/// (memfd), sealed so no process can resize it. Fork after this call and
/// keep one end in each process, dropping the other end in each: dropping
/// an end this process never used detaches nothing, and keeping it open
/// would hide the other process's death. Hand an end over unused: if the
/// parent used an end before the fork, the child should use it before the
/// parent drops its copy, or the consumer may briefly see the producer as
/// gone.
///
/// `opts` may set the capacity, schema id, waiter and wait strategy; `mode`,
/// `persist` and `open_timeout` apply only to named segments and are
/// refused here.
///
/// # Examples
///
/// ```
/// use shmlane::{Options, spsc};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (mut tx, mut rx) = spsc::pair::<u64>(&Options::new().capacity(8))?;
/// // Both ends stay in this process here; across a fork, each keeps one.
/// tx.push(42).unwrap();
/// assert_eq!(rx.pop()?, 42);
/// # Ok(())
/// # }
/// ```
#[cfg(not(shmlane_loom))]
pub fn pair<T: Pod + Send>(opts: &Options) -> Result<(Producer<T>, Consumer<T>), OpenError> {
    let roles = (Role::Producer, Role::Consumer);
    let (tx, rx) = RingMemory::memfd_pair(RingKind::Spsc, roles, opts)?;
    Ok((Producer::attach(tx, opts)?, Consumer::attach(rx, opts)?))
}

/// A producer and a consumer over process-local memory: the same ring for
/// threads of one process.
///
/// # Examples
///
/// ```
/// use shmlane::{Options, spsc};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (mut tx, mut rx) = spsc::heap_pair::<u64>(&Options::new().capacity(8))?;
/// let consumer = std::thread::spawn(move || rx.recv());
/// tx.send(42).unwrap();
/// assert_eq!(consumer.join().unwrap()?, 42);
/// # Ok(())
/// # }
/// ```
pub fn heap_pair<T: Pod + Send>(opts: &Options) -> Result<(Producer<T>, Consumer<T>), OpenError> {
    let roles = (Role::Producer, Role::Consumer);
    let (tx, rx) = RingMemory::heap_pair(RingKind::Spsc, roles, opts)?;
    Ok((Producer::attach(tx, opts)?, Consumer::attach(rx, opts)?))
}

/// What an inline refresh of the peer's index found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refresh {
    /// Room (producer) or items (consumer): go on.
    Found,
    /// Nothing: the ring is empty (consumer) or full (producer) as of
    /// this load.
    None,
    /// Anything else: take the cold path.
    Slow,
}

fn len_or_capacity(capacity: Capacity, head: u64, tail: u64) -> usize {
    capacity.occupied(head, tail).unwrap_or(capacity.get()) as usize
}

#[cfg(all(test, not(shmlane_loom)))]
mod tests;
