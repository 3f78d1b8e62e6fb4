//! The byte ring of variable-length frames: `shmlane_bytes_producer_*` and
//! `shmlane_bytes_consumer_*`. Copying calls (`send`, `recv` into the
//! caller's buffer) and in-place ones (`grant` then `commit`, `read` then
//! `release`), whose guard the handle keeps between the two calls.

use std::ffi::{c_char, c_void};
use std::ptr::NonNull;

use shmlane::bytes::{Consumer, Frame, Grant, Producer};
use shmlane::{GrantError, PopError};

use crate::call::{
    Fail, ShmlaneStatus, buffer_arg, bytes_arg, ffi_call, non_null, str_arg, timeout, write_out,
};
use crate::handle::{close, endpoint, hand_out, handle_type};
use crate::spsc::Attach;
use crate::{ShmlaneOptions, ShmlaneStats, options_arg};

/// A byte-ring producer and its outstanding grant, if any.
pub(crate) struct BytesProducer {
    /// Owned (from `Box::into_raw`); freed by `drop`, after the grant.
    producer: NonNull<Producer>,
    /// The grant handed to C, borrowing `*producer`: its lifetime is
    /// erased, so this struct upholds it (see `idle` and `drop`).
    grant: Option<Grant<'static>>,
}

/// A byte-ring consumer and the frame it lent out, if any.
pub(crate) struct BytesConsumer {
    /// Owned (from `Box::into_raw`); freed by `drop`, after the frame.
    consumer: NonNull<Consumer>,
    /// The frame handed to C, borrowing `*consumer` (lifetime erased, as
    /// `BytesProducer::grant`).
    frame: Option<Frame<'static>>,
}

/// The writing end of a byte ring (opaque).
pub struct ShmlaneBytesProducer {
    shell: crate::handle::Shell<BytesProducer>,
}
handle_type!(
    ShmlaneBytesProducer,
    BytesProducer,
    0x5348_4d4c_4259_0001,
    "shmlane_bytes_producer"
);

/// The reading end of a byte ring (opaque).
pub struct ShmlaneBytesConsumer {
    shell: crate::handle::Shell<BytesConsumer>,
}
handle_type!(
    ShmlaneBytesConsumer,
    BytesConsumer,
    0x5348_4d4c_4259_0002,
    "shmlane_bytes_consumer"
);

const GRANT_OUTSTANDING: Fail = Fail::fixed(
    ShmlaneStatus::Busy,
    c"a grant is outstanding: commit or cancel it first",
);
const FRAME_OUTSTANDING: Fail = Fail::fixed(
    ShmlaneStatus::Busy,
    c"a frame is outstanding: release it first",
);

impl BytesProducer {
    fn new(producer: Producer) -> Self {
        Self {
            producer: NonNull::from(Box::leak(Box::new(producer))),
            grant: None,
        }
    }

    /// The producer, while no grant borrows it.
    fn idle(&mut self) -> Result<&mut Producer, Fail> {
        if self.grant.is_some() {
            return Err(GRANT_OUTSTANDING);
        }
        // SAFETY: `producer` is owned by `self` and live until `drop`; no
        // grant borrows it (checked above), so this is the only reference,
        // and it is tied to `&mut self`.
        Ok(unsafe { self.producer.as_mut() })
    }

    /// Starts a grant with `start` and keeps it; returns its bytes.
    fn start(
        &mut self,
        start: impl FnOnce(&'static mut Producer) -> Result<Grant<'static>, GrantError>,
    ) -> Result<(NonNull<u8>, usize), Fail> {
        self.idle()?;
        // SAFETY: as in `idle`; the grant that takes this borrow is stored
        // in `self.grant`, dropped before the producer (`drop`), and no
        // other reference to the producer is made while it lives (`idle`).
        let producer = unsafe { &mut *self.producer.as_ptr() };
        let mut grant = start(producer)?;
        let bytes = NonNull::from(&mut *grant).cast::<u8>();
        let len = grant.len();
        self.grant = Some(grant);
        Ok((bytes, len))
    }
}

impl Drop for BytesProducer {
    fn drop(&mut self) {
        // The grant borrows the producer: it goes first (uncommitted, it
        // publishes nothing).
        self.grant = None;
        // SAFETY: `producer` came from `Box::leak` in `new` and nothing
        // borrows it any more.
        drop(unsafe { Box::from_raw(self.producer.as_ptr()) });
    }
}

impl BytesConsumer {
    fn new(consumer: Consumer) -> Self {
        Self {
            consumer: NonNull::from(Box::leak(Box::new(consumer))),
            frame: None,
        }
    }

