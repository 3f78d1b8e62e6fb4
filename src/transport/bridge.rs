//! [`bridge`]: forward every message from one channel to another, of any
//! two mechanisms (`shm://ticks` to `tcp://host:port` on one host, back to
//! `shm://ticks` on the other), in order, each message whole.

use std::time::{Duration, Instant};

use super::{Deadline, Receiver, RecvError, SendError, Sender};

/// What a bridge moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BridgeStats {
    /// Messages received and sent on.
    pub messages: u64,
    /// Their payload bytes.
    pub bytes: u64,
}

/// How a bridge ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeEnd {
    /// The source ended (its sender closed, or every sender left) and
    /// the destination was closed after the last message: the end of the
    /// stream went on too.
    Drained,
    /// `keep_going` said stop, after a message or while waiting for the
    /// next (none held): the destination was closed, so its receiver sees
    /// the end of the stream.
    Stopped,
}

/// Why a bridge failed, with what it had moved until then.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// Receiving from the source failed (a reset connection, a peer that
    /// died, a message over the bridge's maximum...).
    #[error("bridge: receiving from {from}: {source} (after {} messages)", stats.messages)]
    Recv {
        /// The source channel.
        from: String,
        /// The receive error.
        source: RecvError,
        /// What was moved before.
        stats: BridgeStats,
    },
    /// Sending to, or closing, the destination failed; the message being
    /// sent (if any) did not go on whole.
    #[error("bridge: sending to {to}: {source} (after {} messages)", stats.messages)]
    Send {
        /// The destination channel.
        to: String,
        /// The send error.
        source: SendError,
        /// What was moved before.
        stats: BridgeStats,
    },
    /// `keep_going` said stop while a received message still waited for
    /// room in the destination: that message was taken from the source
    /// and not delivered. The destination was left open.
    #[error("bridge: stopped while a message waited for room in {to} (after {} messages; that one is lost)", stats.messages)]
    StoppedHolding {
        /// The destination channel.
        to: String,
        /// What was moved before.
        stats: BridgeStats,
    },
}

/// Forwards messages from `from` to `to` until the source ends (then the
/// destination is closed: [`BridgeEnd::Drained`]) or `keep_going`, asked
/// after every message and at least every `slice` while the bridge waits,
/// says stop. A message is
/// sent on whole or not at all, in the order received (a send a slice cut
/// short is finished with `flush`, never sent twice). Messages longer than
/// `to` takes are [`SendError::MessageTooLarge`]; set the source's
/// `?max=` no higher than the destination's.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use shmlane::transport::{self, BridgeEnd};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (mut into_bridge, mut from) = transport::pair("pipe:")?;
/// let (mut to, mut out_of_bridge) = transport::pair("pipe:")?;
/// into_bridge.send(b"tick 1")?;
/// into_bridge.close()?;
/// let (end, stats) = transport::bridge(&mut *from, &mut *to, Duration::from_millis(50), |_| true)?;
/// assert_eq!((end, stats.messages), (BridgeEnd::Drained, 1));
/// let mut msg = Vec::new();
/// out_of_bridge.recv(&mut msg)?;
/// assert_eq!(msg, b"tick 1");
/// # Ok(())
/// # }
/// ```
pub fn bridge(
    from: &mut dyn Receiver,
    to: &mut dyn Sender,
    slice: Duration,
    mut keep_going: impl FnMut(&BridgeStats) -> bool,
) -> Result<(BridgeEnd, BridgeStats), BridgeError> {
    let mut stats = BridgeStats::default();
    let mut msg = Vec::new();
    let end = loop {
        match from.recv_deadline(&mut msg, Deadline::after(slice)) {
            Ok(_) => {}
            Err(RecvError::Timeout) if keep_going(&stats) => continue,
            Err(RecvError::Timeout) => break BridgeEnd::Stopped,
            Err(RecvError::Disconnected { .. }) => break BridgeEnd::Drained,
            Err(source) => {
                return Err(BridgeError::Recv {
                    from: from.endpoint().to_owned(),
                    source,
                    stats,
                });
            }
        }
        let sent = match send_whole(to, &msg, slice, || keep_going(&stats)) {
            Ok(sent) => sent,
            Err(source) => return Err(send_failed(to, source, stats)),
        };
        if !sent {
            return Err(BridgeError::StoppedHolding {
                to: to.endpoint().to_owned(),
                stats,
            });
        }
        stats.messages += 1;
        stats.bytes += msg.len() as u64;
        if !keep_going(&stats) {
            break BridgeEnd::Stopped;
        }
    };
    // Drained or stopped with nothing held: the end of the stream goes on.
    close(to, slice).map_err(|source| send_failed(to, source, stats))?;
    Ok((end, stats))
}

/// A failure of the destination, with what was moved before.
fn send_failed(to: &dyn Sender, source: SendError, stats: BridgeStats) -> BridgeError {
    BridgeError::Send {
        to: to.endpoint().to_owned(),
        source,
        stats,
    }
}

/// Sends `msg` in slices until it is sent (`true`) or `keep_going` says
/// stop while it waits for room (`false`, nothing of it sent). A send a
/// slice cut after some bytes is finished with `flush`: a message is never
/// sent twice or torn.
fn send_whole(
    to: &mut dyn Sender,
    msg: &[u8],
    slice: Duration,
    mut keep_going: impl FnMut() -> bool,
) -> Result<bool, SendError> {
    loop {
        match to.send_deadline(msg, Deadline::after(slice)) {
            Ok(()) => return Ok(true),
            Err(SendError::Timeout) if keep_going() => {}
            Err(SendError::Timeout) => return Ok(false),
            Err(SendError::Incomplete { .. }) => loop {
                // Part of the frame is in the channel: only the rest may
                // follow, whatever `keep_going` says (a torn frame would
                // corrupt the stream for the receiver).
                match to.flush_deadline(Deadline::after(slice)) {
                    Ok(()) => return Ok(true),
                    Err(SendError::Timeout) => {}
                    Err(e) => return Err(e),
                }
            },
            Err(e) => return Err(e),
        }
    }
}

/// Closes `to` (flushing, then the end of the stream), in slices.
fn close(to: &mut dyn Sender, slice: Duration) -> Result<(), SendError> {
    let started = Instant::now();
    loop {
        match to.close_deadline(Deadline::after(slice)) {
            // A receiver that does not drain for a long time: give up
            // after a while rather than hang a stopping bridge.
            Err(SendError::Timeout) if started.elapsed() < CLOSE_PATIENCE => {}
            other => return other,
        }
    }
}

/// How long closing the destination may wait for room for what is left.
const CLOSE_PATIENCE: Duration = Duration::from_secs(10);
