//! How many threads the CPU path's large matrix products use.
//!
//! Products above the loops' threshold ([`crate::cpu::uses_loops`]) run in
//! matrixmultiply, which splits a product over up to 4 threads (its `threading` feature,
//! enabled through ndarray's `matrixmultiply-threading`). matrixmultiply reads the count
//! once per process, from the environment variable `MATMUL_NUM_THREADS`, when it computes
//! its first product (default: the number of physical cores), and keeps it. So the count
//! must be chosen before the CPU path's first large product: [`set_threads`] sets the
//! variable and refuses a different count once such a product has run; [`threads`] says
//! what is (or will be) used. Setting `MATMUL_NUM_THREADS` in the environment does the
//! same from outside. Everything else in a step (the loops, activations, losses, updates)
//! runs on the calling thread.
//!
//! The threads share out blocks of the output matrix (rows, or columns in steps of the
//! microkernel's width), never the terms of one sum, so every output is computed by the
//! same operations in the same order whatever the count: weights are bit-identical with
//! 1, 2 or 4 threads (`tests/threads.rs` checks 1 against 2).

use crate::error::{BpropError, Result};
use std::sync::OnceLock;

/// The most threads matrixmultiply uses, whatever `MATMUL_NUM_THREADS` says.
pub const MAX_THREADS: usize = 4;

/// The environment variable matrixmultiply reads.
pub const ENV_VAR: &str = "MATMUL_NUM_THREADS";

/// The count matrixmultiply settled on, recorded just before the CPU path's first large
/// product (when matrixmultiply reads the variable too).
static IN_USE: OnceLock<usize> = OnceLock::new();

/// The count matrixmultiply derives from the environment now: `MATMUL_NUM_THREADS` if set
/// and not empty (1 if it does not parse), else the number of physical cores; clamped to
/// 1..=[`MAX_THREADS`] (matrixmultiply 0.3's rule).
fn from_env() -> usize {
    let n = match std::env::var(ENV_VAR) {
        Ok(s) if !s.is_empty() => s.parse().unwrap_or(1),
        _ => num_cpus::get_physical(),
    };
    n.clamp(1, MAX_THREADS)
}

/// Called by the CPU path before each product it hands to matrixmultiply.
#[inline]
pub(crate) fn before_large_product() {
    IN_USE.get_or_init(from_env);
}

/// The number of threads the CPU path's large products use (or will use, if none has run
/// yet in this process).
pub fn threads() -> usize {
    IN_USE.get().copied().unwrap_or_else(from_env)
}

/// Whether the thread count is fixed: a large product has run in this process.
pub fn threads_fixed() -> bool {
    IN_USE.get().is_some()
}

/// Makes the CPU path's large products use `n` threads, by setting `MATMUL_NUM_THREADS`.
/// Call it at the start of the program, before other threads run (it changes the process
/// environment) and before the first training step or prediction on the CPU path.
///
/// # Errors
/// [`BpropError::InvalidArgument`] naming `threads` when `n` is not in 1..=4, or when a
/// large product has already run with another count (matrixmultiply keeps the count it
/// read first for the life of the process).
pub fn set_threads(n: usize) -> Result<()> {
    if !(1..=MAX_THREADS).contains(&n) {
        return Err(BpropError::InvalidArgument {
            name: "threads",
            value: n.to_string(),
            why: format!("must be in 1..={MAX_THREADS} (matrixmultiply's limit)"),
        });
    }
    match IN_USE.get() {
        Some(&used) if used == n => Ok(()),
        Some(&used) => Err(BpropError::InvalidArgument {
            name: "threads",
            value: n.to_string(),
            why: format!(
                "the CPU path already runs its matrix products on {used} thread(s) in this process; \
                 matrixmultiply reads {ENV_VAR} once, so choose the count before the first training step"
            ),
        }),
        None => {
            std::env::set_var(ENV_VAR, n.to_string());
            Ok(())
        }
    }
}
