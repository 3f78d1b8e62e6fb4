//! The one validator of segment headers: an opener copies every identity
//! field of a published header once into a [`HeaderSnapshot`] and checks
//! the copy, so that a peer rewriting the header cannot change what was
//! checked; the result is the validated [`Layout`].

use super::header::{
    ENDIAN_TAG, HEADER_LEN, Header, INIT_READY, LAYOUT_VERSION, MAGIC, TYPE_NAME_BYTES, fnv1a,
};
use super::layout::{
    Layout, MAX_PARTICIPANTS, RingKind, body_offsets, max_frame_limit, segment_len,
};
use crate::error::{Corruption, OpenError};
use crate::index::Capacity;
use crate::options::{Overflow, Waiter};
use crate::sync::Ordering;

/// Which fields an opener insists on; the others it adopts from the segment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Strict {
    pub(crate) capacity: bool,
    pub(crate) waiter: bool,
    pub(crate) max_frame: bool,
    pub(crate) overflow: bool,
    pub(crate) participants: bool,
}

impl Strict {
    /// Every field must match (a segment this process has just made, or a
    /// pair's second end).
    pub(crate) const EXACT: Self = Self {
        capacity: true,
        waiter: true,
        max_frame: true,
        overflow: true,
        participants: true,
    };

    /// The fields the caller set in `opts` must match; the rest are adopted.
    #[cfg_attr(shmlane_loom, allow(dead_code, reason = "named segments only"))]
    pub(crate) fn from_options(opts: &crate::options::Options) -> Self {
        Self {
            capacity: opts.capacity.is_some(),
            waiter: opts.waiter.is_some(),
            max_frame: opts.max_frame.is_some(),
            overflow: opts.overflow.is_some(),
            participants: opts.participants.is_some(),
        }
    }
}

impl Header {
    /// Whether the creator has published the header. A value other than 0
    /// (not yet) or ready means the bytes are not a shmlane header.
    fn is_initialized(&self) -> Result<bool, Corruption> {
        // SYNC: segment-init (Acquire: pairs with the creator's Release)
        match self.init_state.load(Ordering::Acquire) {
            0 => Ok(false),
            INIT_READY => Ok(true),
            other => Err(Corruption {
                what: "unknown init state",
                found: u64::from(other),
                limit: u64::from(INIT_READY),
            }),
        }
    }

    /// `None` while the creator has not published the header; otherwise the
    /// validated layout (see [`HeaderSnapshot::validate`]).
    pub(crate) fn validate_published(
        &self,
        name: &str,
        expected: &Layout,
        strict: Strict,
        mapped_len: u64,
    ) -> Result<Option<Layout>, OpenError> {
        match self.is_initialized() {
            Ok(false) => Ok(None),
            Ok(true) => self
                .snapshot()
                .validate(name, expected, strict, mapped_len)
                .map(Some),
            Err(corruption) => Err(OpenError::Corrupted {
                name: name.to_owned(),
                corruption,
            }),
        }
    }

    /// Copies every identity field once. Call after
    /// [`is_initialized`](Self::is_initialized) returned `Ok(true)`.
    fn snapshot(&self) -> HeaderSnapshot {
        let relaxed = Ordering::Relaxed;
        let mut type_name = [0u8; TYPE_NAME_BYTES];
        for (chunk, word) in type_name.chunks_mut(8).zip(&self.type_name) {
            chunk.copy_from_slice(&word.load(relaxed).to_le_bytes());
        }
        HeaderSnapshot {
            magic: self.magic.load(relaxed),
            layout_version: self.layout_version.load(relaxed),
            kind: self.kind.load(relaxed),
            pointer_width: self.pointer_width.load(relaxed),
            endianness: self.endianness.load(relaxed),
            header_len: self.header_len.load(relaxed),
            capacity: self.capacity.load(relaxed),
            slot_size: self.slot_size.load(relaxed),
            slot_align: self.slot_align.load(relaxed),
            slots_offset: self.slots_offset.load(relaxed),
            segment_len: self.segment_len.load(relaxed),
            type_hash: self.type_hash.load(relaxed),
            schema_id: self.schema_id.load(relaxed),
            type_name_len: self.type_name_len.load(relaxed),
            waiter: self.waiter.load(relaxed),
            overflow: self.overflow.load(relaxed),
            max_frame: self.max_frame.load(relaxed),
            participants: self.participants.load(relaxed),
            type_name,
        }
    }
}

