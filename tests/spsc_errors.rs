//! Every bad input of the foundation gets its typed error, against real
//! shared-memory segments (corrupted from a second mapping where needed).
#![cfg(not(any(miri, shmlane_loom)))]

mod common;

use std::fs::OpenOptions;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::time::{Duration, Instant};

use common::{
    Ready, ShmName, corruption, fork_child, incompatible, incompatible_field, put_u32, put_u64,
    raw_mapping, wait_until_sleeping,
};
use memmap2::MmapMut;
use shmlane::test_support::HeaderOffsets;
use shmlane::{OpenError, Options, PopError, PushError, spsc};

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn open_of_a_missing_name_is_not_found() {
    let name = ShmName::new("missing");
    let err = spsc::Consumer::<u64>::open(name.as_str(), &Options::new()).unwrap_err();
    assert!(
        matches!(err, OpenError::NotFound { ref name } if name.contains("missing")),
        "{err}"
    );
}

#[test]
fn create_of_an_existing_name_is_already_exists() {
    let name = ShmName::new("exists");
    let _tx = spsc::Producer::<u64>::create(name.as_str(), &Options::new()).unwrap();
    let err = spsc::Consumer::<u64>::create(name.as_str(), &Options::new()).unwrap_err();
    assert!(matches!(err, OpenError::AlreadyExists { .. }), "{err}");
}

#[test]
fn another_type_is_incompatible_naming_the_field() {
    let name = ShmName::new("type");
    let _tx = spsc::Producer::<u64>::create(name.as_str(), &Options::new()).unwrap();
    let err = spsc::Consumer::<u32>::open(name.as_str(), &Options::new()).unwrap_err();
    let (field, expected, found) = incompatible(err);
    assert_eq!(field, "slot type size/align");
    assert!(
        expected.contains("u32") && found.contains("u64"),
        "{expected} / {found}"
    );
    // Same size and alignment, another type: the type name decides.
    let err = spsc::Consumer::<i64>::open(name.as_str(), &Options::new()).unwrap_err();
    let (field, expected, found) = incompatible(err);
    assert_eq!(
        (field, expected.as_str(), found.as_str()),
        ("type", "i64", "u64")
    );
}

#[test]
fn a_schema_id_replaces_the_type_name_check() {
    let name = ShmName::new("schema");
    let opts = Options::new().schema_id(7);
    let _tx = spsc::Producer::<u64>::create(name.as_str(), &opts).unwrap();
    spsc::Consumer::<i64>::open(name.as_str(), &opts).expect("same schema, same size/align");
    let err = spsc::Consumer::<i64>::open(name.as_str(), &Options::new().schema_id(8)).unwrap_err();
    assert_eq!(incompatible_field(err), "schema_id");
}

#[test]
fn another_capacity_is_incompatible_and_none_adopts_the_segments() {
    let name = ShmName::new("capacity");
    let _tx = spsc::Producer::<u64>::create(name.as_str(), &Options::new().capacity(64)).unwrap();
    let err =
        spsc::Consumer::<u64>::open(name.as_str(), &Options::new().capacity(128)).unwrap_err();
    let (field, expected, found) = incompatible(err);
    assert_eq!(
        (field, expected.as_str(), found.as_str()),
        ("capacity", "128", "64")
    );
    let rx = spsc::Consumer::<u64>::open(name.as_str(), &Options::new()).unwrap();
    assert_eq!(rx.capacity(), 64);
}

#[test]
fn another_layout_version_is_incompatible() {
    let name = ShmName::new("version");
    let _tx = spsc::Producer::<u64>::create(name.as_str(), &Options::new()).unwrap();
    put_u32(
        &mut raw_mapping(&name),
        HeaderOffsets::get().layout_version,
        999,
    );
    let err = spsc::Consumer::<u64>::open(name.as_str(), &Options::new()).unwrap_err();
    assert_eq!(
        incompatible(err),
        (
            "layout_version",
            shmlane::test_support::LAYOUT_VERSION.to_string(),
            "999".into()
        )
    );
}

