//! The shared-memory storages: `Shm` (a named POSIX shm object) and `Memfd`
//! (anonymous, shared with a forked child).
//! Both end up as a [`Mapping`]; only how the file is made differs.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use memmap2::{MmapOptions, MmapRaw};
use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, FcntlArg, OFlag, RenameFlags, SealFlag, fcntl, renameat2};
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::mman::{shm_open, shm_unlink};
use nix::sys::stat::{Mode, fchmod, fstat};

use super::header::{FLAG_PERSIST, HEADER_LEN, Header, Layout, PeerSlot, Strict};
use super::removal::{self, ROLE_LOCK_BASE};
use super::storage::Storage;
use crate::error::{Corruption, OpenError};
use crate::options::Options;
use crate::sync::{AtomicU32, Ordering};
use crate::trust::Found;

/// Longest segment name accepted (NAME_MAX less the leading slash).
const MAX_NAME_LEN: usize = 254;

/// A mapped segment file with its own open file description, which holds
/// this endpoint's role lock.
pub(crate) struct Mapping {
    map: MmapRaw,
    file: File,
    name: String,
    slots_offset: usize,
    /// Offset and rows of the participant table (0 rows: the header's).
    peers: (usize, usize),
    /// The name and the inode it linked when this mapping was made (`None`
    /// for a memfd).
    link: Option<NameLink>,
    /// Remove the name when this mapping drops (a semaphore's creator);
    /// rings remove it when their last endpoint detaches instead.
    unlink_on_drop: bool,
    /// This mapping made the segment (`create_shm`).
    created: bool,
}

/// A segment's name and the inode it linked: the right to remove the name
/// only while it still links that inode (another creator may have removed
/// ours and made a new segment since).
struct NameLink {
    shm_name: CString,
    dev: u64,
    ino: u64,
}

/// What a creator's temporary name carries: `NAME.creating-PID-N`.
const CREATING_TAG: &str = ".creating-";

/// A temporary name for a segment `bare` is being made under: unique to
/// this process and call, and starting with `bare` where it fits, so that
/// a prefix that selects the segment selects its leftovers too.
fn creation_name(bare: &str) -> String {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    let n = CALLS.fetch_add(1, Ordering::Relaxed);
    let suffix = format!("{CREATING_TAG}{}-{n}", std::process::id());
    if bare.len() + suffix.len() <= MAX_NAME_LEN {
        format!("{bare}{suffix}")
    } else {
        format!("shmlane{suffix}")
    }
}

/// Whether `name` is a creator's temporary name ([`creation_name`]): a
/// file under it that nobody holds is a creator's leftover, whatever it
/// holds (it may be empty, its creator killed before the header).
pub(super) fn is_creation_name(name: &str) -> bool {
    name.rsplit_once(CREATING_TAG).is_some_and(|(_, tail)| {
        tail.split_once('-').is_some_and(|(pid, n)| {
            !pid.is_empty()
                && !n.is_empty()
                && pid.bytes().chain(n.bytes()).all(|b| b.is_ascii_digit())
        })
    })
}

/// Validates a user's segment name and returns it as shm_open wants it.
pub(super) fn shm_name(name: &str) -> Result<CString, OpenError> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let bad = |why: &str| OpenError::InvalidConfig(format!("segment name {name:?} {why}"));
    if bare.is_empty() || bare == "." || bare == ".." {
        return Err(bad("is empty or a dot name"));
    }
    if bare.len() > MAX_NAME_LEN {
        return Err(bad(&format!("is longer than {MAX_NAME_LEN} bytes")));
    }
    if bare.contains('/') {
        return Err(bad("contains '/' (only a leading one is allowed)"));
    }
    CString::new(format!("/{bare}")).map_err(|_| bad("contains a NUL byte"))
}

/// Turns an OS error into the typed error a user can act on.
fn os_error(name: &str, op: &'static str, errno: Errno) -> OpenError {
    let name = name.to_owned();
    let source = io::Error::from(errno);
    match errno {
        Errno::ENOENT => OpenError::NotFound { name },
        Errno::EEXIST => OpenError::AlreadyExists {
            name,
            pids: Vec::new(),
            reason: String::new(),
        },
        Errno::EACCES | Errno::EPERM => OpenError::Permission { name, op, source },
        Errno::ENAMETOOLONG | Errno::EINVAL => {
            OpenError::InvalidConfig(format!("{op} of segment {name:?}: {source}"))
        }
        _ => OpenError::Io { name, op, source },
    }
}

