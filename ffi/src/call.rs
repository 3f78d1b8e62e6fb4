//! How every entry point answers: a status code, a thread-local message
//! for the last failure, and no panic across the boundary.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::ffi::{CStr, CString, c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use shmlane::transport::{ConnectError, RecvError, SendError};
use shmlane::{GrantError, OpenError, PopError, PushError, RecordError, SemError};

/// What a call did: `SHMLANE_STATUS_OK`, one of the expected "not now"
/// answers (full, empty, timeout, disconnected, ...), or an error. After
/// any status but OK, `shmlane_last_error()` says more.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShmlaneStatus {
    /// Done.
    Ok = 0,
    /// The ring or channel is full (non-blocking calls).
    Full = 1,
    /// The ring or channel is empty (non-blocking calls).
    Empty = 2,
    /// A blocking call waited its whole timeout.
    Timeout = 3,
    /// The peer is gone (for receivers: after everything it sent was received).
    Disconnected = 4,
    /// The semaphore's value is 0 (`shmlane_semaphore_try_wait`).
    WouldBlock = 5,
    /// The caller's buffer is shorter than the message; nothing was consumed
    /// and the out-length holds the length needed.
    BufferTooSmall = 6,
    /// A grant or frame is outstanding (commit or release it first), or none
    /// is (nothing to commit or release).
    Busy = 7,
    /// A required pointer argument is NULL.
    NullPointer = 10,
    /// The handle is not a live handle of this type (a wrong cast).
    BadHandle = 11,
    /// The handle was closed.
    Closed = 12,
    /// An argument or option is invalid (a name that is not UTF-8, a bad slot
    /// shape or capacity, an option the call cannot use, a malformed URL).
    InvalidArgument = 13,
    /// The record or buffer is not exactly one slot long.
    WrongSize = 14,
    /// The segment or channel was made with other settings (slot size,
    /// schema id, capacity, kind...): the message names the field.
    Incompatible = 15,
    /// No such segment or channel.
    NotFound = 16,
    /// The segment or channel already exists.
    AlreadyExists = 17,
    /// Another live endpoint holds this role.
    RoleTaken = 18,
    /// The MPMC ring's participant table is full.
    TooManyParticipants = 19,
    /// Permission denied.
    Permission = 20,
    /// Out of memory or of space for the segment.
    NoSpace = 21,
    /// The segment holds impossible values; the endpoint cannot continue.
    Corrupted = 22,
    /// The frame or message is longer than the ring's or channel's maximum.
    TooLarge = 23,
    /// The semaphore's value would pass its maximum.
    Overflow = 24,
    /// An operating-system call failed.
    Io = 25,
    /// The mechanism cannot do this.
    Unsupported = 26,
    /// A bug in shmlane (a caught panic); the message says where.
    Internal = 27,
}

/// A failed call: its status and message.
#[derive(Debug)]
pub(crate) struct Fail {
    pub(crate) status: ShmlaneStatus,
    pub(crate) message: Cow<'static, CStr>,
}

impl Fail {
    /// A failure with a fixed message (no allocation: the non-blocking
    /// calls' "full" and "empty" come here on every poll).
    pub(crate) const fn fixed(status: ShmlaneStatus, message: &'static CStr) -> Self {
        Self {
            status,
            message: Cow::Borrowed(message),
        }
    }

    /// A failure whose message is `error`'s.
    pub(crate) fn new(status: ShmlaneStatus, error: impl std::fmt::Display) -> Self {
        let text = error.to_string().replace('\0', " ");
        let message = CString::new(text).unwrap_or_default();
        Self {
            status,
            message: Cow::Owned(message),
        }
    }
}

thread_local! {
    /// The last failure's fixed message, or `None` when it is in
    /// `LAST_FORMATTED`: a spin on a non-blocking call that finds the ring
    /// empty stores one pointer here per call, no more.
    static LAST_FIXED: Cell<Option<&'static CStr>> = const { Cell::new(Some(c"")) };
    /// The last failure's formatted message, when `LAST_FIXED` is `None`.
    static LAST_FORMATTED: RefCell<CString> = RefCell::new(CString::default());
}

/// Records `message` as this thread's last error.
#[inline]
fn set_last_error(message: Cow<'static, CStr>) {
    // `try_with`: a call made while the thread exits reports its status
    // without a message.
    let _ = LAST_FIXED.try_with(|fixed| match message {
        // A poll loop repeats the same message: no store then.
        Cow::Borrowed(text) if fixed.get().is_some_and(|last| std::ptr::eq(last, text)) => {}
        Cow::Borrowed(text) => fixed.set(Some(text)),
        Cow::Owned(text) => {
            let _ = LAST_FORMATTED.try_with(|formatted| *formatted.borrow_mut() = text);
            fixed.set(None);
        }
    });
}

