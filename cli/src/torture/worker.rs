//! The processes of a trial: producers and consumers of one named ring,
//! each a forked child that opens the ring the way a restarted program
//! does (`open_or_create`), writes what it did into the journal, and exits
//! 0, or 1 with a message on stderr.

use std::time::{Duration, Instant};

use bytemuck::{Pod, Zeroable};
use shmlane::{GrantError, OpenError, Options, PopError, PushError, bytes, mpmc, spsc};

use super::Kind;
use super::journal::{Journal, Tag, mix};

/// The longest any one call may wait: past it the trial has hung.
const CALL_LIMIT: Duration = Duration::from_secs(10);
/// A peer gone for good is told from one being restarted by the journal;
/// until then, wait this long between looks.
const RETRY_PAUSE: Duration = Duration::from_millis(1);

/// A typed ring's item: its tag, payload words derived from the tag, and
/// a checksum over both, so that a torn or invented item shows.
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
#[repr(C)]
pub struct Item {
    tag: u64,
    payload: [u64; 3],
    check: u64,
}

impl Item {
    fn new(tag: u64) -> Self {
        let payload = [mix(tag, 1), mix(tag, 2), mix(tag, 3)];
        Self {
            tag,
            payload,
            check: checksum(tag, &payload),
        }
    }

    fn is_whole(&self) -> bool {
        self.check == checksum(self.tag, &self.payload)
    }
}

fn checksum(tag: u64, payload: &[u64]) -> u64 {
    payload.iter().fold(mix(tag, 0), |acc, &w| mix(acc, w))
}

