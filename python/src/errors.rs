//! The core's error enums as the Python exceptions of `shmlane/errors.py`,
//! one mapping per enum, so that every binding raises the same class for
//! the same failure.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyModule, PyTuple};
use shmlane::transport::{ConnectError, RecvError, SendError};
use shmlane::{GrantError, OpenError, PopError, PushError, SemError};

/// `shmlane.errors`, imported once.
static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// The class `shmlane.errors.<name>`.
fn class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    let module = ERRORS.get_or_try_init(py, || {
        PyModule::import(py, "shmlane.errors").map(Bound::unbind)
    })?;
    module.bind(py).getattr(name)
}

/// An instance of `shmlane.errors.<class>` with `message`.
pub(crate) fn raise(py: Python<'_>, class: &str, message: String) -> PyErr {
    raise_with(py, class, vec![message])
}

/// An instance of `shmlane.errors.<name>` made with `args`.
fn raise_with(py: Python<'_>, name: &str, args: Vec<String>) -> PyErr {
    let made = class(py, name).and_then(|class| {
        let args = PyTuple::new(py, args)?;
        class.call1(args)
    });
    match made {
        Ok(instance) => PyErr::from_value(instance),
        Err(e) => e,
    }
}

/// Whether `error` is a `shmlane.errors.<name>`.
pub(crate) fn is_error(py: Python<'_>, error: &PyErr, name: &str) -> bool {
    class(py, name).is_ok_and(|class| error.matches(py, class).unwrap_or(false))
}

/// The error of a handle another thread is using.
pub(crate) fn busy(py: Python<'_>, what: &str) -> PyErr {
    raise(
        py,
        "Busy",
        format!("this {what} is in use by another thread (a ring end serves one thread at a time)"),
    )
}

/// The error of a handle used after `close()`.
pub(crate) fn closed(py: Python<'_>, what: &str) -> PyErr {
    raise(
        py,
        "Closed",
        format!("this {what} was closed; open a new one"),
    )
}

/// A core error as the Python exception of its kind.
pub(crate) trait ToPyErr {
    /// The exception.
    fn to_py(self, py: Python<'_>) -> PyErr;
}

fn incompatible(
    py: Python<'_>,
    message: String,
    field: &str,
    expected: String,
    found: String,
) -> PyErr {
    raise_with(
        py,
        "Incompatible",
        vec![message, field.to_owned(), expected, found],
    )
}

impl ToPyErr for OpenError {
    fn to_py(self, py: Python<'_>) -> PyErr {
        let message = self.to_string();
        let class = match self {
            OpenError::Incompatible {
                field,
                expected,
                found,
                ..
            } => return incompatible(py, message, field, expected, found),
            OpenError::NotFound { .. } => "NotFound",
            OpenError::AlreadyExists { .. } => "AlreadyExists",
            OpenError::Permission { .. } | OpenError::Untrusted { .. } => "PermissionDenied",
            OpenError::Timeout { .. } => "Timeout",
            OpenError::Corrupted { .. } => "Corrupted",
            OpenError::InvalidConfig(_) => "InvalidConfig",
            OpenError::RoleTaken { .. } | OpenError::TooManyParticipants { .. } => "RoleTaken",
            _ => "Error",
        };
        raise(py, class, message)
    }
}

impl ToPyErr for PopError {
    fn to_py(self, py: Python<'_>) -> PyErr {
        let class = match self {
            PopError::Empty => "Empty",
            PopError::Timeout => "Timeout",
            PopError::Disconnected => "Disconnected",
            PopError::Corrupted(_) => "Corrupted",
            _ => "Error",
        };
        raise(py, class, self.to_string())
    }
}

impl ToPyErr for PushError<()> {
    fn to_py(self, py: Python<'_>) -> PyErr {
        let class = match self {
            PushError::Full(()) => "Full",
            PushError::Timeout(()) => "Timeout",
            PushError::Disconnected(()) => "Disconnected",
            PushError::Corrupted(_) => "Corrupted",
            _ => "Error",
        };
        raise(py, class, self.to_string())
    }
}

impl ToPyErr for GrantError {
    fn to_py(self, py: Python<'_>) -> PyErr {
        let class = match self {
            GrantError::FrameTooLarge { .. } => "TooLarge",
            GrantError::Full => "Full",
            GrantError::Timeout => "Timeout",
            GrantError::Disconnected => "Disconnected",
            GrantError::Corrupted(_) => "Corrupted",
            _ => "Error",
        };
        raise(py, class, self.to_string())
    }
}

impl ToPyErr for SemError {
    fn to_py(self, py: Python<'_>) -> PyErr {
        let class = match self {
            SemError::WouldBlock => "Empty",
            SemError::Timeout => "Timeout",
            SemError::Overflow => "Overflow",
            _ => "Error",
        };
        raise(py, class, self.to_string())
    }
}

impl ToPyErr for ConnectError {
    fn to_py(self, py: Python<'_>) -> PyErr {
        let message = self.to_string();
        let class = match self {
            ConnectError::Incompatible {
                field,
                expected,
                found,
                ..
            } => return incompatible(py, message, field, expected, found),
            ConnectError::QueueTooSmall { msgsize, max, .. } => {
                let (expected, found) = (format!("at least {max}"), msgsize.to_string());
                return incompatible(py, message, "msgsize", expected, found);
            }
            ConnectError::WrongFileType {
                expected, found, ..
            } => {
                let (expected, found) = (expected.to_owned(), found.to_owned());
                return incompatible(py, message, "file type", expected, found);
            }
            ConnectError::InvalidUrl { .. }
            | ConnectError::InvalidConfig { .. }
            | ConnectError::InvalidName { .. }
            | ConnectError::PathTooLong { .. } => "InvalidConfig",
            ConnectError::NotFound { .. } => "NotFound",
            ConnectError::Refused { .. } | ConnectError::Unreachable { .. } => "Disconnected",
            ConnectError::AlreadyExists { .. } => "AlreadyExists",
            ConnectError::SenderTaken { .. } | ConnectError::RoleTaken { .. } => "RoleTaken",
            ConnectError::Permission { .. }
            | ConnectError::Untrusted { .. }
            | ConnectError::PeerRefused { .. } => "PermissionDenied",
            ConnectError::Timeout { .. } => "Timeout",
            ConnectError::Corrupted { .. } => "Corrupted",
            _ => "Error",
        };
        raise(py, class, message)
    }
}

impl ToPyErr for SendError {
    fn to_py(self, py: Python<'_>) -> PyErr {
        let class = match self {
            SendError::MessageTooLarge { .. } => "TooLarge",
            SendError::InvalidMessage { .. } => "InvalidConfig",
            SendError::Closed { .. } => "Closed",
            SendError::Corrupted { .. } => "Corrupted",
            SendError::Full => "Full",
            SendError::Timeout => "Timeout",
            SendError::Disconnected { .. } | SendError::PeerLost { .. } => "Disconnected",
            _ => "Error",
        };
        raise(py, class, self.to_string())
    }
}

impl ToPyErr for RecvError {
    fn to_py(self, py: Python<'_>) -> PyErr {
        let class = match self {
            RecvError::Empty => "Empty",
            RecvError::Timeout => "Timeout",
            RecvError::Disconnected { .. }
            | RecvError::Reset { .. }
            | RecvError::PeerLost { .. } => "Disconnected",
            RecvError::MessageTooLarge { .. } => "TooLarge",
            RecvError::Corrupted { .. } => "Corrupted",
            _ => "Error",
        };
        raise(py, class, self.to_string())
    }
}
