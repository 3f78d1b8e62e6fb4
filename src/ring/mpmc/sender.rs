//! The sending end of an MPMC ring.

use std::time::{Duration, Instant};

use crate::ring::endpoint_accessors;
use bytemuck::Pod;

use super::super::item::Store;
#[cfg(not(shmlane_loom))]
use super::Source;
use super::endpoint::{Endpoint, walk_limit};
use super::reservation::Reservation;
use super::stamp::{
    EMPTY, FULL, LAP_SHIFT, READING, SKIPPED, STATE_MASK, Slot, WRITING, decode, misfit,
};
use super::{RingMemory, Wake};
use crate::error::{Corruption, OpenError, PushError, ReserveError};
use crate::options::Options;
#[cfg(not(shmlane_loom))]
use crate::segment::RingKind;
use crate::segment::peer::Role;
use crate::sync::{Ordering, spin_hint};
use crate::wait::{self, Limit};

/// The sending end of an MPMC ring. Any number may be attached, up to the
/// ring's participant limit (senders and receivers together).
pub struct Sender<T: Pod> {
    pub(super) end: Endpoint<T>,
    /// The position of a reservation whose guard was leaked
    /// (`mem::forget`): published as skipped when the sender drops.
    pub(super) pending: Option<u64>,
}

impl<T: Pod> Sender<T> {
    /// The segment, for the fuzz targets' hostile writes and the async
    /// endpoints' wake word.
    #[cfg(all(any(feature = "test-support", feature = "tokio"), not(shmlane_loom)))]
    pub(crate) fn memory(&self) -> &RingMemory<T, Slot<T>> {
        &self.end.ring
    }

    /// Poisons the endpoint (the async endpoints' tick, on a shrunk
    /// segment): every later call reports `found`, or the first corruption.
    #[cfg(all(feature = "tokio", not(shmlane_loom)))]
    pub(crate) fn poison(&mut self, found: Corruption) -> Corruption {
        self.end.poisoned_by(found)
    }

    /// How this endpoint waits (the async endpoints follow it too).
    #[cfg(all(feature = "tokio", not(shmlane_loom)))]
    pub(crate) fn wait_strategy(&self) -> crate::options::WaitStrategy {
        self.end.strategy
    }
}

impl<T: Pod + Send> Sender<T> {
    /// Creates the named segment `name` and attaches as a sender.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shmlane::{Options, mpmc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let opts = Options::new().capacity(1024).participants(16);
    /// let mut tx = mpmc::Sender::<u64>::create("jobs", &opts)?;
    /// tx.send(7).unwrap(); // the item waits in the ring for a receiver
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(not(shmlane_loom))]
    pub fn create(name: &str, opts: &Options) -> Result<Self, OpenError> {
        let ring = RingMemory::named(Source::Create(name), RingKind::Mpmc, Role::Producer, opts)?;
        Self::attach_named(ring, opts)
    }

    /// Opens the named segment `name` and attaches as a sender;
    /// [`OpenError::TooManyParticipants`] if the ring has its limit of live
    /// endpoints already.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shmlane::{Options, mpmc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // One more sender; the segment's capacity and participant limit are adopted.
    /// let mut tx = mpmc::Sender::<u64>::open("jobs", &Options::new())?;
    /// tx.send(8).unwrap();
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(not(shmlane_loom))]
    pub fn open(name: &str, opts: &Options) -> Result<Self, OpenError> {
        let ring = RingMemory::named(Source::Open(name), RingKind::Mpmc, Role::Producer, opts)?;
        Self::attach_named(ring, opts)
    }

    /// Opens the named segment `name` as its sender if some endpoint holds
    /// it (or it was made with `persist`), and creates it otherwise,
    /// replacing a stale segment of that name (one every endpoint of which
    /// died): the one call for a program that may be the first to start or
    /// a restart after a crash. A new session never sees a dead session's
    /// items; a live peer's are all there. `opts` serve both ways.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shmlane::{Options, mpmc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let end = mpmc::Sender::<u64>::open_or_create("restartable", &Options::new())?;
    /// # drop(end);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(not(shmlane_loom))]
    pub fn open_or_create(name: &str, opts: &Options) -> Result<Self, OpenError> {
        let source = Source::OpenOrCreate(name, opts);
        let ring = RingMemory::named(source, RingKind::Mpmc, Role::Producer, opts)?;
        Self::attach_named(ring, opts)
    }

    #[cfg(not(shmlane_loom))]
    fn attach_named(ring: RingMemory<T, Slot<T>>, opts: &Options) -> Result<Self, OpenError> {
        let mut sender = Self::attach(ring, opts)?;
        sender.end.ring.ensure_attached();
        Ok(sender)
    }

    pub(super) fn attach(ring: RingMemory<T, Slot<T>>, opts: &Options) -> Result<Self, OpenError> {
        Ok(Self {
            end: Endpoint::attach(ring, opts)?,
            pending: None,
        })
    }

    /// Another sender on the same ring (a participant of its own, with its
    /// own open file description): [`OpenError::TooManyParticipants`] at
    /// the limit. It uses the wait strategy of `self`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, mpmc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = mpmc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// let mut tx2 = tx.try_clone()?; // for another thread, or a forked process
    /// tx.try_send(1).unwrap();
    /// tx2.try_send(2).unwrap();
    /// assert_eq!((rx.try_recv()?, rx.try_recv()?), (1, 2));
    /// # Ok(())
    /// # }
    /// ```
    pub fn try_clone(&self) -> Result<Self, OpenError> {
        let ring = self.end.ring.duplicate(Role::Producer)?;
        let opts = Options::new().wait_strategy(self.end.strategy);
        Self::attach(ring, &opts)
    }
}

