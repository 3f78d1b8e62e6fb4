//! System V semaphore sets (`semget`, `semop`, `semctl`): the kernel's
//! array of counters that the classic texts describe, and the one
//! semaphore the kernel repairs when a holder dies.
//!
//! * [`SemaphoreSet::wait`] (P) and [`SemaphoreSet::post`] (V) use
//!   `SEM_UNDO`: the kernel records each process's net change to each
//!   semaphore and reverses it when the process exits, however it exits.
//!   A process SIGKILLed between P and V gives its unit back, so a set used
//!   as a lock (value 1, P before the critical section, V after) is never
//!   left at 0 by a dead holder. (It does not repair the data the holder
//!   was changing: see [`Shared`](crate::Shared) for a lock that says so.)
//! * [`SemaphoreSet::apply`] makes several operations on semaphores of one
//!   set in one atomic `semop`: all of them happen, or the call waits (or
//!   fails) and none does. Take two resources at once without a lock-order
//!   deadlock, or wait until one value is 0 and add to another.
//! * Every blocking call has a `_timeout` form (`semtimedop`) and a `try_`
//!   form (`IPC_NOWAIT`); a signal that interrupts a wait (EINTR) resumes
//!   it with the time left.
//! * A set is made with mode 0600 unless told otherwise, and removed
//!   (`IPC_RMID`) when the handle that created it drops, in the process
//!   that created it (a forked child's copy never removes it), unless
//!   [`keep`](SemaphoreSet::keep) was called. Removal wakes every waiter
//!   with [`SemOpError::Removed`].
//!
//! Values are at most [`VALUE_MAX`] (the kernel's `SEMVMX`). Every call is
//! a syscall, even uncontended: for a fast lock between processes that
//! trust each other to finish, see [`Semaphore`](crate::Semaphore).

mod error;

use std::ffi::CString;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

pub use error::{SemOpError, SetCtlError, SetOpenError};

use crate::options::{DEFAULT_MODE, DEFAULT_OPEN_TIMEOUT};
use crate::sync::current_pid;

/// The largest value a System V semaphore holds (the kernel's `SEMVMX`).
pub const VALUE_MAX: u16 = 32767;
/// Operations in one `semop` the kernel takes by default (`SEMOPM`;
/// `kernel.sem` may raise it).
const DEFAULT_SEMOPM: usize = 500;
/// The key that makes a new set no other process can find by key
/// (`IPC_PRIVATE`): a forked child shares it through the handle.
const PRIVATE: libc::key_t = libc::IPC_PRIVATE;

/// Makes a System V key from a path and a project byte (`ftok`): every
/// program that names the same existing file and byte gets the same key.
/// The file must exist (its device and inode make the key).
pub fn key_from_path(path: impl AsRef<Path>, project: u8) -> io::Result<i32> {
    use std::os::unix::ffi::OsStrExt;
    if project == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "ftok project byte 0 is not allowed (its low 8 bits must be non-zero)",
        ));
    }
    let path = CString::new(path.as_ref().as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    // SAFETY: `path` is a valid NUL-terminated string for the call; ftok
    // only stats it.
    let key = unsafe { libc::ftok(path.as_ptr(), libc::c_int::from(project)) };
    if key == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(key)
}

/// Removes the set with key `key`, if any (`IPC_RMID`): `Ok(false)` if no
/// set has the key. Every process waiting on it wakes with
/// [`SemOpError::Removed`].
pub fn remove(key: i32) -> Result<bool, SetCtlError> {
    // SAFETY: semget without IPC_CREAT only looks the key up.
    let id = unsafe { libc::semget(key, 0, 0) };
    if id < 0 {
        let error = io::Error::last_os_error();
        return match error.raw_os_error() {
            Some(libc::ENOENT) => Ok(false),
            _ => Err(ctl_error(error)),
        };
    }
    remove_id(id).map(|()| true)
}

