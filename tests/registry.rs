//! `shmlane::registry`: listing, inspecting and removing the segments in
//! /dev/shm. Every test works only on names of its own (`gc` runs with the
//! test's unique prefix), so that it never touches another test's segment.
#![cfg(not(any(miri, shmlane_loom)))]

mod common;

use std::fs::File;
use std::io::Write;
use std::time::Duration;

use common::{Ready, ShmName, Watchdog, fork_child, put_u32, raw_mapping};
use shmlane::registry::{
    self, GcOptions, GcReport, Liveness, RegistryError, RingKind, RowState, SkipReason, Status,
};
use shmlane::test_support::HeaderOffsets;
use shmlane::{Options, Semaphore, mpmc, spsc};

const LIMIT: Duration = Duration::from_secs(60);

/// Every test of this binary runs alone: a test that forks hands the
/// child a copy of every open file description of the process, and so of
/// the role locks other tests hold, which would keep their segments live
/// for as long as the child lives (see "Peers" in the README).
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn gc_prefix(prefix: &str) -> GcReport {
    registry::gc(&GcOptions {
        dry_run: false,
        min_age: Duration::ZERO,
        prefix: Some(prefix.to_owned()),
    })
    .expect("gc reads /dev/shm")
}

fn removed_names(report: &GcReport) -> Vec<&str> {
    report.removed.iter().map(|e| e.name.as_str()).collect()
}

fn skip_reason<'a>(report: &'a GcReport, name: &str) -> &'a SkipReason {
    &report
        .skipped
        .iter()
        .find(|(entry, _)| entry.name == name)
        .unwrap_or_else(|| panic!("{name} is not among the skipped: {report:#?}"))
        .1
}

fn exists(name: &ShmName) -> bool {
    std::path::Path::new(&name.path()).exists()
}

/// A segment that outlives its endpoints: created, two items pushed,
/// dropped.
fn persisted(name: &ShmName) {
    let opts = Options::new().capacity(8).persist(true);
    let mut tx = spsc::Producer::<u64>::create(name.as_str(), &opts).expect("create");
    tx.push(1).expect("push");
    tx.push(2).expect("push");
}

fn write_file(name: &ShmName, bytes: &[u8]) {
    let mut file = File::create(name.path()).expect("create a file in /dev/shm");
    file.write_all(bytes).expect("write it");
}

#[test]
fn a_live_segment_is_listed_live_with_this_process_s_pid_and_counters() {
    let _serial = serial();
    let _dog = Watchdog::new("live segment", LIMIT);
    let name = ShmName::new("reg-live");
    let opts = Options::new().capacity(16);
    let mut tx = spsc::Producer::<u64>::create(name.as_str(), &opts).expect("create");
    let mut rx = spsc::Consumer::<u64>::open(name.as_str(), &opts).expect("open");
    for i in 0..5 {
        tx.push(i).expect("push");
    }
    rx.pop().expect("pop");

    let entry = registry::inspect(name.as_str()).expect("inspect");
    assert_eq!(entry.liveness, Liveness::Live, "{entry:#?}");
    let segment = entry.segment().expect("a decoded segment");
    assert_eq!(segment.kind, RingKind::Spsc);
    assert_eq!(segment.capacity, 16);
    assert_eq!(segment.slot_size, 8);
    assert_eq!(segment.creator_pid, std::process::id());
    assert_eq!(segment.counters.pushes, 5);
    assert_eq!(segment.counters.pops, 1);
    assert_eq!(segment.fill, Some(Ok(4)));
    let me = std::process::id();
    for role in ["producer", "consumer"] {
        let end = segment
            .endpoints
            .iter()
            .find(|e| e.role == Some(role))
            .unwrap_or_else(|| panic!("no {role} row: {segment:#?}"));
        assert_eq!(end.pid, me, "{role}");
        assert_eq!(end.alive, Some(true), "{role}");
        assert_eq!(end.state, RowState::Attached, "{role}");
    }
    let file = entry.file.as_ref().expect("fstat");
    assert_eq!(file.mode, 0o600);
    assert_eq!(file.uid, nix::unistd::geteuid().as_raw());

    let listed = registry::list_matching(name.as_str()).expect("list");
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0].liveness, Liveness::Live);
    assert!(
        registry::list()
            .expect("list all")
            .iter()
            .any(|e| e.name == name.as_str())
    );
}

