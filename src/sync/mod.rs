//! The only module that names atomics, `UnsafeCell` and thread spawning.
//!
//! In a normal build everything here is std's; under `--cfg shmlane_loom`
//! it is loom's, so the model checker sees every synchronising operation of
//! the rings. `clippy.toml` forbids the std items everywhere else.
//!
//! `shmlane_loom` is the one cfg the code tests. A user's `--cfg loom`
//! (what a downstream crate sets to run its own loom tests) becomes
//! `shmlane_loom` in `build.rs`, so it switches everything here too; test
//! `shmlane_loom`, never `loom`, in new code.
//!
//! Std atomics have the size, alignment and bit validity of their integer,
//! which is what lets the shared-memory storages view a mapping as a
//! [`Header`](crate::segment::Header). Loom's atomics have no such layout,
//! so under loom only the heap storage is compiled.
//!
//! The rings spawn no thread; the library's unit tests do, through
//! `sync::thread`, and so does one transport call (a `tcp://` host name
//! resolved with a deadline, [`spawn_detached`]), which loom never builds.
//! Loom's threads are spawned by `tests/loom.rs`, which only builds under
//! the loom cfg.

// This module is the facade: the std items clippy.toml forbids elsewhere
// are named here, and only here.
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    reason = "the loom facade is the one place allowed to name them"
)]

#[cfg(not(shmlane_loom))]
mod imp {
    pub(crate) use std::sync::atomic::{Ordering, compiler_fence, fence};

    /// Defines a `repr(transparent)` wrapper of a std atomic with loom's
    /// method names. A wrapper, not a re-export: clippy's disallowed-types
    /// lint sees through re-exports, and the wrapper keeps the integer's
    /// layout, which the mapped storages rely on.
    macro_rules! atomic_int {
        ($name:ident, $int:ty, $std:ty) => {
            #[doc = concat!("`", stringify!($std), "` with the integer's layout.")]
            #[repr(transparent)]
            #[derive(Debug)]
            pub(crate) struct $name($std);

            #[allow(
                dead_code,
                reason = "every width gets the same methods; not every width uses each"
            )]
            impl $name {
                pub(crate) const fn new(value: $int) -> Self {
                    Self(<$std>::new(value))
                }

                #[inline(always)]
                pub(crate) fn load(&self, order: Ordering) -> $int {
                    self.0.load(order)
                }

                #[inline(always)]
                pub(crate) fn store(&self, value: $int, order: Ordering) {
                    self.0.store(value, order)
                }

                #[inline(always)]
                pub(crate) fn fetch_add(&self, value: $int, order: Ordering) -> $int {
                    self.0.fetch_add(value, order)
                }

                #[inline(always)]
                pub(crate) fn fetch_sub(&self, value: $int, order: Ordering) -> $int {
                    self.0.fetch_sub(value, order)
                }

                #[inline(always)]
                pub(crate) fn fetch_or(&self, value: $int, order: Ordering) -> $int {
                    self.0.fetch_or(value, order)
                }

                #[inline(always)]
                pub(crate) fn swap(&self, value: $int, order: Ordering) -> $int {
                    self.0.swap(value, order)
                }

                /// The address, for futex syscalls.
                #[inline(always)]
                pub(crate) fn as_ptr(&self) -> *mut $int {
                    self.0.as_ptr()
                }

                #[inline(always)]
                pub(crate) fn compare_exchange(
                    &self,
                    current: $int,
                    new: $int,
                    success: Ordering,
                    failure: Ordering,
                ) -> Result<$int, $int> {
                    self.0.compare_exchange(current, new, success, failure)
                }
            }
        };
    }

    atomic_int!(AtomicU32, u32, std::sync::atomic::AtomicU32);
    atomic_int!(AtomicU64, u64, std::sync::atomic::AtomicU64);

    /// `UnsafeCell` with loom's closure-based access API.
    ///
    /// `repr(transparent)`: an `UnsafeCell<T>` has the layout of `T`, so a
    /// slot area in a mapping can be viewed as `[UnsafeCell<T>]`.
    #[repr(transparent)]
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        /// Wraps `value`.
        #[cfg_attr(not(test), allow(dead_code, reason = "heap storage builds cells"))]
        pub(crate) const fn new(value: T) -> Self {
            Self(std::cell::UnsafeCell::new(value))
        }

        /// Calls `f` with a pointer for reading.
        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Calls `f` with a pointer for writing.
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }

    /// Threads, for the in-process tests of the library.
    #[cfg(test)]
    pub(crate) mod thread {
        /// `std::thread::spawn`, named here so clippy can forbid it elsewhere.
        pub(crate) fn spawn<F, T>(f: F) -> std::thread::JoinHandle<T>
        where
            F: FnOnce() -> T + Send + 'static,
            T: Send + 'static,
        {
            std::thread::spawn(f)
        }
    }
}

