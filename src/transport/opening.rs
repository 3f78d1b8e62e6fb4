//! Opening an end in slices: [`Opening`], for callers that must look at
//! something else (a signal, a shutdown flag) while the other side is
//! awaited, as Python's bindings do for Ctrl-C.

use std::time::{Duration, Instant};

use super::url::{Scheme, Url};
use super::{ConnectError, Connection, Deadline, Listener, Receiver, Role, Sender, adapter};

/// Which end is being opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Sender,
    Receiver,
}

/// What opening does while the other side is missing.
enum Await<E> {
    /// A listener is bound; each slice waits for a connection.
    Accept(Box<dyn Listener>),
    /// Each slice is a bounded open of the mechanism (a FIFO writer for
    /// its reader, a connect for its listener, an `shm://` sender for its
    /// receiver).
    Retry,
    /// The end is open and waits for its peer to attach (an `shm://`
    /// sender holds its segment meanwhile); each slice waits some more.
    Peer(Box<dyn AwaitingPeer<E>>),
    /// The mechanism does not wait: one attempt is the answer.
    Once,
}

/// An end that is open but waits for its peer before it is handed out.
pub(crate) trait AwaitingPeer<E>: Send {
    /// Waits until the peer is there (`true`) or `deadline` passes.
    fn wait_until(&mut self, deadline: Deadline) -> bool;
    /// The end, once the peer is there.
    fn finish(self: Box<Self>) -> E;
}

impl AwaitingPeer<super::shm::ShmSender> for super::shm::PendingSender {
    fn wait_until(&mut self, deadline: Deadline) -> bool {
        super::shm::PendingSender::wait_until(self, deadline)
    }

    fn finish(self: Box<Self>) -> super::shm::ShmSender {
        super::shm::PendingSender::finish(*self)
    }
}

impl AwaitingPeer<Box<dyn Sender>> for super::shm::PendingSender {
    fn wait_until(&mut self, deadline: Deadline) -> bool {
        super::shm::PendingSender::wait_until(self, deadline)
    }

    fn finish(self: Box<Self>) -> Box<dyn Sender> {
        Box::new(super::shm::PendingSender::finish(*self))
    }
}

#[cfg(feature = "zenoh")]
impl AwaitingPeer<Box<dyn Sender>> for super::zenoh::PendingSender {
    fn wait_until(&mut self, deadline: Deadline) -> bool {
        super::zenoh::PendingSender::wait_until(self, deadline)
    }

    fn finish(self: Box<Self>) -> Box<dyn Sender> {
        Box::new(super::zenoh::PendingSender::finish(*self))
    }
}

/// An end of the channel `url` names, being opened: [`wait`](Self::wait)
/// for it a slice at a time. Each slice waits as [`sender`](super::sender)
/// or [`receiver`](super::receiver) would (for the other side, within the
/// URL's `?timeout_ms=` in all, or as long as the mechanism waits without
/// one), and between slices the caller is free: a program that handles
/// signals or a shutdown flag can open a FIFO writer or a listening
/// socket without blocking in the kernel beyond a slice. One exception: a
/// `tcp://` connect is a single attempt within its `?timeout_ms=` (10 s by
/// default), as a connect cut short would have to start over.
///
/// A listening end binds its address when the `Opening` is made, so
/// peers may connect at once; dropping it stops listening.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use shmlane::transport::{self, Opening};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let path = std::env::temp_dir().join(format!("shmlane-doc-opening-{}", std::process::id()));
/// let url = format!("fifo://{}", path.display());
/// let mut rx = transport::receiver(&url)?; // a FIFO reader opens at once
/// let mut opening = Opening::sender(&url)?;
/// let mut tx = loop {
///     match opening.wait(Duration::from_millis(50))? {
///         Some(tx) => break tx,
///         None => { /* look at signals, a shutdown flag, ... */ }
///     }
/// };
/// tx.send(b"hello")?;
/// let mut buf = Vec::new();
/// rx.recv(&mut buf)?;
/// assert_eq!(buf, b"hello");
/// # Ok(())
/// # }
/// ```
pub struct Opening<E> {
    url: Url,
    side: Side,
    open: fn(&Url) -> Result<E, ConnectError>,
    /// The end of an accepted connection (`None` where none is accepted).
    from: Option<fn(Connection) -> E>,
    awaiting: Option<Await<E>>,
    /// When the whole wait ends: the URL's `?timeout_ms=` from the start,
    /// or as long as the mechanism waits without one.
    deadline: Deadline,
    started: Instant,
}

impl<E> std::fmt::Debug for Opening<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opening")
            .field("endpoint", &self.url.endpoint)
            .field("side", &self.side)
            .finish_non_exhaustive()
    }
}

