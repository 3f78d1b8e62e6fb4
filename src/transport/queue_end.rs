//! End of stream on message queues (`mq://`, `sysvmq://`), which know
//! nothing of their users: each shmlane sender announces itself with a
//! *hello* marker before its first message and leaves an *end* marker when
//! closed or dropped; the receiver counts the senders it heard announce and
//! ends the stream once every one of them has ended (or died).
//!
//! A marker is [`MARKER_LEN`] bytes: a tag, its kind, the sender's pid and
//! a random 64-bit sender id drawn per process, at the queue's marker
//! place (`mq://` priority 0, `sysvmq://` type `LONG_MAX`). So:
//! * one sender's end does not end a receiver another sender still feeds;
//! * an end marker whose sender the receiver never heard announce (left by
//!   an earlier run, or written by another program) is ignored, as is any
//!   message at the marker place that is not a marker;
//! * a hello whose sender is gone without its end (it crashed, or it is a
//!   stale leftover) stops counting once its process no longer exists: it
//!   is pruned whenever another sender ends.
//!
//! A message at the marker place is never delivered as data. Programs that
//! are not shmlane may end a stream with a *bare* marker (an empty message
//! at the marker place), which counts only while no shmlane sender has
//! announced itself to the receiver.

use std::sync::Arc;

use super::RecvError;
use crate::sync::current_pid;

/// Bytes of a marker. A queue whose messages are shorter carries none.
pub(crate) const MARKER_LEN: usize = 16;

/// The first bytes of every marker.
const TAG: [u8; 3] = *b"SLQ";
const HELLO: u8 = 1;
const END: u8 = 2;

/// A sender's announcement or farewell, as read from the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Marker {
    end: bool,
    pid: u32,
    id: u64,
}

impl Marker {
    fn encode(self) -> [u8; MARKER_LEN] {
        let mut out = [0u8; MARKER_LEN];
        out[..3].copy_from_slice(&TAG);
        out[3] = if self.end { END } else { HELLO };
        out[4..8].copy_from_slice(&self.pid.to_le_bytes());
        out[8..].copy_from_slice(&self.id.to_le_bytes());
        out
    }

    /// The marker in `bytes`, if they are one.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; MARKER_LEN] = bytes.try_into().ok()?;
        if bytes[..3] != TAG || !matches!(bytes[3], HELLO | END) {
            return None;
        }
        Some(Self {
            end: bytes[3] == END,
            pid: u32::from_le_bytes(bytes[4..8].try_into().ok()?),
            id: u64::from_le_bytes(bytes[8..].try_into().ok()?),
        })
    }
}

/// A sender's side: its identity in the process that announced it.
#[derive(Debug, Default)]
pub(crate) struct SenderMarks {
    /// The announced identity (`None` until the first send in a process).
    announced: Option<Marker>,
}

impl SenderMarks {
    /// The hello to send before this process's first message, if it has
    /// not announced itself yet (a forked copy is a new sender).
    pub(crate) fn hello_due(&self) -> Option<[u8; MARKER_LEN]> {
        match self.announced {
            Some(marker) if marker.pid == current_pid() => None,
            _ => Some(
                Marker {
                    end: false,
                    pid: current_pid(),
                    id: self.next_id(),
                }
                .encode(),
            ),
        }
    }

    /// Records that the hello `hello_due` gave was sent.
    pub(crate) fn announced(&mut self, hello: &[u8; MARKER_LEN]) {
        self.announced = Marker::decode(hello);
    }

    /// The end marker this process owes, if it announced itself.
    pub(crate) fn end_due(&self) -> Option<[u8; MARKER_LEN]> {
        self.announced
            .filter(|marker| marker.pid == current_pid())
            .map(|marker| {
                Marker {
                    end: true,
                    ..marker
                }
                .encode()
            })
    }

    /// A sender id no other sender (nor an injector) can predict.
    fn next_id(&self) -> u64 {
        let mut id = [0u8; 8];
        // SAFETY: the kernel writes at most `id.len()` bytes into `id`,
        // which lives across the call.
        let got = unsafe { libc::getrandom(id.as_mut_ptr().cast(), id.len(), 0) };
        if got != id.len() as isize {
            // No entropy source: the time still tells runs apart.
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            id = (now ^ u64::from(current_pid()).rotate_left(32)).to_le_bytes();
        }
        u64::from_le_bytes(id)
    }
}

/// A receiver's side: the senders it heard announce and not yet end.
#[derive(Debug, Default)]
pub(crate) struct Senders {
    live: Vec<Marker>,
    /// A shmlane sender announced itself: bare markers no longer count.
    heard_one: bool,
    /// Every announced sender ended or died: the stream ends once the
    /// queue holds nothing more.
    draining: bool,
    /// A sender was found gone without its end marker (its process no
    /// longer exists): the stream was cut, not closed.
    crashed: bool,
    /// When [`prune_if_due`](Self::prune_if_due) last looked.
    pruned_at: Option<std::time::Instant>,
}

