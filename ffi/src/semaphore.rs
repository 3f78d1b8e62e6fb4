//! The counting semaphore in shared memory: `shmlane_semaphore_*`.

use std::ffi::c_char;

use shmlane::Semaphore;

use crate::call::{ShmlaneStatus, ffi_call, str_arg, timeout, write_out};
use crate::handle::{close, endpoint, hand_out, handle_type};
use crate::{ShmlaneOptions, options_arg};

/// A named semaphore (opaque).
pub struct ShmlaneSemaphore {
    shell: crate::handle::Shell<Semaphore>,
}
handle_type!(
    ShmlaneSemaphore,
    Semaphore,
    0x5348_4d4c_5345_0001,
    "shmlane_semaphore"
);

/// Creates the named semaphore `name` with value `initial`; `opts` (may be
/// NULL) may set `mode` and `persist`.
///
/// # Safety
///
/// `name` is NULL or a NUL-terminated string; `opts` is NULL or a readable
/// `ShmlaneOptions`; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_semaphore_create(
    name: *const c_char,
    initial: u32,
    opts: *const ShmlaneOptions,
    out: *mut *mut ShmlaneSemaphore,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: this fn's contract.
        let name = unsafe { str_arg(name, "name")? };
        // SAFETY: as above.
        let opts = unsafe { options_arg(opts)? };
        let sem = Semaphore::create_with(name, initial, &opts)?;
        // SAFETY: this fn's contract.
        unsafe { hand_out(out, sem) }
    })
}

/// Opens the named semaphore `name`; `opts` (may be NULL) may set
/// `open_timeout_ns`.
///
/// # Safety
///
/// As for `shmlane_semaphore_create`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_semaphore_open(
    name: *const c_char,
    opts: *const ShmlaneOptions,
    out: *mut *mut ShmlaneSemaphore,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: this fn's contract.
        let name = unsafe { str_arg(name, "name")? };
        // SAFETY: as above.
        let opts = unsafe { options_arg(opts)? };
        let sem = Semaphore::open_with(name, &opts)?;
        // SAFETY: this fn's contract.
        unsafe { hand_out(out, sem) }
    })
}

/// Takes one unit, waiting up to `timeout_ns` while the value is 0
/// (`SHMLANE_FOREVER`: as long as it takes).
///
/// # Safety
///
/// `sem` is NULL or a handle from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_semaphore_wait(
    sem: *mut ShmlaneSemaphore,
    timeout_ns: u64,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: this fn's contract.
        let sem = unsafe { endpoint(sem)? };
        match timeout(timeout_ns) {
            None => Ok(sem.wait()?),
            Some(limit) => Ok(sem.wait_timeout(limit)?),
        }
    })
}

/// Takes one unit if the value is not 0, else `SHMLANE_STATUS_WOULD_BLOCK`.
///
/// # Safety
///
/// `sem` is NULL or a handle from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_semaphore_try_wait(sem: *mut ShmlaneSemaphore) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: this fn's contract.
        Ok(unsafe { endpoint(sem)? }.try_wait()?)
    })
}

/// Adds one unit and wakes a waiter (`SHMLANE_STATUS_OVERFLOW` at the
/// maximum).
///
/// # Safety
///
/// `sem` is NULL or a handle from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_semaphore_post(sem: *mut ShmlaneSemaphore) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: this fn's contract.
        Ok(unsafe { endpoint(sem)? }.post()?)
    })
}

/// Stores the current value (a snapshot) in `*value`.
///
/// # Safety
///
/// `sem` is NULL or a handle from this library; `value` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_semaphore_value(
    sem: *mut ShmlaneSemaphore,
    value: *mut u32,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: this fn's contract.
        let now = unsafe { endpoint(sem)? }.value();
        // SAFETY: this fn's contract.
        unsafe { write_out(value, now, "value") }
    })
}

/// Frees the handle (the creator's close removes the name unless
/// `persist`). NULL or an already closed handle: OK.
///
/// # Safety
///
/// `sem` is NULL or a handle from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_semaphore_close(sem: *mut ShmlaneSemaphore) -> ShmlaneStatus {
    // SAFETY: this fn's contract.
    ffi_call(|| unsafe { close(sem) })
}
