//! Support shared by the integration tests: unique segment names that are
//! removed even when a test fails, a watchdog for anything that could hang,
//! forked children that cannot outlive the test and whose failures reach
//! the parent's output, ways to wait for an event instead of sleeping, and
//! the matchers for open errors.

#![allow(dead_code, reason = "each test binary uses a different subset")]
// The loom facade rule (clippy.toml) is for ring code; a name counter in
// test support has nothing for loom to model.
#![allow(clippy::disallowed_types, reason = "test support, not ring code")]

use std::cell::RefCell;
use std::os::fd::{AsFd, AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::{Once, mpsc};
use std::time::{Duration, Instant};

use memmap2::MmapMut;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, pipe2};
use shmlane::{Corruption, OpenError};

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
///
/// The child's standard error (file descriptor 2) and panic messages go to
/// a pipe that the parent reads: libtest's output capture is still set in
/// the forked child, so `eprintln!` and the default panic hook would write
/// into a copy of the parent's capture buffer that nobody ever prints.
pub struct Child {
    pid: Pid,
    reaped: bool,
    /// Read end of the child's report pipe (non-blocking).
    report: OwnedFd,
    /// What the child reported so far.
    text: RefCell<Vec<u8>>,
}

/// The report pipe of this process if it is a forked child, else -1.
static REPORT_FD: AtomicI32 = AtomicI32::new(-1);

/// Installs (once per test binary) a panic hook that, in a forked child,
/// writes the panic's location and message to the report pipe, and in the
/// test process itself defers to the hook it replaced.
fn install_report_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let fd = REPORT_FD.load(Ordering::Relaxed);
            if fd < 0 {
                return previous(info);
            }
            let message = info
                .payload_as_str()
                .unwrap_or("(a panic payload that is not a string)");
            let at = info
                .location()
                .map_or_else(|| "an unknown place".to_owned(), ToString::to_string);
            let text = format!(
                "child {} panicked at {at}:\n{message}\n",
                std::process::id()
            );
            write_raw(fd, text.as_bytes());
        }));
    });
}

/// Writes all of `bytes` to `fd`, past the std output capture; gives up
/// silently on an error (there is nobody left to tell).
fn write_raw(fd: RawFd, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a live slice of `bytes.len()` bytes; `fd` is an
        // open descriptor of this process (the report pipe).
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 {
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

/// Forks; the child runs `body` and exits with its return code (101 if it
/// panics). The child dies with the parent (PR_SET_PDEATHSIG). A panic in
/// the child, with its location, and whatever the child writes to file
/// descriptor 2 reach the parent: [`Child::wait`] puts them into its panic
/// message.
pub fn fork_child(body: impl FnOnce() -> i32) -> Child {
    install_report_hook();
    let (report, report_tx) = pipe2(OFlag::O_CLOEXEC).expect("report pipe");
    // SAFETY: the child only runs `body` (ring operations and plain
    // computation) and then `_exit`s without unwinding into the test harness;
    // glibc's malloc stays usable after fork.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
            drop(report);
            // SAFETY: dup2 onto 2 of a descriptor this process owns; fd 2
            // is replaced atomically, nothing in this process holds it as
            // an OwnedFd.
            if unsafe { libc::dup2(report_tx.as_raw_fd(), 2) } == 2 {
                drop(report_tx);
                REPORT_FD.store(2, Ordering::Relaxed);
            } else {
                REPORT_FD.store(report_tx.into_raw_fd(), Ordering::Relaxed);
            }
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or(101);
            // SAFETY: ends the child without running the parent's atexit
            // handlers or destructors twice.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(report_tx);
            fcntl(&report, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).expect("non-blocking report");
            Child {
                pid: child,
                reaped: false,
                report,
                text: RefCell::new(Vec::new()),
            }
        }
    }
}

impl Child {
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Waits up to `limit` for the child's exit code; kills it and panics
    /// past that. A child that failed (a non-zero exit) and reported
    /// something (a panic, or text on its fd 2) makes this panic with that
    /// report, so that the child's own words are in the test's failure.
    pub fn wait(mut self, limit: Duration) -> i32 {
        let code = self.reap(limit);
        if code != 0 && !self.text.borrow().is_empty() {
            panic!(
                "child {} failed with exit code {code}{}",
                self.pid,
                self.report()
            );
        }
        code
    }

    /// Waits like [`Child::wait`], but gives a failure back instead of
    /// panicking: `Err` with the exit code and the child's report unless it
    /// exited 0. For a test that puts the child's failure together with its
    /// own (see [`assert_both_succeed`]).
    pub fn finish(mut self, limit: Duration) -> Result<(), String> {
        match self.reap(limit) {
            0 => Ok(()),
            code => Err(format!(
                "child {} failed with exit code {code}{}",
                self.pid,
                self.report_or_nothing()
            )),
        }
    }

