//! The MPMC ring's refusals, against real shared-memory segments written
//! from a second mapping as a broken or hostile peer would: impossible
//! stamps and owners are `Corrupted` and poison the endpoint, never a
//! panic, hang or out-of-bounds access.
#![cfg(not(any(miri, shmlane_loom)))]

mod common;

use common::{ShmName, incompatible_field, raw_mapping};
use memmap2::MmapMut;
use shmlane::test_support::HeaderOffsets;
use shmlane::{OpenError, Options, PopError, PushError, ReserveError, mpmc, spsc};

const CAPACITY: usize = 16;
/// Bytes per slot of a `u64` ring: the stamp, then the item.
const STRIDE: usize = 16;
// Stamp fields (see ring/mpmc/stamp.rs).
const WRITING: u64 = 1;
const FULL: u64 = 2;
const ROW_SHIFT: u32 = 3;
const LAP_SHIFT: u32 = 18;

fn opts() -> Options {
    Options::new().capacity(CAPACITY).participants(4)
}

/// Writes the stamp of `slot` (slots end the segment).
fn put_stamp(map: &mut MmapMut, slot: usize, stamp: u64) {
    let offset = map.len() - (CAPACITY - slot) * STRIDE;
    map[offset..offset + 8].copy_from_slice(&stamp.to_ne_bytes());
}

#[test]
fn another_kind_type_or_limit_is_incompatible() {
    let name = ShmName::new("mpmc-kind");
    let _tx = mpmc::Sender::<u64>::create(name.as_str(), &opts()).unwrap();
    let err = spsc::Consumer::<u64>::open(name.as_str(), &Options::new()).unwrap_err();
    assert_eq!(incompatible_field(err), "ring kind");
    let err = mpmc::Receiver::<i64>::open(name.as_str(), &Options::new()).unwrap_err();
    assert_eq!(incompatible_field(err), "type");
    let err =
        mpmc::Receiver::<u64>::open(name.as_str(), &Options::new().participants(5)).unwrap_err();
    assert_eq!(incompatible_field(err), "participants");
    let rx = mpmc::Receiver::<u64>::open(name.as_str(), &Options::new()).unwrap();
    assert_eq!(
        rx.capacity(),
        CAPACITY,
        "none given: the segment's is adopted"
    );
    let other = ShmName::new("mpmc-kind-spsc");
    let _p = spsc::Producer::<u64>::create(other.as_str(), &Options::new()).unwrap();
    let err = mpmc::Sender::<u64>::open(other.as_str(), &Options::new()).unwrap_err();
    assert_eq!(incompatible_field(err), "ring kind");
}

#[test]
fn a_bad_participant_count_in_the_header_is_corrupted() {
    let name = ShmName::new("mpmc-rows");
    let _tx = mpmc::Sender::<u64>::create(name.as_str(), &opts()).unwrap();
    let offset = HeaderOffsets::get().participants;
    for rows in [0u32, 129, u32::MAX] {
        raw_mapping(&name)[offset..offset + 4].copy_from_slice(&rows.to_ne_bytes());
        let err = mpmc::Receiver::<u64>::open(name.as_str(), &Options::new()).unwrap_err();
        assert!(
            matches!(err, OpenError::Corrupted { corruption, .. } if corruption.found == u64::from(rows)),
            "{rows}: {err}"
        );
    }
}

#[test]
fn a_stamp_with_an_unknown_state_is_corrupted_and_poisons_the_receiver() {
    let name = ShmName::new("mpmc-state");
    let mut tx = mpmc::Sender::<u64>::create(name.as_str(), &opts()).unwrap();
    let mut rx = mpmc::Receiver::<u64>::open(name.as_str(), &opts()).unwrap();
    tx.try_send(1).unwrap();
    put_stamp(&mut raw_mapping(&name), 0, 7);
    let Err(PopError::Corrupted(first)) = rx.try_recv() else {
        panic!("not corrupted")
    };
    assert_eq!(first.found, 7);
    // Honest again: the receiver stays poisoned, with the same error.
    put_stamp(&mut raw_mapping(&name), 0, FULL);
    assert_eq!(rx.try_recv(), Err(PopError::Corrupted(first.clone())));
    assert_eq!(rx.recv(), Err(PopError::Corrupted(first)));
    // A new receiver is not poisoned and gets the item.
    drop(rx);
    let mut rx = mpmc::Receiver::<u64>::open(name.as_str(), &opts()).unwrap();
    assert_eq!(rx.try_recv(), Ok(1));
}

#[test]
fn an_owner_outside_the_participant_table_is_corrupted() {
    let name = ShmName::new("mpmc-owner");
    let mut tx = mpmc::Sender::<u64>::create(name.as_str(), &opts()).unwrap();
    let mut rx = mpmc::Receiver::<u64>::open(name.as_str(), &opts()).unwrap();
    put_stamp(&mut raw_mapping(&name), 0, 100 << ROW_SHIFT | WRITING);
    let err = rx.try_recv().unwrap_err();
    assert!(
        matches!(&err, PopError::Corrupted(c) if c.found == 100 && c.limit == 4),
        "{err}"
    );
    let err = tx.try_send(5).unwrap_err();
    assert!(
        matches!(&err, PushError::Corrupted(r) if r.value == 5 && r.corruption.found == 100),
        "{err:?}"
    );
    assert!(matches!(tx.reserve(), Err(ReserveError::Corrupted(_))));
    assert!(matches!(
        tx.send(6),
        Err(PushError::Corrupted(r)) if r.value == 6 && r.corruption.found == 100
    ));
}

