//! System V semaphore sets (`shmlane::sysvsem`) across processes: the
//! kernel gives back the unit of a holder SIGKILLed between P and V
//! (`SEM_UNDO`), a `semop` of several semaphores is all or nothing,
//! timeouts, EINTR, removal and its typed error.
#![cfg(not(any(miri, shmlane_loom)))]

mod common;

use std::time::{Duration, Instant};

use common::{Ready, SemKey, Watchdog, assert_waited, fork_child, wait_until};
use shmlane::sysvsem::{SemOp, SemOpError, SemaphoreSet, SetCtlError, SetOpenError, VALUE_MAX};

const LIMIT: Duration = Duration::from_secs(10);

/// Issue 13, item 8: the seeds' lock (a semaphore of value 1, P before
/// touching the memory, V after) with its holder SIGKILLed between P and
/// V. With `SEM_UNDO` the kernel gives the unit back and the next process
/// gets the lock; without it the value would stay 0 for ever.
#[test]
fn a_holder_killed_between_p_and_v_gives_its_unit_back() {
    let _watchdog = Watchdog::new("SEM_UNDO after SIGKILL", LIMIT * 2);
    let key = SemKey::new();
    let lock = SemaphoreSet::create(key.0, 1, 1).unwrap();
    let ready = Ready::new();
    let holder = fork_child(|| {
        let lock = SemaphoreSet::open(key.0).unwrap();
        lock.wait(0).unwrap(); // P, and never V
        ready.signal();
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    ready.wait(&holder, LIMIT);
    assert_eq!(lock.value(0).unwrap(), 0);
    assert!(matches!(lock.try_wait(0), Err(SemOpError::WouldBlock)));
    holder.kill();
    // The next process (a fresh child) takes the lock the dead one held.
    let next = fork_child(|| {
        let lock = SemaphoreSet::open(key.0).unwrap();
        match lock.wait_timeout(0, LIMIT) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("the next holder did not get the lock: {e}");
                1
            }
        }
    });
    assert_eq!(next.wait(LIMIT), 0);
    // It exited holding the unit: the kernel undid that too.
    assert_eq!(lock.value(0).unwrap(), 1);
}

/// `apply` takes both semaphores or neither: a child waiting for two
/// holds none while only one is there, and gets both once the second is
/// posted.
#[test]
fn several_semaphores_change_in_one_atomic_semop() {
    let _watchdog = Watchdog::new("atomic semop", LIMIT * 2);
    let key = SemKey::new();
    let set = SemaphoreSet::create(key.0, 3, 0).unwrap();
    set.set_values(&[1, 0, 5]).unwrap();
    let both = [SemOp::wait(0), SemOp::wait(1)];
    assert!(matches!(set.try_apply(&both), Err(SemOpError::WouldBlock)));
    assert_eq!(
        set.values().unwrap(),
        [1, 0, 5],
        "a failed semop changed nothing"
    );
    let child = fork_child(|| {
        let set = SemaphoreSet::open(key.0).unwrap();
        let ops = [SemOp::wait(0), SemOp::wait(1), SemOp::add(2, -5)];
        match set.apply_timeout(&ops, LIMIT) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("apply: {e}");
                1
            }
        }
    });
    wait_until("the child waits on semaphore 1", LIMIT, || {
        set.waiters(1).unwrap() == 1
    });
    // While it waits for semaphore 1 it holds nothing of 0 or 2.
    assert_eq!(set.values().unwrap(), [1, 0, 5]);
    set.apply(&[SemOp::post(1).without_undo()]).unwrap();
    assert_eq!(child.wait(LIMIT), 0);
    // The child exited: SEM_UNDO gave back what it took.
    assert_eq!(set.values().unwrap(), [1, 1, 5]);
}

