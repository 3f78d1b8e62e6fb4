//! The receiving end of an MPMC ring.

use std::time::{Duration, Instant};

use crate::ring::endpoint_accessors;
use bytemuck::Pod;

use super::super::item::{Load, TakeValue};
#[cfg(not(shmlane_loom))]
use super::Source;
use super::endpoint::{Endpoint, walk_limit};
use super::stamp::{
    EMPTY, FULL, LAP_SHIFT, ONE_LAP, READING, STATE_MASK, Slot, WRITING, decode, misfit,
};
use super::{RingMemory, Wake};
use crate::error::{OpenError, PopError};
use crate::options::Options;
#[cfg(not(shmlane_loom))]
use crate::segment::RingKind;
use crate::segment::peer::Role;
use crate::sync::{Ordering, spin_hint};
use crate::wait::{self, Limit};

/// The receiving end of an MPMC ring. Any number may be attached, up to the
/// ring's participant limit (senders and receivers together).
pub struct Receiver<T: Pod> {
    pub(super) end: Endpoint<T>,
}

/// What a receiver's inline claim found.
enum Fast {
    Claimed(u64),
    Empty,
    Slow,
}

impl<T: Pod + Send> Receiver<T> {
    /// Creates the named segment `name` and attaches as a receiver.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shmlane::{Options, mpmc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let opts = Options::new().capacity(1024).participants(16);
    /// let mut rx = mpmc::Receiver::<u64>::create("jobs", &opts)?;
    /// while let Ok(job) = rx.recv() {
    ///     println!("job {job}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(not(shmlane_loom))]
    pub fn create(name: &str, opts: &Options) -> Result<Self, OpenError> {
        let ring = RingMemory::named(Source::Create(name), RingKind::Mpmc, Role::Consumer, opts)?;
        Self::attach_named(ring, opts)
    }

    /// Opens the named segment `name` and attaches as a receiver;
    /// [`OpenError::TooManyParticipants`] if the ring has its limit of live
    /// endpoints already.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shmlane::{Options, mpmc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // One more worker; the segment's capacity and participant limit are adopted.
    /// let mut rx = mpmc::Receiver::<u64>::open("jobs", &Options::new())?;
    /// println!("job {}", rx.recv()?);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(not(shmlane_loom))]
    pub fn open(name: &str, opts: &Options) -> Result<Self, OpenError> {
        let ring = RingMemory::named(Source::Open(name), RingKind::Mpmc, Role::Consumer, opts)?;
        Self::attach_named(ring, opts)
    }

    /// Opens the named segment `name` as its receiver if some endpoint holds
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
    /// let end = mpmc::Receiver::<u64>::open_or_create("restartable", &Options::new())?;
    /// # drop(end);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(not(shmlane_loom))]
    pub fn open_or_create(name: &str, opts: &Options) -> Result<Self, OpenError> {
        let source = Source::OpenOrCreate(name, opts);
        let ring = RingMemory::named(source, RingKind::Mpmc, Role::Consumer, opts)?;
        Self::attach_named(ring, opts)
    }

    #[cfg(not(shmlane_loom))]
    fn attach_named(ring: RingMemory<T, Slot<T>>, opts: &Options) -> Result<Self, OpenError> {
        let mut receiver = Self::attach(ring, opts)?;
        receiver.end.ring.ensure_attached();
        Ok(receiver)
    }

    pub(super) fn attach(ring: RingMemory<T, Slot<T>>, opts: &Options) -> Result<Self, OpenError> {
        Ok(Self {
            end: Endpoint::attach(ring, opts)?,
        })
    }

    /// Another receiver on the same ring (a participant of its own):
    /// [`OpenError::TooManyParticipants`] at the limit. It uses the wait
    /// strategy of `self`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{OpenError, Options, mpmc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = mpmc::heap_pair::<u64>(&Options::new().participants(3))?;
    /// let mut rx2 = rx.try_clone()?; // the third participant
    /// assert!(matches!(rx.try_clone(), Err(OpenError::TooManyParticipants { .. })));
    /// tx.try_send(1).unwrap();
    /// tx.try_send(2).unwrap();
    /// assert_eq!((rx2.try_recv()?, rx.try_recv()?), (1, 2));
    /// # Ok(())
    /// # }
    /// ```
    pub fn try_clone(&self) -> Result<Self, OpenError> {
        let ring = self.end.ring.duplicate(Role::Consumer)?;
        let opts = Options::new().wait_strategy(self.end.strategy);
        Self::attach(ring, &opts)
    }
}

