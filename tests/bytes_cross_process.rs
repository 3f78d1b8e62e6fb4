//! The byte ring between two real processes: millions of frames of random
//! sizes, each carrying its sequence number and a checksum, none lost,
//! duplicated, reordered or torn; through the copying API and through the
//! zero-copy grant/read API; a killed producer's frames are drained, then
//! the consumer sees `Disconnected`.
#![cfg(not(any(miri, shmlane_loom)))]

mod common;

use std::time::Duration;

use common::{Ready, ShmName, Watchdog, fork_child};
use shmlane::{GrantError, Options, PopError, bytes};

const WAIT: Duration = Duration::from_secs(240);
/// Smallest frame: sequence number (8) and checksum (4).
const MIN_FRAME: usize = 12;

/// A deterministic pseudo-random stream (splitmix64), so that both
/// processes derive each frame's size and bytes from its sequence number.
fn mix(seq: u64) -> u64 {
    let mut z = seq.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn frame_len(seq: u64, max: usize) -> usize {
    MIN_FRAME + (mix(seq) % (max - MIN_FRAME + 1) as u64) as usize
}

fn checksum(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Fills `frame` (already sized) as frame `seq`: sequence number, bytes
/// from the stream, checksum of everything before it.
fn fill(frame: &mut [u8], seq: u64) {
    let len = frame.len();
    frame[..8].copy_from_slice(&seq.to_le_bytes());
    let mut state = mix(seq);
    for byte in &mut frame[8..len - 4] {
        state = state.rotate_left(5) ^ 0x5bd1_e995;
        *byte = state as u8;
    }
    let sum = checksum(&frame[..len - 4]);
    frame[len - 4..].copy_from_slice(&sum.to_le_bytes());
}

/// Why frame `frame` is not frame `seq`, if it is not.
fn check(frame: &[u8], seq: u64, max: usize) -> Result<(), String> {
    let want = frame_len(seq, max);
    if frame.len() != want {
        return Err(format!(
            "frame {seq}: {} bytes, expected {want}",
            frame.len()
        ));
    }
    let got = u64::from_le_bytes(frame[..8].try_into().unwrap());
    if got != seq {
        return Err(format!("expected frame {seq}, got {got}"));
    }
    let mut expected = vec![0; want];
    fill(&mut expected, seq);
    if frame != expected.as_slice() {
        return Err(format!("frame {seq} is torn or its checksum is wrong"));
    }
    Ok(())
}

#[test]
fn millions_of_frames_of_random_sizes_through_the_copying_api() {
    const FRAMES: u64 = 2_000_000;
    let _dog = Watchdog::new("2M frames across processes", WAIT);
    let opts = Options::new().capacity(1 << 16).max_frame(300);
    let (mut tx, rx) = bytes::pair(&opts).unwrap();
    let max = tx.max_frame();
    let child = fork_child(move || {
        let mut rx = rx;
        let mut buf = Vec::new();
        for seq in 0..FRAMES {
            if let Err(e) = rx.recv(&mut buf) {
                eprintln!("recv {seq}: {e}");
                return 1;
            }
            if let Err(e) = check(&buf, seq, max) {
                eprintln!("{e}");
                return 1;
            }
        }
        // The producer leaves after the last frame: nothing extra follows.
        match rx.recv(&mut buf) {
            Err(PopError::Disconnected) => 0,
            other => {
                eprintln!("after the last frame: {other:?}");
                1
            }
        }
    });
    let mut frame = Vec::new();
    for seq in 0..FRAMES {
        frame.resize(frame_len(seq, max), 0);
        fill(&mut frame, seq);
        tx.send(&frame).unwrap();
    }
    drop(tx);
    assert_eq!(
        child.wait(WAIT),
        0,
        "consumer saw a lost, extra, reordered or torn frame"
    );
}

#[test]
fn a_million_frames_through_grant_and_read_in_place_by_name() {
    const FRAMES: u64 = 1_000_000;
    let _dog = Watchdog::new("1M zero-copy frames across processes", WAIT);
    let name = ShmName::new("bytes-zero-copy");
    // Small frames in a small ring: many wraps and padding frames.
    let opts = Options::new().capacity(4096).max_frame(1000);
    let mut tx = bytes::Producer::create(name.as_str(), &opts).unwrap();
    let max = tx.max_frame();
    let segment = name.as_str().to_owned();
    let child = fork_child(move || {
        let mut rx = match bytes::Consumer::open(&segment, &Options::new()) {
            Ok(rx) => rx,
            Err(e) => {
                eprintln!("open: {e}");
                return 1;
            }
        };
        for seq in 0..FRAMES {
            let frame = match rx.read_blocking() {
                Ok(frame) => frame,
                Err(e) => {
                    eprintln!("read {seq}: {e}");
                    return 1;
                }
            };
            if let Err(e) = check(&frame, seq, max) {
                eprintln!("{e}");
                return 1;
            }
        }
        i32::from(!matches!(rx.read_blocking(), Err(PopError::Disconnected)))
    });
    for seq in 0..FRAMES {
        let len = frame_len(seq, max);
        // Grant more than needed and commit the prefix, as a serializer
        // that does not know its output size in advance would.
        let mut grant = tx.grant_blocking(max).unwrap();
        fill(&mut grant[..len], seq);
        assert_eq!(grant.commit(len), len);
    }
    drop(tx);
    assert_eq!(
        child.wait(WAIT),
        0,
        "consumer saw a lost, extra, reordered or torn frame"
    );
}

#[test]
fn a_killed_producer_is_drained_then_disconnected() {
    let _dog = Watchdog::new("killed producer", WAIT);
    let opts = Options::new().capacity(1 << 12);
    let (tx, mut rx) = bytes::pair(&opts).unwrap();
    let max = 200;
    let ready = Ready::new();
    let child = fork_child(|| {
        let mut tx = tx;
        for seq in 0..5 {
            let mut frame = vec![0; frame_len(seq, max)];
            fill(&mut frame, seq);
            tx.send(&frame).unwrap();
        }
        // Killed mid-write: a grant filled but never committed.
        let mut grant = tx.grant(max).unwrap();
        grant.fill(0xee);
        // All five are in the ring (they fit in it whole) before the kill.
        ready.signal();
        // Die without detaching: the consumer learns it from the lock.
        std::thread::sleep(Duration::from_secs(600));
        0
    });
    let mut buf = Vec::new();
    rx.recv(&mut buf).unwrap();
    check(&buf, 0, max).unwrap();
    ready.wait(&child, WAIT);
    child.kill();
    for seq in 1..5 {
        rx.recv(&mut buf).unwrap();
        check(&buf, seq, max).unwrap();
    }
    assert_eq!(rx.recv(&mut buf), Err(PopError::Disconnected));
}

/// Sends frames 0..10 on a new named ring, lets a forked consumer (opened
/// with `opts`) run `before_death` and die by SIGKILL, then returns the
/// sequence number of the first frame a replacement consumer receives.
fn first_frame_after_a_killed_consumer(
    test: &str,
    opts: &Options,
    before_death: impl FnOnce(&mut bytes::Consumer, &Ready),
) -> u64 {
    let _dog = Watchdog::new("killed consumer", WAIT);
    let name = ShmName::new(test);
    let max = 64;
    let mut tx = bytes::Producer::create(name.as_str(), opts).unwrap();
    for seq in 0..10 {
        let mut frame = vec![0; frame_len(seq, max)];
        fill(&mut frame, seq);
        tx.try_send(&frame).unwrap();
    }
    let ready = Ready::new();
    let child = fork_child(|| {
        let mut rx = bytes::Consumer::open(name.as_str(), opts).unwrap();
        before_death(&mut rx, &ready);
        unreachable!("before_death waits for the SIGKILL")
    });
    ready.wait(&child, WAIT);
    child.kill();
    let mut rx = bytes::Consumer::open(name.as_str(), opts).unwrap();
    let mut buf = Vec::new();
    rx.try_recv(&mut buf).unwrap();
    let seq = u64::from_le_bytes(buf[..8].try_into().unwrap());
    check(&buf, seq, max).unwrap();
    seq
}

/// Receives frames 0..3 (the ring is not empty after them), then signals
/// and waits to be killed.
fn receive_three_then_die(rx: &mut bytes::Consumer, ready: &Ready) {
    let mut buf = Vec::new();
    for seq in 0..3 {
        rx.try_recv(&mut buf).unwrap();
        check(&buf, seq, 64).unwrap();
    }
    ready.signal();
    std::thread::sleep(Duration::from_secs(600));
}

#[test]
fn a_killed_consumer_s_replacement_receives_again_within_the_release_batch() {
    // Default: the consumer publishes its position every eighth of the
    // ring, so three small frames were received but never handed back.
    let opts = Options::new().capacity(1 << 12);
    let first = first_frame_after_a_killed_consumer("lazy", &opts, receive_three_then_die);
    assert_eq!(first, 0);
}

#[test]
fn with_release_each_frame_a_killed_consumer_s_frames_are_not_received_again() {
    let opts = Options::new().capacity(1 << 12).release_each_frame(true);
    let first = first_frame_after_a_killed_consumer("each", &opts, receive_three_then_die);
    assert_eq!(first, 3);
}

#[test]
fn a_frame_held_in_place_by_a_killed_consumer_is_received_again() {
    // Even with every frame handed back at once: a frame read in place and
    // not yet released was never consumed.
    let opts = Options::new().capacity(1 << 12).release_each_frame(true);
    let first = first_frame_after_a_killed_consumer("held", &opts, |rx, ready| {
        let mut buf = Vec::new();
        rx.try_recv(&mut buf).unwrap();
        let frame = rx.read().unwrap();
        check(&frame, 1, 64).unwrap();
        ready.signal();
        std::thread::sleep(Duration::from_secs(600));
        drop(frame);
    });
    assert_eq!(first, 1);
}

#[test]
fn a_loop_of_non_blocking_receives_ends_with_disconnected_after_a_sigkill() {
    let _dog = Watchdog::new("non-blocking receives after SIGKILL", WAIT);
    let (tx, mut rx) = bytes::pair(&Options::new().capacity(1 << 12)).unwrap();
    let ready = Ready::new();
    let child = fork_child(|| {
        let mut tx = tx;
        for seq in 0..3 {
            let mut frame = vec![0; frame_len(seq, 64)];
            fill(&mut frame, seq);
            tx.try_send(&frame).unwrap();
        }
        ready.signal();
        std::thread::sleep(Duration::from_secs(600));
        0
    });
    ready.wait(&child, WAIT);
    child.kill();
    let (mut buf, mut next) = (Vec::new(), 0);
    loop {
        match rx.try_recv(&mut buf) {
            Ok(_) => {
                check(&buf, next, 64).unwrap();
                next += 1;
            }
            Err(PopError::Empty) => std::thread::yield_now(),
            Err(PopError::Disconnected) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(next, 3, "drained, then Disconnected");
}

#[test]
fn a_loop_of_non_blocking_sends_ends_with_disconnected_after_a_sigkill() {
    let _dog = Watchdog::new("non-blocking sends after SIGKILL", WAIT);
    let (mut tx, rx) = bytes::pair(&Options::new().capacity(256)).unwrap();
    let ready = Ready::new();
    let child = fork_child(|| {
        let mut rx = rx;
        assert_eq!(rx.try_recv(&mut Vec::new()), Err(PopError::Empty));
        ready.signal();
        std::thread::sleep(Duration::from_secs(600));
        0
    });
    ready.wait(&child, WAIT);
    child.kill();
    let mut sent = 0;
    loop {
        match tx.try_send(&[7; 24]) {
            Ok(()) => sent += 1,
            Err(GrantError::Full) => std::thread::yield_now(),
            Err(GrantError::Disconnected) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(sent > 0, "filled the ring, then learned the consumer died");
}
