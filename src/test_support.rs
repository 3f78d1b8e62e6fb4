//! Test and fuzz support, compiled only with the `test-support` feature
//! (the crate's own tests and the `fuzz/` crate turn it on; users never
//! need it, and it is not a stable API).
//!
//! The fuzz target bodies live here so that an ordinary test
//! (`tests/fuzz_corpus.rs`) replays the committed corpus on stable Rust,
//! and the `fuzz/` crate only forwards libFuzzer's input here.

use std::io::Write;
use std::time::Duration;

use nix::sys::memfd::{MFdFlags, memfd_create};

use crate::options::Options;
use crate::ring::RingMemory;
pub use crate::segment::HeaderOffsets;
use crate::segment::peer::{Attachment, Role};

/// The segment layout version this build writes and accepts.
pub const LAYOUT_VERSION: u32 = crate::segment::LAYOUT_VERSION;
use crate::options::Waiter;
use crate::segment::MIN_FRAME_RING_BYTES;
use crate::segment::{Layout, Mapping, RingKind, Strict};
use crate::sync::Ordering;
use crate::{bytes, spsc};

/// Largest segment the `open_header` target builds (keeps runs fast).
const MAX_SEGMENT: usize = 1 << 20;

/// What [`open_header`] got to do with its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenOutcome {
    /// The input could not even be set up (empty, or the memfd failed).
    NotRun,
    /// `open` refused the segment with a typed error.
    Refused,
    /// The segment opened; this many items were popped before the ring was
    /// empty or an error stopped it.
    Opened {
        /// Items popped.
        popped: usize,
    },
}

/// Opens a segment whose bytes are `data` and, if it validates, reads from
/// it. The first byte picks the options: bit 7 clear, an SPSC ring of `u64`
/// of capacity `1 << (b & 15)` (bits 5-6: the read chunk's size); bit 7
/// set, a byte ring of `64 << (b & 15)` bytes; bit 4 = insist on that
/// capacity. The rest is the file. Must never
/// panic, hang or fault, whatever `data` holds.
pub fn open_header(data: &[u8]) -> OpenOutcome {
    let Some((&selector, bytes)) = data.split_first() else {
        return OpenOutcome::NotRun;
    };
    let bytes = &bytes[..bytes.len().min(MAX_SEGMENT)];
    let Ok(fd) = memfd_create(c"shmlane-fuzz", MFdFlags::MFD_CLOEXEC) else {
        return OpenOutcome::NotRun;
    };
    let mut file = std::fs::File::from(fd);
    if file.write_all(bytes).is_err() {
        return OpenOutcome::NotRun;
    }
    let strict = Strict {
        capacity: selector & 0x10 != 0,
        ..Strict::from_options(&Options::new())
    };
    if selector & 0x80 != 0 {
        open_frames(file, selector, strict)
    } else {
        open_slots(file, selector, strict)
    }
}

/// `open_header` for an SPSC ring of `u64`.
fn open_slots(file: std::fs::File, selector: u8, strict: Strict) -> OpenOutcome {
    let capacity = 1usize << (selector & 15);
    let opts = Options::new().capacity(capacity);
    let Ok(expected) =
        Layout::for_slots::<u64>(RingKind::Spsc, capacity, opts.schema_id, Waiter::EventCount)
    else {
        return OpenOutcome::NotRun;
    };
    let Some(ring) = attach_consumer(file, &expected, strict) else {
        return OpenOutcome::Refused;
    };
    let Ok(mut rx) = spsc::Consumer::<u64>::attach(ring, &opts) else {
        return OpenOutcome::Refused;
    };
    let mut popped = 0;
    while popped < 4 && rx.pop().is_ok() {
        popped += 1;
    }
    if let Ok(chunk) = rx.read_chunk(usize::from((selector >> 5) & 3) + 1) {
        let (a, b) = chunk.as_slices();
        let _sum: u64 = a.iter().chain(b).fold(0, |s, v| s.wrapping_add(*v));
        popped += chunk.release_all();
    }
    let _ = rx.len();
    OpenOutcome::Opened { popped }
}

