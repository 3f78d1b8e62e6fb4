//! Async endpoints (cargo feature `tokio`): every ring's endpoints as
//! futures, [`Stream`](futures_core::Stream)s and
//! [`Sink`](futures_sink::Sink)s, for async services that should not keep
//! a thread per ring.
//!
//! * [`spsc`]: [`AsyncProducer`](spsc::AsyncProducer) and
//!   [`AsyncConsumer`](spsc::AsyncConsumer) over the typed SPSC ring.
//! * [`bytes`]: [`AsyncProducer`](bytes::AsyncProducer) and
//!   [`AsyncConsumer`](bytes::AsyncConsumer) over the byte ring.
//! * [`mpmc`]: [`AsyncSender`](mpmc::AsyncSender) and
//!   [`AsyncReceiver`](mpmc::AsyncReceiver) over the MPMC ring.
//! * [`transport`]: [`AsyncSender`](transport::AsyncSender) and
//!   [`AsyncReceiver`](transport::AsyncReceiver) over any transport URL,
//!   from [`transport::async_sender`](crate::transport::async_sender) and
//!   [`transport::async_receiver`](crate::transport::async_receiver)
//!   (`shm://` waits as the rings do; a descriptor in tokio's epoll).
//!
//! Each wraps the blocking endpoint it is made from (`new`, or
//! `into_async()` on the endpoint) and gives it back (`into_inner`). The
//! wrappers use std [`Waker`](std::task::Waker)s only: they run on tokio
//! (the feature's name, and what the examples and tests use) and on any
//! other executor.
//!
//! # How a parked task is woken
//!
//! A futex word cannot be polled by epoll. An operation that cannot go on
//! announces itself on its ring's wake word exactly as a blocking call
//! does before it sleeps (the same eventcount: a publisher makes a wake
//! syscall only while a sleeper is announced, so none while the task is
//! running), re-checks, and hands the word to one background thread per
//! process (`shmlane-aio`), which sleeps in `futex_waitv` on the words of
//! every parked endpoint and wakes the task's `Waker` when its word moves.
//! The task withdraws its announcement at its next poll. A parked task is
//! also woken once every [`LIVENESS_TICK`] to check
//! that its peer is alive, as a blocking call does (staying announced and
//! registered: its word has not moved). Before parking, an
//! operation polls in place for up to 10 µs (as a blocking call spins
//! before it waits), then re-polls by yielding to the executor for a few
//! tens of microseconds (a peer answering at once costs no syscall on either
//! side); an idle endpoint costs the waiter thread one wake per tick. The
//! endpoint's [`WaitStrategy`] decides: the default
//! `SpinThenPark` as just said, `Park` parks at once (no in-place polls, no
//! yields: the least CPU for a rarely busy endpoint), `Spin` never parks
//! (it yields to the executor until the operation can go on).
//!
//! On a kernel without `futex_waitv` (before Linux 5.16), or with more
//! than 127 endpoints parked at once, the thread looks at the words it
//! could not sleep on every millisecond instead. `SHMLANE_NO_FUTEX_WAITV=1`
//! in the environment, read when the thread starts, takes that path on
//! any kernel (the tests' switch for it).
//!
//! # Cancellation
//!
//! Dropping a `recv()` future loses no item: an item is taken from the
//! ring only in the poll that returns it. Dropping a `send()` future
//! either sent its value (its last poll returned `Ready(Ok)`) or did not
//! put it in the ring at all; [`SendFuture::take_back`] hands the value
//! back. Dropping a future (or an endpoint) withdraws its announcement.

pub mod bytes;
mod endpoint;
mod future;
pub mod mpmc;
pub(crate) mod reactor;
pub mod spsc;
pub mod transport;

pub use future::{PollRecv, PollSend, RecvFuture, SendFuture};
pub use reactor::THREAD_NAME;

use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytemuck::Pod;

use crate::WaitStrategy;
use crate::ring::{RingMemory, TickProbe};
use crate::segment::Counters;
use crate::sync::{AtomicU64, Ordering, spin_hint};
use crate::wait::{self, LIVENESS_TICK, Prepared, Signal};

/// How long an operation that finds nothing to do polls in place before
/// it yields to the executor: short enough not to hold up the executor's
/// other tasks noticeably, long enough for a streaming peer to catch up.
const SPIN_IN_PLACE: Duration = Duration::from_micros(10);
/// Rounds of brief spins in place at most (the clock is read once a round).
const SPIN_ROUNDS: u32 = 1024;

