//! The C ABI of shmlane: the byte ring, SPSC and MPMC rings of fixed-size
//! slots, the semaphore and the transports, for C and C++ peers of Rust
//! processes. `include/shmlane.h` (generated from this crate by cbindgen)
//! declares it; README.md ("C ABI") shows how to build against it.
//!
//! Conventions:
//! - Every function returns a [`ShmlaneStatus`]; after anything but
//!   `SHMLANE_STATUS_OK`, [`shmlane_last_error`] says more (per thread).
//! - Handles are opaque pointers made by `*_create` / `*_open` and ended by
//!   `*_close`. A NULL handle or argument is `SHMLANE_STATUS_NULL_POINTER`;
//!   a closed handle used again is `SHMLANE_STATUS_CLOSED`; a handle of
//!   another type is `SHMLANE_STATUS_BAD_HANDLE`.
//! - Undefined, as in any C library: a pointer that is neither NULL nor a
//!   handle from this library, a buffer shorter than the length passed
//!   with it, a string not NUL-terminated, and one handle used by two
//!   threads at once (a handle may move between threads; each endpoint is
//!   one thread's at a time, as in Rust).
//! - Timeouts are in nanoseconds; [`SHMLANE_FOREVER`] waits as long as it
//!   takes.
//! - No Rust panic crosses the boundary: it becomes
//!   `SHMLANE_STATUS_INTERNAL`.

mod bytes;
mod call;
mod handle;
mod mpmc;
mod semaphore;
mod spsc;
mod transport;

use std::time::Duration;

pub use bytes::*;
pub use call::{ShmlaneStatus, shmlane_last_error, shmlane_status_name};
pub use mpmc::*;
pub use semaphore::*;
pub use spsc::*;
pub use transport::*;

/// A timeout that never expires.
pub const SHMLANE_FOREVER: u64 = u64::MAX;

/// Options for creating or opening a segment. Zero in a field means "the
/// default" (at open: "the segment's"), so `shmlane_options opts = {0};`
/// or a NULL pointer gives every default.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ShmlaneOptions {
    /// Ring capacity: slots (SPSC, MPMC) or bytes (byte ring), a power of two.
    pub capacity: u64,
    /// A schema id both ends agree on (non-zero); needed to share a segment
    /// with a Rust endpoint, whose type name C cannot give.
    pub schema_id: u64,
    /// Permission bits of a created segment (default 0600).
    pub mode: u32,
    /// Non-zero: keep the segment's name after its creator closes.
    pub persist: u32,
    /// How long an open waits for a creator still initialising (default 2 s).
    pub open_timeout_ns: u64,
    /// Byte rings: the largest frame in bytes (default: the most that fits).
    pub max_frame: u64,
    /// MPMC: senders and receivers attached at once (default 64).
    pub participants: u32,
    /// How blocking calls wait: 0 spin then park (default), 1 spin, 2 park.
    pub wait_strategy: u32,
}

impl ShmlaneOptions {
    /// The Rust options these say.
    fn to_options(self) -> Result<shmlane::Options, call::Fail> {
        let mut opts = shmlane::Options::new();
        let too_big = |what: &str| {
            call::Fail::new(
                ShmlaneStatus::InvalidArgument,
                format_args!("{what} does not fit this platform's size type"),
            )
        };
        if self.capacity != 0 {
            opts = opts.capacity(usize::try_from(self.capacity).map_err(|_| too_big("capacity"))?);
        }
        if self.schema_id != 0 {
            opts = opts.schema_id(self.schema_id);
        }
        if self.mode != 0 {
            opts = opts.mode(self.mode);
        }
        if self.persist != 0 {
            opts = opts.persist(true);
        }
        if self.open_timeout_ns != 0 {
            opts = opts.open_timeout(Duration::from_nanos(self.open_timeout_ns));
        }
        if self.max_frame != 0 {
            opts =
                opts.max_frame(usize::try_from(self.max_frame).map_err(|_| too_big("max_frame"))?);
        }
        if self.participants != 0 {
            opts = opts.participants(self.participants);
        }
        opts = match self.wait_strategy {
            0 => opts,
            1 => opts.wait_strategy(shmlane::WaitStrategy::Spin),
            2 => opts.wait_strategy(shmlane::WaitStrategy::Park),
            other => {
                return Err(call::Fail::new(
                    ShmlaneStatus::InvalidArgument,
                    format_args!(
                        "wait_strategy {other} is not 0 (spin then park), 1 (spin) or 2 (park)"
                    ),
                ));
            }
        };
        Ok(opts)
    }
}

/// The caller's options (NULL: every default).
///
/// # Safety
///
/// `opts` is NULL or points to a readable `ShmlaneOptions`.
unsafe fn options_arg(opts: *const ShmlaneOptions) -> Result<shmlane::Options, call::Fail> {
    if opts.is_null() {
        return Ok(shmlane::Options::new());
    }
    // SAFETY: non-NULL and readable (this fn's contract); every bit pattern
    // of its integer fields is a valid value.
    unsafe { opts.read() }.to_options()
}

/// A ring's counters (the same for every endpoint of the ring).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ShmlaneStats {
    /// Positions published by the producers (a byte ring counts words).
    pub pushes: u64,
    /// Positions released by the consumers.
    pub pops: u64,
    /// Bytes published.
    pub written_bytes: u64,
    /// Bytes released.
    pub released_bytes: u64,
    /// Frames or items dropped by an overflow policy.
    pub drops: u64,
    /// Times a producer waited on a full ring.
    pub full_waits: u64,
    /// Times a consumer waited on an empty ring.
    pub empty_waits: u64,
    /// Wake system calls made.
    pub wake_syscalls: u64,
    /// Wait system calls made.
    pub wait_syscalls: u64,
    /// MPMC: slots skipped.
    pub skipped: u64,
    /// MPMC: claims of dead endpoints undone.
    pub recovered: u64,
}

impl From<shmlane::Stats> for ShmlaneStats {
    fn from(s: shmlane::Stats) -> Self {
        Self {
            pushes: s.pushes,
            pops: s.pops,
            written_bytes: s.written_bytes,
            released_bytes: s.released_bytes,
            drops: s.drops,
            full_waits: s.full_waits,
            empty_waits: s.empty_waits,
            wake_syscalls: s.wake_syscalls,
            wait_syscalls: s.wait_syscalls,
            skipped: s.skipped,
            recovered: s.recovered,
        }
    }
}
