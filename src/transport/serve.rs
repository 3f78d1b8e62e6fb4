//! [`serve`](super::serve): one receiver for any number of senders on a
//! socket URL, connecting and leaving over time. It accepts every
//! connection that comes and takes messages from them in turn (round
//! robin: a busy sender cannot starve the others), each connection's
//! messages in the order it sent them.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use super::config::DEFAULT_MAX_MESSAGE_SIZE;
use super::poll::{READABLE, wait_any};
use super::socket::{Sides, SocketListener};
use super::url::Url;
use super::{ConnectError, Deadline, Listener, Receiver, RecvError};

/// A receiver that serves every sender connecting to its address: see
/// [`serve`](super::serve).
///
/// A connection that ends (cleanly or not: reset, corrupted framing, a
/// peer that stopped answering) is dropped and the others go on, so
/// `recv` never reports `Disconnected`: it waits for the next message from
/// whoever sends it (with a deadline, `Timeout`).
pub struct ServingReceiver {
    listener: SocketListener,
    clients: Vec<Client>,
    /// The client to try first: the one after the last that gave a
    /// message.
    next: usize,
    max: usize,
    endpoint: Arc<str>,
}

/// One connected sender.
struct Client {
    receiver: Box<dyn Receiver>,
    /// The same socket, to wait on with the others.
    watch: OwnedFd,
}

impl std::fmt::Debug for ServingReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServingReceiver")
            .field("url", &self.endpoint)
            .field("clients", &self.clients.len())
            .finish_non_exhaustive()
    }
}

/// Listens at `url` with `sides` and serves every connection.
pub(crate) fn serve_by(url: &Url, sides: &Sides) -> Result<ServingReceiver, ConnectError> {
    if url.config.role.is_some() {
        return Err(ConnectError::InvalidConfig {
            endpoint: url.endpoint.clone(),
            reason: "option `role` does not apply to a serving receiver (it listens)".into(),
        });
    }
    let max = url.config.max_or(DEFAULT_MAX_MESSAGE_SIZE, &url.endpoint)?;
    let listener = (sides.listen)(url)?;
    let endpoint = Arc::from(listener.url());
    Ok(ServingReceiver {
        listener,
        clients: Vec::new(),
        next: 0,
        max,
        endpoint,
    })
}

impl ServingReceiver {
    /// The URL senders connect to (with the port the kernel chose for
    /// `tcp://HOST:0`).
    pub fn url(&self) -> &str {
        &self.endpoint
    }

    /// Senders connected now (as far as this end has seen).
    pub fn clients(&self) -> usize {
        self.clients.len()
    }

    /// Accepts every connection waiting, without blocking.
    fn accept_waiting(&mut self) -> Result<(), RecvError> {
        loop {
            let fd = match self.listener.accept_fd(Deadline::Now) {
                Ok(fd) => fd,
                Err(ConnectError::Timeout { .. }) => return Ok(()),
                // A stranger refused by `?peer_uid=`: its connection is
                // closed already; the others are still served.
                Err(ConnectError::PeerRefused { .. }) => continue,
                Err(e) => {
                    return Err(RecvError::Io {
                        endpoint: self.endpoint.clone(),
                        op: "accept",
                        source: io::Error::other(e.to_string()),
                    });
                }
            };
            let watch = fd.try_clone().map_err(|source| RecvError::Io {
                endpoint: self.endpoint.clone(),
                op: "dup",
                source,
            })?;
            // A connection that cannot be set up is this sender's loss only.
            if let Ok(connection) = self.listener.wrap(fd) {
                self.clients.push(Client {
                    receiver: connection.receiver,
                    watch,
                });
            }
        }
    }

    /// The next message any client has ready, trying them in turn from
    /// `next`; drops the clients that ended.
    fn next_ready(&mut self, out: &mut Vec<u8>) -> Result<Option<usize>, RecvError> {
        let mut tried = 0;
        while tried < self.clients.len() {
            let at = self.next % self.clients.len();
            match self.clients[at].receiver.try_recv(out) {
                Ok(len) => {
                    self.next = at + 1;
                    return Ok(Some(len));
                }
                Err(RecvError::Empty) => {
                    self.next = at + 1;
                    tried += 1;
                }
                // Dropped by the receiver; the connection goes on.
                Err(e @ RecvError::MessageTooLarge { .. }) => {
                    self.next = at + 1;
                    return Err(e);
                }
                // Ended, reset, corrupted, lost: this sender is done.
                Err(_) => {
                    self.clients.remove(at);
                    self.next = at;
                }
            }
        }
        Ok(None)
    }
}

impl Receiver for ServingReceiver {
    fn recv_deadline(&mut self, out: &mut Vec<u8>, deadline: Deadline) -> Result<usize, RecvError> {
        loop {
            self.accept_waiting()?;
            if let Some(len) = self.next_ready(out)? {
                return Ok(len);
            }
            if deadline == Deadline::Now {
                return Err(RecvError::Empty);
            }
            let fds: Vec<BorrowedFd<'_>> = std::iter::once(self.listener.fd())
                .chain(self.clients.iter().map(|c| c.watch.as_fd()))
                .collect();
            let ready = wait_any(&fds, READABLE, deadline).map_err(|source| RecvError::Io {
                endpoint: self.endpoint.clone(),
                op: "poll",
                source,
            })?;
            if !ready {
                return Err(RecvError::Timeout);
            }
        }
    }

    fn max_message_size(&self) -> usize {
        self.max
    }

    fn endpoint(&self) -> &str {
        &self.endpoint
    }
}
