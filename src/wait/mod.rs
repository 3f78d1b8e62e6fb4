//! Blocking without waste: how an endpoint waits for its ring to change.
//!
//! * [`eventcount`]: the default waiter, one futex word per direction (both
//!   on a read-mostly line of the header).
//! * [`semaphore`]: a process-shared counting semaphore (public as
//!   [`Semaphore`](crate::Semaphore)) and the alternative ring waiter.
//! * [`futex`]: the shared futex syscalls (a loom model under loom).
//! * [`barrier`]: the asymmetric fence that keeps the publisher's hot path
//!   free of a full fence.
//!
//! [`wait_until`] is the one waiting loop of every ring: spin, then yield,
//! then park, as the [`WaitStrategy`] says, with a deadline, and never
//! sleeping longer than [`LIVENESS_TICK`] so that a peer killed while we
//! sleep (which wakes nobody) is noticed.

pub(crate) mod barrier;
pub(crate) mod eventcount;
pub(crate) mod futex;
pub(crate) mod semaphore;

use std::time::{Duration, Instant};

use crate::options::{WaitStrategy, Waiter};
use crate::segment::Counters;
use crate::sync::{AtomicU32, AtomicU64, Ordering, spin_hint};
use eventcount::EventCount;
pub(crate) use eventcount::{Prepared, SleeperMark};
use semaphore::SemCore;

/// The longest single sleep: a peer that dies while we sleep (which wakes
/// nobody) is noticed within about this long. Each tick costs an idle
/// waiter a wakeup, a lock check and a futex wait (no fence).
pub const LIVENESS_TICK: Duration = Duration::from_millis(100);

/// Polls of the real operation (with a pause between) before a blocking
/// call enters [`wait_until`]: in a busy stream most waits end here, and
/// the real operation refreshes the endpoint's cached view, which the
/// waiting loop's read-only readiness check cannot.
const BRIEF_SPINS: u32 = 64;

/// How many polls a blocking call makes before it waits (none for
/// [`WaitStrategy::Park`], which must sleep at once).
pub(crate) fn brief_spins(strategy: WaitStrategy) -> u32 {
    match strategy {
        WaitStrategy::Park => 0,
        _ if cfg!(shmlane_loom) => 0,
        _ => BRIEF_SPINS,
    }
}

/// How long the default strategy busy-spins before yielding.
const SPIN_FOR: Duration = Duration::from_micros(20);
/// How long the default strategy yields before parking.
const YIELD_FOR: Duration = Duration::from_micros(50);

