//! The futures of every async endpoint, over two small traits the
//! endpoints implement.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pub(crate) mod sealed {
    /// Only this crate's async endpoints implement [`PollRecv`](super::PollRecv)
    /// and [`PollSend`](super::PollSend).
    pub trait Sealed {}
}

/// An async endpoint that receives: [`poll_recv`](Self::poll_recv) is
/// what its `recv()` future and its `Stream` poll.
pub trait PollRecv: sealed::Sealed {
    /// What a receive answers (the item, or why there is none).
    type Output;

    /// Receives if something is ready, else registers `cx`'s waker and
    /// returns `Pending`. An item leaves the ring only in a call that
    /// returns it.
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Self::Output>;

    /// Withdraws a parked receive (a dropped future calls it).
    fn cancel_recv(&mut self);
}

/// An async endpoint that sends values of type `V`.
pub trait PollSend<V>: sealed::Sealed {
    /// Why a send failed (for typed rings it carries the value back).
    type Error;

    /// Sends the value in `value` if there is room, taking it out of the
    /// option; else registers `cx`'s waker, leaves the value where it is
    /// and returns `Pending`. On an error the value is in the error (typed
    /// rings) or stays the caller's (the byte ring's borrowed frame).
    fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        value: &mut Option<V>,
    ) -> Poll<Result<(), Self::Error>>;

    /// Withdraws a parked send (a dropped future calls it).
    fn cancel_send(&mut self);
}

/// The future of an endpoint's `recv()`. Dropping it before it is ready
/// loses nothing: the item stays in the ring for the next receive.
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct RecvFuture<'a, E: PollRecv> {
    end: Option<&'a mut E>,
}

impl<'a, E: PollRecv> RecvFuture<'a, E> {
    pub(crate) fn new(end: &'a mut E) -> Self {
        Self { end: Some(end) }
    }
}

impl<E: PollRecv> Future for RecvFuture<'_, E> {
    type Output = E::Output;

    #[inline(always)]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<E::Output> {
        let Some(end) = self.end.as_mut() else {
            // Polled after it completed: a bug in the caller's executor
            // code; answer as a fresh receive would rather than panic.
            return Poll::Pending;
        };
        let polled = end.poll_recv(cx);
        if polled.is_ready() {
            self.end = None;
        }
        polled
    }
}

impl<E: PollRecv> Drop for RecvFuture<'_, E> {
    fn drop(&mut self) {
        if let Some(end) = self.end.take() {
            end.cancel_recv();
        }
    }
}

/// The future of an endpoint's `send(value)`. The value enters the ring
/// only in the poll that returns `Ready(Ok(()))`: a future dropped before
/// that sent nothing, and [`take_back`](Self::take_back) returns its value.
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct SendFuture<'a, E: PollSend<V>, V> {
    end: Option<&'a mut E>,
    value: Option<V>,
}

impl<'a, E: PollSend<V>, V> SendFuture<'a, E, V> {
    pub(crate) fn new(end: &'a mut E, value: V) -> Self {
        Self {
            end: Some(end),
            value: Some(value),
        }
    }

    /// The value, if it was not sent (`None` once it is in the ring, or
    /// handed back in an error). Withdraws the parked send: the future is
    /// done, and stays pending if polled again.
    pub fn take_back(&mut self) -> Option<V> {
        if let Some(end) = self.end.take() {
            end.cancel_send();
        }
        self.value.take()
    }
}

// No field is ever pinned (the future holds a reference and a value it
// moves out), so it may move freely even when `V` is not `Unpin`.
impl<E: PollSend<V>, V> Unpin for SendFuture<'_, E, V> {}

impl<E: PollSend<V>, V> Future for SendFuture<'_, E, V> {
    type Output = Result<(), E::Error>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(end) = this.end.as_mut() else {
            return Poll::Pending;
        };
        let polled = end.poll_send(cx, &mut this.value);
        if polled.is_ready() {
            this.end = None;
        }
        polled
    }
}

impl<E: PollSend<V>, V> Drop for SendFuture<'_, E, V> {
    fn drop(&mut self) {
        if let Some(end) = self.end.take() {
            end.cancel_send();
        }
    }
}
