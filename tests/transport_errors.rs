//! Bad input to the transports is a typed error naming the mechanism and
//! the object, never a panic; and what only one mechanism does (queue
//! priorities, System V types, a FIFO writer waiting for its reader, a
//! stale socket file).
#![cfg(not(any(miri, shmlane_loom)))]

mod common;
mod transport_support;

use std::time::{Duration, Instant};

use common::{Watchdog, assert_waited, thread_is_sleeping};
use shmlane::transport::{
    self, Config, ConnectError, Listener, Receiver, RecvError, SendError, Sender, fifo, mq,
    sysv_mq, unix,
};
use transport_support::{QueueName, SysvKey, TempPath};

const LIMIT: Duration = Duration::from_secs(30);

fn message_names(e: &ConnectError, parts: &[&str]) {
    let text = e.to_string();
    for part in parts {
        assert!(text.contains(part), "{text:?} should name {part:?}");
    }
}

#[test]
fn a_path_that_is_not_a_fifo_is_wrong_file_type() {
    let _dog = Watchdog::new("not a fifo", LIMIT);
    let path = TempPath::new("regular");
    std::fs::write(&path.0, b"not a fifo").unwrap();
    for result in [
        fifo::receiver(&path.0, &Config::new()).map(drop),
        fifo::sender(&path.0, &Config::new()).map(drop),
    ] {
        match result {
            Err(
                e @ ConnectError::WrongFileType {
                    expected, found, ..
                },
            ) => {
                assert_eq!((expected, found), ("FIFO", "regular file"));
                message_names(&e, &["fifo://", &path.0.display().to_string()]);
            }
            other => panic!("expected WrongFileType, got {other:?}"),
        }
    }
    assert_eq!(std::fs::read(&path.0).unwrap(), b"not a fifo", "left alone");
}

#[test]
fn a_fifo_is_made_with_mode_0600_and_removed_by_its_maker() {
    let _dog = Watchdog::new("fifo mode", LIMIT);
    let path = TempPath::new("made");
    let rx = fifo::receiver(&path.0, &Config::new()).unwrap();
    let meta = std::fs::metadata(&path.0).unwrap();
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    assert!(meta.file_type().is_fifo());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    drop(rx);
    assert!(!path.0.exists(), "the maker removes the FIFO");

    let kept = fifo::receiver(&path.0, &Config::new().persist(true).mode(0o640)).unwrap();
    drop(kept);
    let meta = std::fs::metadata(&path.0).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o640);
}