    /// Waits up to `limit` for the child's exit code and reaps it; kills it
    /// and panics past that.
    fn reap(&mut self, limit: Duration) -> i32 {
        let start = Instant::now();
        let code = loop {
            // Drained while waiting: a child blocked on a full pipe would
            // never exit.
            self.drain_report();
            match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)).expect("waitpid") {
                WaitStatus::Exited(_, code) => break code,
                WaitStatus::Signaled(_, sig, _) => break 128 + sig as i32,
                _ if start.elapsed() > limit => {
                    let _ = kill(self.pid, Signal::SIGKILL);
                    let _ = waitpid(self.pid, None);
                    self.reaped = true;
                    panic!(
                        "child {} did not finish within {limit:?}{}",
                        self.pid,
                        self.report()
                    );
                }
                _ => std::thread::sleep(Duration::from_millis(2)),
            }
        };
        self.reaped = true;
        self.drain_report();
        code
    }

    /// Reads what the child has reported so far (without blocking).
    fn drain_report(&self) {
        let mut text = self.text.borrow_mut();
        let mut buf = [0u8; 4096];
        // Bounded: a runaway child does not fill the parent's memory.
        while text.len() < 1 << 20 {
            match nix::unistd::read(&self.report, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => text.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// The child's report as a suffix for a panic message ("" if none).
    fn report(&self) -> String {
        self.drain_report();
        let text = self.text.borrow();
        if text.is_empty() {
            String::new()
        } else {
            format!("; it reported:\n{}", String::from_utf8_lossy(&text))
        }
    }

    /// [`Child::report`], saying so when the child reported nothing.
    fn report_or_nothing(&self) -> String {
        match self.report() {
            text if text.is_empty() => "; it reported nothing".to_owned(),
            text => text,
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

/// Fails the test unless both the parent's side (`parent`) and the child
/// succeeded, with both sides' failures in the message. A parent that
/// failed kills the child rather than wait for it (it may be waiting for
/// the parent), and reports what the child said until then.
#[track_caller]
pub fn assert_both_succeed(parent: Result<(), String>, mut child: Child, limit: Duration) {
    match parent {
        Ok(()) => {
            if let Err(child_failure) = child.finish(limit) {
                panic!("{child_failure}");
            }
        }
        Err(parent_failure) => {
            let _ = kill(child.pid, Signal::SIGKILL);
            let _ = waitpid(child.pid, None);
            child.reaped = true;
            panic!(
                "{parent_failure}\n(child {} killed for it{})",
                child.pid,
                child.report_or_nothing()
            );
        }
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

/// A one-shot "I am ready" from a forked child to its parent, on a pipe.
pub struct Ready {
    rx: OwnedFd,
    tx: OwnedFd,
}

impl Ready {
    /// Made before the fork, so that both processes hold it.
    pub fn new() -> Self {
        let (rx, tx) = pipe2(OFlag::O_CLOEXEC).expect("ready pipe");
        Self { rx, tx }
    }

    /// In the child: tells the parent that it got there.
    pub fn signal(&self) {
        assert_eq!(nix::unistd::write(&self.tx, b"!").expect("signal ready"), 1);
    }

    /// In the parent: waits up to `limit` for the child's signal; panics,
    /// with the child's report, if the child exits first or takes longer.
    pub fn wait(&self, child: &Child, limit: Duration) {
        let start = Instant::now();
        loop {
            let mut poll = libc::pollfd {
                fd: self.rx.as_fd().as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd that lives across the call.
            let n = unsafe { libc::poll(&mut poll, 1, 10) };
            if n == 1 {
                let mut byte = [0u8; 1];
                assert_eq!(
                    nix::unistd::read(&self.rx, &mut byte).expect("read ready"),
                    1
                );
                return;
            }
            assert!(
                !child.has_exited(),
                "child {} exited before it was ready{}",
                child.pid,
                child.report()
            );
            assert!(
                start.elapsed() < limit,
                "child {} not ready within {limit:?}{}",
                child.pid,
                child.report()
            );
        }
    }
}

/// Spins, then yields, until `done` holds; panics naming `what` past
/// `limit`. For events another process makes visible in shared memory
/// (such as a ring counter showing that the peer is now waiting).
pub fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    let mut backoff = Backoff::new();
    while !done() {
        backoff.snooze();
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
    }
}

/// The scheduler state of process `pid` ('R' running, 'S' sleeping, ...),
/// from /proc/PID/stat; None once it is gone.
pub fn process_state(pid: Pid) -> Option<char> {
    state_in(&format!("/proc/{pid}/stat"))
}

/// The scheduler state of thread `tid` of process `pid` (see
/// [`process_state`]).
pub fn thread_state(pid: Pid, tid: Pid) -> Option<char> {
    state_in(&format!("/proc/{pid}/task/{tid}/stat"))
}

/// Whether this process's thread `tid` is blocked in a sleep
/// (`nanosleep`/`clock_nanosleep`), as `/proc/self/task/TID/syscall`
/// shows: its first field is the number of the syscall a blocked thread is
/// in (`running` for a running one). Narrower than [`thread_state`]'s 'S',
/// which a futex or a poll also gives.
pub fn thread_is_sleeping(tid: Pid) -> bool {
    let path = format!("/proc/self/task/{tid}/syscall");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let syscall = text
        .split_whitespace()
        .next()
        .and_then(|n| n.parse::<libc::c_long>().ok());
    matches!(syscall, Some(n) if n == libc::SYS_nanosleep || n == libc::SYS_clock_nanosleep)
}

fn state_in(path: &str) -> Option<char> {
    let stat = std::fs::read_to_string(path).ok()?;
    // "pid (comm) state ...": comm may hold spaces and parentheses.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.trim_start().chars().next()
}

/// Waits until the single-threaded process `pid` sleeps (state 'S', as in
/// a sleep, futex or poll), up to `limit`.
pub fn wait_until_sleeping(pid: Pid, limit: Duration) {
    wait_until(&format!("process {pid} asleep"), limit, || {
        process_state(pid) == Some('S')
    });
}

/// Checks that a call that timed out waited at least its `timeout` since
/// `start` (a lower bound: never an upper one, which would flake).
pub fn assert_waited(start: Instant, timeout: Duration, what: &str) {
    let waited = start.elapsed();
    assert!(
        waited >= timeout,
        "{what} timed out after {waited:?}, before its {timeout:?}"
    );
}

/// The field, expected and found value of an `Incompatible` open error;
/// panics on any other error.
pub fn incompatible(err: OpenError) -> (&'static str, String, String) {
    match err {
        OpenError::Incompatible {
            field,
            expected,
            found,
            ..
        } => (field, expected, found),
        other => panic!("expected Incompatible, got {other}"),
    }
}

/// The field an `Incompatible` open error names; panics on any other error.
pub fn incompatible_field(err: OpenError) -> &'static str {
    incompatible(err).0
}

/// The corruption a `Corrupted` open error carries; panics on any other
/// error.
pub fn corruption(err: OpenError) -> Corruption {
    match err {
        OpenError::Corrupted { corruption, .. } => corruption,
        other => panic!("expected Corrupted, got {other}"),
    }
}

/// The message of a caught panic (its payload as text).
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic payload that is not a string)".to_owned()
    }
}

/// A System V semaphore key unique to this process and call, its set
/// removed on drop (and before use: a set left by a dead test process of
/// the same pid). The layout of `tests/transport_support`'s queue keys,
/// which `.ci/run` looks for: `01` on top (positive, never `IPC_PRIVATE`),
/// the pid in 22 bits (below `PID_MAX_LIMIT`), a counter in 8.
pub struct SemKey(pub i32);

impl SemKey {
    pub fn new() -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        assert!(
            n < 1 << 8,
            "more System V test keys than the key layout holds"
        );
        let pid = std::process::id();
        assert!(pid < 1 << 22, "pid {pid} above PID_MAX_LIMIT");
        let key = i32::try_from((1 << 30) | (pid << 8) | n).expect("30 bits fit in a key_t");
        let _ = shmlane::sysvsem::remove(key);
        Self(key)
    }
}

impl Drop for SemKey {
    fn drop(&mut self) {
        let _ = shmlane::sysvsem::remove(self.0);
    }
}

/// The id of this process's thread named `name` (its comm, at most 15
/// bytes), if there is one.
pub fn thread_named(name: &str) -> Option<Pid> {
    std::fs::read_dir("/proc/self/task").ok()?.find_map(|task| {
        let task = task.ok()?;
        let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
        (comm.trim_end() == name)
            .then(|| task.file_name().to_str()?.parse().ok().map(Pid::from_raw))
            .flatten()
    })
}

/// The number of the syscall this process's thread `tid` is blocked in,
/// from /proc/self/task/TID/syscall (`None` while it runs).
pub fn thread_syscall(tid: Pid) -> Option<libc::c_long> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).ok()?;
    text.split_whitespace().next()?.parse().ok()
}