fn no_space(name: &str, bytes: u64, errno: Errno) -> OpenError {
    OpenError::NoSpace {
        name: name.to_owned(),
        bytes,
        source: io::Error::from(errno),
    }
}

/// Sizes a new file and reserves its pages, so that running out of memory
/// is an error now rather than SIGBUS at some later store.
fn reserve<Fd: AsFd>(fd: Fd, name: &str, bytes: u64) -> Result<(), OpenError> {
    let len = i64::try_from(bytes).map_err(|_| no_space(name, bytes, Errno::EFBIG))?;
    nix::unistd::ftruncate(&fd, len).map_err(|e| match e {
        Errno::EFBIG | Errno::EINVAL | Errno::ENOSPC | Errno::ENOMEM => no_space(name, bytes, e),
        other => os_error(name, "ftruncate", other),
    })?;
    nix::fcntl::posix_fallocate(&fd, 0, len).map_err(|e| match e {
        Errno::ENOSPC | Errno::EFBIG | Errno::ENOMEM => no_space(name, bytes, e),
        other => os_error(name, "posix_fallocate", other),
    })
}

fn map(file: &File, name: &str, len: u64) -> Result<MmapRaw, OpenError> {
    let len = usize::try_from(len).map_err(|_| no_space(name, len, Errno::ENOMEM))?;
    MmapOptions::new().len(len).map_raw(file).map_err(|e| {
        match e.raw_os_error().map(Errno::from_raw) {
            Some(Errno::ENOMEM) => no_space(name, len as u64, Errno::ENOMEM),
            Some(errno) => os_error(name, "mmap", errno),
            None => OpenError::Io {
                name: name.to_owned(),
                op: "mmap",
                source: e,
            },
        }
    })
}

impl Mapping {
    /// Creates the named segment `name` with `layout`, so that the name
    /// only ever links a whole segment: the file is made under a temporary
    /// name ([`creation_name`]) with `O_EXCL`, the creator lock taken,
    /// the mode of `opts` set, space reserved and the header published,
    /// and only then linked to `name` with `renameat2(RENAME_NOREPLACE)`.
    /// A creator killed at any point leaves at most a temporary file nobody
    /// holds, which `gc` removes, never a half-made segment under `name`.
    /// [`OpenError::AlreadyExists`] if the name is taken (replacing a stale
    /// segment is the ring's call: `ring::RingMemory::named_unmarked`).
    pub(crate) fn create_shm(
        name: &str,
        layout: &Layout,
        opts: &Options,
    ) -> Result<Self, OpenError> {
        opts.check_mode()?;
        let final_name = shm_name(name)?;
        let mode = Mode::from_bits_truncate(opts.effective_mode() as libc::mode_t);
        // A `gc` that took our temporary file in the instant before our
        // creator lock (with `--min-age 0`) makes us start again.
        let mut attempts = 0;
        let (mut mapping, st) = loop {
            attempts += 1;
            match Self::create_linked(name, &final_name, layout, opts, mode) {
                Err(OpenError::NotFound { .. }) if attempts < 4 => {}
                other => break other?,
            }
        };
        mapping.link = Some(NameLink {
            shm_name: final_name.clone(),
            dev: st.st_dev,
            ino: st.st_ino,
        });
        mapping.created = true;
        Ok(mapping)
    }

    /// One attempt of [`create_shm`](Self::create_shm): the segment made
    /// under a temporary name and linked to `final_name`. `NotFound` if
    /// the temporary file was removed under us.
    fn create_linked(
        name: &str,
        final_name: &CString,
        layout: &Layout,
        opts: &Options,
        mode: Mode,
    ) -> Result<(Self, nix::sys::stat::FileStat), OpenError> {
        let bare = &final_name.to_str().unwrap_or("/")[1..];
        let flags = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_RDWR | OFlag::O_CLOEXEC;
        let (temp, fd) = loop {
            let temp = shm_name(&creation_name(bare))?;
            match shm_open(temp.as_c_str(), flags, mode) {
                Ok(fd) => break (temp, fd),
                // A dead creator's leftover with our pid: the next number.
                Err(Errno::EEXIST) => {}
                Err(e) => return Err(os_error(name, "shm_open(O_CREAT|O_EXCL)", e)),
            }
        };
        let file = File::from(fd);
        let remove_temp = || {
            let _ = shm_unlink(temp.as_c_str());
        };
        let persist = opts.persist == Some(true);
        let built = (|| {
            let st = fstat(file.as_fd()).map_err(|e| os_error(name, "fstat", e))?;
            removal::hold_creator_lock(&file).map_err(|e| os_error(name, "creator lock", e))?;
            // fchmod after create: the umask must neither widen nor narrow it.
            fchmod(file.as_fd(), mode).map_err(|e| os_error(name, "fchmod", e))?;
            reserve(file.as_fd(), name, layout.segment_len)?;
            let flags = if persist { FLAG_PERSIST } else { 0 };
            let mapping = Self::initialize(file, name, layout, flags)?;
            Ok::<_, OpenError>((mapping, st))
        })();
        let (mapping, st) = match built {
            Ok(built) => built,
            Err(err) => {
                remove_temp();
                return Err(err);
            }
        };
        let dir = PathBuf::from(super::registry::SHM_DIR);
        let linked = renameat2(
            AT_FDCWD,
            &dir.join(&temp.to_str().unwrap_or("/")[1..]),
            AT_FDCWD,
            &dir.join(bare),
            RenameFlags::RENAME_NOREPLACE,
        );
        if let Err(e) = linked {
            remove_temp();
            return Err(os_error(name, "renameat2(RENAME_NOREPLACE)", e));
        }
        Ok((mapping, st))
    }