/// Runs an entry point's body: its failure becomes a status and this
/// thread's last error; a panic becomes `SHMLANE_STATUS_INTERNAL`.
pub(crate) fn ffi_call(body: impl FnOnce() -> Result<(), Fail>) -> ShmlaneStatus {
    let outcome = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        Err(Fail::new(
            ShmlaneStatus::Internal,
            format_args!("internal error in shmlane (please report): {what}"),
        ))
    });
    match outcome {
        Ok(()) => ShmlaneStatus::Ok,
        Err(fail) => {
            set_last_error(fail.message);
            fail.status
        }
    }
}

/// The message of the last call on this thread that did not return
/// `SHMLANE_STATUS_OK`: a NUL-terminated string owned by shmlane, valid
/// until the next failing call on this thread ("" if none failed yet).
#[unsafe(no_mangle)]
pub extern "C" fn shmlane_last_error() -> *const c_char {
    let fixed = LAST_FIXED.try_with(Cell::get).ok().flatten();
    fixed.map_or_else(
        || {
            LAST_FORMATTED
                .try_with(|formatted| formatted.borrow().as_ptr())
                .unwrap_or(c"".as_ptr())
        },
        CStr::as_ptr,
    )
}

/// Every status, for `shmlane_status_name`.
const STATUSES: [(ShmlaneStatus, &CStr); 26] = {
    use ShmlaneStatus as S;
    [
        (S::Ok, c"SHMLANE_STATUS_OK"),
        (S::Full, c"SHMLANE_STATUS_FULL"),
        (S::Empty, c"SHMLANE_STATUS_EMPTY"),
        (S::Timeout, c"SHMLANE_STATUS_TIMEOUT"),
        (S::Disconnected, c"SHMLANE_STATUS_DISCONNECTED"),
        (S::WouldBlock, c"SHMLANE_STATUS_WOULD_BLOCK"),
        (S::BufferTooSmall, c"SHMLANE_STATUS_BUFFER_TOO_SMALL"),
        (S::Busy, c"SHMLANE_STATUS_BUSY"),
        (S::NullPointer, c"SHMLANE_STATUS_NULL_POINTER"),
        (S::BadHandle, c"SHMLANE_STATUS_BAD_HANDLE"),
        (S::Closed, c"SHMLANE_STATUS_CLOSED"),
        (S::InvalidArgument, c"SHMLANE_STATUS_INVALID_ARGUMENT"),
        (S::WrongSize, c"SHMLANE_STATUS_WRONG_SIZE"),
        (S::Incompatible, c"SHMLANE_STATUS_INCOMPATIBLE"),
        (S::NotFound, c"SHMLANE_STATUS_NOT_FOUND"),
        (S::AlreadyExists, c"SHMLANE_STATUS_ALREADY_EXISTS"),
        (S::RoleTaken, c"SHMLANE_STATUS_ROLE_TAKEN"),
        (
            S::TooManyParticipants,
            c"SHMLANE_STATUS_TOO_MANY_PARTICIPANTS",
        ),
        (S::Permission, c"SHMLANE_STATUS_PERMISSION"),
        (S::NoSpace, c"SHMLANE_STATUS_NO_SPACE"),
        (S::Corrupted, c"SHMLANE_STATUS_CORRUPTED"),
        (S::TooLarge, c"SHMLANE_STATUS_TOO_LARGE"),
        (S::Overflow, c"SHMLANE_STATUS_OVERFLOW"),
        (S::Io, c"SHMLANE_STATUS_IO"),
        (S::Unsupported, c"SHMLANE_STATUS_UNSUPPORTED"),
        (S::Internal, c"SHMLANE_STATUS_INTERNAL"),
    ]
};

/// The name of a status value ("SHMLANE_STATUS_FULL", ...), or
/// "SHMLANE_STATUS_UNKNOWN" for a value that is none: a static string.
#[unsafe(no_mangle)]
pub extern "C" fn shmlane_status_name(status: c_int) -> *const c_char {
    STATUSES
        .iter()
        .find(|(known, _)| *known as c_int == status)
        .map_or(c"SHMLANE_STATUS_UNKNOWN", |(_, name)| name)
        .as_ptr()
}

