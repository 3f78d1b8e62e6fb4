//! Async ends of the transports: [`AsyncSender`] and [`AsyncReceiver`],
//! made by [`transport::async_sender`](crate::transport::async_sender) and
//! [`transport::async_receiver`](crate::transport::async_receiver) from
//! any URL.
//!
//! How each waits without a thread of its own:
//!
//! * `shm://`: on its ring's wake word, through the waiter thread, as the
//!   ring endpoints of [`crate::aio`] do (no syscall while the peer is
//!   awake).
//! * Mechanisms with a descriptor (pipe, FIFO, POSIX queue, Unix and TCP
//!   sockets; [`Sender::ready_fd`]): tokio's `AsyncFd` on it, so the
//!   runtime's epoll wakes the task. These ends need a tokio runtime with
//!   its I/O driver (`enable_io`, or `enable_all`).
//! * System V queues (no descriptor): the attempt is retried after a
//!   short sleep that grows from 100 µs to 5 ms while nothing comes (a
//!   tokio timer: the runtime needs `enable_time`).
//!
//! Cancellation: dropping a `recv` future loses no message (a message is
//! taken only in the poll that returns it). Dropping a `send` future either
//! left the message out of the channel, or it was accepted: then it is in
//! the channel, or its rest is held by the sender and goes out with the
//! next `send`, `flush` or `close` (a stream is never left with a torn
//! frame).

use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::Park;
use crate::transport::shm::{ShmReceiver, ShmSender};
use crate::transport::{ConnectError, Deadline, Opening, Receiver, RecvError, SendError, Sender};
use crate::{GrantError, PopError};

/// The descriptor tokio watches: a duplicate of the end's, owned here, so
/// that it stays open (and names the same open file description) for as
/// long as tokio watches it, whatever the end does with its own. A sender
/// drops it when it closes: a pipe's reader sees the end only once every
/// write descriptor is closed.
#[derive(Debug)]
struct Watched(OwnedFd);

impl AsRawFd for Watched {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// Sleeps between attempts of an end without a descriptor.
#[derive(Debug)]
struct Polled {
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    pause: Duration,
}

/// The shortest and longest pause between two attempts of a polled end.
const MIN_PAUSE: Duration = Duration::from_micros(100);
const MAX_PAUSE: Duration = Duration::from_millis(5);

impl Polled {
    fn new() -> Self {
        Self {
            sleep: None,
            pause: MIN_PAUSE,
        }
    }

    /// After an attempt that found nothing: `Pending` until the pause is
    /// over (the task is woken then).
    fn poll_pause(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let pause = self.pause;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(pause)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.sleep = None;
                self.pause = (self.pause * 2).min(MAX_PAUSE);
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// An attempt did something: the next wait starts short again.
    fn reset(&mut self) {
        self.sleep = None;
        self.pause = MIN_PAUSE;
    }
}

/// How an end that is not ready waits: its descriptor, or a pause.
#[derive(Debug)]
enum FdWait {
    Fd(AsyncFd<Watched>),
    Polled(Polled),
}

impl FdWait {
    /// The wait of an end whose descriptor (if any) is `fd`, for `interest`.
    fn new(
        fd: Option<BorrowedFd<'_>>,
        interest: Interest,
        endpoint: &str,
    ) -> Result<Self, ConnectError> {
        let failed = |op, source| ConnectError::Io {
            endpoint: endpoint.to_owned(),
            op,
            source,
        };
        let Some(fd) = fd else {
            return Ok(FdWait::Polled(Polled::new()));
        };
        let watched = Watched(fd.try_clone_to_owned().map_err(|e| failed("dup", e))?);
        // SAFETY: `watched` owns its descriptor, which is open and stays
        // so (naming the same open file description) until the `AsyncFd`,
        // which owns `watched`, is dropped.
        let registered = unsafe { AsyncFd::register_with_interest(watched, interest) };
        registered.map(FdWait::Fd).map_err(|e| {
            failed(
                "register with the tokio runtime (it needs its I/O driver: enable_io)",
                e.into(),
            )
        })
    }