    /// Opens the named segment `name`, waits for its initialisation and
    /// validates it against `expected`.
    pub(crate) fn open_shm(
        name: &str,
        expected: &Layout,
        strict: Strict,
        opts: &Options,
    ) -> Result<(Self, Layout), OpenError> {
        let shm_name = shm_name(name)?;
        let fd = shm_open(
            shm_name.as_c_str(),
            OFlag::O_RDWR | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| os_error(name, "shm_open", e))?;
        let file = File::from(fd);
        let st = fstat(file.as_fd()).map_err(|e| os_error(name, "fstat", e))?;
        // Before anything is mapped or read: a segment another user made
        // (or may write) could carry anything, or be shrunk under us.
        let found = Found::file(st.st_uid, st.st_gid, st.st_mode);
        opts.trust_or_default()
            .check(found, true)
            .map_err(|d| d.into_open_error(name))?;
        let link = NameLink {
            shm_name,
            dev: st.st_dev,
            ino: st.st_ino,
        };
        let (mut mapping, layout) =
            Self::attach(file, name, expected, strict, opts.effective_open_timeout())?;
        mapping.link = Some(link);
        Ok((mapping, layout))
    }

    /// Removes the name when this mapping drops, whoever else uses it (a
    /// semaphore's creator, unless its header says persist).
    pub(crate) fn remove_on_drop(mut self) -> Self {
        self.unlink_on_drop = !self.header().persists();
        self
    }

    /// Creates an anonymous segment (memfd), sealed against shrinking and
    /// growing so that no peer can make a later access fault.
    pub(crate) fn create_memfd(layout: &Layout) -> Result<Self, OpenError> {
        let name = "(memfd)";
        let fd = memfd_create(
            c"shmlane",
            MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
        )
        .map_err(|e| os_error(name, "memfd_create", e))?;
        reserve(&fd, name, layout.segment_len)?;
        let seals = SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_SEAL;
        fcntl(&fd, FcntlArg::F_ADD_SEALS(seals)).map_err(|e| os_error(name, "seal", e))?;
        Self::initialize(File::from(fd), name, layout, 0)
    }