/// A timeout in nanoseconds: `SHMLANE_FOREVER` is none.
pub(crate) fn timeout(ns: u64) -> Option<Duration> {
    (ns != crate::SHMLANE_FOREVER).then(|| Duration::from_nanos(ns))
}

/// Fails with `NullPointer` naming `what` if `ptr` is NULL.
pub(crate) fn non_null<T>(ptr: *const T, what: &str) -> Result<(), Fail> {
    if ptr.is_null() {
        return Err(Fail::new(
            ShmlaneStatus::NullPointer,
            format_args!("{what} is NULL"),
        ));
    }
    Ok(())
}

/// The caller's NUL-terminated UTF-8 string.
///
/// # Safety
///
/// `ptr` is NULL or points to a NUL-terminated string that stays valid
/// and unchanged during the call.
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, Fail> {
    non_null(ptr, what)?;
    // SAFETY: non-NULL, and NUL-terminated and valid (this fn's contract).
    let text = unsafe { CStr::from_ptr(ptr) };
    text.to_str().map_err(|_| {
        Fail::new(
            ShmlaneStatus::InvalidArgument,
            format_args!("{what} is not UTF-8"),
        )
    })
}

/// The caller's `len` bytes at `ptr` (NULL is allowed when `len` is 0).
///
/// # Safety
///
/// Unless `len` is 0, `ptr` is NULL or points to `len` readable bytes
/// that no one writes during the call.
pub(crate) unsafe fn bytes_arg<'a>(
    ptr: *const u8,
    len: usize,
    what: &str,
) -> Result<&'a [u8], Fail> {
    if len == 0 {
        return Ok(&[]);
    }
    non_null(ptr, what)?;
    // SAFETY: non-NULL, `len` readable bytes not written during the call
    // (this fn's contract); a C object is never larger than isize::MAX.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// The caller's `len` writable bytes at `ptr` (NULL allowed when `len` is 0).
///
/// # Safety
///
/// Unless `len` is 0, `ptr` is NULL or points to `len` writable bytes that
/// no one else reads or writes during the call.
pub(crate) unsafe fn buffer_arg<'a>(
    ptr: *mut u8,
    len: usize,
    what: &str,
) -> Result<&'a mut [u8], Fail> {
    if len == 0 {
        return Ok(&mut []);
    }
    non_null(ptr, what)?;
    // SAFETY: non-NULL, `len` writable bytes used by this call alone (this
    // fn's contract).
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

/// Stores `value` through the caller's out-pointer.
///
/// # Safety
///
/// `out` is NULL or valid for a write of a `T`.
pub(crate) unsafe fn write_out<T>(out: *mut T, value: T, what: &str) -> Result<(), Fail> {
    non_null(out, what)?;
    // SAFETY: non-NULL and valid for writes (this fn's contract).
    unsafe { out.write(value) };
    Ok(())
}

impl From<OpenError> for Fail {
    fn from(error: OpenError) -> Self {
        use ShmlaneStatus as S;
        let status = match &error {
            OpenError::NotFound { .. } => S::NotFound,
            OpenError::AlreadyExists { .. } => S::AlreadyExists,
            OpenError::Incompatible { .. } => S::Incompatible,
            // Another user's segment: a permission matter to a C caller.
            OpenError::Permission { .. } | OpenError::Untrusted { .. } => S::Permission,
            OpenError::NoSpace { .. } => S::NoSpace,
            OpenError::Timeout { .. } => S::Timeout,
            OpenError::Corrupted { .. } => S::Corrupted,
            OpenError::InvalidConfig(_) => S::InvalidArgument,
            OpenError::RoleTaken { .. } => S::RoleTaken,
            OpenError::TooManyParticipants { .. } => S::TooManyParticipants,
            _ => S::Io,
        };
        Fail::new(status, error)
    }
}

impl<T> From<PushError<T>> for Fail {
    #[inline]
    fn from(error: PushError<T>) -> Self {
        use ShmlaneStatus as S;
        match error {
            PushError::Full(_) => Fail::fixed(S::Full, c"ring is full"),
            PushError::Timeout(_) => {
                Fail::fixed(S::Timeout, c"timed out waiting for room in the ring")
            }
            PushError::Disconnected(_) => Fail::fixed(S::Disconnected, c"the consumer is gone"),
            other => Fail::new(S::Corrupted, other),
        }
    }
}