impl<T: Pod> Sender<T> {
    /// Claims the slot at the cursor if it is free for it, the common
    /// case; `None` sends the caller to the slow path.
    #[inline(always)]
    fn claim_fast(&mut self) -> Option<u64> {
        let end = &mut self.end;
        if !end.ring.usable() {
            return None;
        }
        let position = end.cursor;
        let empty = end.base(position);
        let stamp = end.stamp(position);
        // Look before the compare-exchange: a full ring is polled with
        // loads, which leave the line shared with the receivers.
        if stamp.load(Ordering::Relaxed) != empty {
            return None;
        }
        // SYNC: mpmc-release (Acquire: the receiver that freed this slot
        // has finished reading it before we write it)
        match stamp.compare_exchange(
            empty,
            empty | end.tag | WRITING,
            Ordering::Acquire,
            Ordering::Relaxed,
        ) {
            Ok(_) => {
                end.cursor = position.wrapping_add(1);
                Some(position)
            }
            Err(_) => None,
        }
    }

    /// Claims a slot: `Ok(None)` when the ring is full (or stays contended
    /// for a bounded number of attempts). Also where this endpoint marks
    /// itself attached on first use.
    #[cold]
    #[inline(never)]
    fn claim_slow(&mut self) -> Result<Option<u64>, Corruption> {
        self.end.ring.poisoned()?;
        self.end.ring.ensure_attached();
        match self.claim_walk() {
            Err(found) => Err(self.end.poisoned_by(found)),
            claimed => claimed,
        }
    }

