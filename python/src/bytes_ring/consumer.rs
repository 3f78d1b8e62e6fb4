//! `shmlane.bytes.Consumer`: the reading end of a byte ring, with copying
//! receives (`recv`) and zero-copy reads (`read`, see [`super::view`]).

use std::sync::atomic::{AtomicU64, Ordering};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyMemoryView, PyType};
use shmlane::bytes;

use super::view::{FrameView, Held};
use crate::blocking::{self, Deadline};
use crate::errors::{ToPyErr, is_error, raise};
use crate::handle::Handle;
use crate::options::RingArgs;
use crate::stats::Stats;

/// The reading end of a byte ring of variable-length frames.
#[pyclass(module = "shmlane.bytes", name = "Consumer", frozen)]
pub(crate) struct Consumer {
    reading: Handle<Reading>,
    /// The number of a lent frame whose view was released while `reading`
    /// was in use (0: none): a garbage collection that runs inside a
    /// consumer call can release a view. Given back at the next call.
    released: AtomicU64,
}

/// A consumer's ring and what it has lent out.
#[derive(Debug)]
struct Reading {
    ring: bytes::Consumer,
    /// The frame a `read()` lent out, until its memoryview is released.
    held: Option<Held>,
    /// Numbers the frames lent out, so that a view gives back only its own.
    lent: u64,
    /// Receive buffer, reused.
    buf: Vec<u8>,
}

impl Reading {
    /// The ring, for a call that moves the read position: refused while a
    /// frame is lent out (its bytes would be freed under its view).
    fn ring(&mut self, py: Python<'_>) -> PyResult<&mut bytes::Consumer> {
        self.not_lending(py)?;
        Ok(&mut self.ring)
    }

    /// Gives back the frame lent out as `number`, if it still is.
    fn give_back(&mut self, number: u64) {
        if number != 0
            && self.lent == number
            && let Some(held) = self.held.take()
        {
            held.release(&mut self.ring);
        }
    }

    fn not_lending(&self, py: Python<'_>) -> PyResult<()> {
        match self.held {
            None => Ok(()),
            Some(_) => Err(raise(
                py,
                "FrameHeld",
                "the memoryview of the last read() is still held: release it (view.release(), or end its with block) first".into(),
            )),
        }
    }

    /// Copies the next frame out, waiting until `deadline` (`None`: not at
    /// all).
    fn recv(&mut self, py: Python<'_>, wait: Option<Deadline>) -> PyResult<Py<PyBytes>> {
        self.not_lending(py)?;
        let (ring, buf) = (&mut self.ring, &mut self.buf);
        let got = match wait {
            None => ring.try_recv(buf),
            Some(deadline) => {
                blocking::sliced(py, deadline, |slice| ring.recv_timeout(buf, slice))?
            }
        };
        got.map_err(|e| e.to_py(py))?;
        Ok(PyBytes::new(py, &self.buf).unbind())
    }
}

impl Consumer {
    pub(crate) fn new(ring: bytes::Consumer) -> Self {
        let reading = Reading {
            ring,
            held: None,
            lent: 0,
            buf: Vec::new(),
        };
        Self {
            reading: Handle::new("consumer", reading),
            released: AtomicU64::new(0),
        }
    }

    /// Runs `f` on the reading state, after giving back a frame whose view
    /// was released while the state was in use.
    fn with<R>(&self, py: Python<'_>, f: impl FnOnce(&mut Reading) -> PyResult<R>) -> PyResult<R> {
        self.reading.with(py, |this| {
            this.give_back(self.released.swap(0, Ordering::Relaxed));
            f(this)
        })
    }

    /// Lends the next frame out as a memoryview: at once (`wait` `None`)
    /// or waiting until the deadline.
    fn lend(slf: &Bound<'_, Self>, wait: Option<Deadline>) -> PyResult<Py<PyMemoryView>> {
        let py = slf.py();
        let view = slf.get().with(py, |this| {
            let ring = this.ring(py)?;
            let got = match wait {
                None => ring.read().map(Held::keep),
                Some(deadline) => blocking::sliced(py, deadline, |slice| {
                    ring.read_timeout(slice).map(Held::keep)
                })?,
            };
            let held = got.map_err(|e| e.to_py(py))?;
            this.lent += 1;
            this.held = Some(held);
            Ok(FrameView::new(slf.clone().unbind(), this.lent, held))
        })?;
        let number = view.number();
        let made = Bound::new(py, view).and_then(|view| PyMemoryView::from(view.as_any()));
        made.map(Bound::unbind).inspect_err(|_| {
            // No view was made: nothing else will give the frame back.
            slf.get().give_back(py, number);
        })
    }

    /// Frees the frame lent out as `number`, if it still is: now, or at
    /// the next call if the consumer is in use (a view released by a
    /// garbage collection inside a consumer call). Never closed meanwhile:
    /// close is refused while a frame is lent.
    pub(crate) fn give_back(&self, py: Python<'_>, number: u64) {
        self.released.store(number, Ordering::Relaxed);
        // `Busy` leaves it to the next call.
        let _ = self.with(py, |_| Ok(()));
    }

