//! A ring's counters ([`shmlane::Stats`]) as a read-only Python object.

use pyo3::prelude::*;

/// Counters of a ring, from its segment (shared by both ends); see the
/// Rust `shmlane::Stats` for what each counts.
#[pyclass(
    module = "shmlane",
    name = "Stats",
    frozen,
    get_all,
    eq,
    skip_from_py_object
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stats {
    pushes: u64,
    pops: u64,
    written_bytes: u64,
    released_bytes: u64,
    drops: u64,
    full_waits: u64,
    empty_waits: u64,
    wake_syscalls: u64,
    wait_syscalls: u64,
}

impl From<shmlane::Stats> for Stats {
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
        }
    }
}

#[pymethods]
impl Stats {
    fn __repr__(&self) -> String {
        format!(
            "Stats(pushes={}, pops={}, written_bytes={}, released_bytes={}, drops={}, full_waits={}, empty_waits={}, wake_syscalls={}, wait_syscalls={})",
            self.pushes,
            self.pops,
            self.written_bytes,
            self.released_bytes,
            self.drops,
            self.full_waits,
            self.empty_waits,
            self.wake_syscalls,
            self.wait_syscalls
        )
    }

    /// The counters as a dict.
    fn as_dict(&self) -> std::collections::BTreeMap<&'static str, u64> {
        [
            ("pushes", self.pushes),
            ("pops", self.pops),
            ("written_bytes", self.written_bytes),
            ("released_bytes", self.released_bytes),
            ("drops", self.drops),
            ("full_waits", self.full_waits),
            ("empty_waits", self.empty_waits),
            ("wake_syscalls", self.wake_syscalls),
            ("wait_syscalls", self.wait_syscalls),
        ]
        .into_iter()
        .collect()
    }
}