/// One direction's wake-up channel, over the two words of its index line.
#[derive(Clone, Copy)]
pub(crate) enum Signal<'a> {
    Event(EventCount<'a>),
    Sem(SemCore<'a>),
}

impl<'a> Signal<'a> {
    /// The signal of a direction: `event` is the eventcount word (or the
    /// semaphore's waiter count), `sem` the semaphore's value.
    pub(crate) fn new(waiter: Waiter, event: &'a AtomicU32, sem: &'a AtomicU32) -> Self {
        match waiter {
            Waiter::EventCount => Signal::Event(EventCount::new(event)),
            Waiter::Semaphore => Signal::Sem(SemCore::new(sem, event)),
        }
    }

    /// After publishing: wake a sleeper if there is one (one: a publish
    /// makes one item or one slot, and a woken sleeper that finds nothing
    /// passes the wake on).
    #[inline(always)]
    pub(crate) fn notify(self, light: bool, counters: &Counters) {
        match self {
            Signal::Event(event) => event.notify(light, counters),
            Signal::Sem(sem) => {
                // SYNC: eventcount-dekker (publisher side, semaphore waiter)
                barrier::publisher(light);
                let waiters = sem.waiters().load(Ordering::Relaxed);
                if waiters != 0 {
                    Self::post_slow(sem, waiters, counters);
                }
            }
        }
    }

    #[cold]
    fn post_slow(sem: SemCore<'_>, mut waiters: u32, counters: &Counters) {
        if waiters & semaphore::HEAVY_WAITERS != 0 {
            // SYNC: eventcount-dekker (publisher, HEAVY: as in
            // EventCount::notify_slow)
            barrier::publisher_heavy();
            waiters = sem.waiters().load(Ordering::Relaxed);
        }
        if waiters & !semaphore::HEAVY_WAITERS != 0 {
            // Saturated means a sleeper has plenty to wake on.
            let _ = sem.post(Some(counters));
        }
    }

    /// Wake every sleeper now (disconnect).
    pub(crate) fn wake_all(self, counters: &Counters) {
        match self {
            Signal::Event(event) => event.wake_all(counters),
            Signal::Sem(sem) => {
                // One unit: the semaphore waiter has one sleeper per word
                // (it is refused for MPMC rings).
                let _ = sem.post(Some(counters));
            }
        }
    }

    pub(crate) fn prepare(self) -> Prepared {
        match self {
            Signal::Event(event) => event.prepare(),
            Signal::Sem(sem) => {
                // Units posted for an earlier wait that found its condition
                // without sleeping would end this wait at once; the caller
                // re-checks its condition after announcing, so dropping them
                // loses nothing. One compare-exchange, whatever the value.
                sem.drain();
                let heavy = !barrier::sleeper_barrier_works();
                let counted = sem.announce(heavy);
                let mut prepared = Prepared {
                    seen: 0,
                    counted,
                    recheck: false,
                };
                // SYNC: eventcount-dekker (sleeper side, semaphore waiter)
                if !barrier::sleeper() && !heavy {
                    sem.mark_heavy();
                    prepared.recheck = true;
                }
                prepared
            }
        }
    }

    /// Sleeps; returns whether something moved (a wake, a post, a new
    /// epoch) rather than the timeout passing with nothing published.
    fn sleep(self, prepared: Prepared, timeout: Option<Duration>, counters: &Counters) -> bool {
        match self {
            Signal::Event(event) => event.sleep(prepared, timeout, counters),
            Signal::Sem(_) if prepared.recheck => true,
            Signal::Sem(sem) => sem.sleep_once(timeout, counters),
        }
    }

    pub(crate) fn cancel(self, prepared: Prepared) {
        match self {
            Signal::Event(event) => event.cancel(prepared),
            Signal::Sem(sem) if prepared.counted => sem.withdraw(),
            Signal::Sem(_) => {}
        }
    }

    /// The word a sleeper prepared as `prepared` sleeps on, and the value
    /// it sleeps while the word holds: what another thread may wait on in
    /// its stead (the async endpoints' waiter thread, `crate::aio`).
    #[cfg(all(feature = "tokio", not(shmlane_loom)))]
    pub(crate) fn sleep_target(self, prepared: Prepared) -> (&'a AtomicU32, u32) {
        match self {
            Signal::Event(event) => (event.word(), prepared.seen),
            // A semaphore sleeper sleeps while the value is 0.
            Signal::Sem(sem) => (sem.value_word(), 0),
        }
    }

    /// After a wake that moved the word, the sleeper found nothing: hand
    /// the wake on to another sleeper of the word (eventcount only: the
    /// semaphore waiter has one sleeper per word).
    pub(crate) fn pass_on(self, prepared: Prepared, counters: &Counters) {
        if let Signal::Event(event) = self
            && event.epoch_moved(prepared)
        {
            event.pass_on(counters);
        }
    }

    /// The same signal, for a sleeper that records its count in `mark`
    /// (an MPMC participant; the semaphore waiter is refused for MPMC).
    pub(crate) fn marked(self, mark: Option<SleeperMark<'a>>) -> Self {
        match self {
            Signal::Event(event) => Signal::Event(event.marked(mark)),
            sem @ Signal::Sem(_) => sem,
        }
    }

    /// Forget sleepers of a dead endpoint (its replacement calls this).
    pub(crate) fn clear_sleepers(self) {
        match self {
            Signal::Event(event) => event.clear_sleepers(),
            Signal::Sem(sem) => sem.clear_waiters(),
        }
    }

    /// Takes `n` sleepers of a participant known dead off the count (MPMC:
    /// the caller knows how many it left announced; see
    /// `EventCount::release_sleepers`). The semaphore waiter is refused for
    /// MPMC, so it has nothing to release.
    pub(crate) fn release_sleepers(self, n: u32) {
        if let Signal::Event(event) = self {
            event.release_sleepers(n);
        }
    }

    /// Before an endpoint first sleeps here: if this process's sleepers
    /// cannot run their membarrier, mark the word HEAVY so that light
    /// publishers fence (SAFETY.md §5).
    pub(crate) fn note_sleeper(self) {
        match self {
            Signal::Event(event) => event.note_sleeper(),
            Signal::Sem(sem) => {
                if !barrier::sleeper_barrier_works() {
                    sem.mark_heavy();
                }
            }
        }
    }
}

/// When a waiter next checks its peer's liveness: one tick after it first
/// looked at the clock, then every tick.
struct PeerClock {
    next: Option<Instant>,
}

impl PeerClock {
    /// Whether a check is due at `now` (the first call only starts the clock).
    fn due(&mut self, now: Instant) -> bool {
        match self.next {
            Some(t) if now < t => false,
            seen => {
                self.next = Some(now + LIVENESS_TICK);
                seen.is_some()
            }
        }
    }

    /// How long to sleep so as not to pass the next check: a dead peer is
    /// then noticed within one tick of its death, not two.
    fn until_due(&self, now: Instant) -> Duration {
        self.next
            .and_then(|t| t.checked_duration_since(now))
            .filter(|d| !d.is_zero())
            .unwrap_or(LIVENESS_TICK)
            .min(LIVENESS_TICK)
    }
}

/// How long a blocking call may wait. A timeout becomes a deadline only
/// once the call has to wait, so a call that finds its ring ready never
/// reads the clock.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Limit {
    /// Until the operation can go on (or the peer is gone).
    Forever,
    /// At most this long from when the call starts to wait.
    Timeout(Duration),
    /// Until this instant.
    Deadline(Instant),
}

