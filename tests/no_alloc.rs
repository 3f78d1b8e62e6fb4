//! Push, pop, send, receive, commit and release, of every ring kind, never
//! touch the heap: a counting global allocator counts this thread's
//! allocations around them.
#![cfg(not(shmlane_loom))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use shmlane::{GrantError, Options, PopError, bytes, mpmc, spsc};

struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; counting has no effect on it.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

fn exercise(tx: &mut spsc::Producer<u64>, rx: &mut spsc::Consumer<u64>) {
    for round in 0..1000u64 {
        tx.push(round).unwrap();
        tx.push(round).unwrap();
        assert_eq!(rx.pop(), Ok(round));
        let mut chunk = tx.write_chunk(7).unwrap();
        chunk.as_mut_slices().0.fill(round);
        chunk.commit(5);
        let chunk = rx.read_chunk(6).unwrap();
        assert_eq!(chunk.as_slices().0[0], round);
        chunk.release_all();
        // Full and empty are errors without allocation too.
        while tx.push(round).is_ok() {}
        while rx.pop().is_ok() {}
    }
}

fn exercise_mpmc(tx: &mut mpmc::Sender<u64>, rx: &mut mpmc::Receiver<u64>) {
    for round in 0..1000u64 {
        tx.try_send(round).unwrap();
        let mut slot = tx.reserve().unwrap();
        *slot.get_mut() = round + 1;
        slot.commit();
        // A dropped reservation is a skipped slot, passed over below.
        drop(tx.reserve().unwrap());
        assert_eq!(rx.try_recv(), Ok(round));
        assert_eq!(rx.try_recv(), Ok(round + 1));
        // Full and empty are errors without allocation too.
        while tx.try_send(round).is_ok() {}
        while rx.try_recv().is_ok() {}
    }
}

/// `buf` is the receive buffer, allocated by the caller with room for the
/// largest frame: growing it would be the caller's allocation.
fn exercise_bytes(tx: &mut bytes::Producer, rx: &mut bytes::Consumer, buf: &mut Vec<u8>) {
    let payload = [7u8; 40];
    for round in 0..1000usize {
        let len = 1 + round % payload.len();
        tx.try_send(&payload[..len]).unwrap();
        let mut grant = tx.grant(len).unwrap();
        grant.fill(round as u8);
        assert_eq!(grant.commit(len), len);
        // A dropped grant publishes nothing.
        assert_eq!(tx.grant(len).map(|grant| grant.len()), Ok(len));
        assert_eq!(rx.try_recv(buf), Ok(len));
        assert_eq!(buf.as_slice(), &payload[..len]);
        let frame = rx.read().unwrap();
        assert_eq!((frame.len(), frame[0]), (len, round as u8));
        frame.release();
        // Full and empty are errors without allocation too.
        while tx.try_send(&payload[..len]).is_ok() {}
        assert_eq!(tx.try_send(&payload), Err(GrantError::Full));
        assert!(matches!(tx.grant(len), Err(GrantError::Full)));
        while rx.read().is_ok() {}
        assert_eq!(rx.try_recv(buf), Err(PopError::Empty));
        assert!(matches!(rx.read(), Err(PopError::Empty)));
    }
}

#[test]
fn the_byte_ring_hot_path_does_not_allocate() {
    let opts = Options::new().capacity(512).max_frame(64);
    let mut buf = Vec::with_capacity(64);
    let (mut tx, mut rx) = bytes::heap_pair(&opts).unwrap();
    assert_eq!(
        allocations_during(|| exercise_bytes(&mut tx, &mut rx, &mut buf)),
        0,
        "heap storage"
    );
    #[cfg(not(miri))]
    {
        let (mut tx, mut rx) = bytes::pair(&opts).unwrap();
        assert_eq!(
            allocations_during(|| exercise_bytes(&mut tx, &mut rx, &mut buf)),
            0,
            "memfd storage"
        );
    }
}

#[test]
fn the_mpmc_hot_path_does_not_allocate() {
    let opts = Options::new().capacity(64).participants(4);
    let (mut tx, mut rx) = mpmc::heap_pair::<u64>(&opts).unwrap();
    assert_eq!(
        allocations_during(|| exercise_mpmc(&mut tx, &mut rx)),
        0,
        "heap storage"
    );
    #[cfg(not(miri))]
    {
        let (mut tx, mut rx) = mpmc::pair::<u64>(&opts).unwrap();
        assert_eq!(
            allocations_during(|| exercise_mpmc(&mut tx, &mut rx)),
            0,
            "memfd storage"
        );
    }
}

#[test]
fn the_hot_path_does_not_allocate() {
    let (mut tx, mut rx) = spsc::heap_pair::<u64>(&Options::new().capacity(64)).unwrap();
    assert_eq!(
        allocations_during(|| exercise(&mut tx, &mut rx)),
        0,
        "heap storage"
    );
    #[cfg(not(miri))]
    {
        let (mut tx, mut rx) = spsc::pair::<u64>(&Options::new().capacity(64)).unwrap();
        assert_eq!(
            allocations_during(|| exercise(&mut tx, &mut rx)),
            0,
            "memfd storage"
        );
    }
    // The counter works: a Vec allocates.
    assert_eq!(
        allocations_during(|| drop(std::hint::black_box(vec![1u8; 10]))),
        1
    );
}
