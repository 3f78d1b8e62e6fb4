//! Another local user (issue 15, part A): a squatter who made a segment,
//! queue, FIFO or socket under the name first, with mode 0666, gets
//! nothing from a victim who opens it: the open is refused before anything
//! is read or written. The tests that need a second user run as root and
//! drop a forked child to uid/gid 65534 (nobody); elsewhere they skip with
//! a message. The rest (symbolic links, a peer's sizes) need no root.
#![cfg(not(any(miri, shmlane_loom)))]

mod common;
mod transport_support;

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use common::{ShmName, Watchdog, fork_child, wait_until};
use nix::unistd::{Gid, Uid};
use shmlane::transport::{self, ConnectError};
use shmlane::{OpenError, Options, Trust, bytes};
use transport_support::{QueueName, SysvKey, TempPath};

const NOBODY: u32 = 65534;
const LIMIT: Duration = Duration::from_secs(20);

/// Whether this test can make objects as another user; says why not.
fn root_or_skip(test: &str) -> bool {
    if Uid::effective().is_root() {
        return true;
    }
    eprintln!("skipped {test}: it needs root (a child drops to uid {NOBODY} to be the squatter)");
    false
}

/// Runs `body` in a forked child that has become uid/gid 65534, and
/// waits for it to succeed.
fn as_nobody(body: impl FnOnce() -> i32) {
    let child = fork_child(|| {
        become_nobody();
        body()
    });
    assert_eq!(child.wait(LIMIT), 0, "the squatter child failed");
}

fn become_nobody() {
    nix::unistd::setgroups(&[]).expect("setgroups");
    nix::unistd::setgid(Gid::from_raw(NOBODY)).expect("setgid");
    nix::unistd::setuid(Uid::from_raw(NOBODY)).expect("setuid");
}

/// Asserts a transport refusal names the squatter.
fn assert_untrusted(result: Result<impl Sized, ConnectError>, what: &str) {
    match result {
        Err(ConnectError::Untrusted {
            owner_uid, mode, ..
        }) => {
            assert_eq!(owner_uid, NOBODY, "{what}");
            assert_ne!(mode, 0, "{what}: the mode found is reported");
        }
        Err(other) => panic!("{what}: expected Untrusted, got {other}"),
        Ok(_) => panic!("{what}: a squatter's object was accepted"),
    }
}

#[test]
fn a_squatters_segment_is_refused_and_left_untouched() {
    if !root_or_skip("a_squatters_segment_is_refused_and_left_untouched") {
        return;
    }
    let _dog = Watchdog::new("a_squatters_segment_is_refused_and_left_untouched", LIMIT);
    let name = ShmName::new("squat-shm");
    let segment = name.as_str().to_owned();
    as_nobody(|| {
        let opts = Options::new().capacity(4096).mode(0o666).persist(true);
        i32::from(bytes::Consumer::create(&segment, &opts).is_err())
    });
    let before = std::fs::read(name.path()).expect("the squatter's segment");
    match bytes::Producer::open(name.as_str(), &Options::new()) {
        Err(OpenError::Untrusted {
            owner_uid, mode, ..
        }) => assert_eq!((owner_uid, mode), (NOBODY, 0o666)),
        other => panic!("expected Untrusted, got {other:?}"),
    }
    let message = bytes::Producer::open(name.as_str(), &Options::new())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("uid 65534") && message.contains("?owner=65534"),
        "the message says what was found and how to allow it: {message}"
    );
    assert_untrusted(
        transport::sender(&format!("shm://{segment}")),
        "shm:// sender",
    );
    assert_untrusted(
        transport::receiver(&format!("shm://{segment}")),
        "shm:// receiver",
    );
    let after = std::fs::read(name.path()).expect("the squatter's segment");
    assert!(before == after, "a refused open wrote into the segment");
}