/// A byte ring's frame for `tag`: the tag, 0 to 23 payload words (from the
/// tag, so frames have many lengths) and a checksum.
fn frame(tag: u64) -> Vec<u8> {
    let words: Vec<u64> = (0..mix(tag, 9) % 24).map(|i| mix(tag, i + 10)).collect();
    let mut out = Vec::with_capacity(8 * (words.len() + 2));
    out.extend_from_slice(&tag.to_le_bytes());
    for w in &words {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.extend_from_slice(&checksum(tag, &words).to_le_bytes());
    out
}

/// The tag of a whole frame, or `None` if it is torn.
fn frame_tag(bytes: &[u8]) -> Option<u64> {
    if bytes.len() < 16 || !bytes.len().is_multiple_of(8) {
        return None;
    }
    let words: Vec<u64> = bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    let (tag, rest) = words.split_first()?;
    let (check, payload) = rest.split_last()?;
    (*check == checksum(*tag, payload) && frame(*tag) == bytes).then_some(*tag)
}

/// The options every process of a trial opens the ring with: small, so
/// that it wraps and fills; persistent, so that items outlive a moment
/// with no endpoint (the parent removes the segment after the trial).
pub fn options(kind: Kind) -> Options {
    let opts = Options::new()
        .persist(true)
        .open_timeout(Duration::from_secs(2));
    match kind {
        Kind::Spsc => opts.capacity(16),
        Kind::Bytes => opts.capacity(1024).max_frame(256).release_each_frame(true),
        Kind::Mpmc => opts.capacity(16).participants(8),
    }
}

/// Opens `name` as `what` with `open`, retrying while a dead creator's
/// half-made segment is being replaced (the open times out or finds the
/// name gone for a moment).
fn open<E>(what: &str, mut open: impl FnMut() -> Result<E, OpenError>) -> Result<E, String> {
    let start = Instant::now();
    loop {
        match open() {
            Ok(end) => return Ok(end),
            Err(
                OpenError::NotFound { .. }
                | OpenError::Timeout { .. }
                | OpenError::AlreadyExists { .. },
            ) if start.elapsed() < CALL_LIMIT => {}
            Err(e) => return Err(format!("{what}: open: {e}")),
        }
    }
}

/// Producer `p` (incarnation `incarnation`): sends its items from `from`
/// to `total`, noting each returned send.
pub fn produce(
    kind: Kind,
    name: &str,
    p: usize,
    incarnation: u64,
    (from, total): (u64, u64),
    journal: &Journal,
) -> Result<(), String> {
    let opts = options(kind);
    let tag = |seq| {
        Tag {
            producer: p,
            incarnation,
            seq,
        }
        .encode()
    };
    // Sends `item` until it is taken: a consumer that is gone (dead, and
    // being restarted) is waited for, as a real producer would.
    fn retrying<R, E: std::fmt::Display>(
        mut send: impl FnMut() -> Result<R, E>,
        waits: impl Fn(&E) -> bool,
    ) -> Result<R, String> {
        let start = Instant::now();
        loop {
            match send() {
                Ok(r) => return Ok(r),
                Err(e) if waits(&e) && start.elapsed() < CALL_LIMIT => {
                    std::thread::sleep(RETRY_PAUSE);
                }
                Err(e) => return Err(format!("send: {e}")),
            }
        }
    }
    match kind {
        Kind::Spsc => {
            let mut tx = open("producer", || {
                spsc::Producer::<Item>::open_or_create(name, &opts)
            })?;
            for seq in from..total {
                let item = Item::new(tag(seq));
                retrying(
                    || tx.send_timeout(item, CALL_LIMIT),
                    |e| matches!(e, PushError::Disconnected(_)),
                )?;
                journal.set_returned(p, seq + 1);
            }
        }
        Kind::Bytes => {
            let mut tx = open("producer", || bytes::Producer::open_or_create(name, &opts))?;
            for seq in from..total {
                let data = frame(tag(seq));
                retrying(
                    || tx.send_timeout(&data, CALL_LIMIT),
                    |e| matches!(e, GrantError::Disconnected),
                )?;
                journal.set_returned(p, seq + 1);
            }
        }
        Kind::Mpmc => {
            let mut tx = open("sender", || {
                mpmc::Sender::<Item>::open_or_create(name, &opts)
            })?;
            for seq in from..total {
                let item = Item::new(tag(seq));
                retrying(
                    || tx.send_timeout(item, CALL_LIMIT),
                    |e| matches!(e, PushError::Disconnected(_)),
                )?;
                journal.set_returned(p, seq + 1);
            }
        }
    }
    journal.set_done(p);
    Ok(())
}

/// A consumer incarnation writing log `log`: takes items until every
/// producer is done and the ring is drained. SPSC and byte rings: each
/// item is journaled while still held in place (a chunk, a frame) and
/// released after, so a kill between the two makes its replacement take
/// it again (the documented window). MPMC: `recv` copies it out first.
pub fn consume(
    kind: Kind,
    name: &str,
    log: usize,
    producers: usize,
    journal: &Journal,
) -> Result<(), String> {
    let opts = options(kind);
    let take = |tag: Option<u64>| -> Result<(), String> {
        match tag {
            Some(tag) if journal.append(log, tag) => Ok(()),
            Some(tag) => Err(format!(
                "more items than were sent (at {:?})",
                Tag::decode(tag)
            )),
            None => {
                journal.note_torn();
                Ok(())
            }
        }
    };
    // After `Disconnected`: the end if every producer is done, else a
    // producer is being restarted and the ring has more to come.
    let finished = |start: &mut Instant| -> Result<bool, String> {
        if journal.all_done(producers) {
            return Ok(true);
        }
        if start.elapsed() > CALL_LIMIT {
            return Err("no producer came back".into());
        }
        std::thread::sleep(RETRY_PAUSE);
        Ok(false)
    };
    let mut gone_since = Instant::now();
    match kind {
        Kind::Spsc => {
            let mut rx = open("consumer", || {
                spsc::Consumer::<Item>::open_or_create(name, &opts)
            })?;
            loop {
                match rx.read_chunk_timeout(1, CALL_LIMIT) {
                    Ok(chunk) => {
                        let item = chunk.as_slices().0[0];
                        take(item.is_whole().then_some(item.tag))?;
                        chunk.release_all();
                        gone_since = Instant::now();
                    }
                    Err(PopError::Disconnected) => {
                        if finished(&mut gone_since)? {
                            return Ok(());
                        }
                    }
                    Err(e) => return Err(format!("read_chunk: {e}")),
                }
            }
        }
        Kind::Bytes => {
            let mut rx = open("consumer", || bytes::Consumer::open_or_create(name, &opts))?;
            loop {
                match rx.read_timeout(CALL_LIMIT) {
                    Ok(frame) => {
                        take(frame_tag(&frame))?;
                        frame.release();
                        gone_since = Instant::now();
                    }
                    Err(PopError::Disconnected) => {
                        if finished(&mut gone_since)? {
                            return Ok(());
                        }
                    }
                    Err(e) => return Err(format!("read: {e}")),
                }
            }
        }
        Kind::Mpmc => {
            let mut rx = open("receiver", || {
                mpmc::Receiver::<Item>::open_or_create(name, &opts)
            })?;
            loop {
                match rx.recv_timeout(CALL_LIMIT) {
                    Ok(item) => {
                        take(item.is_whole().then_some(item.tag))?;
                        gone_since = Instant::now();
                    }
                    Err(PopError::Disconnected) => {
                        if finished(&mut gone_since)? {
                            return Ok(());
                        }
                    }
                    Err(e) => return Err(format!("recv: {e}")),
                }
            }
        }
    }
}