impl<T: Pod> Receiver<T> {
    /// The segment, for the async endpoints' wake word.
    #[cfg(all(feature = "tokio", not(shmlane_loom)))]
    pub(crate) fn memory(&self) -> &RingMemory<T, super::Slot<T>> {
        &self.end.ring
    }

    /// Poisons the endpoint (the async endpoints' tick, on a shrunk
    /// segment): every later call reports `found`, or the first corruption.
    #[cfg(all(feature = "tokio", not(shmlane_loom)))]
    pub(crate) fn poison(&mut self, found: crate::Corruption) -> crate::Corruption {
        self.end.poisoned_by(found)
    }

    /// How this endpoint waits (the async endpoints follow it too).
    #[cfg(all(feature = "tokio", not(shmlane_loom)))]
    pub(crate) fn wait_strategy(&self) -> crate::options::WaitStrategy {
        self.end.strategy
    }

    /// Removes and returns the oldest item: [`PopError::Empty`] if there
    /// is none ready, [`PopError::Disconnected`] once every sender is gone
    /// and every item they committed has been received.
    ///
    /// A slot that a sender has claimed but not yet committed holds the
    /// receivers up (they report `Empty`); if its sender has died, the
    /// receivers that keep polling find out after a short spin and skip it.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, PopError, mpmc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = mpmc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// assert_eq!(rx.try_recv(), Err(PopError::Empty));
    /// tx.try_send(42).unwrap();
    /// assert_eq!(rx.try_recv()?, 42);
    /// # Ok(())
    /// # }
    /// ```
    // Always inlined, as `try_send`.
    #[inline(always)]
    pub fn try_recv(&mut self) -> Result<T, PopError> {
        let received = self.try_recv_item(&mut TakeValue);
        if let Err(PopError::Empty) = received {
            // Counted for `Stats::empty_hits`, added in batches.
            self.end.ring.count_idle_poll();
        }
        received
    }

    /// `try_recv` into a value or a raw buffer (see `ring::item`).
    #[inline(always)]
    pub(super) fn try_recv_item<L: Load<T, Slot<T>>>(
        &mut self,
        load: &mut L,
    ) -> Result<L::Output, PopError> {
        let position = match self.claim_fast() {
            Fast::Claimed(position) => position,
            Fast::Empty => return Err(PopError::Empty),
            Fast::Slow => self.claim_slow()?,
        };
        Ok(self.take(load, position))
    }

    /// Claims the item at the cursor if it is ready, the common case; says
    /// `Empty` without leaving the inline path when nothing is claimed at
    /// the cursor and the senders were present at the last look (the
    /// roster has not moved since).
    #[inline(always)]
    fn claim_fast(&mut self) -> Fast {
        let end = &mut self.end;
        if !end.ring.usable() {
            return Fast::Slow;
        }
        let position = end.cursor;
        let full = end.base(position) | FULL;
        let stamp = end.stamp(position);
        // The empty poll reads the stamp (and the read-mostly roster).
        let seen = stamp.load(Ordering::Relaxed);
        if seen != full {
            // Not while claims this receiver stepped over are unsettled:
            // `Empty` waits for a look at them (a local field, no load).
            if seen == full & !STATE_MASK && end.peers_present() && end.passed.get().is_none() {
                return Fast::Empty;
            }
            return Fast::Slow;
        }
        // SYNC: mpmc-publish (Acquire: the sender's writes of the item are
        // visible)
        match stamp.compare_exchange(
            full,
            (full & !STATE_MASK) | end.tag | READING,
            Ordering::Acquire,
            Ordering::Relaxed,
        ) {
            Ok(_) => {
                end.cursor = position.wrapping_add(1);
                Fast::Claimed(position)
            }
            Err(_) => Fast::Slow,
        }
    }

