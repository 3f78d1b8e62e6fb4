//! Message boundaries on byte streams, written once for every stream
//! mechanism: `pipe:`, `fifo://`, `unix://` and `tcp://` all send and
//! receive through [`StreamSender`] and [`StreamReceiver`].
//!
//! * [`Framing::Length`](crate::transport::Framing::Length): a 4-byte big-endian length, then the message.
//!   Sent with one `writev` (prefix and payload together).
//! * [`Framing::Lines`](crate::transport::Framing::Lines): the message, then `\n`.
//!
//! The receiver reads ahead into a buffer of its own (64 KiB, grown only to
//! hold one whole frame of at most the maximum size) and copies each
//! message into the caller's `Vec`: a read usually brings a whole frame, so
//! a message costs one `read`, and a frame whose bytes have not all arrived
//! by a deadline stays in the buffer for the next call. A length prefix is
//! checked against the maximum before anything is sized by it: a bigger one
//! is [`Corrupted`](crate::transport::RecvError::Corrupted), the connection is closed, and
//! no allocation follows the bogus number.
//!
//! Timed and non-blocking calls use per-call non-blocking I/O
//! (`MSG_DONTWAIT` on sockets, `RWF_NOWAIT` on pipes), so the descriptor
//! itself stays blocking and untimed calls cost one plain syscall.
//!
//! The parts: [`wire`] is the frame format both ends agree on, [`stream_fd`]
//! the descriptor and its syscalls, [`sender`] and [`receiver`] the two
//! ends.

mod receiver;
mod sender;
mod stream_fd;
#[cfg(test)]
mod tests;
mod wire;

pub use self::receiver::StreamReceiver;
pub use self::sender::StreamSender;
pub(crate) use self::stream_fd::FdKind;