/// `open_header` for a byte ring (selector bit 7).
fn open_frames(file: std::fs::File, selector: u8, strict: Strict) -> OpenOutcome {
    let capacity = MIN_FRAME_RING_BYTES << (selector & 15);
    let opts = Options::new().capacity(capacity);
    let Ok(expected) = bytes::layout(&opts, Waiter::EventCount) else {
        return OpenOutcome::NotRun;
    };
    let Some(ring) = attach_consumer(file, &expected, strict) else {
        return OpenOutcome::Refused;
    };
    let Ok(mut rx) = bytes::Consumer::attach(ring, &opts) else {
        return OpenOutcome::Refused;
    };
    let mut popped = 0;
    let mut buf = Vec::new();
    while popped < 4 && rx.try_recv(&mut buf).is_ok() {
        popped += 1;
    }
    if let Ok(frame) = rx.read() {
        let _sum = frame.iter().fold(0u8, |s, b| s.wrapping_add(*b));
        popped += 1;
    }
    OpenOutcome::Opened { popped }
}

/// Validates `file` as a segment of `expected` and claims its consumer
/// role; `None` if refused.
fn attach_consumer<T: bytemuck::Pod>(
    file: std::fs::File,
    expected: &Layout,
    strict: Strict,
) -> Option<RingMemory<T>> {
    let (mapping, layout) =
        Mapping::attach(file, "(fuzz)", expected, strict, Duration::ZERO).ok()?;
    let attachment = Attachment::claim(Box::new(mapping), Role::Consumer).ok()?;
    Some(RingMemory::new(attachment, &layout, Role::Consumer))
}

/// A little-endian reader over a fuzz input; `None` once it runs out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.byte()?, self.byte()?]))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from(self.u16()?) | u64::from(self.u16()?) << 16 | u64::from(self.u16()?) << 32)
    }
}

/// One step of [`run_bytes_model`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BytesOp {
    /// `send` a frame of this length.
    Send(usize),
    /// `grant(len)`, fill it, `commit(commit)`.
    Grant {
        /// Bytes granted.
        len: usize,
        /// Bytes committed (capped at `len` by the ring).
        commit: usize,
    },
    /// `grant(len)`, fill it, drop it uncommitted.
    Abandon(usize),
    /// `try_recv`.
    Recv,
    /// `read`, compare in place, drop the guard.
    Read,
}

/// The payload of the `seq`th frame: recognisable, so that a lost,
/// duplicated, reordered or torn frame shows.
fn frame_bytes(seq: u64, len: usize) -> impl Iterator<Item = u8> {
    (0..len).map(move |i| (seq.wrapping_mul(31).wrapping_add(i as u64) % 251) as u8)
}

/// Runs `ops` on a heap byte ring of `capacity` bytes and `max_frame`
/// against a `VecDeque<Vec<u8>>` model; panics on the first difference.
/// Shared by the `bytes_ops` fuzz target and the proptest.
pub fn run_bytes_model(capacity: usize, max_frame: usize, ops: &[BytesOp]) {
    use crate::{GrantError, PopError};
    let opts = Options::new().capacity(capacity).max_frame(max_frame);
    let (mut tx, mut rx) = bytes::heap_pair(&opts).expect("a valid byte ring");
    let mut model: std::collections::VecDeque<Vec<u8>> = Default::default();
    let mut seq = 0u64;
    // The consumer read frames since it last found the ring empty: it may
    // not have handed their space back yet, so the producer may see the
    // ring full even when the model is empty.
    let mut unreturned = false;
    let mut buf = Vec::new();
    for &op in ops {
        match op {
            BytesOp::Send(len) | BytesOp::Grant { len, .. } | BytesOp::Abandon(len)
                if len > max_frame =>
            {
                let err = tx.try_send(&vec![0; len]).unwrap_err();
                assert_eq!(
                    err,
                    GrantError::FrameTooLarge {
                        len,
                        max: max_frame
                    }
                );
                assert!(matches!(
                    tx.grant(len),
                    Err(GrantError::FrameTooLarge { .. })
                ));
            }
            BytesOp::Send(len) => {
                let frame: Vec<u8> = frame_bytes(seq, len).collect();
                match tx.try_send(&frame) {
                    Ok(()) => {
                        model.push_back(frame);
                        seq += 1;
                    }
                    Err(GrantError::Full) => assert!(!model.is_empty() || unreturned),
                    Err(e) => panic!("send: {e}"),
                }
            }
            BytesOp::Grant { len, commit } | BytesOp::Abandon(len @ commit) => {
                let abandon = matches!(op, BytesOp::Abandon(_));
                match tx.grant(len) {
                    Ok(mut grant) => {
                        assert_eq!(grant.len(), len);
                        for (dst, src) in grant.iter_mut().zip(frame_bytes(seq, len)) {
                            *dst = src;
                        }
                        // An abandoned grant is simply not committed.
                        if !abandon {
                            let n = grant.commit(commit);
                            assert_eq!(n, commit.min(len));
                            model.push_back(frame_bytes(seq, n).collect());
                            seq += 1;
                        }
                    }
                    Err(GrantError::Full) => assert!(!model.is_empty() || unreturned),
                    Err(e) => panic!("grant: {e}"),
                }
            }
            BytesOp::Recv => match rx.try_recv(&mut buf) {
                Ok(len) => {
                    assert_eq!(len, buf.len());
                    assert_eq!(Some(&buf), model.front(), "try_recv");
                    model.pop_front();
                    unreturned = true;
                }
                Err(PopError::Empty) => {
                    assert!(model.is_empty(), "Empty with frames in the model");
                    unreturned = false;
                }
                Err(e) => panic!("try_recv: {e}"),
            },
            BytesOp::Read => match rx.read() {
                Ok(frame) => {
                    assert_eq!(Some(&*frame), model.front().map(Vec::as_slice), "read");
                    model.pop_front();
                    unreturned = true;
                }
                Err(PopError::Empty) => {
                    assert!(model.is_empty(), "Empty with frames in the model");
                    unreturned = false;
                }
                Err(e) => panic!("read: {e}"),
            },
        }
    }
    // Everything committed is still there, in order.
    while let Some(expected) = model.pop_front() {
        rx.try_recv(&mut buf).expect("a committed frame");
        assert_eq!(buf, expected);
    }
    assert_eq!(rx.try_recv(&mut buf), Err(PopError::Empty));
}