impl Senders {
    /// Takes note of a marker read from the queue.
    pub(crate) fn note(&mut self, marker: Marker) {
        if !marker.end {
            self.heard_one = true;
            if !self.live.iter().any(|s| s.id == marker.id) {
                self.live.push(marker);
            }
            self.draining = false;
            return;
        }
        let Some(at) = self.live.iter().position(|s| s.id == marker.id) else {
            return; // never announced here: stale or injected
        };
        self.live.swap_remove(at);
        self.prune_dead();
        self.draining = self.live.is_empty();
    }

    /// Forgets the announced senders whose process no longer exists (a
    /// crash, or a leftover hello of an earlier run): a syscall per
    /// sender, so callers do it at most once a liveness tick. When that
    /// leaves none, the stream drains and then ends as cut.
    pub(crate) fn prune_dead(&mut self) {
        let before = self.live.len();
        self.live.retain(|s| process_exists(s.pid));
        if self.live.len() < before {
            self.crashed = true;
            if self.live.is_empty() {
                self.draining = true;
            }
        }
    }

    /// [`prune_dead`](Self::prune_dead), if a liveness tick passed since
    /// the last look: for receives that find the queue empty again and
    /// again (non-blocking calls, polled waits).
    pub(crate) fn prune_if_due(&mut self) {
        let now = std::time::Instant::now();
        let due = self
            .pruned_at
            .is_none_or(|at| now.duration_since(at) >= crate::wait::LIVENESS_TICK);
        if due && self.any_live() {
            self.pruned_at = Some(now);
            self.prune_dead();
        }
    }

    /// Whether a sender this receiver heard is still counted.
    pub(crate) fn any_live(&self) -> bool {
        !self.live.is_empty()
    }

    /// The error of a drained stream of `endpoint`: cut (a sender's
    /// process went away without its end marker) or closed.
    pub(crate) fn ended(&self, endpoint: Arc<str>) -> RecvError {
        if self.crashed {
            RecvError::Reset { endpoint }
        } else {
            RecvError::Disconnected { endpoint }
        }
    }

    /// Takes note of a bare marker (an empty message at the marker place),
    /// the end of stream of a peer that is not shmlane. It counts only
    /// while no shmlane sender has announced itself: then one bare message
    /// from anybody can no longer end the stream.
    pub(crate) fn note_bare(&mut self) {
        if !self.heard_one {
            self.draining = true;
        }
    }

    /// Every sender heard of has ended: what is still queued is the last.
    pub(crate) fn draining(&self) -> bool {
        self.draining
    }
}

/// Whether a process with `pid` exists (one of another user's counts).
fn process_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists; no memory.
    let sent = unsafe { libc::kill(pid, 0) };
    sent == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_and_garbage_is_none() {
        let marker = Marker {
            end: true,
            pid: 42,
            id: 0x0123_4567_89ab_cdef,
        };
        assert_eq!(Marker::decode(&marker.encode()), Some(marker));
        assert_eq!(Marker::decode(&[]), None);
        assert_eq!(Marker::decode(&[0; MARKER_LEN]), None);
        assert_eq!(Marker::decode(&marker.encode()[..MARKER_LEN - 1]), None);
    }

    #[test]
    fn the_stream_ends_when_every_announced_sender_ended() {
        let (mut a, mut b) = (SenderMarks::default(), SenderMarks::default());
        let (hello_a, hello_b) = (a.hello_due().unwrap(), b.hello_due().unwrap());
        a.announced(&hello_a);
        b.announced(&hello_b);
        assert!(a.hello_due().is_none(), "one hello per process");
        let mut senders = Senders::default();
        senders.note(Marker::decode(&hello_a).unwrap());
        senders.note(Marker::decode(&hello_b).unwrap());
        senders.note(Marker::decode(&a.end_due().unwrap()).unwrap());
        assert!(!senders.draining(), "b still sends");
        let stale = Marker {
            end: true,
            pid: current_pid(),
            id: 7,
        };
        senders.note(stale);
        assert!(!senders.draining(), "an unknown end is ignored");
        senders.note_bare();
        assert!(!senders.draining(), "a bare marker ends nothing here");
        senders.note(Marker::decode(&b.end_due().unwrap()).unwrap());
        assert!(senders.draining());
        let mut foreign = Senders::default();
        foreign.note_bare();
        assert!(foreign.draining(), "a peer that only speaks bare markers");
    }
}
