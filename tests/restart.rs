//! A restart after a crash, for every ring kind: `create` over a stale
//! segment replaces it, over a live one names the pids; `open_or_create`
//! starts a new session over a dead one and resumes a live or persistent
//! one; the last endpoint to detach removes the name, and a takeover does
//! not leak it.

mod common;

use std::time::Duration;

use common::{Ready, ShmName, Watchdog, fork_child};
use shmlane::{OpenError, Options, bytes, mpmc, spsc};

const WAIT: Duration = Duration::from_secs(20);

/// One test at a time: a forked child holds a copy of every open file
/// description of this process, and so the locks of another test's
/// endpoints, which would keep that test's segments live.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The two ends of one ring kind, carrying `u64`s, as a program would
/// make them.
trait Kind {
    const NAME: &'static str;
    type Tx: std::fmt::Debug;
    type Rx;
    fn create_tx(name: &str, opts: &Options) -> Result<Self::Tx, OpenError>;
    fn open_tx(name: &str, opts: &Options) -> Result<Self::Tx, OpenError>;
    fn open_or_create_tx(name: &str, opts: &Options) -> Result<Self::Tx, OpenError>;
    fn create_rx(name: &str, opts: &Options) -> Result<Self::Rx, OpenError>;
    fn open_rx(name: &str, opts: &Options) -> Result<Self::Rx, OpenError>;
    fn open_or_create_rx(name: &str, opts: &Options) -> Result<Self::Rx, OpenError>;
    fn send(tx: &mut Self::Tx, value: u64);
    fn try_recv(rx: &mut Self::Rx) -> Option<u64>;
}

struct Spsc;
struct Bytes;
struct Mpmc;

impl Kind for Spsc {
    const NAME: &'static str = "spsc";
    type Tx = spsc::Producer<u64>;
    type Rx = spsc::Consumer<u64>;
    fn create_tx(name: &str, opts: &Options) -> Result<Self::Tx, OpenError> {
        spsc::Producer::create(name, opts)
    }
    fn open_tx(name: &str, opts: &Options) -> Result<Self::Tx, OpenError> {
        spsc::Producer::open(name, opts)
    }
    fn open_or_create_tx(name: &str, opts: &Options) -> Result<Self::Tx, OpenError> {
        spsc::Producer::open_or_create(name, opts)
    }
    fn create_rx(name: &str, opts: &Options) -> Result<Self::Rx, OpenError> {
        spsc::Consumer::create(name, opts)
    }
    fn open_rx(name: &str, opts: &Options) -> Result<Self::Rx, OpenError> {
        spsc::Consumer::open(name, opts)
    }
    fn open_or_create_rx(name: &str, opts: &Options) -> Result<Self::Rx, OpenError> {
        spsc::Consumer::open_or_create(name, opts)
    }
    fn send(tx: &mut Self::Tx, value: u64) {
        tx.push(value).expect("push");
    }
    fn try_recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.pop().ok()
    }
}

impl Kind for Bytes {
    const NAME: &'static str = "bytes";
    type Tx = bytes::Producer;
    type Rx = bytes::Consumer;
    fn create_tx(name: &str, opts: &Options) -> Result<Self::Tx, OpenError> {
        bytes::Producer::create(name, opts)
    }
    fn open_tx(name: &str, opts: &Options) -> Result<Self::Tx, OpenError> {
        bytes::Producer::open(name, opts)
    }
    fn open_or_create_tx(name: &str, opts: &Options) -> Result<Self::Tx, OpenError> {
        bytes::Producer::open_or_create(name, opts)
    }
    fn create_rx(name: &str, opts: &Options) -> Result<Self::Rx, OpenError> {
        bytes::Consumer::create(name, opts)
    }
    fn open_rx(name: &str, opts: &Options) -> Result<Self::Rx, OpenError> {
        bytes::Consumer::open(name, opts)
    }
    fn open_or_create_rx(name: &str, opts: &Options) -> Result<Self::Rx, OpenError> {
        bytes::Consumer::open_or_create(name, opts)
    }
    fn send(tx: &mut Self::Tx, value: u64) {
        tx.try_send(&value.to_le_bytes()).expect("send");
    }
    fn try_recv(rx: &mut Self::Rx) -> Option<u64> {
        let mut buf = Vec::new();
        rx.try_recv(&mut buf).ok()?;
        Some(u64::from_le_bytes(buf.try_into().expect("8 bytes")))
    }
}