    fn claim_walk(&mut self) -> Result<Option<u64>, Corruption> {
        let end = &mut self.end;
        for _ in 0..walk_limit(end.rows) {
            let position = end.cursor;
            let base = end.base(position);
            // SYNC: mpmc-release (Acquire: as in claim_fast; the
            // compare-exchange below acquires again)
            let stamp = end.stamp(position).load(Ordering::Acquire);
            let seen = decode(stamp, base, end.rows)?;
            match (seen.laps, seen.state) {
                (0, EMPTY) => {
                    // SYNC: mpmc-release (Acquire: as in claim_fast)
                    let claimed = end.stamp(position).compare_exchange(
                        stamp,
                        base | end.tag | WRITING,
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    );
                    if claimed.is_ok() {
                        end.cursor = position.wrapping_add(1);
                        return Ok(Some(position));
                    }
                }
                // Another sender has this position: the next one, or the
                // hint if it is further.
                (0, _) => {
                    if !end.catch_up() {
                        end.cursor = position.wrapping_add(1);
                    }
                }
                // The slot still holds the previous lap: full, unless its
                // claimant died (then undo its claim and look again).
                (-1, WRITING | READING) => {
                    if end.stuck_check_due(stamp) && !end.claimant_alive(seen) {
                        end.undo_claim(position, stamp, seen);
                    } else if !end.catch_up() {
                        return Ok(None);
                    }
                }
                (-1, FULL | SKIPPED) => {
                    if !end.catch_up() {
                        return Ok(None);
                    }
                }
                // Already used at this lap or later: the cursor is stale.
                (laps, _) if laps >= 1 => {
                    if !end.catch_up() {
                        end.cursor = position.wrapping_add(1);
                    }
                }
                // A position of the previous lap that nobody claimed, or a
                // slot two laps behind: impossible unless the cursor is
                // stale by 2^45 laps (then the hint helps).
                _ => {
                    if !end.catch_up() {
                        return Err(misfit(stamp));
                    }
                }
            }
        }
        Ok(None)
    }

    /// Publishes the claimed `position` as `state` (`FULL` or `SKIPPED`),
    /// wakes receivers that sleep and moves the tail hint.
    #[inline(always)]
    pub(super) fn publish(&self, position: u64, state: u64) {
        let end = &self.end;
        // SYNC: mpmc-publish (Release: the item's bytes happen-before a
        // receiver's claim that reads FULL)
        end.stamp(position)
            .store(end.base(position) | state, Ordering::Release);
        end.ring.notify_peer();
        end.hint_passed(position);
    }

    /// Appends `value`, or hands it back: [`PushError::Full`] when the ring
    /// is full, [`PushError::Disconnected`] once every receiver is gone
    /// (checked when the ring is found full, as for SPSC).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, PushError, mpmc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = mpmc::heap_pair::<u64>(&Options::new().capacity(2))?;
    /// tx.try_send(1).unwrap();
    /// tx.try_send(2).unwrap();
    /// assert!(matches!(tx.try_send(3), Err(PushError::Full(3)))); // 3 is handed back
    /// assert_eq!(rx.try_recv()?, 1);
    /// # Ok(())
    /// # }
    /// ```
    // Always inlined, as the SPSC push: an out-of-line call returns its
    // Result through memory.
    #[inline(always)]
    pub fn try_send(&mut self, value: T) -> Result<(), PushError<T>> {
        let sent = self.try_send_item(value);
        if let Err(PushError::Full(_)) = sent {
            // Counted for `Stats::full_hits`, added in batches.
            self.end.ring.count_idle_poll();
        }
        sent
    }

    /// `try_send` of a value or of a raw record (see `ring::item`).
    #[inline(always)]
    pub(super) fn try_send_item<V: Store<T, Slot<T>>>(
        &mut self,
        value: V,
    ) -> Result<(), PushError<V>> {
        let position = match self.claim_fast() {
            Some(position) => position,
            None => self.claim_or_refuse(value)?,
        };
        // SAFETY: this sender claimed the slot (WRITING with its tag): no
        // other endpoint writes it or reads its value until we publish
        // (SYNC: mpmc-publish), and the receiver that freed it has finished
        // reading (SYNC: mpmc-release).
        unsafe { value.store(&self.end.ring, position) };
        self.publish(position, FULL);
        Ok(())
    }

    /// The slow half of a claim, with the refusals that hand `value` back.
    #[cold]
    #[inline(never)]
    fn claim_or_refuse<V>(&mut self, value: V) -> Result<u64, PushError<V>> {
        match self.claim_slow() {
            Ok(Some(position)) => Ok(position),
            Ok(None) if self.end.peers_gone() => Err(PushError::Disconnected(value)),
            Ok(None) => Err(PushError::Full(value)),
            Err(corruption) => Err(PushError::corrupted(value, corruption)),
        }
    }

