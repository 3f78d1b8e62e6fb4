//! Support shared by the integration tests: unique segment names that are
//! removed even when a test fails, a watchdog for anything that could hang,
//! and forked children that cannot outlive the test.

#![allow(dead_code, reason = "each test binary uses a different subset")]
// The loom facade rule (clippy.toml) is for ring code; a name counter in
// test support has nothing for loom to model.
#![allow(clippy::disallowed_types, reason = "test support, not ring code")]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use memmap2::MmapMut;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

/// A segment name unique to this process and call, unlinked on drop.
pub struct ShmName(pub String);

impl ShmName {
    pub fn new(test: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        Self(format!("shmlane-test-{}-{n}-{test}", std::process::id()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn path(&self) -> String {
        format!("/dev/shm/{}", self.0)
    }
}

impl Drop for ShmName {
    fn drop(&mut self) {
        let _ = nix::sys::mman::shm_unlink(format!("/{}", self.0).as_str());
    }
}

/// Fails the whole test binary with `what` if not dropped within `limit`:
/// a hung test becomes a message, not a hung CI.
pub struct Watchdog {
    disarm: Option<mpsc::Sender<()>>,
}

impl Watchdog {
    pub fn new(what: &'static str, limit: Duration) -> Self {
        let (tx, rx) = mpsc::channel::<()>();
        #[allow(clippy::disallowed_methods, reason = "test support, not ring code")]
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                eprintln!("WATCHDOG: {what} did not finish within {limit:?}");
                std::process::exit(101);
            }
        });
        Self { disarm: Some(tx) }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(tx) = self.disarm.take() {
            let _ = tx.send(());
        }
    }
}

/// A forked child running a closure; killed if the parent drops it early.
pub struct Child {
    pid: Pid,
    reaped: bool,
}

/// Forks; the child runs `body` and exits with its return code (101 if it
/// panics). The child dies with the parent (PR_SET_PDEATHSIG).
pub fn fork_child(body: impl FnOnce() -> i32) -> Child {
    // SAFETY: the child only runs `body` (ring operations and plain
    // computation) and then `_exit`s without unwinding into the test harness;
    // glibc's malloc stays usable after fork.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or(101);
            // SAFETY: ends the child without running the parent's atexit
            // handlers or destructors twice.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => Child {
            pid: child,
            reaped: false,
        },
    }
}

impl Child {
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Waits up to `limit` for the child's exit code; kills it and panics
    /// past that.
    pub fn wait(mut self, limit: Duration) -> i32 {
        let start = Instant::now();
        loop {
            match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)).expect("waitpid") {
                WaitStatus::Exited(_, code) => {
                    self.reaped = true;
                    return code;
                }
                WaitStatus::Signaled(_, sig, _) => {
                    self.reaped = true;
                    return 128 + sig as i32;
                }
                _ if start.elapsed() > limit => {
                    let _ = kill(self.pid, Signal::SIGKILL);
                    let _ = waitpid(self.pid, None);
                    self.reaped = true;
                    panic!("child {} did not finish within {limit:?}", self.pid);
                }
                _ => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    }

    /// Whether the child has exited (without reaping it, so `wait` still
    /// reports its code). Producer loops use this to fail fast instead of
    /// waiting on a ring nobody drains.
    pub fn has_exited(&self) -> bool {
        // SAFETY: an all-zero siginfo_t is a valid value to be overwritten.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        // SAFETY: waitid writes into `info`, which lives across the call.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                self.pid.as_raw() as libc::id_t,
                &mut info,
                flags,
            )
        };
        // SAFETY: waitid filled `info` (rc == 0); si_pid is 0 if no child
        // changed state.
        rc == 0 && unsafe { info.si_pid() } != 0
    }

    /// SIGKILLs the child and reaps it.
    pub fn kill(mut self) {
        let _ = kill(self.pid, Signal::SIGKILL);
        let _ = waitpid(self.pid, None);
        self.reaped = true;
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = kill(self.pid, Signal::SIGKILL);
            let _ = waitpid(self.pid, None);
        }
    }
}

/// Backs off politely in a retry loop: a few spins, then yields, so tests
/// that poll across processes do not starve each other on 2 cores.
pub struct Backoff(u32);

impl Backoff {
    pub fn new() -> Self {
        Self(0)
    }

    /// Whether the caller has waited long enough to check on its peer.
    pub fn is_long(&self) -> bool {
        self.0 > 0 && self.0.is_multiple_of(100_000)
    }

    pub fn reset(&mut self) {
        self.0 = 0;
    }

    pub fn snooze(&mut self) {
        if self.0 < 64 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
        self.0 = self.0.saturating_add(1);
    }
}

/// A writable second mapping of the named segment, as a hostile or broken
/// peer would have.
pub fn raw_mapping(name: &ShmName) -> MmapMut {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.path())
        .unwrap();
    // SAFETY: test-only second mapping; the test writes through it while no
    // endpoint operation runs concurrently.
    unsafe { MmapMut::map_mut(&file).unwrap() }
}

pub fn put_u64(map: &mut MmapMut, offset: usize, value: u64) {
    map[offset..offset + 8].copy_from_slice(&value.to_ne_bytes());
}

pub fn put_u32(map: &mut MmapMut, offset: usize, value: u32) {
    map[offset..offset + 4].copy_from_slice(&value.to_ne_bytes());
}

/// Zeroed memory shared with the children forked after it is made
/// (MAP_SHARED | MAP_ANONYMOUS): children write their findings, the parent
/// reads them after reaping them.
pub struct SharedBytes {
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

impl SharedBytes {
    pub fn new(len: usize) -> Self {
        let size = std::num::NonZeroUsize::new(len).expect("non-empty");
        // SAFETY: a new anonymous mapping at an address of the kernel's
        // choosing cannot alias memory Rust already owns.
        let ptr = unsafe {
            nix::sys::mman::mmap_anonymous(
                None,
                size,
                nix::sys::mman::ProtFlags::PROT_READ | nix::sys::mman::ProtFlags::PROT_WRITE,
                nix::sys::mman::MapFlags::MAP_SHARED,
            )
        }
        .expect("mmap");
        Self {
            ptr: ptr.cast(),
            len,
        }
    }

    /// The bytes. Each process writes only its own part while others run;
    /// the parent reads after the writers exited (waitpid orders it).
    #[allow(clippy::mut_from_ref, reason = "shared by processes, not references")]
    pub fn bytes(&self) -> &mut [u8] {
        // SAFETY: `len` bytes mapped readable and writable, zero-filled,
        // alive until drop; callers keep each process to its own part.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for SharedBytes {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        let _ = unsafe { nix::sys::mman::munmap(self.ptr.cast(), self.len) };
    }
}