#[test]
fn a_dropped_persistent_segment_is_stale_and_gc_removes_it() {
    let _serial = serial();
    let _dog = Watchdog::new("persisted segment", LIMIT);
    let name = ShmName::new("reg-persist");
    persisted(&name);
    let entry = registry::inspect(name.as_str()).expect("inspect");
    assert_eq!(entry.liveness, Liveness::Stale, "{entry:#?}");
    let segment = entry.segment().expect("decoded");
    assert_eq!(segment.fill, Some(Ok(2)));
    assert!(
        segment
            .endpoints
            .iter()
            .all(|e| e.alive == Some(false) && e.state == RowState::Detached),
        "{segment:#?}"
    );

    let dry = registry::gc(&GcOptions {
        dry_run: true,
        min_age: Duration::ZERO,
        prefix: Some(name.0.clone()),
    })
    .expect("gc");
    assert_eq!(removed_names(&dry), [name.as_str()]);
    assert!(exists(&name), "a dry run removes nothing");

    let report = gc_prefix(name.as_str());
    assert_eq!(removed_names(&report), [name.as_str()], "{report:#?}");
    assert!(!exists(&name));
}

#[test]
fn gc_leaves_a_young_stale_segment_alone() {
    let _serial = serial();
    let _dog = Watchdog::new("young segment", LIMIT);
    let name = ShmName::new("reg-young");
    persisted(&name);
    let report = registry::gc(&GcOptions {
        min_age: Duration::from_secs(3600),
        prefix: Some(name.0.clone()),
        ..GcOptions::default()
    })
    .expect("gc");
    assert_eq!(skip_reason(&report, name.as_str()), &SkipReason::Recent);
    assert!(exists(&name));
}

