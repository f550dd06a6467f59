//! A global allocator that counts allocations (and reallocations), for the tests that
//! check that training steps allocate nothing: per thread ([`allocations_in`]), and over
//! all threads ([`all_allocations_in`], for a test binary whose one test is the only
//! thread at work); and the largest single allocation a thread makes
//! ([`largest_allocation_in`], for the readers that must refuse a lying header before
//! allocating what it declares).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts allocations made by each thread, and by all.
pub struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

static ALL: AtomicUsize = AtomicUsize::new(0);

fn count(bytes: usize) {
    ALL.fetch_add(1, Ordering::Relaxed);
    // `try_with`: allocations during thread teardown, after the counter is gone, are not counted.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
    let _ = LARGEST.try_with(|c| c.set(c.get().max(bytes)));
}

// SAFETY: every call is forwarded to the system allocator unchanged; the counters are an
// atomic and a thread-local Cell with a const initialiser, which need no allocation.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Allocations made by this thread while `f` runs.
#[allow(dead_code)]
pub fn allocations_in(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

/// Allocations made by every thread of the process while `f` runs.
#[allow(dead_code)]
pub fn all_allocations_in(f: impl FnOnce()) -> usize {
    let before = ALL.load(Ordering::SeqCst);
    f();
    ALL.load(Ordering::SeqCst) - before
}

/// The largest single allocation (or reallocation), in bytes, this thread makes while `f`
/// runs, and `f`'s result.
#[allow(dead_code)]
pub fn largest_allocation_in<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = LARGEST.with(|c| c.replace(0));
    let r = f();
    let largest = LARGEST.with(|c| c.replace(before.max(c.get())));
    (largest, r)
}
