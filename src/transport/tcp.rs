//! `tcp://HOST:PORT`: TCP, for peers on other hosts (or any program that
//! speaks TCP). `TCP_NODELAY` is set on every connection, so a message is
//! sent at once instead of waiting to be merged with the next. A byte
//! stream: each message is one frame ([`Framing`](super::Framing)).
//!
//! Nothing waits for ever on a peer that vanished: every connection has
//! keepalive probes and a `TCP_USER_TIMEOUT` (`?keepalive_s=`,
//! `?user_timeout_ms=`; by default a dead peer is noticed within about
//! 30 s), and a connect, name resolution included, gives up after
//! `?timeout_ms=` or [`DEFAULT_TCP_CONNECT_TIMEOUT`].
//!
//! On one host a Unix socket ([`unix`](super::unix)) does the same job
//! without the TCP/IP stack; see the README for when to pick which.
//!
//! `tcp://127.0.0.1:0` listens on a port the kernel picks;
//! [`Listener::url`](super::Listener::url) says which.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::OwnedFd;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::socket::{setsockopt, sockopt};

use super::config::{
    Config, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_TCP_CONNECT_TIMEOUT, DEFAULT_TCP_KEEPALIVE,
    DEFAULT_TCP_USER_TIMEOUT,
};
use super::poll::remaining;
use super::socket::{
    Sides, SocketListener, connect_with_retry, pair_by_connection, receiver_by_role,
    sender_by_role, socket_error, stream_connection,
};
use super::{Adapter, ConnectError, Connection, Deadline};
use crate::sync::spawn_detached;

/// The options `tcp://` takes.
const OPTIONS: &[&str] = &[
    "max",
    "framing",
    "timeout_ms",
    "keepalive_s",
    "user_timeout_ms",
];

/// The kernel's largest `TCP_KEEPIDLE` / `TCP_KEEPINTVL` (seconds).
const MAX_KEEPALIVE_SECS: u64 = 32_767;

/// Keepalive probes sent before the kernel gives up (when no user timeout
/// decides first).
const KEEPALIVE_PROBES: u32 = 4;

pub(crate) const SIDES: Sides = Sides {
    connect: |url| connect(&url.name, &url.config),
    listen: |url| listen(&url.name, &url.config),
};

pub(crate) const ADAPTER: Adapter = Adapter {
    sender: |url| sender_by_role(url, &SIDES),
    receiver: |url| receiver_by_role(url, &SIDES),
    pair: Some(|url| pair_by_connection(url, &SIDES)),
    connect: Some(SIDES.connect),
    listen: Some(|url| Ok(Box::new((SIDES.listen)(url)?))),
};

/// How a connection watches for a peer that stopped answering.
#[derive(Debug, Clone, Copy)]
struct Liveness {
    /// Seconds idle before the first keepalive probe; 0: no keepalive.
    keepalive_idle_s: u32,
    /// `TCP_USER_TIMEOUT` in ms; 0: the kernel's default.
    user_timeout_ms: u32,
}

impl Liveness {
    /// The settings of `config`, range-checked.
    fn of(config: &Config, endpoint: &str) -> Result<Self, ConnectError> {
        let invalid = |reason: String| ConnectError::InvalidConfig {
            endpoint: endpoint.to_owned(),
            reason,
        };
        let idle = config.keepalive.unwrap_or(DEFAULT_TCP_KEEPALIVE).as_secs();
        if idle > MAX_KEEPALIVE_SECS {
            return Err(invalid(format!(
                "keepalive_s={idle} is above the kernel's limit {MAX_KEEPALIVE_SECS}"
            )));
        }
        let user = config.user_timeout.unwrap_or(DEFAULT_TCP_USER_TIMEOUT);
        let user_timeout_ms = u32::try_from(user.as_millis())
            .ok()
            .filter(|ms| i32::try_from(*ms).is_ok())
            .ok_or_else(|| {
                invalid(format!(
                    "user_timeout_ms={} is above the kernel's limit {}",
                    user.as_millis(),
                    i32::MAX
                ))
            })?;
        Ok(Self {
            // At most MAX_KEEPALIVE_SECS: fits.
            keepalive_idle_s: idle as u32,
            user_timeout_ms,
        })
    }

    /// Sets keepalive and the user timeout on a connected socket.
    fn apply(self, stream: &TcpStream, endpoint: &str) -> Result<(), ConnectError> {
        let failed = |op: &'static str, e: nix::Error| socket_error(endpoint, op, e.into());
        if self.keepalive_idle_s > 0 {
            let interval = (self.keepalive_idle_s / 2).max(1);
            setsockopt(stream, sockopt::TcpKeepIdle, &self.keepalive_idle_s)
                .map_err(|e| failed("setsockopt(TCP_KEEPIDLE)", e))?;
            setsockopt(stream, sockopt::TcpKeepInterval, &interval)
                .map_err(|e| failed("setsockopt(TCP_KEEPINTVL)", e))?;
            setsockopt(stream, sockopt::TcpKeepCount, &KEEPALIVE_PROBES)
                .map_err(|e| failed("setsockopt(TCP_KEEPCNT)", e))?;
            setsockopt(stream, sockopt::KeepAlive, &true)
                .map_err(|e| failed("setsockopt(SO_KEEPALIVE)", e))?;
        }
        if self.user_timeout_ms > 0 {
            setsockopt(stream, sockopt::TcpUserTimeout, &self.user_timeout_ms)
                .map_err(|e| failed("setsockopt(TCP_USER_TIMEOUT)", e))?;
        }
        Ok(())
    }
}