/// How long an operation that finds nothing to do re-polls (yielding to
/// the executor between polls) before it parks: a ping-pong peer usually
/// answers within it, and then neither side makes a syscall.
const YIELD_WINDOW: Duration = Duration::from_micros(50);

/// What an endpoint shows its async wrapper: its wake word's signal and
/// counters, and its liveness check.
pub(crate) trait Waitable {
    /// The endpoint's segment view.
    fn view(&self) -> WakeView<'_>;
    /// Poisons the endpoint if its named segment's file shrunk under the
    /// mapping (one `fstat`; nothing for memfd and heap segments), so that
    /// the next operation reports `Corrupted` before it touches a slot
    /// past the new end. Whether it did.
    fn poison_if_shrunk(&mut self) -> bool;
    /// The tick's checks, now (`RingMemory::liveness_tick`), so that the
    /// next operation reports `Corrupted` or `Disconnected`.
    fn check_liveness(&mut self);
    /// How the endpoint waits ([`Options::wait_strategy`](crate::Options::wait_strategy)).
    fn strategy(&self) -> WaitStrategy;
    /// What the waiter thread looks at on a liveness tick instead of
    /// waking the task (one-to-one rings); `None`: wake it every tick.
    fn tick_probe(&self) -> Option<TickProbe<'_>>;
}

/// The parts of a [`RingMemory`] a parked operation needs.
#[derive(Clone, Copy)]
pub(crate) struct WakeView<'a> {
    signal: Signal<'a>,
    counters: &'a Counters,
    waits: &'a AtomicU64,
}

impl<'a> WakeView<'a> {
    pub(crate) fn of<T: Pod, S>(memory: &'a RingMemory<T, S>) -> Self {
        Self {
            signal: memory.wait_signal(),
            counters: memory.counters(),
            waits: memory.own_waits(),
        }
    }
}

/// A registration with the waiter thread, and the announcement it stands for.
#[derive(Debug)]
struct Armed {
    ticket: Option<reactor::Ticket>,
    prepared: Prepared,
}

/// An async endpoint's parking state: at most one operation is parked per
/// endpoint (each takes `&mut self`).
#[derive(Debug, Default)]
pub(crate) struct Park {
    armed: Option<Armed>,
    /// When the current operation first found nothing to do.
    idle_since: Option<Instant>,
    /// When it last checked its peer's liveness.
    checked_at: Option<Instant>,
    /// Keeps the waiter thread running while this endpoint lives.
    _member: reactor::Enlisted,
}

impl Park {
    /// Whether no operation is parked: the endpoints' inlined fast path
    /// (try the operation at once) may run.
    #[inline(always)]
    pub(crate) fn is_idle(&self) -> bool {
        self.armed.is_none()
    }

    /// The fast path's operation was done.
    #[inline(always)]
    pub(crate) fn done(&mut self) {
        // A test, not a store, in a busy stream: one store fewer per item
        // for a store buffer that the ring's shared stores already fill.
        if self.idle_since.is_some() {
            self.idle_since = None;
        }
    }