impl From<PopError> for Fail {
    #[inline]
    fn from(error: PopError) -> Self {
        use ShmlaneStatus as S;
        match error {
            PopError::Empty => Fail::fixed(S::Empty, c"ring is empty"),
            PopError::Timeout => Fail::fixed(S::Timeout, c"timed out waiting for an item"),
            PopError::Disconnected => Fail::fixed(
                S::Disconnected,
                c"the producer is gone and everything it committed was received",
            ),
            other => Fail::new(S::Corrupted, other),
        }
    }
}

impl<E: Into<Fail> + std::fmt::Display> From<RecordError<E>> for Fail {
    #[inline]
    fn from(error: RecordError<E>) -> Self {
        match error {
            RecordError::Ring(inner) => inner.into(),
            other @ RecordError::WrongSize { .. } => Fail::new(ShmlaneStatus::WrongSize, other),
            other => Fail::new(ShmlaneStatus::InvalidArgument, other),
        }
    }
}

impl From<GrantError> for Fail {
    fn from(error: GrantError) -> Self {
        use ShmlaneStatus as S;
        match error {
            GrantError::Full => Fail::fixed(S::Full, c"ring is full"),
            GrantError::Timeout => {
                Fail::fixed(S::Timeout, c"timed out waiting for room in the ring")
            }
            GrantError::Disconnected => Fail::fixed(S::Disconnected, c"the consumer is gone"),
            other @ GrantError::FrameTooLarge { .. } => Fail::new(S::TooLarge, other),
            other => Fail::new(S::Corrupted, other),
        }
    }
}

impl From<SemError> for Fail {
    fn from(error: SemError) -> Self {
        use ShmlaneStatus as S;
        match error {
            SemError::WouldBlock => Fail::fixed(S::WouldBlock, c"semaphore value is 0"),
            SemError::Timeout => Fail::fixed(S::Timeout, c"timed out waiting on the semaphore"),
            other => Fail::new(S::Overflow, other),
        }
    }
}

impl From<ConnectError> for Fail {
    fn from(error: ConnectError) -> Self {
        use ShmlaneStatus as S;
        let status = match &error {
            ConnectError::InvalidUrl { .. }
            | ConnectError::InvalidConfig { .. }
            | ConnectError::InvalidName { .. }
            | ConnectError::PathTooLong { .. }
            | ConnectError::WrongFileType { .. } => S::InvalidArgument,
            ConnectError::NotFound { .. } => S::NotFound,
            ConnectError::AlreadyExists { .. } | ConnectError::AddrInUse { .. } => S::AlreadyExists,
            ConnectError::SenderTaken { .. } | ConnectError::RoleTaken { .. } => S::RoleTaken,
            ConnectError::Incompatible { .. } | ConnectError::QueueTooSmall { .. } => {
                S::Incompatible
            }
            ConnectError::Permission { .. }
            | ConnectError::Untrusted { .. }
            | ConnectError::PeerRefused { .. } => S::Permission,
            ConnectError::NoSpace { .. } => S::NoSpace,
            ConnectError::Corrupted { .. } => S::Corrupted,
            ConnectError::Timeout { .. } => S::Timeout,
            ConnectError::Unsupported { .. } => S::Unsupported,
            _ => S::Io,
        };
        Fail::new(status, error)
    }
}

impl From<SendError> for Fail {
    fn from(error: SendError) -> Self {
        use ShmlaneStatus as S;
        let status = match &error {
            SendError::Full => return Fail::fixed(S::Full, c"no room in the channel"),
            SendError::Timeout => {
                return Fail::fixed(S::Timeout, c"timed out waiting for room in the channel");
            }
            SendError::Disconnected { .. } => S::Disconnected,
            SendError::MessageTooLarge { .. } => S::TooLarge,
            SendError::InvalidMessage { .. } => S::InvalidArgument,
            SendError::Closed { .. } => S::Closed,
            SendError::Corrupted { .. } => S::Corrupted,
            _ => S::Io,
        };
        Fail::new(status, error)
    }
}

impl From<RecvError> for Fail {
    fn from(error: RecvError) -> Self {
        use ShmlaneStatus as S;
        let status = match &error {
            RecvError::Empty => return Fail::fixed(S::Empty, c"no message in the channel"),
            RecvError::Timeout => {
                return Fail::fixed(S::Timeout, c"timed out waiting for a message");
            }
            RecvError::Disconnected { .. } => S::Disconnected,
            RecvError::MessageTooLarge { .. } => S::TooLarge,
            RecvError::Corrupted { .. } => S::Corrupted,
            _ => S::Io,
        };
        Fail::new(status, error)
    }
}
