//! Blocking calls from Python: the wait runs without the GIL, in slices of
//! at most [`SLICE`], and between slices the interpreter's signal handlers
//! run, so Ctrl-C (KeyboardInterrupt) ends a wait within a slice.

use std::time::{Duration, Instant};

use pyo3::buffer::PyUntypedBuffer;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyBytesMethods, PyMemoryView};

/// The longest stretch a blocking call waits without looking at signals.
pub(crate) const SLICE: Duration = Duration::from_millis(50);

/// When a wait ends: `None` for never.
pub(crate) type Deadline = Option<Instant>;

/// The deadline of a `timeout=` argument in seconds (`None`: wait as long
/// as it takes); a negative or non-finite timeout is a ValueError.
pub(crate) fn deadline(timeout: Option<f64>) -> PyResult<Deadline> {
    let Some(seconds) = timeout else {
        return Ok(None);
    };
    let wait = Duration::try_from_secs_f64(seconds).map_err(|_| {
        PyValueError::new_err(format!(
            "timeout must be a number of seconds >= 0 (or None to wait as long as it takes), not {seconds}"
        ))
    })?;
    // An instant past the clock's range is as good as never.
    Ok(Instant::now().checked_add(wait))
}

/// An error that says "the wait ran out", which the slicing retries until
/// the caller's own deadline.
pub(crate) trait TimedOut {
    /// Whether this is the timeout of one slice.
    fn timed_out(&self) -> bool;
}

/// Runs `attempt(slice)` without the GIL until it returns anything but a
/// timeout, or `deadline` passes (then its timeout error is returned);
/// between slices, pending signals are handled (a KeyboardInterrupt is
/// raised from here).
pub(crate) fn sliced<T, E>(
    py: Python<'_>,
    deadline: Deadline,
    mut attempt: impl FnMut(Duration) -> Result<T, E> + Send,
) -> PyResult<Result<T, E>>
where
    T: Send,
    E: TimedOut + Send,
{
    loop {
        let slice = match deadline {
            None => SLICE,
            Some(at) => at.saturating_duration_since(Instant::now()).min(SLICE),
        };
        let result = py.detach(|| attempt(slice));
        match result {
            Err(e) if e.timed_out() && deadline.is_none_or(|at| Instant::now() < at) => {
                py.check_signals()?;
            }
            done => return Ok(done),
        }
    }
}

macro_rules! timed_out {
    ($($error:ty => $variant:pat),* $(,)?) => {$(
        impl TimedOut for $error {
            fn timed_out(&self) -> bool {
                matches!(self, $variant)
            }
        }
    )*};
}

timed_out! {
    shmlane::PopError => shmlane::PopError::Timeout,
    shmlane::PushError<()> => shmlane::PushError::Timeout(()),
    shmlane::GrantError => shmlane::GrantError::Timeout,
    shmlane::SemError => shmlane::SemError::Timeout,
    shmlane::transport::SendError => shmlane::transport::SendError::Timeout,
    shmlane::transport::RecvError => shmlane::transport::RecvError::Timeout,
}

impl<E: TimedOut> TimedOut for shmlane::RecordError<E> {
    fn timed_out(&self) -> bool {
        matches!(self, shmlane::RecordError::Ring(e) if e.timed_out())
    }
}

/// The bytes of a bytes-like argument (`bytes`, `bytearray`, `memoryview`,
/// a contiguous numpy array, ...), readable without the GIL: `bytes` are
/// read in place, any other object through its buffer, held until drop.
pub(crate) enum ByteSource<'py> {
    /// An immutable `bytes`.
    Bytes(Bound<'py, PyBytes>),
    /// A C-contiguous buffer of any item type.
    Buffer(PyUntypedBuffer),
}

impl<'py> ByteSource<'py> {
    /// Takes `data` as bytes; a non-contiguous buffer is a ValueError.
    pub(crate) fn new(data: &Bound<'py, PyAny>) -> PyResult<Self> {
        if let Ok(bytes) = data.cast::<PyBytes>() {
            return Ok(Self::Bytes(bytes.clone()));
        }
        Ok(Self::Buffer(contiguous_bytes(data)?))
    }

    /// The bytes.
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Self::Bytes(bytes) => bytes.as_bytes(),
            Self::Buffer(buffer) => {
                let (ptr, len) = (
                    buffer.buf_ptr().cast::<u8>().cast_const(),
                    buffer.len_bytes(),
                );
                if len == 0 {
                    return &[];
                }
                // SAFETY: the buffer is held (released at drop), C-contiguous
                // (checked in `new`) and `len_bytes` long from `buf_ptr`; its
                // exporter keeps the memory while it is held. Another thread
                // writing a mutable buffer while it is sent is that thread's
                // race, as with os.write.
                unsafe { std::slice::from_raw_parts(ptr, len) }
            }
        }
    }
}

/// The buffer of `data` as one run of bytes, whatever its shape (a numpy
/// record scalar's buffer has no dimensions, which a view cast to bytes
/// gives it); a non-contiguous one is a ValueError.
fn contiguous_bytes(data: &Bound<'_, PyAny>) -> PyResult<PyUntypedBuffer> {
    let view = PyMemoryView::from(data)?;
    let flat = view.call_method1("cast", ("B",)).map_err(|_| {
        PyValueError::new_err(
            "the buffer must be C-contiguous (copy it with bytes(x) or numpy.ascontiguousarray)",
        )
    })?;
    PyUntypedBuffer::get(&flat)
}

/// A writable, C-contiguous buffer argument (`bytearray`, a numpy array,
/// a writable memoryview), held until drop, that a call fills without the
/// GIL.
pub(crate) struct WritableBuffer(PyUntypedBuffer);

impl WritableBuffer {
    /// Takes `target`; a read-only or non-contiguous one is a ValueError.
    pub(crate) fn new(target: &Bound<'_, PyAny>) -> PyResult<Self> {
        let buffer = contiguous_bytes(target)?;
        if buffer.readonly() {
            return Err(PyValueError::new_err(
                "the buffer to receive into is read-only (pass a bytearray or a numpy array)",
            ));
        }
        Ok(Self(buffer))
    }

    /// Its bytes.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        let (ptr, len) = (self.0.buf_ptr().cast::<u8>(), self.0.len_bytes());
        if len == 0 {
            return &mut [];
        }
        // SAFETY: the buffer is held (released at drop), writable (checked
        // in `new`) and C-contiguous (a cast to bytes succeeded), `len_bytes` long from `buf_ptr`;
        // `&mut self` lends it once. Python code writing it from another
        // thread meanwhile races as with readinto.
        unsafe { std::slice::from_raw_parts_mut(ptr, len) }
    }
}
