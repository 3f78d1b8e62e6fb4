//! Every bad input of the byte ring gets its typed error, against real
//! shared-memory segments corrupted from a second mapping, as a hostile or
//! broken peer would write them; each corruption poisons the endpoint.
#![cfg(not(any(miri, shmlane_loom)))]

mod common;

use common::{ShmName, incompatible_field, put_u32, put_u64, raw_mapping};
use memmap2::MmapMut;
use shmlane::bytes::{self, Overflow};
use shmlane::test_support::HeaderOffsets;
use shmlane::{Corruption, GrantError, OpenError, Options, PopError, spsc};

/// 16 words (128 bytes): max frame 56.
fn small() -> Options {
    Options::new().capacity(128)
}

/// The header word of a frame (length low, flags high: 1 data, 2 padding).
fn frame(len: u64, flags: u64) -> u64 {
    len | flags << 32
}

fn put_word(map: &mut MmapMut, slot: usize, value: u64) {
    put_u64(map, HeaderOffsets::get().slots + 8 * slot, value);
}

fn put_tail(map: &mut MmapMut, tail: u64) {
    put_u64(map, HeaderOffsets::get().tail, tail);
}

fn recv(rx: &mut bytes::Consumer) -> Result<Vec<u8>, PopError> {
    let mut buf = Vec::new();
    rx.try_recv(&mut buf).map(|_| buf)
}

/// The corruption `rx` reports, after checking that it sticks (the same
/// error on every later call, even once the bytes are put right).
fn sticky_corruption(rx: &mut bytes::Consumer, map: &mut MmapMut, repair: u64) -> Corruption {
    let first = match recv(rx) {
        Err(PopError::Corrupted(c)) => *c,
        other => panic!("expected Corrupted, got {other:?}"),
    };
    put_word(map, 0, frame(0, 1));
    put_tail(map, repair);
    assert_eq!(recv(rx), Err(PopError::Corrupted(Box::new(first))));
    assert!(matches!(rx.read(), Err(PopError::Corrupted(c)) if *c == first));
    assert!(matches!(rx.read_blocking(), Err(PopError::Corrupted(c)) if *c == first));
    first
}

/// A fresh ring whose producer moved both ends to slot `at` with honest
/// frames, and a second mapping of it.
fn ring_at(test: &str, at: usize) -> (ShmName, bytes::Producer, bytes::Consumer, MmapMut) {
    let name = ShmName::new(test);
    let mut tx = bytes::Producer::create(name.as_str(), &small()).unwrap();
    let mut rx = bytes::Consumer::open(name.as_str(), &small()).unwrap();
    let mut moved = 0;
    while moved < at {
        let words = (at - moved).min(6);
        tx.try_send(&vec![1; (words - 1) * 8]).unwrap();
        recv(&mut rx).unwrap();
        moved += words;
    }
    let map = raw_mapping(&name);
    (name, tx, rx, map)
}

#[test]
fn a_frame_longer_than_the_max_frame_is_corruption() {
    let (_name, _tx, mut rx, mut map) = ring_at("long", 0);
    put_word(&mut map, 0, frame(57, 1));
    put_tail(&mut map, 9);
    let c = sticky_corruption(&mut rx, &mut map, 1);
    assert_eq!(
        (c.what, c.found, c.limit),
        ("frame longer than the max frame", 57, 56)
    );
}

#[test]
fn a_frame_past_the_end_of_the_ring_is_corruption() {
    let (_name, _tx, mut rx, mut map) = ring_at("past-end", 12);
    put_word(&mut map, 12, frame(40, 1)); // 6 words, 4 left
    put_tail(&mut map, 18);
    let c = sticky_corruption(&mut rx, &mut map, 13);
    assert_eq!(c.what, "frame runs past the end of the ring");
}

#[test]
fn a_frame_past_the_published_tail_is_corruption() {
    let (_name, _tx, mut rx, mut map) = ring_at("past-tail", 0);
    put_word(&mut map, 0, frame(16, 1)); // 3 words, 1 published
    put_tail(&mut map, 1);
    let c = sticky_corruption(&mut rx, &mut map, 1);
    assert_eq!(c.what, "frame runs past the published tail");
}

#[test]
fn unknown_frame_flags_are_corruption() {
    let (_name, _tx, mut rx, mut map) = ring_at("flags", 0);
    put_word(&mut map, 0, frame(8, 0x40));
    put_tail(&mut map, 2);
    let c = sticky_corruption(&mut rx, &mut map, 1);
    assert_eq!((c.what, c.found), ("unknown frame flags", 0x40));
}

