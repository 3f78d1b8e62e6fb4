//! The only module that names atomics, `UnsafeCell` and thread spawning.
//!
//! In a normal build everything here is std's; under `--cfg shmlane_loom`
//! it is loom's, so the model checker sees every synchronising operation of
//! the rings. `clippy.toml` forbids the std items everywhere else.
//!
//! Std atomics have the size, alignment and bit validity of their integer,
//! which is what lets the shared-memory storages view a mapping as a
//! [`Header`](crate::segment::Header). Loom's atomics have no such layout,
//! so under loom only the heap storage is compiled.
//!
//! The library itself spawns no thread; its unit tests do, through
//! `sync::thread`. Loom's threads are spawned by `tests/loom.rs`, which
//! only builds under the loom cfg.

#[cfg(not(shmlane_loom))]
mod imp {
    #[allow(clippy::disallowed_types, reason = "this is the facade")]
    pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64};
    pub(crate) use std::sync::atomic::Ordering;

    /// `UnsafeCell` with loom's closure-based access API.
    ///
    /// `repr(transparent)`: an `UnsafeCell<T>` has the layout of `T`, so a
    /// slot area in a mapping can be viewed as `[UnsafeCell<T>]`.
    #[repr(transparent)]
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(
        #[allow(clippy::disallowed_types, reason = "this is the facade")] std::cell::UnsafeCell<T>,
    );

    impl<T> UnsafeCell<T> {
        /// Wraps `value`.
        #[cfg_attr(not(test), allow(dead_code, reason = "heap storage builds cells"))]
        pub(crate) const fn new(value: T) -> Self {
            #[allow(clippy::disallowed_types, reason = "this is the facade")]
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
        #[allow(clippy::disallowed_methods, reason = "this is the facade")]
        pub(crate) use std::thread::spawn;
    }
}

#[cfg(shmlane_loom)]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
}

pub(crate) use imp::*;