    /// Polls `attempt` (`None`: not ready) until it answers, waiting
    /// between attempts for the descriptor to turn readable (`write`:
    /// writable), or for a pause.
    fn poll<R>(
        &mut self,
        cx: &mut Context<'_>,
        write: bool,
        mut attempt: impl FnMut() -> Option<R>,
    ) -> Poll<io::Result<R>> {
        match self {
            FdWait::Fd(fd) => loop {
                // What the end holds already (a read-ahead, a frame's
                // rest) needs no readiness: try before waiting.
                if let Some(done) = attempt() {
                    return Poll::Ready(Ok(done));
                }
                let ready = if write {
                    fd.poll_write_ready(cx)
                } else {
                    fd.poll_read_ready(cx)
                };
                let mut guard = match ready {
                    Poll::Ready(guard) => guard?,
                    Poll::Pending => return Poll::Pending,
                };
                // Tried under the guard: readiness is cleared only by an
                // attempt that found nothing since the event (tokio
                // keeps a newer event).
                if let Some(done) = attempt() {
                    return Poll::Ready(Ok(done));
                }
                guard.clear_ready();
            },
            FdWait::Polled(polled) => loop {
                if let Some(done) = attempt() {
                    polled.reset();
                    return Poll::Ready(Ok(done));
                }
                if polled.poll_pause(cx).is_pending() {
                    return Poll::Pending;
                }
            },
        }
    }
}

/// The two kinds of sending end.
enum SendEnd {
    /// `shm://`: the ring's wait.
    Ring { tx: Box<ShmSender>, park: Park },
    /// Any other mechanism. `wait` is declared first: it is dropped (and
    /// the descriptor unwatched) before the end closes it.
    Other { wait: FdWait, tx: Box<dyn Sender> },
}

/// The sending end of a channel, async: [`send`](Self::send),
/// [`flush`](Self::flush), [`close`](Self::close). Made by
/// [`transport::async_sender`](crate::transport::async_sender).
pub struct AsyncSender {
    end: SendEnd,
}

impl std::fmt::Debug for AsyncSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncSender")
            .field("endpoint", &self.endpoint())
            .finish_non_exhaustive()
    }
}

/// What one attempt of a sender's operation gives: `None` to wait.
fn unless_full(result: Result<(), SendError>) -> Option<Result<(), SendError>> {
    match result {
        Err(SendError::Full | SendError::Timeout) => None,
        other => Some(other),
    }
}

impl AsyncSender {
    fn new(end: SendEnd) -> Self {
        Self { end }
    }

    /// The channel, as a URL without its options.
    pub fn endpoint(&self) -> &str {
        match &self.end {
            SendEnd::Ring { tx, .. } => tx.endpoint(),
            SendEnd::Other { tx, .. } => tx.endpoint(),
        }
    }

    /// The channel's maximum message size in bytes.
    pub fn max_message_size(&self) -> usize {
        match &self.end {
            SendEnd::Ring { tx, .. } => tx.max_message_size(),
            SendEnd::Other { tx, .. } => tx.max_message_size(),
        }
    }

    /// Sends `msg`, waiting for room without a thread of its own.
    pub async fn send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        Withdrawn {
            end: self,
            op: |end: &mut Self, cx: &mut Context<'_>, accepted: &mut bool| {
                end.poll_send(cx, msg, accepted)
            },
            state: false,
        }
        .await
    }

    /// Withdraws a parked send (its future was dropped).
    fn cancel(&mut self) {
        if let SendEnd::Ring { tx, park } = &mut self.end
            && let Some(ring) = tx.ring_mut()
        {
            park.abandon(ring);
        }
    }

    /// One poll of a send: `accepted` turns true once the message is the
    /// sender's (then only its rest is flushed).
    fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        msg: &[u8],
        accepted: &mut bool,
    ) -> Poll<Result<(), SendError>> {
        match &mut self.end {
            SendEnd::Ring { tx, park } => {
                let Some(ring) = tx.ring_mut() else {
                    // Closed: the error the blocking send gives.
                    return Poll::Ready(tx.send_deadline(msg, Deadline::Now));
                };
                let sent = park.poll(ring, cx, |ring| match ring.try_send(msg) {
                    Err(GrantError::Full) => None,
                    other => Some(other),
                });
                sent.map(|result| result.map_err(|e| tx.send_error(e)))
            }
            SendEnd::Other { wait, tx } => {
                let polled = wait.poll(cx, true, || {
                    if *accepted {
                        return unless_full(tx.flush_deadline(Deadline::Now));
                    }
                    match tx.send_deadline(msg, Deadline::Now) {
                        Err(SendError::Incomplete { .. }) => {
                            // Accepted, part written: the rest next.
                            *accepted = true;
                            unless_full(tx.flush_deadline(Deadline::Now))
                        }
                        other => unless_full(other),
                    }
                });
                polled.map(|r| r.unwrap_or_else(|e| Err(io_failed(tx.endpoint(), e))))
            }
        }
    }

    /// Writes out the rest of an accepted message, if any.
    pub async fn flush(&mut self) -> Result<(), SendError> {
        match &mut self.end {
            SendEnd::Ring { .. } => Ok(()),
            SendEnd::Other { wait, tx } => {
                let polled = std::future::poll_fn(|cx| {
                    wait.poll(cx, true, || unless_full(tx.flush_deadline(Deadline::Now)))
                })
                .await;
                polled.unwrap_or_else(|e| Err(io_failed(tx.endpoint(), e)))
            }
        }
    }

    /// Flushes, then ends the stream: the receiver sees the end after the
    /// last message.
    pub async fn close(&mut self) -> Result<(), SendError> {
        self.flush().await?;
        match &mut self.end {
            SendEnd::Ring { tx, park } => {
                if let Some(ring) = tx.ring_mut() {
                    park.abandon(ring);
                }
                tx.close_deadline(Deadline::Now)
            }
            SendEnd::Other { tx, wait } => {
                // An end marker may need room too (a queue's).
                let closed = std::future::poll_fn(|cx| {
                    wait.poll(cx, true, || unless_full(tx.close_deadline(Deadline::Now)))
                })
                .await
                .unwrap_or_else(|e| Err(io_failed(tx.endpoint(), e)));
                // Our duplicate of its descriptor goes too (see `Watched`).
                *wait = FdWait::Polled(Polled::new());
                closed
            }
        }
    }
}

