//! Async ends of the typed SPSC ring.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytemuck::Pod;

use super::endpoint::{Sent, async_receiver, async_sender};
use crate::spsc::{Consumer, Producer};
use crate::{PopError, PushError, ReserveError};

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
    tick_probe: |end| Some(end.memory().tick_probe()),
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
    tick_probe: |end| Some(end.memory().tick_probe()),
}

impl<T: Pod> AsyncProducer<T> {
    /// Sends a prefix of `items`: waits (as [`send`](Self::send) does)
    /// until the ring has room for one, then copies in as many as fit now,
    /// with one publish, and returns how many. Loop for the rest. This is
    /// the async form of [`Producer::write_chunk`]: one await per batch,
    /// not per item.
    ///
    /// Cancel-safe: items enter the ring only in the poll that returns
    /// `Ready(Ok(n))`; a future dropped before that sent none.
    ///
    /// ```no_run
    /// use shmlane::{Options, spsc};
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tx = spsc::Producer::<u64>::create("ticks", &Options::new())?.into_async();
    /// let ticks: Vec<u64> = (0..1000).collect();
    /// let mut rest = &ticks[..];
    /// while !rest.is_empty() {
    ///     let n = tx.send_slice(rest).await?;
    ///     rest = &rest[n..];
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn send_slice<'a>(&'a mut self, items: &'a [T]) -> Batch<'a, Self, &'a [T]> {
        Batch::new(self, items, |tx| tx.park.abandon(&tx.inner))
    }
}

impl<T: Pod> AsyncConsumer<T> {
    /// Receives up to `max` items into `out` (appended): waits (as
    /// [`recv`](Self::recv) does) until one is ready, then takes every one
    /// ready now, up to `max`, with one publish, and returns how many.
    /// `Err(PopError::Disconnected)` once the producer is gone and
    /// everything it sent was received. The async form of
    /// [`Consumer::read_chunk`]: one await per batch, not per item.
    ///
    /// Cancel-safe: items leave the ring only in the poll that returns
    /// `Ready(Ok(n))`; a future dropped before that took none.
    ///
    /// ```no_run
    /// use shmlane::{Options, PopError, spsc};
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut rx = spsc::Consumer::<u64>::open("ticks", &Options::new())?.into_async();
    /// let mut batch = Vec::with_capacity(256);
    /// loop {
    ///     batch.clear();
    ///     match rx.recv_many(&mut batch, 256).await {
    ///         Ok(_) => { /* every item in batch, in order */ }
    ///         Err(PopError::Disconnected) => break,
    ///         Err(e) => return Err(e.into()),
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn recv_many<'a>(
        &'a mut self,
        out: &'a mut Vec<T>,
        max: usize,
    ) -> Batch<'a, Self, (&'a mut Vec<T>, usize)> {
        Batch::new(self, (out, max), |rx| rx.park.abandon(&rx.inner))
    }
}

/// The future of [`AsyncProducer::send_slice`] and
/// [`AsyncConsumer::recv_many`]: one batch moved, `Ready(Ok(n))`.
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Batch<'a, E, A> {
    /// `None` once complete.
    end: Option<&'a mut E>,
    args: A,
    /// Withdraws the endpoint's parked operation (on drop).
    abandon: fn(&mut E),
}

impl<'a, E, A> Batch<'a, E, A> {
    fn new(end: &'a mut E, args: A, abandon: fn(&mut E)) -> Self {
        Self {
            end: Some(end),
            args,
            abandon,
        }
    }
}

// Nothing is pinned: the future holds a reference and its arguments.
impl<E, A> Unpin for Batch<'_, E, A> {}

impl<T: Pod> Future for Batch<'_, AsyncProducer<T>, &[T]> {
    type Output = Result<usize, ReserveError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let items = this.args;
        let Some(end) = this.end.as_mut() else {
            return Poll::Pending; // polled after it completed
        };
        let polled = end.park.poll(&mut end.inner, cx, |tx: &mut Producer<T>| {
            match tx.write_chunk(items.len()) {
                Ok(mut chunk) => {
                    let (first, second) = chunk.as_mut_slices();
                    first.copy_from_slice(&items[..first.len()]);
                    second.copy_from_slice(&items[first.len()..first.len() + second.len()]);
                    Some(Ok(chunk.commit_all()))
                }
                Err(ReserveError::Full) if !items.is_empty() => None,
                Err(ReserveError::Full) => Some(Ok(0)),
                Err(e) => Some(Err(e)),
            }
        });
        if polled.is_ready() {
            this.end = None;
        }
        polled
    }
}

impl<T: Pod> Future for Batch<'_, AsyncConsumer<T>, (&mut Vec<T>, usize)> {
    type Output = Result<usize, PopError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (out, max) = (&mut *this.args.0, this.args.1);
        let Some(end) = this.end.as_mut() else {
            return Poll::Pending; // polled after it completed
        };
        let polled = end.park.poll(&mut end.inner, cx, |rx: &mut Consumer<T>| {
            match rx.read_chunk(max) {
                Ok(chunk) => {
                    let (first, second) = chunk.as_slices();
                    out.extend_from_slice(first);
                    out.extend_from_slice(second);
                    Some(Ok(chunk.release_all()))
                }
                Err(PopError::Empty) => None,
                Err(e) => Some(Err(e)),
            }
        });
        if polled.is_ready() {
            this.end = None;
        }
        polled
    }
}

impl<E, A> Drop for Batch<'_, E, A> {
    fn drop(&mut self) {
        // Parked and dropped: withdraw, as a dropped `recv`/`send` does.
        if let Some(end) = self.end.take() {
            (self.abandon)(end);
        }
    }
}
