//! The real-time memory options of a mapped segment: prefault, lock, huge
//! pages (`Options::prefault`, `Options::lock_memory`,
//! `Options::huge_pages`), applied once to a whole mapping right after it
//! is made or opened, and what was applied ([`MemoryReport`]).
//!
//! `apply_memory_policy` is the one entry point: it applies the options
//! to a mapping and returns what it did, which the ring endpoint keeps for
//! `memory_report()`. The mapping code itself knows nothing of them (it
//! only lends its region), and no storage wraps another.

#[cfg(not(shmlane_loom))]
use crate::options::{HugePages, Options};

/// What the memory options did to one endpoint's mapping of its segment
/// (`memory_report()` on the endpoints). All false, no note, for a ring asked for
/// none of them (and for in-process rings, which refuse them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryReport {
    /// Every page was mapped in at create or open
    /// ([`Options::prefault`](crate::Options::prefault)).
    pub prefaulted: bool,
    /// The pages are locked in memory
    /// ([`Options::lock_memory`](crate::Options::lock_memory)).
    pub locked: bool,
    /// Huge pages were requested from the kernel
    /// ([`Options::huge_pages`](crate::Options::huge_pages));
    /// false when the system does not allow them (then `note` says why).
    pub huge_pages: bool,
    /// Why an option fell back (huge pages unavailable), if one did.
    pub note: Option<String>,
}

#[cfg(not(shmlane_loom))]
pub(crate) use mapped_policy::apply as apply_memory_policy;

#[cfg(not(shmlane_loom))]
mod mapped_policy {
    use std::io;
    use std::ptr::NonNull;

    use super::{HugePages, MemoryReport, Options};
    use crate::error::OpenError;
    use crate::segment::{Mapping, Storage};

    /// Where the system says whether shared memory may use huge pages.
    const SHMEM_THP: &str = "/sys/kernel/mm/transparent_hugepage/shmem_enabled";

    /// Applies `opts`' memory options to the whole of `mapping`, in the
    /// order that makes each count: huge pages first (so that the pages
    /// populated next are huge), then prefault, then the lock. Nothing for
    /// options that ask for none.
    pub(crate) fn apply(mapping: &Mapping, opts: &Options) -> Result<MemoryReport, OpenError> {
        let (base, len) = mapping.region();
        let name = Storage::name(mapping);
        let mut report = MemoryReport::default();
        if opts.huge_pages == Some(HugePages::Transparent) {
            match shmem_thp_setting() {
                Some(setting)
                    if ["always", "within_size", "advise", "force"].contains(&setting.as_str()) =>
                {
                    match advise(base, len, libc::MADV_HUGEPAGE) {
                        Ok(()) => report.huge_pages = true,
                        Err(e) => {
                            report.note = Some(format!(
                                "huge pages not used: madvise(MADV_HUGEPAGE) failed ({e}); normal pages"
                            ));
                        }
                    }
                }
                Some(setting) => {
                    report.note = Some(format!(
                        "huge pages not used: {SHMEM_THP} is `{setting}` (needs advise, within_size or always); normal pages"
                    ));
                }
                None => {
                    report.note = Some(format!(
                        "huge pages not used: {SHMEM_THP} is missing (no transparent huge pages for shared memory); normal pages"
                    ));
                }
            }
        }
        if opts.prefault == Some(true) {
            advise(base, len, libc::MADV_POPULATE_WRITE).map_err(|source| {
                match source.raw_os_error() {
                    Some(libc::EINVAL) => OpenError::InvalidConfig(format!(
                        "prefault of segment {name:?}: this kernel has no MADV_POPULATE_WRITE (Linux 5.14 or later needed)"
                    )),
                    _ => OpenError::Io {
                        name: name.to_owned(),
                        op: "madvise(MADV_POPULATE_WRITE)",
                        source,
                    },
                }
            })?;
            report.prefaulted = true;
        }
        if opts.lock_memory == Some(true) {
            // SAFETY: `base..base + len` is the whole of `mapping`'s live
            // mapping (`Mapping::region`); mlock changes no byte of it.
            let locked = unsafe { libc::mlock(base.as_ptr().cast(), len) };
            if locked != 0 {
                return Err(OpenError::LockMemory {
                    name: name.to_owned(),
                    bytes: len as u64,
                    limit: memlock_limit(),
                    source: io::Error::last_os_error(),
                });
            }
            report.locked = true;
        }
        Ok(report)
    }

    fn advise(base: NonNull<u8>, len: usize, advice: libc::c_int) -> io::Result<()> {
        // SAFETY: `base..base + len` is a whole live mapping of a segment
        // (`Mapping::region`), page aligned; MADV_HUGEPAGE and
        // MADV_POPULATE_WRITE change how it is backed, not its contents
        // (POPULATE_WRITE faults pages in as a write would, writing nothing).
        match unsafe { libc::madvise(base.as_ptr().cast(), len, advice) } {
            0 => Ok(()),
            _ => Err(io::Error::last_os_error()),
        }
    }

    /// The bracketed word of the shmem THP setting (`never`, `advise`, ...).
    fn shmem_thp_setting() -> Option<String> {
        let text = std::fs::read_to_string(SHMEM_THP).ok()?;
        let start = text.find('[')? + 1;
        let end = start + text[start..].find(']')?;
        Some(text[start..end].to_string())
    }

    /// RLIMIT_MEMLOCK in words, for the error message.
    fn memlock_limit() -> String {
        match nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_MEMLOCK) {
            Ok((soft, _)) if soft == libc::RLIM_INFINITY => "unlimited".to_string(),
            Ok((soft, _)) => format!("{soft} bytes"),
            Err(e) => format!("an unknown amount (getrlimit: {e})"),
        }
    }
}
