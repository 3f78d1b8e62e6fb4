//! Opaque handles: a small shell that outlives `close`, so that a closed
//! handle used again is `SHMLANE_STATUS_CLOSED`, not a use after free.
//!
//! Each C handle type is a Rust struct holding a [`Shell`]; the shell's
//! tag says which type it is and whether it was closed. `close` drops the
//! endpoint (detaching from the segment) and keeps the shell: 16 bytes stay
//! allocated per closed handle, the price of that check.

use crate::call::{Fail, ShmlaneStatus, non_null};

/// The tag of a closed shell.
const CLOSED: u64 = 0x5348_4d4c_0000_dead;

/// A handle's endpoint and its type tag: 16 bytes, all that stays
/// allocated once the handle is closed (the endpoint is boxed apart).
pub(crate) struct Shell<T> {
    tag: u64,
    inner: Option<Box<T>>,
}

// What README.md and SAFETY.md promise a closed handle costs.
const _: () = assert!(size_of::<Shell<[u8; 256]>>() == 16);

/// A C handle type: a struct around a [`Shell`] of its endpoint.
pub(crate) trait Handle: Sized {
    /// What the handle holds.
    type Inner;
    /// This type's tag (distinct per type, never [`CLOSED`]).
    const TAG: u64;
    /// The C name of the type, for messages.
    const NAME: &'static str;
    /// Wraps a shell.
    fn from_shell(shell: Shell<Self::Inner>) -> Self;
    /// The shell.
    fn shell(&mut self) -> &mut Shell<Self::Inner>;
}

/// A new handle for `inner`, written to the caller's `out`.
///
/// # Safety
///
/// `out` is NULL or valid for a write of a pointer.
pub(crate) unsafe fn hand_out<H: Handle>(out: *mut *mut H, inner: H::Inner) -> Result<(), Fail> {
    non_null(out, "the out-pointer for the handle")?;
    let handle = Box::into_raw(Box::new(H::from_shell(Shell {
        tag: H::TAG,
        inner: Some(Box::new(inner)),
    })));
    // SAFETY: `out` is non-NULL and valid for writes (this fn's contract).
    unsafe { out.write(handle) };
    Ok(())
}

/// The endpoint of the caller's live handle.
///
/// # Safety
///
/// `handle` is NULL or a pointer this library handed out (closed or not),
/// used by no other thread during the call.
pub(crate) unsafe fn endpoint<'a, H: Handle + 'a>(
    handle: *mut H,
) -> Result<&'a mut H::Inner, Fail> {
    // SAFETY: this fn's contract is `shell_of`'s.
    let shell = unsafe { shell_of(handle) }?;
    match shell.tag {
        tag if tag == H::TAG => {}
        CLOSED => {
            return Err(Fail::new(
                ShmlaneStatus::Closed,
                format_args!("this {} was closed", H::NAME),
            ));
        }
        _ => {
            return Err(Fail::new(
                ShmlaneStatus::BadHandle,
                format_args!("not a {} handle", H::NAME),
            ));
        }
    }
    shell.inner.as_deref_mut().ok_or_else(|| {
        Fail::new(
            ShmlaneStatus::Closed,
            format_args!("this {} was closed", H::NAME),
        )
    })
}

/// Closes the caller's handle: drops its endpoint, keeps the shell tagged
/// closed. Closing NULL or a closed handle does nothing.
///
/// # Safety
///
/// As for [`endpoint`].
pub(crate) unsafe fn close<H: Handle>(handle: *mut H) -> Result<(), Fail> {
    if handle.is_null() {
        return Ok(());
    }
    // SAFETY: this fn's contract is `shell_of`'s.
    let shell = unsafe { shell_of(handle) }?;
    if shell.tag == CLOSED {
        return Ok(());
    }
    if shell.tag != H::TAG {
        return Err(Fail::new(
            ShmlaneStatus::BadHandle,
            format_args!("not a {} handle", H::NAME),
        ));
    }
    shell.tag = CLOSED;
    // Dropped last: a panic in the endpoint's drop leaves the shell closed.
    drop(shell.inner.take());
    Ok(())
}

/// The shell of the caller's handle.
///
/// # Safety
///
/// As for [`endpoint`].
unsafe fn shell_of<'a, H: Handle + 'a>(handle: *mut H) -> Result<&'a mut Shell<H::Inner>, Fail> {
    non_null(handle, H::NAME)?;
    // SAFETY: non-NULL, so (the callers' contract) a live allocation from
    // `hand_out` (shells are never freed), used by this thread alone.
    let handle = unsafe { &mut *handle };
    Ok(handle.shell())
}

/// Declares the `Handle` impl of a C handle type (the struct itself is
/// written out, so that cbindgen sees it).
macro_rules! handle_type {
    ($name:ident, $inner:ty, $tag:expr, $c_name:literal) => {
        impl $crate::handle::Handle for $name {
            type Inner = $inner;
            const TAG: u64 = $tag;
            const NAME: &'static str = $c_name;
            fn from_shell(shell: $crate::handle::Shell<$inner>) -> Self {
                Self { shell }
            }
            fn shell(&mut self) -> &mut $crate::handle::Shell<$inner> {
                &mut self.shell
            }
        }
    };
}
pub(crate) use handle_type;
