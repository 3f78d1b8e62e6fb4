//! The framing of both ends over real pipes, and the pieces of a
//! half-written frame.

use std::io::Write;
use std::sync::Arc;

use super::sender::slices_from;
use super::{FdKind, StreamReceiver, StreamSender};
use crate::transport::config::Framing;
use crate::transport::{Receiver, RecvError, SendError, Sender};

fn pipe_pair(framing: Framing, max: usize) -> (StreamSender, StreamReceiver) {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let name: Arc<str> = Arc::from("pipe:");
    (
        StreamSender::new(w, FdKind::Pipe, framing, max, name.clone(), None),
        StreamReceiver::new(r, FdKind::Pipe, framing, max, name, None),
    )
}

#[test]
fn slices_from_skips_what_was_written() {
    let parts: [&[u8]; 2] = [b"ab", b"cde"];
    let text = |done| {
        let (iov, n) = slices_from(parts, done);
        iov[..n]
            .iter()
            .flat_map(|s| s.iter().copied())
            .collect::<Vec<u8>>()
    };
    assert_eq!(text(0), b"abcde");
    assert_eq!(text(1), b"bcde");
    assert_eq!(text(2), b"cde");
    assert_eq!(text(4), b"e");
}

#[test]
fn frames_split_across_reads_are_reassembled() {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let mut rx = StreamReceiver::new(r, FdKind::Pipe, Framing::Length, 100, "pipe:".into(), None);
    let mut w = std::fs::File::from(w);
    let mut out = Vec::new();
    w.write_all(&[0, 0, 0]).unwrap();
    assert!(matches!(rx.try_recv(&mut out), Err(RecvError::Empty)));
    w.write_all(&[5, b'h', b'e']).unwrap();
    assert!(matches!(rx.try_recv(&mut out), Err(RecvError::Empty)));
    w.write_all(b"llo").unwrap();
    assert_eq!(rx.try_recv(&mut out).unwrap(), 5);
    assert_eq!(out, b"hello");
    drop(w);
    assert!(matches!(
        rx.recv(&mut out),
        Err(RecvError::Disconnected { .. })
    ));
}

#[test]
fn a_frame_bigger_than_the_read_ahead_arrives_whole() {
    let (mut tx, mut rx) = pipe_pair(Framing::Length, 200_000);
    let big: Vec<u8> = (0..150_000u32).map(|i| i as u8).collect();
    let sender = crate::sync::thread::spawn(move || {
        tx.send(&big).unwrap();
        tx.send(b"after").unwrap();
        big
    });
    let mut out = Vec::new();
    rx.recv(&mut out).unwrap();
    let big = sender.join().unwrap();
    assert_eq!(out, big);
    assert_eq!(rx.recv(&mut out).unwrap(), 5);
    assert_eq!(out, b"after");
}

#[test]
fn lines_keep_their_bytes_and_a_last_unterminated_line() {
    let (mut tx, mut rx) = pipe_pair(Framing::Lines, 8);
    tx.send(b"one").unwrap();
    tx.send(b"").unwrap();
    assert!(matches!(
        tx.send(b"a\nb"),
        Err(SendError::InvalidMessage { .. })
    ));
    let mut raw = std::fs::File::from(tx.into_fd().unwrap());
    raw.write_all(b"last").unwrap();
    drop(raw);
    let mut out = Vec::new();
    for expected in [&b"one"[..], b"", b"last"] {
        rx.recv(&mut out).unwrap();
        assert_eq!(out, expected);
    }
    assert!(matches!(
        rx.recv(&mut out),
        Err(RecvError::Disconnected { .. })
    ));
}

#[test]
fn an_overlong_line_is_corruption() {
    let (tx, mut rx) = pipe_pair(Framing::Lines, 4);
    let mut raw = std::fs::File::from(tx.into_fd().unwrap());
    raw.write_all(b"12345").unwrap();
    let mut out = Vec::new();
    let e = rx.recv(&mut out).unwrap_err();
    assert!(
        matches!(e, RecvError::Corrupted { corruption, .. } if corruption.found == 5 && corruption.limit == 4),
        "{e:?}"
    );
    assert!(matches!(
        rx.recv(&mut out),
        Err(RecvError::Corrupted { .. })
    ));
}

