//! `tcp://` never waits for ever on a peer that stopped answering (issue
//! 15, item B4): keepalive and the user timeout end an untimed `recv`, and
//! a connect to a host that does not answer gives up by default.
//!
//! A paused peer process cannot stand for a vanished host: its kernel still
//! acknowledges data and answers keepalive probes. So the dead-peer test
//! makes its own network namespace (root only) and takes its loopback
//! down under an open connection.
#![cfg(not(any(miri, shmlane_loom)))]

mod common;

use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use common::Watchdog;
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrIn, bind, getsockname, listen, socket,
};
use shmlane::transport::{self, Config, ConnectError, Listener, RecvError, SendError};

const LIMIT: Duration = Duration::from_secs(40);

/// Brings the loopback interface of the calling thread's network
/// namespace up or down.
fn set_loopback(up: bool) {
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").expect("a socket for interface ioctls");
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (to, from) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *to = *from as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name and writes the flags of the
    // ifreq it is given, which lives across the call.
    let got = unsafe { libc::ioctl(probe.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) };
    assert_eq!(got, 0, "SIOCGIFFLAGS: {}", std::io::Error::last_os_error());
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    let flags = unsafe { request.ifr_ifru.ifru_flags };
    let up_flag = libc::IFF_UP as libc::c_short;
    request.ifr_ifru.ifru_flags = if up {
        flags | up_flag
    } else {
        flags & !up_flag
    };
    // SAFETY: SIOCSIFFLAGS reads the name and flags of the ifreq, which
    // lives across the call.
    let set = unsafe { libc::ioctl(probe.as_raw_fd(), libc::SIOCSIFFLAGS, &request) };
    assert_eq!(set, 0, "SIOCSIFFLAGS: {}", std::io::Error::last_os_error());
}

/// Runs `body` on a thread of its own in a new network namespace with
/// only a loopback interface, up; `None` (with a message) when not root.
fn in_network_namespace<T: Send + 'static>(body: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to make a network namespace");
        return None;
    }
    #[allow(clippy::disallowed_methods, reason = "a test thread, not ring code")]
    let thread = std::thread::spawn(move || {
        // Only this thread moves: the test harness stays where it is.
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
            .expect("unshare(CLONE_NEWNET) as root");
        set_loopback(true);
        body()
    });
    Some(thread.join().expect("the namespace thread"))
}

#[test]
fn an_untimed_recv_ends_when_the_peer_stops_answering() {
    let _dog = Watchdog::new("dead tcp peer", LIMIT);
    let outcome = in_network_namespace(|| {
        let quick = Config::new()
            .keepalive(Duration::from_secs(1))
            .user_timeout(Duration::from_millis(1500));
        let mut listener = transport::tcp::listen("127.0.0.1:0", &quick).unwrap();
        let mut client = transport::connect(listener.url()).unwrap();
        let mut server = listener.accept_timeout(LIMIT).unwrap();
        let mut buf = Vec::new();
        client.sender.send(b"alive").unwrap();
        assert_eq!(server.receiver.recv(&mut buf).unwrap(), 5);
        // The peer's host vanishes: nothing it sends or answers arrives.
        set_loopback(false);
        let recv = server.receiver.recv(&mut buf);
        let send = server.sender.send(b"anyone?");
        (recv, send)
    });
    let Some((recv, send)) = outcome else { return };
    match recv {
        Err(e @ RecvError::PeerLost { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("tcp://") && text.contains("keepalive_s"),
                "{text}"
            );
        }
        other => panic!("expected PeerLost, got {other:?}"),
    }
    assert!(
        matches!(
            send,
            Err(SendError::PeerLost { .. } | SendError::Disconnected { .. })
        ),
        "a send after the loss fails: {send:?}"
    );
}

/// A listener whose accept queue is full drops new SYNs without answering,
/// as a host that vanished does; returns its address and the connections
/// that fill it.
fn listener_that_does_not_answer() -> (OwnedFd, SocketAddrV4, Vec<TcpStream>) {
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap();
    bind(
        fd.as_raw_fd(),
        &SockaddrIn::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)),
    )
    .unwrap();
    listen(&fd, Backlog::new(0).unwrap()).unwrap();
    let local: SockaddrIn = getsockname(fd.as_raw_fd()).unwrap();
    let addr = SocketAddrV4::new(local.ip(), local.port());
    // The accept queue of backlog 0 holds one; a second may sit half-open.
    let mut fill = Vec::new();
    while fill.len() < 4 {
        match TcpStream::connect_timeout(&addr.into(), Duration::from_millis(300)) {
            Ok(stream) => fill.push(stream),
            Err(_) => break,
        }
    }
    (fd, addr, fill)
}

#[test]
fn a_connect_nobody_answers_gives_up_by_default() {
    let _dog = Watchdog::new("unanswered connect", LIMIT);
    let (_listener, addr, _fill) = listener_that_does_not_answer();
    match transport::sender(&format!("tcp://{addr}")).map(drop) {
        Err(e @ ConnectError::Timeout { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains(&addr.to_string()) && text.contains("timeout_ms"),
                "{text}"
            );
        }
        other => panic!("expected a connect Timeout, got {other:?}"),
    }
    match transport::sender(&format!("tcp://{addr}?timeout_ms=200")).map(drop) {
        Err(ConnectError::Timeout { .. }) => {}
        other => panic!("expected a connect Timeout, got {other:?}"),
    }
}

#[test]
fn liveness_options_are_checked() {
    for url in [
        "tcp://127.0.0.1:1?keepalive_s=40000",
        "tcp://127.0.0.1:1?user_timeout_ms=3000000000",
    ] {
        match transport::sender(url).map(drop) {
            Err(e @ ConnectError::InvalidConfig { .. }) => {
                assert!(e.to_string().contains("limit"), "{e}");
            }
            other => panic!("{url}: expected InvalidConfig, got {other:?}"),
        }
    }
    match transport::sender("unix:///tmp/shmlane-test-x?keepalive_s=1").map(drop) {
        Err(e @ ConnectError::InvalidConfig { .. }) => {
            assert!(e.to_string().contains("keepalive_s"), "{e}");
        }
        other => panic!("keepalive_s on unix://: expected InvalidConfig, got {other:?}"),
    }
}

/// A host name goes through the resolver (on its helper thread, bounded by
/// the connect deadline) and connects as an address literal does.
#[test]
fn a_host_name_resolves_within_the_connect_deadline() {
    let _dog = Watchdog::new("resolve localhost", LIMIT);
    let mut listener = transport::tcp::listen("127.0.0.1:0", &Config::new()).unwrap();
    let port = listener.url().rsplit_once(':').unwrap().1.to_owned();
    let mut tx = transport::sender(&format!("tcp://localhost:{port}?timeout_ms=5000")).unwrap();
    let mut server = listener.accept_timeout(LIMIT).unwrap();
    tx.send(b"by name").unwrap();
    let mut buf = Vec::new();
    server.receiver.recv_timeout(&mut buf, LIMIT).unwrap();
    assert_eq!(buf, b"by name");
    match transport::sender("tcp://shmlane-test-no-such-host.invalid:1?timeout_ms=5000").map(drop) {
        Err(ConnectError::Unreachable { .. } | ConnectError::Timeout { .. }) => {}
        other => panic!("an unknown host: expected Unreachable or Timeout, got {other:?}"),
    }
}