impl Opening<Box<dyn Sender>> {
    /// Starts opening the sending end of `url` (binding it first if this
    /// end listens, `?role=listen`).
    pub fn sender(url: &str) -> Result<Self, ConnectError> {
        let url = Url::parse(url)?;
        let open = adapter(url.scheme).sender;
        let mut opening = Self::start(
            url,
            Side::Sender,
            open,
            Some(|connection: Connection| connection.sender),
        )?;
        if opening.url.scheme == Scheme::Shm {
            opening = opening.awaiting_receiver()?;
        }
        #[cfg(feature = "zenoh")]
        if opening.url.scheme == Scheme::Zenoh {
            let pending =
                super::zenoh::PendingSender::start(&opening.url.name, &opening.url.config)?;
            opening.awaiting = Some(Await::Peer(Box::new(pending)));
        }
        Ok(opening)
    }
}

/// The `shm://` ends as themselves, not boxed: the async ends wait on
/// their rings (`crate::aio::transport`).
#[cfg(feature = "tokio")]
impl Opening<super::shm::ShmSender> {
    /// Starts opening the sending end of the `shm://` URL `url`
    /// (`Ok(None)` for another scheme).
    pub(crate) fn shm_sender(url: &str) -> Result<Option<Self>, ConnectError> {
        let Some(url) = shm_url(url)? else {
            return Ok(None);
        };
        let open = |url: &Url| super::shm::ShmSender::open(&url.name, &url.config);
        Self::start(url, Side::Sender, open, None)?
            .awaiting_receiver()
            .map(Some)
    }
}

#[cfg(feature = "tokio")]
impl Opening<super::shm::ShmReceiver> {
    /// Starts opening the receiving end of the `shm://` URL `url`
    /// (`Ok(None)` for another scheme).
    pub(crate) fn shm_receiver(url: &str) -> Result<Option<Self>, ConnectError> {
        let Some(url) = shm_url(url)? else {
            return Ok(None);
        };
        let open = |url: &Url| super::shm::ShmReceiver::open(&url.name, &url.config);
        Self::start(url, Side::Receiver, open, None).map(Some)
    }
}

impl Opening<Box<dyn Receiver>> {
    /// Starts opening the receiving end of `url` (binding and listening
    /// first on a socket URL, unless `?role=connect`).
    pub fn receiver(url: &str) -> Result<Self, ConnectError> {
        let url = Url::parse(url)?;
        let open = adapter(url.scheme).receiver;
        Self::start(
            url,
            Side::Receiver,
            open,
            Some(|connection: Connection| connection.receiver),
        )
    }
}

/// `url` parsed, if it is an `shm://` URL.
#[cfg(feature = "tokio")]
fn shm_url(url: &str) -> Result<Option<Url>, ConnectError> {
    let url = Url::parse(url)?;
    Ok((url.scheme == Scheme::Shm).then_some(url))
}

impl<E> Opening<E> {
    /// An `shm://` sender: it opens (or makes) its segment now and each
    /// slice waits for a receiver to attach, holding the segment.
    fn awaiting_receiver(mut self) -> Result<Self, ConnectError>
    where
        super::shm::PendingSender: AwaitingPeer<E> + 'static,
    {
        let pending = super::shm::PendingSender::start(&self.url.name, &self.url.config)?;
        self.awaiting = Some(Await::Peer(Box::new(pending)));
        Ok(self)
    }

    fn start(
        url: Url,
        side: Side,
        open: fn(&Url) -> Result<E, ConnectError>,
        from: Option<fn(Connection) -> E>,
    ) -> Result<Self, ConnectError> {
        let started = Instant::now();
        let default_role = match side {
            Side::Sender => Role::Connect,
            Side::Receiver => Role::Listen,
        };
        let listen = adapter(url.scheme)
            .listen
            .filter(|_| from.is_some() && url.config.role.unwrap_or(default_role) == Role::Listen);
        let (awaiting, deadline) = match (listen, url.config.open_timeout) {
            (Some(listen), timeout) => {
                let mut bare = url.clone();
                bare.config.role = None;
                let deadline = timeout.map_or(Deadline::Never, Deadline::after);
                (Await::Accept(listen(&bare)?), deadline)
            }
            // A TCP connect is one attempt within the URL's timeout: cut
            // into slices, a connect to a host further away than a slice
            // would start over each time and never finish.
            // So is a Zenoh receiver's session connect. (A Zenoh sender
            // waits for its receiver in slices, `Opening::sender`.)
            (None, Some(_))
                if url.scheme == Scheme::Tcp
                    || (url.scheme == Scheme::Zenoh && side == Side::Receiver) =>
            {
                (Await::Once, Deadline::Now)
            }
            (None, Some(timeout)) => (Await::Retry, Deadline::after(timeout)),
            (None, None) => match Self::waits_unbounded(&url, side) {
                Some(deadline) => (Await::Retry, deadline),
                None => (Await::Once, Deadline::Now),
            },
        };
        Ok(Self {
            url,
            side,
            open,
            from,
            awaiting: Some(awaiting),
            deadline,
            started,
        })
    }