    /// A second endpoint on the same memfd: a new open file description (via
    /// /proc/self/fd), so it holds role locks of its own.
    pub(crate) fn reopen(&self, expected: &Layout) -> Result<(Self, Layout), OpenError> {
        let path = format!("/proc/self/fd/{}", self.file.as_raw_fd());
        let file = File::options()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| OpenError::Io {
                name: self.name.clone(),
                op: "reopen",
                source: e,
            })?;
        let strict = Strict::EXACT;
        Self::attach(file, &self.name, expected, strict, Duration::ZERO)
    }

    /// Maps a freshly reserved file and publishes its header with `flags`.
    fn initialize(file: File, name: &str, layout: &Layout, flags: u32) -> Result<Self, OpenError> {
        let map = map(&file, name, layout.segment_len)?;
        let mapping = Self {
            map,
            file,
            name: name.to_owned(),
            slots_offset: layout.slots_offset as usize,
            peers: peer_table(layout),
            link: None,
            unlink_on_drop: false,
            created: false,
        };
        mapping.header().initialize(layout, flags);
        Ok(mapping)
    }

    /// Waits until the file is sized and its header published (or `timeout`
    /// passes), then validates it.
    pub(crate) fn attach(
        file: File,
        name: &str,
        expected: &Layout,
        strict: Strict,
        timeout: Duration,
    ) -> Result<(Self, Layout), OpenError> {
        let start = Instant::now();
        let mut pause = Duration::from_micros(50);
        loop {
            let file_len = fstat(file.as_fd())
                .map_err(|e| os_error(name, "fstat", e))?
                .st_size;
            let file_len = u64::try_from(file_len).unwrap_or(0);
            if file_len >= HEADER_LEN as u64 {
                let map = map(&file, name, file_len)?;
                let header = header_of(&map);
                if let Some(layout) = header.validate_published(name, expected, strict, file_len)? {
                    let mapping = Self {
                        map,
                        file,
                        name: name.to_owned(),
                        slots_offset: layout.slots_offset as usize,
                        peers: peer_table(&layout),
                        link: None,
                        unlink_on_drop: false,
                        created: false,
                    };
                    return Ok((mapping, layout));
                }
            }
            if start.elapsed() >= timeout {
                return Err(if file_len < HEADER_LEN as u64 {
                    OpenError::Corrupted {
                        name: name.to_owned(),
                        corruption: Corruption {
                            what: "segment is smaller than a header",
                            found: file_len,
                            limit: HEADER_LEN as u64,
                        },
                    }
                } else {
                    OpenError::Timeout {
                        name: name.to_owned(),
                        waited_ms: start.elapsed().as_millis() as u64,
                    }
                });
            }
            // The creator may still be sizing or initialising the file.
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(5));
        }
    }
}

/// Offset and rows of a layout's participant table.
fn peer_table(layout: &Layout) -> (usize, usize) {
    (layout.peers_offset as usize, layout.participants as usize)
}

/// The header at the start of a mapping.
fn header_of(map: &MmapRaw) -> &Header {
    // SAFETY: every mapping made here is at least HEADER_LEN bytes (checked
    // before mapping) and page aligned, so aligned for `Header`; every field
    // of `Header` is an integer atomic, for which any bytes are valid; the
    // reference borrows `map`, so the mapping outlives it.
    unsafe { &*map.as_ptr().cast::<Header>() }
}

impl NameLink {
    /// Removes the name if it still links our inode, whoever uses it: for
    /// a creator that failed half-way, and a semaphore's creator.
    fn unlink_if_ours(&self) {
        let path = format!("/dev/shm{}", self.shm_name.to_string_lossy());
        let still_ours = nix::sys::stat::stat(path.as_str())
            .is_ok_and(|st| st.st_dev == self.dev && st.st_ino == self.ino);
        if still_ours {
            let _ = shm_unlink(self.shm_name.as_c_str());
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if let (true, Some(link)) = (self.unlink_on_drop, &self.link) {
            link.unlink_if_ours();
        }
    }
}

/// Whether another open file description holds a role lock on any of the
/// `rows` role bytes from row `first` of the segment open as `file`: the
/// probe of [`Mapping::role_is_held`] over a range, for a reader that holds
/// no role (the registry). A probe only: `F_OFD_GETLK` sets no lock, and
/// works on a read-only descriptor.
pub(super) fn role_locks_held(file: &File, first: usize, rows: usize) -> io::Result<bool> {
    Ok(removal::locks_held(
        file,
        ROLE_LOCK_BASE + first as i64,
        rows as i64,
    )?)
}

/// The write lock on `role`'s byte.
fn role_lock(role: usize) -> libc::flock {
    removal::lock_request(libc::F_WRLCK, ROLE_LOCK_BASE + role as i64, 1)
}

// SAFETY: (1) the header is at offset 0 of a mapping of at least HEADER_LEN
// bytes (checked before mapping), page aligned (so aligned for `Header`),
// and all-zero or header bytes are valid `Header` values because every
// field is an integer atomic; the mapping lives as long as `self`.
// (2) `slots_offset` and the slot area's length were validated against the
// mapped length by `HeaderSnapshot::validate`, and the offset is a multiple
// of the slot alignment and of 128; `UnsafeCell<T>` has `T`'s layout, `T:
// Pod` accepts any bytes, and MPMC's `Slot<T>` is a `repr(C)` stamp (an
// integer atomic) and such a cell, valid for any bytes too. (3) memfd
// segments are sealed against shrinking; a named segment can be truncated
// by a process with write permission, which SAFETY.md documents as outside
// the promise. (4) the participant table lies between the header and the
// slot area (validated offsets), its rows are integer atomics.
unsafe impl Storage for Mapping {
    fn header(&self) -> &Header {
        header_of(&self.map)
    }