    /// Appends `value`, waiting for room, waiting as long as it takes (as the endpoint's
    /// [`WaitStrategy`](crate::WaitStrategy) says).
    /// [`PushError::Disconnected`] hands the value back. A receiver that
    /// died holding the slot we wait for is found within about
    /// [`LIVENESS_TICK`](crate::LIVENESS_TICK) and its claim undone.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, mpmc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = mpmc::heap_pair::<u64>(&Options::new().capacity(2))?;
    /// let receiver = std::thread::spawn(move || (0..5).map(|_| rx.recv().unwrap()).sum::<u64>());
    /// for i in 0..5 {
    ///     tx.send(i).unwrap(); // waits while the ring is full
    /// }
    /// assert_eq!(receiver.join().unwrap(), 10);
    /// # Ok(())
    /// # }
    /// ```
    #[inline(always)]
    pub fn send(&mut self, value: T) -> Result<(), PushError<T>> {
        self.send_within(value, Limit::Forever)
    }

    /// Like [`send`](Self::send), giving up with a timeout
    /// error after `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, PushError, mpmc};
    /// use std::time::Duration;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, _rx) = mpmc::heap_pair::<u64>(&Options::new().capacity(2))?;
    /// tx.try_send(1).unwrap();
    /// tx.try_send(2).unwrap(); // the ring is full
    /// let full = tx.send_timeout(3, Duration::from_millis(10)); // nobody receives
    /// assert!(matches!(full, Err(PushError::Timeout(3))));
    /// # Ok(())
    /// # }
    /// ```
    #[inline(always)]
    pub fn send_timeout(&mut self, value: T, timeout: Duration) -> Result<(), PushError<T>> {
        self.send_within(value, Limit::Timeout(timeout))
    }

    /// Like [`send`](Self::send), giving up with a timeout
    /// error at `deadline`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, PushError, mpmc};
    /// use std::time::{Duration, Instant};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, _rx) = mpmc::heap_pair::<u64>(&Options::new().capacity(2))?;
    /// tx.try_send(1).unwrap();
    /// tx.try_send(2).unwrap(); // the ring is full
    /// let full = tx.send_deadline(3, Instant::now() + Duration::from_millis(10));
    /// assert!(matches!(full, Err(PushError::Timeout(3)))); // nobody received
    /// # Ok(())
    /// # }
    /// ```
    #[inline(always)]
    pub fn send_deadline(&mut self, value: T, deadline: Instant) -> Result<(), PushError<T>> {
        self.send_within(value, Limit::Deadline(deadline))
    }

    #[inline(always)]
    pub(super) fn send_within<V: Store<T, Slot<T>>>(
        &mut self,
        value: V,
        limit: Limit,
    ) -> Result<(), PushError<V>> {
        match self.try_send_item(value) {
            Err(PushError::Full(value)) => self.send_slow(value, limit),
            done => done,
        }
    }

    #[cold]
    #[inline(never)]
    fn send_slow<V: Store<T, Slot<T>>>(
        &mut self,
        value: V,
        limit: Limit,
    ) -> Result<(), PushError<V>> {
        let mut value = value;
        for _ in 0..wait::brief_spins(self.end.strategy) {
            spin_hint();
            value = match self.try_send_item(value) {
                Err(PushError::Full(value)) => value,
                done => return done,
            };
        }
        let deadline = limit.deadline();
        loop {
            match self.wait_for_room(deadline) {
                Some(Wake::Ready) => {}
                // The segment shrank under the mapping: no slot is touched.
                Some(Wake::Corrupted(corruption)) => {
                    let corruption = self.end.poisoned_by(corruption);
                    return Err(PushError::corrupted(value, corruption));
                }
                Some(Wake::Disconnected) => return Err(PushError::Disconnected(value)),
                None => return Err(PushError::Timeout(value)),
            }
            value = match self.try_send_item(value) {
                Err(PushError::Full(value)) => value,
                Ok(()) => {
                    self.hand_on();
                    return Ok(());
                }
                done => return done,
            };
        }
    }

    /// After a wait that ended with a send: another sleeping sender for
    /// the next slot, if it is free (`Endpoint::hand_on`).
    #[cold]
    fn hand_on(&self) {
        self.end.hand_on(EMPTY);
    }