impl Limit {
    /// The deadline to wait for (`None`: none). Loom builds have no clock.
    pub(crate) fn deadline(self) -> Option<Instant> {
        match self {
            Limit::Forever => None,
            Limit::Timeout(timeout) => deadline(Some(timeout)),
            Limit::Deadline(_) if cfg!(shmlane_loom) => None,
            Limit::Deadline(at) => Some(at),
        }
    }
}

/// Converts a timeout into a deadline (`None`: wait forever). Loom builds
/// have no clock: a timeout there would make executions differ.
pub(crate) fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    if cfg!(shmlane_loom) {
        return None;
    }
    timeout.map(|t| Instant::now().checked_add(t).unwrap_or_else(far_future))
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

/// Waits until `attempt` returns `Some` (returned) or `deadline` passes
/// (`None`). `attempt` must be cheap and re-check everything (data,
/// disconnect); `check_peer` is called about every [`LIVENESS_TICK`] of
/// waiting and may record a dead peer for the next `attempt` to report.
///
/// `waited` counts the calls that had to wait (the first attempt failed).
///
/// A deadline that has passed ends the wait at once, even if `attempt`
/// would say "ready": callers retry their operation after a ready wait,
/// and a peer that makes the two disagree (a hostile one rewriting the
/// segment) must not keep a timed call looping past its deadline.
pub(crate) fn wait_until<R>(
    signal: Signal<'_>,
    strategy: WaitStrategy,
    deadline: Option<Instant>,
    counters: &Counters,
    waited: &AtomicU64,
    mut attempt: impl FnMut() -> Option<R>,
    mut check_peer: impl FnMut(),
) -> Option<R> {
    if deadline.is_some_and(|d| Instant::now() >= d) {
        return None;
    }
    if let Some(ready) = attempt() {
        return Some(ready);
    }
    // An MPMC direction has many writers; a locked add costs nothing next
    // to the wait that follows.
    waited.fetch_add(1, Ordering::Relaxed);
    // The clock starts at the first look at it (after some spins): a wait
    // that ends within them never reads it.
    let mut started: Option<Instant> = None;
    let expired = |now: Instant| deadline.is_some_and(|d| now >= d);
    let mut peer_clock = PeerClock { next: None };

    // Phase 1 and 2: spin, then yield (all of the Spin strategy).
    let (spin_for, yield_for) = match strategy {
        WaitStrategy::Spin => (None, Duration::ZERO),
        WaitStrategy::SpinThenPark => (Some(SPIN_FOR), YIELD_FOR),
        WaitStrategy::Park => (Some(Duration::ZERO), Duration::ZERO),
    };
    let mut rounds: u32 = 0;
    let mut yielding = false;
    loop {
        if let Some(ready) = attempt() {
            return Some(ready);
        }
        if cfg!(shmlane_loom) {
            // Loom: one try, then park (the model explores the rest).
            break;
        }
        rounds = rounds.wrapping_add(1);
        // Read the clock only now and then while spinning: it costs more
        // than a poll.
        if yielding || rounds.is_multiple_of(64) || strategy == WaitStrategy::Park {
            let now = Instant::now();
            if expired(now) {
                return None;
            }
            if peer_clock.due(now) {
                check_peer();
            }
            if let Some(spin) = spin_for {
                let spent = now - *started.get_or_insert(now);
                if spent >= spin + yield_for {
                    break;
                }
                yielding = spent >= spin;
            }
        }
        if yielding {
            std::thread::yield_now();
        } else {
            spin_hint();
        }
    }

    // Phase 3: park, one liveness tick at a time. After a tick in which
    // nothing moved, nothing was published since we announced ourselves (a
    // publisher would have seen us and moved the word), so we stay
    // announced and sleep again without another fence.
    loop {
        let prepared = signal.prepare();
        if let Some(ready) = attempt() {
            signal.cancel(prepared);
            return Some(ready);
        }
        loop {
            let now = if cfg!(shmlane_loom) {
                None
            } else {
                Some(Instant::now())
            };
            let nap = match (now, deadline) {
                (Some(now), Some(deadline)) => match deadline.checked_duration_since(now) {
                    Some(left) if !left.is_zero() => Some(left.min(peer_clock.until_due(now))),
                    _ => {
                        signal.cancel(prepared);
                        return None;
                    }
                },
                (Some(now), None) => Some(peer_clock.until_due(now)),
                (None, _) => None,
            };
            if signal.sleep(prepared, nap, counters) {
                break;
            }
            // A quiet tick: is the peer still alive?
            if let Some(now) = (!cfg!(shmlane_loom)).then(Instant::now)
                && peer_clock.due(now)
            {
                check_peer();
                if let Some(ready) = attempt() {
                    // Ready after a tick in which nothing moved the word: a
                    // wake that never came (or the peer died).
                    note_tick_rescue();
                    signal.cancel(prepared);
                    return Some(ready);
                }
            }
        }
        signal.cancel(prepared);
        if let Some(ready) = attempt() {
            return Some(ready);
        }
        // Woken, or the word moved, and nothing for us: if a publisher's
        // wake moved it, that wake may have been meant for another sleeper
        // (SAFETY.md §5, "one wake per item").
        signal.pass_on(prepared, counters);
    }
}

