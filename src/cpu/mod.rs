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
//! everything element-wise runs as loops over contiguous slices. The passes are written once over [`Buffers`],
//! generic in their storage: a [`Workspace`] holds ndarray arrays (for callers that want
//! to read them; each access checks the layout), and [`CpuEngine`] trains on plain
//! vectors, so a step of the seed's 2-2-1 network spends its time on arithmetic rather than
//! on layout checks. Online training (batch 1, no dropout) takes an online step
//! (`online_step`) with the same arithmetic. All buffers are sized once per batch size, so
//! a training step allocates nothing after the first one of a given batch size
//! (`tests/alloc.rs` and `tests/alloc_pool.rs` count). Large products and large parameter
//! updates use a pool of threads ([`threads`]), with the same bits for any count.

mod arith;
pub mod gemm;
mod kernels;
mod pool;
pub mod threads;

pub use kernels::{uses_loops, LOOPS_MAX_MIN_DIM, LOOPS_MAX_WORK};

use crate::engine::{check_order, check_trace, BackendInfo, BackendKind, Engine, LayerTrace, StepTrace};
use crate::error::Result;
use crate::model::{Activation, Dataset, Dropout, Hyper, Layer, Network, OptimState, Optimizer, Real, StepValues};
use arith::{Fma, MulAdd, Separate};
use kernels::{row, row_mut};
use ndarray::{Array1, Array2};

/// Storage of a matrix or vector that the passes read and write as one contiguous,
/// row-major slice.
pub trait Flat {
    /// The element type.
    type Elem;
    /// The elements, row-major.
    fn flat(&self) -> &[Self::Elem];
    /// The elements, row-major, mutable.
    fn flat_mut(&mut self) -> &mut [Self::Elem];
    /// `rows · cols` zeros (a vector takes `rows` = 1).
    fn zeros(rows: usize, cols: usize) -> Self;
}

impl<T: Real> Flat for Array2<T> {
    type Elem = T;
    fn flat(&self) -> &[T] {
        self.as_slice().expect("workspace arrays are in standard layout")
    }
    fn flat_mut(&mut self) -> &mut [T] {
        self.as_slice_mut().expect("workspace arrays are in standard layout")
    }
    fn zeros(rows: usize, cols: usize) -> Self {
        Array2::zeros((rows, cols))
    }
}

impl<T: Real> Flat for Array1<T> {
    type Elem = T;
    fn flat(&self) -> &[T] {
        self.as_slice().expect("workspace arrays are in standard layout")
    }
    fn flat_mut(&mut self) -> &mut [T] {
        self.as_slice_mut().expect("workspace arrays are in standard layout")
    }
    fn zeros(rows: usize, cols: usize) -> Self {
        Array1::zeros(rows * cols)
    }
}

impl<T: Real> Flat for Vec<T> {
    type Elem = T;
    fn flat(&self) -> &[T] {
        self
    }
    fn flat_mut(&mut self) -> &mut [T] {
        self
    }
    fn zeros(rows: usize, cols: usize) -> Self {
        vec![T::zero(); rows * cols]
    }
}

/// Per-layer buffers for one batch size: activations, pre-activations, deltas, gradients,
/// each stored as an `M` (matrices) or a `V` (vectors), row-major.
#[derive(Clone, Debug)]
pub struct Buffers<M, V> {
    /// a_0: the batch's inputs, (B, n_inputs).
    pub input: M,
    /// y: the batch's targets, (B, n_outputs).
    pub target: M,
    /// z_l per layer, (B, fan_out).
    pub z: Vec<M>,
    /// a_l per layer, (B, fan_out).
    pub a: Vec<M>,
    /// δ_l per layer, (B, fan_out).
    pub delta: Vec<M>,
    /// ∂E/∂W_l per layer, (fan_out, fan_in).
    pub grad_w: Vec<M>,
    /// ∂E/∂b_l per layer, (fan_out) (kept for layers without bias, but not computed there).
    pub grad_b: Vec<V>,
    /// The dropout masks and dropped inputs of the current step; `None` without dropout.
    pub dropout: Option<DropoutBuffers<M>>,
    batch: usize,
}

/// [`Buffers`] of ndarray arrays, for callers that read them (explanations, metrics,
/// tests).
pub type Workspace<T> = Buffers<Array2<T>, Array1<T>>;

/// [`Buffers`] of cache-line-aligned vectors: what [`CpuEngine`] trains on.
type VecBuffers<T> = Buffers<Aligned<T>, Aligned<T>>;

/// A zero-initialised vector whose first element starts on a 64-byte cache line. The
/// packed product cuts a row-major output into bands of columns for its threads; where the
/// output starts mid-line, the line at each band's edge in every row is written by two
/// threads and bounces between their cores. Measured: the product 128×10 · 10×800 (the
/// hidden delta of 784-800-10 at batch 128) on two threads took 23 µs into a buffer 16
/// bytes past a line and 9 µs into an aligned one; in MNIST training that product and its
/// f' went from 59–65 to 42–48 µs a step on one and two threads. Rows whose length is a
/// multiple of 16 f32 (8 f64) then all start on a line too.
#[derive(Debug)]
struct Aligned<T> {
    store: Vec<T>,
    start: usize,
    len: usize,
}

impl<T: Real> Aligned<T> {
    /// `len` zeros, aligned.
    fn zeroed(len: usize) -> Self {
        const LINE: usize = 64;
        let pad = LINE / std::mem::size_of::<T>();
        let store = vec![T::zero(); len + pad];
        let start = store.as_ptr().align_offset(LINE).min(pad);
        Aligned { store, start, len }
    }
}

impl<T: Real> Clone for Aligned<T> {
    /// A copy in an allocation of its own, aligned again.
    fn clone(&self) -> Self {
        let mut c = Aligned::zeroed(self.len);
        c.flat_mut().copy_from_slice(self.flat());
        c
    }
}

impl<T: Real> PartialEq for Aligned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.flat() == other.flat()
    }
}

impl<T> std::ops::Deref for Aligned<T> {
    type Target = [T];
    #[inline(always)]
    fn deref(&self) -> &[T] {
        // SAFETY: `zeroed` made `store` `start + len` long, and neither changes after.
        unsafe { self.store.get_unchecked(self.start..self.start + self.len) }
    }
}

