//! `shmlane.spsc`: the typed SPSC ring from Python, as records of a fixed
//! size given at run time (the core's raw endpoints), which share a
//! segment with a Rust `spsc::Producer<T>` / `Consumer<T>` of the same
//! size, alignment and schema id. Records go in and out as bytes-like
//! objects, or many at a time through a numpy array's buffer.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyType};
use shmlane::{PushError, RecordError, SlotShape, spsc};

use crate::blocking::{self, ByteSource, Deadline, WritableBuffer};
use crate::errors::{ToPyErr, is_error};
use crate::handle::Handle;
use crate::options::RingArgs;
use crate::stats::Stats;

/// The slot shape from `record_size` / `align`, or from `dtype` (anything
/// with `itemsize` and `alignment`, as a numpy dtype has).
fn shape(
    py: Python<'_>,
    record_size: Option<usize>,
    align: Option<usize>,
    dtype: Option<&Bound<'_, PyAny>>,
) -> PyResult<SlotShape> {
    let (size, align) = match (record_size, dtype) {
        (Some(size), None) => (size, align.unwrap_or(1)),
        (None, Some(dtype)) => {
            let size: usize = dtype.getattr("itemsize")?.extract()?;
            let natural: usize = dtype.getattr("alignment")?.extract()?;
            (size, align.unwrap_or(natural))
        }
        _ => {
            return Err(PyValueError::new_err(
                "give the record's size: record_size=N (and align=A), or dtype=D (a numpy dtype)",
            ));
        }
    };
    SlotShape::new(size, align).map_err(|e| e.to_py(py))
}

/// The number of whole records in `len` bytes of records of `size`; a
/// partial record is a ValueError.
fn records_in(len: usize, size: usize) -> PyResult<usize> {
    if len.is_multiple_of(size) {
        Ok(len / size)
    } else {
        Err(PyValueError::new_err(format!(
            "a buffer of {len} bytes is not a whole number of {size}-byte records"
        )))
    }
}

/// A record (or buffer) of the wrong length is a ValueError; the ring's
/// own refusals map as the ring error `E` does.
impl<E: ToPyErr + std::fmt::Display> ToPyErr for RecordError<E> {
    fn to_py(self, py: Python<'_>) -> PyErr {
        match self {
            RecordError::Ring(e) => e.to_py(py),
            other => PyValueError::new_err(other.to_string()),
        }
    }
}

/// Why a record was not sent.
type PushRecordError = RecordError<PushError<()>>;

/// The writing end of an SPSC ring of fixed-size records.
#[pyclass(module = "shmlane.spsc", name = "Producer", frozen)]
pub(crate) struct Producer {
    ring: Handle<spsc::RawProducer>,
}

/// The reading end of an SPSC ring of fixed-size records.
#[pyclass(module = "shmlane.spsc", name = "Consumer", frozen)]
pub(crate) struct Consumer {
    reading: Handle<Reading>,
}

/// A consumer's ring and its one-record buffer for `recv`.
struct Reading {
    ring: spsc::RawConsumer,
    record: Vec<u8>,
}

impl std::fmt::Debug for Reading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shape = self.ring.shape();
        write!(
            f,
            "spsc::Consumer of {}-byte records (align {}), capacity {}",
            shape.size(),
            shape.align(),
            self.ring.capacity()
        )
    }
}

impl Reading {
    /// The next record into `buf` (one record long): at once (`wait`
    /// `None`) or waiting until the deadline.
    fn pop_into(
        ring: &mut spsc::RawConsumer,
        py: Python<'_>,
        buf: &mut [u8],
        wait: Option<Deadline>,
    ) -> PyResult<()> {
        let got = match wait {
            None => ring.pop(buf),
            Some(deadline) => {
                blocking::sliced(py, deadline, |slice| ring.recv_timeout(buf, slice))?
            }
        };
        got.map_err(|e| e.to_py(py))
    }
}

macro_rules! ring_args {
    ($($field:ident),* $(,)?) => {
        RingArgs { $($field,)* ..RingArgs::default() }
    };
}