#[test]
fn a_frame_cut_off_by_the_end_is_corruption() {
    let (tx, mut rx) = pipe_pair(Framing::Length, 100);
    let mut raw = std::fs::File::from(tx.into_fd().unwrap());
    raw.write_all(&[0, 0, 0, 9, 1, 2]).unwrap();
    drop(raw);
    let e = rx.recv(&mut Vec::new()).unwrap_err();
    assert!(
        matches!(e, RecvError::Corrupted { corruption, .. } if corruption.what == "stream ended inside a frame"),
        "{e:?}"
    );
}

#[test]
fn a_timed_send_that_fills_the_pipe_keeps_the_rest_pending() {
    let (mut tx, mut rx) = pipe_pair(Framing::Length, 1 << 20);
    let big = vec![7u8; 200_000];
    // The pipe holds 64 KiB: the frame is begun, the rest kept, and the
    // caller told so.
    match tx.try_send(&big) {
        Err(SendError::Incomplete { written, len, .. }) => {
            assert_eq!(len, big.len() + 4);
            assert!(written > 0 && written < len, "{written}");
        }
        other => panic!("expected Incomplete, got {other:?}"),
    }
    assert!(tx.has_pending());
    // The next message cannot start before the rest is written.
    assert!(matches!(tx.try_send(b"x"), Err(SendError::Full)));
    let reader = crate::sync::thread::spawn(move || {
        let mut out = Vec::new();
        rx.recv(&mut out).unwrap();
        let first = out.clone();
        rx.recv(&mut out).unwrap();
        (first, out)
    });
    tx.send(b"x").unwrap();
    drop(tx);
    let (first, second) = reader.join().unwrap();
    assert_eq!(first, big);
    assert_eq!(second, b"x");
}

/// Issue 15, B7: four bytes of a valid prefix commit no memory; the buffer
/// grows with the bytes that come.
#[test]
fn a_length_prefix_alone_does_not_size_the_buffer() {
    const MAX: usize = 64 << 20;
    let (tx, mut rx) = pipe_pair(Framing::Length, MAX);
    let mut raw = std::fs::File::from(tx.into_fd().unwrap());
    raw.write_all(&(MAX as u32).to_be_bytes()).unwrap();
    raw.write_all(&[1; 100]).unwrap();
    let mut out = Vec::new();
    assert!(matches!(rx.try_recv(&mut out), Err(RecvError::Empty)));
    assert!(
        rx.buffer_capacity() <= 2 * 64 * 1024,
        "a 4-byte prefix made the buffer {} bytes",
        rx.buffer_capacity()
    );
    // The stalled sender sends 200 KiB more: the buffer follows them.
    let chunk = vec![2u8; 50 * 1024];
    for _ in 0..4 {
        raw.write_all(&chunk).unwrap();
        assert!(matches!(rx.try_recv(&mut out), Err(RecvError::Empty)));
    }
    assert!(
        rx.buffer_capacity() < 1 << 20,
        "200 KiB of a frame made the buffer {} bytes",
        rx.buffer_capacity()
    );
}

/// Issue 15, B7: a line longer than the read-ahead is read in blocks, not
/// one byte per read.
#[test]
fn a_long_line_is_read_in_blocks() {
    const LINE: usize = 300_000;
    let (tx, mut rx) = pipe_pair(Framing::Lines, 1 << 20);
    let mut raw = std::fs::File::from(tx.into_fd().unwrap());
    let writer = crate::sync::thread::spawn(move || {
        let mut line = vec![b'x'; LINE];
        line.push(b'\n');
        raw.write_all(&line).unwrap();
    });
    let mut out = Vec::new();
    assert_eq!(rx.recv(&mut out).unwrap(), LINE);
    writer.join().unwrap();
    assert!(out.iter().all(|&b| b == b'x'));
    assert!(
        rx.reads < LINE / 4096,
        "{} reads for a {LINE}-byte line",
        rx.reads
    );
}