/// Waits that ended ready after a quiet liveness tick (nothing moved the
/// word): wakeups the tick rescued, or peers found dead. Process-wide, for
/// tests.
#[cfg(not(shmlane_loom))]
static TICK_RESCUES: AtomicU64 = AtomicU64::new(0);

fn note_tick_rescue() {
    #[cfg(not(shmlane_loom))]
    TICK_RESCUES.fetch_add(1, Ordering::Relaxed);
}

/// Process-wide tallies of the waiting loop, for tests (`test_support`).
#[cfg(not(shmlane_loom))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WaitTally {
    /// futex waits ended by a wake.
    pub woken: u64,
    /// futex waits ended by their timeout.
    pub timed_out: u64,
    /// Waits that ended ready only after a quiet liveness tick.
    pub tick_rescues: u64,
}

/// The tallies so far (this process).
#[cfg(not(shmlane_loom))]
#[allow(dead_code, reason = "read by test_support")]
pub(crate) fn tally() -> WaitTally {
    WaitTally {
        woken: futex::WOKEN.load(Ordering::Relaxed),
        timed_out: futex::TIMED_OUT.load(Ordering::Relaxed),
        tick_rescues: TICK_RESCUES.load(Ordering::Relaxed),
    }
}

#[cfg(all(test, not(shmlane_loom)))]
mod tests {
    use super::*;
    use crate::segment::Header;
    use crate::sync::Ordering;

