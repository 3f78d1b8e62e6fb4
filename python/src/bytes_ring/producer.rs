//! `shmlane.bytes.Producer`: the writing end of a byte ring.

use pyo3::prelude::*;
use pyo3::types::PyType;
use shmlane::bytes;

use crate::blocking::{self, ByteSource};
use crate::errors::ToPyErr;
use crate::handle::Handle;
use crate::options::RingArgs;
use crate::stats::Stats;

/// The writing end of a byte ring of variable-length frames.
#[pyclass(module = "shmlane.bytes", name = "Producer", frozen)]
pub(crate) struct Producer {
    ring: Handle<bytes::Producer>,
}

impl Producer {
    pub(crate) fn new(ring: bytes::Producer) -> Self {
        Self {
            ring: Handle::new("producer", ring),
        }
    }
}

#[pymethods]
impl Producer {
    /// Creates the named byte ring `name` and attaches as its producer.
    #[classmethod]
    #[pyo3(signature = (name, *, capacity=None, max_frame=None, overflow=None, wait=None, persist=None, mode=None))]
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
    ) -> PyResult<Self> {
        let args = RingArgs {
            capacity,
            max_frame,
            overflow,
            wait,
            persist,
            mode,
            ..RingArgs::default()
        };
        let opts = args.options()?;
        let ring = py.detach(|| bytes::Producer::create(name, &opts));
        ring.map(Self::new).map_err(|e| e.to_py(py))
    }

    /// Opens the named byte ring `name` and attaches as its producer.
    #[classmethod]
    #[pyo3(signature = (name, *, capacity=None, max_frame=None, overflow=None, wait=None, open_timeout=None))]
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
    ) -> PyResult<Self> {
        let args = RingArgs {
            capacity,
            max_frame,
            overflow,
            wait,
            open_timeout,
            ..RingArgs::default()
        };
        let opts = args.options()?;
        let ring = py.detach(|| bytes::Producer::open(name, &opts));
        ring.map(Self::new).map_err(|e| e.to_py(py))
    }

    /// Sends `data` (any bytes-like object) as one frame, waiting for room
    /// up to `timeout` seconds (`None`: as long as it takes).
    #[pyo3(signature = (data, timeout=None))]
    fn send(&self, py: Python<'_>, data: &Bound<'_, PyAny>, timeout: Option<f64>) -> PyResult<()> {
        let deadline = blocking::deadline(timeout)?;
        let source = ByteSource::new(data)?;
        let bytes = source.as_slice();
        self.ring.with(py, |ring| {
            blocking::sliced(py, deadline, |slice| ring.send_timeout(bytes, slice))?
                .map_err(|e| e.to_py(py))
        })
    }

    /// Sends `data` as one frame if there is room now, else raises `Full`.
    fn try_send(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let source = ByteSource::new(data)?;
        self.ring.with(py, |ring| {
            ring.try_send(source.as_slice()).map_err(|e| e.to_py(py))
        })
    }

    /// The largest frame this ring takes, in bytes.
    #[getter]
    fn max_frame(&self, py: Python<'_>) -> PyResult<usize> {
        self.ring.with(py, |ring| Ok(ring.max_frame()))
    }

    /// The ring's size in bytes.
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
        format!(
            "<shmlane.{}>",
            self.ring.describe(|ring| format!("{ring:?}"))
        )
    }
}
