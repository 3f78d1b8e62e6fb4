//! The one owner of every Python-side handle's Rust value: shared between
//! threads (pyo3 classes are `Sync`), used by one thread at a time, and
//! emptied by `close()`.

use std::sync::{Mutex, TryLockError};

use pyo3::prelude::*;

use crate::errors::{busy, closed};

/// A Rust value behind a Python handle; `what` names it in errors.
pub(crate) struct Handle<T> {
    what: &'static str,
    value: Mutex<Option<T>>,
}

impl<T> Handle<T> {
    pub(crate) fn new(what: &'static str, value: T) -> Self {
        Self {
            what,
            value: Mutex::new(Some(value)),
        }
    }

    /// Runs `f` on the value: `Closed` after `close()`, `Busy` while
    /// another thread uses it. Never waits: a thread waiting here with the
    /// GIL could stop the holder from ever taking the GIL back.
    pub(crate) fn with<R>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut T) -> PyResult<R>,
    ) -> PyResult<R> {
        let mut guard = match self.value.try_lock() {
            Ok(guard) => guard,
            // A panic in `f` became a Python exception; the value is whole.
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return Err(busy(py, self.what)),
        };
        match guard.as_mut() {
            Some(value) => f(value),
            None => Err(closed(py, self.what)),
        }
    }

    /// Takes the value out if `can_close` allows (closing twice is allowed);
    /// `Busy` while another thread uses it.
    pub(crate) fn close(
        &self,
        py: Python<'_>,
        can_close: impl FnOnce(&mut T) -> PyResult<()>,
    ) -> PyResult<Option<T>> {
        let mut guard = match self.value.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return Err(busy(py, self.what)),
        };
        if let Some(value) = guard.as_mut() {
            can_close(value)?;
        }
        Ok(guard.take())
    }

    /// Whether `close()` emptied it (a value in use is open).
    pub(crate) fn is_closed(&self) -> bool {
        match self.value.try_lock() {
            Ok(guard) => guard.is_none(),
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner().is_none(),
            Err(TryLockError::WouldBlock) => false,
        }
    }

    /// `describe` of the value, for `__repr__`.
    pub(crate) fn describe(&self, describe: impl FnOnce(&T) -> String) -> String {
        match self.value.try_lock() {
            Ok(guard) => match guard.as_ref() {
                Some(value) => describe(value),
                None => format!("{} (closed)", self.what),
            },
            Err(TryLockError::Poisoned(_)) | Err(TryLockError::WouldBlock) => {
                format!("{} (in use)", self.what)
            }
        }
    }
}
