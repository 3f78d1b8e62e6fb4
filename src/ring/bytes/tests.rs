use std::time::Duration;

use super::frame::{FRAME_DATA, FRAME_PADDING, frame_word};
use super::*;
use crate::error::{Corruption, GrantError, PopError};
use crate::sync::Ordering;

fn ring(capacity: usize) -> (Producer, Consumer) {
    heap_pair(&Options::new().capacity(capacity)).expect("heap pair")
}

fn recv(rx: &mut Consumer) -> Result<Vec<u8>, PopError> {
    let mut buf = Vec::new();
    rx.try_recv(&mut buf).map(|_| buf)
}

#[test]
fn frames_keep_their_boundaries_and_order() {
    let (mut tx, mut rx) = ring(256);
    assert_eq!(recv(&mut rx), Err(PopError::Empty));
    tx.try_send(b"").unwrap();
    tx.try_send(b"a").unwrap();
    tx.try_send(&[7u8; 13]).unwrap();
    assert_eq!(recv(&mut rx).unwrap(), b"");
    assert_eq!(recv(&mut rx).unwrap(), b"a");
    assert_eq!(&*rx.read().unwrap(), &[7u8; 13]);
    assert_eq!(recv(&mut rx), Err(PopError::Empty));
}

#[test]
fn a_frame_that_does_not_fit_before_the_end_starts_at_zero() {
    // 16 words; max frame (8 - 1) * 8 = 56 bytes.
    let (mut tx, mut rx) = ring(128);
    assert_eq!(tx.max_frame(), 56);
    tx.try_send(&[1u8; 40]).unwrap(); // 6 words at 0..6
    tx.try_send(&[2u8; 40]).unwrap(); // 6 words at 6..12
    assert_eq!(recv(&mut rx).unwrap(), [1u8; 40]);
    assert_eq!(recv(&mut rx).unwrap(), [2u8; 40]);
    // 4 words left at the end: a 6-word frame pads them and wraps.
    tx.try_send(&[3u8; 40]).unwrap();
    assert_eq!(tx.tail, 12 + 4 + 6);
    assert_eq!(recv(&mut rx).unwrap(), [3u8; 40]);
    assert_eq!(rx.head, tx.tail);
}

#[test]
fn oversized_frames_are_refused_never_a_hang() {
    let (mut tx, _rx) = ring(128);
    let err = tx.try_send(&[0u8; 57]).unwrap_err();
    assert_eq!(err, GrantError::FrameTooLarge { len: 57, max: 56 });
    let err = tx.grant_blocking(1000).unwrap_err();
    assert_eq!(err, GrantError::FrameTooLarge { len: 1000, max: 56 });
    let err = heap_pair(&Options::new().capacity(128).max_frame(57)).unwrap_err();
    assert!(matches!(err, OpenError::InvalidConfig(_)), "{err}");
}

#[test]
fn grant_commits_a_prefix_and_an_uncommitted_grant_publishes_nothing() {
    let (mut tx, mut rx) = ring(256);
    let mut grant = tx.grant(32).unwrap();
    grant[..3].copy_from_slice(b"abc");
    let _ = grant; // not committed
    assert_eq!(recv(&mut rx), Err(PopError::Empty));
    let mut grant = tx.grant(32).unwrap();
    assert_eq!(grant.len(), 32);
    grant[..3].copy_from_slice(b"xyz");
    assert_eq!(grant.commit(3), 3);
    assert_eq!(recv(&mut rx).unwrap(), b"xyz");
    assert_eq!(tx.grant(8).unwrap().commit(100), 8, "commit is capped");
}

#[test]
#[cfg_attr(
    miri,
    ignore = "blocks in futex/membarrier syscalls, which Miri cannot run"
)]
fn overflow_policies() {
    let fill = |tx: &mut Producer| {
        let mut sent = 0;
        while tx.try_send(&[9u8; 24]).is_ok() && sent < 100 {
            sent += 1;
        }
        sent
    };
    // Block: the non-blocking forms report Full, blocking ones time out.
    let (mut tx, _rx) = ring(128);
    assert!(fill(&mut tx) > 0);
    assert_eq!(tx.try_send(b"x"), Err(GrantError::Full));
    assert_eq!(
        tx.send_timeout(b"x", Duration::from_millis(1)),
        Err(GrantError::Timeout)
    );
    // Fail: even the blocking forms return Full at once.
    let opts = Options::new().capacity(128).overflow(Overflow::Fail);
    let (mut tx, _rx) = heap_pair(&opts).unwrap();
    fill(&mut tx);
    assert_eq!(tx.send(b"x"), Err(GrantError::Full));
    assert!(matches!(tx.grant_blocking(8), Err(GrantError::Full)));
    // DropNewest: the frame is dropped and counted; the ring keeps
    // what it had.
    let opts = Options::new().capacity(128).overflow(Overflow::DropNewest);
    let (mut tx, mut rx) = heap_pair(&opts).unwrap();
    let mut kept = 0;
    while tx.stats().drops == 0 {
        tx.try_send(&[kept as u8; 24]).unwrap();
        kept += 1;
    }
    let mut grant = tx.grant_blocking(24).unwrap();
    assert!(grant.is_dropped());
    grant.copy_from_slice(&[0xee; 24]);
    assert_eq!(grant.commit(24), 0);
    assert_eq!(tx.stats().drops, 2);
    for i in 0..kept - 1 {
        assert_eq!(recv(&mut rx).unwrap(), [i as u8; 24]);
    }
    assert_eq!(recv(&mut rx), Err(PopError::Empty));
    assert_eq!(rx.stats().drops, 2);
}