    /// Waits until the slot at the cursor may be free, every receiver is
    /// gone, or `deadline` passes (`None`).
    fn wait_for_room(&mut self, deadline: Option<Instant>) -> Option<Wake> {
        let end = &self.end;
        let ready = || {
            let position = end.cursor;
            // SYNC: mpmc-release (Acquire: a look only; the claim acquires)
            let stamp = end.stamp(position).load(Ordering::Acquire);
            let laps = (stamp.wrapping_sub(end.base(position)) as i64) >> LAP_SHIFT;
            // Anything but "the previous lap still holds it" is worth a try
            // (the try reports corruption).
            if laps != -1 || stamp & STATE_MASK == EMPTY {
                Some(Wake::Ready)
            } else if end.peers_gone() {
                Some(Wake::Disconnected)
            } else {
                None
            }
        };
        end.ring
            .block_until(end.strategy, deadline, ready, || end.check_peers())
    }

    /// Claims the next slot for writing in place: the returned
    /// [`Reservation`] holds the slot's item as `&mut T` inside the
    /// segment; [`Reservation::commit`] publishes it. Dropping the
    /// reservation uncommitted publishes the slot as skipped, which
    /// receivers pass over (counted in [`Stats::skipped`](crate::Stats::skipped)), so that a
    /// reservation never stalls the ring. While a reservation lives,
    /// receivers wait at its slot; items of other senders behind it wait
    /// with them.
    ///
    /// Errors as for [`try_send`](Self::try_send), without a value:
    /// [`ReserveError::Full`], `Disconnected`, `Corrupted`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, PopError, mpmc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = mpmc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// let mut slot = tx.reserve()?;
    /// slot.write(42); // in place, in the ring
    /// slot.commit();
    /// assert_eq!(rx.try_recv()?, 42);
    /// drop(tx.reserve()?); // uncommitted: receivers pass over the slot
    /// assert_eq!(rx.try_recv(), Err(PopError::Empty));
    /// # Ok(())
    /// # }
    /// ```
    pub fn reserve(&mut self) -> Result<Reservation<'_, T>, ReserveError> {
        let position = match self.claim_fast() {
            Some(position) => position,
            None => match self.claim_slow() {
                Ok(Some(position)) => position,
                Ok(None) if self.end.peers_gone() => return Err(ReserveError::Disconnected),
                Ok(None) => return Err(ReserveError::Full),
                Err(corruption) => return Err(ReserveError::Corrupted(corruption)),
            },
        };
        self.pending = Some(position);
        Ok(Reservation {
            sender: self,
            position,
        })
    }

    /// Like [`reserve`](Self::reserve), but waits for room as
    /// [`send`](Self::send) does, waiting as long as it takes (as the endpoint's
    /// [`WaitStrategy`](crate::WaitStrategy) says).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, mpmc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = mpmc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// let mut slot = tx.reserve_blocking()?; // waits only while the ring is full
    /// slot.write(42);
    /// slot.commit();
    /// assert_eq!(rx.recv()?, 42);
    /// # Ok(())
    /// # }
    /// ```
    pub fn reserve_blocking(&mut self) -> Result<Reservation<'_, T>, ReserveError> {
        self.reserve_within(Limit::Forever)
    }

    /// Like [`reserve_blocking`](Self::reserve_blocking), giving up with a timeout
    /// error after `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, ReserveError, mpmc};
    /// use std::time::Duration;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, _rx) = mpmc::heap_pair::<u64>(&Options::new().capacity(2))?;
    /// tx.try_send(1).unwrap();
    /// tx.try_send(2).unwrap(); // the ring is full
    /// let full = tx.reserve_timeout(Duration::from_millis(10)); // nobody receives
    /// assert_eq!(full.err(), Some(ReserveError::Timeout));
    /// # Ok(())
    /// # }
    /// ```
    pub fn reserve_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<Reservation<'_, T>, ReserveError> {
        self.reserve_within(Limit::Timeout(timeout))
    }

    /// Like [`reserve_blocking`](Self::reserve_blocking), giving up with a timeout
    /// error at `deadline`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, ReserveError, mpmc};
    /// use std::time::{Duration, Instant};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, _rx) = mpmc::heap_pair::<u64>(&Options::new().capacity(2))?;
    /// tx.try_send(1).unwrap();
    /// tx.try_send(2).unwrap(); // the ring is full
    /// let full = tx.reserve_deadline(Instant::now() + Duration::from_millis(10));
    /// assert_eq!(full.err(), Some(ReserveError::Timeout)); // nobody received
    /// # Ok(())
    /// # }
    /// ```
    pub fn reserve_deadline(
        &mut self,
        deadline: Instant,
    ) -> Result<Reservation<'_, T>, ReserveError> {
        self.reserve_within(Limit::Deadline(deadline))
    }

    fn reserve_within(&mut self, limit: Limit) -> Result<Reservation<'_, T>, ReserveError> {
        let deadline = limit.deadline();
        let mut spins = wait::brief_spins(self.end.strategy);
        loop {
            // Claim here: `reserve`'s borrow would outlive the loop.
            let claimed = match self.claim_fast() {
                Some(position) => Ok(Some(position)),
                None => self.claim_slow(),
            };
            match claimed {
                Ok(Some(position)) => {
                    self.pending = Some(position);
                    return Ok(Reservation {
                        sender: self,
                        position,
                    });
                }
                Ok(None) if self.end.peers_gone() => return Err(ReserveError::Disconnected),
                Ok(None) => {}
                Err(corruption) => return Err(ReserveError::Corrupted(corruption)),
            }
            if spins > 0 {
                spins -= 1;
                spin_hint();
                continue;
            }
            match self.wait_for_room(deadline) {
                Some(Wake::Ready) => {}
                // The segment shrank under the mapping: no slot is touched.
                Some(Wake::Corrupted(corruption)) => {
                    return Err(ReserveError::Corrupted(self.end.poisoned_by(corruption)));
                }
                Some(Wake::Disconnected) => return Err(ReserveError::Disconnected),
                None => return Err(ReserveError::Timeout),
            }
        }
    }
}