#[test]
fn a_sigkilled_creator_leaves_a_stale_segment_that_gc_removes() {
    let _serial = serial();
    let _dog = Watchdog::new("killed creator", LIMIT);
    let name = ShmName::new("reg-killed");
    let ready = Ready::new();
    let child = fork_child(|| {
        let opts = Options::new().capacity(8);
        let mut tx = spsc::Producer::<u64>::create(name.as_str(), &opts).expect("create");
        tx.push(7).expect("push");
        ready.signal();
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    ready.wait(&child, LIMIT);
    let child_pid = child.pid().as_raw() as u32;
    let live = registry::inspect(name.as_str()).expect("inspect");
    assert_eq!(live.liveness, Liveness::Live);
    let producer = &live.segment().expect("decoded").endpoints[0];
    assert_eq!((producer.pid, producer.alive), (child_pid, Some(true)));

    child.kill();
    let dead = registry::inspect(name.as_str()).expect("inspect");
    assert_eq!(dead.liveness, Liveness::Stale, "{dead:#?}");
    let producer = &dead.segment().expect("decoded").endpoints[0];
    assert_eq!(
        (producer.pid, producer.alive, producer.state),
        (child_pid, Some(false), RowState::Attached),
        "the row still says attached; its lock says dead"
    );
    let report = gc_prefix(name.as_str());
    assert_eq!(removed_names(&report), [name.as_str()], "{report:#?}");
    assert!(!exists(&name));
}

#[test]
fn gc_leaves_a_live_segment_and_a_foreign_file_alone() {
    let _serial = serial();
    let _dog = Watchdog::new("gc skips", LIMIT);
    let base = ShmName::new("reg-gc");
    let live = ShmName(format!("{}-live", base.0));
    let stale = ShmName(format!("{}-stale", base.0));
    let junk = ShmName(format!("{}-junk", base.0));
    let _tx = spsc::Producer::<u64>::create(live.as_str(), &Options::new()).expect("create");
    persisted(&stale);
    write_file(
        &junk,
        b"not a shmlane segment, just some bytes of garbage\n",
    );

    let report = gc_prefix(base.as_str());
    assert_eq!(removed_names(&report), [stale.as_str()], "{report:#?}");
    assert_eq!(skip_reason(&report, live.as_str()), &SkipReason::Live);
    assert!(matches!(
        skip_reason(&report, junk.as_str()),
        SkipReason::NotShmlane(_)
    ));
    assert!(exists(&live) && exists(&junk) && !exists(&stale));
}

#[test]
fn a_truncated_header_and_a_newer_version_are_reported_and_not_removed() {
    let _serial = serial();
    let _dog = Watchdog::new("damaged headers", LIMIT);
    let base = ShmName::new("reg-bad");
    let short = ShmName(format!("{}-short", base.0));
    let newer = ShmName(format!("{}-newer", base.0));
    let mut ten = b"SHMLANE\x01".to_vec();
    ten.extend_from_slice(&[5, 0]);
    write_file(&short, &ten);
    persisted(&newer);
    let offsets = HeaderOffsets::get();
    put_u32(&mut raw_mapping(&newer), offsets.layout_version, 99);

    let entry = registry::inspect(short.as_str()).expect("inspect");
    assert!(
        matches!(entry.status, Status::Truncated { len: 10, .. }),
        "{entry:#?}"
    );
    let entry = registry::inspect(newer.as_str()).expect("inspect");
    match &entry.status {
        Status::Incompatible { field, found, .. } => {
            assert_eq!(*field, "layout_version");
            assert!(found.starts_with("99"), "{found}");
        }
        other => panic!("not incompatible: {other:?}"),
    }

    let report = gc_prefix(base.as_str());
    assert!(report.removed.is_empty(), "{report:#?}");
    assert!(matches!(
        skip_reason(&report, short.as_str()),
        SkipReason::Damaged(_)
    ));
    assert!(matches!(
        skip_reason(&report, newer.as_str()),
        SkipReason::Unknown(_)
    ));
    assert!(exists(&short) && exists(&newer));

    // An explicit removal of a segment of another layout needs force.
    assert!(matches!(
        registry::remove(newer.as_str(), false),
        Err(RegistryError::NotStale { .. })
    ));
    registry::remove(newer.as_str(), true).expect("forced removal");
    assert!(!exists(&newer));
}

#[test]
fn remove_refuses_a_live_segment_unless_forced_and_never_touches_a_foreign_file() {
    let _serial = serial();
    let _dog = Watchdog::new("remove", LIMIT);
    let name = ShmName::new("reg-rm");
    let junk = ShmName::new("reg-rm-junk");
    write_file(&junk, &[0u8; 4096]);
    let mut tx = spsc::Producer::<u64>::create(name.as_str(), &Options::new()).expect("create");
    match registry::remove(name.as_str(), false) {
        Err(RegistryError::NotStale { why, .. }) => assert!(why.contains("live"), "{why}"),
        other => panic!("removed a live segment: {other:?}"),
    }
    assert!(exists(&name));
    let removed = registry::remove(name.as_str(), true).expect("forced");
    assert_eq!(removed.liveness, Liveness::Live);
    assert!(!exists(&name));
    tx.push(1).expect("the endpoint keeps its mapping");

    assert!(matches!(
        registry::remove(junk.as_str(), true),
        Err(RegistryError::NotShmlane { .. })
    ));
    assert!(exists(&junk));
    assert!(matches!(
        registry::remove(name.as_str(), false),
        Err(RegistryError::NotFound { .. })
    ));
    assert!(matches!(
        registry::inspect("a/b"),
        Err(RegistryError::InvalidName { .. })
    ));
}

#[test]
fn an_unpublished_header_nobody_holds_was_abandoned() {
    let _serial = serial();
    let _dog = Watchdog::new("abandoned init", LIMIT);
    let name = ShmName::new("reg-abandoned");
    let mut header = vec![0u8; registry::header_len()];
    header[..8].copy_from_slice(b"SHMLANE\x01");
    write_file(&name, &header);
    let entry = registry::inspect(name.as_str()).expect("inspect");
    assert!(matches!(entry.status, Status::Initializing));
    // No creator lock: its creator died before publishing.
    assert_eq!(entry.liveness, Liveness::Stale);
    let report = gc_prefix(name.as_str());
    assert_eq!(removed_names(&report), [name.as_str()], "{report:#?}");
}

#[test]
fn mpmc_participants_and_semaphores_are_decoded() {
    let _serial = serial();
    let _dog = Watchdog::new("mpmc and semaphore", LIMIT);
    let ring = ShmName::new("reg-mpmc");
    let sem = ShmName::new("reg-sem");
    let opts = Options::new().capacity(8).participants(4);
    let mut tx = mpmc::Sender::<u32>::create(ring.as_str(), &opts).expect("create");
    let _rx = mpmc::Receiver::<u32>::open(ring.as_str(), &opts).expect("open");
    tx.try_send(3).expect("send");
    let entry = registry::inspect(ring.as_str()).expect("inspect");
    let segment = entry.segment().expect("decoded");
    assert_eq!(
        (segment.kind, segment.participants),
        (RingKind::Mpmc, 4),
        "{segment:#?}"
    );
    let mut roles: Vec<_> = segment
        .endpoints
        .iter()
        .filter(|e| e.alive == Some(true))
        .filter_map(|e| e.role)
        .collect();
    roles.sort_unstable();
    assert_eq!(roles, ["receiver", "sender"]);
    assert_eq!(entry.liveness, Liveness::Live);

    let _s = Semaphore::create(sem.as_str(), 3).expect("semaphore");
    let entry = registry::inspect(sem.as_str()).expect("inspect");
    let segment = entry.segment().expect("decoded");
    assert_eq!(
        (segment.kind, segment.semaphore_value),
        (RingKind::Semaphore, Some(3))
    );
    // Its creator holds the creator lock; its other users hold none.
    assert_eq!(entry.liveness, Liveness::Live);
    let report = gc_prefix(sem.as_str());
    assert!(report.removed.is_empty() && exists(&sem), "{report:#?}");
}

#[test]
fn a_stale_segment_of_another_user_is_reported_with_its_owner_and_left() {
    let _serial = serial();
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root (to chown a segment to nobody)");
        return;
    }
    let _dog = Watchdog::new("other owner", LIMIT);
    let name = ShmName::new("reg-nobody");
    persisted(&name);
    std::os::unix::fs::chown(name.path(), Some(65534), Some(65534)).expect("chown to nobody");
    let entry = registry::inspect(name.as_str()).expect("inspect");
    assert_eq!(entry.file.as_ref().map(|f| f.uid), Some(65534));
    assert_eq!(entry.liveness, Liveness::Stale);
    let report = gc_prefix(name.as_str());
    match skip_reason(&report, name.as_str()) {
        SkipReason::OtherOwner { uid, command } => {
            assert_eq!(*uid, 65534);
            assert_eq!(command, &format!("shmlane rm {}", name.as_str()));
        }
        other => panic!("not other-owner: {other:?}"),
    }
    assert!(exists(&name));
}

/// A `Shared<T>` segment is listed as kind `shared`, live while a handle
/// holds its row, with the handle's row as a `holder`; stale once the
/// persistent segment's last handle dropped.
#[test]
fn a_shared_segment_is_listed_with_its_holders() {
    let _serial = serial();
    let _dog = Watchdog::new("shared segment", LIMIT);
    let name = ShmName::new("reg-shared");
    let shared = shmlane::Shared::<[u32; 3]>::create_with(
        name.as_str(),
        &Options::new().participants(4).persist(true),
    )
    .expect("create");
    let entry = registry::inspect(name.as_str()).expect("inspect");
    assert_eq!(entry.liveness, Liveness::Live, "{entry:#?}");
    let segment = entry.segment().expect("a decoded segment");
    assert_eq!(segment.kind, RingKind::Shared);
    assert_eq!(segment.kind.as_str(), "shared");
    assert_eq!(segment.slot_size, 12);
    let holder = segment
        .endpoints
        .iter()
        .find(|e| e.role == Some("holder"))
        .unwrap_or_else(|| panic!("no holder row: {segment:#?}"));
    assert_eq!(holder.pid, std::process::id());
    assert_eq!(holder.alive, Some(true));
    drop(shared);
    let entry = registry::inspect(name.as_str()).expect("inspect");
    assert_eq!(entry.liveness, Liveness::Stale, "{entry:#?}");
}

/// A creator makes its segment under `NAME.creating-PID-N` and links it to
/// `NAME` only once the header is published: a creator killed before that
/// leaves a temporary file, maybe all zero, which `gc` removes when nobody
/// holds it (and leaves while its creator lock is held); the name itself
/// never holds a half-made segment.
#[test]
fn gc_removes_a_dead_creators_temporary_file_and_keeps_a_live_ones() {
    let _serial = serial();
    let _dog = Watchdog::new("creation leftovers", LIMIT);
    let name = ShmName::new("reg-creating");
    let temp = ShmName(format!("{}.creating-4242-7", name.as_str()));
    write_file(&temp, &[0u8; 4096]);
    // Held as its creator would hold it: the creator byte, after the last
    // participant row's (segment/removal.rs).
    let held = File::options()
        .read(true)
        .write(true)
        .open(temp.path())
        .expect("open");
    let creator_byte = libc::flock {
        l_type: libc::F_WRLCK as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: (1 << 48) + i64::from(shmlane::MAX_PARTICIPANTS),
        l_len: 1,
        l_pid: 0,
    };
    nix::fcntl::fcntl(&held, nix::fcntl::FcntlArg::F_OFD_SETLK(&creator_byte)).expect("lock");
    let report = gc_prefix(name.as_str());
    assert!(
        removed_names(&report).is_empty() && exists(&temp),
        "{report:#?}"
    );
    drop(held);
    let report = gc_prefix(name.as_str());
    assert_eq!(removed_names(&report), [temp.as_str()], "{report:#?}");
    assert!(!exists(&temp));
}

/// A create that fails half-way (here: more memory than /dev/shm holds)
/// leaves nothing, under the name or a temporary one.
#[test]
fn a_failed_create_leaves_nothing_behind() {
    let _serial = serial();
    let name = ShmName::new("reg-failed-create");
    let huge = Options::new().capacity(1 << 40);
    let err = spsc::Producer::<u64>::create(name.as_str(), &huge).expect_err("too big");
    assert!(matches!(err, shmlane::OpenError::NoSpace { .. }), "{err}");
    let left = registry::list_matching(name.as_str()).expect("list");
    assert!(left.is_empty(), "{left:#?}");
}

/// Issue 13, item 4: the counters behind `stats()` are in the segment, each
/// side's on its own line, so another process reads them: full and empty
/// hits of non-blocking calls (added in batches, exact once the endpoints
/// drop), waits, positions.
#[test]
fn every_sides_counters_are_read_from_the_segment() {
    let _serial = serial();
    let name = ShmName::new("reg-counters");
    let persist = Options::new().capacity(4).persist(true);
    let mut tx = spsc::Producer::<u64>::create(name.as_str(), &persist).expect("create");
    let mut rx = spsc::Consumer::<u64>::open(name.as_str(), &Options::new()).expect("open");
    let misses = 3000;
    for _ in 0..misses {
        assert!(rx.pop().is_err(), "empty");
    }
    for i in 0..4 {
        tx.push(i).expect("room");
    }
    for _ in 0..misses + 1 {
        assert!(tx.push(9).is_err(), "full");
    }
    // Batches of 1024 are in the segment while the endpoints live.
    let live = tx.stats();
    assert!(
        live.empty_hits >= 2048 && live.full_hits >= 2048,
        "{live:?}"
    );
    drop((tx, rx));
    let entry = registry::inspect(name.as_str()).expect("inspect");
    let counters = entry.segment().expect("decoded").counters;
    assert_eq!(counters.empty_hits, misses, "{counters:?}");
    assert_eq!(counters.full_hits, misses + 1, "{counters:?}");
    assert_eq!((counters.pushes, counters.pops), (4, 0));

    // MPMC counts them the same way.
    let ring = ShmName::new("reg-counters-mpmc");
    let opts = Options::new().capacity(2).participants(2).persist(true);
    let mut tx = mpmc::Sender::<u64>::create(ring.as_str(), &opts).expect("create");
    let mut rx = mpmc::Receiver::<u64>::open(ring.as_str(), &opts).expect("open");
    assert!(rx.try_recv().is_err());
    tx.try_send(1).expect("room");
    tx.try_send(2).expect("room");
    assert!(tx.try_send(3).is_err());
    drop((tx, rx));
    let counters = registry::inspect(ring.as_str())
        .expect("inspect")
        .segment()
        .expect("decoded")
        .counters;
    assert_eq!(
        (counters.empty_hits, counters.full_hits),
        (1, 1),
        "{counters:?}"
    );
}
