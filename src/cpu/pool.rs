//! A persistent pool of worker threads for the CPU path: large matrix products (with the
//! work on their final blocks), large parameter updates, large batches' gathering.
//!
//! [`run`] splits one piece of work into `parts` numbered parts: the calling thread runs
//! part 0 and workers 1..parts run the others, and [`run`] returns when all are done. The
//! workers are started once (on the first call that needs them, and more when a later call
//! asks for more) and live for the rest of the process, so a call allocates nothing and
//! creates no thread: the job is passed as a borrowed pointer, the hand-over is two atomic
//! counters, and threads that find no work spin for [`SPIN`] before they sleep on a
//! condition variable (the products of one training step follow each other within
//! microseconds, and waking a sleeping thread takes tens of them).
//!
//! One call at a time has the pool. A call made while it is busy (another thread's, or one
//! made from inside a part) runs all its parts on the calling thread, one after another:
//! the products split their output, never the terms of a sum, so the result is the same
//! bits either way (`cpu/gemm.rs`).

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock, TryLockError};
use std::thread;
use std::time::{Duration, Instant};

/// How long an idle thread (a worker between jobs, or the caller waiting for the workers)
/// spins before it sleeps. Between the products of one training step the caller does
/// element-wise work (softmax, loss, deltas, bias sums) for tens of microseconds; a worker
/// that had gone to sleep in such a gap joined the next product late. Measured with
/// `bprop bench --thread-scaling` (784-800-10, batch 128, 2 threads): 50 µs gave
/// 1.27 ms/step (1.72–1.77× one thread), 200 µs and 1 ms 1.21–1.25 ms/step (1.77–1.84×).
/// 1 ms leaves room for larger layers' gaps; an idle pool stops spinning after it (OpenMP
/// runtimes spin for 0.2 to 200 ms).
pub const SPIN: Duration = Duration::from_micros(1000);

/// The job of the current call, with its lifetime erased: it points into the caller's
/// stack frame, which [`run`] does not leave before every worker has finished with it.
#[derive(Clone, Copy)]
struct JobPtr(*const (dyn Fn(usize) + Sync));

// SAFETY: the pointee is `Sync` and outlives every use (see `JobPtr`).
unsafe impl Send for JobPtr {}

/// What the workers read when the generation changes.
struct Posted {
    job: Option<JobPtr>,
    parts: usize,
}

struct Pool {
    /// Held for the whole of a call: one call at a time. Holds the number of workers.
    caller: Mutex<usize>,
    posted: Mutex<Posted>,
    /// Bumped (under `posted`) for each call; workers watch it.
    generation: AtomicU64,
    wake: Condvar,
    /// Parts still running on workers.
    remaining: AtomicUsize,
    done_lock: Mutex<()>,
    done: Condvar,
    /// Set when a part panicked on a worker.
    panicked: Mutex<Option<Box<dyn std::any::Any + Send>>>,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        caller: Mutex::new(0),
        posted: Mutex::new(Posted { job: None, parts: 0 }),
        generation: AtomicU64::new(0),
        wake: Condvar::new(),
        remaining: AtomicUsize::new(0),
        done_lock: Mutex::new(()),
        done: Condvar::new(),
        panicked: Mutex::new(None),
    })
}

/// A mutable slice that the parts of one [`run`] share, each part writing only a region of
/// its own (disjoint from the others'): rows or columns of a product's output, chunks of a
/// parameter array. It is `Copy`, so a job closure captures it whole.
pub(crate) struct Disjoint<T> {
    ptr: *mut T,
    len: usize,
}

impl<T> Clone for Disjoint<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Disjoint<T> {}

// SAFETY: the parts write disjoint regions (the callers' contract below), and `run`
// returns only after every part, while the slice is still borrowed by its caller.
unsafe impl<T: Send> Send for Disjoint<T> {}
unsafe impl<T: Send> Sync for Disjoint<T> {}

impl<T> Disjoint<T> {
    /// Shares `s` among the parts of one [`run`].
    pub(crate) fn new(s: &mut [T]) -> Self {
        Disjoint {
            ptr: s.as_mut_ptr(),
            len: s.len(),
        }
    }

    /// The length of the shared slice.
    pub(crate) fn len(self) -> usize {
        self.len
    }

    /// A pointer to element `offset` (at most the length).
    ///
    /// # Safety
    /// Writes through it stay inside the slice and inside this part's region.
    pub(crate) unsafe fn at(self, offset: usize) -> *mut T {
        assert!(
            offset <= self.len,
            "offset {offset} past a shared slice of {}",
            self.len
        );
        // SAFETY: within the slice (asserted).
        unsafe { self.ptr.add(offset) }
    }

    /// The elements in `range`, this part's region.
    ///
    /// # Safety
    /// No other part uses any of `range` while the result lives, and the result does not
    /// outlive the [`run`] call.
    pub(crate) unsafe fn part<'a>(self, range: std::ops::Range<usize>) -> &'a mut [T] {
        assert!(
            range.start <= range.end && range.end <= self.len,
            "part {range:?} of a shared slice of {}",
            self.len
        );
        // SAFETY: inside the slice (asserted); exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(range.start), range.len()) }
    }
}

/// Spins for up to [`SPIN`] until `ready()`; says whether it became ready.
fn spin_until(ready: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    loop {
        for _ in 0..64 {
            if ready() {
                return true;
            }
            std::hint::spin_loop();
        }
        if start.elapsed() >= SPIN {
            return ready();
        }
    }
}

