//! Push, pop, commit and release never touch the heap: a counting global
//! allocator counts this thread's allocations around them.
#![cfg(not(shmlane_loom))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use shmlane::{Options, mpmc, spsc};

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