#[test]
fn padding_that_does_not_end_the_ring_is_corruption() {
    let (_name, _tx, mut rx, mut map) = ring_at("pad-len", 12);
    put_word(&mut map, 12, frame(8, 2)); // 4 words to the end: 24 bytes
    put_tail(&mut map, 16);
    let c = sticky_corruption(&mut rx, &mut map, 13);
    assert_eq!(
        (c.what, c.found, c.limit),
        ("padding frame does not end the ring", 8, 24)
    );
}

#[test]
fn padding_past_the_published_tail_is_corruption() {
    let (_name, _tx, mut rx, mut map) = ring_at("pad-tail", 12);
    put_word(&mut map, 12, frame(24, 2));
    put_tail(&mut map, 14);
    let c = sticky_corruption(&mut rx, &mut map, 13);
    assert_eq!(c.what, "padding runs past the published tail");
}

#[test]
fn a_tail_further_than_the_capacity_is_corruption() {
    let (_name, _tx, mut rx, mut map) = ring_at("far-tail", 0);
    put_tail(&mut map, 17);
    let c = sticky_corruption(&mut rx, &mut map, 1);
    assert_eq!(
        (c.what, c.found, c.limit),
        ("tail - head exceeds the capacity", 17, 16)
    );
}

#[test]
fn a_head_past_the_tail_poisons_the_producer() {
    let (_name, mut tx, _rx, mut map) = ring_at("head", 0);
    put_u64(&mut map, HeaderOffsets::get().head, 1000);
    // Fill the producer's cached room so that it re-reads `head`.
    let first = loop {
        match tx.try_send(&[0; 40]) {
            Ok(()) => {}
            Err(GrantError::Corrupted(c)) => break c,
            Err(e) => panic!("expected Corrupted, got {e}"),
        }
    };
    put_u64(&mut map, HeaderOffsets::get().head, 0);
    assert_eq!(tx.try_send(b"x"), Err(GrantError::Corrupted(first)));
    assert!(matches!(tx.grant_blocking(1), Err(GrantError::Corrupted(c)) if c == first));
}

#[test]
fn a_corrupted_frame_limit_or_policy_is_refused_at_open() {
    let name = ShmName::new("limits");
    let _tx = bytes::Producer::create(name.as_str(), &small()).unwrap();
    let offsets = HeaderOffsets::get();
    put_u64(&mut raw_mapping(&name), offsets.max_frame, 65);
    let err = bytes::Consumer::open(name.as_str(), &Options::new()).unwrap_err();
    assert!(
        matches!(err, OpenError::Corrupted { ref corruption, .. } if corruption.found == 65),
        "{err}"
    );
    put_u64(&mut raw_mapping(&name), offsets.max_frame, 56);
    put_u32(&mut raw_mapping(&name), offsets.overflow, 9);
    let err = bytes::Consumer::open(name.as_str(), &Options::new()).unwrap_err();
    assert!(
        matches!(err, OpenError::Corrupted { ref corruption, .. } if corruption.found == 9),
        "{err}"
    );
}

#[test]
fn another_kind_max_frame_or_policy_is_incompatible() {
    let name = ShmName::new("incompatible");
    let opts = small().max_frame(32).overflow(Overflow::DropNewest);
    let _tx = bytes::Producer::create(name.as_str(), &opts).unwrap();
    let err = spsc::Consumer::<u64>::open(name.as_str(), &Options::new()).unwrap_err();
    assert_eq!(incompatible_field(err), "ring kind");
    let err = bytes::Consumer::open(name.as_str(), &Options::new().max_frame(16)).unwrap_err();
    assert_eq!(incompatible_field(err), "max_frame");
    let err =
        bytes::Consumer::open(name.as_str(), &Options::new().overflow(Overflow::Fail)).unwrap_err();
    assert_eq!(incompatible_field(err), "overflow");
    // Nothing set: the segment's limits are adopted.
    let rx = bytes::Consumer::open(name.as_str(), &Options::new()).unwrap();
    assert_eq!((rx.max_frame(), rx.capacity()), (32, 128));

    let name = ShmName::new("typed");
    let _tx = spsc::Producer::<u64>::create(name.as_str(), &Options::new()).unwrap();
    let err = bytes::Consumer::open(name.as_str(), &Options::new()).unwrap_err();
    assert_eq!(incompatible_field(err), "ring kind");
}

#[test]
fn a_ring_too_large_for_memory_is_no_space_at_create() {
    let name = ShmName::new("huge");
    let err =
        bytes::Producer::create(name.as_str(), &Options::new().capacity(1 << 50)).unwrap_err();
    assert!(matches!(err, OpenError::NoSpace { .. }), "{err}");
}

#[test]
fn a_second_producer_is_refused() {
    let name = ShmName::new("second");
    let _tx = bytes::Producer::create(name.as_str(), &small()).unwrap();
    let err = bytes::Producer::open(name.as_str(), &small()).unwrap_err();
    assert!(matches!(err, OpenError::RoleTaken { .. }), "{err}");
}