    /// The consumer, while no frame borrows it.
    fn idle(&mut self) -> Result<&mut Consumer, Fail> {
        if self.frame.is_some() {
            return Err(FRAME_OUTSTANDING);
        }
        // SAFETY: as in `BytesProducer::idle`.
        Ok(unsafe { self.consumer.as_mut() })
    }

    /// Reads the next frame within `timeout_ns` (without keeping it).
    fn next_frame(&mut self, timeout_ns: u64) -> Result<Frame<'static>, Fail> {
        self.idle()?;
        // SAFETY: as in `BytesProducer::start`: the frame is either kept
        // in `self.frame` or dropped before this returns.
        let consumer = unsafe { &mut *self.consumer.as_ptr() };
        let frame: Result<Frame<'static>, PopError> = match timeout(timeout_ns) {
            None => consumer.read_blocking(),
            Some(limit) => consumer.read_timeout(limit),
        };
        Ok(frame?)
    }
}

impl Drop for BytesConsumer {
    fn drop(&mut self) {
        // The frame borrows the consumer: it goes first (released).
        self.frame = None;
        // SAFETY: as in `BytesProducer::drop`.
        drop(unsafe { Box::from_raw(self.consumer.as_ptr()) });
    }
}

/// Creates or opens a producer.
///
/// # Safety
///
/// As for `shmlane_bytes_producer_create`.
unsafe fn producer(
    attach: Attach,
    name: *const c_char,
    opts: *const ShmlaneOptions,
    out: *mut *mut ShmlaneBytesProducer,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: the caller's string and options (this fn's contract).
        let name = unsafe { str_arg(name, "name")? };
        // SAFETY: as above.
        let opts = unsafe { options_arg(opts)? };
        let tx = match attach {
            Attach::Create => Producer::create(name, &opts)?,
            Attach::Open => Producer::open(name, &opts)?,
        };
        // SAFETY: the caller's out-pointer (this fn's contract).
        unsafe { hand_out(out, BytesProducer::new(tx)) }
    })
}

/// Creates the named byte ring `name` (`opts->capacity` in bytes) and
/// attaches as its producer; `*out` receives the handle.
///
/// # Safety
///
/// `name` is NULL or a NUL-terminated string; `opts` is NULL or a readable
/// `ShmlaneOptions`; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_bytes_producer_create(
    name: *const c_char,
    opts: *const ShmlaneOptions,
    out: *mut *mut ShmlaneBytesProducer,
) -> ShmlaneStatus {
    // SAFETY: this fn's contract.
    unsafe { producer(Attach::Create, name, opts, out) }
}

/// Opens the named byte ring `name` as its producer.
///
/// # Safety
///
/// As for `shmlane_bytes_producer_create`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_bytes_producer_open(
    name: *const c_char,
    opts: *const ShmlaneOptions,
    out: *mut *mut ShmlaneBytesProducer,
) -> ShmlaneStatus {
    // SAFETY: this fn's contract.
    unsafe { producer(Attach::Open, name, opts, out) }
}

/// Copies `len` bytes at `data` in as one frame, or returns
/// `SHMLANE_STATUS_FULL` at once.
///
/// # Safety
///
/// `producer` is NULL or a handle from this library; `data` is NULL or
/// points to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_bytes_producer_try_send(
    producer: *mut ShmlaneBytesProducer,
    data: *const c_void,
    len: usize,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: this fn's contract.
        let tx = unsafe { endpoint(producer)? };
        // SAFETY: as above.
        let data = unsafe { bytes_arg(data.cast(), len, "data")? };
        Ok(tx.idle()?.try_send(data)?)
    })
}

/// Copies `len` bytes in as one frame, waiting for room up to `timeout_ns`
/// nanoseconds (`SHMLANE_FOREVER`: as long as it takes).
///
/// # Safety
///
/// As for `shmlane_bytes_producer_try_send`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_bytes_producer_send(
    producer: *mut ShmlaneBytesProducer,
    data: *const c_void,
    len: usize,
    timeout_ns: u64,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: this fn's contract.
        let tx = unsafe { endpoint(producer)? };
        // SAFETY: as above.
        let data = unsafe { bytes_arg(data.cast(), len, "data")? };
        let tx = tx.idle()?;
        match timeout(timeout_ns) {
            None => Ok(tx.send(data)?),
            Some(limit) => Ok(tx.send_timeout(data, limit)?),
        }
    })
}

