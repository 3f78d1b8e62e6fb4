//! Typed multi-producer multi-consumer ring: any number of [`Sender`]s and
//! [`Receiver`]s, in any number of processes, up to the participant limit
//! the ring was created with.
//!
//! # Design
//!
//! A bounded queue with a sequence stamp per slot, after Dmitry Vyukov's
//! (crossbeam's `ArrayQueue` is the well-known version), changed so that a
//! participant can die at any instruction without stalling the others:
//!
//! * A slot is **claimed by a compare-exchange on its stamp**, which writes
//!   the claimant's participant row and row generation into the stamp in
//!   the same atomic step. Whoever waits on a claimed slot can therefore
//!   always tell whose it is, and ask whether that endpoint is still alive
//!   (the OFD lock of its row, see `peer.rs`).
//! * `head` and `tail` are hints, not claims: each endpoint keeps its own
//!   cursor, tries the slot there, and reads the shared hint only when the
//!   stamp says the cursor is stale. A sender's publish and a receiver's
//!   release move the hint after the stamp, once every 32 positions (a
//!   locked instruction on a shared line per operation is the contention
//!   per-slot stamps exist to avoid); a lagging hint costs a jumping
//!   cursor a few more stamp loads.
//!
//! A stamp is `lap << 18 | generation << 10 | row << 3 | state`, where
//! `lap` is the position divided by the capacity (46 bits, compared
//! modulo 2^46). For the position `p` of lap `L`, a slot goes
//! `EMPTY(L)` → `WRITING(L, sender)` → `FULL(L)` → `READING(L, receiver)`
//! → `EMPTY(L+1)`. A reservation dropped uncommitted publishes `SKIPPED(L)`
//! instead of `FULL(L)`, and receivers turn it into `EMPTY(L+1)` without
//! reading it. A fresh segment is all zeroes: every slot `EMPTY(0)`.
//!
//! A dead participant's claim is undone by whoever waits on it:
//! `WRITING(L, dead)` becomes `SKIPPED(L)` (its item was never committed,
//! nothing is delivered); `READING(L, dead)`, the item the dead receiver
//! was taking and never returned, is taken over by a receiver that stepped
//! over it (its claim becomes `READING(L, self)` and it delivers the item;
//! receivers look at the claims they stepped over before they report
//! `Empty` or `Disconnected`, and at every liveness tick), or becomes
//! `FULL(L+1)`, handed out again one lap later, if someone waiting a lap
//! later gets there first. One compare-exchange decides, so every committed
//! item is received exactly once. SAFETY.md proves both.
//!
//! Every stamp read is checked against the position it should describe
//! (lap one behind, equal or ahead; a valid state; an owner row inside the
//! table): one that cannot happen is [`Corruption`](crate::Corruption), and poisons the
//! endpoint, whose every later call reports the same corruption.
//!
//! # Ordering
//!
//! Items from one sender are received in the order it sent them, by all
//! receivers together: its claims take increasing positions, and receivers
//! take positions in increasing order. (The only exception: an item whose
//! receiver died in the middle of receiving it is handed out again later,
//! after items sent after it.) Items of different senders interleave in
//! the order their slots were claimed.
//!
//! ```no_run
//! use shmlane::{Options, mpmc};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let opts = Options::new().capacity(1024).participants(16);
//! let mut tx = mpmc::Sender::<u64>::create("jobs", &opts)?; // this process
//! let mut rx = mpmc::Receiver::<u64>::open("jobs", &opts)?; // any process
//! tx.try_send(7).map_err(|e| e.to_string())?;
//! assert_eq!(rx.try_recv()?, 7);
//! # Ok(())
//! # }
//! ```

use bytemuck::Pod;

#[cfg(not(shmlane_loom))]
use super::Source;
use super::{RingMemory, Wake};
use crate::error::OpenError;
use crate::options::Options;
use crate::segment::RingKind;
use crate::segment::peer::Role;

mod endpoint;
#[cfg(not(shmlane_loom))]
mod raw;
mod receiver;
mod recovery;
mod reservation;
mod sender;
mod stamp;

#[cfg(not(shmlane_loom))]
pub use raw::{RawReceiver, RawSender, raw_pair};
pub use receiver::Receiver;
pub use reservation::Reservation;
pub use sender::Sender;
pub(crate) use stamp::Slot;

/// A sender and a receiver over one new anonymous shared-memory segment
/// (memfd), sealed so no process can resize it. More endpoints come from
/// [`Sender::try_clone`] and [`Receiver::try_clone`]. As for
/// [`spsc::pair`](crate::spsc::pair): after a fork keep each endpoint in
/// the one process that uses it and drop the others' copies unused.
///
/// `opts` may set the capacity, participant limit, schema id, waiter and
/// wait strategy; `mode`, `persist` and `open_timeout` apply only to named
/// segments and are refused here.
///
/// # Examples
///
/// ```
/// use shmlane::{Options, mpmc};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (mut tx, mut rx) = mpmc::pair::<u64>(&Options::new().capacity(8))?;
/// let mut rx2 = rx.try_clone()?; // after a fork, one process each
/// tx.try_send(1).unwrap();
/// tx.try_send(2).unwrap();
/// assert_eq!((rx.try_recv()?, rx2.try_recv()?), (1, 2));
/// # Ok(())
/// # }
/// ```
#[cfg(not(shmlane_loom))]
pub fn pair<T: Pod + Send>(opts: &Options) -> Result<(Sender<T>, Receiver<T>), OpenError> {
    let roles = (Role::Producer, Role::Consumer);
    let (tx, rx) = RingMemory::memfd_pair(RingKind::Mpmc, roles, opts)?;
    Ok((Sender::attach(tx, opts)?, Receiver::attach(rx, opts)?))
}

/// A sender and a receiver over process-local memory: the same ring for
/// threads of one process.
///
/// # Examples
///
/// ```
/// use shmlane::{Options, mpmc};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (mut tx, mut rx) = mpmc::heap_pair::<u64>(&Options::new().capacity(8))?;
/// let mut tx2 = tx.try_clone()?;
/// let sender = std::thread::spawn(move || tx2.send(2).map_err(|e| e.to_string()));
/// tx.send(1).unwrap();
/// sender.join().unwrap()?;
/// let mut got = [rx.recv()?, rx.recv()?];
/// got.sort(); // the two senders' items interleave in any order
/// assert_eq!(got, [1, 2]);
/// # Ok(())
/// # }
/// ```
pub fn heap_pair<T: Pod + Send>(opts: &Options) -> Result<(Sender<T>, Receiver<T>), OpenError> {
    let roles = (Role::Producer, Role::Consumer);
    let (tx, rx) = RingMemory::heap_pair(RingKind::Mpmc, roles, opts)?;
    Ok((Sender::attach(tx, opts)?, Receiver::attach(rx, opts)?))
}

#[cfg(all(test, not(shmlane_loom)))]
mod tests;