#[test]
fn another_ring_kind_is_incompatible() {
    let name = ShmName::new("kind");
    let _tx = spsc::Producer::<u64>::create(name.as_str(), &Options::new()).unwrap();
    put_u32(&mut raw_mapping(&name), HeaderOffsets::get().kind, 77);
    let err = spsc::Consumer::<u64>::open(name.as_str(), &Options::new()).unwrap_err();
    assert_eq!(incompatible_field(err), "ring kind");
}

#[test]
fn a_bad_magic_is_corrupted() {
    let name = ShmName::new("magic");
    let _tx = spsc::Producer::<u64>::create(name.as_str(), &Options::new()).unwrap();
    put_u64(
        &mut raw_mapping(&name),
        HeaderOffsets::get().magic,
        0xdead_beef,
    );
    let c = corruption(spsc::Consumer::<u64>::open(name.as_str(), &Options::new()).unwrap_err());
    assert!(c.what.contains("magic") && c.found == 0xdead_beef, "{c}");
}

#[test]
fn a_segment_smaller_than_its_header_is_corrupted() {
    let name = ShmName::new("small");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        // Whatever the umask: an opener refuses what others may write.
        .mode(0o600)
        .open(name.path())
        .unwrap();
    file.set_len(100).unwrap();
    let opts = Options::new().open_timeout(Duration::from_millis(20));
    let c = corruption(spsc::Consumer::<u64>::open(name.as_str(), &opts).unwrap_err());
    assert_eq!((c.found, c.limit), (100, HeaderOffsets::get().len as u64));
}

#[test]
fn a_file_shorter_than_the_header_says_is_corrupted() {
    let name = ShmName::new("short");
    let _tx = spsc::Producer::<u64>::create(name.as_str(), &Options::new().capacity(1024)).unwrap();
    // Say the ring is bigger than the file: the slot area would run off the end.
    put_u64(
        &mut raw_mapping(&name),
        HeaderOffsets::get().capacity,
        1 << 20,
    );
    let c = corruption(spsc::Consumer::<u64>::open(name.as_str(), &Options::new()).unwrap_err());
    assert!(c.what.contains("segment length"), "{c}");
}

#[test]
fn indices_further_apart_than_the_capacity_are_corrupted_at_open_and_at_pop() {
    let name = ShmName::new("indices");
    let opts = Options::new().capacity(16);
    let mut tx = spsc::Producer::<u64>::create(name.as_str(), &opts).unwrap();
    let offsets = HeaderOffsets::get();
    let mut rx = spsc::Consumer::<u64>::open(name.as_str(), &opts).unwrap();
    tx.push(1).unwrap();
    assert_eq!(rx.pop(), Ok(1));
    put_u64(&mut raw_mapping(&name), offsets.tail, 1_000_000);
    let err = rx.pop().unwrap_err();
    assert!(
        matches!(&err, PopError::Corrupted(c) if c.found == 1_000_000 - 1 && c.limit == 16),
        "{err}"
    );
    drop(rx);
    let c = corruption(spsc::Consumer::<u64>::open(name.as_str(), &opts).unwrap_err());
    assert_eq!(c.limit, 16);
    // Tail behind head is just as impossible.
    let mut map = raw_mapping(&name);
    put_u64(&mut map, offsets.head, 50);
    put_u64(&mut map, offsets.tail, 49);
    corruption(spsc::Consumer::<u64>::open(name.as_str(), &opts).unwrap_err());
}

