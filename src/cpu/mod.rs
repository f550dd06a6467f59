//! The CPU path: forward, backward and update on row-major buffers, generic over f32 and
//! f64.
//!
//! Samples are rows. For a batch A_0 of shape (B, n_inputs), layer l computes
//!
//! ```text
//! forward   Z_l = A_{l−1} W_lᵀ + 1 b_lᵀ        (B, fan_out)
//!           A_l = f_l(Z_l)                      row-wise for softmax
//! output    Δ_L = ∂E/∂Z_L                       see model::Loss::output_delta
//! hidden    Δ_l = (Δ_{l+1} W_{l+1}) ⊙ f_l'(Z_l)   f' from A_l, see model::Activation
//! gradient  ∂E/∂W_l = Δ_lᵀ A_{l−1} / B,  ∂E/∂b_l = 1ᵀ Δ_l / B   (means over the batch)
//! update    W_l −= η ∂E/∂W_l,  b_l −= η ∂E/∂b_l    (or the optimizer's rule, model::optim)
//! ```
//!
//! **Performance.** The three matrix products of a layer run as plain slice loops when
//! they are small (batch 1 is always matrix-vector) and through the packed product
//! (`gemm.rs`) when they are large (`kernels.rs` says why, and where the threshold lies);
//! everything element-wise runs as loops over contiguous slices. The passes are written
//! once over [`Buffers`], generic in their storage: a [`Workspace`] holds ndarray arrays
//! (for callers that want to read them; each access checks the layout), and [`CpuEngine`]
//! trains on plain vectors, so a step of the seed's 2-2-1 network spends its time on arithmetic rather than
//! on layout checks. Online training (batch 1, no dropout) takes an online step
//! (`online_step`) with the same arithmetic. All buffers are sized once per batch size, so
//! a training step allocates nothing after the first one of a given batch size
//! (`tests/alloc.rs` and `tests/alloc_pool.rs` count). Large products and large parameter
//! updates use a pool of threads ([`threads`]), with the same bits for any count.
//!
//! **Layout.** `buffers.rs`: [`Flat`], [`Buffers`], [`Workspace`], the aligned vectors the
//! engine trains on, dropout masks, gathering a batch. `passes.rs`: [`forward`], [`loss`],
//! [`backward`] (deltas, gradients, bias gradients). `update.rs`: [`sgd_update`],
//! [`optimizer_update`], the update rules and loops, the backward pass merged with the
//! update, max-norm. `online.rs`: the online step. `engine.rs`: [`CpuEngine`], its
//! training loop, [`predict`]. Beneath them: `kernels.rs` (the three products per layer:
//! loops or packed), [`gemm`] (the packed product and its microkernels), `arith.rs` (the
//! instruction-set detection and the rounding contract both of those follow), `pool.rs`
//! (the worker threads) and [`threads`] (their count).

mod arith;
mod buffers;
mod engine;
pub mod gemm;
mod kernels;
mod online;
mod passes;
mod pool;
pub mod threads;
mod update;

pub use buffers::{Buffers, DropoutBuffers, Flat, Workspace};
pub use engine::{predict, CpuEngine};
pub use kernels::{uses_loops, LOOPS_MAX_MIN_DIM, LOOPS_MAX_WORK};
pub use passes::{backward, forward, loss};
pub use update::{optimizer_update, sgd_update};