#[cfg(shmlane_loom)]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
    pub(crate) use loom::sync::{Condvar, Mutex};

    /// Loom has no compiler fence; a full fence is the conservative stand-in
    /// (it is what the asymmetric-fence protocol reduces to under loom).
    pub(crate) fn compiler_fence(order: Ordering) {
        fence(order)
    }
}

pub(crate) use imp::*;

/// Runs `f` on a named thread nobody joins: for a blocking call that has
/// no timeout of its own (`getaddrinfo`), whose caller waits for its
/// answer only until a deadline. Not for ring code (not loom-modelled).
#[cfg(not(shmlane_loom))]
pub(crate) fn spawn_detached(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .map(drop)
}

/// A short pause in a busy-wait loop: the `pause` instruction outside loom
/// (it also lowers a busy ring's round trip), a yield under loom (so the
/// model can make progress).
#[inline(always)]
pub(crate) fn spin_hint() {
    #[cfg(not(shmlane_loom))]
    core::hint::spin_loop();
    #[cfg(shmlane_loom)]
    loom::thread::yield_now();
}

/// This process's id, without a syscall: `getpid` is a real syscall in
/// current glibc, and endpoints ask on slow paths that busy loops take
/// often. A `pthread_atfork` child handler refreshes the cache, so a forked
/// child sees its own pid.
#[cfg(not(shmlane_loom))]
#[inline]
pub(crate) fn current_pid() -> u32 {
    // Inlined: a load and a test on the paths that re-read a peer's index
    // (every pop of a stream that keeps its ring near empty).
    let cached = PID.load(std::sync::atomic::Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    first_pid()
}

/// The cached pid (0 until [`first_pid`] ran in this process's ancestry).
#[cfg(not(shmlane_loom))]
static PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Fills the pid cache and registers its fork refresh, once.
#[cfg(not(shmlane_loom))]
#[cold]
#[inline(never)]
fn first_pid() -> u32 {
    use std::sync::Once;
    use std::sync::atomic::Ordering as StdOrdering;
    static HOOK: Once = Once::new();
    extern "C" fn refresh_in_child() {
        PID.store(std::process::id(), StdOrdering::Relaxed);
    }
    HOOK.call_once(|| {
        PID.store(std::process::id(), StdOrdering::Relaxed);
        // SAFETY: registers a handler that only stores to an atomic (async-
        // signal-safe work, as a fork child handler must do). Miri runs no
        // fork and cannot make the call.
        #[cfg(not(miri))]
        unsafe {
            libc::pthread_atfork(None, None, Some(refresh_in_child))
        };
    });
    PID.load(StdOrdering::Relaxed)
}

/// Under loom there is one process.
#[cfg(shmlane_loom)]
pub(crate) fn current_pid() -> u32 {
    std::process::id()
}

/// A process-wide word for a value that belongs to one process (its pid in
/// the high half): lock-free, so a fork while another thread updates it
/// cannot leave the child blocked.
#[cfg(not(shmlane_loom))]
pub(crate) struct PerProcess(std::sync::atomic::AtomicU64);

#[cfg(not(shmlane_loom))]
impl PerProcess {
    pub(crate) const fn new() -> Self {
        Self(std::sync::atomic::AtomicU64::new(0))
    }

    /// The value stored by this process, if any.
    pub(crate) fn get(&self) -> Option<u32> {
        let word = self.0.load(std::sync::atomic::Ordering::Relaxed);
        ((word >> 32) as u32 == current_pid()).then_some(word as u32)
    }

    /// Stores `value` for this process.
    pub(crate) fn set(&self, value: u32) {
        let word = (u64::from(current_pid()) << 32) | u64::from(value);
        self.0.store(word, std::sync::atomic::Ordering::Relaxed);
    }
}