    /// Copies the claimed item out and frees its slot.
    #[inline(always)]
    fn take<L: Load<T, Slot<T>>>(&self, load: &mut L, position: u64) -> L::Output {
        let end = &self.end;
        // SAFETY: this receiver claimed the slot (READING with its tag)
        // after the sender published it (SYNC: mpmc-publish); no honest
        // endpoint writes it until we free it below.
        let value = unsafe { load.load(&end.ring, position) };
        // SYNC: mpmc-release (Release: our read of the item happens-before
        // the claim of the next lap's sender)
        end.stamp(position)
            .store(end.base(position).wrapping_add(ONE_LAP), Ordering::Release);
        end.ring.notify_peer();
        end.hint_passed(position);
        value
    }

    /// The slow half of `try_recv`: anything but a ready item at the
    /// cursor. Also where this endpoint marks itself attached on first use.
    #[cold]
    #[inline(never)]
    fn claim_slow(&mut self) -> Result<u64, PopError> {
        self.end.ring.poisoned().map_err(PopError::corrupted)?;
        self.end.ring.ensure_attached();
        match self.claim_walk() {
            Err(PopError::Corrupted(mut found)) => {
                *found = self.end.poisoned_by(*found);
                Err(PopError::Corrupted(found))
            }
            done => done,
        }
    }

    /// The walk, then, before an `Empty` or `Disconnected` goes out, the
    /// look at the claims this receiver stepped over: a dead receiver's is
    /// taken over, and its item is the answer instead.
    fn claim_walk(&mut self) -> Result<u64, PopError> {
        match self.walk() {
            Err(nothing @ (PopError::Empty | PopError::Disconnected))
                if self.end.passed.get().is_some() =>
            {
                match self.end.recover_passed() {
                    Ok(Some(position)) => Ok(position),
                    Ok(None) => Err(nothing),
                    Err(found) => Err(PopError::corrupted(found)),
                }
            }
            done => done,
        }
    }

    fn walk(&mut self) -> Result<u64, PopError> {
        let end = &mut self.end;
        for _ in 0..walk_limit(end.rows) {
            let position = end.cursor;
            let base = end.base(position);
            // SYNC: mpmc-publish (Acquire: as in claim_fast)
            let stamp = end.stamp(position).load(Ordering::Acquire);
            let seen = decode(stamp, base, end.rows).map_err(PopError::corrupted)?;
            match (seen.laps, seen.state) {
                (0, FULL) => {
                    // SYNC: mpmc-publish (Acquire: as in claim_fast)
                    let claimed = end.stamp(position).compare_exchange(
                        stamp,
                        base | end.tag | READING,
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    );
                    if claimed.is_ok() {
                        end.cursor = position.wrapping_add(1);
                        return Ok(position);
                    }
                }
                // Nothing claimed at this position yet: empty, or
                // disconnected once every sender is gone. The Acquire load
                // that saw them gone (SYNC: peer-state) orders their last
                // publishes before the second look.
                (0, EMPTY) => {
                    if !end.peers_gone() {
                        return Err(PopError::Empty);
                    }
                    // SYNC: mpmc-publish (Acquire: as above)
                    if end.stamp(position).load(Ordering::Acquire) == stamp {
                        return Err(PopError::Disconnected);
                    }
                }
                // A sender is writing it; if it died, skip it.
                (0, WRITING) => {
                    if end.stuck_check_due(stamp) && !end.claimant_alive(seen) {
                        end.undo_claim(position, stamp, seen);
                    } else {
                        return Err(PopError::Empty);
                    }
                }
                // Another receiver has it: the next position. Its claim is
                // looked at again before this receiver reports `Empty` or
                // `Disconnected` past it (if it died, its item is ours).
                (0, READING) => {
                    end.note_passed(position);
                    end.cursor = position.wrapping_add(1);
                }
                // Pass over a skipped slot: free it for the next lap. If the
                // compare-exchange fails, another receiver did it.
                (0, _) => {
                    // SYNC: mpmc-skip (Acquire: the skipping sender's writes
                    // happen-before; Release: and before the next lap's
                    // sender, which acquires this store: mpmc-release)
                    let passed = end.stamp(position).compare_exchange(
                        stamp,
                        base.wrapping_add(ONE_LAP),
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    );
                    if passed.is_ok() {
                        end.ring.notify_peer();
                        end.hint_passed(position);
                    }
                    end.cursor = position.wrapping_add(1);
                }
                // The previous lap's receiver has not freed it yet: nothing
                // at this position; if that receiver died, its item comes
                // back here.
                (-1, READING) => {
                    if end.stuck_check_due(stamp) && !end.claimant_alive(seen) {
                        end.undo_claim(position, stamp, seen);
                    } else if !end.catch_up_noting() {
                        return Err(PopError::Empty);
                    }
                }
                // Already taken at this lap or later: the cursor is stale.
                (laps, _) if laps >= 1 => {
                    if !end.catch_up_noting() {
                        end.cursor = position.wrapping_add(1);
                    }
                }
                // Anything else cannot follow from honest endpoints (see
                // SAFETY.md), unless the cursor is stale by 2^45 laps.
                _ => {
                    if !end.catch_up_noting() {
                        return Err(PopError::corrupted(misfit(stamp)));
                    }
                }
            }
        }
        Err(PopError::Empty)
    }