impl<T: Pod> Sender<T> {
    /// Publishes a claimed position as skipped.
    #[cold]
    pub(super) fn skip(&self, position: u64) {
        self.end
            .ring
            .events()
            .skipped
            .fetch_add(1, Ordering::Relaxed);
        // SYNC: mpmc-skip (Release: whatever was written into the slot
        // happens-before the receiver that passes over it frees it)
        self.publish(position, SKIPPED);
    }

    /// Number of items in the ring, from the hints: exact when no
    /// operation is in flight, and always between 0 and the capacity.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, mpmc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = mpmc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// tx.try_send(1).unwrap();
    /// tx.try_send(2).unwrap();
    /// assert_eq!(tx.len(), 2);
    /// rx.try_recv()?;
    /// assert_eq!(tx.len(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        self.end.len()
    }

    /// Whether the ring holds no item (see [`len`](Self::len)).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, mpmc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = mpmc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// assert!(tx.is_empty());
    /// tx.try_send(1).unwrap();
    /// assert!(!tx.is_empty());
    /// rx.try_recv()?;
    /// assert!(tx.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    endpoint_accessors! {
        memory: end,
        gone: end.peers_gone,
        check: end.check_peers => check_peers,
        unit: "slots",
        per_slot: 1,
        peer: "every receiver",
        example: {
            uses: "use shmlane::{Options, mpmc};",
            pair: "let (mut tx, mut rx) = mpmc::heap_pair::<u64>(&Options::new().capacity(8))?;",
            round_trip: "tx.try_send(7).unwrap();\nassert_eq!(rx.try_recv()?, 7);",
            this: "tx",
            other: "rx",
            capacity: "8",
        },
    }
}

impl<T: Pod> Drop for Sender<T> {
    fn drop(&mut self) {
        // A reservation whose guard was leaked: publish it as skipped, so
        // that receivers do not wait on it (the ring memory then detaches).
        if let Some(position) = self.pending.take() {
            let end = &self.end;
            let stamp = end.base(position) | end.tag | WRITING;
            // Only if the slot is still ours.
            if end.stamp(position).load(Ordering::Relaxed) == stamp {
                self.skip(position);
            }
        }
    }
}

impl<T: Pod> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.end.describe(f, "Sender")
    }
}
