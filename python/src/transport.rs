//! `shmlane.transport`: byte messages over any mechanism, by URL.

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use shmlane::transport;

use crate::blocking::{self, ByteSource, Deadline};
use crate::errors::{ToPyErr, is_error};
use crate::handle::Handle;

/// The sending end of a channel, from `shmlane.transport.sender(url)`.
#[pyclass(module = "shmlane.transport", name = "Sender", frozen)]
pub(crate) struct Sender {
    end: Handle<Box<dyn transport::Sender>>,
}

/// The receiving end of a channel, from `shmlane.transport.receiver(url)`.
#[pyclass(module = "shmlane.transport", name = "Receiver", frozen)]
pub(crate) struct Receiver {
    end: Handle<Receiving>,
}

/// A receiver and its buffer, reused.
struct Receiving {
    end: Box<dyn transport::Receiver>,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Receiving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Receiver {}", self.end.endpoint())
    }
}

/// Opens the sending end of the channel `url` (`shm://NAME`, `mq:///NAME`,
/// `unix:///PATH`, `tcp://HOST:PORT`, ...). May wait for the other side
/// as the mechanism does (a FIFO's reader, `shm://`'s receiver, a listener
/// within `?timeout_ms=`), without the GIL and in slices, so Ctrl-C ends
/// the wait.
#[pyfunction]
pub(crate) fn sender(py: Python<'_>, url: &str) -> PyResult<Sender> {
    let tx = open_sliced(py, || transport::Opening::sender(url))?;
    Ok(Sender {
        end: Handle::new("sender", tx),
    })
}

/// Opens the receiving end of the channel `url` (on a socket URL: listens
/// and accepts one connection, without the GIL and in slices, so Ctrl-C
/// ends the wait).
#[pyfunction]
pub(crate) fn receiver(py: Python<'_>, url: &str) -> PyResult<Receiver> {
    let end = open_sliced(py, || transport::Opening::receiver(url))?;
    Ok(Receiver {
        end: Handle::new(
            "receiver",
            Receiving {
                end,
                buf: Vec::new(),
            },
        ),
    })
}

/// Opens an end a [`blocking::SLICE`] at a time without the GIL; between
/// slices, pending signals are handled (a KeyboardInterrupt is raised from
/// here, and the half-open end is dropped).
fn open_sliced<E: Send>(
    py: Python<'_>,
    start: impl FnOnce() -> Result<transport::Opening<E>, transport::ConnectError> + Send,
) -> PyResult<E> {
    let mut opening = py.detach(start).map_err(|e| e.to_py(py))?;
    loop {
        match py.detach(|| opening.wait(blocking::SLICE)) {
            Ok(Some(end)) => return Ok(end),
            Ok(None) => py.check_signals()?,
            Err(e) => return Err(e.to_py(py)),
        }
    }
}

#[pymethods]
impl Sender {
    /// Sends `data` (bytes-like) as one message, waiting up to `timeout`
    /// seconds for room (`None`: as long as it takes).
    #[pyo3(signature = (data, timeout=None))]
    fn send(&self, py: Python<'_>, data: &Bound<'_, PyAny>, timeout: Option<f64>) -> PyResult<()> {
        let deadline = blocking::deadline(timeout)?;
        let source = ByteSource::new(data)?;
        let bytes = source.as_slice();
        self.end.with(py, |end| {
            blocking::sliced(py, deadline, |slice| end.send_timeout(bytes, slice))?
                .map_err(|e| e.to_py(py))
        })
    }

    /// Sends `data` if there is room now, else raises `Full`.
    fn try_send(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let source = ByteSource::new(data)?;
        self.end.with(py, |end| {
            end.try_send(source.as_slice()).map_err(|e| e.to_py(py))
        })
    }

    /// Writes out what a timed send left half-written (byte streams).
    #[pyo3(signature = (timeout=None))]
    fn flush(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let deadline = blocking::deadline(timeout)?;
        self.end.with(py, |end| {
            blocking::sliced(py, deadline, |slice| end.flush_timeout(slice))?
                .map_err(|e| e.to_py(py))
        })
    }

    /// The channel's maximum message size in bytes.
    #[getter]
    fn max_message_size(&self, py: Python<'_>) -> PyResult<usize> {
        self.end.with(py, |end| Ok(end.max_message_size()))
    }

    /// The channel, as a URL without its options.
    #[getter]
    fn endpoint(&self, py: Python<'_>) -> PyResult<String> {
        self.end.with(py, |end| Ok(end.endpoint().to_owned()))
    }

    /// Flushes and closes this end: the receiver gets what was sent, then
    /// `Disconnected`. Closing twice is allowed; any other use raises
    /// `Closed`.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let Some(mut end) = self.end.close(py, |_| Ok(()))? else {
            return Ok(());
        };
        let flushed = blocking::sliced(py, None, |slice| end.flush_timeout(slice))?;
        drop(end);
        flushed.map_err(|e| e.to_py(py))
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.end.is_closed()
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
            "<shmlane.transport.{}>",
            self.end.describe(|e| format!("Sender {}", e.endpoint()))
        )
    }
}

impl Receiving {
    /// The next message: at once (`wait` `None`) or waiting until the
    /// deadline.
    fn recv(&mut self, py: Python<'_>, wait: Option<Deadline>) -> PyResult<Py<PyBytes>> {
        let (end, buf) = (&mut self.end, &mut self.buf);
        let got = match wait {
            None => end.try_recv(buf),
            Some(deadline) => blocking::sliced(py, deadline, |slice| end.recv_timeout(buf, slice))?,
        };
        got.map_err(|e| e.to_py(py))?;
        Ok(PyBytes::new(py, &self.buf).unbind())
    }
}

#[pymethods]
impl Receiver {
    /// The next message as `bytes`, waiting up to `timeout` seconds
    /// (`None`: as long as it takes). Raises `Timeout`, or `Disconnected`
    /// once the sender is gone and everything it sent was received.
    #[pyo3(signature = (timeout=None))]
    fn recv(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyBytes>> {
        let deadline = blocking::deadline(timeout)?;
        self.end.with(py, |this| this.recv(py, Some(deadline)))
    }

    /// The next message if there is one now, else raises `Empty`.
    fn try_recv(&self, py: Python<'_>) -> PyResult<Py<PyBytes>> {
        self.end.with(py, |this| this.recv(py, None))
    }

    /// The channel's maximum message size in bytes.
    #[getter]
    fn max_message_size(&self, py: Python<'_>) -> PyResult<usize> {
        self.end.with(py, |this| Ok(this.end.max_message_size()))
    }

    /// The channel, as a URL without its options.
    #[getter]
    fn endpoint(&self, py: Python<'_>) -> PyResult<String> {
        self.end.with(py, |this| Ok(this.end.endpoint().to_owned()))
    }

    /// Closes this end. Closing twice is allowed; any other use raises
    /// `Closed`.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.end.close(py, |_| Ok(())).map(drop)
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.end.is_closed()
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

    /// Iterating receives messages until the sender is gone.
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyBytes>>> {
        match self.recv(py, None) {
            Ok(message) => Ok(Some(message)),
            Err(e) if is_error(py, &e, "Disconnected") => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "<shmlane.transport.{}>",
            self.end.describe(|e| format!("{e:?}"))
        )
    }
}
