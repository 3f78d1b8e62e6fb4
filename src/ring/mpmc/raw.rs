//! MPMC endpoints whose slot size and alignment are given at run time
//! (for the C ABI and other languages): the same ring, moving records of
//! bytes instead of values of a Rust type.

use std::time::{Duration, Instant};

use super::{Receiver, Sender};
use crate::error::{OpenError, PopError, PushError, RecordError};
use crate::options::{Options, SlotShape};
use crate::ring::item::{RawBuffer, RawRecord, check_record, raw_options};
use crate::ring::{RingMemory, Stats};
use crate::segment::RingKind;
use crate::segment::peer::Role;
use crate::wait::Limit;

/// A sending end of an MPMC ring of [`SlotShape`]-sized records. It shares
/// a named segment with typed [`Sender<T>`]s and [`Receiver<T>`]s whose `T`
/// has the same size and alignment, when all set the same
/// [`Options::schema_id`] (without one, only raw endpoints agree with each
/// other).
///
/// # Examples
///
/// ```no_run
/// use shmlane::{Options, SlotShape, mpmc};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let opts = Options::new().schema_id(7);
/// let mut tx = mpmc::RawSender::create("jobs", SlotShape::new(4, 4)?, &opts)?;
/// let mut rx = mpmc::Receiver::<u32>::open("jobs", &opts)?;
/// tx.try_send(&9u32.to_ne_bytes())?;
/// assert_eq!(rx.try_recv()?, 9);
/// # Ok(())
/// # }
/// ```
pub struct RawSender {
    inner: Sender<()>,
    shape: SlotShape,
}

/// A receiving end of an MPMC ring of [`SlotShape`]-sized records; see
/// [`RawSender`].
pub struct RawReceiver {
    inner: Receiver<()>,
    shape: SlotShape,
}

type RawPushError = RecordError<PushError<()>>;
type RawPopError = RecordError<PopError>;

impl RawSender {
    /// Creates the named segment `name` for slots of `shape` and attaches
    /// as a sender (as [`Sender::create`]).
    pub fn create(name: &str, shape: SlotShape, opts: &Options) -> Result<Self, OpenError> {
        let inner = Sender::create(name, &raw_options(shape, opts))?;
        Ok(Self { inner, shape })
    }

    /// Opens the named segment `name` and attaches as a sender (as
    /// [`Sender::open`]); a segment of another slot size, alignment or
    /// schema id is [`OpenError::Incompatible`] naming the field.
    pub fn open(name: &str, shape: SlotShape, opts: &Options) -> Result<Self, OpenError> {
        let inner = Sender::open(name, &raw_options(shape, opts))?;
        Ok(Self { inner, shape })
    }

    /// Another sender on the same ring (as [`Sender::try_clone`]).
    pub fn try_clone(&self) -> Result<Self, OpenError> {
        let inner = self.inner.try_clone()?;
        Ok(Self {
            inner,
            shape: self.shape,
        })
    }

    /// Appends `record` (exactly one slot's bytes), as [`Sender::try_send`].
    #[inline]
    pub fn try_send(&mut self, record: &[u8]) -> Result<(), RawPushError> {
        check_record(record.len(), self.shape)?;
        let sent = self.inner.try_send_item(RawRecord(record));
        sent.map_err(|e| RecordError::Ring(e.without_value()))
    }

    /// Appends `record`, waiting for room as long as it takes (as
    /// [`Sender::send`]).
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

    /// The ring's counters (as [`Sender::stats`]).
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// Whether every receiver is gone (as [`Sender::is_disconnected`]).
    pub fn is_disconnected(&self) -> bool {
        self.inner.is_disconnected()
    }
}

impl RawReceiver {
    /// Creates the named segment `name` for slots of `shape` and attaches
    /// as a receiver (as [`Receiver::create`]).
    pub fn create(name: &str, shape: SlotShape, opts: &Options) -> Result<Self, OpenError> {
        let inner = Receiver::create(name, &raw_options(shape, opts))?;
        Ok(Self { inner, shape })
    }

    /// Opens the named segment `name` and attaches as a receiver (as
    /// [`Receiver::open`]); a segment of another slot size, alignment or
    /// schema id is [`OpenError::Incompatible`] naming the field.
    pub fn open(name: &str, shape: SlotShape, opts: &Options) -> Result<Self, OpenError> {
        let inner = Receiver::open(name, &raw_options(shape, opts))?;
        Ok(Self { inner, shape })
    }

    /// Another receiver on the same ring (as [`Receiver::try_clone`]).
    pub fn try_clone(&self) -> Result<Self, OpenError> {
        let inner = self.inner.try_clone()?;
        Ok(Self {
            inner,
            shape: self.shape,
        })
    }

    /// Copies the oldest record into `buf` (exactly one slot long) and
    /// frees its slot, as [`Receiver::try_recv`].
    #[inline]
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<(), RawPopError> {
        check_record(buf.len(), self.shape)?;
        Ok(self.inner.try_recv_item(&mut RawBuffer(buf))?)
    }

    /// Like [`try_recv`](Self::try_recv), waiting as long as it takes (as
    /// [`Receiver::recv`]: the drain, then `Disconnected`).
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

    /// The ring's counters (as [`Receiver::stats`]).
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// Whether every sender is gone; what they committed may still be
    /// waiting (as [`Receiver::is_disconnected`]).
    pub fn is_disconnected(&self) -> bool {
        self.inner.is_disconnected()
    }
}

/// A [`RawSender`] and a [`RawReceiver`] over one new anonymous segment (memfd) for
/// slots of `shape`, as [`pair`](super::pair): fork after this call and
/// keep one end in each process.
pub fn raw_pair(shape: SlotShape, opts: &Options) -> Result<(RawSender, RawReceiver), OpenError> {
    let opts = raw_options(shape, opts);
    let roles = (Role::Producer, Role::Consumer);
    let (tx, rx) = RingMemory::memfd_pair(RingKind::Mpmc, roles, &opts)?;
    Ok((
        RawSender {
            inner: Sender::attach(tx, &opts)?,
            shape,
        },
        RawReceiver {
            inner: Receiver::attach(rx, &opts)?,
            shape,
        },
    ))
}
