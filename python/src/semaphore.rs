//! `shmlane.Semaphore`: the process-shared counting semaphore.

use pyo3::prelude::*;
use pyo3::types::PyType;
use shmlane::SemError;

use crate::blocking;
use std::sync::{RwLock, TryLockError};

use crate::errors::{ToPyErr, closed, raise};
use crate::options::RingArgs;

/// A counting semaphore in a named (or anonymous) shared-memory segment.
/// Unlike a ring end, any number of threads may use it at once.
#[pyclass(module = "shmlane", name = "Semaphore", frozen)]
pub(crate) struct Semaphore {
    /// `None` once closed; read-locked by every call, so that `close`
    /// cannot unmap it under a waiter.
    inner: RwLock<Option<shmlane::Semaphore>>,
}

impl Semaphore {
    /// Runs `f` on the semaphore: `Closed` after `close()`.
    fn with<R>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&shmlane::Semaphore) -> PyResult<R>,
    ) -> PyResult<R> {
        let guard = match self.inner.try_read() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            // Only `close` write-locks, and it never waits.
            Err(TryLockError::WouldBlock) => return Err(closed(py, "semaphore")),
        };
        match guard.as_ref() {
            Some(sem) => f(sem),
            None => Err(closed(py, "semaphore")),
        }
    }

    fn made(
        py: Python<'_>,
        made: Result<shmlane::Semaphore, shmlane::OpenError>,
    ) -> PyResult<Self> {
        made.map(|sem| Self {
            inner: RwLock::new(Some(sem)),
        })
        .map_err(|e| e.to_py(py))
    }
}

#[pymethods]
impl Semaphore {
    /// Creates the named semaphore `name` with value `initial` (removed when
    /// this handle closes, unless `persist`).
    #[classmethod]
    #[pyo3(signature = (name, initial=0, *, persist=None, mode=None))]
    fn create(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        name: &str,
        initial: u32,
        persist: Option<bool>,
        mode: Option<u32>,
    ) -> PyResult<Self> {
        let args = RingArgs {
            persist,
            mode,
            ..RingArgs::default()
        };
        let opts = args.options()?;
        Self::made(
            py,
            py.detach(|| shmlane::Semaphore::create_with(name, initial, &opts)),
        )
    }

    /// Opens the named semaphore `name`.
    #[classmethod]
    #[pyo3(signature = (name, *, open_timeout=None))]
    fn open(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        name: &str,
        open_timeout: Option<f64>,
    ) -> PyResult<Self> {
        let args = RingArgs {
            open_timeout,
            ..RingArgs::default()
        };
        let opts = args.options()?;
        Self::made(py, py.detach(|| shmlane::Semaphore::open_with(name, &opts)))
    }

    /// A semaphore in an anonymous segment, shared with the children this
    /// process forks afterwards.
    #[classmethod]
    #[pyo3(signature = (initial=0))]
    fn anonymous(_cls: &Bound<'_, PyType>, py: Python<'_>, initial: u32) -> PyResult<Self> {
        Self::made(py, shmlane::Semaphore::anonymous(initial))
    }

    /// P: takes one unit, waiting up to `timeout` seconds (`None`: as long
    /// as it takes) while the value is 0; raises `Timeout`.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let deadline = blocking::deadline(timeout)?;
        self.with(py, |sem| {
            blocking::sliced(py, deadline, |slice| sem.wait_timeout(slice))?
                .map_err(|e| e.to_py(py))
        })
    }

    /// P without waiting: whether a unit was taken.
    fn try_wait(&self, py: Python<'_>) -> PyResult<bool> {
        self.with(py, |sem| match sem.try_wait() {
            Ok(()) => Ok(true),
            Err(SemError::WouldBlock) => Ok(false),
            Err(e) => Err(e.to_py(py)),
        })
    }

    /// V: adds one unit and wakes a waiter; raises `Overflow` at the
    /// maximum value.
    fn post(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |sem| sem.post().map_err(|e| e.to_py(py)))
    }

    /// The current value (a snapshot).
    #[getter]
    fn value(&self, py: Python<'_>) -> PyResult<u32> {
        self.with(py, |sem| Ok(sem.value()))
    }

    /// Unmaps the semaphore (and removes its name, if this handle created
    /// it without `persist`). Closing twice is allowed; `Busy` while a
    /// thread waits on it.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let closing = match self.inner.try_write() {
            Ok(mut guard) => guard.take(),
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner().take(),
            Err(TryLockError::WouldBlock) => {
                let why = "a thread is waiting on this semaphore: close it once the wait is over";
                return Err(raise(py, "Busy", why.into()));
            }
        };
        drop(closing);
        Ok(())
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        match self.inner.try_read() {
            Ok(guard) => guard.is_none(),
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner().is_none(),
            Err(TryLockError::WouldBlock) => true,
        }
    }

    /// `with sem:` takes a unit for the block and posts it back after.
    fn __enter__(slf: PyRef<'_, Self>) -> PyResult<PyRef<'_, Self>> {
        slf.wait(slf.py(), None)?;
        Ok(slf)
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _ty: &Bound<'_, PyAny>,
        _value: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        self.post(py)
    }

    fn __repr__(&self) -> String {
        match self.inner.try_read().as_deref() {
            Ok(Some(sem)) => format!("<shmlane.{sem:?}>"),
            _ => "<shmlane.Semaphore closed>".into(),
        }
    }
}
