//! C programs (built here with the system C compiler against the static
//! library and include/shmlane.h) as peers of this Rust process over named
//! segments: a million sequence-numbered records each way, the drain then
//! "disconnected" after a SIGKILLed Rust producer, and misuse answered by
//! status codes.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use bytemuck::{Pod, Zeroable};
use common::{Ready, ShmName, Watchdog, fork_child};
use shmlane::{Options, PopError, bytes, mpmc, spsc};

/// The C side's record (`record` in tests/c/peer.c).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
struct Record {
    seq: u64,
    check: u64,
}

const SCHEMA: u64 = 0x4341_4c4c;
const CHECK: u64 = 0x9e37_79b9_7f4a_7c15;
const MILLION: u64 = 1_000_000;
const WAIT: Duration = Duration::from_secs(10);

fn record(seq: u64) -> Record {
    Record {
        seq,
        check: seq ^ CHECK,
    }
}

fn opts() -> Options {
    Options::new().schema_id(SCHEMA)
}

/// The directory of this build's libshmlane_ffi.a: the test binary's own
/// (target/<profile>/deps), where cargo builds the library's every crate
/// type before linking the tests.
fn library_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent().expect("target/<profile>/deps").to_path_buf()
}

/// tests/c/peer.c, compiled once per test binary.
fn peer() -> &'static Path {
    static PEER: OnceLock<PathBuf> = OnceLock::new();
    PEER.get_or_init(|| {
        let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("shmlane-ffi-peer");
        let built = Command::new("cc")
            .args(["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-I"])
            .arg(crate_dir.join("../include"))
            .arg(crate_dir.join("tests/c/peer.c"))
            .arg(library_dir().join("libshmlane_ffi.a"))
            .args(["-lpthread", "-ldl", "-lm", "-lrt", "-o"])
            .arg(&out)
            .output()
            .expect("run cc (the system C compiler)");
        assert!(
            built.status.success(),
            "cc failed to build tests/c/peer.c:\n{}",
            String::from_utf8_lossy(&built.stderr)
        );
        out
    })
}

/// Starts the C peer; its stderr is collected for the report.
fn start_peer(args: &[&str]) -> Child {
    Command::new(peer())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the C peer")
}

