//! How many threads the CPU path's pool (`cpu/pool.rs`) uses: for large matrix products,
//! the element-wise work done on their blocks, large parameter updates and large batches'
//! gathering.
//!
//! Products above the loops' threshold ([`crate::cpu::uses_loops`]) run in the packed
//! product (`cpu/gemm.rs`), which shares out bands of the output matrix (whole rows or
//! columns of microkernel tiles) among the threads of a persistent pool, never the terms
//! of one sum; the work the passes hand the product for each final block (the bias and an
//! element-wise activation, a hidden delta's m ⊙ f', the optimizer's update of a weight
//! gradient) runs on the thread that computed the block. Parameter arrays of 2¹⁵ values or
//! more are updated in contiguous chunks on the pool (`cpu/update.rs`), and a batch of
//! 2¹⁵ values or more is gathered there in runs of rows (`cpu/buffers.rs`). All of this
//! splits outputs, never a sum, and every output is computed by the same operations in the
//! same order whatever the count, so **weights are bit-identical with any thread count**
//! (`tests/threads.rs` checks 1 against 2, the unit tests of `cpu/kernels.rs` 1, 2 and 3).
//! Because the count never changes a result, it may be changed at any time.
//!
//! The count is [`set_threads`]'s, else the environment variable `BPROP_THREADS`'s (read
//! when first needed), else the number of physical cores. The rest of a step runs on the
//! calling thread: the small products (the loops), softmax, the loss and output deltas,
//! the bias gradients' column sums, small updates, max-norm, the dropout masks, and all of
//! the online step (batch 1).

use crate::error::{BpropError, Result};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The most threads the pool uses for one piece of work.
pub const MAX_THREADS: usize = 64;

/// The environment variable that sets the count when [`set_threads`] has not.
pub const ENV_VAR: &str = "BPROP_THREADS";

/// The count in use; 0 until it is first read or set.
static COUNT: AtomicUsize = AtomicUsize::new(0);

/// The count the environment gives: `BPROP_THREADS` if it holds a number in
/// 1..=[`MAX_THREADS`] (larger numbers are clamped), else the number of physical cores.
fn from_env() -> usize {
    match std::env::var(ENV_VAR).ok().and_then(|s| s.trim().parse::<usize>().ok()) {
        Some(n) if n >= 1 => n.min(MAX_THREADS),
        _ => num_cpus::get_physical().clamp(1, MAX_THREADS),
    }
}

/// The number of threads the CPU path's pool uses (module doc).
pub fn threads() -> usize {
    match COUNT.load(Ordering::Relaxed) {
        0 => {
            let n = from_env();
            // Another thread may have set a count meanwhile; theirs stands.
            match COUNT.compare_exchange(0, n, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => n,
                Err(set) => set,
            }
        }
        n => n,
    }
}

/// Makes the CPU path's pool use `n` threads from now on (any time: the count
/// changes speed only, never a result).
///
/// # Errors
/// [`BpropError::InvalidArgument`] naming `threads` when `n` is not in 1..=[`MAX_THREADS`].
pub fn set_threads(n: usize) -> Result<()> {
    if !(1..=MAX_THREADS).contains(&n) {
        return Err(BpropError::InvalidArgument {
            name: "threads",
            value: n.to_string(),
            why: format!("must be in 1..={MAX_THREADS}"),
        });
    }
    COUNT.store(n, Ordering::Relaxed);
    Ok(())
}