#[test]
fn space_is_handed_back_lazily_but_always_when_empty() {
    let (mut tx, mut rx) = ring(1024); // 128 words, batch of 16
    for _ in 0..3 {
        tx.try_send(&[1u8; 8]).unwrap(); // 2 words each
    }
    for _ in 0..3 {
        recv(&mut rx).unwrap();
    }
    assert_eq!(tx.stats().released_bytes, 0, "under a batch: not yet");
    assert_eq!(recv(&mut rx), Err(PopError::Empty));
    assert_eq!(tx.stats().released_bytes, 48, "empty: handed back");
}

#[test]
fn drop_of_the_consumer_hands_back_what_it_read() {
    let (mut tx, mut rx) = ring(1024);
    tx.try_send(b"one").unwrap();
    tx.try_send(b"two").unwrap();
    assert_eq!(recv(&mut rx).unwrap(), b"one");
    drop(rx);
    assert_eq!(tx.stats().released_bytes, 16);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "blocks in futex/membarrier syscalls, which Miri cannot run"
)]
fn a_gone_consumer_is_disconnected_when_the_ring_fills() {
    let (mut tx, mut rx) = ring(128);
    tx.try_send(b"x").unwrap();
    recv(&mut rx).unwrap(); // used, so its drop detaches
    drop(rx);
    let mut result = Ok(());
    for _ in 0..100 {
        result = tx.try_send(&[0u8; 24]);
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(GrantError::Disconnected));
    assert_eq!(tx.send(b"y"), Err(GrantError::Disconnected));
    // An end that was never used detaches nothing when dropped; a
    // blocking call finds it gone through its liveness check.
    let (mut tx, rx) = ring(128);
    drop(rx);
    while tx.try_send(&[0u8; 24]).is_ok() {}
    assert_eq!(tx.send(b"y"), Err(GrantError::Disconnected));
}

#[test]
fn the_consumer_drains_then_reports_disconnected() {
    let (mut tx, mut rx) = ring(256);
    tx.try_send(b"last words").unwrap();
    drop(tx);
    assert_eq!(recv(&mut rx).unwrap(), b"last words");
    assert_eq!(recv(&mut rx), Err(PopError::Disconnected));
    let mut buf = Vec::new();
    assert_eq!(rx.recv(&mut buf), Err(PopError::Disconnected));
}

/// Writes `word` at `position` as a hostile producer would, and
/// publishes up to `tail`.
fn forge(tx: &Producer, position: u64, word: u64, tail: u64) {
    tx.write_word(position, word);
    tx.ring.tail().store(tail, Ordering::Release);
}

fn corruption_of(rx: &mut Consumer) -> Corruption {
    match recv(rx) {
        Err(PopError::Corrupted(c)) => *c,
        other => panic!("expected Corrupted, got {other:?}"),
    }
}