fn assert_peer_succeeded(peer: Child) {
    let output = peer.wait_with_output().expect("wait for the C peer");
    assert!(
        output.status.success(),
        "the C peer failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_c_producer_sends_a_million_records_to_rust() {
    let _dog = Watchdog::new("C to Rust", Duration::from_secs(300));
    let name = ShmName::new("ffi-c2r");
    let mut rx = spsc::Consumer::<Record>::create(name.as_str(), &opts()).unwrap();
    let count = MILLION.to_string();
    let peer = start_peer(&["produce", name.as_str(), &count]);
    for seq in 0..MILLION {
        assert_eq!(rx.recv_timeout(WAIT), Ok(record(seq)));
    }
    assert_peer_succeeded(peer);
    assert_eq!(rx.recv_timeout(WAIT), Err(PopError::Disconnected));
}

#[test]
fn a_c_consumer_receives_a_million_records_from_rust() {
    let _dog = Watchdog::new("Rust to C", Duration::from_secs(300));
    let name = ShmName::new("ffi-r2c");
    let mut tx = spsc::Producer::<Record>::create(name.as_str(), &opts()).unwrap();
    let count = MILLION.to_string();
    let peer = start_peer(&["consume", name.as_str(), &count]);
    for seq in 0..MILLION {
        tx.send_timeout(record(seq), WAIT).unwrap();
    }
    drop(tx); // the C side then sees the drain end in DISCONNECTED
    assert_peer_succeeded(peer);
}

#[test]
fn c_mpmc_senders_feed_a_rust_receiver() {
    let _dog = Watchdog::new("C MPMC to Rust", Duration::from_secs(300));
    const SENT: u64 = 200_000;
    let name = ShmName::new("ffi-mpmc");
    let mut rx = mpmc::Receiver::<Record>::create(name.as_str(), &opts()).unwrap();
    let count = SENT.to_string();
    let peer = start_peer(&["mpmc-send", name.as_str(), &count]);
    // Two C senders alternate; each one's records arrive in its order.
    let mut next = [0u64, 1];
    for _ in 0..SENT {
        let got = rx.recv_timeout(WAIT).unwrap();
        let sender = (got.seq % 2) as usize;
        assert_eq!(got, record(next[sender]), "sender {sender} out of order");
        next[sender] += 2;
    }
    assert_peer_succeeded(peer);
    assert_eq!(rx.recv_timeout(WAIT), Err(PopError::Disconnected));
}

#[test]
fn a_c_consumer_receives_rust_frames_copied_and_in_place() {
    let _dog = Watchdog::new("Rust frames to C", Duration::from_secs(300));
    const SENT: u64 = 200_000;
    let name = ShmName::new("ffi-bytes");
    let mut tx = bytes::Producer::create(name.as_str(), &Options::new().capacity(1 << 14)).unwrap();
    let count = SENT.to_string();
    let peer = start_peer(&["bytes-recv", name.as_str(), &count]);
    let mut frame = Vec::with_capacity(200);
    for seq in 0..SENT {
        frame.clear();
        frame.extend((0..seq % 200).map(|i| (seq + i) as u8));
        tx.send_timeout(&frame, WAIT).unwrap();
    }
    drop(tx);
    assert_peer_succeeded(peer);
}

#[test]
fn a_c_transport_sender_talks_to_a_rust_receiver_by_url() {
    let _dog = Watchdog::new("C transport to Rust", Duration::from_secs(120));
    const SENT: u64 = 10_000;
    let name = ShmName::new("ffi-url");
    let url = format!("shm://{}", name.as_str());
    let mut rx = shmlane::transport::receiver(&url).unwrap();
    let count = SENT.to_string();
    let peer = start_peer(&["transport-send", &url, &count]);
    let mut message = Vec::new();
    for seq in 0..SENT {
        rx.recv_timeout(&mut message, WAIT).unwrap();
        assert_eq!(message, format!("message {seq}").into_bytes());
    }
    assert_peer_succeeded(peer);
    assert!(matches!(
        rx.recv_timeout(&mut message, WAIT),
        Err(shmlane::transport::RecvError::Disconnected { .. })
    ));
}

#[test]
fn a_rust_transport_sender_talks_to_a_c_receiver_by_url() {
    let _dog = Watchdog::new("Rust transport to C", Duration::from_secs(120));
    const SENT: u64 = 10_000;
    let name = ShmName::new("ffi-url-back");
    let url = format!("shm://{}", name.as_str());
    let count = SENT.to_string();
    let peer = start_peer(&["transport-recv", &url, &count]);
    // Waits (up to the timeout) for the C receiver to hold the segment.
    let mut tx = shmlane::transport::sender(&format!("{url}?timeout_ms=10000")).unwrap();
    for seq in 0..SENT {
        tx.send_timeout(format!("message {seq}").as_bytes(), WAIT)
            .unwrap();
    }
    drop(tx);
    assert_peer_succeeded(peer);
}

#[test]
fn a_c_consumer_drains_a_sigkilled_rust_producer_then_sees_it_gone() {
    let _dog = Watchdog::new("SIGKILLed producer", Duration::from_secs(120));
    const SENT: u64 = 100;
    let name = ShmName::new("ffi-kill");
    let ready = Ready::new();
    let child = fork_child(|| {
        let mut tx = spsc::Producer::<Record>::create(name.as_str(), &opts()).unwrap();
        for seq in 0..SENT {
            tx.push(record(seq)).unwrap();
        }
        ready.signal();
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    ready.wait(&child, WAIT);
    let count = SENT.to_string();
    let peer = start_peer(&["consume", name.as_str(), &count]);
    child.kill();
    assert_peer_succeeded(peer);
}

#[test]
fn misuse_from_c_gives_status_codes_not_crashes() {
    let _dog = Watchdog::new("misuse", Duration::from_secs(120));
    let name = ShmName::new("ffi-misuse");
    // The C side makes these too; the guards remove them if it fails.
    let _bytes = ShmName(format!("{}-bytes", name.as_str()));
    let _sem = ShmName(format!("{}-sem", name.as_str()));
    assert_peer_succeeded(start_peer(&["misuse", name.as_str()]));
}