    fn peer_rows(&self) -> &[PeerSlot] {
        let (offset, rows) = self.peers;
        if rows == 0 {
            return &self.header().peers;
        }
        // SAFETY: point (4): the table starts inside the mapping (before
        // `slots_offset`), so the offset pointer stays in bounds.
        let first = unsafe { self.map.as_ptr().add(offset) }.cast::<PeerSlot>();
        // SAFETY: point (4): `offset + rows * size_of::<PeerSlot>()` is at
        // most `slots_offset`, inside the mapping; `offset` is a multiple of
        // PeerSlot's alignment (8) and the mapping is page aligned; every
        // field is an integer atomic, valid for any bytes; the slice
        // borrows `self`, which owns the mapping.
        unsafe { std::slice::from_raw_parts(first, rows) }
    }

    fn sleeper_marks(&self) -> &[AtomicU32] {
        let (offset, rows) = self.peers;
        if rows == 0 {
            return &[];
        }
        let marks = offset + rows * size_of::<PeerSlot>();
        // SAFETY: point (4): the marks follow the rows, before
        // `slots_offset` (`body_offsets`), so the pointer stays in bounds.
        let first = unsafe { self.map.as_ptr().add(marks) }.cast::<AtomicU32>();
        // SAFETY: point (4): `marks + rows * 4` is at most `slots_offset`,
        // inside the mapping; `marks` is a multiple of 8 (the rows' size),
        // so aligned for `AtomicU32`; any bytes are a valid `AtomicU32`;
        // the slice borrows `self`, which owns the mapping.
        unsafe { std::slice::from_raw_parts(first, rows) }
    }

    fn duplicate(&self, layout: &Layout) -> Result<Box<dyn Storage>, OpenError> {
        let (mapping, _) = self.reopen(layout)?;
        Ok(Box::new(mapping))
    }

    fn slot_area(&self) -> NonNull<u8> {
        // SAFETY: `slots_offset` is within the mapping (point (2)), so the
        // offset pointer stays in bounds.
        let start = unsafe { self.map.as_mut_ptr().add(self.slots_offset) };
        // SAFETY: a pointer inside a live mapping is not null.
        unsafe { NonNull::new_unchecked(start) }
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn claim_role(&self, role: usize) -> io::Result<bool> {
        match fcntl(&self.file, FcntlArg::F_OFD_SETLK(&role_lock(role))) {
            Ok(_) => Ok(true),
            Err(Errno::EAGAIN | Errno::EACCES) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn role_is_held(&self, role: usize) -> io::Result<bool> {
        // GETLK reports a lock of another open file description that would
        // conflict with ours: the role's holder, if it is alive.
        role_locks_held(&self.file, role, 1)
    }

    fn remove_if_last(&self, detached: bool) {
        let Some(link) = &self.link else { return };
        if !(detached || self.created) || self.unlink_on_drop || self.header().persists() {
            return;
        }
        let (remover, inode) = (removal::Remover::LastEndpoint, (link.dev, link.ino));
        let _ = removal::unlink_unused(&self.file, remover, &link.shm_name, inode);
    }

    fn shrunk(&self) -> Option<Corruption> {
        // A memfd is sealed against shrinking.
        self.link.as_ref()?;
        let len = fstat(self.file.as_fd()).ok()?.st_size;
        let mapped = self.map.len() as u64;
        let len = u64::try_from(len).unwrap_or(0);
        (len < mapped).then_some(Corruption {
            what: "segment file shrunk under its mapping (truncated by a process with write permission)",
            found: len,
            limit: mapped,
        })
    }

    fn still_named(&self) -> Result<bool, OpenError> {
        if self.link.is_none() {
            return Ok(true);
        }
        removal::still_linked(&self.file).map_err(|e| os_error(&self.name, "removal gate", e))
    }

    fn release_role(&self, _role: usize) {
        // Nothing to do: closing our description drops its lock. Unlocking
        // explicitly would be wrong after a fork, where the child shares
        // this description and may still use the endpoint.
    }
}

impl Mapping {
    /// The whole mapping: its start and length (for the memory options,
    /// `memory_policy`).
    pub(super) fn region(&self) -> (NonNull<u8>, usize) {
        // SAFETY: a live mapping's address is not null.
        let base = unsafe { NonNull::new_unchecked(self.map.as_mut_ptr()) };
        (base, self.map.len())
    }
}