impl<T> std::ops::DerefMut for Aligned<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`.
        unsafe { self.store.get_unchecked_mut(self.start..self.start + self.len) }
    }
}

impl<T: Real> Flat for Aligned<T> {
    type Elem = T;
    #[inline(always)]
    fn flat(&self) -> &[T] {
        self
    }
    #[inline(always)]
    fn flat_mut(&mut self) -> &mut [T] {
        self
    }
    fn zeros(rows: usize, cols: usize) -> Self {
        Aligned::zeroed(rows * cols)
    }
}

/// Per layer l under dropout: the mask m_l on the layer's input (0 or 1/(1 − p)) and the
/// dropped input ã_{l−1} = m_l ⊙ a_{l−1} the layer reads instead of a_{l−1}, (B, fan_in).
#[derive(Clone, Debug, PartialEq)]
pub struct DropoutBuffers<M> {
    /// m_l per layer.
    pub masks: Vec<M>,
    /// ã_{l−1} per layer.
    pub dropped: Vec<M>,
}

impl<T: Real, M: Flat<Elem = T>, V: Flat<Elem = T>> Buffers<M, V> {
    /// Buffers for batches of `batch` samples through `net`.
    pub fn new(net: &Network<T>, batch: usize) -> Self {
        let layers = net.layers();
        let rows = |l: usize| M::zeros(batch, layers[l].fan_out());
        Buffers {
            input: M::zeros(batch, net.inputs()),
            target: M::zeros(batch, net.outputs()),
            z: (0..layers.len()).map(rows).collect(),
            a: (0..layers.len()).map(rows).collect(),
            delta: (0..layers.len()).map(rows).collect(),
            grad_w: layers.iter().map(|l| M::zeros(l.fan_out(), l.fan_in())).collect(),
            grad_b: layers.iter().map(|l| V::zeros(1, l.fan_out())).collect(),
            dropout: None,
            batch,
        }
    }

    /// Draws the dropout masks of training step `step` (see model::Dropout), or switches
    /// dropout off with `None`. Call before [`forward`]; the masks stay for [`backward`].
    /// The buffers are allocated at the first call with dropout and reused after.
    pub fn set_dropout(&mut self, net: &Network<T>, dropout: Option<&Dropout>, step: u32) {
        let Some(d) = dropout else {
            self.dropout = None;
            return;
        };
        let batch = self.batch;
        let buffers = self.dropout.get_or_insert_with(|| DropoutBuffers {
            masks: net.layers().iter().map(|l| M::zeros(batch, l.fan_in())).collect(),
            dropped: net.layers().iter().map(|l| M::zeros(batch, l.fan_in())).collect(),
        });
        for ((l, mask), layer) in buffers.masks.iter_mut().enumerate().zip(net.layers()) {
            // Dropout::keep, with the layer's threshold ⌊p·2³²⌋ and scale computed once.
            let p = d.p(l);
            let (threshold, scale) = (Dropout::threshold(p), T::of(1.0 / (1.0 - p)));
            let (mask, cols) = (mask.flat_mut(), layer.fan_in());
            for r in 0..batch {
                for (j, m) in row_mut(mask, r, cols).iter_mut().enumerate() {
                    *m = if d.hash(step, l as u32, r as u32, j as u32) >= threshold {
                        scale
                    } else {
                        T::zero()
                    };
                }
            }
        }
    }

    /// The batch size these buffers hold.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Copies the samples `idx` of `data` into `input` and `target`.
    pub fn gather(&mut self, data: &Dataset<T>, idx: &[u32]) {
        let x = data.inputs().as_slice().expect("datasets are in standard layout");
        let y = data.targets().as_slice().expect("datasets are in standard layout");
        self.gather_rows(x, y, data.inputs().ncols(), data.targets().ncols(), idx);
    }

    /// [`Self::gather`] from a dataset's inputs `x` (rows of `n_in`) and targets `y`
    /// (rows of `n_out`), row-major. A large batch is copied in contiguous runs of rows on
    /// the pool's threads: the rows come from anywhere in the dataset (cold in the cache),
    /// so the copy waits on memory, and two threads wait on twice as many rows at once.
    #[inline(always)]
    fn gather_rows(&mut self, x: &[T], y: &[T], n_in: usize, n_out: usize, idx: &[u32]) {
        let (input, target) = (self.input.flat_mut(), self.target.flat_mut());
        let parts = if idx.len() * (n_in + n_out) >= PARALLEL_GATHER_MIN {
            threads::threads().min(idx.len())
        } else {
            1
        };
        if parts <= 1 {
            return gather_part(input, target, (x, y, n_in, n_out), idx);
        }
        let chunk = idx.len().div_ceil(parts);
        let (input, target) = (pool::Disjoint::new(input), pool::Disjoint::new(target));
        pool::run(parts, &|p| {
            let r = p * chunk..((p + 1) * chunk).min(idx.len());
            // SAFETY: part p writes only the rows `r` of the batch, disjoint from the
            // other parts' rows.
            let (input, target) = unsafe {
                (
                    input.part(r.start * n_in..r.end * n_in),
                    target.part(r.start * n_out..r.end * n_out),
                )
            };
            gather_part(input, target, (x, y, n_in, n_out), &idx[r]);
        });
    }
}

/// Batches of at least this many values (inputs and targets) are gathered on the pool's
/// threads; below it the copy takes a few microseconds, about what handing it over costs.
const PARALLEL_GATHER_MIN: usize = 1 << 15;

/// Copies the rows `idx` of a dataset's inputs and targets into consecutive rows of
/// `input` and `target`, fetching the next sample's input row into the cache while it
/// copies this one (a row from anywhere in a large dataset is usually in memory, not in
/// the cache, and the copy would otherwise wait for each row in turn).
#[inline(always)]
fn gather_part<T: Copy>(input: &mut [T], target: &mut [T], (x, y, n_in, n_out): Rows<'_, T>, idx: &[u32]) {
    for (r, &i) in idx.iter().enumerate() {
        if let Some(&next) = idx.get(r + 1) {
            prefetch(row(x, next as usize, n_in));
        }
        let i = i as usize;
        copy(row_mut(input, r, n_in), row(x, i, n_in));
        copy(row_mut(target, r, n_out), row(y, i, n_out));
    }
}

/// Asks the CPU to bring `s` into the cache (a hint: nothing is read, nothing can fault).
#[inline(always)]
fn prefetch<T>(s: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        const LINE: usize = 64;
        let (start, bytes) = (s.as_ptr() as *const i8, std::mem::size_of_val(s));
        for offset in (0..bytes).step_by(LINE) {
            // SAFETY: `offset` is inside `s`; a prefetch reads nothing and cannot fault.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.add(offset)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = s;
}

/// `dst` ← `src` (same length). Element by element for short rows, where a call to
/// `memcpy` costs more than the copy.
#[inline(always)]
fn copy<T: Copy>(dst: &mut [T], src: &[T]) {
    if dst.len() <= 4 {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = s;
        }
    } else {
        dst.copy_from_slice(src);
    }
}

/// Forward pass: fills `ws.z` and `ws.a` from `ws.input` (and, under dropout, the
/// dropped inputs ã_{l−1} = m_l ⊙ a_{l−1} each layer reads instead of a_{l−1}).
pub fn forward<T: Real, M: Flat<Elem = T>, V: Flat<Elem = T>>(net: &Network<T>, ws: &mut Buffers<M, V>) {
    #[cfg(target_arch = "x86_64")]
    if arith::has_fma() {
        // SAFETY: `has_fma` found FMA and AVX2 on this CPU.
        return unsafe { avx2_fma::forward(net, ws) };
    }
    if arith::has_fma() {
        forward_with::<Fma, T, M, V>(net, ws);
    } else {
        forward_with::<Separate, T, M, V>(net, ws);
    }
}

/// [`forward`] with the products' rounding `R`.
#[inline(always)]
fn forward_with<R: MulAdd, T: Real, M: Flat<Elem = T>, V: Flat<Elem = T>>(net: &Network<T>, ws: &mut Buffers<M, V>) {
    let rows = ws.batch;
    for (l, layer) in net.layers().iter().enumerate() {
        let (before, this) = ws.a.split_at_mut(l);
        let mut a_prev = if l == 0 { &ws.input } else { &before[l - 1] };
        if let Some(DropoutBuffers { masks, dropped }) = &mut ws.dropout {
            // ã = m ⊙ a
            let (d, m) = (dropped[l].flat_mut(), masks[l].flat());
            for ((d, &m), &a) in d.iter_mut().zip(m).zip(a_prev.flat()) {
                *d = m * a;
            }
            a_prev = &dropped[l];
        }
        layer_forward::<R, T>(layer, rows, a_prev.flat(), ws.z[l].flat_mut(), this[0].flat_mut());
    }
}

/// One layer's forward pass: Z = A_prev Wᵀ (+ b on every row), then A = f(Z) row by row
/// (softmax normalises a row). With an element-wise f and a packed product, the bias and
/// f are applied to each block of Z as it leaves the product (`gemm::gemm`'s `then`): on
/// the pool's threads, while the block is in the cache, the same operations in the same
/// order.
#[inline(always)]
fn layer_forward<R: MulAdd, T: Real>(layer: &Layer<T>, rows: usize, a_prev: &[T], z: &mut [T], a: &mut [T]) {
    let (n_out, n_in) = layer.weights.dim();
    let w = layer
        .weights
        .as_slice()
        .expect("networks are stored in standard layout");
    let bias = layer.bias.as_ref().map(|b| b.as_slice().expect("standard layout"));
    let act = layer.activation;
    if act != Activation::Softmax {
        let out = pool::Disjoint::new(a);
        let then = |i: usize, j: usize, z: &mut [T]| {
            if let Some(b) = bias {
                for (zi, &bi) in z.iter_mut().zip(&b[j..]) {
                    *zi += bi;
                }
            }
            // SAFETY: `gemm` passes each element of Z once, on one thread, so the
            // same places of A are this call's alone.
            act.apply_row(z, unsafe { out.part(i * n_out + j..i * n_out + j + z.len()) });
        };
        if kernels::forward_product_then(a_prev, w, z, rows, n_in, n_out, &then) {
            return;
        }
    }
    kernels::forward_product::<R, T>(a_prev, w, bias, z, rows, n_in, n_out);
    match layer.activation {
        Activation::Softmax => {
            for r in 0..rows {
                layer.activation.apply_row(row(z, r, n_out), row_mut(a, r, n_out));
            }
        }
        // element-wise: the whole batch as one row
        act => act.apply_row(&z[..rows * n_out], &mut a[..rows * n_out]),
    }
}

/// The batch's mean loss, from `ws.z`, `ws.a` and `ws.target` after [`forward`].
#[inline]
pub fn loss<T: Real, M: Flat<Elem = T>, V: Flat<Elem = T>>(net: &Network<T>, ws: &Buffers<M, V>) -> T {
    let last = net.layers().len() - 1;
    let (n, batch) = (net.outputs(), ws.batch);
    let (z, a, y) = (ws.z[last].flat(), ws.a[last].flat(), ws.target.flat());
    let out_act = net.layers()[last].activation;
    if batch == 1 {
        // the sum of one term, divided by 1: both exact
        return net.loss().value(out_act, &z[..n], &a[..n], &y[..n]);
    }
    let total: T = (0..batch)
        .map(|r| net.loss().value(out_act, row(z, r, n), row(a, r, n), row(y, r, n)))
        .sum();
    total / T::of(batch as f64)
}

/// Backward pass after [`forward`]: fills `ws.delta`, `ws.grad_w` and `ws.grad_b` (the
/// latter for layers with a bias).
pub fn backward<T: Real, M: Flat<Elem = T>, V: Flat<Elem = T>>(net: &Network<T>, ws: &mut Buffers<M, V>) {
    #[cfg(target_arch = "x86_64")]
    if arith::has_fma() {
        // SAFETY: `has_fma` found FMA and AVX2 on this CPU.
        return unsafe { avx2_fma::backward(net, ws) };
    }
    if arith::has_fma() {
        backward_with::<Fma, T, M, V>(net, ws);
    } else {
        backward_with::<Separate, T, M, V>(net, ws);
    }
}

/// [`backward`] with the products' rounding `R`.
#[inline(always)]
fn backward_with<R: MulAdd, T: Real, M: Flat<Elem = T>, V: Flat<Elem = T>>(net: &Network<T>, ws: &mut Buffers<M, V>) {
    deltas_with::<R, T, M, V>(net, ws);
    // 1/B: exactly 1 for batch 1, where the gradient loops then skip the product
    let inv_b = T::one() / T::of(ws.batch as f64);
    for (l, layer) in net.layers().iter().enumerate() {
        let (n_out, n_in) = layer.weights.dim();
        let a_prev = layer_input(&ws.input, &ws.a, &ws.dropout, l);
        // ∂E/∂W_l = Δ_lᵀ A_{l−1} / B  (the dropped input under dropout)
        kernels::gradient_product::<R, T>(
            inv_b,
            ws.delta[l].flat(),
            a_prev.flat(),
            ws.grad_w[l].flat_mut(),
            ws.batch,
            n_out,
            n_in,
        );
        if layer.bias.is_some() {
            bias_gradient(inv_b, ws.delta[l].flat(), ws.grad_b[l].flat_mut(), ws.batch);
        }
    }
}

/// The input A_{l−1} that layer `l` read in the forward pass: the batch's inputs for the
/// first layer, the previous layer's activations after it, or their dropped form ã_{l−1}
/// under dropout.
#[inline(always)]
fn layer_input<'a, M>(input: &'a M, a: &'a [M], dropout: &'a Option<DropoutBuffers<M>>, l: usize) -> &'a M {
    match dropout {
        Some(DropoutBuffers { dropped, .. }) => &dropped[l],
        None if l == 0 => input,
        None => &a[l - 1],
    }
}

/// ∂E/∂b_l = 1ᵀ Δ_l / B: `inv_b` (1/B) times the column sums of `delta` (rows of
/// `gb.len()` values), summed in row order. On one thread: summing bands of columns on two
/// threads took 23 µs instead of 13 on 784-800-10 (each thread reading Δ rows the other's
/// hidden-delta product had just written).
#[inline(always)]
fn bias_gradient<T: Real>(inv_b: T, delta: &[T], gb: &mut [T], rows: usize) {
    let n_out = gb.len();
    gb.fill(T::zero());
    for r in 0..rows {
        for (g, &d) in gb.iter_mut().zip(row(delta, r, n_out)) {
            *g += d;
        }
    }
    for g in gb.iter_mut() {
        *g = *g * inv_b;
    }
}

/// The deltas of [`backward`]: Δ_L from the loss, then Δ_l for every hidden layer.
#[inline(always)]
fn deltas_with<R: MulAdd, T: Real, M: Flat<Elem = T>, V: Flat<Elem = T>>(net: &Network<T>, ws: &mut Buffers<M, V>) {
    let layers = net.layers();
    let last = layers.len() - 1;
    let rows = ws.batch;
    let n = layers[last].fan_out();
    // Δ_L = ∂E/∂Z_L, row by row (model::Loss::output_delta has the fused forms)
    let (d, a, y) = (ws.delta[last].flat_mut(), ws.a[last].flat(), ws.target.flat());
    let out_act = layers[last].activation;
    for r in 0..rows {
        net.loss()
            .output_delta(out_act, row(a, r, n), row(y, r, n), row_mut(d, r, n));
    }
    for l in (0..last).rev() {
        let (lower, upper) = ws.delta.split_at_mut(l + 1);
        let w = &layers[l + 1].weights;
        let (m, n) = w.dim();
        let d = lower[l].flat_mut();
        // Δ_l = Δ_{l+1} W_{l+1}: (B, fan_out_{l+1}) · (fan_out_{l+1}, fan_out_l)
        let w = w.as_slice().expect("networks are stored in standard layout");
        // ⊙ m_{l+1} under dropout (ã_l = m_{l+1} ⊙ a_l, so ∂ã_l/∂a_l = m_{l+1}), then
        // ⊙ f_l'(z_l), computed from a_l: on each block as it leaves a packed product
        let mask = ws
            .dropout
            .as_ref()
            .map(|DropoutBuffers { masks, .. }| masks[l + 1].flat());
        let (act, a_l) = (layers[l].activation, ws.a[l].flat());
        let then = |i: usize, j: usize, d: &mut [T]| {
            let r = i * n + j..i * n + j + d.len();
            act.scale_by_derivative(d, mask.map(|m| &m[r.clone()]), &a_l[r]);
        };
        if !kernels::delta_product_then(upper[0].flat(), w, d, rows, m, n, &then) {
            kernels::delta_product::<R, T>(upper[0].flat(), w, d, rows, m, n);
            act.scale_by_derivative(d, mask, a_l);
        }
    }
}

/// [`backward_with`] and [`optimizer_update`] in one pass, with the same bits: a layer's
/// weights are updated as the blocks of their gradient come out of the packed product
/// (`gemm::gemm`'s `then`), on the thread that computed each block and while it is still
/// in that core's cache, instead of in a second pass that reads the whole gradient back
/// from memory. The layers go from the output down, each bias before its weights, so that
/// the small products and the bias sums come right after the deltas, whose Δ and A they
/// read while those are still in the cache (before the first layer's large gradient
/// streams its weights and optimizer state through it): on 784-800-10 this took the
/// output layer's gradient from 43 to 31 µs and the hidden bias from 14 to 5 µs a step.
/// The order changes nothing: every delta, computed first from the old weights, is
/// already in `ws`, and a gradient reads only deltas and activations. Small products (the
/// loops) compute the gradient whole and update after it, as [`optimizer_update`] does.
#[inline(always)]
fn backward_update_with<R: MulAdd, T: Real>(
    net: &mut Network<T>,
    ws: &mut VecBuffers<T>,
    hyper: &Hyper,
    state: &mut OptimState<T>,
    k: &StepValues<T>,
) {
    deltas_with::<R, T, _, _>(net, ws);
    let (w_rule, b_rule) = Rule::pair(hyper, k);
    let (rows, inv_b) = (ws.batch, T::one() / T::of(ws.batch as f64));
    for (l, layer) in net.layers_mut().iter_mut().enumerate().rev() {
        let (n_out, n_in) = layer.weights.dim();
        let w = layer
            .weights
            .as_slice_mut()
            .expect("networks are stored in standard layout");
        let (delta, a_prev) = (ws.delta[l].flat(), layer_input(&ws.input, &ws.a, &ws.dropout, l).flat());
        let grad_w = ws.grad_w[l].flat_mut();
        let [s0, s1] = &mut state.weights[l];
        let (s0, s1) = (s0.flat_mut(), s1.flat_mut());
        if let Some(b) = &mut layer.bias {
            let gb = ws.grad_b[l].flat_mut();
            bias_gradient(inv_b, delta, gb, rows);
            let b = b.as_slice_mut().expect("standard layout");
            update_params(b_rule, b, gb, &mut state.bias[l]);
        }
        let updated = {
            let (p, s0, s1) = (pool::Disjoint::new(w), pool::Disjoint::new(s0), pool::Disjoint::new(s1));
            // ∂E/∂W_l = Δ_lᵀ A_{l−1} / B; then, on the block G[i, j..], the rule
            let then = |i: usize, j: usize, g: &mut [T]| {
                let r = i * n_in + j..i * n_in + j + g.len();
                // SAFETY: `gemm` passes each element of G once, on one thread, so
                // the same places of W and of its state are this call's alone.
                let (p, s0, s1) = unsafe { (p.part(r.clone()), s0.part(r.clone()), s1.part(r)) };
                update_chunk(w_rule, p, g, s0, s1);
            };
            kernels::gradient_product_then(inv_b, delta, a_prev, grad_w, rows, n_out, n_in, &then)
        };
        if !updated {
            kernels::gradient_product::<R, T>(inv_b, delta, a_prev, grad_w, rows, n_out, n_in);
            update_params(w_rule, w, grad_w, &mut state.weights[l]);
        }
        if let Some(c) = hyper.max_norm {
            max_norm(w, n_out, n_in, T::of(c));
        }
    }
    state.step += 1;
}

/// Gradient-descent update W −= η ∂E/∂W, b −= η ∂E/∂b from the gradients in `ws`.
pub fn sgd_update<T: Real, M: Flat<Elem = T>, V: Flat<Elem = T>>(net: &mut Network<T>, ws: &Buffers<M, V>, lr: T) {
    for (l, layer) in net.layers_mut().iter_mut().enumerate() {
        let w = layer
            .weights
            .as_slice_mut()
            .expect("networks are stored in standard layout");
        for (w, &g) in w.iter_mut().zip(ws.grad_w[l].flat()) {
            *w += -lr * g;
        }
        if let Some(b) = &mut layer.bias {
            let b = b.as_slice_mut().expect("standard layout");
            for (b, &g) in b.iter_mut().zip(ws.grad_b[l].flat()) {
                *b += -lr * g;
            }
        }
    }
}

/// One update by `hyper`'s rule (model::optim) from the gradients in `ws`, with the step's
/// values `k`: coupled L2 decay g ← g + λ W on weights, the optimizer's per-parameter rule,
/// then max-norm ‖W[i, :]‖₂ ≤ c per neuron. Advances `state.step`.
#[inline(always)]
pub fn optimizer_update<T: Real, M: Flat<Elem = T>, V: Flat<Elem = T>>(
    net: &mut Network<T>,
    ws: &Buffers<M, V>,
    hyper: &Hyper,
    state: &mut OptimState<T>,
    k: &StepValues<T>,
) {
    let (w_rule, b_rule) = Rule::pair(hyper, k);
    for (l, layer) in net.layers_mut().iter_mut().enumerate() {
        let (n_out, n_in) = layer.weights.dim();
        let w = layer
            .weights
            .as_slice_mut()
            .expect("networks are stored in standard layout");
        update_params(w_rule, w, ws.grad_w[l].flat(), &mut state.weights[l]);
        if let Some(b) = &mut layer.bias {
            let b = b.as_slice_mut().expect("standard layout");
            update_params(b_rule, b, ws.grad_b[l].flat(), &mut state.bias[l]);
        }
        if let Some(c) = hyper.max_norm {
            max_norm(w, n_out, n_in, T::of(c));
        }
    }
    state.step += 1;
}

/// How one parameter array is updated in a step: the optimizer's rule with the step's
/// values `k`, the coupled L2 decay λ (weights) or none (biases), and whether the rule's
/// decoupled decay applies (weights only).
#[derive(Clone, Copy)]
struct Rule<'a, T> {
    opt: Optimizer,
    lambda: Option<T>,
    k: &'a StepValues<T>,
    decay_p: bool,
}

impl<'a, T: Real> Rule<'a, T> {
    /// The rules of `hyper` for weights and for biases, with the step's values `k`.
    fn pair(hyper: &Hyper, k: &'a StepValues<T>) -> (Self, Self) {
        let weights = Rule {
            opt: hyper.optimizer,
            lambda: Some(T::of(hyper.weight_decay)),
            k,
            decay_p: true,
        };
        (
            weights,
            Rule {
                lambda: None,
                decay_p: false,
                ..weights
            },
        )
    }
}

/// `rule` on the parameters `p` with gradients `g` and state slots `slots`.
#[inline(always)]
fn update_params<T: Real, S: Flat<Elem = T>>(rule: Rule<'_, T>, p: &mut [T], g: &[T], slots: &mut [S; 2]) {
    let [s0, s1] = slots;
    let (s0, s1) = (s0.flat_mut(), s1.flat_mut());
    if p.len() < PARALLEL_UPDATE_MIN {
        update_chunk(rule, p, g, s0, s1);
    } else {
        in_parallel(p, s0, s1, &|p, s0, s1, r| update_chunk(rule, p, &g[r], s0, s1));
    }
}

/// [`update_params`] on one contiguous chunk of the parameters, their gradients and their
/// state slots (all as long).
#[inline(always)]
fn update_chunk<T: Real>(rule: Rule<'_, T>, p: &mut [T], g: &[T], s0: &mut [T], s1: &mut [T]) {
    if let Optimizer::Sgd = rule.opt {
        // Plain SGD keeps no state: its slots are neither read nor written. Its rule,
        // p ← p − η g (Optimizer::apply), is written out so that it is inlined in f32 too.
        let lr = rule.k.lr;
        for (p, &g) in p.iter_mut().zip(g) {
            // ∂(E + ½λ‖W‖²)/∂W = ∂E/∂W + λ W
            let g = match rule.lambda {
                Some(lambda) => g + lambda * *p,
                None => g,
            };
            *p -= lr * g;
        }
    } else {
        update_with_state(rule, p, g, s0, s1);
    }
}

/// Parameter arrays at least this long are updated in parallel, in contiguous chunks on
/// the pool's threads (an element-wise rule: the same bits whatever the split). Below it
/// the work is a few microseconds, less than handing it over.
const PARALLEL_UPDATE_MIN: usize = 1 << 15;

/// Runs `f(p, s0, s1, range)` on [`threads::threads`] contiguous chunks of `p` (and of the
/// state slots, which are as long), `range` being the chunk's place in `p`.
#[allow(clippy::type_complexity)]
fn in_parallel<T: Real>(
    p: &mut [T],
    s0: &mut [T],
    s1: &mut [T],
    f: &(dyn Fn(&mut [T], &mut [T], &mut [T], std::ops::Range<usize>) + Sync),
) {
    let len = p.len();
    let parts = threads::threads().min(len / (PARALLEL_UPDATE_MIN / 2)).max(1);
    let chunk = len.div_ceil(parts);
    let (p, s0, s1) = (pool::Disjoint::new(p), pool::Disjoint::new(s0), pool::Disjoint::new(s1));
    pool::run(parts, &|i| {
        let r = i * chunk..((i + 1) * chunk).min(len);
        let slot = |s: pool::Disjoint<T>| {
            assert!(s.len() >= r.end, "state slots as long as the parameters");
            // SAFETY: `r` is this part's chunk, disjoint from the other parts'.
            unsafe { s.part(r.clone()) }
        };
        // SAFETY: as in `slot`.
        let p = unsafe { p.part(r.clone()) };
        f(p, slot(s0), slot(s1), r);
    });
}

/// The rules with state (all but plain SGD) for [`update_params`]: out of line, so that
/// `Optimizer::apply` is inlined here (in f32 too) without growing the training loop that
/// calls this (a larger loop body made the seed's online step slower). The loops are
/// compiled for the widest vectors the CPU has (chosen as the packed product's are,
/// `gemm::isa`): they run on the pool's threads, outside the training loop's
/// `target_feature` region, and the baseline build gives 128-bit vectors only. Each rule is
/// plain IEEE arithmetic, which vector width does not change: the same bits on every path.
#[inline(never)]
fn update_with_state<T: Real>(rule: Rule<'_, T>, p: &mut [T], g: &[T], s0: &mut [T], s1: &mut [T]) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f")]
        fn avx512<T: Real>(rule: Rule<'_, T>, p: &mut [T], g: &[T], s0: &mut [T], s1: &mut [T]) {
            update_rules(rule, p, g, s0, s1);
        }
        #[target_feature(enable = "avx2")]
        fn avx2<T: Real>(rule: Rule<'_, T>, p: &mut [T], g: &[T], s0: &mut [T], s1: &mut [T]) {
            update_rules(rule, p, g, s0, s1);
        }
        match arith::isa() {
            // SAFETY: `isa` found AVX-512F on this CPU.
            arith::Isa::Avx512 => return unsafe { avx512(rule, p, g, s0, s1) },
            // SAFETY: `isa` found AVX2 on this CPU.
            arith::Isa::Avx2 => return unsafe { avx2(rule, p, g, s0, s1) },
            arith::Isa::Portable => {}
        }
    }
    update_rules(rule, p, g, s0, s1);
}

/// [`update_with_state`]'s loops, compiled for the caller's instruction set.
#[inline(always)]
fn update_rules<T: Real>(rule: Rule<'_, T>, p: &mut [T], g: &[T], s0: &mut [T], s1: &mut [T]) {
    // A loop per rule: each arm passes an optimizer whose variant the compiler sees, so
    // that `apply`'s choice of rule folds away and the loop vectorises.
    #[inline(always)]
    fn each<T: Real>(opt: Optimizer, rule: Rule<'_, T>, p: &mut [T], g: &[T], s0: &mut [T], s1: &mut [T]) {
        for (((p, &g), s0), s1) in p.iter_mut().zip(g).zip(s0).zip(s1) {
            // ∂(E + ½λ‖W‖²)/∂W = ∂E/∂W + λ W
            let g = match rule.lambda {
                Some(lambda) => g + lambda * *p,
                None => g,
            };
            opt.apply(p, g, s0, s1, rule.k, rule.decay_p);
        }
    }
    match rule.opt {
        Optimizer::Sgd => each(Optimizer::Sgd, rule, p, g, s0, s1),
        Optimizer::Momentum { momentum } => each(Optimizer::Momentum { momentum }, rule, p, g, s0, s1),
        Optimizer::Nesterov { momentum } => each(Optimizer::Nesterov { momentum }, rule, p, g, s0, s1),
        Optimizer::Adam {
            beta1,
            beta2,
            eps,
            decoupled_decay,
        } => {
            let adam = Optimizer::Adam {
                beta1,
                beta2,
                eps,
                decoupled_decay,
            };
            each(adam, rule, p, g, s0, s1)
        }
        opt @ Optimizer::IRpropMinus { .. } => each(opt, rule, p, g, s0, s1),
    }
}

/// A dataset's inputs and targets, row-major, with their row lengths.
type Rows<'a, T> = (&'a [T], &'a [T], usize, usize);

/// The training loop of [`CpuEngine::train_into`], with the products' rounding `R`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn train_steps_with<R: MulAdd, T: Real>(
    net: &mut Network<T>,
    buf: &mut VecBuffers<T>,
    (x, y, n_in, n_out): Rows<'_, T>,
    order: &[u32],
    batch: usize,
    hyper: &Hyper,
    state: &mut OptimState<T>,
    losses: &mut Vec<T>,
) {
    // η and Adam's bias corrections change from step to step only under a schedule or
    // with Adam; otherwise the values of step 0 serve every step.
    let varies = hyper.step_values_vary();
    let mut k = hyper.step_values(state.step).cast::<T>();
    if batch == 1 && hyper.dropout.is_none() {
        for idx in order.chunks_exact(1) {
            buf.gather_rows(x, y, n_in, n_out, idx);
            if varies {
                k = hyper.step_values(state.step).cast::<T>();
            }
            losses.push(online_step::<R, T>(net, buf, hyper, state, &k));
        }
        return;
    }
    for idx in order.chunks_exact(batch) {
        buf.gather_rows(x, y, n_in, n_out, idx);
        if let Some(d) = &hyper.dropout {
            buf.set_dropout(net, Some(d), state.step as u32);
        }
        forward_with::<R, T, _, _>(net, buf);
        losses.push(loss(net, buf));
        if varies {
            k = hyper.step_values(state.step).cast::<T>();
        }
        backward_update_with::<R, T>(net, buf, hyper, state, &k);
    }
}

/// One training step on the single sample in `buf` without dropout (online learning, the
/// seed's rule): [`forward`], [`loss`], [`backward`] and [`optimizer_update`] merged layer
/// by layer. Every value is computed by the same operations in the same order as there,
/// so the results are bit for bit the same (tests/alloc.rs and the engine tests compare);
/// the step makes fewer passes: each layer's activation is applied as its outputs are
/// computed, a hidden delta takes f' as it is summed, and with plain SGD each weight's
/// gradient δ_l[i] a_{l−1}[j] is applied as it is computed instead of going through
/// `grad_w`. Updating the output layer first is safe: Δ_{l−1} reads W_l before its update.
/// Returns the step's loss.
#[inline(always)]
fn online_step<R: MulAdd, T: Real>(
    net: &mut Network<T>,
    buf: &mut VecBuffers<T>,
    hyper: &Hyper,
    state: &mut OptimState<T>,
    k: &StepValues<T>,
) -> T {
    let last = net.layers().len() - 1;
    // Forward: z = W a_prev (+ b), a = f(z)
    for (l, layer) in net.layers().iter().enumerate() {
        let (n_out, n_in) = layer.weights.dim();
        let (before, this) = buf.a.split_at_mut(l);
        let a_prev = if l == 0 {
            &buf.input[..n_in]
        } else {
            &before[l - 1][..n_in]
        };
        let w = layer
            .weights
            .as_slice()
            .expect("networks are stored in standard layout");
        let z = &mut buf.z[l][..n_out];
        kernels::matvec::<R, T>(a_prev, &w[..n_out * n_in], z);
        if let Some(b) = &layer.bias {
            for (zi, &bi) in z.iter_mut().zip(b.as_slice().expect("standard layout")) {
                *zi += bi;
            }
        }
        layer.activation.apply_row(z, &mut this[0][..n_out]);
    }
    // The loss and Δ_L = ∂E/∂z_L
    let n = net.outputs();
    let (z, a, y) = (&buf.z[last][..n], &buf.a[last][..n], &buf.target[..n]);
    let out_act = net.layers()[last].activation;
    let loss = net.loss().value(out_act, z, a, y);
    net.loss().output_delta(out_act, a, y, &mut buf.delta[last][..n]);
    // Backward and update, from the output layer down
    let opt = hyper.optimizer;
    let lambda = T::of(hyper.weight_decay);
    for l in (0..=last).rev() {
        let act_prev = (l > 0).then(|| net.layers()[l - 1].activation);
        let layer = &mut net.layers_mut()[l];
        let (n_out, n_in) = layer.weights.dim();
        let w = layer
            .weights
            .as_slice_mut()
            .expect("networks are stored in standard layout");
        let (lower, upper) = buf.delta.split_at_mut(l);
        let delta = &upper[0][..n_out];
        let a_prev = if l == 0 {
            &buf.input[..n_in]
        } else {
            &buf.a[l - 1][..n_in]
        };
        if let Some(act) = act_prev {
            // Δ_{l−1} = (Δ_l W_l) ⊙ f'_{l−1}(z_{l−1}), f' from a_{l−1}, W_l not yet updated
            let d = &mut lower[l - 1][..n_in];
            kernels::vecmat::<R, T>(delta, &w[..n_out * n_in], d);
            act.scale_by_derivative(d, None, a_prev);
        }
        // ∂E/∂W_l[i, j] = δ_l[i] a_{l−1}[j], applied as computed
        let grad = &mut buf.grad_w[l][..n_out * n_in];
        let slots = &mut state.weights[l];
        online_update::<R, T, _>(opt, &mut w[..n_out * n_in], delta, a_prev, grad, slots, lambda, k);
        if let Some(b) = &mut layer.bias {
            // ∂E/∂b_l = δ_l (as backward computes it: (0 + δ) · 1)
            let b = b.as_slice_mut().expect("standard layout");
            online_bias_update(opt, b, delta, &mut state.bias[l], k);
        }
        if let Some(c) = hyper.max_norm {
            max_norm(w, n_out, n_in, T::of(c));
        }
    }
    state.step += 1;
    loss
}

/// The weight update of [`online_step`]: `opt`'s rule on W (rows of `a.len()` values) with
/// the gradient δ[i] a[j] and coupled L2 decay λ. Plain SGD applies each gradient as it is
/// computed; the rules with state first write the gradients to `grad` (W's shape), then
/// run the general passes' update on them.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn online_update<R: MulAdd, T: Real, S: Flat<Elem = T>>(
    opt: Optimizer,
    w: &mut [T],
    delta: &[T],
    a: &[T],
    grad: &mut [T],
    slots: &mut [S; 2],
    lambda: T,
    k: &StepValues<T>,
) {
    let n_in = a.len();
    if let Optimizer::Sgd = opt {
        // Plain SGD keeps no state; its rule p ← p − η g as in update_params.
        for (wi, &dlt) in w.chunks_exact_mut(n_in).zip(delta) {
            for (p, &aj) in wi.iter_mut().zip(a) {
                // ∂(E + ½λ‖W‖²)/∂W = ∂E/∂W + λ W
                let g = kernels::outer_term::<R, T>(dlt, aj) + lambda * *p;
                *p -= k.lr * g;
            }
        }
    } else {
        // ∂E/∂W[i, j] = δ[i] a[j], as the gradient product computes it for one sample
        for (gi, &dlt) in grad.chunks_exact_mut(n_in).zip(delta) {
            for (g, &aj) in gi.iter_mut().zip(a) {
                *g = kernels::outer_term::<R, T>(dlt, aj);
            }
        }
        let [s0, s1] = slots;
        let rule = Rule {
            opt,
            lambda: Some(lambda),
            k,
            decay_p: true,
        };
        update_with_state(rule, w, grad, s0.flat_mut(), s1.flat_mut());
    }
}

/// The bias update of [`online_step`]: `opt`'s rule with the gradient δ (as `backward`
/// computes it for one sample, (0 + δ) · 1); out of line as [`update_with_state`] is.
#[inline(never)]
fn online_bias_update<T: Real>(
    opt: Optimizer,
    b: &mut [T],
    delta: &[T],
    slots: &mut [Array1<T>; 2],
    k: &StepValues<T>,
) {
    let [s0, s1] = slots;
    for (((p, &d), s0), s1) in b.iter_mut().zip(delta).zip(s0.flat_mut()).zip(s1.flat_mut()) {
        opt.apply(p, T::zero() + d, s0, s1, k, false);
    }
}

/// Max-norm: scales row i of W (rows × cols) so that ‖W[i, :]‖₂ ≤ c.
#[inline(always)]
fn max_norm<T: Real>(w: &mut [T], rows: usize, cols: usize, c: T) {
    for i in 0..rows {
        let row = row_mut(w, i, cols);
        let norm = row.iter().map(|&w| w * w).sum::<T>().sqrt();
        if norm > c {
            for w in row.iter_mut() {
                *w = *w * (c / norm);
            }
        }
    }
}

/// The passes compiled with AVX2 and FMA, for x86-64 CPUs that have both: the products'
/// multiply-adds rounded once ([`Fma`]) become single instructions (the plain x86-64 build would call the
/// C library's `fma` for each), and the element-wise loops use 256-bit vectors. The
/// arithmetic is the same as elsewhere; only the instructions differ. Call only after
/// `arith::has_fma()` returned true.
#[cfg(target_arch = "x86_64")]
mod avx2_fma {
    use super::*;

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn forward<T: Real, M: Flat<Elem = T>, V: Flat<Elem = T>>(net: &Network<T>, ws: &mut Buffers<M, V>) {
        forward_with::<Fma, T, M, V>(net, ws);
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn backward<T: Real, M: Flat<Elem = T>, V: Flat<Elem = T>>(net: &Network<T>, ws: &mut Buffers<M, V>) {
        backward_with::<Fma, T, M, V>(net, ws);
    }

    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn train_steps<T: Real>(
        net: &mut Network<T>,
        buf: &mut VecBuffers<T>,
        data: Rows<'_, T>,
        order: &[u32],
        batch: usize,
        hyper: &Hyper,
        state: &mut OptimState<T>,
        losses: &mut Vec<T>,
    ) {
        train_steps_with::<Fma, T>(net, buf, data, order, batch, hyper, state, losses);
    }
}

/// Inference: the network's outputs for every row of `x` (n, n_inputs), computed in
/// batches of `batch` rows with nothing kept but the outputs (n, n_outputs).
///
/// # Errors
/// [`crate::BpropError::Shape`] when `x` has the wrong number of columns.
pub fn predict<T: Real>(net: &Network<T>, x: ndarray::ArrayView2<'_, T>, batch: usize) -> Result<Array2<T>> {
    if x.ncols() != net.inputs() {
        return Err(crate::BpropError::shape(
            "inputs (columns = network inputs)",
            (x.nrows(), net.inputs()),
            x.dim(),
        ));
    }
    let batch = batch.max(1);
    let mut out = Array2::zeros((x.nrows(), net.outputs()));
    let mut ws = Workspace::new(net, batch.min(x.nrows().max(1)));
    for (start, rows) in (0..x.nrows()).step_by(batch).map(|s| (s, batch.min(x.nrows() - s))) {
        if ws.batch() != rows {
            ws = Workspace::new(net, rows);
        }
        ws.input.assign(&x.slice(ndarray::s![start..start + rows, ..]));
        forward(net, &mut ws);
        out.slice_mut(ndarray::s![start..start + rows, ..])
            .assign(&ws.a[ws.a.len() - 1]);
    }
    Ok(out)
}

/// The CPU path as an [`Engine`].
#[derive(Clone, Debug)]
pub struct CpuEngine<T: Real> {
    net: Network<T>,
    data: Dataset<T>,
    buf: VecBuffers<T>,
    info: BackendInfo,
    opt: Option<OptimState<T>>,
}

impl<T: Real> CpuEngine<T> {
    /// An engine training `net` on `data`.
    ///
    /// # Errors
    /// The errors of [`Dataset::check_fits`].
    pub fn new(net: Network<T>, data: Dataset<T>) -> Result<Self> {
        data.check_fits(&net)?;
        let buf = Buffers::new(&net, 1);
        let info = BackendInfo {
            kind: BackendKind::Cpu,
            name: "ndarray".into(),
            api: "ndarray".into(),
            device_type: "host".into(),
            precision: T::NAME,
        };
        Ok(CpuEngine {
            net,
            data,
            buf,
            info,
            opt: None,
        })
    }

    /// The parameters, without a copy.
    pub fn network_ref(&self) -> &Network<T> {
        &self.net
    }

    fn buffers_for(&mut self, batch: usize) {
        if self.buf.batch() != batch {
            self.buf = Buffers::new(&self.net, batch);
        }
    }

    /// [`Engine::train_with`], appending each step's loss to `losses` instead of returning
    /// a new vector. When `losses` has room for them, a call allocates nothing after the
    /// first call with the same batch size, optimizer and dropout setting, however many
    /// steps it runs (on CPUs with AVX2 and FMA; elsewhere large products go to
    /// matrixmultiply, which allocates a packing buffer per product).
    ///
    /// # Errors
    /// As [`Engine::train_with`].
    pub fn train_into(&mut self, order: &[u32], batch: usize, hyper: &Hyper, losses: &mut Vec<T>) -> Result<()> {
        check_order(order, batch, self.data.len())?;
        hyper.validate()?;
        self.buffers_for(batch);
        let state = match &mut self.opt {
            Some(s) if s.optimizer == hyper.optimizer => s,
            slot => slot.insert(OptimState::new(hyper.optimizer, &self.net)),
        };
        losses.reserve(order.len() / batch);
        if hyper.dropout.is_none() {
            self.buf.set_dropout(&self.net, None, 0);
        }
        let (x, y) = (self.data.inputs(), self.data.targets());
        let (n_in, n_out) = (x.ncols(), y.ncols());
        let x = x.as_slice().expect("datasets are in standard layout");
        let y = y.as_slice().expect("datasets are in standard layout");
        let (net, buf) = (&mut self.net, &mut self.buf);
        let data = (x, y, n_in, n_out);
        #[cfg(target_arch = "x86_64")]
        if arith::has_fma() {
            // SAFETY: `has_fma` found FMA and AVX2 on this CPU.
            unsafe { avx2_fma::train_steps(net, buf, data, order, batch, hyper, state, losses) };
            return Ok(());
        }
        if arith::has_fma() {
            train_steps_with::<Fma, T>(net, buf, data, order, batch, hyper, state, losses);
        } else {
            train_steps_with::<Separate, T>(net, buf, data, order, batch, hyper, state, losses);
        }
        Ok(())
    }
}

impl<T: Real> Engine<T> for CpuEngine<T> {
    fn info(&self) -> &BackendInfo {
        &self.info
    }

    fn train_with(&mut self, order: &[u32], batch: usize, hyper: &Hyper) -> Result<Vec<T>> {
        let mut losses = Vec::with_capacity(order.len() / batch.max(1));
        self.train_into(order, batch, hyper, &mut losses)?;
        Ok(losses)
    }

    fn optimizer_state(&mut self) -> Result<Option<OptimState<T>>> {
        Ok(self.opt.clone())
    }

    fn set_optimizer_state(&mut self, state: Option<&OptimState<T>>) -> Result<()> {
        if let Some(s) = state {
            if !s.fits(&self.net) {
                return Err(crate::BpropError::shape(
                    "optimizer state (per-layer weight shapes)",
                    self.net.sizes(),
                    s.weights.iter().map(|[w, _]| w.dim()).collect::<Vec<_>>(),
                ));
            }
        }
        // The update reads the slots as contiguous slices.
        let standard2 = |a: &Array2<T>| a.as_standard_layout().into_owned();
        let standard1 = |a: &Array1<T>| a.as_standard_layout().into_owned();
        self.opt = state.map(|s| OptimState {
            optimizer: s.optimizer,
            step: s.step,
            weights: s.weights.iter().map(|[a, b]| [standard2(a), standard2(b)]).collect(),
            bias: s.bias.iter().map(|[a, b]| [standard1(a), standard1(b)]).collect(),
        });
        Ok(())
    }

    fn network(&mut self) -> Result<Network<T>> {
        Ok(self.net.clone())
    }

    fn set_network(&mut self, net: &Network<T>) -> Result<()> {
        self.net.check_same_shape(net)?;
        self.net = net.clone();
        Ok(())
    }

    fn trace(&mut self, samples: &[u32]) -> Result<StepTrace<T>> {
        check_trace(samples, self.data.len())?;
        self.buffers_for(samples.len());
        self.buf.gather(&self.data, samples);
        self.buf.set_dropout(&self.net, None, 0);
        forward(&self.net, &mut self.buf);
        let loss = loss(&self.net, &self.buf);
        backward(&self.net, &mut self.buf);
        let buf = &self.buf;
        let matrix = |v: &Aligned<T>, cols: usize| {
            Array2::from_shape_vec((v.len() / cols, cols), v.to_vec()).expect("buffers hold whole rows")
        };
        Ok(StepTrace {
            inputs: matrix(&buf.input, self.net.inputs()),
            targets: matrix(&buf.target, self.net.outputs()),
            layers: self
                .net
                .layers()
                .iter()
                .enumerate()
                .map(|(l, layer)| LayerTrace {
                    z: matrix(&buf.z[l], layer.fan_out()),
                    a: matrix(&buf.a[l], layer.fan_out()),
                    delta: matrix(&buf.delta[l], layer.fan_out()),
                    grad_w: matrix(&buf.grad_w[l], layer.fan_in()),
                    grad_b: layer.bias.as_ref().map(|_| Array1::from(buf.grad_b[l].to_vec())),
                })
                .collect(),
            loss,
        })
    }
}