fn remove_id(id: i32) -> Result<(), SetCtlError> {
    // SAFETY: IPC_RMID takes no fourth argument.
    if unsafe { libc::semctl(id, 0, libc::IPC_RMID) } < 0 {
        return Err(ctl_error(io::Error::last_os_error()));
    }
    Ok(())
}

/// One operation of a [`SemaphoreSet::apply`]: add `delta` to semaphore
/// `index` (waiting while that would go below 0), or, with `delta` 0,
/// wait until its value is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SemOp {
    /// Which semaphore of the set.
    pub index: u16,
    /// What to add (negative: take, waiting for enough units; 0: wait
    /// for zero).
    pub delta: i16,
    /// Whether the kernel reverses the change when this process exits
    /// (`SEM_UNDO`).
    pub undo: bool,
}

impl SemOp {
    /// P on `index`: take one unit, given back if this process dies.
    pub const fn wait(index: u16) -> Self {
        Self::add(index, -1)
    }

    /// V on `index`: add one unit, taken back when this process exits
    /// (the lock pattern: it cancels this process's P).
    pub const fn post(index: u16) -> Self {
        Self::add(index, 1)
    }

    /// Add `delta` to `index`, with `SEM_UNDO`.
    pub const fn add(index: u16, delta: i16) -> Self {
        Self {
            index,
            delta,
            undo: true,
        }
    }

    /// Wait until `index` is 0 (no change, so nothing to undo).
    pub const fn wait_zero(index: u16) -> Self {
        Self {
            index,
            delta: 0,
            undo: false,
        }
    }

    /// The same change, kept when this process exits: for a semaphore that
    /// counts events one process posts and another takes (a V with undo
    /// would be taken back when the poster exits).
    pub const fn without_undo(self) -> Self {
        Self {
            undo: false,
            ..self
        }
    }
}

/// A System V semaphore set: `len` counters in the kernel, found by key.
/// See the [module](self) docs.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shmlane::sysvsem::SemaphoreSet;
/// let lock = SemaphoreSet::create(0x4c4f_434b, 1, 1)?; // one semaphore, value 1
/// lock.wait(0)?; // P: given back by the kernel if this process dies
/// // ... touch the shared data ...
/// lock.post(0)?; // V
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct SemaphoreSet {
    id: i32,
    key: i32,
    len: u16,
    /// The process that removes the set when this handle drops (its
    /// creator, unless [`keep`](Self::keep) was called).
    remover: Option<u32>,
}

impl SemaphoreSet {
    /// Creates a set of `len` semaphores, each with value `initial`, under
    /// `key` (mode 0600): [`SetOpenError::AlreadyExists`] if the key has a
    /// set. Removed when this handle drops (see [`keep`](Self::keep)).
    pub fn create(key: i32, len: u16, initial: u16) -> Result<Self, SetOpenError> {
        Self::create_with_mode(key, len, initial, DEFAULT_MODE)
    }

    /// [`create`](Self::create) with permission bits `mode` (at most 0o777).
    pub fn create_with_mode(
        key: i32,
        len: u16,
        initial: u16,
        mode: u32,
    ) -> Result<Self, SetOpenError> {
        if key == PRIVATE {
            return Err(SetOpenError::InvalidConfig(
                "key 0 is IPC_PRIVATE: use SemaphoreSet::private for a set without a key".into(),
            ));
        }
        Self::make(key, len, initial, mode)
    }

    /// A set no other process can find by key (`IPC_PRIVATE`), for this
    /// process and the children it forks after the call. Removed when this
    /// handle drops in this process.
    pub fn private(len: u16, initial: u16) -> Result<Self, SetOpenError> {
        Self::make(PRIVATE, len, initial, DEFAULT_MODE)
    }