#[test]
fn an_uninitialised_segment_times_out_and_a_garbage_init_state_is_corrupted() {
    let name = ShmName::new("uninit");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        // Whatever the umask: an opener refuses what others may write.
        .mode(0o600)
        .open(name.path())
        .unwrap();
    file.set_len(1 << 16).unwrap();
    let timeout = Duration::from_millis(30);
    let opts = Options::new().open_timeout(timeout);
    let start = Instant::now();
    let err = spsc::Consumer::<u64>::open(name.as_str(), &opts).unwrap_err();
    assert!(start.elapsed() >= timeout, "gave up early");
    assert!(
        matches!(err, OpenError::Timeout { waited_ms, .. } if waited_ms >= 30),
        "{err}"
    );
    put_u32(
        &mut raw_mapping(&name),
        HeaderOffsets::get().init_state,
        12345,
    );
    let c = corruption(spsc::Consumer::<u64>::open(name.as_str(), &opts).unwrap_err());
    assert_eq!(c.found, 12345);
}

#[test]
fn open_waits_for_a_creator_that_is_still_initialising() {
    // A creator that has made the name but not yet sized or published it:
    // the opener must wait, not fail. We play that creator by hand, then
    // unlink and create the real segment while the opener waits.
    let name = ShmName::new("slowcreator");
    let placeholder = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        // Whatever the umask: an opener refuses what others may write.
        .mode(0o600)
        .open(name.path())
        .unwrap();
    let ready = Ready::new();
    let child = fork_child(|| {
        let opts = Options::new().open_timeout(Duration::from_secs(20));
        ready.signal();
        match spsc::Consumer::<u64>::open(name.as_str(), &opts) {
            Ok(_) => 0,
            Err(e) => panic!("child open: {e}"),
        }
    });
    // Past the signal, the child sleeps only in open's retry pause: it has
    // looked at the empty placeholder at least once and is waiting.
    ready.wait(&child, WAIT);
    wait_until_sleeping(child.pid(), WAIT);
    // Now finish "creating": size the placeholder and copy in a real header.
    let donor = ShmName::new("donor");
    let _tx = spsc::Producer::<u64>::create(donor.as_str(), &Options::new()).unwrap();
    let image = std::fs::read(donor.path()).unwrap();
    placeholder.set_len(image.len() as u64).unwrap();
    // SAFETY: test-only mapping of a file this test owns.
    let mut map = unsafe { MmapMut::map_mut(&placeholder).unwrap() };
    let init = HeaderOffsets::get().init_state;
    map[..init].copy_from_slice(&image[..init]);
    map[init + 4..].copy_from_slice(&image[init + 4..]);
    map[init..init + 4].copy_from_slice(&image[init..init + 4]);
    assert_eq!(child.wait(WAIT), 0);
}

#[test]
fn no_space_is_reported_at_create_and_leaves_no_name_behind() {
    let name = ShmName::new("nospace");
    // 2^40 slots of 8 bytes: 8 TiB, more than any /dev/shm here.
    let err = spsc::Producer::<u64>::create(name.as_str(), &Options::new().capacity(1 << 40))
        .unwrap_err();
    assert!(
        matches!(err, OpenError::NoSpace { bytes, .. } if bytes > 1 << 43),
        "{err}"
    );
    assert!(!std::path::Path::new(&name.path()).exists());
}

#[test]
fn capacity_zero_non_power_or_overflowing_is_invalid_config() {
    let name = ShmName::new("config");
    for capacity in [0, 3, 1 << 62, usize::MAX] {
        let err =
            spsc::Producer::<[u64; 4]>::create(name.as_str(), &Options::new().capacity(capacity))
                .unwrap_err();
        assert!(
            matches!(err, OpenError::InvalidConfig(_)),
            "{capacity}: {err}"
        );
    }
    let err =
        spsc::Producer::<u64>::create(name.as_str(), &Options::new().mode(0o1777)).unwrap_err();
    assert!(matches!(err, OpenError::InvalidConfig(_)), "{err}");
    assert!(!std::path::Path::new(&name.path()).exists());
}

#[test]
fn bad_names_are_invalid_config() {
    let long = "x".repeat(300);
    for bad in ["", "/", "a/b", ".", "..", "nul\0byte", long.as_str()] {
        let err = spsc::Producer::<u64>::create(bad, &Options::new()).unwrap_err();
        assert!(matches!(err, OpenError::InvalidConfig(_)), "{bad:?}: {err}");
    }
}