/// The `bytes_ops` target: the first byte picks the capacity (`64 << (b %
/// 8)` bytes), the second the max frame (a fraction of the largest), then
/// each op takes a tag byte and two little-endian u16 sizes.
pub fn bytes_ops(data: &[u8]) {
    let mut input = Input(data);
    let (Some(cap), Some(frac)) = (input.byte(), input.byte()) else {
        return;
    };
    let capacity = MIN_FRAME_RING_BYTES << (cap % 8);
    let limit = capacity / 2 - 8;
    let max_frame = limit * (usize::from(frac) + 1) / 256;
    let mut ops = Vec::new();
    while let (Some(tag), Some(a), Some(b)) = (input.byte(), input.u16(), input.u16()) {
        // Sizes up to a little past the max frame, so refusals happen too.
        let size = |v: u16| usize::from(v) % (max_frame + 9);
        ops.push(match tag % 5 {
            0 => BytesOp::Send(size(a)),
            1 => BytesOp::Grant {
                len: size(a),
                commit: size(b),
            },
            2 => BytesOp::Abandon(size(a)),
            3 => BytesOp::Recv,
            _ => BytesOp::Read,
        });
    }
    run_bytes_model(capacity, max_frame, &ops);
}

/// Remembers an endpoint's first corruption and checks that every later
/// call reports the same one (the poisoning promise).
#[derive(Debug, Default)]
struct PoisonCheck(Option<crate::Corruption>);

impl PoisonCheck {
    fn saw(&mut self, corruption: Option<crate::Corruption>) {
        match (self.0, corruption) {
            (None, found) => self.0 = found,
            (Some(first), Some(found)) => assert_eq!(first, found, "poison changed"),
            (Some(first), None) => panic!("a poisoned endpoint carried on after {first}"),
        }
    }
}

/// The `hostile_peer` target: an honest endpoint of each ring kind facing a
/// peer that rewrites indices, frame headers and payload between calls. The
/// first byte picks the ring kind (modulo 3: SPSC of u64, bytes, MPMC of
/// u64) and the capacity; the rest are ops. Nothing may panic, hang or fault; a
/// corruption poisons the endpoint for good; frames never exceed the max.
pub fn hostile_peer(data: &[u8]) {
    let mut input = Input(data);
    let Some(selector) = input.byte() else {
        return;
    };
    match selector % 3 {
        0 => hostile_spsc(selector, input),
        1 => hostile_bytes(selector, input),
        _ => hostile_mpmc(selector, input),
    }
}

/// The corruption a receive reported, if that is what it reported.
fn corrupted<T>(result: Result<T, crate::PopError>) -> Option<crate::Corruption> {
    match result {
        Err(crate::PopError::Corrupted(c)) => Some(*c),
        _ => None,
    }
}

/// Stores `value` into the word of `cell` as a hostile peer would.
fn forge(cell: &crate::sync::UnsafeCell<u64>, value: u64) {
    cell.with_mut(|word| {
        // SAFETY: one thread, heap storage: nothing else accesses the slot
        // now; this stands for a peer process writing it.
        unsafe { word.write(value) }
    });
}

