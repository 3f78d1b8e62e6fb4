//! The bytes of a frame, as both ends see them: [`Framing::Length`] puts a
//! 4-byte big-endian length before the message, [`Framing::Lines`] a `\n`
//! after it. A frame longer than the channel's maximum is found out from
//! its prefix (or its first `max + 1` bytes) alone.

use crate::error::Corruption;
use crate::transport::config::Framing;

/// Bytes of a length prefix.
pub(super) const PREFIX_LEN: usize = 4;

/// The length prefix of a message of `len` bytes.
pub(super) fn length_prefix(len: usize) -> [u8; PREFIX_LEN] {
    // At most MAX_MESSAGE_SIZE_LIMIT, checked at open: fits in u32.
    (len as u32).to_be_bytes()
}

/// One whole frame at the front of the unread bytes.
pub(super) struct Frame {
    /// Offset of the message from the first unread byte, and its length.
    pub(super) at: usize,
    pub(super) len: usize,
    /// Bytes the frame takes (with prefix or newline).
    pub(super) taken: usize,
}

/// The whole frame at the front of `unread`, if it is all there. For
/// lines, the first `scanned` bytes are known to hold no newline; when
/// there is no whole line yet, `scanned` grows to all of `unread`. A frame
/// that cannot fit in `max` is corruption.
pub(super) fn next_frame(
    framing: Framing,
    unread: &[u8],
    scanned: &mut usize,
    max: usize,
) -> Result<Option<Frame>, Corruption> {
    match framing {
        Framing::Length => {
            let Some(prefix) = unread.first_chunk::<PREFIX_LEN>() else {
                return Ok(None);
            };
            let len = u32::from_be_bytes(*prefix) as usize;
            if len > max {
                return Err(Corruption {
                    what: "length prefix exceeds the maximum message size",
                    found: len as u64,
                    limit: max as u64,
                });
            }
            Ok((unread.len() >= PREFIX_LEN + len).then_some(Frame {
                at: PREFIX_LEN,
                len,
                taken: PREFIX_LEN + len,
            }))
        }
        Framing::Lines => match unread[*scanned..].iter().position(|&b| b == b'\n') {
            Some(i) if *scanned + i > max => Err(Corruption {
                what: "line longer than the maximum message size",
                found: (*scanned + i) as u64,
                limit: max as u64,
            }),
            Some(i) => {
                let len = *scanned + i;
                Ok(Some(Frame {
                    at: 0,
                    len,
                    taken: len + 1,
                }))
            }
            None if unread.len() > max => Err(Corruption {
                what: "line longer than the maximum message size",
                found: unread.len() as u64,
                limit: max as u64,
            }),
            None => {
                *scanned = unread.len();
                Ok(None)
            }
        },
    }
}

/// Bytes the frame at the front of `unread` needs in all (at most the
/// largest frame: a prefix was validated by [`next_frame`] first).
pub(super) fn frame_needs(framing: Framing, unread: &[u8], max: usize) -> usize {
    match (framing, unread.first_chunk::<PREFIX_LEN>()) {
        (Framing::Length, Some(prefix)) => PREFIX_LEN + u32::from_be_bytes(*prefix) as usize,
        (Framing::Length, None) => PREFIX_LEN,
        (Framing::Lines, _) => (unread.len() + 1).min(max + 1),
    }
}
