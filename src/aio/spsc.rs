//! Async ends of the typed SPSC ring.

use bytemuck::Pod;

use super::endpoint::{Sent, async_receiver, async_sender};
use crate::PushError;
use crate::spsc::{Consumer, Producer};

async_sender! {
    /// The async form of [`spsc::Producer`](crate::spsc::Producer):
    /// `send(v).await` and a `Sink<T>` (see [`crate::aio`]).
    ///
    /// ```no_run
    /// use shmlane::{Options, spsc};
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tx = spsc::Producer::<u64>::create("ticks", &Options::new())?.into_async();
    /// tx.send(42).await.map_err(|e| e.to_string())?;
    /// # Ok(())
    /// # }
    /// ```
    name: AsyncProducer,
    generics: [T: Pod],
    ty: AsyncProducer<T>,
    inner: Producer<T>,
    value: [] T,
    sink: T,
    error: PushError<T>,
    attempt: |end, v| match end.push(v) {
        Err(PushError::Full(back)) => Sent::Full(back),
        other => Sent::Done(other),
    },
    check: check_peer,
}

async_receiver! {
    /// The async form of [`spsc::Consumer`](crate::spsc::Consumer):
    /// `recv().await` and a `Stream` of items (see [`crate::aio`]).
    ///
    /// ```no_run
    /// use shmlane::{Options, spsc};
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut rx = spsc::Consumer::<u64>::open("ticks", &Options::new())?.into_async();
    /// while let Ok(tick) = rx.recv().await {
    ///     println!("{tick}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    name: AsyncConsumer,
    generics: [T: Pod],
    ty: AsyncConsumer<T>,
    inner: Consumer<T>,
    item: T,
    attempt: |end| end.pop(),
    check: check_peer,
}
