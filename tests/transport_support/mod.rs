//! Support for the transport tests (`tests/transport_*.rs`) only: names
//! of kernel objects that are unique to one process and call and removed
//! whatever happens to the test. Forked children, timeouts and thread
//! states are `tests/common`'s, as for every other test.

#![allow(dead_code, reason = "each test binary uses a different subset")]
// Name counters in test support have nothing for loom to model.
#![allow(clippy::disallowed_types, reason = "test support, not ring code")]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use shmlane::transport::{mq, sysv_mq};

/// `shmlane-test-PID-N-WHAT`: unique to this process and call.
pub fn unique(what: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("shmlane-test-{}-{n}-{what}", std::process::id())
}

/// A unique path under the temp dir (a FIFO, a socket file), removed on
/// drop.
pub struct TempPath(pub PathBuf);

impl TempPath {
    pub fn new(what: &str) -> Self {
        Self(std::env::temp_dir().join(unique(what)))
    }

    /// The path as a URL writes it.
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.0.display())
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        // A Unix listener's address lock, if one was left behind.
        let mut lock = self.0.clone().into_os_string();
        lock.push(".lock");
        let _ = std::fs::remove_file(lock);
    }
}

/// A unique POSIX queue name (`/shmlane-test-...`), unlinked on drop.
pub struct QueueName(pub String);

impl QueueName {
    pub fn new(what: &str) -> Self {
        Self(format!("/{}", unique(what)))
    }
}

impl Drop for QueueName {
    fn drop(&mut self) {
        let _ = mq::unlink(&self.0);
    }
}

/// A System V key unique to this process and call, its queue removed on
/// drop. The bits do not overlap: `01` on top (a positive key, never
/// `IPC_PRIVATE`), then the pid in 22 bits (Linux pids stay below
/// 2^22, `PID_MAX_LIMIT`), then a per-process counter in 8.
pub struct SysvKey(pub i32);

impl SysvKey {
    const PID_BITS: u32 = 22;
    const COUNTER_BITS: u32 = 8;

    pub fn new() -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        assert!(
            n < 1 << Self::COUNTER_BITS,
            "more System V test keys than the key layout holds"
        );
        let pid = std::process::id();
        assert!(pid < 1 << Self::PID_BITS, "pid {pid} above PID_MAX_LIMIT");
        let key = (1 << (Self::PID_BITS + Self::COUNTER_BITS)) | (pid << Self::COUNTER_BITS) | n;
        let key = i32::try_from(key).expect("30 bits fit in a key_t");
        // A queue left by a dead test process of the same pid.
        let _ = sysv_mq::remove(key);
        Self(key)
    }
}

impl Drop for SysvKey {
    fn drop(&mut self) {
        let _ = sysv_mq::remove(self.0);
    }
}

/// A fresh Zenoh key (`shmlane-test/PID-N-WHAT`) and a loopback TCP
/// endpoint for one session to listen on and the others to connect to:
/// sessions of one test reach each other and nothing else.
#[cfg(feature = "zenoh")]
pub struct ZenohChannel {
    pub key: String,
    pub endpoint: String,
}

#[cfg(feature = "zenoh")]
impl ZenohChannel {
    pub fn new(what: &str) -> Self {
        let key = format!(
            "shmlane-test/{}",
            unique(what).trim_start_matches("shmlane-test-")
        );
        Self::on(&key)
    }

    /// A channel on `key` with a port of its own (the kernel picks a free
    /// one; it is free again once this returns).
    pub fn on(key: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        Self {
            key: key.to_owned(),
            endpoint: format!("tcp/127.0.0.1:{port}"),
        }
    }

    /// The receiver's URL: it listens.
    pub fn receiver_url(&self, options: &str) -> String {
        self.url("listen", options)
    }

    /// A sender's URL: it connects to the receiver's session.
    pub fn sender_url(&self, options: &str) -> String {
        self.url("connect", options)
    }

    fn url(&self, side: &str, options: &str) -> String {
        let sep = if options.is_empty() { "" } else { "&" };
        format!(
            "zenoh://{}?{side}={}{sep}{options}",
            self.key, self.endpoint
        )
    }
}
