//! The MPMC ring of fixed-size slots: `shmlane_mpmc_sender_*` and
//! `shmlane_mpmc_receiver_*`, over `shmlane::mpmc::RawSender` and
//! `RawReceiver` (slot size and alignment given at create or open, checked
//! against the segment's). Several senders and receivers may attach, in
//! one process (`*_clone`) or many.

use std::ffi::{c_char, c_void};

use shmlane::mpmc::{RawReceiver, RawSender};

use crate::call::{ShmlaneStatus, buffer_arg, bytes_arg, ffi_call, str_arg, timeout, write_out};
use crate::handle::{close, endpoint, hand_out, handle_type};
use crate::spsc::{Attach, shape_arg};
use crate::{ShmlaneOptions, ShmlaneStats, options_arg};

/// A sending end of an MPMC ring (opaque).
pub struct ShmlaneMpmcSender {
    shell: crate::handle::Shell<RawSender>,
}
handle_type!(
    ShmlaneMpmcSender,
    RawSender,
    0x5348_4d4c_4d50_0001,
    "shmlane_mpmc_sender"
);

/// A receiving end of an MPMC ring (opaque).
pub struct ShmlaneMpmcReceiver {
    shell: crate::handle::Shell<RawReceiver>,
}
handle_type!(
    ShmlaneMpmcReceiver,
    RawReceiver,
    0x5348_4d4c_4d50_0002,
    "shmlane_mpmc_receiver"
);

/// Creates or opens a sender.
///
/// # Safety
///
/// As for `shmlane_mpmc_sender_create`.
unsafe fn sender(
    attach: Attach,
    name: *const c_char,
    slot_size: usize,
    slot_align: usize,
    opts: *const ShmlaneOptions,
    out: *mut *mut ShmlaneMpmcSender,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: the caller's string, options and out-pointer (this fn's
        // contract, the public function's).
        let name = unsafe { str_arg(name, "name")? };
        // SAFETY: as above.
        let opts = unsafe { options_arg(opts)? };
        let shape = shape_arg(slot_size, slot_align)?;
        let tx = match attach {
            Attach::Create => RawSender::create(name, shape, &opts)?,
            Attach::Open => RawSender::open(name, shape, &opts)?,
        };
        // SAFETY: as above.
        unsafe { hand_out(out, tx) }
    })
}

/// Creates the named segment `name` for slots of `slot_size` bytes aligned
/// to `slot_align` (`sizeof` and `_Alignof` of the slot type) and attaches
/// as its sender; `*out` receives the handle. `opts` may be NULL.
///
/// # Safety
///
/// `name` is NULL or a NUL-terminated string; `opts` is NULL or a readable
/// `ShmlaneOptions`; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_mpmc_sender_create(
    name: *const c_char,
    slot_size: usize,
    slot_align: usize,
    opts: *const ShmlaneOptions,
    out: *mut *mut ShmlaneMpmcSender,
) -> ShmlaneStatus {
    // SAFETY: this fn's contract.
    unsafe { sender(Attach::Create, name, slot_size, slot_align, opts, out) }
}

/// Opens the named segment `name` as its sender; a segment of another
/// slot size, alignment or schema id is `SHMLANE_STATUS_INCOMPATIBLE`.
///
/// # Safety
///
/// As for `shmlane_mpmc_sender_create`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_mpmc_sender_open(
    name: *const c_char,
    slot_size: usize,
    slot_align: usize,
    opts: *const ShmlaneOptions,
    out: *mut *mut ShmlaneMpmcSender,
) -> ShmlaneStatus {
    // SAFETY: this fn's contract.
    unsafe { sender(Attach::Open, name, slot_size, slot_align, opts, out) }
}

/// Another sender on the same ring, with its own participant row; `*out`
/// receives its handle.
///
/// # Safety
///
/// `sender` is NULL or a handle from this library; `out` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_mpmc_sender_clone(
    sender: *mut ShmlaneMpmcSender,
    out: *mut *mut ShmlaneMpmcSender,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: this fn's contract.
        let twin = unsafe { endpoint(sender)? }.try_clone()?;
        // SAFETY: this fn's contract.
        unsafe { hand_out(out, twin) }
    })
}

/// Appends one record of exactly `len` = slot size bytes, or returns
/// `SHMLANE_STATUS_FULL` / `SHMLANE_STATUS_DISCONNECTED` at once.
///
/// # Safety
///
/// `sender` is NULL or a handle from this library; `record` is NULL or
/// points to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_mpmc_sender_try_send(
    sender: *mut ShmlaneMpmcSender,
    record: *const c_void,
    len: usize,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: this fn's contract.
        let tx = unsafe { endpoint(sender)? };
        // SAFETY: as above.
        let record = unsafe { bytes_arg(record.cast(), len, "record")? };
        Ok(tx.try_send(record)?)
    })
}

/// Appends one record, waiting for room up to `timeout_ns` nanoseconds
/// (`SHMLANE_FOREVER`: as long as it takes).
///
/// # Safety
///
/// As for `shmlane_mpmc_sender_push`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_mpmc_sender_send(
    sender: *mut ShmlaneMpmcSender,
    record: *const c_void,
    len: usize,
    timeout_ns: u64,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: this fn's contract.
        let tx = unsafe { endpoint(sender)? };
        // SAFETY: as above.
        let record = unsafe { bytes_arg(record.cast(), len, "record")? };
        match timeout(timeout_ns) {
            None => Ok(tx.send(record)?),
            Some(limit) => Ok(tx.send_timeout(record, limit)?),
        }
    })
}