#[test]
fn every_bad_frame_header_is_corruption_and_poisons() {
    type Case = (u64, u64, u64, &'static str);
    // 16 words, max frame 56.
    let cases: [Case; 6] = [
        (
            0,
            frame_word(57, FRAME_DATA),
            9,
            "frame longer than the max frame",
        ),
        (
            0,
            frame_word(8, FRAME_DATA),
            1,
            "frame runs past the published tail",
        ),
        (0, frame_word(8, 7), 2, "unknown frame flags"),
        (
            0,
            frame_word(120, FRAME_PADDING),
            16,
            "padding frame does not end the ring",
        ),
        (
            0,
            frame_word(0, FRAME_DATA),
            17,
            "tail - head exceeds the capacity",
        ),
        (
            12,
            frame_word(40, FRAME_DATA),
            18,
            "frame runs past the end of the ring",
        ),
    ];
    for (at, word, tail, what) in cases {
        let (mut tx, mut rx) = ring(128);
        if at > 0 {
            // Move both ends to `at` with honest frames.
            tx.try_send(&[0u8; 40]).unwrap();
            tx.try_send(&[0u8; 40]).unwrap();
            recv(&mut rx).unwrap();
            recv(&mut rx).unwrap();
        }
        forge(&tx, at, word, tail);
        let first = corruption_of(&mut rx);
        assert_eq!(first.what, what);
        // Putting things right does not lift the poison.
        forge(&tx, at, frame_word(1, FRAME_DATA), at + 2);
        assert_eq!(corruption_of(&mut rx), first);
        assert!(matches!(rx.read(), Err(PopError::Corrupted(c)) if *c == first));
        assert!(matches!(rx.read_blocking(), Err(PopError::Corrupted(c)) if *c == first));
    }
}

#[test]
fn padding_that_runs_past_the_tail_is_corruption() {
    let (mut tx, mut rx) = ring(128);
    tx.try_send(&[0u8; 40]).unwrap();
    tx.try_send(&[0u8; 40]).unwrap();
    recv(&mut rx).unwrap();
    recv(&mut rx).unwrap();
    forge(&tx, 12, frame_word(24, FRAME_PADDING), 14);
    assert_eq!(
        corruption_of(&mut rx).what,
        "padding runs past the published tail"
    );
}

#[test]
fn a_producer_meeting_an_impossible_head_is_poisoned() {
    let (mut tx, rx) = ring(128);
    rx.ring.head().store(1000, Ordering::Release);
    tx.forget_room();
    let first = match tx.try_send(b"x") {
        Err(GrantError::Corrupted(c)) => c,
        other => panic!("expected Corrupted, got {other:?}"),
    };
    rx.ring.head().store(0, Ordering::Release);
    assert_eq!(tx.try_send(b"x"), Err(GrantError::Corrupted(first)));
    assert!(matches!(tx.grant(1), Err(GrantError::Corrupted(c)) if c == first));
}

#[test]
fn options_that_do_not_apply_are_refused() {
    let err = heap_pair(&Options::new().schema_id(7)).unwrap_err();
    assert!(matches!(err, OpenError::InvalidConfig(ref m) if m.contains("schema_id")));
    for capacity in [0, 32, 100] {
        let err = heap_pair(&Options::new().capacity(capacity)).unwrap_err();
        assert!(matches!(err, OpenError::InvalidConfig(_)), "{capacity}");
    }
    let err = crate::spsc::heap_pair::<u64>(&Options::new().max_frame(8)).unwrap_err();
    assert!(matches!(err, OpenError::InvalidConfig(ref m) if m.contains("max_frame")));
    let err = crate::spsc::heap_pair::<u64>(&Options::new().overflow(Overflow::Fail)).unwrap_err();
    assert!(matches!(err, OpenError::InvalidConfig(ref m) if m.contains("overflow")));
    let opts = Options::new().release_each_frame(true);
    let err = crate::mpmc::heap_pair::<u64>(&opts).unwrap_err();
    assert!(matches!(err, OpenError::InvalidConfig(ref m) if m.contains("release_each_frame")));
}

#[test]
fn release_each_frame_hands_every_frame_back_at_once() {
    let (mut tx, mut rx) =
        heap_pair(&Options::new().capacity(1024).release_each_frame(true)).expect("heap pair");
    let mut buf = Vec::new();
    for _ in 0..3 {
        tx.try_send(&[1u8; 8]).unwrap();
    }
    rx.try_recv(&mut buf).unwrap();
    // One 8-byte frame is two words (header and payload): 16 bytes back,
    // though the ring is neither empty nor an eighth released.
    assert_eq!(tx.stats().released_bytes, 16);
}

#[test]
fn two_threads_stream_frames_of_every_size() {
    let (mut tx, mut rx) = ring(512);
    let count: u32 = if cfg!(miri) { 300 } else { 20_000 };
    let producer = crate::sync::thread::spawn(move || {
        for i in 0..count {
            let len = (i % 57) as usize;
            let frame: Vec<u8> = (0..len).map(|b| (i as usize + b) as u8).collect();
            // Spin-yield rather than block: Miri runs this test too.
            while let Err(e) = tx.try_send(&frame) {
                assert_eq!(e, GrantError::Full);
                std::thread::yield_now();
            }
        }
    });
    let mut buf = Vec::new();
    for i in 0..count {
        while let Err(e) = rx.try_recv(&mut buf) {
            assert_eq!(e, PopError::Empty);
            std::thread::yield_now();
        }
        let len = (i % 57) as usize;
        assert_eq!(buf.len(), len);
        assert!(
            buf.iter()
                .enumerate()
                .all(|(b, &v)| v == (i as usize + b) as u8)
        );
    }
    producer.join().unwrap();
    assert_eq!(rx.try_recv(&mut buf), Err(PopError::Disconnected));
}