    /// Removes and returns the oldest item, waiting as long as it takes (as the endpoint's
    /// [`WaitStrategy`](crate::WaitStrategy) says).
    /// A sender that died holding the slot we wait for (or every sender
    /// dying) is noticed within about
    /// [`LIVENESS_TICK`](crate::LIVENESS_TICK).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, PopError, mpmc};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = mpmc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// tx.try_send(42).unwrap();
    /// drop(tx); // the only sender
    /// assert_eq!(rx.recv()?, 42); // what was committed comes first
    /// assert_eq!(rx.recv(), Err(PopError::Disconnected));
    /// # Ok(())
    /// # }
    /// ```
    #[inline(always)]
    pub fn recv(&mut self) -> Result<T, PopError> {
        self.recv_within(Limit::Forever)
    }

    /// Like [`recv`](Self::recv), giving up with a timeout
    /// error after `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, PopError, mpmc};
    /// use std::time::Duration;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = mpmc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// assert_eq!(rx.recv_timeout(Duration::from_millis(10)), Err(PopError::Timeout));
    /// tx.try_send(42).unwrap();
    /// assert_eq!(rx.recv_timeout(Duration::from_millis(10))?, 42);
    /// # Ok(())
    /// # }
    /// ```
    #[inline(always)]
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<T, PopError> {
        self.recv_within(Limit::Timeout(timeout))
    }

    /// Like [`recv`](Self::recv), giving up with a timeout
    /// error at `deadline`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmlane::{Options, PopError, mpmc};
    /// use std::time::{Duration, Instant};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = mpmc::heap_pair::<u64>(&Options::new().capacity(8))?;
    /// let deadline = Instant::now() + Duration::from_millis(10);
    /// assert_eq!(rx.recv_deadline(deadline), Err(PopError::Timeout));
    /// tx.try_send(42).unwrap();
    /// assert_eq!(rx.recv_deadline(deadline)?, 42); // ready: no wait, deadline or not
    /// # Ok(())
    /// # }
    /// ```
    #[inline(always)]
    pub fn recv_deadline(&mut self, deadline: Instant) -> Result<T, PopError> {
        self.recv_within(Limit::Deadline(deadline))
    }

    #[inline(always)]
    fn recv_within(&mut self, limit: Limit) -> Result<T, PopError> {
        self.recv_item_within(&mut TakeValue, limit)
    }

    /// `recv_within` into a value or a raw buffer.
    #[inline(always)]
    pub(super) fn recv_item_within<L: Load<T, Slot<T>>>(
        &mut self,
        load: &mut L,
        limit: Limit,
    ) -> Result<L::Output, PopError> {
        match self.try_recv_item(load) {
            Err(PopError::Empty) => self.recv_slow(load, limit),
            done => done,
        }
    }