#[test]
fn a_fifo_writer_waits_for_a_reader_up_to_its_timeout() {
    let _dog = Watchdog::new("fifo open timeout", LIMIT);
    let path = TempPath::new("lonely");
    let timeout = Duration::from_millis(30);
    let config = Config::new().open_timeout(timeout);
    let start = Instant::now();
    let opened = fifo::sender(&path.0, &config);
    match opened {
        Err(ConnectError::Timeout { what, .. }) => assert!(what.contains("receiver"), "{what}"),
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert_waited(start, timeout, "the FIFO open");
    // With a reader there, the same open succeeds at once.
    let mut rx = fifo::receiver(&path.0, &Config::new()).unwrap();
    let mut tx = fifo::sender(&path.0, &config).unwrap();
    tx.send(b"this is a pipe").unwrap();
    let mut buf = Vec::new();
    rx.recv_timeout(&mut buf, LIMIT).unwrap();
    assert_eq!(buf, b"this is a pipe");
}

#[test]
fn a_fifo_receiver_opened_first_waits_for_its_first_writer() {
    let _dog = Watchdog::new("fifo reader first", LIMIT);
    let path = TempPath::new("first");
    let mut rx = fifo::receiver(&path.0, &Config::new()).unwrap();
    let mut buf = Vec::new();
    // No writer yet: not the end, just nothing.
    assert!(matches!(rx.try_recv(&mut buf), Err(RecvError::Empty)));
    let timeout = Duration::from_millis(20);
    let start = Instant::now();
    let received = rx.recv_timeout(&mut buf, timeout);
    assert!(matches!(received, Err(RecvError::Timeout)), "{received:?}");
    assert_waited(start, timeout, "the receive");
    let mut tx = fifo::sender(&path.0, &Config::new()).unwrap();
    tx.send(b"hello").unwrap();
    drop(tx);
    rx.recv_timeout(&mut buf, LIMIT).unwrap();
    assert_eq!(buf, b"hello");
    assert!(matches!(
        rx.recv_timeout(&mut buf, LIMIT),
        Err(RecvError::Disconnected { .. })
    ));
}

#[test]
fn an_mq_name_without_a_slash_is_invalid() {
    for e in [
        mq::MqSender::open("jobs", &Config::new()).unwrap_err(),
        mq::MqReceiver::open("a/b", &Config::new()).unwrap_err(),
        transport::receiver("mq://jobs").map(drop).unwrap_err(),
    ] {
        assert!(matches!(e, ConnectError::InvalidName { .. }), "{e:?}");
        message_names(&e, &["mq://"]);
    }
    let e = mq::MqSender::open("jobs", &Config::new()).unwrap_err();
    assert!(
        e.to_string().contains("mq:///jobs"),
        "says what to write: {e}"
    );
}

#[test]
fn an_mq_queue_smaller_than_the_maximum_is_refused() {
    let _dog = Watchdog::new("mq too small", LIMIT);
    let name = QueueName::new("small");
    let _rx = mq::MqReceiver::open(&name.0, &Config::new().max_message_size(100)).unwrap();
    match mq::MqSender::open(&name.0, &Config::new().max_message_size(200)) {
        Err(e @ ConnectError::QueueTooSmall { msgsize, max, .. }) => {
            assert_eq!((msgsize, max), (100, 200));
            message_names(&e, &[&format!("mq://{}", name.0)]);
        }
        other => panic!("expected QueueTooSmall, got {other:?}"),
    }
    // Without a maximum, an end adopts the queue's.
    let tx = mq::MqSender::open(&name.0, &Config::new()).unwrap();
    assert_eq!(tx.max_message_size(), 100);
    // A capacity that differs from the queue's is refused.
    let e = mq::MqSender::open(&name.0, &Config::new().capacity(3)).unwrap_err();
    assert!(
        matches!(
            e,
            ConnectError::Incompatible {
                field: "capacity",
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn mq_delivers_the_highest_priority_first() {
    let _dog = Watchdog::new("mq priorities", LIMIT);
    let name = QueueName::new("prio");
    let config = Config::new().max_message_size(64).capacity(8);
    let mut rx = mq::MqReceiver::open(&name.0, &config).unwrap();
    let mut tx = mq::MqSender::open(&name.0, &config).unwrap();
    tx.send_with_priority(b"low", 1).unwrap();
    tx.send_with_priority(b"high", 30).unwrap();
    tx.send(b"default").unwrap();
    tx.send_with_priority(b"mid", 5).unwrap();
    tx.send_with_priority(b"high-2", 30).unwrap();
    assert!(matches!(
        tx.send_with_priority(b"x", 0),
        Err(SendError::InvalidMessage { .. })
    ));
    let mut buf = Vec::new();
    let mut got = Vec::new();
    for _ in 0..5 {
        let (_, priority) = rx.recv_with_priority(&mut buf).unwrap();
        got.push((String::from_utf8(buf.clone()).unwrap(), priority));
    }
    let expected = [
        ("high", 30),
        ("high-2", 30),
        ("mid", 5),
        ("low", 1),
        ("default", 1),
    ];
    let expected: Vec<(String, u32)> = expected.iter().map(|&(m, p)| (m.to_owned(), p)).collect();
    assert_eq!(got, expected);
}

#[test]
fn sysv_receives_by_message_type() {
    let _dog = Watchdog::new("sysv types", LIMIT);
    let key = SysvKey::new();
    let config = Config::new().max_message_size(64);
    let mut rx = sysv_mq::SysvReceiver::open(key.0, &config).unwrap();
    let mut tx = sysv_mq::SysvSender::open(key.0, &config).unwrap();
    tx.send_type(3, b"three").unwrap();
    tx.send_type(1, b"one").unwrap();
    tx.send_type(2, b"two").unwrap();
    tx.send_type(3, b"three again").unwrap();
    assert!(matches!(
        tx.send_type(sysv_mq::END_TYPE, b"x"),
        Err(SendError::InvalidMessage { .. })
    ));
    let mut buf = Vec::new();
    assert_eq!(rx.recv_type(2, &mut buf).unwrap(), (3, 2));
    assert_eq!(buf, b"two");
    // Negative: the lowest type up to 3.
    assert_eq!(rx.recv_type(-3, &mut buf).unwrap(), (3, 1));
    assert_eq!(buf, b"one");
    // 0: any type, in send order.
    rx.recv(&mut buf).unwrap();
    assert_eq!(buf, b"three");
    assert_eq!(rx.recv_type(3, &mut buf).unwrap().1, 3);
    assert_eq!(buf, b"three again");
    assert!(matches!(
        rx.recv_type_deadline(7, &mut buf, transport::Deadline::Now),
        Err(RecvError::Empty)
    ));
}

#[test]
fn sysv_keys_and_limits_are_checked() {
    let e = transport::receiver("sysvmq://0").map(drop).unwrap_err();
    assert!(matches!(e, ConnectError::InvalidName { .. }), "{e:?}");
    let e = transport::receiver("sysvmq://jobs").map(drop).unwrap_err();
    assert!(matches!(e, ConnectError::InvalidName { .. }), "{e:?}");
    let key = SysvKey::new();
    let e = sysv_mq::SysvSender::open(key.0, &Config::new().max_message_size(1 << 30)).unwrap_err();
    assert!(matches!(e, ConnectError::InvalidConfig { .. }), "{e:?}");
    message_names(&e, &["sysvmq://", "msgmax"]);
}

#[test]
fn a_unix_path_longer_than_sockaddr_un_is_refused() {
    let long = format!("/tmp/{}", "x".repeat(200));
    for result in [
        unix::listen(&long, &Config::new()).map(drop),
        unix::connect(&long, &Config::new()).map(drop),
        transport::listen(&format!("unix+seqpacket://{long}")).map(drop),
    ] {
        match result {
            Err(e @ ConnectError::PathTooLong { len, max, .. }) => {
                assert_eq!((len, max), (long.len(), unix::MAX_PATH_LEN));
                message_names(&e, &["unix", "x"]);
            }
            other => panic!("expected PathTooLong, got {other:?}"),
        }
    }
}

#[test]
fn unix_listen_replaces_a_stale_socket_but_not_a_live_one() {
    let _dog = Watchdog::new("stale socket", LIMIT);
    let path = TempPath::new("sock");
    let live = unix::listen(&path.0, &Config::new()).unwrap();
    let e = unix::listen(&path.0, &Config::new()).unwrap_err();
    assert!(matches!(e, ConnectError::AddrInUse { .. }), "{e:?}");
    drop(live);
    assert!(!path.0.exists(), "the listener removes its socket file");

    // A socket file whose listener went away without removing it.
    drop(std::os::unix::net::UnixListener::bind(&path.0).unwrap());
    assert!(path.0.exists());
    let listener = unix::listen(&path.0, &Config::new()).unwrap();
    transport::connect(&path.url("unix")).unwrap();
    drop(listener);

    let not_socket = TempPath::new("file");
    std::fs::write(&not_socket.0, b"").unwrap();
    let e = unix::listen(&not_socket.0, &Config::new()).unwrap_err();
    assert!(
        matches!(
            e,
            ConnectError::WrongFileType {
                expected: "socket",
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn a_refused_or_unreachable_tcp_peer_is_typed() {
    let _dog = Watchdog::new("refused peer", LIMIT);
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let e = transport::connect(&format!("tcp://127.0.0.1:{port}")).unwrap_err();
    assert!(matches!(e, ConnectError::Refused { .. }), "{e:?}");
    message_names(&e, &[&format!("tcp://127.0.0.1:{port}")]);
    let e = transport::sender("tcp://nonexistent.invalid:80")
        .map(drop)
        .unwrap_err();
    assert!(matches!(e, ConnectError::Unreachable { .. }), "{e:?}");
    message_names(&e, &["nonexistent.invalid"]);
    let e = transport::connect("unix:///nonexistent-dir/x.sock").unwrap_err();
    assert!(matches!(e, ConnectError::NotFound { .. }), "{e:?}");
}

#[test]
fn a_connect_waits_for_its_listener_with_a_timeout() {
    let _dog = Watchdog::new("connect retry", LIMIT);
    let path = TempPath::new("late");
    let url = format!("{}?timeout_ms=10000", path.url("unix"));
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        let client = s.spawn(|| {
            tid_tx.send(nix::unistd::gettid()).unwrap();
            transport::sender(&url)
        });
        // The client's only sleep is its pause between connect attempts:
        // once it is in it, it has found no listener and is waiting.
        let tid = tid_rx.recv().unwrap();
        while !thread_is_sleeping(tid) {
            assert!(
                !client.is_finished(),
                "the client did not wait for its listener"
            );
            std::thread::yield_now();
        }
        let mut listener = unix::listen(&path.0, &Config::new()).unwrap();
        let mut server = listener.accept_timeout(LIMIT).unwrap();
        let mut tx = client.join().unwrap().unwrap();
        tx.send(b"late but there").unwrap();
        let mut buf = Vec::new();
        server.receiver.recv_timeout(&mut buf, LIMIT).unwrap();
        assert_eq!(buf, b"late but there");
    });
    let mut listener = transport::listen(&path.url("unix")).unwrap();
    let timeout = Duration::from_millis(10);
    let start = Instant::now();
    let accepted = listener.accept_timeout(timeout).map(drop);
    assert!(
        matches!(accepted, Err(ConnectError::Timeout { .. })),
        "{accepted:?}"
    );
    assert_waited(start, timeout, "the accept");
}

#[test]
fn options_that_do_not_apply_are_refused() {
    for (url, option) in [
        ("mq:///q?framing=lines", "framing"),
        ("pipe:?priority=3", "priority"),
        ("tcp://127.0.0.1:1?mode=0600", "mode"),
        ("unix+seqpacket:///x?framing=lines", "framing"),
        ("sysvmq://5?capacity=3", "capacity"),
        ("fifo:///x?role=listen", "role"),
    ] {
        match transport::sender(url).map(drop) {
            Err(e @ ConnectError::InvalidConfig { .. }) => {
                message_names(&e, &[option]);
            }
            other => panic!("{url}: expected InvalidConfig, got {other:?}"),
        }
    }
    match transport::sender("pigeon://x").map(drop) {
        Err(ConnectError::InvalidUrl { reason, .. }) => {
            assert!(reason.contains("pigeon"), "{reason}")
        }
        other => panic!("expected InvalidUrl, got {other:?}"),
    }
}

#[test]
fn one_way_mechanisms_cannot_connect_or_listen() {
    for url in ["fifo:///tmp/x", "mq:///x", "sysvmq://7", "pipe:"] {
        let e = transport::connect(url).unwrap_err();
        assert!(
            matches!(e, ConnectError::Unsupported { .. }),
            "{url}: {e:?}"
        );
        let e = transport::listen(url).map(drop).unwrap_err();
        assert!(
            matches!(e, ConnectError::Unsupported { .. }),
            "{url}: {e:?}"
        );
    }
}

#[test]
fn a_pipe_fd_that_is_not_open_is_refused() {
    let e = transport::receiver("pipe:?fd=987654")
        .map(drop)
        .unwrap_err();
    assert!(matches!(e, ConnectError::InvalidConfig { .. }), "{e:?}");
    message_names(&e, &["987654"]);
}

#[test]
fn a_sender_learns_its_receiver_is_gone() {
    let _dog = Watchdog::new("receiver gone", LIMIT);
    let socket = TempPath::new("gone");
    let seqpacket = format!("unix+seqpacket://{}", socket.0.display());
    for url in ["pipe:", "tcp://127.0.0.1:0", &seqpacket] {
        let (mut tx, mut rx) = transport::pair(url).unwrap();
        tx.send(b"x").unwrap();
        rx.recv(&mut Vec::new()).unwrap();
        drop(rx);
        // TCP learns it from the peer's reset: a send or two later.
        let mut result = Ok(());
        for _ in 0..100 {
            result = tx.send(b"y");
            if result.is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(
            matches!(result, Err(SendError::Disconnected { .. })),
            "{url}: {result:?}"
        );
    }
}

/// Issue 15, item 3: a second listener on a live address is refused
/// without touching the first: no probe connection lands in the first
/// one's backlog (a one-shot receiver used to accept it, read its end and
/// report `Disconnected`).
#[test]
fn a_second_unix_listener_leaves_the_first_ones_backlog_alone() {
    let _dog = Watchdog::new("second listener", LIMIT);
    for scheme in ["unix", "unix+seqpacket"] {
        let path = TempPath::new("owned");
        let url = path.url(scheme);
        let mut first = transport::listen(&url).unwrap();
        for _ in 0..3 {
            match transport::listen(&url).map(drop) {
                Err(e @ ConnectError::AddrInUse { .. }) => {
                    message_names(&e, &[&url]);
                }
                other => panic!("{url}: expected AddrInUse, got {other:?}"),
            }
        }
        let waited = Duration::from_millis(20);
        let start = Instant::now();
        match first.accept_timeout(waited) {
            Err(ConnectError::Timeout { .. }) => assert_waited(start, waited, "accept"),
            Err(e) => panic!("{url}: {e}"),
            Ok(_) => panic!("{url}: the first listener accepted a connection nobody made"),
        }
        // It still serves a real peer.
        let mut client = transport::connect(&url).unwrap();
        let mut server = first.accept_timeout(LIMIT).unwrap();
        client.sender.send(b"still mine").unwrap();
        let mut buf = Vec::new();
        server.receiver.recv_timeout(&mut buf, LIMIT).unwrap();
        assert_eq!(buf, b"still mine");
        drop(first);
        assert!(!path.0.exists(), "{url}: the listener removes its socket");
        // The address is free again.
        drop(transport::listen(&url).unwrap());
    }
}

/// Issue 15, item 8: `shm://` reports a role held by a live process as
/// `RoleTaken` (it was a stringly `Io { op: "open" }`), naming the channel
/// and what to do.
#[test]
fn a_second_shm_sender_is_role_taken() {
    let _dog = Watchdog::new("shm role taken", LIMIT);
    let name = common::ShmName::new("role");
    let url = format!("shm://{}", name.as_str());
    let _rx = transport::receiver(&url).unwrap();
    let _tx = transport::sender(&url).unwrap();
    match transport::sender(&url).map(drop) {
        Err(e @ ConnectError::RoleTaken { role, .. }) => {
            assert_eq!(role, "sending");
            message_names(&e, &[&url, "mq://"]);
        }
        other => panic!("expected RoleTaken, got {other:?}"),
    }
    match transport::receiver(&url).map(drop) {
        Err(ConnectError::RoleTaken { role, .. }) => assert_eq!(role, "receiving"),
        other => panic!("expected RoleTaken, got {other:?}"),
    }
}

/// Issue 15, item 8: URLs a user most likely mistyped are refused with
/// what to write instead: a `tcp://` without a host, a path scheme with a
/// relative path that looks like a forgotten slash.
#[test]
fn mistyped_urls_say_what_to_write() {
    let _dog = Watchdog::new("mistyped urls", LIMIT);
    match transport::listen("tcp://:5000").map(drop) {
        Err(e @ ConnectError::InvalidUrl { .. }) => message_names(&e, &["0.0.0.0:5000"]),
        other => panic!("expected InvalidUrl, got {other:?}"),
    }
    match transport::tcp::listen(":5000", &Config::new()).map(drop) {
        Err(e @ ConnectError::InvalidName { .. }) => message_names(&e, &["0.0.0.0:5000"]),
        other => panic!("expected InvalidName, got {other:?}"),
    }
    for scheme in ["fifo", "unix", "unix+seqpacket"] {
        let url = format!("{scheme}://tmp/shmlane-forgot-a-slash");
        match transport::receiver(&url).map(drop) {
            Err(e @ ConnectError::InvalidUrl { .. }) => message_names(
                &e,
                &[
                    &format!("{scheme}:///tmp/shmlane-forgot-a-slash"),
                    &format!("{scheme}://./tmp"),
                ],
            ),
            other => panic!("{url}: expected InvalidUrl, got {other:?}"),
        }
    }
    assert!(!std::path::Path::new("tmp").exists(), "nothing made");
}

/// Issue 15, item 8: a connection reset by the peer is an error, not a
/// clean end of stream (messages may have been lost).
#[test]
fn a_reset_connection_is_not_a_clean_end() {
    use std::os::fd::AsRawFd;
    let _dog = Watchdog::new("reset", LIMIT);
    let mut listener = transport::tcp::listen("127.0.0.1:0", &Config::new()).unwrap();
    let addr = listener.url().trim_start_matches("tcp://").to_owned();
    let client = std::net::TcpStream::connect(addr).unwrap();
    let mut server = listener.accept_timeout(LIMIT).unwrap();
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid linger struct for SO_LINGER on an open socket.
    let set = unsafe {
        libc::setsockopt(
            client.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::from_ref(&linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(set, 0);
    drop(client); // closing with linger 0 sends RST
    let mut buf = Vec::new();
    match server.receiver.recv_timeout(&mut buf, LIMIT) {
        Err(e @ RecvError::Reset { .. }) => assert!(e.to_string().contains("tcp://"), "{e}"),
        other => panic!("expected Reset, got {other:?}"),
    }
}

/// Runs the calling thread on CPU 0 only, and, if `idle`, under
/// `SCHED_IDLE`, so that a normal thread woken on CPU 0 preempts it at
/// once: how a test makes "the other side runs first" certain.
fn run_on_cpu0(idle: bool) {
    let mut cpus = nix::sched::CpuSet::new();
    cpus.set(0).unwrap();
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &cpus).unwrap();
    if idle {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `param` is a valid sched_param; pid 0 is this thread.
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
        assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    }
}

#[test]
fn a_connection_stands_when_its_listener_removes_the_path_after_accepting() {
    // A listener for one connection (a shell's `shmlane recv`, Python's
    // `transport.receiver`) removes its path as soon as it has accepted,
    // which may be before the connecting side returns from `connect`:
    // the connection must still be made. Both threads share CPU 0 and the
    // connecting one is SCHED_IDLE, so the listener, woken by the
    // connect, accepts and removes the path before `connect` returns.
    let _dog = Watchdog::new("listener removes its path", LIMIT);
    for round in 0..20 {
        let path = TempPath::new("gone-after-accept");
        let listener = std::os::unix::net::UnixListener::bind(&path.0).unwrap();
        std::thread::scope(|s| {
            let server = s.spawn(|| {
                run_on_cpu0(false);
                let (mut stream, _) = listener.accept().unwrap();
                std::fs::remove_file(&path.0).unwrap();
                let mut got = Vec::new();
                std::io::Read::read_to_end(&mut stream, &mut got).unwrap();
                got
            });
            let client = s.spawn(|| {
                run_on_cpu0(true);
                let url = format!("{}?timeout_ms=10000", path.url("unix"));
                let mut tx = transport::sender(&url)?;
                tx.send(b"x").unwrap();
                Ok::<_, ConnectError>(())
            });
            let connected = client.join().unwrap();
            if connected.is_err() {
                // Let the server's accept end.
                drop(std::os::unix::net::UnixStream::connect(&path.0));
            }
            let got = server.join().unwrap();
            if let Err(e) = connected {
                panic!("round {round}: the connect failed: {e}");
            }
            // One length-prefixed frame.
            assert!(got.ends_with(b"x"), "round {round}: {got:?}");
        });
    }
}

#[test]
fn an_opening_fifo_writer_waits_in_slices_until_a_reader_comes() {
    let _dog = Watchdog::new("opening fifo", LIMIT);
    let path = TempPath::new("opening-fifo");
    let url = path.url("fifo");
    let mut opening = transport::Opening::sender(&url).unwrap();
    // No reader: each slice comes back empty-handed, without an error.
    for _ in 0..3 {
        assert!(opening.wait(Duration::from_millis(5)).unwrap().is_none());
    }
    let mut rx = transport::receiver(&url).unwrap();
    let mut tx = loop {
        if let Some(tx) = opening.wait(Duration::from_millis(5)).unwrap() {
            break tx;
        }
    };
    tx.send(b"after the slices").unwrap();
    let mut buf = Vec::new();
    rx.recv_timeout(&mut buf, LIMIT).unwrap();
    assert_eq!(buf, b"after the slices");
    // Spent: a further wait is an error, not a second end.
    assert!(matches!(
        opening.wait(Duration::from_millis(5)),
        Err(ConnectError::Unsupported { .. })
    ));
}

#[test]
fn an_opening_listener_binds_at_once_and_its_timeout_spans_the_slices() {
    let _dog = Watchdog::new("opening listener", LIMIT);
    let path = TempPath::new("opening-listen");
    let url = path.url("unix");
    let mut opening = transport::Opening::receiver(&url).unwrap();
    // Bound before the first wait: a sender connects (no retry needed).
    let mut tx = transport::sender(&url).unwrap();
    tx.send(b"early").unwrap();
    let mut rx = opening.wait(LIMIT).unwrap().expect("the connection");
    let mut buf = Vec::new();
    rx.recv_timeout(&mut buf, LIMIT).unwrap();
    assert_eq!(buf, b"early");
    drop((tx, rx, opening));

    // `?timeout_ms=` bounds the whole wait, not each slice.
    let start = Instant::now();
    let mut opening = transport::Opening::receiver(&format!("{url}?timeout_ms=60")).unwrap();
    let mut slices = 0;
    let outcome = loop {
        match opening.wait(Duration::from_millis(10)) {
            Ok(None) => slices += 1,
            Ok(Some(_)) => panic!("nobody connected"),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(outcome, ConnectError::Timeout { .. }),
        "{outcome:?}"
    );
    assert!(slices >= 2, "{slices} slices");
    assert_waited(start, Duration::from_millis(60), "the opening");
}

#[test]
fn an_opening_that_does_not_wait_answers_at_once() {
    let _dog = Watchdog::new("opening once", LIMIT);
    let path = TempPath::new("opening-once");
    // A connect without ?timeout_ms= is one attempt: no listener, an error.
    let mut opening = transport::Opening::sender(&path.url("unix")).unwrap();
    let refused = opening
        .wait(Duration::from_millis(5))
        .map(|end| end.is_some());
    assert!(
        matches!(refused, Err(ConnectError::NotFound { .. })),
        "{refused:?}"
    );
    // With one, slices retry until a listener comes.
    let url = format!("{}?timeout_ms=10000", path.url("unix"));
    let mut opening = transport::Opening::sender(&url).unwrap();
    assert!(opening.wait(Duration::from_millis(5)).unwrap().is_none());
    let mut listener = transport::listen(&path.url("unix")).unwrap();
    let mut tx = loop {
        if let Some(tx) = opening.wait(Duration::from_millis(5)).unwrap() {
            break tx;
        }
    };
    let mut server = listener.accept_timeout(LIMIT).unwrap();
    tx.send(b"retried").unwrap();
    let mut buf = Vec::new();
    server.receiver.recv_timeout(&mut buf, LIMIT).unwrap();
    assert_eq!(buf, b"retried");
}

#[test]
fn an_opening_shm_sender_keeps_its_segment_while_it_waits_for_a_receiver() {
    use std::os::unix::fs::MetadataExt;
    let _dog = Watchdog::new("opening shm", LIMIT);
    let name = common::ShmName::new("opening-shm");
    let url = format!("shm://{}", name.as_str());
    let mut opening = transport::Opening::sender(&url).unwrap();
    let inode = || std::fs::metadata(name.path()).map(|m| m.ino()).ok();
    let first = inode().expect("the sender made the segment at the start");
    for _ in 0..3 {
        assert!(opening.wait(Duration::from_millis(5)).unwrap().is_none());
        // The same segment all along: no slice drops and remakes it.
        assert_eq!(inode(), Some(first));
    }
    let mut rx = transport::receiver(&url).unwrap();
    let mut tx = loop {
        if let Some(tx) = opening.wait(Duration::from_millis(5)).unwrap() {
            break tx;
        }
    };
    tx.send(b"held").unwrap();
    let mut buf = Vec::new();
    rx.recv_timeout(&mut buf, LIMIT).unwrap();
    assert_eq!(buf, b"held");
}

/// Issue 18: in a build without the cargo feature `zenoh`, a `zenoh://`
/// URL parses and says which feature it needs, rather than "unknown
/// scheme".
#[cfg(not(feature = "zenoh"))]
#[test]
fn zenoh_without_its_feature_names_the_feature() {
    for opened in [
        transport::sender("zenoh://md/ticks").map(|_| ()),
        transport::receiver("zenoh://md/ticks?connect=tcp/127.0.0.1:7447").map(|_| ()),
    ] {
        match opened {
            Err(ConnectError::Unsupported { endpoint, reason }) => {
                assert_eq!(endpoint, "zenoh://md/ticks");
                assert!(reason.contains("feature `zenoh`"), "{reason}");
            }
            other => panic!("expected Unsupported, got {other:?}"),
        }
    }
}