impl Drop for AsyncSender {
    fn drop(&mut self) {
        // Before the ring goes: the waiter thread must not read its word.
        if let SendEnd::Ring { tx, park } = &mut self.end
            && let Some(ring) = tx.ring_mut()
        {
            park.abandon(ring);
        }
    }
}

/// The two kinds of receiving end.
enum RecvEnd {
    Ring { rx: Box<ShmReceiver>, park: Park },
    Other { wait: FdWait, rx: Box<dyn Receiver> },
}

/// The receiving end of a channel, async: [`recv`](Self::recv), and a
/// `Stream` of messages. Made by
/// [`transport::async_receiver`](crate::transport::async_receiver).
pub struct AsyncReceiver {
    end: RecvEnd,
}

impl std::fmt::Debug for AsyncReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncReceiver")
            .field("endpoint", &self.endpoint())
            .finish_non_exhaustive()
    }
}

/// What one attempt of a receive gives: `None` to wait.
fn unless_empty(result: Result<usize, RecvError>) -> Option<Result<usize, RecvError>> {
    match result {
        Err(RecvError::Empty | RecvError::Timeout) => None,
        other => Some(other),
    }
}

impl AsyncReceiver {
    /// The channel, as a URL without its options.
    pub fn endpoint(&self) -> &str {
        match &self.end {
            RecvEnd::Ring { rx, .. } => rx.endpoint(),
            RecvEnd::Other { rx, .. } => rx.endpoint(),
        }
    }

    /// The channel's maximum message size in bytes.
    pub fn max_message_size(&self) -> usize {
        match &self.end {
            RecvEnd::Ring { rx, .. } => rx.max_message_size(),
            RecvEnd::Other { rx, .. } => rx.max_message_size(),
        }
    }

    /// Receives the next message into `buf` (replacing its contents) and
    /// returns its length, waiting without a thread of its own;
    /// [`RecvError::Disconnected`] once the sender is gone and everything
    /// it sent was received. Cancel-safe.
    pub async fn recv(&mut self, buf: &mut Vec<u8>) -> Result<usize, RecvError> {
        Withdrawn {
            end: self,
            op: |end: &mut Self, cx: &mut Context<'_>, _: &mut ()| end.poll_recv(cx, buf),
            state: (),
        }
        .await
    }

    /// Withdraws a parked receive (its future was dropped).
    fn cancel(&mut self) {
        if let RecvEnd::Ring { rx, park } = &mut self.end {
            park.abandon(rx.ring_mut());
        }
    }

    /// One poll of a receive into `buf`.
    pub fn poll_recv(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut Vec<u8>,
    ) -> Poll<Result<usize, RecvError>> {
        match &mut self.end {
            RecvEnd::Ring { rx, park } => {
                let received = park.poll(rx.ring_mut(), cx, |ring| match ring.try_recv(buf) {
                    Err(PopError::Empty) => None,
                    other => Some(other),
                });
                received.map(|result| result.map_err(|e| rx.recv_error(e)))
            }
            RecvEnd::Other { wait, rx } => {
                let polled = wait.poll(cx, false, || {
                    unless_empty(rx.recv_deadline(buf, Deadline::Now))
                });
                polled.map(|r| {
                    r.unwrap_or_else(|source| {
                        Err(RecvError::Io {
                            endpoint: rx.endpoint().into(),
                            op: "wait for readiness",
                            source,
                        })
                    })
                })
            }
        }
    }
}