/// Worker `index`'s loop; `seen` is the generation before the first call it is to take
/// part in (read by the caller that spawned it, before it posts that call).
fn worker(index: usize, pool: &'static Pool, mut seen: u64) {
    loop {
        if !spin_until(|| pool.generation.load(Ordering::Acquire) != seen) {
            let mut posted = pool.posted.lock().unwrap_or_else(|e| e.into_inner());
            while pool.generation.load(Ordering::Acquire) == seen {
                posted = pool.wake.wait(posted).unwrap_or_else(|e| e.into_inner());
            }
        }
        let (job, parts) = {
            let posted = pool.posted.lock().unwrap_or_else(|e| e.into_inner());
            seen = pool.generation.load(Ordering::Acquire);
            (posted.job, posted.parts)
        };
        let Some(job) = job else { continue };
        if index >= parts {
            continue;
        }
        // SAFETY: the caller waits in `run` until `remaining` reaches 0, which this worker
        // brings about only after its last use of `job`.
        let result = catch_unwind(AssertUnwindSafe(|| unsafe { (*job.0)(index) }));
        if let Err(payload) = result {
            *pool.panicked.lock().unwrap_or_else(|e| e.into_inner()) = Some(payload);
        }
        if pool.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            let _guard = pool.done_lock.lock().unwrap_or_else(|e| e.into_inner());
            pool.done.notify_all();
        }
    }
}

/// Every part on the calling thread, in order (the same result, see the module doc); as
/// in [`run`], all parts run even when one panics, and the first panic is raised after.
fn run_here(parts: usize, job: &(dyn Fn(usize) + Sync)) {
    let mut first_panic = None;
    for p in 0..parts {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| job(p))) {
            first_panic.get_or_insert(payload);
        }
    }
    if let Some(payload) = first_panic {
        resume_unwind(payload);
    }
}

/// Runs `job(p)` for every part p in `0..parts`, on up to `parts` threads (the caller
/// and `parts − 1` workers), and returns when all have returned. A panic in a part is
/// raised again here, after every part has finished.
pub fn run(parts: usize, job: &(dyn Fn(usize) + Sync)) {
    if parts <= 1 {
        if parts == 1 {
            job(0);
        }
        return;
    }
    let pool = pool();
    let mut workers = match pool.caller.try_lock() {
        Ok(guard) => guard,
        Err(TryLockError::Poisoned(e)) => e.into_inner(),
        Err(TryLockError::WouldBlock) => return run_here(parts, job),
    };
    while *workers < parts - 1 {
        *workers += 1;
        let index = *workers;
        let seen = pool.generation.load(Ordering::Acquire);
        let spawned = thread::Builder::new()
            .name(format!("bprop-cpu-{index}"))
            .spawn(move || worker(index, pool, seen));
        if spawned.is_err() {
            // No thread to be had: the parts run here instead.
            *workers -= 1;
            drop(workers);
            return run_here(parts, job);
        }
    }
    pool.remaining.store(parts - 1, Ordering::Release);
    {
        let mut posted = pool.posted.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY (lifetime erasure): see `JobPtr`; this function returns only after
        // `remaining` is 0.
        let ptr: *const (dyn Fn(usize) + Sync + '_) = job;
        posted.job = Some(JobPtr(unsafe {
            std::mem::transmute::<*const (dyn Fn(usize) + Sync + '_), *const (dyn Fn(usize) + Sync + 'static)>(ptr)
        }));
        posted.parts = parts;
        pool.generation.fetch_add(1, Ordering::AcqRel);
    }
    pool.wake.notify_all();
    let mine = catch_unwind(AssertUnwindSafe(|| job(0)));
    if !spin_until(|| pool.remaining.load(Ordering::Acquire) == 0) {
        let mut guard = pool.done_lock.lock().unwrap_or_else(|e| e.into_inner());
        while pool.remaining.load(Ordering::Acquire) != 0 {
            guard = pool.done.wait(guard).unwrap_or_else(|e| e.into_inner());
        }
    }
    pool.posted.lock().unwrap_or_else(|e| e.into_inner()).job = None;
    let theirs = pool.panicked.lock().unwrap_or_else(|e| e.into_inner()).take();
    drop(workers);
    if let Err(payload) = mine {
        resume_unwind(payload);
    }
    if let Some(payload) = theirs {
        resume_unwind(payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn every_part_runs_once() {
        for parts in [0, 1, 2, 3, 5] {
            let hits: Vec<AtomicUsize> = (0..parts).map(|_| AtomicUsize::new(0)).collect();
            for _ in 0..50 {
                run(parts, &|p| {
                    hits[p].fetch_add(1, Ordering::Relaxed);
                });
            }
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 50), "{parts} parts");
        }
    }

    #[test]
    fn nested_and_concurrent_calls_complete() {
        let total = AtomicUsize::new(0);
        thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..20 {
                        run(2, &|_| {
                            run(2, &|_| {
                                total.fetch_add(1, Ordering::Relaxed);
                            })
                        });
                    }
                });
            }
        });
        assert_eq!(total.load(Ordering::Relaxed), 3 * 20 * 4);
    }

    #[test]
    fn a_panicking_part_panics_the_caller_after_all_parts() {
        let ran = AtomicUsize::new(0);
        let r = catch_unwind(AssertUnwindSafe(|| {
            run(3, &|p| {
                ran.fetch_add(1, Ordering::Relaxed);
                if p == 1 {
                    panic!("part 1");
                }
            })
        }));
        assert!(r.is_err());
        assert_eq!(ran.load(Ordering::Relaxed), 3);
        // The pool still works.
        let n = AtomicUsize::new(0);
        run(3, &|_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(n.load(Ordering::Relaxed), 3);
    }
}
