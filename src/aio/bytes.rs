//! Async ends of the byte ring.

use super::endpoint::{Sent, async_receiver, async_sender};
use crate::bytes::{Consumer, Producer};
use crate::{GrantError, Overflow};

async_sender! {
    /// The async form of [`bytes::Producer`](crate::bytes::Producer):
    /// `send(frame).await` (any `AsRef<[u8]>`, copied into the ring) and a
    /// `Sink<Vec<u8>>` (see [`crate::aio`]). A ring made with
    /// [`Overflow::Fail`] fails a send on a full ring at once, as its
    /// blocking `send` does; [`Overflow::DropNewest`] drops the frame.
    name: AsyncProducer,
    generics: [],
    ty: AsyncProducer,
    inner: Producer,
    value: [V: AsRef<[u8]>] V,
    sink: Vec<u8>,
    error: GrantError,
    attempt: |end, v| match end.try_send(v.as_ref()) {
        Err(GrantError::Full) if end.overflow() != Overflow::Fail => Sent::Full(v),
        other => Sent::Done(other),
    },
    check: check_peer,
    tick_probe: |end| Some(end.memory().tick_probe()),
}

async_receiver! {
    /// The async form of [`bytes::Consumer`](crate::bytes::Consumer):
    /// `recv().await` returns the next frame as a `Vec<u8>` (one copy out of
    /// the ring), and a `Stream` of them (see [`crate::aio`]).
    name: AsyncConsumer,
    generics: [],
    ty: AsyncConsumer,
    inner: Consumer,
    item: Vec<u8>,
    attempt: |end| {
        let mut frame = Vec::new();
        end.try_recv(&mut frame).map(|_| frame)
    },
    check: check_peer,
    tick_probe: |end| Some(end.memory().tick_probe()),
}
