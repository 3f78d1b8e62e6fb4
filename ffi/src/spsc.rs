//! The SPSC ring of fixed-size slots: `shmlane_spsc_producer_*` and
//! `shmlane_spsc_consumer_*`, over `shmlane::spsc::RawProducer` and
//! `RawConsumer` (slot size and alignment given at create or open, checked
//! against the segment's).

use std::ffi::{c_char, c_void};

use shmlane::SlotShape;
use shmlane::spsc::{RawConsumer, RawProducer};

use crate::call::{
    Fail, ShmlaneStatus, buffer_arg, bytes_arg, ffi_call, str_arg, timeout, write_out,
};
use crate::handle::{close, endpoint, hand_out, handle_type};
use crate::{ShmlaneOptions, ShmlaneStats, options_arg};

/// The writing end of an SPSC ring (opaque).
pub struct ShmlaneSpscProducer {
    shell: crate::handle::Shell<RawProducer>,
}
handle_type!(
    ShmlaneSpscProducer,
    RawProducer,
    0x5348_4d4c_5350_0001,
    "shmlane_spsc_producer"
);

/// The reading end of an SPSC ring (opaque).
pub struct ShmlaneSpscConsumer {
    shell: crate::handle::Shell<RawConsumer>,
}
handle_type!(
    ShmlaneSpscConsumer,
    RawConsumer,
    0x5348_4d4c_5350_0002,
    "shmlane_spsc_consumer"
);

/// How an endpoint finds its segment.
#[derive(Clone, Copy)]
pub(crate) enum Attach {
    Create,
    Open,
}

/// The slot shape of the caller's size and alignment.
pub(crate) fn shape_arg(size: usize, align: usize) -> Result<SlotShape, Fail> {
    Ok(SlotShape::new(size, align)?)
}

/// Creates or opens a producer.
///
/// # Safety
///
/// As for `shmlane_spsc_producer_create`.
unsafe fn producer(
    attach: Attach,
    name: *const c_char,
    slot_size: usize,
    slot_align: usize,
    opts: *const ShmlaneOptions,
    out: *mut *mut ShmlaneSpscProducer,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: the caller's string, options and out-pointer (this fn's
        // contract, the public function's).
        let name = unsafe { str_arg(name, "name")? };
        // SAFETY: as above.
        let opts = unsafe { options_arg(opts)? };
        let shape = shape_arg(slot_size, slot_align)?;
        let tx = match attach {
            Attach::Create => RawProducer::create(name, shape, &opts)?,
            Attach::Open => RawProducer::open(name, shape, &opts)?,
        };
        // SAFETY: as above.
        unsafe { hand_out(out, tx) }
    })
}

/// Creates the named segment `name` for slots of `slot_size` bytes aligned
/// to `slot_align` (`sizeof` and `_Alignof` of the slot type) and attaches
/// as its producer; `*out` receives the handle. `opts` may be NULL.
///
/// # Safety
///
/// `name` is NULL or a NUL-terminated string; `opts` is NULL or a readable
/// `ShmlaneOptions`; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_spsc_producer_create(
    name: *const c_char,
    slot_size: usize,
    slot_align: usize,
    opts: *const ShmlaneOptions,
    out: *mut *mut ShmlaneSpscProducer,
) -> ShmlaneStatus {
    // SAFETY: this fn's contract.
    unsafe { producer(Attach::Create, name, slot_size, slot_align, opts, out) }
}

/// Opens the named segment `name` as its producer; a segment of another
/// slot size, alignment or schema id is `SHMLANE_STATUS_INCOMPATIBLE`.
///
/// # Safety
///
/// As for `shmlane_spsc_producer_create`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_spsc_producer_open(
    name: *const c_char,
    slot_size: usize,
    slot_align: usize,
    opts: *const ShmlaneOptions,
    out: *mut *mut ShmlaneSpscProducer,
) -> ShmlaneStatus {
    // SAFETY: this fn's contract.
    unsafe { producer(Attach::Open, name, slot_size, slot_align, opts, out) }
}

/// Appends one record of exactly `len` = slot size bytes, or returns
/// `SHMLANE_STATUS_FULL` / `SHMLANE_STATUS_DISCONNECTED` at once.
///
/// # Safety
///
/// `producer` is NULL or a handle from this library; `record` is NULL or
/// points to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_spsc_producer_push(
    producer: *mut ShmlaneSpscProducer,
    record: *const c_void,
    len: usize,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: this fn's contract.
        let tx = unsafe { endpoint(producer)? };
        // SAFETY: as above.
        let record = unsafe { bytes_arg(record.cast(), len, "record")? };
        Ok(tx.push(record)?)
    })
}

