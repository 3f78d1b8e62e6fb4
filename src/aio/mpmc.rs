//! Async ends of the MPMC ring.

use bytemuck::Pod;

use super::endpoint::{Sent, async_receiver, async_sender};
use crate::PushError;
use crate::mpmc::{Receiver, Sender};

async_sender! {
    /// The async form of [`mpmc::Sender`](crate::mpmc::Sender):
    /// `send(v).await` and a `Sink<T>` (see [`crate::aio`]). For several
    /// async senders in one process, wrap several `try_clone`s.
    name: AsyncSender,
    generics: [T: Pod],
    ty: AsyncSender<T>,
    inner: Sender<T>,
    value: [] T,
    sink: T,
    error: PushError<T>,
    attempt: |end, v| match end.try_send(v) {
        Err(PushError::Full(back)) => Sent::Full(back),
        other => Sent::Done(other),
    },
    check: check_peers,
    // Woken every tick: an MPMC tick also reclaims dead participants'
    // claims and sleeper marks, which only the endpoint does.
    tick_probe: |_end| None,
}

async_receiver! {
    /// The async form of [`mpmc::Receiver`](crate::mpmc::Receiver):
    /// `recv().await` and a `Stream` of items (see [`crate::aio`]).
    name: AsyncReceiver,
    generics: [T: Pod],
    ty: AsyncReceiver<T>,
    inner: Receiver<T>,
    item: T,
    attempt: |end| end.try_recv(),
    check: check_peers,
    // Woken every tick: an MPMC tick also reclaims dead participants'
    // claims and sleeper marks, which only the endpoint does.
    tick_probe: |_end| None,
}