#[test]
fn options_for_named_segments_are_refused_for_a_pair() {
    for opts in [
        Options::new().mode(0o600),
        Options::new().persist(true),
        Options::new().open_timeout(Duration::from_secs(1)),
    ] {
        let err = spsc::pair::<u64>(&opts).unwrap_err();
        assert!(matches!(err, OpenError::InvalidConfig(_)), "{err}");
    }
}

#[test]
fn a_second_endpoint_of_a_taken_role_is_refused() {
    let name = ShmName::new("roles");
    let _tx = spsc::Producer::<u64>::create(name.as_str(), &Options::new()).unwrap();
    let err = spsc::Producer::<u64>::open(name.as_str(), &Options::new()).unwrap_err();
    assert!(
        matches!(
            err,
            OpenError::RoleTaken {
                role: "producer",
                ..
            }
        ),
        "{err}"
    );
    let rx = spsc::Consumer::<u64>::open(name.as_str(), &Options::new()).unwrap();
    let err = spsc::Consumer::<u64>::open(name.as_str(), &Options::new()).unwrap_err();
    assert!(
        matches!(
            err,
            OpenError::RoleTaken {
                role: "consumer",
                ..
            }
        ),
        "{err}"
    );
    drop(rx);
    spsc::Consumer::<u64>::open(name.as_str(), &Options::new()).expect("role free after drop");
}

#[test]
fn without_permission_open_is_permission() {
    let name = ShmName::new("perm");
    // Root bypasses file modes: the test switches to another user in a
    // child, which only root may do.
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root (to setuid to another user in a child)");
        return;
    }
    let _tx = spsc::Producer::<u64>::create(name.as_str(), &Options::new()).unwrap();
    let child = fork_child(|| {
        if nix::unistd::setuid(nix::unistd::Uid::from_raw(65534)).is_err() {
            return 2;
        }
        match spsc::Consumer::<u64>::open(name.as_str(), &Options::new()) {
            Err(OpenError::Permission { .. }) => 0,
            Err(e) => {
                eprintln!("child: {e}");
                1
            }
            Ok(_) => 1,
        }
    });
    assert_eq!(child.wait(WAIT), 0);
}

