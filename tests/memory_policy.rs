//! The real-time memory options (`Options::prefault`, `lock_memory`,
//! `huge_pages`), seen from outside the crate: the kernel's own accounts
//! (`/proc/self/smaps`, `/proc/self/status`) show the pages resident and
//! locked, a lock beyond `RLIMIT_MEMLOCK` is an error naming it, and huge
//! pages either apply or say why not.
#![cfg(not(any(miri, shmlane_loom)))]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{ShmName, Watchdog};
use shmlane::{HugePages, OpenError, Options, spsc};

/// Slots of the rings here: 4 MiB of u64, far more than the pages a fresh
/// segment has touched (its header).
const SLOTS: usize = 1 << 19;
const SLOT_BYTES: u64 = (SLOTS * 8) as u64;

/// Resident bytes of this process's mapping of `/dev/shm/<name>`, from
/// /proc/self/smaps (the line after the mapping's `Rss:`).
fn resident_bytes(name: &ShmName) -> u64 {
    let smaps = std::fs::read_to_string("/proc/self/smaps").expect("/proc/self/smaps");
    let mut lines = smaps.lines();
    while let Some(line) = lines.next() {
        if !line.ends_with(&format!("/dev/shm/{}", name.as_str())) {
            continue;
        }
        for field in lines.by_ref() {
            if let Some(kb) = field.strip_prefix("Rss:") {
                let kb: u64 = kb.trim().trim_end_matches("kB").trim().parse().unwrap();
                return kb * 1024;
            }
        }
    }
    panic!("no mapping of {} in /proc/self/smaps", name.as_str());
}

#[test]
fn prefault_makes_every_page_resident_at_create_and_open() {
    let (cold, warm) = (ShmName::new("cold"), ShmName::new("prefault"));
    let opts = Options::new().capacity(SLOTS);
    let _cold = spsc::Producer::<u64>::create(cold.as_str(), &opts).unwrap();
    assert!(
        resident_bytes(&cold) < SLOT_BYTES / 2,
        "a fresh segment without prefault is mostly not resident: {} bytes",
        resident_bytes(&cold)
    );
    let tx = spsc::Producer::<u64>::create(warm.as_str(), &opts.clone().prefault(true)).unwrap();
    assert!(tx.memory_report().prefaulted, "{:?}", tx.memory_report());
    assert!(
        resident_bytes(&warm) >= SLOT_BYTES,
        "{} of {SLOT_BYTES} bytes resident after prefault",
        resident_bytes(&warm)
    );
    // The opener maps the segment again: its own mapping is prefaulted too
    // (smaps shows the first mapping of the name; both are resident).
    let rx = spsc::Consumer::<u64>::open(warm.as_str(), &Options::new().prefault(true)).unwrap();
    assert!(rx.memory_report().prefaulted);
    assert!(
        !spsc::Consumer::<u64>::open(cold.as_str(), &Options::new())
            .unwrap()
            .memory_report()
            .prefaulted
    );
}

/// `VmLck` of this process, bytes.
fn locked_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmLck:"))
        .expect("VmLck in /proc/self/status");
    kb.trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .unwrap()
        * 1024
}

/// The one test of this binary that locks memory (VmLck is per process,
/// and the tests of a binary run at once).
#[test]
fn lock_memory_shows_in_vmlck_until_the_endpoint_drops() {
    if std::env::var_os(CHILD).is_some() {
        return; // the child of the RLIMIT test runs that test only
    }
    let name = ShmName::new("locked");
    let before = locked_bytes();
    let opts = Options::new().capacity(SLOTS).lock_memory(true);
    let tx = match spsc::Producer::<u64>::create(name.as_str(), &opts) {
        Ok(tx) => tx,
        Err(e @ OpenError::LockMemory { .. }) => {
            eprintln!("skipped: RLIMIT_MEMLOCK is below {SLOT_BYTES} bytes here: {e}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    assert!(tx.memory_report().locked);
    assert!(
        locked_bytes() >= before + SLOT_BYTES,
        "VmLck {} bytes, was {before}",
        locked_bytes()
    );
    drop(tx);
    assert!(locked_bytes() < before + SLOT_BYTES, "unlocked at drop");
}

/// Set in the child process of the RLIMIT test.
const CHILD: &str = "SHMLANE_TEST_MEMLOCK_CHILD";

/// In a child process (this binary again, running this test only) with
/// RLIMIT_MEMLOCK at 0, and, when root, as `nobody` (root's CAP_IPC_LOCK
/// ignores the limit): locking fails, and the error names the limit.
#[test]
fn a_lock_beyond_rlimit_memlock_is_an_error_naming_it() {
    if std::env::var_os(CHILD).is_none() {
        let _watchdog = Watchdog::new("the RLIMIT_MEMLOCK child", Duration::from_secs(120));
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "a_lock_beyond_rlimit_memlock_is_an_error_naming_it",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "child: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    use nix::sys::resource::{Resource, setrlimit};
    setrlimit(Resource::RLIMIT_MEMLOCK, 0, 0).unwrap();
    if nix::unistd::geteuid().is_root() {
        let nobody = nix::unistd::Uid::from_raw(65534);
        nix::unistd::setgid(nix::unistd::Gid::from_raw(65534)).unwrap();
        nix::unistd::setuid(nobody).unwrap();
    }
    let opts = Options::new().capacity(SLOTS).lock_memory(true);
    let err = spsc::pair::<u64>(&opts).unwrap_err();
    assert!(matches!(err, OpenError::LockMemory { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("RLIMIT_MEMLOCK") && text.contains("0 bytes"),
        "{text}"
    );
}

#[test]
fn huge_pages_apply_or_say_why_not() {
    let opts = Options::new()
        .capacity(SLOTS)
        .huge_pages(HugePages::Transparent);
    let (tx, _rx) = spsc::pair::<u64>(&opts).unwrap();
    let memory = tx.memory_report();
    let setting = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/shmem_enabled")
        .unwrap_or_default();
    let allowed = ["[always]", "[within_size]", "[advise]", "[force]"]
        .iter()
        .any(|s| setting.contains(s));
    if allowed {
        assert!(memory.huge_pages, "{memory:?} with {setting}");
    } else {
        assert!(!memory.huge_pages, "{memory:?}");
        let note = memory.note.expect("a note says why not");
        assert!(note.contains("shmem_enabled"), "{note}");
    }
}

#[test]
fn memory_options_are_refused_where_there_is_no_shared_memory() {
    let err = spsc::heap_pair::<u64>(&Options::new().prefault(true)).unwrap_err();
    assert!(
        matches!(err, OpenError::InvalidConfig(ref m) if m.contains("prefault")),
        "{err}"
    );
    let (tx, _rx) = spsc::pair::<u64>(&Options::new()).unwrap();
    assert_eq!(tx.memory_report(), shmlane::MemoryReport::default());
}