#[test]
fn a_group_shared_segment_opens_with_the_group_allowed() {
    if !root_or_skip("a_group_shared_segment_opens_with_the_group_allowed") {
        return;
    }
    let _dog = Watchdog::new("group-shared segment", LIMIT);
    let name = ShmName::new("group-shm");
    let segment = name.as_str().to_owned();
    as_nobody(|| {
        let opts = Options::new().capacity(4096).mode(0o660).persist(true);
        i32::from(bytes::Consumer::create(&segment, &opts).is_err())
    });
    let refused = bytes::Producer::open(name.as_str(), &Options::new());
    assert!(
        matches!(refused, Err(OpenError::Untrusted { .. })),
        "{refused:?}"
    );
    let group = Options::new().trust(Trust::new().gid(NOBODY));
    let tx = bytes::Producer::open(name.as_str(), &group).expect("group allowed");
    drop(tx);
    let url = format!("shm://{segment}?group={NOBODY}");
    let joined = transport::receiver(&url);
    assert!(joined.is_ok(), "?group= allows it too: {:?}", joined.err());
}

#[test]
fn a_squatters_posix_queue_is_refused_and_gets_nothing() {
    if !root_or_skip("a_squatters_posix_queue_is_refused_and_gets_nothing") {
        return;
    }
    let _dog = Watchdog::new("a_squatters_posix_queue_is_refused_and_gets_nothing", LIMIT);
    let name = QueueName::new("squat-mq");
    let url = format!("mq://{}", name.0);
    let made = format!("{url}?mode=0666&persist=true");
    as_nobody(|| i32::from(transport::receiver(&made).is_err()));
    assert_untrusted(transport::sender(&url), "mq:// sender");
    assert_untrusted(transport::receiver(&url), "mq:// receiver");
    assert_eq!(queued_posix(&name.0), 0, "a refused sender sent something");
    let allowed = format!("{url}?owner={NOBODY}");
    let error = transport::sender(&allowed).err().map(|e| e.to_string());
    // Allowed as to its owner, still refused as writable by everyone.
    assert!(
        error.as_deref().is_some_and(|e| e.contains("every user")),
        "{error:?}"
    );
}