#[test]
fn a_stamp_that_does_not_fit_its_position_is_corrupted() {
    let name = ShmName::new("mpmc-lap");
    let mut tx = mpmc::Sender::<u64>::create(name.as_str(), &opts()).unwrap();
    let mut rx = mpmc::Receiver::<u64>::open(name.as_str(), &opts()).unwrap();
    for v in 0..CAPACITY as u64 {
        tx.try_send(v).unwrap();
        assert_eq!(rx.try_recv(), Ok(v));
    }
    // Both are at position 16 (lap 1): slot 0 two laps back, or "unclaimed
    // a lap back", cannot be.
    let mut map = raw_mapping(&name);
    put_stamp(&mut map, 0, ((1 << LAP_SHIFT) * ((1 << 46) - 1)) | FULL);
    assert!(matches!(tx.try_send(1), Err(PushError::Corrupted(r)) if r.value == 1));
    assert!(matches!(rx.try_recv(), Err(PopError::Corrupted(_))));
}

#[test]
fn hints_further_apart_than_the_capacity_are_corrupted_at_open() {
    let name = ShmName::new("mpmc-hints");
    let _tx = mpmc::Sender::<u64>::create(name.as_str(), &opts()).unwrap();
    let offsets = HeaderOffsets::get();
    let mut map = raw_mapping(&name);
    map[offsets.tail..offsets.tail + 8].copy_from_slice(&1000u64.to_ne_bytes());
    let err = mpmc::Receiver::<u64>::open(name.as_str(), &opts()).unwrap_err();
    assert!(matches!(err, OpenError::Corrupted { .. }), "{err}");
}

/// Found by `shmlane torture`: a participant killed between its release
/// and its move of the hint leaves the head hint behind, so a full ring's
/// hints can be more than the capacity apart. Opening it is not corrupted.
#[test]
fn hints_a_dead_participant_left_behind_are_not_corrupted() {
    let name = ShmName::new("mpmc-hints-lag");
    let mut tx = mpmc::Sender::<u64>::create(name.as_str(), &opts()).unwrap();
    for i in 0..CAPACITY as u64 {
        tx.try_send(i).unwrap();
    }
    let offsets = HeaderOffsets::get();
    let mut map = raw_mapping(&name);
    // The ring is full (tail 16) and the head hint says 0: one behind as
    // if the last receiver had died before its hint moved from -1.
    map[offsets.tail..offsets.tail + 8].copy_from_slice(&(CAPACITY as u64 + 1).to_ne_bytes());
    let mut rx = mpmc::Receiver::<u64>::open(name.as_str(), &opts()).expect("a lagging hint");
    assert_eq!(rx.try_recv(), Ok(0));
}

/// Found by `shmlane torture`: a receiver that reuses the row of a sender
/// that has gone takes the table's last trace of it; the other receivers
/// must still end with `Disconnected`, not wait for a sender for ever.
#[test]
fn receivers_see_the_senders_gone_after_a_receiver_reuses_a_senders_row() {
    let name = ShmName::new("mpmc-row-reuse");
    let two = Options::new().capacity(CAPACITY).participants(2);
    let mut tx = mpmc::Sender::<u64>::create(name.as_str(), &two).unwrap();
    let mut rx = mpmc::Receiver::<u64>::open(name.as_str(), &two).unwrap();
    tx.try_send(7).unwrap();
    drop(tx);
    // The only free row is the sender's.
    let _late = mpmc::Receiver::<u64>::open(name.as_str(), &two).expect("the sender's row");
    assert_eq!(rx.try_recv(), Ok(7));
    assert_eq!(
        rx.recv_timeout(std::time::Duration::from_secs(5)),
        Err(PopError::Disconnected)
    );
}

#[test]
fn a_hint_far_ahead_is_caught_by_the_stamps() {
    let name = ShmName::new("mpmc-hint-ahead");
    let mut tx = mpmc::Sender::<u64>::create(name.as_str(), &opts()).unwrap();
    let offsets = HeaderOffsets::get();
    // Slot 0 claimed by row 1 (live? no: nobody holds row 1), tail hint
    // pointing 5 laps ahead: the sender follows the hint, finds a slot
    // two laps behind it, and refuses.
    let mut map = raw_mapping(&name);
    put_stamp(&mut map, 0, 1 << ROW_SHIFT | WRITING);
    map[offsets.tail..offsets.tail + 8].copy_from_slice(&(5 * CAPACITY as u64).to_ne_bytes());
    let err = tx.try_send(3).unwrap_err();
    assert!(
        matches!(&err, PushError::Corrupted(r) if r.value == 3),
        "{err:?}"
    );
}

/// Issue 14, defect 8: the end of an anonymous pair dropped before its
/// first use, in the process that made the pair (and has not forked since),
/// detaches like any clean drop: a receiver that only polls sees
/// `Disconnected`, not `Empty` for ever. (This test binary never forks.)
#[test]
fn a_pair_end_dropped_unused_detaches() {
    let (tx, mut rx) = mpmc::pair::<u64>(&opts()).unwrap();
    drop(tx);
    assert_eq!(rx.try_recv(), Err(PopError::Disconnected));
    let (mut tx, rx) = mpmc::pair::<u64>(&opts()).unwrap();
    drop(rx);
    for v in 0..CAPACITY as u64 {
        tx.try_send(v).unwrap();
    }
    assert!(matches!(tx.try_send(99), Err(PushError::Disconnected(99))));
}
