//! [`Shared<T>`]: one `T: Pod` in a named shared-memory segment, behind a
//! robust lock: when a holder dies holding it, the next `lock` still gets
//! the lock and is told ([`LockError::OwnerDied`]), so that it can repair
//! what the dead holder left half-updated.
//!
//! `lock.rs` is the lock word's protocol; `value.rs` the public handle and
//! guard (named segments only); `loom_model.rs` runs the protocol on a heap
//! segment for `tests/loom.rs`.

#[cfg(not(shmlane_loom))]
mod error;
mod lock;
#[cfg(shmlane_loom)]
pub mod loom_model;
#[cfg(not(shmlane_loom))]
mod value;

#[cfg(not(shmlane_loom))]
pub use error::LockError;
#[cfg(not(shmlane_loom))]
pub use value::{LockResult, Shared, SharedGuard};