/// Messages until the sender is gone and everything it sent was received
/// (then `None`); any other error is an item.
impl futures_core::Stream for AsyncReceiver {
    type Item = Result<Vec<u8>, RecvError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut msg = Vec::new();
        match self.get_mut().poll_recv(cx, &mut msg) {
            Poll::Ready(Ok(_)) => Poll::Ready(Some(Ok(msg))),
            Poll::Ready(Err(RecvError::Disconnected { .. })) => Poll::Ready(None),
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for AsyncReceiver {
    fn drop(&mut self) {
        if let RecvEnd::Ring { rx, park } = &mut self.end {
            park.abandon(rx.ring_mut());
        }
    }
}

/// An end that can withdraw a parked operation.
trait Cancel {
    fn cancel(&mut self);
}

impl Cancel for AsyncSender {
    fn cancel(&mut self) {
        AsyncSender::cancel(self);
    }
}

impl Cancel for AsyncReceiver {
    fn cancel(&mut self) {
        AsyncReceiver::cancel(self);
    }
}

/// The future of one operation of an end, withdrawing it from the ring's
/// sleepers if it is dropped before it is ready (so publishers go back to
/// making no wake syscall at once, not at the end's next call).
struct Withdrawn<'a, E: Cancel, S, F> {
    end: &'a mut E,
    op: F,
    state: S,
}

impl<E: Cancel, S: Unpin, F: Unpin, R> Future for Withdrawn<'_, E, S, F>
where
    F: FnMut(&mut E, &mut Context<'_>, &mut S) -> Poll<R>,
{
    type Output = R;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        let this = self.get_mut();
        (this.op)(this.end, cx, &mut this.state)
    }
}

impl<E: Cancel, S, F> Drop for Withdrawn<'_, E, S, F> {
    fn drop(&mut self) {
        // After a `Ready` the end is idle already: nothing to withdraw.
        self.end.cancel();
    }
}

/// A failed wait for readiness, as a send error.
fn io_failed(endpoint: &str, source: io::Error) -> SendError {
    SendError::Io {
        endpoint: endpoint.into(),
        op: "wait for readiness",
        source,
    }
}

/// How long one slice of an async open blocks a thread of tokio's
/// blocking pool: a dropped open future leaves at most this much behind.
const OPEN_SLICE: Duration = Duration::from_millis(50);

/// Waits for an [`Opening`] without blocking the runtime: each slice runs
/// on tokio's blocking pool (a FIFO writer's wait, an accept, a connect
/// are blocking calls); the task awaits it.
async fn opened<E: Send + 'static>(mut opening: Opening<E>) -> Result<E, ConnectError> {
    loop {
        let endpoint = opening.endpoint().to_owned();
        let slice = tokio::task::spawn_blocking(move || {
            let outcome = opening.wait(OPEN_SLICE);
            (opening, outcome)
        });
        let (back, outcome) = slice.await.map_err(|e| ConnectError::Io {
            endpoint,
            op: "open on tokio's blocking pool",
            source: io::Error::other(e),
        })?;
        if let Some(end) = outcome? {
            return Ok(end);
        }
        opening = back;
    }
}

/// Opens the sending end of `url`, async (see
/// [`transport::async_sender`](crate::transport::async_sender)).
pub(crate) async fn sender(url: &str) -> Result<AsyncSender, ConnectError> {
    crate::transport::refuse_without_async_end(url)?;
    if let Some(opening) = Opening::shm_sender(url)? {
        let tx = opened(opening).await?;
        return Ok(AsyncSender::new(SendEnd::Ring {
            tx: Box::new(tx),
            park: Park::default(),
        }));
    }
    let tx = opened(Opening::sender(url)?).await?;
    let wait = FdWait::new(tx.ready_fd(), Interest::WRITABLE, tx.endpoint())?;
    Ok(AsyncSender::new(SendEnd::Other { wait, tx }))
}

/// Opens the receiving end of `url`, async (see
/// [`transport::async_receiver`](crate::transport::async_receiver)).
pub(crate) async fn receiver(url: &str) -> Result<AsyncReceiver, ConnectError> {
    crate::transport::refuse_without_async_end(url)?;
    if let Some(opening) = Opening::shm_receiver(url)? {
        let rx = opened(opening).await?;
        return Ok(AsyncReceiver {
            end: RecvEnd::Ring {
                rx: Box::new(rx),
                park: Park::default(),
            },
        });
    }
    let rx = opened(Opening::receiver(url)?).await?;
    let wait = FdWait::new(rx.ready_fd(), Interest::READABLE, rx.endpoint())?;
    Ok(AsyncReceiver {
        end: RecvEnd::Other { wait, rx },
    })
}