#[test]
fn a_timed_wait_times_out_and_a_try_would_block() {
    let key = SemKey::new();
    let set = SemaphoreSet::create(key.0, 1, 0).unwrap();
    let start = Instant::now();
    let timeout = Duration::from_millis(50);
    assert!(matches!(
        set.wait_timeout(0, timeout),
        Err(SemOpError::Timeout)
    ));
    assert_waited(start, timeout, "wait_timeout");
    assert!(matches!(set.try_wait(0), Err(SemOpError::WouldBlock)));
    set.post(0).unwrap();
    set.wait_timeout(0, timeout).unwrap();
}

/// A signal that interrupts a wait (EINTR) resumes it: the wait ends with
/// the post that follows, not with an error.
#[test]
fn a_signal_during_a_wait_resumes_it() {
    let _watchdog = Watchdog::new("EINTR", LIMIT * 2);
    let key = SemKey::new();
    let set = SemaphoreSet::create(key.0, 1, 0).unwrap();
    let child = fork_child(|| {
        extern "C" fn ignore(_: libc::c_int) {}
        // No SA_RESTART: the kernel returns EINTR from semop.
        let action = nix::sys::signal::SigAction::new(
            nix::sys::signal::SigHandler::Handler(ignore),
            nix::sys::signal::SaFlags::empty(),
            nix::sys::signal::SigSet::empty(),
        );
        // SAFETY: the handler does nothing (async-signal-safe).
        unsafe { nix::sys::signal::sigaction(nix::sys::signal::SIGUSR1, &action) }.unwrap();
        let set = SemaphoreSet::open(key.0).unwrap();
        let untimed = set.wait(0);
        let timed = set.wait_timeout(0, LIMIT);
        match (untimed, timed) {
            (Ok(()), Ok(())) => 0,
            other => {
                eprintln!("waits: {other:?}");
                1
            }
        }
    });
    for _ in 0..2 {
        wait_until("the child waits", LIMIT, || set.waiters(0).unwrap() == 1);
        nix::sys::signal::kill(child.pid(), nix::sys::signal::SIGUSR1).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        wait_until("the child waits again", LIMIT, || {
            set.waiters(0).unwrap() == 1
        });
        set.apply(&[SemOp::post(0).without_undo()]).unwrap();
    }
    assert_eq!(child.wait(LIMIT), 0);
}

/// Removing a set wakes its waiters with `Removed`, and every later call
/// says so too.
#[test]
fn a_removed_set_is_a_typed_error() {
    let _watchdog = Watchdog::new("removed set", LIMIT * 2);
    let key = SemKey::new();
    let set = SemaphoreSet::create(key.0, 1, 0).unwrap();
    let child = fork_child(|| {
        let set = SemaphoreSet::open(key.0).unwrap();
        match set.wait_timeout(0, LIMIT) {
            Err(SemOpError::Removed) => 0,
            other => {
                eprintln!("wait on a removed set: {other:?}");
                1
            }
        }
    });
    wait_until("the child waits", LIMIT, || set.waiters(0).unwrap() == 1);
    let opened = SemaphoreSet::open(key.0).unwrap();
    set.remove().unwrap();
    assert_eq!(child.wait(LIMIT), 0);
    assert!(matches!(opened.post(0), Err(SemOpError::Removed)));
    assert!(matches!(opened.value(0), Err(SetCtlError::Removed)));
    assert!(matches!(
        SemaphoreSet::open(key.0),
        Err(SetOpenError::NotFound { .. })
    ));
}

#[test]
fn create_refuses_a_taken_key_and_is_private_to_its_user() {
    let key = SemKey::new();
    let set = SemaphoreSet::create(key.0, 2, 1).unwrap();
    assert!(matches!(
        SemaphoreSet::create(key.0, 2, 1),
        Err(SetOpenError::AlreadyExists { .. })
    ));
    let mut stat = std::mem::MaybeUninit::<libc::semid_ds>::zeroed();
    // SAFETY: IPC_STAT writes one semid_ds into `stat`, live for the call.
    let rc = unsafe { libc::semctl(set.id(), 0, libc::IPC_STAT, stat.as_mut_ptr()) };
    assert_eq!(rc, 0);
    // SAFETY: semctl succeeded and wrote the struct.
    let stat = unsafe { stat.assume_init() };
    assert_eq!(stat.sem_perm.mode & 0o777, 0o600);
    assert_eq!(SemaphoreSet::open(key.0).unwrap().len(), 2);
    // The creator's handle removes the set when it drops.
    drop(set);
    assert!(matches!(
        SemaphoreSet::open(key.0),
        Err(SetOpenError::NotFound { .. })
    ));
}