    /// One poll of an operation on `end`: `attempt` does the operation if
    /// it can (`Some`: done, whatever the outcome) and must take nothing
    /// when it answers `None`.
    #[inline(never)]
    pub(crate) fn poll<E: Waitable, R>(
        &mut self,
        end: &mut E,
        cx: &mut Context<'_>,
        mut attempt: impl FnMut(&mut E) -> Option<R>,
    ) -> Poll<R> {
        if let Some(parked) = self.poll_parked(end, cx, &mut attempt) {
            return parked;
        }
        let woken = self.disarm(end);
        if let Some(done) = attempt(end) {
            self.idle_since = None;
            return Poll::Ready(done);
        }
        let strategy = end.strategy();
        if woken.is_none() && self.idle_since.is_none() {
            // Polls in place, with a pause between, for up to SPIN_IN_PLACE,
            // as a blocking call spins before it waits: in a busy stream
            // most waits end here, and a yield to the executor costs far
            // more (tokio's wakes and its I/O driver's polls are syscalls).
            let started = Instant::now();
            'spin: for _ in 0..SPIN_ROUNDS {
                for _ in 0..wait::brief_spins(strategy) {
                    spin_hint();
                    if let Some(done) = attempt(end) {
                        return Poll::Ready(done);
                    }
                }
                if started.elapsed() >= SPIN_IN_PLACE {
                    break 'spin;
                }
            }
        }
        let view = end.view();
        if let Some(prepared) = woken {
            // As a blocking sleeper: a wake that found nothing may have been
            // meant for another sleeper of the word.
            view.signal.pass_on(prepared, view.counters);
        }
        let now = Instant::now();
        let since = *self.idle_since.get_or_insert_with(|| {
            view.waits.fetch_add(1, Ordering::Relaxed);
            now
        });
        let yield_for = match strategy {
            WaitStrategy::Park => Duration::ZERO,
            WaitStrategy::SpinThenPark => YIELD_WINDOW,
            WaitStrategy::Spin => Duration::MAX,
        };
        if now.duration_since(since) < yield_for {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let checked = *self.checked_at.get_or_insert(since);
        if now.duration_since(checked) >= LIVENESS_TICK {
            self.checked_at = Some(now);
            end.check_liveness();
            if let Some(done) = attempt(end) {
                self.idle_since = None;
                return Poll::Ready(done);
            }
        }
        let prepared = end.view().signal.prepare();
        if let Some(done) = attempt(end) {
            end.view().signal.cancel(prepared);
            self.idle_since = None;
            return Poll::Ready(done);
        }
        let signal = end.view().signal;
        if prepared.recheck {
            // The announcement needs one more look before any sleep (the
            // sleeper barrier failed just now): poll again soon.
            signal.cancel(prepared);
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let ticket = reactor::park(signal, end.tick_probe(), prepared, cx.waker());
        self.armed = Some(Armed { ticket, prepared });
        Poll::Pending
    }

    /// A poll of a parked operation whose word has not moved (a liveness
    /// tick, or an executor polling it for another reason): it stays
    /// announced and registered, as a blocking sleeper stays announced
    /// across its ticks, and only checks its peer (once a tick) and its
    /// ring. `None` when it is not parked or its word moved: the caller
    /// takes the full path.
    fn poll_parked<E: Waitable, R>(
        &mut self,
        end: &mut E,
        cx: &mut Context<'_>,
        attempt: &mut impl FnMut(&mut E) -> Option<R>,
    ) -> Option<Poll<R>> {
        let armed = self.armed.as_ref()?;
        let ticket = armed.ticket?;
        let (word, expected) = end.view().signal.sleep_target(armed.prepared);
        if word.load(Ordering::Relaxed) != expected || !reactor::refresh(ticket, cx.waker()) {
            return None;
        }
        let now = Instant::now();
        if self
            .checked_at
            .is_none_or(|at| now.duration_since(at) >= LIVENESS_TICK)
        {
            self.checked_at = Some(now);
            end.check_liveness();
        } else {
            // Woken by the tick probe a little under a tick after our own
            // check (its clock is the waiter thread's), perhaps for a file
            // cut short: the size test must still come before the attempt.
            end.poison_if_shrunk();
        }
        let Some(done) = attempt(end) else {
            return Some(Poll::Pending);
        };
        self.disarm(end);
        self.idle_since = None;
        Some(Poll::Ready(done))
    }

    /// Withdraws a parked operation (unregisters it and takes its
    /// announcement back), returning its announcement if there was one.
    pub(crate) fn disarm<E: Waitable>(&mut self, end: &E) -> Option<Prepared> {
        let armed = self.armed.take()?;
        // Still registered: the announcement is ours to withdraw; else the
        // waiter thread withdrew it when it woke us.
        if armed.ticket.is_none_or(reactor::unpark) {
            end.view().signal.cancel(armed.prepared);
        }
        Some(armed.prepared)
    }

    /// The operation ended (or was dropped) without finishing.
    pub(crate) fn abandon<E: Waitable>(&mut self, end: &E) {
        self.disarm(end);
        self.idle_since = None;
    }
}

/// `attempt`'s answer for a pop-like call: done unless the ring is empty.
fn unless_empty<T>(result: Result<T, crate::PopError>) -> Option<Result<T, crate::PopError>> {
    match result {
        Err(crate::PopError::Empty) => None,
        other => Some(other),
    }
}
