//! Raw (run-time sized) endpoints: they share named segments with the
//! typed endpoints of a type of the same size and alignment and schema id,
//! and refuse every other segment, or a record of the wrong size.

mod common;

use std::time::Duration;

use bytemuck::{Pod, Zeroable};
use common::{ShmName, Watchdog};
use shmlane::{OpenError, Options, PopError, PushError, RecordError, SlotShape, mpmc, spsc};

/// A 32-byte record aligned to 16: its MPMC cell puts the value at 16,
/// not 8, so a wrong cell layout in the raw endpoints would show.
#[repr(C, align(16))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
struct Quote {
    seq: u64,
    price: u64,
    size: u32,
    flags: u32,
    _pad: u64,
}

const SCHEMA: u64 = 0x5157_4f54;

fn quote(seq: u64) -> Quote {
    Quote {
        seq,
        price: seq * 3,
        size: seq as u32 ^ 0xabcd,
        flags: 7,
        _pad: 0,
    }
}

fn shape() -> SlotShape {
    SlotShape::new(size_of::<Quote>(), align_of::<Quote>()).unwrap()
}

fn opts() -> Options {
    Options::new().capacity(8).schema_id(SCHEMA)
}

#[test]
fn raw_spsc_producer_feeds_a_typed_consumer_and_back() {
    let _dog = Watchdog::new("raw spsc interop", Duration::from_secs(60));
    let name = ShmName::new("raw-spsc");
    let mut tx = spsc::RawProducer::create(name.as_str(), shape(), &opts()).unwrap();
    let mut rx = spsc::Consumer::<Quote>::open(name.as_str(), &opts()).unwrap();
    // More than the capacity, so the positions wrap.
    for seq in 0..100 {
        tx.push(bytemuck::bytes_of(&quote(seq))).unwrap();
        assert_eq!(rx.pop().unwrap(), quote(seq));
    }
    drop((tx, rx));

    let name = ShmName::new("raw-spsc-back");
    let mut tx = spsc::Producer::<Quote>::create(name.as_str(), &opts()).unwrap();
    let mut rx = spsc::RawConsumer::open(name.as_str(), shape(), &opts()).unwrap();
    let mut buf = [0u8; size_of::<Quote>()];
    for seq in 0..100 {
        tx.push(quote(seq)).unwrap();
        rx.recv_timeout(&mut buf, Duration::from_secs(10)).unwrap();
        assert_eq!(bytemuck::pod_read_unaligned::<Quote>(&buf), quote(seq));
    }
    drop(tx);
    assert_eq!(
        rx.recv(&mut buf),
        Err(RecordError::Ring(PopError::Disconnected))
    );
}

#[test]
fn raw_mpmc_endpoints_share_a_ring_with_typed_ones() {
    let _dog = Watchdog::new("raw mpmc interop", Duration::from_secs(60));
    let name = ShmName::new("raw-mpmc");
    let mut raw_tx = mpmc::RawSender::create(name.as_str(), shape(), &opts()).unwrap();
    let mut typed_rx = mpmc::Receiver::<Quote>::open(name.as_str(), &opts()).unwrap();
    let mut typed_tx = mpmc::Sender::<Quote>::open(name.as_str(), &opts()).unwrap();
    let mut raw_rx = mpmc::RawReceiver::open(name.as_str(), shape(), &opts()).unwrap();
    let mut buf = [0u8; size_of::<Quote>()];
    for seq in 0..50 {
        raw_tx.try_send(bytemuck::bytes_of(&quote(seq))).unwrap();
        assert_eq!(typed_rx.try_recv().unwrap(), quote(seq));
        typed_tx.send(quote(seq + 1000)).unwrap();
        raw_rx.try_recv(&mut buf).unwrap();
        assert_eq!(
            bytemuck::pod_read_unaligned::<Quote>(&buf),
            quote(seq + 1000)
        );
    }
}

#[test]
fn another_slot_size_is_incompatible_naming_the_field() {
    let name = ShmName::new("raw-size");
    let _tx = spsc::Producer::<Quote>::create(name.as_str(), &opts()).unwrap();
    let small = SlotShape::new(16, 8).unwrap();
    let err = spsc::RawConsumer::open(name.as_str(), small, &opts())
        .err()
        .expect("a 16-byte consumer of 32-byte slots");
    assert!(
        matches!(&err, OpenError::Incompatible { field, .. } if field.contains("size")),
        "{err}"
    );
    let other_schema = opts().schema_id(SCHEMA + 1);
    let err = spsc::RawConsumer::open(name.as_str(), shape(), &other_schema)
        .err()
        .expect("another schema id");
    assert!(
        matches!(
            &err,
            OpenError::Incompatible {
                field: "schema_id",
                ..
            }
        ),
        "{err}"
    );
    // Without a schema id the Rust type name is compared: a raw endpoint
    // never passes for a typed one by accident.
    let plain = ShmName::new("raw-plain");
    let _typed = spsc::Producer::<Quote>::create(plain.as_str(), &Options::new()).unwrap();
    let err = spsc::RawConsumer::open(plain.as_str(), shape(), &Options::new())
        .err()
        .expect("no schema id");
    assert!(
        matches!(&err, OpenError::Incompatible { field: "type", .. }),
        "{err}"
    );
}

#[test]
fn records_of_the_wrong_size_are_refused() {
    let name = ShmName::new("raw-len");
    let mut tx = spsc::RawProducer::create(name.as_str(), shape(), &opts()).unwrap();
    let mut rx = spsc::RawConsumer::open(name.as_str(), shape(), &opts()).unwrap();
    let wrong_push = RecordError::WrongSize {
        given: 8,
        slot_size: 32,
    };
    assert_eq!(tx.push(&[0u8; 8]), Err(wrong_push));
    let wrong_pop = RecordError::WrongSize {
        given: 8,
        slot_size: 32,
    };
    assert_eq!(rx.pop(&mut [0u8; 8]), Err(wrong_pop));
    assert_eq!(
        rx.pop(&mut [0u8; 32]),
        Err(RecordError::Ring(PopError::Empty))
    );
    for _ in 0..8 {
        tx.push(&[1u8; 32]).unwrap();
    }
    assert_eq!(
        tx.push(&[1u8; 32]),
        Err(RecordError::Ring(PushError::Full(())))
    );
}

#[test]
fn shapes_are_checked() {
    for (size, align) in [(0, 8), (12, 8), (8, 3), (8192, 8192)] {
        let err = SlotShape::new(size, align).expect_err("invalid shape");
        assert!(matches!(err, OpenError::InvalidConfig(_)), "{err}");
    }
}

#[test]
fn raw_pairs_move_records_over_a_memfd() {
    let (mut tx, mut rx) = spsc::raw_pair(shape(), &opts()).unwrap();
    let mut buf = [0u8; size_of::<Quote>()];
    tx.push(bytemuck::bytes_of(&quote(5))).unwrap();
    rx.pop(&mut buf).unwrap();
    assert_eq!(bytemuck::pod_read_unaligned::<Quote>(&buf), quote(5));

    let (mut tx, mut rx) = mpmc::raw_pair(shape(), &opts()).unwrap();
    tx.try_send(bytemuck::bytes_of(&quote(6))).unwrap();
    rx.try_recv(&mut buf).unwrap();
    assert_eq!(bytemuck::pod_read_unaligned::<Quote>(&buf), quote(6));
    drop(tx);
    assert_eq!(
        rx.try_recv(&mut buf),
        Err(RecordError::Ring(PopError::Disconnected))
    );
}