/// Appends one record, waiting for room up to `timeout_ns` nanoseconds
/// (`SHMLANE_FOREVER`: as long as it takes).
///
/// # Safety
///
/// As for `shmlane_spsc_producer_push`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_spsc_producer_send(
    producer: *mut ShmlaneSpscProducer,
    record: *const c_void,
    len: usize,
    timeout_ns: u64,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: this fn's contract.
        let tx = unsafe { endpoint(producer)? };
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
/// `producer` is NULL or a handle from this library; `out` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_spsc_producer_stats(
    producer: *mut ShmlaneSpscProducer,
    out: *mut ShmlaneStats,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: this fn's contract.
        let tx = unsafe { endpoint(producer)? };
        // SAFETY: this fn's contract.
        unsafe { write_out(out, tx.stats().into(), "out") }
    })
}

/// Detaches and frees the producer (the consumer then drains and sees
/// `SHMLANE_STATUS_DISCONNECTED`). NULL or an already closed handle: OK.
///
/// # Safety
///
/// `producer` is NULL or a handle from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_spsc_producer_close(
    producer: *mut ShmlaneSpscProducer,
) -> ShmlaneStatus {
    // SAFETY: this fn's contract.
    ffi_call(|| unsafe { close(producer) })
}

/// Creates or opens a consumer.
///
/// # Safety
///
/// As for `shmlane_spsc_producer_create`.
unsafe fn consumer(
    attach: Attach,
    name: *const c_char,
    slot_size: usize,
    slot_align: usize,
    opts: *const ShmlaneOptions,
    out: *mut *mut ShmlaneSpscConsumer,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: the caller's string, options and out-pointer (this fn's
        // contract, the public function's).
        let name = unsafe { str_arg(name, "name")? };
        // SAFETY: as above.
        let opts = unsafe { options_arg(opts)? };
        let shape = shape_arg(slot_size, slot_align)?;
        let rx = match attach {
            Attach::Create => RawConsumer::create(name, shape, &opts)?,
            Attach::Open => RawConsumer::open(name, shape, &opts)?,
        };
        // SAFETY: as above.
        unsafe { hand_out(out, rx) }
    })
}

/// Creates the named segment `name` for slots of `slot_size` bytes aligned
/// to `slot_align` and attaches as its consumer.
///
/// # Safety
///
/// As for `shmlane_spsc_producer_create`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_spsc_consumer_create(
    name: *const c_char,
    slot_size: usize,
    slot_align: usize,
    opts: *const ShmlaneOptions,
    out: *mut *mut ShmlaneSpscConsumer,
) -> ShmlaneStatus {
    // SAFETY: this fn's contract.
    unsafe { consumer(Attach::Create, name, slot_size, slot_align, opts, out) }
}

/// Opens the named segment `name` as its consumer; a segment of another
/// slot size, alignment or schema id is `SHMLANE_STATUS_INCOMPATIBLE`.
///
/// # Safety
///
/// As for `shmlane_spsc_producer_create`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_spsc_consumer_open(
    name: *const c_char,
    slot_size: usize,
    slot_align: usize,
    opts: *const ShmlaneOptions,
    out: *mut *mut ShmlaneSpscConsumer,
) -> ShmlaneStatus {
    // SAFETY: this fn's contract.
    unsafe { consumer(Attach::Open, name, slot_size, slot_align, opts, out) }
}

/// Copies the oldest record into `buf` (`len` = slot size bytes) and frees
/// its slot, or returns `SHMLANE_STATUS_EMPTY` at once
/// (`SHMLANE_STATUS_DISCONNECTED` once the producer is gone and drained).
///
/// # Safety
///
/// `consumer` is NULL or a handle from this library; `buf` is NULL or
/// points to `len` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_spsc_consumer_pop(
    consumer: *mut ShmlaneSpscConsumer,
    buf: *mut c_void,
    len: usize,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: this fn's contract.
        let rx = unsafe { endpoint(consumer)? };
        // SAFETY: as above.
        let buf = unsafe { buffer_arg(buf.cast(), len, "buf")? };
        Ok(rx.pop(buf)?)
    })
}

/// Like `shmlane_spsc_consumer_pop`, waiting for a record up to
/// `timeout_ns` nanoseconds (`SHMLANE_FOREVER`: as long as it takes).
///
/// # Safety
///
/// As for `shmlane_spsc_consumer_pop`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_spsc_consumer_recv(
    consumer: *mut ShmlaneSpscConsumer,
    buf: *mut c_void,
    len: usize,
    timeout_ns: u64,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: this fn's contract.
        let rx = unsafe { endpoint(consumer)? };
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
/// `consumer` is NULL or a handle from this library; `out` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_spsc_consumer_stats(
    consumer: *mut ShmlaneSpscConsumer,
    out: *mut ShmlaneStats,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: this fn's contract.
        let rx = unsafe { endpoint(consumer)? };
        // SAFETY: this fn's contract.
        unsafe { write_out(out, rx.stats().into(), "out") }
    })
}

/// Detaches and frees the consumer. NULL or an already closed handle: OK.
///
/// # Safety
///
/// `consumer` is NULL or a handle from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_spsc_consumer_close(
    consumer: *mut ShmlaneSpscConsumer,
) -> ShmlaneStatus {
    // SAFETY: this fn's contract.
    ffi_call(|| unsafe { close(consumer) })
}