/// A copy of a header's identity fields, taken once and then validated, so
/// that a peer rewriting the header cannot change what was checked.
#[derive(Debug, Clone)]
pub(crate) struct HeaderSnapshot {
    magic: u64,
    layout_version: u32,
    kind: u32,
    pointer_width: u32,
    endianness: u32,
    header_len: u32,
    capacity: u64,
    slot_size: u32,
    slot_align: u32,
    slots_offset: u64,
    segment_len: u64,
    type_hash: u64,
    schema_id: u64,
    type_name_len: u32,
    waiter: u32,
    overflow: u32,
    max_frame: u64,
    participants: u32,
    type_name: [u8; TYPE_NAME_BYTES],
}

impl HeaderSnapshot {
    /// The type name the creator recorded (at most [`TYPE_NAME_BYTES`]).
    pub(crate) fn type_name(&self) -> String {
        let len = (self.type_name_len as usize).min(TYPE_NAME_BYTES);
        String::from_utf8_lossy(&self.type_name[..len]).into_owned()
    }

    /// Checks the snapshot against what this endpoint expects and against the
    /// size of the memory actually mapped (`mapped_len`). The one validator
    /// of segment headers.
    pub(crate) fn validate(
        &self,
        name: &str,
        expected: &Layout,
        strict: Strict,
        mapped_len: u64,
    ) -> Result<Layout, OpenError> {
        let corrupted = |what, found: u64, limit: u64| OpenError::Corrupted {
            name: name.to_owned(),
            corruption: Corruption { what, found, limit },
        };
        let incompatible = |field, expected: String, found: String| OpenError::Incompatible {
            name: name.to_owned(),
            field,
            expected,
            found,
        };
        if self.magic != MAGIC {
            return Err(corrupted(
                "bad magic: not a shmlane segment",
                self.magic,
                MAGIC,
            ));
        }
        let checks: [(&'static str, u64, u64); 4] = [
            (
                "layout_version",
                LAYOUT_VERSION.into(),
                self.layout_version.into(),
            ),
            (
                "pointer_width",
                usize::BITS.into(),
                self.pointer_width.into(),
            ),
            ("endianness", ENDIAN_TAG.into(), self.endianness.into()),
            ("header_len", HEADER_LEN as u64, self.header_len.into()),
        ];
        for (field, want, found) in checks {
            if want != found {
                return Err(incompatible(field, want.to_string(), found.to_string()));
            }
        }
        if self.kind != expected.kind as u32 {
            return Err(incompatible(
                "ring kind",
                RingKind::name(expected.kind as u32),
                RingKind::name(self.kind),
            ));
        }
        if self.slot_size != expected.slot_size || self.slot_align != expected.slot_align {
            return Err(incompatible(
                "slot type size/align",
                format!(
                    "{} ({}/{})",
                    expected.type_name, expected.slot_size, expected.slot_align
                ),
                format!(
                    "{} ({}/{})",
                    self.type_name(),
                    self.slot_size,
                    self.slot_align
                ),
            ));
        }
        if self.schema_id != 0 || expected.schema_id != 0 {
            if self.schema_id != expected.schema_id {
                return Err(incompatible(
                    "schema_id",
                    expected.schema_id.to_string(),
                    self.schema_id.to_string(),
                ));
            }
        } else if self.type_hash != fnv1a(expected.type_name.as_bytes()) {
            return Err(incompatible(
                "type",
                expected.type_name.to_owned(),
                self.type_name(),
            ));
        }
        let capacity = Capacity::new(self.capacity)
            .ok_or_else(|| corrupted("capacity is not a power of two", self.capacity, 0))?;
        if strict.capacity && capacity != expected.capacity {
            return Err(incompatible(
                "capacity",
                expected.capacity.get().to_string(),
                self.capacity.to_string(),
            ));
        }
        // Only MPMC and shared segments have a participant table, of 1 to
        // MAX_PARTICIPANTS rows.
        let participants_ok = match expected.kind {
            RingKind::Mpmc | RingKind::Shared => {
                (1..=MAX_PARTICIPANTS).contains(&self.participants)
            }
            _ => self.participants == 0,
        };
        if !participants_ok {
            return Err(corrupted(
                "participant table size",
                self.participants.into(),
                MAX_PARTICIPANTS.into(),
            ));
        }
        if strict.participants && self.participants != expected.participants {
            return Err(incompatible(
                "participants",
                expected.participants.to_string(),
                self.participants.to_string(),
            ));
        }
        let (peers_offset, want_offset) = body_offsets(self.slot_align, self.participants);
        if self.slots_offset != want_offset {
            return Err(corrupted("slots offset", self.slots_offset, want_offset));
        }
        // The stride is this build's, for the type just checked to match.
        let want_len = segment_len(capacity, expected.slot_stride, want_offset)
            .ok_or_else(|| corrupted("capacity overflows the segment size", self.capacity, 0))?;
        if self.segment_len != want_len {
            return Err(corrupted("segment length", self.segment_len, want_len));
        }
        if want_len > mapped_len {
            return Err(corrupted(
                "segment is smaller than its header says",
                mapped_len,
                want_len,
            ));
        }
        let waiter = Waiter::from_code(self.waiter)
            .ok_or_else(|| corrupted("unknown waiter kind", self.waiter.into(), 2))?;
        if strict.waiter && waiter != expected.waiter {
            return Err(incompatible(
                "waiter",
                format!("{:?}", expected.waiter),
                format!("{waiter:?}"),
            ));
        }
        let (max_frame, overflow) = if expected.kind == RingKind::Bytes {
            self.validate_frames(capacity, expected, strict, incompatible, corrupted)?
        } else {
            (0, 0)
        };
        Ok(Layout {
            capacity,
            slots_offset: want_offset,
            segment_len: want_len,
            waiter,
            max_frame,
            overflow,
            participants: self.participants,
            peers_offset,
            ..expected.clone()
        })
    }

    /// A byte ring's frame limit and overflow policy.
    fn validate_frames(
        &self,
        capacity: Capacity,
        expected: &Layout,
        strict: Strict,
        incompatible: impl Fn(&'static str, String, String) -> OpenError,
        corrupted: impl Fn(&'static str, u64, u64) -> OpenError,
    ) -> Result<(u64, u32), OpenError> {
        let limit = max_frame_limit(capacity);
        if self.max_frame > limit {
            return Err(corrupted(
                "max frame exceeds half the ring",
                self.max_frame,
                limit,
            ));
        }
        if Overflow::from_code(self.overflow).is_none() {
            return Err(corrupted(
                "unknown overflow policy",
                self.overflow.into(),
                Overflow::MAX_CODE.into(),
            ));
        }
        if strict.max_frame && self.max_frame != expected.max_frame {
            return Err(incompatible(
                "max_frame",
                expected.max_frame.to_string(),
                self.max_frame.to_string(),
            ));
        }
        if strict.overflow && self.overflow != expected.overflow {
            return Err(incompatible(
                "overflow",
                Overflow::describe(expected.overflow),
                Overflow::describe(self.overflow),
            ));
        }
        Ok((self.max_frame, self.overflow))
    }
}