#[pymethods]
impl Producer {
    /// Creates the named ring `name` of `capacity` records (a power of
    /// two) of `record_size` bytes aligned to `align` (or of `dtype`'s
    /// size and alignment), and attaches as its producer. A Rust peer must
    /// use a type of that size and alignment and the same `schema_id`.
    #[classmethod]
    #[pyo3(signature = (name, record_size=None, *, align=None, dtype=None, capacity=None, schema_id=None, wait=None, persist=None, mode=None))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        name: &str,
        record_size: Option<usize>,
        align: Option<usize>,
        dtype: Option<&Bound<'_, PyAny>>,
        capacity: Option<usize>,
        schema_id: Option<u64>,
        wait: Option<&str>,
        persist: Option<bool>,
        mode: Option<u32>,
    ) -> PyResult<Self> {
        let shape = shape(py, record_size, align, dtype)?;
        let opts = ring_args!(capacity, schema_id, wait, persist, mode).options()?;
        let ring = py.detach(|| spsc::RawProducer::create(name, shape, &opts));
        ring.map(|ring| Self {
            ring: Handle::new("producer", ring),
        })
        .map_err(|e| e.to_py(py))
    }

    /// Opens the named ring `name` and attaches as its producer; a ring of
    /// another record size, alignment, capacity or schema id raises
    /// `Incompatible` naming the field.
    #[classmethod]
    #[pyo3(signature = (name, record_size=None, *, align=None, dtype=None, capacity=None, schema_id=None, wait=None, open_timeout=None))]
    #[allow(clippy::too_many_arguments)]
    fn open(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        name: &str,
        record_size: Option<usize>,
        align: Option<usize>,
        dtype: Option<&Bound<'_, PyAny>>,
        capacity: Option<usize>,
        schema_id: Option<u64>,
        wait: Option<&str>,
        open_timeout: Option<f64>,
    ) -> PyResult<Self> {
        let shape = shape(py, record_size, align, dtype)?;
        let opts = ring_args!(capacity, schema_id, wait, open_timeout).options()?;
        let ring = py.detach(|| spsc::RawProducer::open(name, shape, &opts));
        ring.map(|ring| Self {
            ring: Handle::new("producer", ring),
        })
        .map_err(|e| e.to_py(py))
    }

    /// Sends one record (a bytes-like object of exactly `record_size`
    /// bytes, else ValueError), waiting up to `timeout` seconds for room.
    #[pyo3(signature = (record, timeout=None))]
    fn send(
        &self,
        py: Python<'_>,
        record: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<()> {
        self.send_many(py, record, timeout).map(drop)
    }

    /// Sends one record if there is room now, else raises `Full`.
    fn try_send(&self, py: Python<'_>, record: &Bound<'_, PyAny>) -> PyResult<()> {
        let source = ByteSource::new(record)?;
        self.ring.with(py, |ring| {
            ring.push(source.as_slice()).map_err(|e| e.to_py(py))
        })
    }

    /// Sends every record of `records` (a bytes-like object, e.g. a numpy
    /// array of the ring's dtype, holding a whole number of records), in
    /// order, waiting for room up to `timeout` seconds in all; returns how
    /// many were sent (all of them, unless an error is raised).
    #[pyo3(signature = (records, timeout=None))]
    fn send_many(
        &self,
        py: Python<'_>,
        records: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<usize> {
        let deadline = blocking::deadline(timeout)?;
        let source = ByteSource::new(records)?;
        let bytes = source.as_slice();
        self.ring.with(py, |ring| {
            let size = ring.shape().size();
            let count = records_in(bytes.len(), size)?;
            let mut chunks = bytes.chunks_exact(size).peekable();
            let sent = blocking::sliced(py, deadline, |slice| -> Result<(), PushRecordError> {
                while let Some(record) = chunks.peek() {
                    ring.send_timeout(record, slice)?;
                    chunks.next();
                }
                Ok(())
            })?;
            sent.map_err(|e| e.to_py(py)).map(|()| count)
        })
    }

    /// Bytes of one record.
    #[getter]
    fn record_size(&self, py: Python<'_>) -> PyResult<usize> {
        self.ring.with(py, |ring| Ok(ring.shape().size()))
    }

    /// The ring's capacity, in records.
    #[getter]
    fn capacity(&self, py: Python<'_>) -> PyResult<usize> {
        self.ring.with(py, |ring| Ok(ring.capacity()))
    }

    /// Whether the consumer is gone.
    #[getter]
    fn disconnected(&self, py: Python<'_>) -> PyResult<bool> {
        self.ring.with(py, |ring| Ok(ring.is_disconnected()))
    }

    /// The ring's counters.
    fn stats(&self, py: Python<'_>) -> PyResult<Stats> {
        self.ring.with(py, |ring| Ok(ring.stats().into()))
    }

    /// Detaches from the ring: the consumer receives what was sent, then
    /// `Disconnected`. Closing twice is allowed; any other use raises
    /// `Closed`.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.ring.close(py, |_| Ok(())).map(drop)
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.ring.is_closed()
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _ty: &Bound<'_, PyAny>,
        _value: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        self.close(py)
    }

    fn __repr__(&self) -> String {
        let describe = |ring: &spsc::RawProducer| {
            let shape = ring.shape();
            format!(
                "spsc::Producer of {}-byte records (align {}), capacity {}",
                shape.size(),
                shape.align(),
                ring.capacity()
            )
        };
        format!("<shmlane.{}>", self.ring.describe(describe))
    }
}