/// Copies the ring's counters to `*out`.
///
/// # Safety
///
/// `sender` is NULL or a handle from this library; `out` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_mpmc_sender_stats(
    sender: *mut ShmlaneMpmcSender,
    out: *mut ShmlaneStats,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: this fn's contract.
        let tx = unsafe { endpoint(sender)? };
        // SAFETY: this fn's contract.
        unsafe { write_out(out, tx.stats().into(), "out") }
    })
}

/// Detaches and frees the sender (once every sender is gone, receivers
/// drain and see `SHMLANE_STATUS_DISCONNECTED`). NULL or an already closed handle: OK.
///
/// # Safety
///
/// `sender` is NULL or a handle from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_mpmc_sender_close(
    sender: *mut ShmlaneMpmcSender,
) -> ShmlaneStatus {
    // SAFETY: this fn's contract.
    ffi_call(|| unsafe { close(sender) })
}

/// Creates or opens a receiver.
///
/// # Safety
///
/// As for `shmlane_mpmc_sender_create`.
unsafe fn receiver(
    attach: Attach,
    name: *const c_char,
    slot_size: usize,
    slot_align: usize,
    opts: *const ShmlaneOptions,
    out: *mut *mut ShmlaneMpmcReceiver,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: the caller's string, options and out-pointer (this fn's
        // contract, the public function's).
        let name = unsafe { str_arg(name, "name")? };
        // SAFETY: as above.
        let opts = unsafe { options_arg(opts)? };
        let shape = shape_arg(slot_size, slot_align)?;
        let rx = match attach {
            Attach::Create => RawReceiver::create(name, shape, &opts)?,
            Attach::Open => RawReceiver::open(name, shape, &opts)?,
        };
        // SAFETY: as above.
        unsafe { hand_out(out, rx) }
    })
}

/// Creates the named segment `name` for slots of `slot_size` bytes aligned
/// to `slot_align` and attaches as its receiver.
///
/// # Safety
///
/// As for `shmlane_mpmc_sender_create`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_mpmc_receiver_create(
    name: *const c_char,
    slot_size: usize,
    slot_align: usize,
    opts: *const ShmlaneOptions,
    out: *mut *mut ShmlaneMpmcReceiver,
) -> ShmlaneStatus {
    // SAFETY: this fn's contract.
    unsafe { receiver(Attach::Create, name, slot_size, slot_align, opts, out) }
}

/// Opens the named segment `name` as its receiver; a segment of another
/// slot size, alignment or schema id is `SHMLANE_STATUS_INCOMPATIBLE`.
///
/// # Safety
///
/// As for `shmlane_mpmc_sender_create`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_mpmc_receiver_open(
    name: *const c_char,
    slot_size: usize,
    slot_align: usize,
    opts: *const ShmlaneOptions,
    out: *mut *mut ShmlaneMpmcReceiver,
) -> ShmlaneStatus {
    // SAFETY: this fn's contract.
    unsafe { receiver(Attach::Open, name, slot_size, slot_align, opts, out) }
}

/// Another receiver on the same ring, with its own participant row; `*out`
/// receives its handle.
///
/// # Safety
///
/// `receiver` is NULL or a handle from this library; `out` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_mpmc_receiver_clone(
    receiver: *mut ShmlaneMpmcReceiver,
    out: *mut *mut ShmlaneMpmcReceiver,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: this fn's contract.
        let twin = unsafe { endpoint(receiver)? }.try_clone()?;
        // SAFETY: this fn's contract.
        unsafe { hand_out(out, twin) }
    })
}

/// Copies the oldest record into `buf` (`len` = slot size bytes) and frees
/// its slot, or returns `SHMLANE_STATUS_EMPTY` at once
/// (`SHMLANE_STATUS_DISCONNECTED` once every sender is gone and the ring drained).
///
/// # Safety
///
/// `receiver` is NULL or a handle from this library; `buf` is NULL or
/// points to `len` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_mpmc_receiver_try_recv(
    receiver: *mut ShmlaneMpmcReceiver,
    buf: *mut c_void,
    len: usize,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: this fn's contract.
        let rx = unsafe { endpoint(receiver)? };
        // SAFETY: as above.
        let buf = unsafe { buffer_arg(buf.cast(), len, "buf")? };
        Ok(rx.try_recv(buf)?)
    })
}

/// Like `shmlane_mpmc_receiver_pop`, waiting for a record up to
/// `timeout_ns` nanoseconds (`SHMLANE_FOREVER`: as long as it takes).
///
/// # Safety
///
/// As for `shmlane_mpmc_receiver_pop`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_mpmc_receiver_recv(
    receiver: *mut ShmlaneMpmcReceiver,
    buf: *mut c_void,
    len: usize,
    timeout_ns: u64,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: this fn's contract.
        let rx = unsafe { endpoint(receiver)? };
        // SAFETY: as above.
        let buf = unsafe { buffer_arg(buf.cast(), len, "buf")? };
        match timeout(timeout_ns) {
            None => Ok(rx.recv(buf)?),
            Some(limit) => Ok(rx.recv_timeout(buf, limit)?),
        }
    })
}

/// Copies the ring's counters to `*out`.
///
/// # Safety
///
/// `receiver` is NULL or a handle from this library; `out` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_mpmc_receiver_stats(
    receiver: *mut ShmlaneMpmcReceiver,
    out: *mut ShmlaneStats,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: this fn's contract.
        let rx = unsafe { endpoint(receiver)? };
        // SAFETY: this fn's contract.
        unsafe { write_out(out, rx.stats().into(), "out") }
    })
}

/// Detaches and frees the receiver. NULL or an already closed handle: OK.
///
/// # Safety
///
/// `receiver` is NULL or a handle from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_mpmc_receiver_close(
    receiver: *mut ShmlaneMpmcReceiver,
) -> ShmlaneStatus {
    // SAFETY: this fn's contract.
    ffi_call(|| unsafe { close(receiver) })
}
