//! SPSC endpoints whose slot size and alignment are given at run time
//! (for the C ABI and other languages): the same ring, moving records of
//! bytes instead of values of a Rust type.

use std::time::{Duration, Instant};

use super::{Consumer, Producer};
use crate::error::{OpenError, PopError, PushError, RecordError};
use crate::options::{Options, SlotShape};
use crate::ring::item::{RawBuffer, RawRecord, check_record, raw_options};
use crate::ring::{RingMemory, Stats};
use crate::segment::RingKind;
use crate::segment::peer::Role;
use crate::wait::Limit;

/// The writing end of an SPSC ring of [`SlotShape`]-sized records. It
/// shares a named segment with a typed [`Consumer<T>`] (or
/// [`RawConsumer`]) whose `T` has the same size and alignment, when both
/// set the same [`Options::schema_id`] (without one, only raw endpoints
/// agree with each other).
///
/// # Examples
///
/// ```no_run
/// use shmlane::{Options, SlotShape, spsc};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let opts = Options::new().schema_id(7);
/// let shape = SlotShape::new(8, 8)?;
/// let mut tx = spsc::RawProducer::create("ticks", shape, &opts)?;
/// let mut rx = spsc::Consumer::<u64>::open("ticks", &opts)?;
/// tx.push(&42u64.to_ne_bytes())?;
/// assert_eq!(rx.pop()?, 42);
/// # Ok(())
/// # }
/// ```
pub struct RawProducer {
    inner: Producer<()>,
    shape: SlotShape,
}

/// The reading end of an SPSC ring of [`SlotShape`]-sized records; see
/// [`RawProducer`].
pub struct RawConsumer {
    inner: Consumer<()>,
    shape: SlotShape,
}

type RawPushError = RecordError<PushError<()>>;
type RawPopError = RecordError<PopError>;

impl RawProducer {
    /// Creates the named segment `name` for slots of `shape` and attaches
    /// as its producer (as [`Producer::create`]).
    pub fn create(name: &str, shape: SlotShape, opts: &Options) -> Result<Self, OpenError> {
        let inner = Producer::create(name, &raw_options(shape, opts))?;
        Ok(Self { inner, shape })
    }

    /// Opens the named segment `name` and attaches as its producer (as
    /// [`Producer::open`]); a segment of another slot size, alignment or
    /// schema id is [`OpenError::Incompatible`] naming the field.
    pub fn open(name: &str, shape: SlotShape, opts: &Options) -> Result<Self, OpenError> {
        let inner = Producer::open(name, &raw_options(shape, opts))?;
        Ok(Self { inner, shape })
    }

    /// Appends `record` (exactly one slot's bytes), as [`Producer::push`].
    #[inline]
    pub fn push(&mut self, record: &[u8]) -> Result<(), RawPushError> {
        check_record(record.len(), self.shape)?;
        let pushed = self.inner.push_item(RawRecord(record));
        pushed.map_err(|e| RecordError::Ring(e.without_value()))
    }

    /// Appends `record`, waiting for room as long as it takes (as
    /// [`Producer::send`]).
    pub fn send(&mut self, record: &[u8]) -> Result<(), RawPushError> {
        self.send_within(record, Limit::Forever)
    }

    /// Like [`send`](Self::send), giving up after `timeout`.
    pub fn send_timeout(&mut self, record: &[u8], timeout: Duration) -> Result<(), RawPushError> {
        self.send_within(record, Limit::Timeout(timeout))
    }

    /// Like [`send`](Self::send), giving up at `deadline`.
    pub fn send_deadline(&mut self, record: &[u8], deadline: Instant) -> Result<(), RawPushError> {
        self.send_within(record, Limit::Deadline(deadline))
    }

    #[inline]
    fn send_within(&mut self, record: &[u8], limit: Limit) -> Result<(), RawPushError> {
        check_record(record.len(), self.shape)?;
        let sent = self.inner.send_within(RawRecord(record), limit);
        sent.map_err(|e| RecordError::Ring(e.without_value()))
    }