/// Reserves room for a frame of `len` bytes, waiting up to `timeout_ns`
/// (0: one try); `*data` receives where to write them, in the ring. Then
/// `shmlane_bytes_producer_commit` publishes, or `_cancel` drops it. The
/// bytes stay valid until then; other calls on this producer return
/// `SHMLANE_STATUS_BUSY` meanwhile.
///
/// # Safety
///
/// `producer` is NULL or a handle from this library; `data` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_bytes_producer_grant(
    producer: *mut ShmlaneBytesProducer,
    len: usize,
    timeout_ns: u64,
    data: *mut *mut c_void,
) -> ShmlaneStatus {
    ffi_call(|| {
        non_null(data, "data")?;
        // SAFETY: this fn's contract.
        let tx = unsafe { endpoint(producer)? };
        let (bytes, _) = tx.start(|p| match timeout(timeout_ns) {
            None => p.grant_blocking(len),
            Some(limit) => p.grant_timeout(len, limit),
        })?;
        // SAFETY: this fn's contract (checked non-NULL above).
        unsafe { write_out(data, bytes.as_ptr().cast(), "data") }
    })
}

/// Publishes the first `n` bytes of the outstanding grant as one frame
/// (`n` is capped at the grant's length); `*committed` (may be NULL)
/// receives the bytes published (0 if the ring's overflow policy dropped
/// the frame). `SHMLANE_STATUS_BUSY` if no grant is outstanding.
///
/// # Safety
///
/// `producer` is NULL or a handle from this library; `committed` is NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_bytes_producer_commit(
    producer: *mut ShmlaneBytesProducer,
    n: usize,
    committed: *mut usize,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: this fn's contract.
        let tx = unsafe { endpoint(producer)? };
        let grant = tx.grant.take().ok_or(Fail::fixed(
            ShmlaneStatus::Busy,
            c"no grant is outstanding: call shmlane_bytes_producer_grant first",
        ))?;
        let done = grant.commit(n);
        if !committed.is_null() {
            // SAFETY: non-NULL and writable (this fn's contract).
            unsafe { committed.write(done) };
        }
        Ok(())
    })
}

/// Drops the outstanding grant without publishing anything (OK if none).
///
/// # Safety
///
/// `producer` is NULL or a handle from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_bytes_producer_cancel(
    producer: *mut ShmlaneBytesProducer,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: this fn's contract.
        unsafe { endpoint(producer)? }.grant = None;
        Ok(())
    })
}

/// Copies the ring's counters to `*out` (`SHMLANE_STATUS_BUSY` while a
/// grant is outstanding).
///
/// # Safety
///
/// `producer` is NULL or a handle from this library; `out` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_bytes_producer_stats(
    producer: *mut ShmlaneBytesProducer,
    out: *mut ShmlaneStats,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: this fn's contract.
        let stats = unsafe { endpoint(producer)? }.idle()?.stats();
        // SAFETY: this fn's contract.
        unsafe { write_out(out, stats.into(), "out") }
    })
}

/// Drops any outstanding grant, detaches and frees the producer. NULL or
/// an already closed handle: OK.
///
/// # Safety
///
/// `producer` is NULL or a handle from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_bytes_producer_close(
    producer: *mut ShmlaneBytesProducer,
) -> ShmlaneStatus {
    // SAFETY: this fn's contract.
    ffi_call(|| unsafe { close(producer) })
}

/// Creates or opens a consumer.
///
/// # Safety
///
/// As for `shmlane_bytes_producer_create`.
unsafe fn consumer(
    attach: Attach,
    name: *const c_char,
    opts: *const ShmlaneOptions,
    out: *mut *mut ShmlaneBytesConsumer,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: the caller's string and options (this fn's contract).
        let name = unsafe { str_arg(name, "name")? };
        // SAFETY: as above.
        let opts = unsafe { options_arg(opts)? };
        let rx = match attach {
            Attach::Create => Consumer::create(name, &opts)?,
            Attach::Open => Consumer::open(name, &opts)?,
        };
        // SAFETY: the caller's out-pointer (this fn's contract).
        unsafe { hand_out(out, BytesConsumer::new(rx)) }
    })
}

/// Creates the named byte ring `name` and attaches as its consumer.
///
/// # Safety
///
/// As for `shmlane_bytes_producer_create`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_bytes_consumer_create(
    name: *const c_char,
    opts: *const ShmlaneOptions,
    out: *mut *mut ShmlaneBytesConsumer,
) -> ShmlaneStatus {
    // SAFETY: this fn's contract.
    unsafe { consumer(Attach::Create, name, opts, out) }
}

