//! Reading a file's header bytes and decoding them with this build's
//! field offsets: the registry's only look inside a segment.

use super::*;

/// Reads up to `buf.len()` bytes at `offset` (fewer at the end of the
/// file); returns how many.
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// A header's bytes as read: fields decoded with this build's offsets.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u32(&self, at: usize) -> u32 {
        self.0
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_ne_bytes)
    }

    fn u64(&self, at: usize) -> u64 {
        self.0
            .get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_ne_bytes)
    }
}

/// Decodes the header of `file`, of the length `info` gives.
pub(super) fn decode(file: &File, info: &FileInfo) -> io::Result<(Status, Liveness)> {
    let o = FieldOffsets::get();
    let mut buf = vec![0u8; HEADER_LEN];
    let len = read_at(file, &mut buf, 0)?;
    let bytes = Bytes(&buf[..len]);
    let not_shmlane = |reason: &str| {
        (
            Status::NotShmlane {
                reason: reason.to_owned(),
            },
            Liveness::Unknown("not a shmlane segment".to_owned()),
        )
    };
    let magic_bytes = MAGIC.to_ne_bytes();
    if len < magic_bytes.len() {
        if len > 0 && magic_bytes.starts_with(&buf[..len]) {
            return Ok((truncated(len, o.init_state + 4), probe_all(file)));
        }
        return Ok(not_shmlane(if len == 0 {
            "an empty file"
        } else {
            "shorter than shmlane's magic"
        }));
    }
    let magic = bytes.u64(o.magic);
    if magic != MAGIC {
        if magic == MAGIC.swap_bytes() {
            return Ok(incompatible("endianness", "this machine's", "the other"));
        }
        return Ok(not_shmlane(if buf[..len].iter().all(|&b| b == 0) {
            "no shmlane magic (all zero: perhaps a creator that died before writing the header)"
        } else {
            "no shmlane magic"
        }));
    }
    if len < o.init_state + 4 {
        return Ok((truncated(len, o.init_state + 4), probe_all(file)));
    }
    let version = bytes.u32(o.layout_version);
    if version != 0 && version != LAYOUT_VERSION {
        let found = if version > LAYOUT_VERSION {
            format!("{version} (newer)")
        } else {
            format!("{version} (older)")
        };
        return Ok(incompatible(
            "layout_version",
            &LAYOUT_VERSION.to_string(),
            &found,
        ));
    }
    match bytes.u32(o.init_state) {
        0 => {
            let liveness = match in_use_by_others(file) {
                Ok(true) => Liveness::Initializing,
                Ok(false) => Liveness::Stale,
                Err(e) => Liveness::Unknown(format!("lock probe: {e}")),
            };
            return Ok((Status::Initializing, liveness));
        }
        INIT_READY => {}
        other => {
            let corruption = Corruption {
                what: "unknown init state",
                found: other.into(),
                limit: INIT_READY.into(),
            };
            return Ok((Status::Corrupted(corruption), probe_all(file)));
        }
    }
    let identity: [(&'static str, u64, u64); 3] = [
        (
            "pointer_width",
            usize::BITS.into(),
            bytes.u32(o.pointer_width).into(),
        ),
        (
            "endianness",
            ENDIAN_TAG.into(),
            bytes.u32(o.endianness).into(),
        ),
        (
            "header_len",
            HEADER_LEN as u64,
            bytes.u32(o.header_len).into(),
        ),
    ];
    for (field, want, found) in identity {
        if want != found && len >= o.header_len + 4 {
            return Ok(incompatible(field, &want.to_string(), &found.to_string()));
        }
    }
    if len < HEADER_LEN {
        return Ok((truncated(len, HEADER_LEN), probe_all(file)));
    }
    match decode_segment(file, &bytes, &o, info.len) {
        Ok(segment) => {
            let liveness = segment_liveness(file, &segment);
            Ok((Status::Segment(Box::new(segment)), liveness))
        }
        Err(Bad::Corrupted(c)) => Ok((Status::Corrupted(c), probe_all(file))),
        Err(Bad::Truncated { len, need }) => Ok((Status::Truncated { len, need }, probe_all(file))),
        Err(Bad::Io(e)) => Err(e),
    }
}

fn truncated(len: usize, need: usize) -> Status {
    Status::Truncated {
        len: len as u64,
        need: need as u64,
    }
}

fn incompatible(field: &'static str, expected: &str, found: &str) -> (Status, Liveness) {
    (
        Status::Incompatible {
            field,
            expected: expected.to_owned(),
            found: found.to_owned(),
        },
        Liveness::Unknown("a layout this build does not know".to_owned()),
    )
}

/// Liveness from every role byte at once (a damaged header does not say
/// how many rows there are).
fn probe_all(file: &File) -> Liveness {
    match in_use_by_others(file) {
        Ok(true) => Liveness::Live,
        Ok(false) => Liveness::Stale,
        Err(e) => Liveness::Unknown(format!("lock probe: {e}")),
    }
}

fn segment_liveness(file: &File, segment: &Segment) -> Liveness {
    if segment.endpoints.iter().any(|e| e.alive == Some(true)) {
        return Liveness::Live;
    }
    // A creator between its O_EXCL and its role claim, or a semaphore's.
    match creator_lock_held(file) {
        Ok(true) => return Liveness::Live,
        Ok(false) => {}
        Err(e) => return Liveness::Unknown(format!("the creator lock probe failed: {e}")),
    }
    if let Some(failed) = segment.endpoints.iter().find(|e| e.alive.is_none()) {
        return Liveness::Unknown(format!("the lock probe of row {} failed", failed.row));
    }
    if segment.kind == RingKind::Semaphore {
        return Liveness::Unknown(
            "a semaphore whose creator is gone: its users hold no lock, so whether it is in use cannot be told".to_owned(),
        );
    }
    Liveness::Stale
}

enum Bad {
    Corrupted(Corruption),
    Truncated { len: u64, need: u64 },
    Io(io::Error),
}

fn corrupted(what: &'static str, found: u64, limit: u64) -> Bad {
    Bad::Corrupted(Corruption { what, found, limit })
}

/// Decodes and checks a published header of this layout (the checks of
/// `HeaderSnapshot::validate` that need no expected type), then reads the
/// peer rows and probes their locks.
fn decode_segment(
    file: &File,
    b: &Bytes<'_>,
    o: &FieldOffsets,
    file_len: u64,
) -> Result<Segment, Bad> {
    let kind_code = b.u32(o.kind);
    let kind = RingKind::from_code(kind_code)
        .ok_or_else(|| corrupted("unknown ring kind", kind_code.into(), 5))?;
    let raw_capacity = b.u64(o.capacity);
    let capacity = Capacity::new(raw_capacity)
        .ok_or_else(|| corrupted("capacity is not a power of two", raw_capacity, 0))?;
    let participants = b.u32(o.participants);
    let participants_ok = match kind {
        RingKind::Mpmc | RingKind::Shared => (1..=MAX_PARTICIPANTS).contains(&participants),
        _ => participants == 0,
    };
    if !participants_ok {
        return Err(corrupted(
            "participant table size",
            participants.into(),
            MAX_PARTICIPANTS.into(),
        ));
    }
    let slot_size = b.u32(o.slot_size);
    let slot_align = b.u32(o.slot_align);
    if !slot_align.is_power_of_two() || slot_align > 4096 {
        return Err(corrupted("slot alignment", slot_align.into(), 4096));
    }
    let (peers_offset, want_slots) = body_offsets(slot_align, participants);
    let slots_offset = b.u64(o.slots_offset);
    if slots_offset != want_slots {
        return Err(corrupted("slots offset", slots_offset, want_slots));
    }
    let segment_len = b.u64(o.segment_len);
    let least = capacity
        .get()
        .checked_mul(slot_size.into())
        .and_then(|slots| slots.checked_add(slots_offset))
        .ok_or_else(|| corrupted("capacity overflows the segment size", raw_capacity, 0))?;
    if segment_len < least {
        return Err(corrupted("segment length", segment_len, least));
    }
    if segment_len > file_len {
        return Err(Bad::Truncated {
            len: file_len,
            need: segment_len,
        });
    }
    let waiter_code = b.u32(o.waiter);
    let waiter = Waiter::from_code(waiter_code)
        .ok_or_else(|| corrupted("unknown waiter kind", waiter_code.into(), 2))?;
    let (max_frame, overflow) = if kind == RingKind::Bytes {
        let max_frame = b.u64(o.max_frame);
        let limit = max_frame_limit(capacity);
        if max_frame > limit {
            return Err(corrupted(
                "max frame exceeds half the ring",
                max_frame,
                limit,
            ));
        }
        let code = b.u32(o.overflow);
        let overflow = Overflow::from_code(code).ok_or_else(|| {
            corrupted(
                "unknown overflow policy",
                code.into(),
                Overflow::MAX_CODE.into(),
            )
        })?;
        (max_frame, Some(overflow))
    } else {
        (0, None)
    };
    let name_len = (b.u32(o.type_name_len) as usize).min(super::super::header::TYPE_NAME_BYTES);
    let type_name = String::from_utf8_lossy(&b.0[o.type_name..o.type_name + name_len]).into_owned();
    let created = match b.u64(o.created_unix_ns) {
        0 => None,
        ns => UNIX_EPOCH.checked_add(Duration::from_nanos(ns)),
    };
    let (pushes, pops) = (b.u64(o.tail), b.u64(o.head));
    let counters = crate::Stats {
        pushes,
        pops,
        written_bytes: pushes.wrapping_mul(slot_size.into()),
        released_bytes: pops.wrapping_mul(slot_size.into()),
        full_waits: b.u64(o.tail_waits),
        empty_waits: b.u64(o.head_waits),
        full_hits: b.u64(o.tail_hits),
        empty_hits: b.u64(o.head_hits),
        wake_syscalls: b.u64(o.head_wakes).wrapping_add(b.u64(o.tail_wakes)),
        wait_syscalls: b.u64(o.head_sleeps).wrapping_add(b.u64(o.tail_sleeps)),
        drops: b.u64(o.drops),
        skipped: b.u64(o.skipped),
        recovered: b.u64(o.recovered),
    };
    let fill = match kind {
        RingKind::Semaphore | RingKind::Shared => None,
        RingKind::Mpmc => {
            // Hints, moved once every 32 positions (endpoints carry them
            // over the stamps; this header-only view does not): the counts
            // lag by up to 31, and a lagging head can make the difference
            // negative or larger than the ring.
            let diff = counters.pushes.wrapping_sub(counters.pops);
            Some(Ok(if diff > u64::MAX / 2 {
                0
            } else {
                diff.min(capacity.get())
            }))
        }
        _ => Some(capacity.occupied(counters.pops, counters.pushes)),
    };
    let endpoints = if participants == 0 {
        rows(
            file,
            kind,
            &b.0[o.peers..o.peers + HEADER_ROWS * o.row_len],
            o,
            0,
        )
    } else {
        let mut table = vec![0u8; participants as usize * o.row_len];
        let got = read_at(file, &mut table, peers_offset).map_err(Bad::Io)?;
        if got < table.len() {
            return Err(Bad::Truncated {
                len: peers_offset + got as u64,
                need: peers_offset + table.len() as u64,
            });
        }
        rows(file, kind, &table, o, 0)
    };
    Ok(Segment {
        kind,
        persist: b.u32(o.flags) & FLAG_PERSIST != 0,
        layout_version: b.u32(o.layout_version),
        type_name,
        slot_size,
        slot_align,
        capacity: capacity.get(),
        schema_id: b.u64(o.schema_id),
        waiter,
        max_frame,
        overflow,
        participants,
        segment_len,
        created,
        creator_pid: b.u32(o.creator_pid),
        endpoints,
        counters,
        fill,
        semaphore_value: (kind == RingKind::Semaphore).then(|| b.u32(o.semaphore_value)),
    })
}

/// The used rows of a peer table copied into `table`, each with its lock
/// probed.
fn rows(
    file: &File,
    kind: RingKind,
    table: &[u8],
    o: &FieldOffsets,
    first: usize,
) -> Vec<Endpoint> {
    table
        .chunks_exact(o.row_len)
        .enumerate()
        .filter_map(|(i, row)| {
            let row_bytes = Bytes(row);
            let word = row_bytes.u32(o.row_state);
            let pid = row_bytes.u32(o.row_pid);
            let role_code = row_bytes.u32(o.row_role);
            let index = first + i;
            let alive = role_locks_held(file, index, 1).ok();
            if word == 0 && pid == 0 && role_code == 0 && alive == Some(false) {
                return None;
            }
            let state = match word & STATE_BITS {
                ROW_VACANT => RowState::Vacant,
                ROW_ATTACHED => RowState::Attached,
                ROW_DETACHED => RowState::Detached,
                _ => RowState::Invalid(word),
            };
            let role = match (kind, index, role_code) {
                (RingKind::Mpmc, _, 1) => Some("sender"),
                (RingKind::Mpmc, _, 2) => Some("receiver"),
                (RingKind::Mpmc, _, _) => None,
                (RingKind::Semaphore, _, _) => None,
                (RingKind::Shared, _, _) => Some("holder"),
                (_, 0, _) => Some("producer"),
                (_, 1, _) => Some("consumer"),
                _ => None,
            };
            Some(Endpoint {
                row: index,
                role,
                pid,
                state,
                alive,
            })
        })
        .collect()
}