    fn wakes(header: &Header) -> u64 {
        header
            .ring
            .head
            .syscalls
            .wake_syscalls
            .load(Ordering::Relaxed)
    }

    #[test]
    fn notify_makes_no_syscall_without_sleepers_and_one_with() {
        for waiter in [Waiter::EventCount, Waiter::Semaphore] {
            let header = Header::zeroed();
            let line = &header.ring.wake.not_empty;
            let signal = Signal::new(waiter, &line.event, &line.sem);
            let counters = &header.ring.head.syscalls;
            for light in [false, true] {
                signal.notify(light, counters);
            }
            assert_eq!(wakes(&header), 0, "{waiter:?}: nobody sleeps");
            let prepared = signal.prepare();
            signal.notify(false, counters);
            assert_eq!(wakes(&header), 1, "{waiter:?}: a sleeper is announced");
            signal.cancel(prepared);
            signal.notify(false, counters);
            assert_eq!(wakes(&header), 1, "{waiter:?}: the sleeper withdrew");
        }
    }

    #[test]
    fn a_dead_sleepers_announcement_is_cleared_by_its_replacement() {
        for waiter in [Waiter::EventCount, Waiter::Semaphore] {
            let header = Header::zeroed();
            let line = &header.ring.wake.not_full;
            let signal = Signal::new(waiter, &line.event, &line.sem);
            signal.prepare(); // and then the sleeper "dies"
            signal.clear_sleepers();
            signal.notify(false, &header.ring.head.syscalls);
            assert_eq!(wakes(&header), 0, "{waiter:?}");
        }
    }

    #[test]
    fn wait_until_returns_at_once_when_ready_and_times_out_when_not() {
        let header = Header::zeroed();
        let line = &header.ring.wake.not_empty;
        let counters = &header.ring.head.syscalls;
        for strategy in [
            WaitStrategy::Spin,
            WaitStrategy::SpinThenPark,
            WaitStrategy::Park,
        ] {
            let signal = Signal::new(Waiter::EventCount, &line.event, &line.sem);
            let waits = AtomicU64::new(0);
            let got = wait_until(signal, strategy, None, counters, &waits, || Some(7), || {});
            assert_eq!(waits.load(Ordering::Relaxed), 0, "ready at once is no wait");
            assert_eq!(got, Some(7));
            let soon = deadline(Some(Duration::from_millis(5)));
            let got: Option<()> =
                wait_until(signal, strategy, soon, counters, &waits, || None, || {});
            assert_eq!(waits.load(Ordering::Relaxed), 1);
            assert_eq!(got, None, "{strategy:?}");
            assert_eq!(
                line.event.load(Ordering::Relaxed) & 0xff,
                0,
                "no sleeper left behind"
            );
        }
    }

    #[test]
    fn a_long_wait_checks_the_peer_every_tick() {
        let header = Header::zeroed();
        let line = &header.ring.wake.not_empty;
        let signal = Signal::new(Waiter::EventCount, &line.event, &line.sem);
        let mut checks = 0;
        let soon = deadline(Some(LIVENESS_TICK * 3));
        let waits = AtomicU64::new(0);
        let got: Option<()> = wait_until(
            signal,
            WaitStrategy::Park,
            soon,
            &header.ring.head.syscalls,
            &waits,
            || None,
            || checks += 1,
        );
        assert_eq!(got, None);
        assert!(checks >= 1, "peer checked while parked");
    }