    /// Whether the frame lent out as `number` still is.
    pub(crate) fn lends(&self, py: Python<'_>, number: u64) -> bool {
        self.with(py, |this| Ok(this.held.is_some() && this.lent == number))
            .unwrap_or(false)
    }
}

#[pymethods]
impl Consumer {
    /// Creates the named byte ring `name` and attaches as its consumer.
    #[classmethod]
    #[pyo3(signature = (name, *, capacity=None, max_frame=None, overflow=None, wait=None, persist=None, mode=None, release_each_frame=None))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        name: &str,
        capacity: Option<usize>,
        max_frame: Option<usize>,
        overflow: Option<&str>,
        wait: Option<&str>,
        persist: Option<bool>,
        mode: Option<u32>,
        release_each_frame: Option<bool>,
    ) -> PyResult<Self> {
        let args = RingArgs {
            capacity,
            max_frame,
            overflow,
            wait,
            persist,
            mode,
            release_each_frame,
            ..RingArgs::default()
        };
        let opts = args.options()?;
        let ring = py.detach(|| bytes::Consumer::create(name, &opts));
        ring.map(Self::new).map_err(|e| e.to_py(py))
    }

    /// Opens the named byte ring `name` and attaches as its consumer.
    #[classmethod]
    #[pyo3(signature = (name, *, capacity=None, max_frame=None, overflow=None, wait=None, open_timeout=None, release_each_frame=None))]
    #[allow(clippy::too_many_arguments)]
    fn open(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        name: &str,
        capacity: Option<usize>,
        max_frame: Option<usize>,
        overflow: Option<&str>,
        wait: Option<&str>,
        open_timeout: Option<f64>,
        release_each_frame: Option<bool>,
    ) -> PyResult<Self> {
        let args = RingArgs {
            capacity,
            max_frame,
            overflow,
            wait,
            open_timeout,
            release_each_frame,
            ..RingArgs::default()
        };
        let opts = args.options()?;
        let ring = py.detach(|| bytes::Consumer::open(name, &opts));
        ring.map(Self::new).map_err(|e| e.to_py(py))
    }

    /// The next frame as `bytes`, waiting up to `timeout` seconds (`None`:
    /// as long as it takes). Raises `Timeout`, or `Disconnected` once the
    /// producer is gone and everything it sent was received.
    #[pyo3(signature = (timeout=None))]
    fn recv(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyBytes>> {
        let deadline = blocking::deadline(timeout)?;
        self.with(py, |this| this.recv(py, Some(deadline)))
    }

    /// The next frame as `bytes` if there is one now, else raises `Empty`.
    fn try_recv(&self, py: Python<'_>) -> PyResult<Py<PyBytes>> {
        self.with(py, |this| this.recv(py, None))
    }

    /// The next frame in place, as a read-only memoryview of the ring's
    /// memory, waiting up to `timeout` seconds. The frame stays in the ring
    /// until the view is released (`view.release()`, the end of a `with`
    /// block, or the last reference dropped); until then every other read
    /// raises `FrameHeld`. A released view raises ValueError when used.
    #[pyo3(signature = (timeout=None))]
    fn read(slf: &Bound<'_, Self>, timeout: Option<f64>) -> PyResult<Py<PyMemoryView>> {
        Self::lend(slf, Some(blocking::deadline(timeout)?))
    }

    /// Like `read`, without waiting: raises `Empty` if there is no frame.
    fn try_read(slf: &Bound<'_, Self>) -> PyResult<Py<PyMemoryView>> {
        Self::lend(slf, None)
    }

    /// The largest frame this ring takes, in bytes.
    #[getter]
    fn max_frame(&self, py: Python<'_>) -> PyResult<usize> {
        self.with(py, |this| Ok(this.ring.max_frame()))
    }

    /// The ring's size in bytes.
    #[getter]
    fn capacity(&self, py: Python<'_>) -> PyResult<usize> {
        self.with(py, |this| Ok(this.ring.capacity()))
    }

    /// Whether the producer is gone (frames it sent may still be unread).
    #[getter]
    fn disconnected(&self, py: Python<'_>) -> PyResult<bool> {
        self.with(py, |this| Ok(this.ring.is_disconnected()))
    }

    /// The ring's counters.
    fn stats(&self, py: Python<'_>) -> PyResult<Stats> {
        self.with(py, |this| Ok(this.ring.stats().into()))
    }

    /// Detaches from the ring. Refused (`FrameHeld`) while a `read()` view
    /// is held; closing twice is allowed; any other use raises `Closed`.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let closing = self.reading.close(py, |this| {
            this.give_back(self.released.swap(0, Ordering::Relaxed));
            this.not_lending(py)
        });
        closing.map(drop)
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

    /// Iterating receives frames as `bytes` until the producer is gone.
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyBytes>>> {
        match self.recv(py, None) {
            Ok(frame) => Ok(Some(frame)),
            Err(e) if is_error(py, &e, "Disconnected") => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "<shmlane.{}>",
            self.reading.describe(|this| format!("{:?}", this.ring))
        )
    }
}