    /// How long the mechanism waits for the other side when the URL sets
    /// no timeout: a FIFO writer and an `shm://` sender as long as it
    /// takes; `None` for the rest, which do not wait (a refused connect
    /// fails at once, a queue or a FIFO reader opens at once). A `tcp://`
    /// connect to a host that does not answer is one attempt of at most
    /// [`DEFAULT_TCP_CONNECT_TIMEOUT`](super::DEFAULT_TCP_CONNECT_TIMEOUT): slicing it would retry a refused
    /// connection, which without `?timeout_ms=` is the answer.
    fn waits_unbounded(url: &Url, side: Side) -> Option<Deadline> {
        match (url.scheme, side) {
            (Scheme::Fifo | Scheme::Shm | Scheme::Zenoh, Side::Sender) => Some(Deadline::Never),
            _ => None,
        }
    }

    /// The channel being opened, as a URL without its options.
    pub fn endpoint(&self) -> &str {
        &self.url.endpoint
    }

    /// Waits up to `slice` for the other side: `Some(end)` once open,
    /// `None` if the slice passed (call again), or the error opening ends
    /// with ([`ConnectError::Timeout`] once the URL's `?timeout_ms=` has
    /// passed). After `Some` or an error, a further call is
    /// [`ConnectError::Unsupported`].
    pub fn wait(&mut self, slice: Duration) -> Result<Option<E>, ConnectError> {
        let Some(awaiting) = self.awaiting.take() else {
            return Err(ConnectError::Unsupported {
                endpoint: self.url.endpoint.clone(),
                reason: "this end is already open (or failed to open): start a new Opening".into(),
            });
        };
        let this_slice = match self.deadline {
            Deadline::At(at) => at.saturating_duration_since(Instant::now()).min(slice),
            Deadline::Now => Duration::ZERO,
            Deadline::Never => slice,
        };
        let deadline = self.deadline;
        match awaiting {
            Await::Once => (self.open)(&self.url).map(Some),
            Await::Accept(mut listener) => {
                match listener.accept_deadline(Deadline::after(this_slice)) {
                    // `from` is set wherever a listener is (`start`).
                    Ok(connection) => Ok(self.from.map(|from| from(connection))),
                    Err(ConnectError::Timeout { .. }) if !passed(deadline) => {
                        self.awaiting = Some(Await::Accept(listener));
                        Ok(None)
                    }
                    Err(e) => Err(self.waited(e)),
                }
            }
            Await::Peer(mut pending) => {
                if pending.wait_until(Deadline::after(this_slice)) {
                    Ok(Some(pending.finish()))
                } else if passed(deadline) {
                    Err(ConnectError::Timeout {
                        endpoint: self.url.endpoint.clone(),
                        what: "waiting for a receiver",
                        waited_ms: elapsed_ms(self.started),
                    })
                } else {
                    self.awaiting = Some(Await::Peer(pending));
                    Ok(None)
                }
            }
            Await::Retry => {
                let mut url = self.url.clone();
                url.config.open_timeout = Some(this_slice);
                match (self.open)(&url) {
                    Ok(end) => Ok(Some(end)),
                    // Nobody there yet: what a connect within the URL's
                    // timeout retries (the only connects that come here).
                    Err(
                        ConnectError::Timeout { .. }
                        | ConnectError::Refused { .. }
                        | ConnectError::NotFound { .. },
                    ) if !passed(deadline) => {
                        self.awaiting = Some(Await::Retry);
                        Ok(None)
                    }
                    Err(e) => Err(self.waited(e)),
                }
            }
        }
    }

    /// A timeout of the last slice, reported for the whole wait.
    fn waited(&self, error: ConnectError) -> ConnectError {
        match error {
            ConnectError::Timeout { endpoint, what, .. } => ConnectError::Timeout {
                endpoint,
                what,
                waited_ms: elapsed_ms(self.started),
            },
            other => other,
        }
    }
}

/// Whether `deadline` has passed.
fn passed(deadline: Deadline) -> bool {
    match deadline {
        Deadline::Now => true,
        Deadline::At(at) => Instant::now() >= at,
        Deadline::Never => false,
    }
}

/// Milliseconds since `start`, for a timeout error.
fn elapsed_ms(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}
