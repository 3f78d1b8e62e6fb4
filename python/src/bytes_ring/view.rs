//! Zero-copy reads: a frame lent out of the ring as a read-only
//! memoryview, freed when the view is released.
//!
//! The core's [`bytes::Frame`] borrows its consumer, which a Python object
//! cannot hold alongside it. So the frame is read, its place noted
//! ([`Held`]) and the guard put back unreleased ([`bytes::Frame::unread`]):
//! the consumer's read position stays at the frame, the producer cannot
//! reuse its bytes, and the consumer's next read returns that same frame.
//! Giving it back is that next read, dropped at once. Between the two, the
//! Python consumer refuses every call that would move the read position
//! (`FrameHeld`), and close.
//!
//! The memoryview's exporter is a [`FrameView`]; CPython releases an
//! exporter's buffer when the last view of it is released, whether by
//! `view.release()`, the end of a `with` block, or garbage collection, and
//! raises ValueError on any use of a released view. A view can therefore
//! never read freed ring memory (SAFETY.md section 12).

use std::ffi::c_int;

use pyo3::exceptions::PyBufferError;
use pyo3::ffi;
use pyo3::prelude::*;
use shmlane::bytes;

use super::consumer::Consumer;

/// Where a frame lent out lies in the consumer's mapping.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Held {
    /// Address of the first payload byte.
    addr: usize,
    /// Payload bytes.
    len: usize,
}

impl Held {
    /// Notes where `frame` lies and keeps it in the ring (see the module
    /// docs).
    pub(crate) fn keep(frame: bytes::Frame<'_>) -> Self {
        let held = Self {
            addr: frame.as_ptr() as usize,
            len: frame.len(),
        };
        frame.unread();
        held
    }

    /// Frees the frame: the consumer's read position is still at it, so
    /// its next read is this frame, and dropping that guard releases it.
    /// An error here is a corrupted or poisoned ring, which the next call
    /// reports.
    pub(crate) fn release(self, ring: &mut bytes::Consumer) {
        drop(ring.read());
    }
}

/// Lent out, then given back: a view may be made of a frame once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lending {
    NotYet,
    Viewed,
    GivenBack,
}

/// The exporter of a `read()` memoryview (its `.obj`): one frame of one
/// consumer, lent to one view.
#[pyclass(module = "shmlane.bytes", name = "FrameView")]
pub(crate) struct FrameView {
    /// Keeps the consumer, and so its mapping, alive while the view is.
    consumer: Py<Consumer>,
    /// Which of the consumer's frames this is.
    number: u64,
    held: Held,
    lending: Lending,
}

impl FrameView {
    pub(crate) fn new(consumer: Py<Consumer>, number: u64, held: Held) -> Self {
        Self {
            consumer,
            number,
            held,
            lending: Lending::NotYet,
        }
    }

    /// Which of its consumer's frames this is.
    pub(crate) fn number(&self) -> u64 {
        self.number
    }
}

#[pymethods]
impl FrameView {
    /// # Safety
    ///
    /// `view` is the `Py_buffer` CPython asks this object to fill.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let py = slf.py();
        let mut this = slf.borrow_mut();
        match this.lending {
            Lending::NotYet => {}
            Lending::Viewed => {
                return Err(PyBufferError::new_err(
                    "this frame is lent to one memoryview already: use that view",
                ));
            }
            Lending::GivenBack => {
                return Err(PyBufferError::new_err(
                    "this frame was released back to the ring: read() the next one",
                ));
            }
        }
        if !this.consumer.get().lends(py, this.number) {
            return Err(PyBufferError::new_err("this frame is no longer lent out"));
        }
        let Held { addr, len } = this.held;
        let len = isize::try_from(len).map_err(|_| PyBufferError::new_err("frame too long"))?;
        // SAFETY: `view` is CPython's to fill (the caller's contract);
        // `addr..addr + len` is the frame's payload in the consumer's
        // mapping, which stays mapped while `this.consumer` (kept by this
        // object, which the view keeps) lives, and unwritten by the
        // producer until the frame is given back, which happens only when
        // this view is released (`__releasebuffer__`). Read-only (1): a
        // request for a writable buffer fails in `PyBuffer_FillInfo`.
        let filled =
            unsafe { ffi::PyBuffer_FillInfo(view, slf.as_ptr(), addr as *mut _, len, 1, flags) };
        if filled != 0 {
            return Err(PyErr::fetch(py));
        }
        this.lending = Lending::Viewed;
        Ok(())
    }

    /// # Safety
    ///
    /// `_view` is a buffer this object filled.
    unsafe fn __releasebuffer__(slf: Bound<'_, Self>, _view: *mut ffi::Py_buffer) {
        let py = slf.py();
        let mut this = slf.borrow_mut();
        this.lending = Lending::GivenBack;
        this.consumer.get().give_back(py, this.number);
    }

    fn __repr__(&self) -> String {
        format!("<shmlane.bytes.FrameView of {} bytes>", self.held.len)
    }
}