/// How long a connect or a name resolution may take.
fn connect_deadline(config: &Config) -> Deadline {
    Deadline::after(config.open_timeout.unwrap_or(DEFAULT_TCP_CONNECT_TIMEOUT))
}

/// Milliseconds since `start`, for a timeout error.
fn waited_ms(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The addresses `addr` (`host:port`) names. An address literal is parsed
/// here; a host name is resolved on a helper thread, so that a resolver
/// that does not answer (`getaddrinfo` takes no timeout) cannot hold the
/// caller past `deadline`: the thread is then left to finish alone.
fn resolve(
    addr: &str,
    endpoint: &str,
    deadline: Deadline,
) -> Result<Vec<SocketAddr>, ConnectError> {
    let unreachable = |source| ConnectError::Unreachable {
        endpoint: endpoint.to_owned(),
        source,
    };
    let found = if let Ok(one) = addr.parse::<SocketAddr>() {
        vec![one]
    } else {
        let start = Instant::now();
        let (tx, rx) = mpsc::channel();
        let name = addr.to_owned();
        spawn_detached("shmlane-resolve", move || {
            // The caller may have given up and gone: nobody to tell.
            let _ = tx.send(name.to_socket_addrs().map(Iterator::collect::<Vec<_>>));
        })
        .map_err(|e| socket_error(endpoint, "spawn a resolver thread", e))?;
        let answer = match remaining(deadline) {
            Some(left) => rx.recv_timeout(left).ok(),
            None => rx.recv().ok(),
        };
        match answer {
            Some(result) => result.map_err(unreachable)?,
            None => {
                return Err(ConnectError::Timeout {
                    endpoint: endpoint.to_owned(),
                    what: "resolving the host name (raise ?timeout_ms= or check the resolver)",
                    waited_ms: waited_ms(start),
                });
            }
        }
    };
    if found.is_empty() {
        return Err(unreachable(io::Error::new(
            io::ErrorKind::NotFound,
            "the name resolves to no address",
        )));
    }
    Ok(found)
}

/// Checks the options and resolves `addr` (`host:port`).
fn prepare(addr: &str, config: &Config) -> Result<(String, Vec<SocketAddr>), ConnectError> {
    let endpoint = format!("tcp://{addr}");
    config.check(OPTIONS, &endpoint)?;
    config.max_or(DEFAULT_MAX_MESSAGE_SIZE, &endpoint)?;
    if let Some(port) = addr.strip_prefix(':') {
        return Err(ConnectError::InvalidName {
            endpoint,
            reason: format!(
                "no host: write 0.0.0.0:{port} to listen on every address, or 127.0.0.1:{port} for this host only"
            ),
        });
    }
    Liveness::of(config, &endpoint)?;
    let addrs = resolve(addr, &endpoint, connect_deadline(config))?;
    Ok((endpoint, addrs))
}

/// Listens at `addr` (`host:port`; port 0 lets the kernel pick).
pub fn listen(addr: &str, config: &Config) -> Result<SocketListener, ConnectError> {
    let (endpoint, addrs) = prepare(addr, config)?;
    let listener = TcpListener::bind(&addrs[..]).map_err(|e| socket_error(&endpoint, "bind", e))?;
    let url = match listener.local_addr() {
        Ok(local) => format!("tcp://{local}"),
        Err(_) => endpoint,
    };
    Ok(SocketListener::new(
        OwnedFd::from(listener),
        url,
        config.clone(),
        connection,
        None,
        None,
    ))
}

/// Connects to `addr` (`host:port`), trying each address it resolves to,
/// within `?timeout_ms=` or [`DEFAULT_TCP_CONNECT_TIMEOUT`] in all.
pub fn connect(addr: &str, config: &Config) -> Result<Connection, ConnectError> {
    let start = Instant::now();
    let (endpoint, addrs) = prepare(addr, config)?;
    let deadline = connect_deadline(config);
    let attempt = connect_with_retry(config, &endpoint, |_| {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        for addr in &addrs {
            let left = remaining(deadline).unwrap_or(Duration::MAX);
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            match TcpStream::connect_timeout(addr, left) {
                Ok(stream) => return Ok(OwnedFd::from(stream)),
                Err(e) => last = e,
            }
        }
        Err(last)
    });
    let fd = match attempt {
        Ok(fd) => fd,
        Err(ConnectError::Io { source, .. } | ConnectError::Unreachable { source, .. })
            if source.kind() == io::ErrorKind::TimedOut =>
        {
            return Err(ConnectError::Timeout {
                endpoint,
                what: "connecting: the host did not answer (raise ?timeout_ms=)",
                waited_ms: waited_ms(start),
            });
        }
        Err(e) => return Err(e),
    };
    connection(fd, config, &endpoint)
}

/// A connected TCP socket as two ends, with `TCP_NODELAY`, keepalive and
/// the user timeout.
fn connection(fd: OwnedFd, config: &Config, endpoint: &str) -> Result<Connection, ConnectError> {
    let stream = TcpStream::from(fd);
    stream
        .set_nodelay(true)
        .map_err(|e| socket_error(endpoint, "setsockopt(TCP_NODELAY)", e))?;
    Liveness::of(config, endpoint)?.apply(&stream, endpoint)?;
    let max = config.max_or(DEFAULT_MAX_MESSAGE_SIZE, endpoint)?;
    stream_connection(
        OwnedFd::from(stream),
        config.framing_or_default(),
        max,
        endpoint,
    )
}