    fn make(key: i32, len: u16, initial: u16, mode: u32) -> Result<Self, SetOpenError> {
        if len == 0 {
            return Err(SetOpenError::InvalidConfig(
                "a semaphore set needs at least 1 semaphore".into(),
            ));
        }
        if initial > VALUE_MAX {
            return Err(SetOpenError::InvalidConfig(format!(
                "initial value {initial} exceeds the kernel's maximum {VALUE_MAX}"
            )));
        }
        if mode > 0o777 {
            return Err(SetOpenError::InvalidConfig(format!(
                "mode {mode:#o} has bits beyond 0o777"
            )));
        }
        let flags = libc::IPC_CREAT | libc::IPC_EXCL | mode as libc::c_int;
        // SAFETY: semget takes plain integers.
        let id = unsafe { libc::semget(key, libc::c_int::from(len), flags) };
        if id < 0 {
            return Err(open_error(
                key,
                "semget(IPC_CREAT|IPC_EXCL)",
                io::Error::last_os_error(),
            ));
        }
        let set = Self {
            id,
            key,
            len,
            remover: Some(current_pid()),
        };
        // On failure `set` drops here and removes the half-made set.
        let ctl = |e: SetCtlError| SetOpenError::Io {
            key,
            op: "initialise",
            source: io::Error::other(e.to_string()),
        };
        set.set_values(&vec![initial; usize::from(len)])
            .map_err(ctl)?;
        set.mark_initialized().map_err(|e| SetOpenError::Io {
            key,
            op: "semop (mark initialised)",
            source: io::Error::other(e.to_string()),
        })?;
        Ok(set)
    }

    /// Makes `sem_otime` non-zero with a net-zero `semop`, the classic
    /// signal that the creator has set the values: [`open`](Self::open)
    /// waits for it, so it never sees the zeroes of a set being made.
    fn mark_initialized(&self) -> Result<(), SemOpError> {
        let value = self
            .value(0)
            .map_err(|e| SemOpError::Io(io::Error::other(e.to_string())))?;
        let (first, second) = if value == VALUE_MAX { (-1, 1) } else { (1, -1) };
        let ops = [
            SemOp::add(0, first).without_undo(),
            SemOp::add(0, second).without_undo(),
        ];
        self.try_apply(&ops)
    }

    /// Opens the set with key `key`, waiting up to
    /// [`DEFAULT_OPEN_TIMEOUT`] for its
    /// creator to finish setting its values.
    pub fn open(key: i32) -> Result<Self, SetOpenError> {
        Self::open_timeout(key, DEFAULT_OPEN_TIMEOUT)
    }

