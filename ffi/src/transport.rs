//! Messages over any mechanism by URL (`shm://`, `unix://`, `mq://`, ...):
//! `shmlane_transport_*`, over `shmlane::transport::sender` and
//! `receiver`.

use std::ffi::{c_char, c_void};

use shmlane::transport::{self, Receiver, Sender};

use crate::call::{
    Fail, ShmlaneStatus, buffer_arg, bytes_arg, ffi_call, non_null, str_arg, timeout,
};
use crate::handle::{close, endpoint, hand_out, handle_type};

/// A receiver and a message it received that did not fit the caller's
/// buffer (handed out first by the next receive).
pub(crate) struct TransportReceiver {
    receiver: Box<dyn Receiver>,
    message: Vec<u8>,
    pending: bool,
}

/// The sending end of a channel (opaque).
pub struct ShmlaneTransportSender {
    shell: crate::handle::Shell<Box<dyn Sender>>,
}
handle_type!(
    ShmlaneTransportSender,
    Box<dyn Sender>,
    0x5348_4d4c_5452_0001,
    "shmlane_transport_sender"
);

/// The receiving end of a channel (opaque).
pub struct ShmlaneTransportReceiver {
    shell: crate::handle::Shell<TransportReceiver>,
}
handle_type!(
    ShmlaneTransportReceiver,
    TransportReceiver,
    0x5348_4d4c_5452_0002,
    "shmlane_transport_receiver"
);

/// Opens the sending end of the channel at `url` (see README, "Transports").
///
/// # Safety
///
/// `url` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_transport_sender_open(
    url: *const c_char,
    out: *mut *mut ShmlaneTransportSender,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: this fn's contract.
        let url = unsafe { str_arg(url, "url")? };
        let sender = transport::sender(url)?;
        // SAFETY: this fn's contract.
        unsafe { hand_out(out, sender) }
    })
}

/// Sends `len` bytes at `data` as one message, waiting for room up to
/// `timeout_ns` (`SHMLANE_FOREVER`: as long as it takes).
///
/// # Safety
///
/// `sender` is NULL or a handle from this library; `data` is NULL or
/// points to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_transport_send(
    sender: *mut ShmlaneTransportSender,
    data: *const c_void,
    len: usize,
    timeout_ns: u64,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: this fn's contract.
        let tx = unsafe { endpoint(sender)? };
        // SAFETY: as above.
        let data = unsafe { bytes_arg(data.cast(), len, "data")? };
        match timeout(timeout_ns) {
            None => Ok(tx.send(data)?),
            Some(limit) => Ok(tx.send_timeout(data, limit)?),
        }
    })
}

/// Closes the sending end (the receiver then drains and sees
/// `SHMLANE_STATUS_DISCONNECTED`). NULL or an already closed handle: OK.
///
/// # Safety
///
/// `sender` is NULL or a handle from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_transport_sender_close(
    sender: *mut ShmlaneTransportSender,
) -> ShmlaneStatus {
    // SAFETY: this fn's contract.
    ffi_call(|| unsafe { close(sender) })
}

/// Opens the receiving end of the channel at `url`.
///
/// # Safety
///
/// `url` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_transport_receiver_open(
    url: *const c_char,
    out: *mut *mut ShmlaneTransportReceiver,
) -> ShmlaneStatus {
    ffi_call(|| {
        // SAFETY: this fn's contract.
        let url = unsafe { str_arg(url, "url")? };
        let receiver = TransportReceiver {
            receiver: transport::receiver(url)?,
            message: Vec::new(),
            pending: false,
        };
        // SAFETY: this fn's contract.
        unsafe { hand_out(out, receiver) }
    })
}

/// Receives one message into `buf` (`cap` bytes), waiting up to
/// `timeout_ns` (`SHMLANE_FOREVER`: as long as it takes); `*len` receives
/// its length. A message longer than `cap` is kept for the next call:
/// `SHMLANE_STATUS_BUFFER_TOO_SMALL` with `*len` its length.
///
/// # Safety
///
/// `receiver` is NULL or a handle from this library; `buf` is NULL or
/// points to `cap` writable bytes; `len` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_transport_recv(
    receiver: *mut ShmlaneTransportReceiver,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    timeout_ns: u64,
) -> ShmlaneStatus {
    ffi_call(|| {
        non_null(len, "len")?;
        // SAFETY: this fn's contract.
        let rx = unsafe { endpoint(receiver)? };
        // SAFETY: as above.
        let buf = unsafe { buffer_arg(buf.cast(), cap, "buf")? };
        if !rx.pending {
            match timeout(timeout_ns) {
                None => rx.receiver.recv(&mut rx.message)?,
                Some(limit) => rx.receiver.recv_timeout(&mut rx.message, limit)?,
            };
            rx.pending = true;
        }
        let needed = rx.message.len();
        // SAFETY: this fn's contract (checked non-NULL above).
        unsafe { len.write(needed) };
        if needed > buf.len() {
            return Err(Fail::new(
                ShmlaneStatus::BufferTooSmall,
                format_args!(
                    "the message has {needed} bytes, the buffer {cap}: it is kept for the next receive"
                ),
            ));
        }
        buf[..needed].copy_from_slice(&rx.message);
        rx.pending = false;
        Ok(())
    })
}

/// Closes the receiving end. NULL or an already closed handle: OK.
///
/// # Safety
///
/// `receiver` is NULL or a handle from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmlane_transport_receiver_close(
    receiver: *mut ShmlaneTransportReceiver,
) -> ShmlaneStatus {
    // SAFETY: this fn's contract.
    ffi_call(|| unsafe { close(receiver) })
}