/// A hostile write into `ring`: 0, its tail; 1, its head (each near its
/// value, or arbitrary, see [`near`]); 2, any word of its slots. `None`
/// once the input runs out.
fn forge_ring(what: u8, ring: &RingMemory<u64>, input: &mut Input<'_>) -> Option<()> {
    match what {
        0 | 1 => {
            let index = if what == 0 { ring.tail() } else { ring.head() };
            let value = near(index.load(Ordering::Relaxed), input)?;
            index.store(value, Ordering::Release);
        }
        _ => forge(ring.slot(u64::from(input.byte()?)), input.u64()?),
    }
    Some(())
}

/// A position near `base` (so that forged indices often pass the distance
/// check and reach the deeper ones), or an arbitrary value.
fn near(base: u64, input: &mut Input<'_>) -> Option<u64> {
    let raw = input.u64()?;
    Some(if raw & 1 == 0 {
        base.wrapping_add((raw >> 1) % 64).wrapping_sub(8)
    } else {
        raw
    })
}

fn hostile_spsc(selector: u8, mut input: Input<'_>) {
    let capacity = 1usize << ((selector >> 1) % 7);
    let Ok((mut tx, mut rx)) = spsc::heap_pair::<u64>(&Options::new().capacity(capacity)) else {
        return;
    };
    let (mut producer, mut consumer) = (PoisonCheck::default(), PoisonCheck::default());
    let mut next = 0u64;
    while let Some(tag) = input.byte() {
        let op = tag % 9;
        match op {
            0 => {
                let result = tx.push(next);
                next += 1;
                producer.saw(match result {
                    Err(crate::PushError::Corrupted(refused)) => Some(refused.corruption),
                    _ => None,
                });
            }
            1 => consumer.saw(corrupted(rx.pop())),
            2 => {
                let Some(n) = input.byte() else { break };
                let result = rx.read_chunk(usize::from(n % 9)).map(|chunk| {
                    let (a, b) = chunk.as_slices();
                    let sum = a.iter().chain(b).fold(0u64, |s, v| s.wrapping_add(*v));
                    let len = chunk.len();
                    chunk.release(usize::from(n >> 4));
                    sum.wrapping_add(len as u64)
                });
                consumer.saw(corrupted(result));
            }
            3..=5 => {
                if forge_ring(op - 3, tx.memory(), &mut input).is_none() {
                    break;
                }
            }
            _ => {
                consumer.saw(corrupted(rx.recv_timeout(Duration::ZERO)));
            }
        }
        let _ = (rx.len(), tx.len());
    }
}

fn hostile_bytes(selector: u8, mut input: Input<'_>) {
    use crate::{GrantError, PopError};
    let capacity = MIN_FRAME_RING_BYTES << ((selector >> 1) % 6);
    let Ok((mut tx, mut rx)) = bytes::heap_pair(&Options::new().capacity(capacity)) else {
        return;
    };
    let max_frame = rx.max_frame();
    let (mut producer, mut consumer) = (PoisonCheck::default(), PoisonCheck::default());
    let mut buf = Vec::new();
    let recv_corruption = |r: Result<usize, PopError>| {
        if let Ok(len) = r {
            assert!(len <= max_frame, "a frame longer than the max frame");
        }
        corrupted(r)
    };
    let grant_corruption = |r: Result<(), GrantError>| match r {
        Err(GrantError::Corrupted(c)) => Some(c),
        _ => None,
    };
    while let Some(tag) = input.byte() {
        let op = tag % 8;
        match op {
            0 => {
                let Some(len) = input.u16() else { break };
                let len = usize::from(len) % (max_frame + 1);
                producer.saw(grant_corruption(tx.try_send(&vec![0x5a; len])));
            }
            1 => consumer.saw(recv_corruption(rx.try_recv(&mut buf))),
            2 => {
                let result = rx.read().map(|frame| {
                    let _sum = frame.iter().fold(0u8, |s, b| s.wrapping_add(*b));
                    frame.len()
                });
                consumer.saw(recv_corruption(result));
            }
            3..=5 => {
                if forge_ring(op - 3, tx.memory(), &mut input).is_none() {
                    break;
                }
            }
            6 => {
                // A frame header: a plausible length and flags.
                let (Some(slot), Some(len), Some(flags)) =
                    (input.byte(), input.u16(), input.byte())
                else {
                    break;
                };
                let word = u64::from(len) | u64::from(flags % 4) << 32;
                forge(tx.memory().slot(u64::from(slot)), word);
            }
            _ => {
                consumer.saw(recv_corruption(rx.recv_timeout(&mut buf, Duration::ZERO)));
            }
        }
    }
}