    #[test]
    fn semaphore_counts_and_refuses_overflow() {
        let header = Header::zeroed();
        let line = &header.ring.wake.not_empty;
        let sem = semaphore::SemCore::new(&line.sem, &line.event);
        assert!(!sem.try_wait());
        sem.post(None).unwrap();
        sem.post(None).unwrap();
        assert_eq!(sem.value(), 2);
        assert!(sem.try_wait() && sem.try_wait() && !sem.try_wait());
        line.sem.store(semaphore::SEM_VALUE_MAX, Ordering::Relaxed);
        assert_eq!(sem.post(None), Err(crate::error::SemError::Overflow));
        // A peer-written value above the maximum is not trusted: it reads as
        // 0, is reset by the next P, and a V counts from 0.
        line.sem.store(u32::MAX, Ordering::Relaxed);
        assert_eq!(sem.value(), 0);
        assert!(!sem.try_wait());
        assert_eq!(line.sem.load(Ordering::Relaxed), 0);
        line.sem.store(u32::MAX, Ordering::Relaxed);
        sem.post(None).unwrap();
        assert_eq!(sem.value(), 1);
    }

    #[test]
    fn a_semaphore_sleeper_wakes_even_if_a_peer_zeroes_the_waiter_count() {
        let header = std::sync::Arc::new(Header::zeroed());
        let sleeper = {
            let header = std::sync::Arc::clone(&header);
            crate::sync::thread::spawn(move || {
                let word = &header.ring.wake.not_empty;
                semaphore::SemCore::new(&word.sem, &word.event).wait_until(None)
            })
        };
        let word = &header.ring.wake.not_empty;
        while word.event.load(Ordering::Relaxed) == 0 {
            std::thread::yield_now(); // until the sleeper has announced itself
        }
        // A broken peer zeroes the count: the post then wakes nobody, and
        // only the sleeper's bounded nap gets it the unit.
        word.event.store(0, Ordering::Relaxed);
        semaphore::SemCore::new(&word.sem, &word.event)
            .post(None)
            .unwrap();
        assert_eq!(sleeper.join().unwrap(), Ok(()));
    }

    fn event_word(header: &Header) -> &AtomicU32 {
        &header.ring.wake.not_empty.event
    }

    #[test]
    fn a_sleeper_count_saturates_instead_of_wrapping() {
        let header = Header::zeroed();
        let word = event_word(&header);
        let event = EventCount::new(word);
        // 255 leaked or live sleepers, epoch 1: one more must not carry
        // into the flag and the epoch and leave the count reading 0.
        word.store(0x200 | 0xff, Ordering::Relaxed);
        let prepared = event.prepare();
        let after = word.load(Ordering::Relaxed);
        assert_eq!(after & eventcount::SLEEPERS, 0xff, "saturated: {after:#x}");
        assert_eq!(after & !0x1ff, 0x200, "epoch untouched: {after:#x}");
        event.cancel(prepared);
        assert_eq!(word.load(Ordering::Relaxed) & 0xff, 0xff, "stays saturated");
        event.notify(false, &header.ring.head.syscalls);
        assert_eq!(wakes(&header), 1, "a saturated count always wakes");
        // A count just below saturation reaches it and stays there.
        word.store(0xfe, Ordering::Relaxed);
        let prepared = event.prepare();
        event.cancel(prepared);
        assert_eq!(word.load(Ordering::Relaxed) & 0xff, 0xff);
        // A count a peer zeroed is not taken below 0 by a cancel.
        let prepared = {
            word.store(0, Ordering::Relaxed);
            event.prepare()
        };
        word.store(0x400, Ordering::Relaxed);
        event.cancel(prepared);
        assert_eq!(
            word.load(Ordering::Relaxed),
            0x400,
            "no borrow from the epoch"
        );
    }