#[test]
fn bad_indices_values_and_lists_are_typed_errors() {
    let key = SemKey::new();
    let set = SemaphoreSet::create(key.0, 2, 0).unwrap();
    assert!(matches!(
        set.wait(2),
        Err(SemOpError::OutOfRange { index: 2, len: 2 })
    ));
    assert!(matches!(
        set.value(7),
        Err(SetCtlError::OutOfRange { index: 7, len: 2 })
    ));
    assert!(matches!(
        set.set_value(0, VALUE_MAX + 1),
        Err(SetCtlError::InvalidValue(_))
    ));
    assert!(matches!(
        set.set_values(&[1]),
        Err(SetCtlError::InvalidValue(_))
    ));
    assert!(matches!(
        set.try_apply(&[]),
        Err(SemOpError::TooManyOps { count: 0, .. })
    ));
    set.set_value(0, VALUE_MAX).unwrap();
    assert!(matches!(set.post(0), Err(SemOpError::Overflow)));
    assert!(matches!(
        SemaphoreSet::create(key.0, 0, 0),
        Err(SetOpenError::InvalidConfig(_))
    ));
}

/// A private set is shared with a forked child through the handle, and a
/// child's copy of the handle never removes it.
#[test]
fn a_private_set_is_shared_with_a_forked_child() {
    let _watchdog = Watchdog::new("private set", LIMIT * 2);
    let set = SemaphoreSet::private(1, 0).unwrap();
    let child = fork_child(|| {
        set.apply(&[SemOp::post(0).without_undo()]).unwrap();
        0
    });
    assert_eq!(child.wait(LIMIT), 0);
    set.wait_timeout(0, LIMIT).unwrap();
    assert_eq!(set.value(0).unwrap(), 0);
}

/// `open` waits for the creator to set the values (the classic
/// `sem_otime` handshake): a set made by a program that has not touched it
/// with `semop` yet is `NotReady` after the timeout, and opens once it has.
#[test]
fn open_waits_until_the_creator_has_initialised_the_set() {
    let key = SemKey::new();
    // SAFETY: semget takes plain integers; the set is removed by `key`.
    let id = unsafe { libc::semget(key.0, 1, libc::IPC_CREAT | libc::IPC_EXCL | 0o600) };
    assert!(id >= 0, "semget: {}", std::io::Error::last_os_error());
    assert!(matches!(
        SemaphoreSet::open_timeout(key.0, Duration::from_millis(20)),
        Err(SetOpenError::NotReady { .. })
    ));
    let mut op = libc::sembuf {
        sem_num: 0,
        sem_op: 1,
        sem_flg: 0,
    };
    // SAFETY: one live sembuf for the call.
    assert_eq!(unsafe { libc::semop(id, &mut op, 1) }, 0);
    let set = SemaphoreSet::open_timeout(key.0, Duration::from_millis(20)).unwrap();
    assert_eq!(set.value(0).unwrap(), 1);
}

#[test]
fn a_key_from_a_path_is_the_same_for_everyone_and_needs_a_project_byte() {
    let dir = std::env::temp_dir();
    let a = shmlane::sysvsem::key_from_path(&dir, b'x').unwrap();
    assert_eq!(a, shmlane::sysvsem::key_from_path(&dir, b'x').unwrap());
    assert_ne!(a, shmlane::sysvsem::key_from_path(&dir, b'y').unwrap());
    assert!(shmlane::sysvsem::key_from_path(&dir, 0).is_err());
    assert!(shmlane::sysvsem::key_from_path("/nonexistent/shmlane-test-none", b'x').is_err());
}