fn hostile_mpmc(selector: u8, mut input: Input<'_>) {
    use crate::{PushError, ReserveError, mpmc};
    let capacity = 1usize << ((selector >> 2) % 5);
    let opts = Options::new().capacity(capacity).participants(4);
    let Ok((mut tx, mut rx)) = mpmc::heap_pair::<u64>(&opts) else {
        return;
    };
    let (mut sender, mut receiver) = (PoisonCheck::default(), PoisonCheck::default());
    let mut next = 0u64;
    while let Some(tag) = input.byte() {
        let op = tag % 9;
        match op {
            0 => {
                let result = tx.try_send(next);
                next += 1;
                sender.saw(match result {
                    Err(PushError::Corrupted(refused)) => Some(refused.corruption),
                    _ => None,
                });
            }
            1 => receiver.saw(corrupted(rx.try_recv())),
            2 => {
                // A reservation, committed or dropped (passed over).
                let Some(commit) = input.byte() else { break };
                let result = tx.reserve().map(|mut slot| {
                    slot.write(next);
                    if commit & 1 == 1 {
                        slot.commit();
                    }
                });
                next += 1;
                sender.saw(match result {
                    Err(ReserveError::Corrupted(c)) => Some(c),
                    _ => None,
                });
            }
            3 | 4 => {
                // The head or tail hint: near its value, or arbitrary.
                let ring = tx.memory();
                let index = if op == 3 { ring.tail() } else { ring.head() };
                let Some(v) = near(index.load(Ordering::Relaxed), &mut input) else {
                    break;
                };
                index.store(v, Ordering::Release);
            }
            5 => {
                // A stamp: arbitrary, or a flip of a few bits of the real one.
                let (Some(slot), Some(v)) = (input.byte(), input.u64()) else {
                    break;
                };
                let cell = tx.memory().slot(u64::from(slot));
                let stamp = if v & 1 == 0 {
                    cell.stamp() ^ (v >> 1)
                } else {
                    v
                };
                cell.forge_stamp(stamp);
            }
            6 => {
                // A participant row: its state word (generation and
                // state), its role, or its sleeper mark.
                let (Some(which), Some(v)) = (input.byte(), input.u64()) else {
                    break;
                };
                let storage = tx.memory().attachment().storage();
                let row = usize::from(which >> 2) % storage.peer_rows().len();
                let v = v as u32;
                match which & 3 {
                    0 => storage.peer_rows()[row].state.store(v, Ordering::Release),
                    1 => storage.peer_rows()[row].role.store(v, Ordering::Relaxed),
                    _ => storage.sleeper_marks()[row].store(v, Ordering::Relaxed),
                }
                // A liveness check reads them all (and takes marks).
                tx.check_peers();
                rx.check_peers();
            }
            7 => {
                // A wake word (sleeper count, HEAVY, epoch), then a wait
                // that announces itself on it.
                let (Some(which), Some(v)) = (input.byte(), input.u64()) else {
                    break;
                };
                let wake = &tx.memory().header().ring.wake;
                let word = if which & 1 == 0 {
                    &wake.not_empty.event
                } else {
                    &wake.not_full.event
                };
                word.store(v as u32, Ordering::Relaxed);
                receiver.saw(corrupted(rx.recv_timeout(Duration::from_millis(1))));
            }
            _ => receiver.saw(corrupted(rx.recv_timeout(Duration::ZERO))),
        }
    }
}

pub use crate::wait::WaitTally;

/// This process's waiting-loop tallies (futex waits woken or timed out,
/// waits the liveness tick rescued): tests of wake delivery compare them.
pub fn wait_tally() -> WaitTally {
    crate::wait::tally()
}

/// Whether this process's async waiter thread sleeps without
/// `futex_waitv` (set `SHMLANE_NO_FUTEX_WAITV=1` before it starts to take
/// that path): `None` before the thread started.
#[cfg(all(feature = "tokio", not(shmlane_loom)))]
pub fn async_waiter_without_futex_waitv() -> Option<bool> {
    crate::aio::reactor::waits_without_futex_waitv()
}

/// `zenoh://` receivers opened from now on in this process follow their
/// senders by the senders' introductions and end markers only, not by
/// liveliness tokens (which then cannot hide a missing introduction; a
/// crashed sender is then not seen).
#[cfg(feature = "zenoh")]
pub fn zenoh_receivers_ignore_tokens() {
    crate::transport::zenoh::IGNORE_TOKENS.set(1);
}