    #[test]
    fn release_sleepers_subtracts_a_known_number_and_keeps_the_rest() {
        let header = Header::zeroed();
        let word = event_word(&header);
        let event = EventCount::new(word);
        word.store(0x600 | 5, Ordering::Relaxed);
        event.release_sleepers(3);
        assert_eq!(word.load(Ordering::Relaxed), 0x600 | 2);
        event.release_sleepers(10);
        assert_eq!(word.load(Ordering::Relaxed), 0x600, "never below 0");
        word.store(0x600 | 0xff, Ordering::Relaxed);
        event.release_sleepers(4);
        assert_eq!(
            word.load(Ordering::Relaxed),
            0x600 | 0xff,
            "saturated: the real count is unknown, so it stays"
        );
        let signal = Signal::new(Waiter::EventCount, word, &header.ring.wake.not_empty.sem);
        word.store(3, Ordering::Relaxed);
        signal.release_sleepers(1);
        assert_eq!(word.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_marked_sleeper_raises_its_mark_only_while_its_count_is_in() {
        let header = Header::zeroed();
        let word = event_word(&header);
        let flag = AtomicU32::new(0);
        let mark = SleeperMark {
            flag: &flag,
            value: 0x45,
        };
        let event = EventCount::new(word).marked(Some(mark));
        let prepared = event.prepare();
        assert!(prepared.counted);
        assert_eq!(word.load(Ordering::Relaxed) & eventcount::SLEEPERS, 1);
        assert_eq!(flag.load(Ordering::Relaxed), 0x45, "counted: marked");
        event.cancel(prepared);
        assert_eq!(word.load(Ordering::Relaxed) & eventcount::SLEEPERS, 0);
        assert_eq!(flag.load(Ordering::Relaxed), 0, "withdrawn: unmarked");
        // A saturated word takes no count, so no mark either: nobody may
        // take one off for it.
        word.store(eventcount::SLEEPERS, Ordering::Relaxed);
        let prepared = event.prepare();
        assert!(!prepared.counted);
        assert_eq!(flag.load(Ordering::Relaxed), 0);
        event.cancel(prepared);
    }

    #[test]
    fn a_hostile_semaphore_value_is_drained_in_one_step() {
        // A peer stores SEM_VALUE_MAX into the semaphore waiter's value:
        // the next prepare must not take the units one at a time (2^31
        // compare-exchanges). An observer that sees a value between the two
        // ends proves a unit-by-unit drain (and stops it by zeroing).
        let header = std::sync::Arc::new(Header::zeroed());
        let line = &header.ring.wake.not_empty;
        line.sem.store(semaphore::SEM_VALUE_MAX, Ordering::Relaxed);
        let observer = {
            let header = std::sync::Arc::clone(&header);
            crate::sync::thread::spawn(move || {
                let value = &header.ring.wake.not_empty.sem;
                loop {
                    match value.load(Ordering::Relaxed) {
                        0 => return None,
                        semaphore::SEM_VALUE_MAX => std::thread::yield_now(),
                        between => {
                            value.store(0, Ordering::Relaxed);
                            return Some(between);
                        }
                    }
                }
            })
        };
        let signal = Signal::new(Waiter::Semaphore, &line.event, &line.sem);
        let prepared = signal.prepare();
        signal.cancel(prepared);
        let between = observer.join().unwrap();
        assert_eq!(between, None, "drained one unit at a time");
        assert_eq!(line.sem.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn wait_words_a_peer_keeps_rewriting_cost_bounded_work() {
        // A "peer" thread adds to both words of a direction without pause;
        // every read-modify-write loop on them is bounded, so each call
        // below returns (before, the loops retried for as long as the peer
        // won the race).
        let header = std::sync::Arc::new(Header::zeroed());
        let stop = std::sync::Arc::new(AtomicU32::new(0));
        let peer = {
            let (header, stop) = (std::sync::Arc::clone(&header), std::sync::Arc::clone(&stop));
            crate::sync::thread::spawn(move || {
                let line = &header.ring.wake.not_empty;
                while stop.load(Ordering::Relaxed) == 0 {
                    line.event.fetch_add(0x201, Ordering::Relaxed);
                    line.sem.fetch_add(7, Ordering::Relaxed);
                }
            })
        };
        let line = &header.ring.wake.not_empty;
        let counters = &header.ring.head.syscalls;
        for waiter in [Waiter::EventCount, Waiter::Semaphore] {
            let signal = Signal::new(waiter, &line.event, &line.sem);
            for _ in 0..1000 {
                let prepared = signal.prepare();
                signal.notify(true, counters);
                signal.cancel(prepared);
                signal.clear_sleepers();
                signal.release_sleepers(1);
            }
        }
        let sem = semaphore::SemCore::new(&line.sem, &line.event);
        for _ in 0..1000 {
            let _ = sem.post(None);
            let _ = sem.try_wait();
        }
        stop.store(1, Ordering::Relaxed);
        peer.join().unwrap();
    }
}