    /// [`open`](Self::open), waiting at most `timeout` for the creator.
    /// A set made by a program that never calls `semop` stays
    /// "uninitialised" (`sem_otime` 0) until someone does: this returns
    /// [`SetOpenError::NotReady`] then.
    pub fn open_timeout(key: i32, timeout: Duration) -> Result<Self, SetOpenError> {
        // SAFETY: semget without IPC_CREAT only looks the key up.
        let id = unsafe { libc::semget(key, 0, 0) };
        if id < 0 {
            return Err(open_error(key, "semget", io::Error::last_os_error()));
        }
        let start = Instant::now();
        loop {
            let stat = stat(id).map_err(|e| open_error(key, "semctl(IPC_STAT)", e))?;
            let len = u16::try_from(stat.sem_nsems).unwrap_or(u16::MAX);
            if stat.sem_otime != 0 {
                return Ok(Self {
                    id,
                    key,
                    len,
                    remover: None,
                });
            }
            if start.elapsed() >= timeout {
                return Err(SetOpenError::NotReady {
                    key,
                    waited_ms: start.elapsed().as_millis() as u64,
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The set's key (0 for a private set).
    pub fn key(&self) -> i32 {
        self.key
    }

    /// The kernel's id of the set (what `ipcs -s` lists).
    pub fn id(&self) -> i32 {
        self.id
    }

    /// Semaphores in the set.
    pub fn len(&self) -> u16 {
        self.len
    }

    /// Whether the set has no semaphores (never: the kernel refuses one).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keeps the set when this handle drops (it stays until someone calls
    /// [`remove`](Self::remove), [`sysvsem::remove`](remove), `ipcrm`, or
    /// the system restarts).
    pub fn keep(&mut self) {
        self.remover = None;
    }

    /// P on semaphore `index`, with `SEM_UNDO`: takes one unit, sleeping
    /// while the value is 0.
    pub fn wait(&self, index: u16) -> Result<(), SemOpError> {
        self.apply(&[SemOp::wait(index)])
    }

    /// [`wait`](Self::wait), for at most `timeout`: [`SemOpError::Timeout`]
    /// after.
    pub fn wait_timeout(&self, index: u16, timeout: Duration) -> Result<(), SemOpError> {
        self.apply_timeout(&[SemOp::wait(index)], timeout)
    }

    /// [`wait`](Self::wait) without sleeping: [`SemOpError::WouldBlock`]
    /// if the value is 0.
    pub fn try_wait(&self, index: u16) -> Result<(), SemOpError> {
        self.try_apply(&[SemOp::wait(index)])
    }

    /// V on semaphore `index`, with `SEM_UNDO` (it cancels this process's
    /// P): adds one unit and wakes a waiter.
    pub fn post(&self, index: u16) -> Result<(), SemOpError> {
        self.try_apply(&[SemOp::post(index)])
    }

    /// Applies every operation of `ops` at once, sleeping until all can
    /// be: the kernel makes them all or none.
    pub fn apply(&self, ops: &[SemOp]) -> Result<(), SemOpError> {
        self.semop(ops, Wait::Forever)
    }

    /// [`apply`](Self::apply), for at most `timeout` (`semtimedop`).
    pub fn apply_timeout(&self, ops: &[SemOp], timeout: Duration) -> Result<(), SemOpError> {
        let deadline = Instant::now().checked_add(timeout);
        match deadline {
            Some(deadline) => self.semop(ops, Wait::Until(deadline)),
            None => self.semop(ops, Wait::Forever),
        }
    }

    /// [`apply`](Self::apply) without sleeping (`IPC_NOWAIT`):
    /// [`SemOpError::WouldBlock`] if any operation would have to wait.
    pub fn try_apply(&self, ops: &[SemOp]) -> Result<(), SemOpError> {
        self.semop(ops, Wait::Never)
    }

    fn semop(&self, ops: &[SemOp], wait: Wait) -> Result<(), SemOpError> {
        if ops.is_empty() || ops.len() > DEFAULT_SEMOPM {
            return Err(SemOpError::TooManyOps {
                count: ops.len(),
                limit: DEFAULT_SEMOPM,
            });
        }
        let nowait = if matches!(wait, Wait::Never) {
            libc::IPC_NOWAIT
        } else {
            0
        };
        let mut bufs = Vec::with_capacity(ops.len());
        for op in ops {
            if op.index >= self.len {
                return Err(SemOpError::OutOfRange {
                    index: op.index,
                    len: self.len,
                });
            }
            let undo = if op.undo { libc::SEM_UNDO } else { 0 };
            bufs.push(libc::sembuf {
                sem_num: op.index,
                sem_op: op.delta,
                sem_flg: (undo | nowait) as libc::c_short,
            });
        }
        loop {
            let result = match wait {
                Wait::Forever | Wait::Never => {
                    // SAFETY: `bufs` is a live array of `bufs.len()` sembufs
                    // for the call; semop only reads it.
                    unsafe { libc::semop(self.id, bufs.as_mut_ptr(), bufs.len()) }
                }
                Wait::Until(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(SemOpError::Timeout);
                    }
                    let timespec = libc::timespec {
                        tv_sec: libc::time_t::try_from(left.as_secs()).unwrap_or(libc::time_t::MAX),
                        tv_nsec: libc::c_long::from(left.subsec_nanos() as i32),
                    };
                    // SAFETY: `bufs` is a live array of `bufs.len()` sembufs
                    // and `timespec` a live timespec, both for the call;
                    // semtimedop only reads them. (glibc has the call but
                    // the libc crate does not bind it.)
                    unsafe {
                        libc::syscall(
                            libc::SYS_semtimedop,
                            self.id,
                            bufs.as_mut_ptr(),
                            bufs.len(),
                            &raw const timespec,
                        ) as libc::c_int
                    }
                }
            };
            if result == 0 {
                return Ok(());
            }
            let error = io::Error::last_os_error();
            return Err(match error.raw_os_error() {
                // A signal: wait again, for the time left.
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) if matches!(wait, Wait::Never) => SemOpError::WouldBlock,
                Some(libc::EAGAIN) => SemOpError::Timeout,
                // EINVAL: the id names no set any more (the arguments were
                // checked above); EIDRM: removed while we slept.
                Some(libc::EIDRM | libc::EINVAL) => SemOpError::Removed,
                Some(libc::ERANGE) => SemOpError::Overflow,
                Some(libc::E2BIG) => SemOpError::TooManyOps {
                    count: ops.len(),
                    limit: DEFAULT_SEMOPM,
                },
                Some(libc::EFBIG) => SemOpError::OutOfRange {
                    index: ops.iter().map(|op| op.index).max().unwrap_or(0),
                    len: self.len,
                },
                Some(libc::EACCES | libc::EPERM) => SemOpError::Permission(error),
                _ => SemOpError::Io(error),
            });
        }
    }

    fn check_index(&self, index: u16) -> Result<(), SetCtlError> {
        if index >= self.len {
            return Err(SetCtlError::OutOfRange {
                index,
                len: self.len,
            });
        }
        Ok(())
    }

    /// The value of semaphore `index` (a snapshot).
    pub fn value(&self, index: u16) -> Result<u16, SetCtlError> {
        self.check_index(index)?;
        // SAFETY: GETVAL takes no fourth argument.
        let value = unsafe { libc::semctl(self.id, libc::c_int::from(index), libc::GETVAL) };
        if value < 0 {
            return Err(ctl_error(io::Error::last_os_error()));
        }
        Ok(u16::try_from(value).unwrap_or(u16::MAX))
    }

    /// Every value of the set, in index order (one snapshot of all).
    pub fn values(&self) -> Result<Vec<u16>, SetCtlError> {
        let mut values = vec![0u16; usize::from(self.len)];
        let arg = Semun {
            array: values.as_mut_ptr(),
        };
        // SAFETY: GETALL writes `len` unsigned shorts (the set's size,
        // which a set cannot change) through `arg.array`: `values` has
        // that many and outlives the call.
        let result = unsafe { libc::semctl(self.id, 0, libc::GETALL, arg) };
        if result < 0 {
            return Err(ctl_error(io::Error::last_os_error()));
        }
        Ok(values)
    }

    /// Sets semaphore `index` to `value` (at most [`VALUE_MAX`]); clears
    /// every process's undo adjustment for it and wakes waiters that can
    /// now go on.
    pub fn set_value(&self, index: u16, value: u16) -> Result<(), SetCtlError> {
        self.check_index(index)?;
        check_value(value)?;
        let arg = Semun {
            val: libc::c_int::from(value),
        };
        // SAFETY: SETVAL reads only `arg.val`; plain integers otherwise.
        let result = unsafe { libc::semctl(self.id, libc::c_int::from(index), libc::SETVAL, arg) };
        if result < 0 {
            return Err(ctl_error(io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Sets every value at once (`values.len()` must be the set's size).
    pub fn set_values(&self, values: &[u16]) -> Result<(), SetCtlError> {
        if values.len() != usize::from(self.len) {
            return Err(SetCtlError::InvalidValue(format!(
                "{} values for a set of {}",
                values.len(),
                self.len
            )));
        }
        for &value in values {
            check_value(value)?;
        }
        let arg = Semun {
            array: values.as_ptr().cast_mut(),
        };
        // SAFETY: SETALL reads `len` unsigned shorts through `arg.array`:
        // `values` has exactly that many and outlives the call; the kernel
        // only reads them (the `*mut` is the union's type, never written).
        let result = unsafe { libc::semctl(self.id, 0, libc::SETALL, arg) };
        if result < 0 {
            return Err(ctl_error(io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Processes sleeping until semaphore `index` increases (`GETNCNT`).
    pub fn waiters(&self, index: u16) -> Result<u32, SetCtlError> {
        self.check_index(index)?;
        // SAFETY: GETNCNT takes no fourth argument.
        let count = unsafe { libc::semctl(self.id, libc::c_int::from(index), libc::GETNCNT) };
        if count < 0 {
            return Err(ctl_error(io::Error::last_os_error()));
        }
        Ok(count as u32)
    }

    /// Removes the set now (`IPC_RMID`), for every process: their waits
    /// end with [`SemOpError::Removed`]. Only the set's owner or creator
    /// (or root) may.
    pub fn remove(mut self) -> Result<(), SetCtlError> {
        self.remover = None;
        remove_id(self.id)
    }
}

impl Drop for SemaphoreSet {
    fn drop(&mut self) {
        if self.remover == Some(current_pid()) {
            let _ = remove_id(self.id);
        }
    }
}

/// `semctl`'s fourth argument, which the caller must define (semctl(2)):
/// passed by value, as the C union, so every ABI places it as C does.
#[repr(C)]
#[derive(Clone, Copy)]
union Semun {
    /// SETVAL.
    val: libc::c_int,
    /// IPC_STAT.
    buf: *mut libc::semid_ds,
    /// GETALL, SETALL.
    array: *mut u16,
}

/// How long a `semop` may wait.
#[derive(Clone, Copy)]
enum Wait {
    Never,
    Forever,
    Until(Instant),
}

fn check_value(value: u16) -> Result<(), SetCtlError> {
    if value > VALUE_MAX {
        return Err(SetCtlError::InvalidValue(format!(
            "{value} exceeds the kernel's maximum {VALUE_MAX}"
        )));
    }
    Ok(())
}

fn stat(id: i32) -> io::Result<libc::semid_ds> {
    let mut stat = std::mem::MaybeUninit::<libc::semid_ds>::zeroed();
    let arg = Semun {
        buf: stat.as_mut_ptr(),
    };
    // SAFETY: IPC_STAT writes one semid_ds through `arg.buf`; `stat` is
    // one, live for the call.
    if unsafe { libc::semctl(id, 0, libc::IPC_STAT, arg) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: semctl succeeded, so it wrote the whole struct (and zeroed
    // bytes are a valid semid_ds anyway: all integers).
    Ok(unsafe { stat.assume_init() })
}

fn open_error(key: i32, op: &'static str, source: io::Error) -> SetOpenError {
    match source.raw_os_error() {
        Some(libc::EEXIST) => SetOpenError::AlreadyExists { key },
        Some(libc::ENOENT) => SetOpenError::NotFound { key },
        Some(libc::EACCES | libc::EPERM) => SetOpenError::Permission { key, source },
        Some(libc::ENOSPC | libc::ENOMEM) => SetOpenError::NoSpace { key, source },
        Some(libc::EINVAL) => SetOpenError::InvalidConfig(format!(
            "{op} of key {key:#x}: {source} (more semaphores than SEMMSL, or a set with this key has fewer)"
        )),
        _ => SetOpenError::Io { key, op, source },
    }
}

fn ctl_error(source: io::Error) -> SetCtlError {
    match source.raw_os_error() {
        Some(libc::EIDRM | libc::EINVAL) => SetCtlError::Removed,
        Some(libc::ERANGE) => {
            SetCtlError::InvalidValue(format!("a value above the kernel's maximum {VALUE_MAX}"))
        }
        Some(libc::EACCES | libc::EPERM) => SetCtlError::Permission(source),
        _ => SetCtlError::Io(source),
    }
}