#[pymethods]
impl Consumer {
    /// Creates the named ring `name` (as `Producer.create`) and attaches as
    /// its consumer.
    #[classmethod]
    #[pyo3(signature = (name, record_size=None, *, align=None, dtype=None, capacity=None, schema_id=None, wait=None, persist=None, mode=None))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        name: &str,
        record_size: Option<usize>,
        align: Option<usize>,
        dtype: Option<&Bound<'_, PyAny>>,
        capacity: Option<usize>,
        schema_id: Option<u64>,
        wait: Option<&str>,
        persist: Option<bool>,
        mode: Option<u32>,
    ) -> PyResult<Self> {
        let shape = shape(py, record_size, align, dtype)?;
        let opts = ring_args!(capacity, schema_id, wait, persist, mode).options()?;
        let ring = py.detach(|| spsc::RawConsumer::create(name, shape, &opts));
        ring.map(Self::new).map_err(|e| e.to_py(py))
    }

    /// Opens the named ring `name` (as `Producer.open`) and attaches as its
    /// consumer.
    #[classmethod]
    #[pyo3(signature = (name, record_size=None, *, align=None, dtype=None, capacity=None, schema_id=None, wait=None, open_timeout=None))]
    #[allow(clippy::too_many_arguments)]
    fn open(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        name: &str,
        record_size: Option<usize>,
        align: Option<usize>,
        dtype: Option<&Bound<'_, PyAny>>,
        capacity: Option<usize>,
        schema_id: Option<u64>,
        wait: Option<&str>,
        open_timeout: Option<f64>,
    ) -> PyResult<Self> {
        let shape = shape(py, record_size, align, dtype)?;
        let opts = ring_args!(capacity, schema_id, wait, open_timeout).options()?;
        let ring = py.detach(|| spsc::RawConsumer::open(name, shape, &opts));
        ring.map(Self::new).map_err(|e| e.to_py(py))
    }

    /// The next record as `bytes`, waiting up to `timeout` seconds
    /// (`None`: as long as it takes). Raises `Timeout`, or `Disconnected`
    /// once the producer is gone and every record it sent was received.
    #[pyo3(signature = (timeout=None))]
    fn recv(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyBytes>> {
        let deadline = blocking::deadline(timeout)?;
        self.reading.with(py, |this| {
            Reading::pop_into(&mut this.ring, py, &mut this.record, Some(deadline))?;
            Ok(PyBytes::new(py, &this.record).unbind())
        })
    }

    /// The next record as `bytes` if there is one now, else raises `Empty`.
    fn try_recv(&self, py: Python<'_>) -> PyResult<Py<PyBytes>> {
        self.reading.with(py, |this| {
            Reading::pop_into(&mut this.ring, py, &mut this.record, None)?;
            Ok(PyBytes::new(py, &this.record).unbind())
        })
    }

    /// Copies the next record into `buffer` (writable, exactly
    /// `record_size` bytes, else ValueError), waiting up to `timeout`
    /// seconds.
    #[pyo3(signature = (buffer, timeout=None))]
    fn recv_into(
        &self,
        py: Python<'_>,
        buffer: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<()> {
        let deadline = blocking::deadline(timeout)?;
        let mut target = WritableBuffer::new(buffer)?;
        let buf = target.as_mut_slice();
        self.reading.with(py, |this| {
            Reading::pop_into(&mut this.ring, py, buf, Some(deadline))
        })
    }

    /// Fills `buffer` (writable, a whole number of records, e.g. a numpy
    /// array of the ring's dtype) with the records waiting, waiting up to
    /// `timeout` seconds for the first; returns how many it copied (at
    /// least 1). Raises `Timeout`, or `Disconnected` once the producer is
    /// gone and every record was received.
    #[pyo3(signature = (buffer, timeout=None))]
    fn recv_many(
        &self,
        py: Python<'_>,
        buffer: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<usize> {
        let deadline = blocking::deadline(timeout)?;
        let mut target = WritableBuffer::new(buffer)?;
        let buf = target.as_mut_slice();
        self.reading.with(py, |this| {
            let size = this.ring.shape().size();
            if records_in(buf.len(), size)? == 0 {
                return Err(PyValueError::new_err("recv_many needs room for a record"));
            }
            let mut slots = buf.chunks_exact_mut(size);
            if let Some(first) = slots.next() {
                Reading::pop_into(&mut this.ring, py, first, Some(deadline))?;
            }
            let mut copied = 1;
            for slot in slots {
                match Reading::pop_into(&mut this.ring, py, slot, None) {
                    Ok(()) => copied += 1,
                    // What was copied is returned; the next call reports.
                    Err(e) if is_error(py, &e, "Empty") || is_error(py, &e, "Disconnected") => {
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(copied)
        })
    }

    /// Bytes of one record.
    #[getter]
    fn record_size(&self, py: Python<'_>) -> PyResult<usize> {
        self.reading.with(py, |this| Ok(this.ring.shape().size()))
    }

    /// The ring's capacity, in records.
    #[getter]
    fn capacity(&self, py: Python<'_>) -> PyResult<usize> {
        self.reading.with(py, |this| Ok(this.ring.capacity()))
    }

    /// Whether the producer is gone (records it sent may still be unread).
    #[getter]
    fn disconnected(&self, py: Python<'_>) -> PyResult<bool> {
        self.reading
            .with(py, |this| Ok(this.ring.is_disconnected()))
    }

    /// The ring's counters.
    fn stats(&self, py: Python<'_>) -> PyResult<Stats> {
        self.reading.with(py, |this| Ok(this.ring.stats().into()))
    }

    /// Detaches from the ring. Closing twice is allowed; any other use
    /// raises `Closed`.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.reading.close(py, |_| Ok(())).map(drop)
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.reading.is_closed()
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _ty: &Bound<'_, PyAny>,
        _value: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        self.close(py)
    }

    /// Iterating receives records as `bytes` until the producer is gone.
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyBytes>>> {
        match self.recv(py, None) {
            Ok(record) => Ok(Some(record)),
            Err(e) if is_error(py, &e, "Disconnected") => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "<shmlane.{}>",
            self.reading.describe(|this| format!("{this:?}"))
        )
    }
}

/// An anonymous records ring (memfd), as `(Producer, Consumer)`: share it
/// with a child made by `os.fork` or `multiprocessing` with the fork start
/// method; each process then closes the end it does not use.
#[pyfunction]
#[pyo3(signature = (record_size=None, *, align=None, dtype=None, capacity=None, wait=None))]
pub(crate) fn pair(
    py: Python<'_>,
    record_size: Option<usize>,
    align: Option<usize>,
    dtype: Option<&Bound<'_, PyAny>>,
    capacity: Option<usize>,
    wait: Option<&str>,
) -> PyResult<(Producer, Consumer)> {
    let shape = shape(py, record_size, align, dtype)?;
    let opts = ring_args!(capacity, wait).options()?;
    let (tx, rx) = spsc::raw_pair(shape, &opts).map_err(|e| e.to_py(py))?;
    let producer = Producer {
        ring: Handle::new("producer", tx),
    };
    Ok((producer, Consumer::new(rx)))
}

impl Consumer {
    fn new(ring: spsc::RawConsumer) -> Self {
        let record = vec![0; ring.shape().size()];
        Self {
            reading: Handle::new("consumer", Reading { ring, record }),
        }
    }
}