/// Messages waiting in the POSIX queue `name`.
fn queued_posix(name: &str) -> i64 {
    let c_name = CString::new(name).unwrap();
    // SAFETY: a NUL-terminated name; no O_CREAT, so no further arguments.
    let fd = unsafe { libc::mq_open(c_name.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    assert!(fd >= 0, "mq_open: {}", std::io::Error::last_os_error());
    // SAFETY: a queue descriptor is a file descriptor nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: mq_attr is plain integers; mq_getattr fills it in.
    let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
    // SAFETY: an open queue and a writable mq_attr.
    assert_eq!(unsafe { libc::mq_getattr(fd.as_raw_fd(), &mut attr) }, 0);
    attr.mq_curmsgs
}

#[test]
fn a_squatters_system_v_queue_is_refused_and_gets_nothing() {
    if !root_or_skip("a_squatters_system_v_queue_is_refused_and_gets_nothing") {
        return;
    }
    let _dog = Watchdog::new(
        "a_squatters_system_v_queue_is_refused_and_gets_nothing",
        LIMIT,
    );
    let key = SysvKey::new();
    let url = format!("sysvmq://{}", key.0);
    let made = format!("{url}?mode=0666&persist=true");
    as_nobody(|| i32::from(transport::receiver(&made).is_err()));
    assert_untrusted(transport::sender(&url), "sysvmq:// sender");
    assert_untrusted(transport::receiver(&url), "sysvmq:// receiver");
    // SAFETY: msgget with no flags only looks the key up.
    let id = unsafe { libc::msgget(key.0, 0) };
    assert!(id >= 0, "the squatter's queue is still there");
    // SAFETY: msqid_ds is plain data; IPC_STAT fills it in.
    let mut ds: libc::msqid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: a writable msqid_ds for the call.
    assert_eq!(unsafe { libc::msgctl(id, libc::IPC_STAT, &mut ds) }, 0);
    assert_eq!(ds.msg_qnum, 0, "a refused sender sent something");
}

#[test]
fn a_squatters_fifo_is_refused_and_gets_nothing() {
    if !root_or_skip("a_squatters_fifo_is_refused_and_gets_nothing") {
        return;
    }
    let _dog = Watchdog::new("squatter FIFO", LIMIT);
    let path = TempPath::new("squat-fifo");
    let url = path.url("fifo");
    let made = format!("{url}?mode=0666&persist=true");
    as_nobody(|| i32::from(transport::receiver(&made).is_err()));
    // A reader of our own, so that a sender that got through would write.
    let reader = std::fs::File::options()
        .read(true)
        .custom_flags_nonblocking()
        .open(&path.0)
        .expect("a reader");
    assert_untrusted(transport::sender(&url), "fifo:// sender");
    assert_untrusted(transport::receiver(&url), "fifo:// receiver");
    let mut buf = [0u8; 16];
    // SAFETY: a valid descriptor and a writable buffer of that length.
    let n = unsafe { libc::read(reader.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    assert!(n <= 0, "a refused sender wrote {n} bytes");
}

/// `O_NONBLOCK` for opening a FIFO's read end without a writer.
trait NonBlocking {
    fn custom_flags_nonblocking(&mut self) -> &mut Self;
}

impl NonBlocking for std::fs::OpenOptions {
    fn custom_flags_nonblocking(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_NONBLOCK)
    }
}

#[test]
fn a_squatters_socket_is_refused_before_anything_is_sent() {
    if !root_or_skip("a_squatters_socket_is_refused_before_anything_is_sent") {
        return;
    }
    let _dog = Watchdog::new("squatter socket", LIMIT);
    let path = TempPath::new("squat-sock");
    let url = path.url("unix");
    let listening = format!("{url}?mode=0666");
    let squatter = fork_child(|| {
        become_nobody();
        let mut listener = transport::listen(&listening).expect("listen");
        // Accept whatever comes until the test kills this child.
        loop {
            if let Ok(mut conn) = listener.accept() {
                let mut buf = Vec::new();
                let _ = conn.receiver.recv_timeout(&mut buf, Duration::from_secs(1));
            }
        }
    });
    wait_until("the squatter listens", LIMIT, || path.0.exists());
    assert_untrusted(transport::sender(&url), "unix:// sender");
    assert!(
        transport::sender(&format!("{url}?owner={NOBODY}")).is_ok(),
        "?owner= allows the squatter's listener"
    );
    squatter.kill();
}

#[test]
fn a_listener_with_peer_uid_refuses_another_users_connection() {
    if !root_or_skip("a_listener_with_peer_uid_refuses_another_users_connection") {
        return;
    }
    let _dog = Watchdog::new("peer_uid", LIMIT);
    let path = TempPath::new("peer-sock");
    let url = path.url("unix");
    let mut listener =
        transport::listen(&format!("{url}?mode=0666&peer_uid=0")).expect("listen as root");
    let connecting = url.clone();
    let stranger = fork_child(move || {
        become_nobody();
        // The listener is root's, which the stranger trusts: it connects.
        let mut conn = transport::connect(&connecting).expect("connect");
        let _ = conn.sender.send(b"from a stranger");
        0
    });
    match listener.accept_timeout(LIMIT) {
        Err(ConnectError::PeerRefused {
            expected_uid,
            found_uid,
            ..
        }) => assert_eq!((expected_uid, found_uid), (0, NOBODY)),
        Err(other) => panic!("expected PeerRefused, got {other}"),
        Ok(_) => panic!("a connection of uid {NOBODY} was accepted"),
    }
    assert_eq!(stranger.wait(LIMIT), 0);
}

#[test]
fn a_symlinked_fifo_path_is_refused() {
    let _dog = Watchdog::new("symlinked FIFO", LIMIT);
    let target = TempPath::new("fifo-target");
    let link = TempPath::new("fifo-link");
    let made = transport::receiver(&format!("{}?persist=true", target.url("fifo")));
    drop(made.expect("the real FIFO"));
    std::os::unix::fs::symlink(&target.0, &link.0).expect("symlink");
    for opened in [
        transport::receiver(&link.url("fifo")).err(),
        transport::sender(&format!("{}?timeout_ms=1", link.url("fifo"))).err(),
    ] {
        assert!(
            matches!(
                opened,
                Some(ConnectError::WrongFileType {
                    found: "symbolic link",
                    ..
                })
            ),
            "{opened:?}"
        );
    }
}

#[test]
fn a_dangling_symlink_at_a_fifo_path_is_refused_at_once() {
    // It used to loop for ever: stat said ENOENT, mkfifo said EEXIST.
    let _dog = Watchdog::new("dangling FIFO symlink", LIMIT);
    let link = TempPath::new("fifo-dangling");
    let nowhere = TempPath::new("fifo-nowhere");
    std::os::unix::fs::symlink(&nowhere.0, &link.0).expect("symlink");
    let opened = transport::receiver(&link.url("fifo")).err();
    assert!(
        matches!(
            opened,
            Some(ConnectError::WrongFileType {
                found: "symbolic link",
                ..
            })
        ),
        "{opened:?}"
    );
    assert!(!nowhere.0.exists(), "nothing was made through the link");
}

#[test]
fn a_shm_opener_does_not_adopt_a_larger_max_frame() {
    let _dog = Watchdog::new("shm max frame", LIMIT);
    let name = ShmName::new("big-max");
    let base = format!("shm://{}", name.as_str());
    let _rx = transport::receiver(&format!("{base}?max=1000000")).expect("creator");
    match transport::sender(&format!("{base}?timeout_ms=1")) {
        Err(ConnectError::Incompatible { field, found, .. }) => {
            assert_eq!(field, "max_frame");
            assert!(found.contains("1000000"), "{found}");
        }
        other => panic!("expected Incompatible, got {:?}", other.err()),
    }
    let allowed = transport::sender(&format!("{base}?max=1000000&timeout_ms=5000"));
    assert!(
        allowed.is_ok(),
        "an opener that allows the size joins: {:?}",
        allowed.err()
    );
}

#[test]
fn an_mq_receiver_does_not_adopt_a_larger_message_size() {
    // A queue with messages above 64 KiB: root may make one whatever
    // fs.mqueue.msgsize_max says.
    if !root_or_skip("an_mq_receiver_does_not_adopt_a_larger_message_size") {
        return;
    }
    let _dog = Watchdog::new("an_mq_receiver_does_not_adopt_a_larger_message_size", LIMIT);
    // In an IPC namespace of its own, whose fs.mqueue.msgsize_max the
    // child may raise without touching the machine's (a container's root
    // lacks CAP_SYS_RESOURCE, which would let it pass the limit).
    let child = fork_child(|| {
        if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWIPC) {
            eprintln!("skipped: no IPC namespace of its own ({e})");
            return 0;
        }
        let big = 128 * 1024;
        if std::fs::write("/proc/sys/fs/mqueue/msgsize_max", big.to_string()).is_err() {
            eprintln!("skipped: fs.mqueue.msgsize_max cannot be raised here");
            return 0;
        }
        let name = QueueName::new("big-mq");
        let url = format!("mq://{}", name.0);
        let _tx = transport::sender(&format!("{url}?max={big}&capacity=1")).expect("the maker");
        match transport::receiver(&url) {
            Err(ConnectError::Incompatible { found, .. }) => assert!(found.contains("131072")),
            other => panic!("expected Incompatible, got {:?}", other.err()),
        }
        assert!(transport::receiver(&format!("{url}?max={big}")).is_ok());
        0
    });
    assert_eq!(child.wait(LIMIT), 0, "the check in the child failed");
}

#[test]
fn a_unix_listeners_socket_file_takes_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let _dog = Watchdog::new("socket mode", LIMIT);
    let mode_of =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let default = TempPath::new("sock-default");
    let _listener = transport::listen(&default.url("unix")).expect("listen");
    assert_eq!(mode_of(&default.0), 0o600, "only this user may connect");
    let shared = TempPath::new("sock-shared");
    let _listener =
        transport::listen(&format!("{}?mode=0660", shared.url("unix"))).expect("listen");
    assert_eq!(mode_of(&shared.0), 0o660);
}