    #[cold]
    #[inline(never)]
    fn recv_slow<L: Load<T, Slot<T>>>(
        &mut self,
        load: &mut L,
        limit: Limit,
    ) -> Result<L::Output, PopError> {
        for _ in 0..wait::brief_spins(self.end.strategy) {
            spin_hint();
            match self.try_recv_item(load) {
                Err(PopError::Empty) => {}
                done => return done,
            }
        }
        let deadline = limit.deadline();
        let mut waited = false;
        loop {
            match self.try_recv_item(load) {
                Err(PopError::Empty) => {}
                Ok(item) if waited => {
                    self.hand_on();
                    return Ok(item);
                }
                done => return done,
            }
            waited = true;
            match self.wait_for_items(deadline) {
                None => return Err(PopError::Timeout),
                // The segment shrank under the mapping: no slot is touched.
                Some(Wake::Corrupted(corruption)) => {
                    return Err(PopError::corrupted(self.end.poisoned_by(corruption)));
                }
                Some(Wake::Ready | Wake::Disconnected) => {}
            }
        }
    }

    /// After a wait that ended with an item: another sleeping receiver
    /// for the next one, if it is there (`Endpoint::hand_on`).
    #[cold]
    fn hand_on(&self) {
        self.end.hand_on(FULL);
    }

    /// Waits until the slot at the cursor may hold something, every sender
    /// is gone, or `deadline` passes (`None`). The caller's next try
    /// drains and reports.
    fn wait_for_items(&mut self, deadline: Option<Instant>) -> Option<Wake> {
        let end = &self.end;
        let ready = || {
            let position = end.cursor;
            // SYNC: mpmc-publish (Acquire: a look only; the claim acquires)
            let stamp = end.stamp(position).load(Ordering::Acquire);
            let laps = (stamp.wrapping_sub(end.base(position)) as i64) >> LAP_SHIFT;
            let state = stamp & STATE_MASK;
            // Drained with every sender gone: the next try says so. A
            // claimed slot is waited on (the liveness tick undoes a dead
            // claim).
            // A dead claimant of a claim stepped over: the next try takes
            // its item over.
            if end.recovery_due.get() {
                return Some(Wake::Ready);
            }
            let drained = laps == 0 && state == EMPTY;
            let claimed = (laps == 0 && state == WRITING) || (laps == -1 && state == READING);
            if drained && end.peers_gone() {
                Some(Wake::Disconnected)
            } else if drained || claimed {
                None
            } else {
                Some(Wake::Ready)
            }
        };
        end.ring
            .block_until(end.strategy, deadline, ready, || end.check_peers())
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
    /// assert_eq!(rx.len(), 2);
    /// rx.try_recv()?;
    /// assert_eq!(rx.len(), 1);
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
    /// assert!(rx.is_empty());
    /// tx.try_send(1).unwrap();
    /// assert!(!rx.is_empty());
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
        peer: "every sender",
        example: {
            uses: "use shmlane::{Options, mpmc};",
            pair: "let (mut tx, mut rx) = mpmc::heap_pair::<u64>(&Options::new().capacity(8))?;",
            round_trip: "tx.try_send(7).unwrap();\nassert_eq!(rx.try_recv()?, 7);",
            this: "rx",
            other: "tx",
            capacity: "8",
        },
    }

    /// Test hook, not API: claims and copies out the next item like
    /// `try_recv`, but never frees its slot, as a receiver killed in the
    /// middle of a receive leaves it. The item counts as not received: when
    /// this endpoint's process dies, another receiver gets it.
    #[cfg(any(test, feature = "test-support"))]
    #[doc(hidden)]
    pub fn recv_and_stall_for_tests(&mut self) -> Result<T, PopError> {
        let position = match self.claim_fast() {
            Fast::Claimed(position) => position,
            Fast::Empty => return Err(PopError::Empty),
            Fast::Slow => self.claim_slow()?,
        };
        Ok(self.end.ring.slot(position).value.with(|item| {
            // SAFETY: as in `take`: the slot is claimed by this receiver.
            unsafe { item.read() }
        }))
    }
}

impl<T: Pod> Receiver<T> {
    /// Test hook, not API: "kills" this receiver on the heap storage, as
    /// the kernel would drop a dead process's OFD lock: its row's lock is
    /// released and nothing runs on its behalf (no detach, no wake, no
    /// release of a claim it holds). Mapped storages: use a real SIGKILL.
    #[cfg(any(test, feature = "test-support"))]
    #[doc(hidden)]
    pub fn crash_for_tests(self) {
        let attachment = self.end.ring.attachment();
        attachment.storage().release_role(attachment.own_row());
        std::mem::forget(self);
    }
}

impl<T: Pod> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.end.describe(f, "Receiver")
    }
}