/// Opens the named byte ring `name` as its consumer.
///
/// # Safety
///
/// As for `shmlane_bytes_producer_create`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_bytes_consumer_open(
    name: *const c_char,
    opts: *const ShmlaneOptions,
    out: *mut *mut ShmlaneBytesConsumer,
) -> ShmlaneStatus {
    // SAFETY: this fn's contract.
    unsafe { consumer(Attach::Open, name, opts, out) }
}

/// Copies the next frame into `buf` (`cap` bytes) and frees it; `*len`
/// receives its length. Waits up to `timeout_ns` (0: one try, then
/// `SHMLANE_STATUS_TIMEOUT`; `SHMLANE_FOREVER`: as long as it takes). A
/// frame longer than `cap` stays in the ring: `SHMLANE_STATUS_BUFFER_TOO_SMALL`
/// with `*len` its length.
///
/// # Safety
///
/// `consumer` is NULL or a handle from this library; `buf` is NULL or
/// points to `cap` writable bytes; `len` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_bytes_consumer_recv(
    consumer: *mut ShmlaneBytesConsumer,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    timeout_ns: u64,
) -> ShmlaneStatus {
    ffi_call(|| {
        non_null(len, "len")?;
        // SAFETY: this fn's contract.
        let rx = unsafe { endpoint(consumer)? };
        // SAFETY: as above.
        let buf = unsafe { buffer_arg(buf.cast(), cap, "buf")? };
        let frame = rx.next_frame(timeout_ns)?;
        let needed = frame.len();
        // SAFETY: this fn's contract (checked non-NULL above).
        unsafe { len.write(needed) };
        if needed > buf.len() {
            frame.unread();
            return Err(Fail::new(
                ShmlaneStatus::BufferTooSmall,
                format_args!(
                    "the next frame has {needed} bytes, the buffer {cap}: the frame stays in the ring"
                ),
            ));
        }
        buf[..needed].copy_from_slice(&frame);
        Ok(())
    })
}

/// Reads the next frame in place, waiting up to `timeout_ns` (as
/// `shmlane_bytes_consumer_recv`): `*data` and `*len` receive its bytes in
/// the ring, valid until `shmlane_bytes_consumer_release` (other calls on
/// this consumer return `SHMLANE_STATUS_BUSY` meanwhile).
///
/// # Safety
///
/// `consumer` is NULL or a handle from this library; `data` and `len` are
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_bytes_consumer_read(
    consumer: *mut ShmlaneBytesConsumer,
    timeout_ns: u64,
    data: *mut *const c_void,
    len: *mut usize,
) -> ShmlaneStatus {
    ffi_call(|| {
        non_null(data, "data")?;
        non_null(len, "len")?;
        // SAFETY: this fn's contract.
        let rx = unsafe { endpoint(consumer)? };
        let frame = rx.next_frame(timeout_ns)?;
        let (bytes, n) = (frame.as_ptr(), frame.len());
        rx.frame = Some(frame);
        // SAFETY: non-NULL (checked above) and writable (this fn's contract).
        unsafe { data.write(bytes.cast()) };
        // SAFETY: as above.
        unsafe { len.write(n) };
        Ok(())
    })
}

/// Frees the frame lent by `shmlane_bytes_consumer_read`
/// (`SHMLANE_STATUS_BUSY` if none is).
///
/// # Safety
///
/// `consumer` is NULL or a handle from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_bytes_consumer_release(
    consumer: *mut ShmlaneBytesConsumer,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: this fn's contract.
        let rx = unsafe { endpoint(consumer)? };
        let frame = rx.frame.take().ok_or(Fail::fixed(
            ShmlaneStatus::Busy,
            c"no frame is outstanding: call shmlane_bytes_consumer_read first",
        ))?;
        frame.release();
        Ok(())
    })
}

/// Copies the ring's counters to `*out` (`SHMLANE_STATUS_BUSY` while a
/// frame is outstanding).
///
/// # Safety
///
/// `consumer` is NULL or a handle from this library; `out` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_bytes_consumer_stats(
    consumer: *mut ShmlaneBytesConsumer,
    out: *mut ShmlaneStats,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: this fn's contract.
        let stats = unsafe { endpoint(consumer)? }.idle()?.stats();
        // SAFETY: this fn's contract.
        unsafe { write_out(out, stats.into(), "out") }
    })
}

/// Releases any outstanding frame, detaches and frees the consumer. NULL
/// or an already closed handle: OK.
///
/// # Safety
///
/// `consumer` is NULL or a handle from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_bytes_consumer_close(
    consumer: *mut ShmlaneBytesConsumer,
) -> ShmlaneStatus {
    // SAFETY: this fn's contract.
    ffi_call(|| unsafe { close(consumer) })
}
