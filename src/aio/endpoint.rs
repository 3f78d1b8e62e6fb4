//! The two shapes of async endpoint (a receiving one and a sending one),
//! written once as macros and stamped out per ring kind in `spsc`,
//! `bytes` and `mpmc`.

/// What one non-blocking send attempt did.
pub(crate) enum Sent<V, E> {
    /// Sent, or failed for good: the operation is over.
    Done(Result<(), E>),
    /// No room: the value comes back, to wait with.
    Full(V),
}

/// The `Waitable` impl of a blocking endpoint `$inner`, for both shapes
/// of async endpoint.
macro_rules! waitable {
    (
        generics: [$($gen:tt)*],
        inner: $inner:ty,
        check: $check:ident,
        tick_probe: |$probed:ident| $probe:expr $(,)?
    ) => {
        impl<$($gen)*> $crate::aio::Waitable for $inner {
            fn view(&self) -> $crate::aio::WakeView<'_> {
                $crate::aio::WakeView::of(self.memory())
            }

            fn poison_if_shrunk(&mut self) -> bool {
                match self.memory().shrunk() {
                    Some(found) => {
                        self.poison(found);
                        true
                    }
                    None => false,
                }
            }

            fn check_liveness(&mut self) {
                if let Some(found) = self.memory().liveness_tick(|| self.$check()) {
                    self.poison(found);
                }
            }

            fn strategy(&self) -> $crate::WaitStrategy {
                self.wait_strategy()
            }

            fn tick_probe(&self) -> Option<$crate::ring::TickProbe<'_>> {
                let $probed = self;
                $probe
            }
        }
    };
}