#[test]
fn the_mode_is_exact_whatever_the_umask() {
    let name = ShmName::new("mode");
    // umask is per process: change it in a child only.
    let child = fork_child(|| {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
        let opts = Options::new().mode(0o644).persist(true);
        i32::from(spsc::Producer::<u64>::create(name.as_str(), &opts).is_err())
    });
    assert_eq!(child.wait(WAIT), 0);
    let mode = std::fs::metadata(name.path()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644);
    let default = ShmName::new("mode-default");
    let _tx = spsc::Producer::<u64>::create(default.as_str(), &Options::new()).unwrap();
    let mode = std::fs::metadata(default.path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn the_creator_unlinks_on_drop_unless_persisted() {
    let name = ShmName::new("unlink");
    drop(spsc::Producer::<u64>::create(name.as_str(), &Options::new()).unwrap());
    assert!(!std::path::Path::new(&name.path()).exists());
    drop(spsc::Producer::<u64>::create(name.as_str(), &Options::new().persist(true)).unwrap());
    assert!(std::path::Path::new(&name.path()).exists());
    spsc::Consumer::<u64>::open(name.as_str(), &Options::new()).expect("persisted segment opens");
}

#[test]
fn a_creator_unlinks_its_segment_even_without_read_permission_on_it() {
    let name = ShmName::new("write-only");
    drop(spsc::Producer::<u64>::create(name.as_str(), &Options::new().mode(0o200)).unwrap());
    assert!(!std::path::Path::new(&name.path()).exists());
}

#[test]
fn the_creator_never_unlinks_a_name_that_now_names_another_segment() {
    let name = ShmName::new("reused");
    let first = spsc::Producer::<u64>::create(name.as_str(), &Options::new()).unwrap();
    std::fs::remove_file(name.path()).unwrap();
    let _second = spsc::Producer::<u64>::create(name.as_str(), &Options::new()).unwrap();
    drop(first);
    assert!(
        std::path::Path::new(&name.path()).exists(),
        "the second segment survived"
    );
    spsc::Consumer::<u64>::open(name.as_str(), &Options::new()).expect("second segment opens");
}

/// Issue 15, A3: a named segment truncated under a live endpoint (by a
/// process with write permission) is found at the next liveness tick of a
/// blocking call: `Corrupted`, and the endpoint poisoned before it touches
/// a slot past the new end (which would raise SIGBUS).
#[test]
fn a_segment_shrunk_under_a_blocked_endpoint_is_corrupted_not_sigbus() {
    let _dog = common::Watchdog::new("shrunk segment", Duration::from_secs(20));
    let name = ShmName::new("shrunk");
    let opts = Options::new().capacity(4096);
    let mut tx = spsc::Producer::<u64>::create(name.as_str(), &opts).expect("create");
    let mut rx = spsc::Consumer::<u64>::open(name.as_str(), &opts).expect("open");
    tx.push(1).expect("push");
    assert_eq!(rx.pop(), Ok(1));
    // Keep the header's page, cut the slots off.
    OpenOptions::new()
        .write(true)
        .open(name.path())
        .and_then(|f| f.set_len(4096))
        .expect("truncate");
    let err = rx.recv_timeout(Duration::from_secs(5)).expect_err("shrunk");
    assert!(
        matches!(&err, PopError::Corrupted(c) if c.what.contains("shrunk")),
        "{err:?}"
    );
    // Poisoned: later calls say so without touching the slots.
    assert!(matches!(rx.pop(), Err(PopError::Corrupted(_))));
    drop(tx);
}

#[test]
#[cfg(target_pointer_width = "64")]
fn a_push_or_pop_result_of_a_word_is_two_words() {
    // The contract behind the boxed `Corrupted` payloads: small enough to
    // come back in registers (a 48-byte result went through memory and
    // stalled a busy async producer behind its own stores).
    let two_words = 2 * std::mem::size_of::<usize>();
    assert_eq!(std::mem::size_of::<Result<(), PushError<u64>>>(), two_words);
    assert_eq!(std::mem::size_of::<Result<u64, PopError>>(), two_words);
    assert_eq!(std::mem::size_of::<PushError<u64>>(), two_words);
    assert_eq!(std::mem::size_of::<PopError>(), two_words);
}

#[test]
fn a_push_refused_by_corruption_hands_back_the_value_and_names_the_fault() {
    let name = ShmName::new("corrupt-push");
    let opts = Options::new().capacity(16);
    let mut tx = spsc::Producer::<u64>::create(name.as_str(), &opts).unwrap();
    let _rx = spsc::Consumer::<u64>::open(name.as_str(), &opts).unwrap();
    // Fill the cached view so the push re-reads head, then corrupt head.
    for v in 0..16 {
        tx.push(v).unwrap();
    }
    put_u64(
        &mut raw_mapping(&name),
        HeaderOffsets::get().head,
        1_000_000,
    );
    let err = tx.push(77).unwrap_err();
    let found = err.corruption().copied().expect("a corruption");
    assert!(found.found > 16, "{found}");
    assert!(err.to_string().contains(&found.to_string()), "{err}");
    assert!(format!("{err:?}").starts_with("Corrupted("), "{err:?}");
    assert_eq!(err.into_inner(), 77);
    // Poisoned: the same fault again, with the new value handed back.
    match tx.send(78) {
        Err(PushError::Corrupted(refused)) => {
            assert_eq!((refused.value, refused.corruption), (78, found));
        }
        other => panic!("expected Corrupted, got {other:?}"),
    }
    assert_eq!(PushError::Full(1u64).corruption(), None);
}
