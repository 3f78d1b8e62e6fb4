//! `tcp://HOST:PORT`: TCP, for peers on other hosts (or any program that
//! speaks TCP). `TCP_NODELAY` is set on every connection, so a message is
//! sent at once instead of waiting to be merged with the next. A byte
//! stream: each message is one frame ([`Framing`](super::Framing)).
//!
//! On one host a Unix socket ([`unix`](super::unix)) does the same job
//! without the TCP/IP stack; see the README for when to pick which.
//!
//! `tcp://127.0.0.1:0` listens on a port the kernel picks;
//! [`Listener::url`](super::Listener::url) says which.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::OwnedFd;

use super::config::{Config, DEFAULT_MAX_MESSAGE_SIZE};
use super::poll::remaining;
use super::socket::{
    Sides, SocketListener, connect_with_retry, pair_by_connection, receiver_by_role,
    sender_by_role, socket_error, stream_connection,
};
use super::{Adapter, ConnectError, Connection};

/// The options `tcp://` takes.
const OPTIONS: &[&str] = &["max", "framing", "timeout_ms"];

const SIDES: Sides = Sides {
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
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|source| ConnectError::Unreachable {
            endpoint: endpoint.clone(),
            source,
        })?
        .collect();
    if addrs.is_empty() {
        return Err(ConnectError::Unreachable {
            endpoint,
            source: io::Error::new(io::ErrorKind::NotFound, "the name resolves to no address"),
        });
    }
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

/// Connects to `addr` (`host:port`), trying each address it resolves to.
pub fn connect(addr: &str, config: &Config) -> Result<Connection, ConnectError> {
    let (endpoint, addrs) = prepare(addr, config)?;
    let fd = connect_with_retry(config, &endpoint, |deadline| {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        for addr in &addrs {
            let attempt = match remaining(deadline) {
                Some(left) if !left.is_zero() => TcpStream::connect_timeout(addr, left),
                _ => TcpStream::connect(addr),
            };
            match attempt {
                Ok(stream) => return Ok(OwnedFd::from(stream)),
                Err(e) => last = e,
            }
        }
        Err(last)
    })?;
    connection(fd, config, &endpoint)
}

/// A connected TCP socket as two ends, with `TCP_NODELAY`.
fn connection(fd: OwnedFd, config: &Config, endpoint: &str) -> Result<Connection, ConnectError> {
    let stream = TcpStream::from(fd);
    stream
        .set_nodelay(true)
        .map_err(|e| socket_error(endpoint, "setsockopt(TCP_NODELAY)", e))?;
    let max = config.max_or(DEFAULT_MAX_MESSAGE_SIZE, endpoint)?;
    stream_connection(
        OwnedFd::from(stream),
        config.framing_or_default(),
        max,
        endpoint,
    )
}