/// Defines an async receiving endpoint `$name` over `$inner`: `recv()`,
/// `PollRecv`, `Stream`, `into_async()` on `$inner`. `$attempt` is one
/// non-blocking receive (`PopError::Empty` when there is nothing).
macro_rules! async_receiver {
    (
        $(#[$meta:meta])*
        name: $name:ident,
        generics: [$($gen:tt)*],
        ty: $ty:ty,
        inner: $inner:ty,
        item: $item:ty,
        attempt: |$end:ident| $attempt:expr,
        check: $check:ident,
        tick_probe: |$probed:ident| $probe:expr $(,)?
    ) => {
        $(#[$meta])*
        pub struct $name<$($gen)*> {
            inner: $inner,
            park: $crate::aio::Park,
        }

        $crate::aio::endpoint::waitable! {
            generics: [$($gen)*],
            inner: $inner,
            check: $check,
            tick_probe: |$probed| $probe,
        }

        impl<$($gen)*> $inner {
            /// This endpoint as an async one (see [`crate::aio`]).
            pub fn into_async(self) -> $ty {
                <$ty>::new(self)
            }
        }

        impl<$($gen)*> $ty {
            /// Wraps a (blocking) endpoint.
            pub fn new(inner: $inner) -> Self {
                Self {
                    inner,
                    park: $crate::aio::Park::default(),
                }
            }

            /// The blocking endpoint back.
            pub fn into_inner(self) -> $inner {
                let mut this = std::mem::ManuallyDrop::new(self);
                let this = &mut *this;
                this.park.abandon(&this.inner);
                // SAFETY: `this` is never dropped (ManuallyDrop) nor used
                // again, so `park` and `inner` are each moved out once.
                drop(unsafe { std::ptr::read(&this.park) });
                // SAFETY: as just above.
                unsafe { std::ptr::read(&this.inner) }
            }

            /// The wrapped endpoint (for its `stats()`, `capacity()`, ...).
            pub fn get_ref(&self) -> &$inner {
                &self.inner
            }

            /// Receives the next item, waiting without a thread of its own.
            /// `Err(PopError::Disconnected)` once the peer is gone and
            /// everything it sent was received.
            ///
            /// Cancel-safe: dropping the future before it is ready loses no
            /// item (an item leaves the ring only in the poll that returns it).
            pub fn recv(&mut self) -> $crate::aio::RecvFuture<'_, Self> {
                $crate::aio::RecvFuture::new(self)
            }
        }

        impl<$($gen)*> $crate::aio::future::sealed::Sealed for $ty {}

        // Nothing in it is ever pinned (the endpoint is used through
        // `&mut`), so `Stream`/`Sink` callers need not pin it.
        impl<$($gen)*> Unpin for $ty {}

        impl<$($gen)*> $crate::aio::PollRecv for $ty {
            type Output = Result<$item, $crate::PopError>;

            #[inline(always)]
            fn poll_recv(
                &mut self,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Self::Output> {
                // The fast path, written out here so that it inlines into
                // the caller's future (through a closure the compiler kept
                // it out of line, and the result's round trip through the
                // stack cost more than the pop).
                if self.park.is_idle() {
                    let $end = &mut self.inner;
                    match $attempt {
                        Err($crate::PopError::Empty) => {}
                        done => {
                            self.park.done();
                            return std::task::Poll::Ready(done);
                        }
                    }
                }
                self.park.poll(&mut self.inner, cx, |$end: &mut $inner| {
                    $crate::aio::unless_empty($attempt)
                })
            }

            fn cancel_recv(&mut self) {
                self.park.abandon(&self.inner);
            }
        }

        /// Items until the peer is gone and everything it sent was
        /// received (then `None`); a corrupted ring yields its error.
        impl<$($gen)*> futures_core::Stream for $ty {
            type Item = Result<$item, $crate::PopError>;

            fn poll_next(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Option<Self::Item>> {
                use $crate::aio::PollRecv;
                match self.get_mut().poll_recv(cx) {
                    std::task::Poll::Ready(Err($crate::PopError::Disconnected)) => {
                        std::task::Poll::Ready(None)
                    }
                    std::task::Poll::Ready(other) => std::task::Poll::Ready(Some(other)),
                    std::task::Poll::Pending => std::task::Poll::Pending,
                }
            }
        }

        impl<$($gen)*> Drop for $ty {
            fn drop(&mut self) {
                // Before `inner` (and its mapping) goes: the waiter thread
                // must not read our wake word any more.
                self.park.abandon(&self.inner);
            }
        }

        impl<$($gen)*> std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("inner", &self.inner)
                    .finish_non_exhaustive()
            }
        }
    };
}

/// Defines an async sending endpoint `$name` over `$inner`: `send(v)`,
/// `PollSend<$value>`, `Sink<$sink>`, `into_async()` on `$inner`.
/// `$attempt` is one non-blocking send returning [`Sent`].
macro_rules! async_sender {
    (
        $(#[$meta:meta])*
        name: $name:ident,
        generics: [$($gen:tt)*],
        ty: $ty:ty,
        inner: $inner:ty,
        value: [$($vgen:tt)*] $value:ty,
        sink: $sink:ty,
        error: $error:ty,
        attempt: |$end:ident, $v:ident| $attempt:expr,
        check: $check:ident,
        tick_probe: |$probed:ident| $probe:expr $(,)?
    ) => {
        $(#[$meta])*
        pub struct $name<$($gen)*> {
            inner: $inner,
            park: $crate::aio::Park,
            /// The `Sink`'s one buffered value (`start_send` to the next flush).
            outgoing: Option<$sink>,
        }

        $crate::aio::endpoint::waitable! {
            generics: [$($gen)*],
            inner: $inner,
            check: $check,
            tick_probe: |$probed| $probe,
        }

        impl<$($gen)*> $inner {
            /// This endpoint as an async one (see [`crate::aio`]).
            pub fn into_async(self) -> $ty {
                <$ty>::new(self)
            }
        }

        impl<$($gen)*> $ty {
            /// Wraps a (blocking) endpoint.
            pub fn new(inner: $inner) -> Self {
                Self {
                    inner,
                    park: $crate::aio::Park::default(),
                    outgoing: None,
                }
            }

            /// The blocking endpoint back. A value the `Sink` buffered and
            /// never flushed is dropped: flush (or close) the sink first.
            pub fn into_inner(self) -> $inner {
                let mut this = std::mem::ManuallyDrop::new(self);
                let this = &mut *this;
                this.park.abandon(&this.inner);
                this.outgoing = None;
                // SAFETY: `this` is never dropped (ManuallyDrop) nor used
                // again, so `park` and `inner` are each moved out once;
                // `outgoing` is `None` now, so skipping its drop leaks nothing.
                drop(unsafe { std::ptr::read(&this.park) });
                // SAFETY: as just above.
                unsafe { std::ptr::read(&this.inner) }
            }

            /// The wrapped endpoint (for its `stats()`, `capacity()`, ...).
            pub fn get_ref(&self) -> &$inner {
                &self.inner
            }

            /// Sends `value`, waiting for room without a thread of its own.
            ///
            /// Cancel-safe: the value enters the ring only in the poll that
            /// returns `Ready(Ok(()))`; a future dropped before that sent
            /// nothing, and [`SendFuture::take_back`](crate::aio::SendFuture::take_back)
            /// returns the value.
            pub fn send<$($vgen)*>(&mut self, value: $value) -> $crate::aio::SendFuture<'_, Self, $value> {
                $crate::aio::SendFuture::new(self, value)
            }

            fn flush_outgoing(
                &mut self,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Result<(), $error>> {
                use $crate::aio::PollSend;
                if self.outgoing.is_none() {
                    return std::task::Poll::Ready(Ok(()));
                }
                let mut outgoing = self.outgoing.take();
                let polled = self.poll_send(cx, &mut outgoing);
                self.outgoing = outgoing;
                polled
            }
        }

        impl<$($gen)*> $crate::aio::future::sealed::Sealed for $ty {}

        // Nothing in it is ever pinned (the endpoint is used through
        // `&mut`), so `Stream`/`Sink` callers need not pin it.
        impl<$($gen)*> Unpin for $ty {}

        impl<$($gen)* $($vgen)*> $crate::aio::PollSend<$value> for $ty {
            type Error = $error;

            #[inline(always)]
            fn poll_send(
                &mut self,
                cx: &mut std::task::Context<'_>,
                value: &mut Option<$value>,
            ) -> std::task::Poll<Result<(), $error>> {
                // The fast path, inlined (as in `poll_recv`).
                if self.park.is_idle()
                    && let Some($v) = value.take()
                {
                    let $end = &mut self.inner;
                    match $attempt {
                        $crate::aio::endpoint::Sent::Done(result) => {
                            self.park.done();
                            return std::task::Poll::Ready(result);
                        }
                        $crate::aio::endpoint::Sent::Full(back) => *value = Some(back),
                    }
                }
                self.park.poll(&mut self.inner, cx, |$end: &mut $inner| {
                    let $v = value.take()?;
                    match $attempt {
                        $crate::aio::endpoint::Sent::Done(result) => Some(result),
                        $crate::aio::endpoint::Sent::Full(back) => {
                            *value = Some(back);
                            None
                        }
                    }
                })
            }

            fn cancel_send(&mut self) {
                self.park.abandon(&self.inner);
            }
        }

        /// Buffers one value (`start_send`), sent by the next
        /// `poll_ready`, `poll_flush` or `poll_close`.
        impl<$($gen)*> futures_sink::Sink<$sink> for $ty {
            type Error = $error;

            fn poll_ready(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Result<(), $error>> {
                self.get_mut().flush_outgoing(cx)
            }

            fn start_send(self: std::pin::Pin<&mut Self>, item: $sink) -> Result<(), $error> {
                let this = self.get_mut();
                // A caller that skipped `poll_ready` replaces nothing: the
                // older value is sent first by the next flush.
                debug_assert!(this.outgoing.is_none(), "start_send without poll_ready");
                this.outgoing.get_or_insert(item);
                Ok(())
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Result<(), $error>> {
                self.get_mut().flush_outgoing(cx)
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Result<(), $error>> {
                self.get_mut().flush_outgoing(cx)
            }
        }

        impl<$($gen)*> Drop for $ty {
            fn drop(&mut self) {
                // Before `inner` (and its mapping) goes: the waiter thread
                // must not read our wake word any more.
                self.park.abandon(&self.inner);
            }
        }

        impl<$($gen)*> std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("inner", &self.inner)
                    .finish_non_exhaustive()
            }
        }
    };
}

pub(crate) use {async_receiver, async_sender, waitable};