impl Kind for Mpmc {
    const NAME: &'static str = "mpmc";
    type Tx = mpmc::Sender<u64>;
    type Rx = mpmc::Receiver<u64>;
    fn create_tx(name: &str, opts: &Options) -> Result<Self::Tx, OpenError> {
        mpmc::Sender::create(name, opts)
    }
    fn open_tx(name: &str, opts: &Options) -> Result<Self::Tx, OpenError> {
        mpmc::Sender::open(name, opts)
    }
    fn open_or_create_tx(name: &str, opts: &Options) -> Result<Self::Tx, OpenError> {
        mpmc::Sender::open_or_create(name, opts)
    }
    fn create_rx(name: &str, opts: &Options) -> Result<Self::Rx, OpenError> {
        mpmc::Receiver::create(name, opts)
    }
    fn open_rx(name: &str, opts: &Options) -> Result<Self::Rx, OpenError> {
        mpmc::Receiver::open(name, opts)
    }
    fn open_or_create_rx(name: &str, opts: &Options) -> Result<Self::Rx, OpenError> {
        mpmc::Receiver::open_or_create(name, opts)
    }
    fn send(tx: &mut Self::Tx, value: u64) {
        tx.try_send(value).expect("send");
    }
    fn try_recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.try_recv().ok()
    }
}

fn opts() -> Options {
    Options::new().capacity(64)
}

fn exists(name: &ShmName) -> bool {
    std::path::Path::new(&name.path()).exists()
}