    /// The slot size and alignment.
    pub fn shape(&self) -> SlotShape {
        self.shape
    }

    /// The ring's capacity, in slots.
    pub fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    /// The ring's counters (as [`Producer::stats`]).
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// Whether the consumer is gone (as [`Producer::is_disconnected`]).
    pub fn is_disconnected(&self) -> bool {
        self.inner.is_disconnected()
    }
}

impl RawConsumer {
    /// Creates the named segment `name` for slots of `shape` and attaches
    /// as its consumer (as [`Consumer::create`]).
    pub fn create(name: &str, shape: SlotShape, opts: &Options) -> Result<Self, OpenError> {
        let inner = Consumer::create(name, &raw_options(shape, opts))?;
        Ok(Self { inner, shape })
    }

    /// Opens the named segment `name` and attaches as its consumer (as
    /// [`Consumer::open`]); a segment of another slot size, alignment or
    /// schema id is [`OpenError::Incompatible`] naming the field.
    pub fn open(name: &str, shape: SlotShape, opts: &Options) -> Result<Self, OpenError> {
        let inner = Consumer::open(name, &raw_options(shape, opts))?;
        Ok(Self { inner, shape })
    }

    /// Copies the oldest record into `buf` (exactly one slot long) and
    /// frees its slot, as [`Consumer::pop`].
    #[inline]
    pub fn pop(&mut self, buf: &mut [u8]) -> Result<(), RawPopError> {
        check_record(buf.len(), self.shape)?;
        Ok(self.inner.pop_item(&mut RawBuffer(buf))?)
    }

    /// Like [`pop`](Self::pop), waiting as long as it takes (as
    /// [`Consumer::recv`]: the drain, then `Disconnected`).
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<(), RawPopError> {
        self.recv_within(buf, Limit::Forever)
    }

    /// Like [`recv`](Self::recv), giving up after `timeout`.
    pub fn recv_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> Result<(), RawPopError> {
        self.recv_within(buf, Limit::Timeout(timeout))
    }

    /// Like [`recv`](Self::recv), giving up at `deadline`.
    pub fn recv_deadline(&mut self, buf: &mut [u8], deadline: Instant) -> Result<(), RawPopError> {
        self.recv_within(buf, Limit::Deadline(deadline))
    }

    #[inline]
    fn recv_within(&mut self, buf: &mut [u8], limit: Limit) -> Result<(), RawPopError> {
        check_record(buf.len(), self.shape)?;
        Ok(self.inner.recv_item_within(&mut RawBuffer(buf), limit)?)
    }

    /// The slot size and alignment.
    pub fn shape(&self) -> SlotShape {
        self.shape
    }

    /// The ring's capacity, in slots.
    pub fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    /// The ring's counters (as [`Consumer::stats`]).
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// Whether the producer is gone; what it committed may still be
    /// waiting (as [`Consumer::is_disconnected`]).
    pub fn is_disconnected(&self) -> bool {
        self.inner.is_disconnected()
    }
}

/// A [`RawProducer`] and a [`RawConsumer`] over one new anonymous segment (memfd) for
/// slots of `shape`, as [`pair`](super::pair): fork after this call and
/// keep one end in each process.
pub fn raw_pair(shape: SlotShape, opts: &Options) -> Result<(RawProducer, RawConsumer), OpenError> {
    let opts = raw_options(shape, opts);
    let roles = (Role::Producer, Role::Consumer);
    let (tx, rx) = RingMemory::memfd_pair(RingKind::Spsc, roles, &opts)?;
    Ok((
        RawProducer {
            inner: Producer::attach(tx, &opts)?,
            shape,
        },
        RawConsumer {
            inner: Consumer::attach(rx, &opts)?,
            shape,
        },
    ))
}