/// A child that made `name` with `make` (the producer side), sent 1, 2, 3
/// and was SIGKILLed.
fn killed_creator<K: Kind>(name: &ShmName, make: fn(&str, &Options) -> Result<K::Tx, OpenError>) {
    let ready = Ready::new();
    let child = fork_child(|| {
        let mut tx = make(name.as_str(), &opts()).expect("the child's create");
        for v in 1..=3 {
            K::send(&mut tx, v);
        }
        ready.signal();
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    ready.wait(&child, WAIT);
    child.kill();
}

fn create_replaces_a_killed_creators_segment<K: Kind>() {
    let _serial = serial();
    let _dog = Watchdog::new("create after kill -9", WAIT);
    let name = ShmName::new(&format!("restart-create-{}", K::NAME));
    killed_creator::<K>(&name, K::create_tx);
    assert!(exists(&name), "the dead creator's segment is still there");
    let mut tx = K::create_tx(name.as_str(), &opts()).expect("create over a stale segment");
    let mut rx = K::open_rx(name.as_str(), &opts()).expect("open the new segment");
    assert_eq!(K::try_recv(&mut rx), None, "{}: a fresh ring", K::NAME);
    K::send(&mut tx, 9);
    assert_eq!(K::try_recv(&mut rx), Some(9));

    // Live now (this process holds it): refused, naming this pid.
    let err = K::create_tx(name.as_str(), &opts()).expect_err("a live segment");
    match &err {
        OpenError::AlreadyExists { pids, .. } => {
            assert_eq!(pids, &[std::process::id()], "{err}");
        }
        other => panic!("{}: expected AlreadyExists, got {other}", K::NAME),
    }
    assert!(err.to_string().contains(&std::process::id().to_string()));
}

#[test]
fn create_replaces_a_killed_creators_segment_spsc() {
    create_replaces_a_killed_creators_segment::<Spsc>();
}

#[test]
fn create_replaces_a_killed_creators_segment_bytes() {
    create_replaces_a_killed_creators_segment::<Bytes>();
}

#[test]
fn create_replaces_a_killed_creators_segment_mpmc() {
    create_replaces_a_killed_creators_segment::<Mpmc>();
}

#[test]
fn create_over_a_live_childs_segment_names_the_child() {
    let _serial = serial();
    let _dog = Watchdog::new("create over live", WAIT);
    let name = ShmName::new("restart-live");
    let ready = Ready::new();
    let child = fork_child(|| {
        let _tx = Spsc::create_tx(name.as_str(), &opts()).expect("the child's create");
        ready.signal();
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    ready.wait(&child, WAIT);
    let err = Spsc::create_rx(name.as_str(), &opts()).expect_err("live");
    match &err {
        OpenError::AlreadyExists { pids, .. } => {
            assert_eq!(pids, &[child.pid().as_raw() as u32], "{err}");
        }
        other => panic!("expected AlreadyExists, got {other}"),
    }
    child.kill();
}

fn last_endpoint_removes_the_name<K: Kind>() {
    let _serial = serial();
    let name = ShmName::new(&format!("restart-last-{}", K::NAME));
    // Creator first out: the opener still uses it, so it stays.
    let tx = K::create_tx(name.as_str(), &opts()).expect("create");
    let rx = K::open_rx(name.as_str(), &opts()).expect("open");
    drop(tx);
    assert!(exists(&name), "{}: removed under a live opener", K::NAME);
    drop(rx);
    assert!(!exists(&name), "{}: the last one out removes it", K::NAME);

    // Opener first out.
    let rx = K::create_rx(name.as_str(), &opts()).expect("create");
    let tx = K::open_tx(name.as_str(), &opts()).expect("open");
    drop(tx);
    assert!(exists(&name));
    drop(rx);
    assert!(
        !exists(&name),
        "{}: the creator, last out, removes it",
        K::NAME
    );

    // Persistent: nobody removes it.
    let persist = opts().persist(true);
    let tx = K::create_tx(name.as_str(), &persist).expect("create");
    let rx = K::open_rx(name.as_str(), &opts()).expect("open");
    drop((tx, rx));
    assert!(exists(&name), "{}: made to persist", K::NAME);
}

#[test]
fn last_endpoint_removes_the_name_spsc() {
    last_endpoint_removes_the_name::<Spsc>();
}

#[test]
fn last_endpoint_removes_the_name_bytes() {
    last_endpoint_removes_the_name::<Bytes>();
}

#[test]
fn last_endpoint_removes_the_name_mpmc() {
    last_endpoint_removes_the_name::<Mpmc>();
}

fn takeover_does_not_leak_the_name<K: Kind>() {
    let _serial = serial();
    let _dog = Watchdog::new("takeover", WAIT);
    let name = ShmName::new(&format!("restart-takeover-{}", K::NAME));
    killed_creator::<K>(&name, K::create_tx);
    // The restarted producer resumes the ring (`open` takes over) and a
    // consumer drains what the dead one sent, then the new item.
    let mut tx = K::open_tx(name.as_str(), &opts()).expect("take over");
    let mut rx = K::open_rx(name.as_str(), &opts()).expect("open");
    K::send(&mut tx, 4);
    let got: Vec<u64> = std::iter::from_fn(|| K::try_recv(&mut rx)).collect();
    assert_eq!(got, [1, 2, 3, 4], "{}", K::NAME);
    drop((tx, rx));
    assert!(!exists(&name), "{}: the takeover leaked the name", K::NAME);
}

#[test]
fn takeover_does_not_leak_the_name_spsc() {
    takeover_does_not_leak_the_name::<Spsc>();
}

#[test]
fn takeover_does_not_leak_the_name_bytes() {
    takeover_does_not_leak_the_name::<Bytes>();
}

#[test]
fn takeover_does_not_leak_the_name_mpmc() {
    takeover_does_not_leak_the_name::<Mpmc>();
}

fn open_or_create_sessions<K: Kind>() {
    let _serial = serial();
    let _dog = Watchdog::new("open_or_create", WAIT);
    let name = ShmName::new(&format!("restart-ooc-{}", K::NAME));

    // A dead session: its items are not the new one's.
    killed_creator::<K>(&name, K::open_or_create_tx);
    let mut rx = K::open_or_create_rx(name.as_str(), &opts()).expect("new session");
    assert_eq!(
        K::try_recv(&mut rx),
        None,
        "{}: a dead session's item",
        K::NAME
    );
    // This session's producer joins it.
    let mut tx = K::open_or_create_tx(name.as_str(), &opts()).expect("join");
    K::send(&mut tx, 7);
    assert_eq!(K::try_recv(&mut rx), Some(7));
    drop((tx, rx));
    assert!(!exists(&name));

    // A live producer's items are all there for a receiver that joins.
    let mut tx = K::open_or_create_tx(name.as_str(), &opts()).expect("create");
    K::send(&mut tx, 5);
    let mut rx = K::open_or_create_rx(name.as_str(), &opts()).expect("join");
    assert_eq!(K::try_recv(&mut rx), Some(5), "{}", K::NAME);
    drop((tx, rx));

    // A persistent segment with nobody attached is resumed, not replaced.
    let persist = opts().persist(true);
    let mut tx = K::open_or_create_tx(name.as_str(), &persist).expect("create");
    K::send(&mut tx, 6);
    drop(tx);
    let mut rx = K::open_or_create_rx(name.as_str(), &persist).expect("resume");
    assert_eq!(K::try_recv(&mut rx), Some(6), "{}: persisted item", K::NAME);
}

#[test]
fn open_or_create_sessions_spsc() {
    open_or_create_sessions::<Spsc>();
}

#[test]
fn open_or_create_sessions_bytes() {
    open_or_create_sessions::<Bytes>();
}

#[test]
fn open_or_create_sessions_mpmc() {
    open_or_create_sessions::<Mpmc>();
}

#[test]
fn racing_creators_over_a_stale_segment_one_wins() {
    let _serial = serial();
    let _dog = Watchdog::new("racing creators", WAIT);
    let name = ShmName::new("restart-race");
    for round in 0..20 {
        killed_creator::<Spsc>(&name, Spsc::create_tx);
        let results: Vec<Result<spsc::Producer<u64>, OpenError>> = std::thread::scope(|s| {
            let racers: Vec<_> = (0..4)
                .map(|_| s.spawn(|| Spsc::create_tx(name.as_str(), &opts())))
                .collect();
            racers
                .into_iter()
                .map(|r| r.join().expect("racer"))
                .collect()
        });
        let won = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "round {round}: {} winners", won);
        for lost in results.iter().filter_map(|r| r.as_ref().err()) {
            assert!(
                matches!(lost, OpenError::AlreadyExists { .. }),
                "round {round}: {lost}"
            );
        }
        // The winner's segment is the one the name links.
        let mut rx = Spsc::open_rx(name.as_str(), &opts()).expect("open the winner's");
        let mut winner = results.into_iter().find_map(Result::ok).expect("a winner");
        Spsc::send(&mut winner, round);
        assert_eq!(Spsc::try_recv(&mut rx), Some(round));
        drop((winner, rx));
        assert!(!exists(&name));
    }
}

#[test]
fn openers_racing_the_last_endpoint_out_never_keep_a_removed_segment() {
    let _serial = serial();
    let _dog = Watchdog::new("openers racing removal", WAIT);
    let name = ShmName::new("restart-churn");
    // Every attach either finds the segment (and the name still links it
    // while it is attached) or makes a new one: one producer and one
    // consumer joining and leaving at random must always meet.
    for round in 0..200u64 {
        let (tx, rx) = std::thread::scope(|s| {
            let tx = s.spawn(|| Spsc::open_or_create_tx(name.as_str(), &opts()));
            let rx = s.spawn(|| Spsc::open_or_create_rx(name.as_str(), &opts()));
            (tx.join().expect("tx"), rx.join().expect("rx"))
        });
        let (mut tx, mut rx) = (tx.expect("producer"), rx.expect("consumer"));
        Spsc::send(&mut tx, round);
        assert_eq!(Spsc::try_recv(&mut rx), Some(round), "round {round}: apart");
        if round % 2 == 0 {
            drop(tx);
            drop(rx);
        } else {
            std::thread::scope(|s| {
                s.spawn(move || drop(tx));
                s.spawn(move || drop(rx));
            });
        }
        assert!(!exists(&name), "round {round}: the name outlived both ends");
    }
}
