//! The buffers the passes work on: [`Flat`] storage, per-layer [`Buffers`] for one batch
//! size (a [`Workspace`] of ndarray arrays, or the engine's cache-line-aligned vectors),
//! the dropout masks, and the gathering of a batch's samples into them.

use super::kernels::{row, row_mut};
use super::{pool, threads};
use crate::model::{Dataset, Dropout, Network, Real};
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
    pub(super) batch: usize,
}

/// [`Buffers`] of ndarray arrays, for callers that read them (explanations, metrics,
/// tests).
pub type Workspace<T> = Buffers<Array2<T>, Array1<T>>;

/// [`Buffers`] of cache-line-aligned vectors: what [`CpuEngine`](super::CpuEngine) trains on.
pub(super) type VecBuffers<T> = Buffers<Aligned<T>, Aligned<T>>;

/// A zero-initialised vector whose first element starts on a 64-byte cache line. The
/// packed product cuts a row-major output into bands of columns for its threads; where the
/// output starts mid-line, the line at each band's edge in every row is written by two
/// threads and bounces between their cores. Measured: the product 128×10 · 10×800 (the
/// hidden delta of 784-800-10 at batch 128) on two threads took 23 µs into a buffer 16
/// bytes past a line and 9 µs into an aligned one; in MNIST training that product and its
/// f' went from 59–65 to 42–48 µs a step on one and two threads. Rows whose length is a
/// multiple of 16 f32 (8 f64) then all start on a line too.
#[derive(Debug)]
pub(super) struct Aligned<T> {
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
    /// dropout off with `None`. Call before [`forward`](super::forward); the masks stay
    /// for [`backward`](super::backward).
    /// The buffers are allocated at the first call with dropout and reused after.
    pub fn set_dropout(&mut self, net: &Network<T>, dropout: Option<&Dropout>, step: u32) {
        self.set_dropout_at(net, dropout, step, 0);
    }

    /// [`Self::set_dropout`] for buffers that hold rows `first_row..` of a larger batch (a
    /// shard of it): row r here draws the masks of row `first_row + r` of that batch, so
    /// that the shards of a batch together drop exactly the units the whole batch does.
    pub fn set_dropout_at(&mut self, net: &Network<T>, dropout: Option<&Dropout>, step: u32, first_row: usize) {
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
                    *m = if d.hash(step, l as u32, (first_row + r) as u32, j as u32) >= threshold {
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
    pub(super) fn gather_rows(&mut self, x: &[T], y: &[T], n_in: usize, n_out: usize, idx: &[u32]) {
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

/// A dataset's inputs and targets, row-major, with their row lengths.
pub(super) type Rows<'a, T> = (&'a [T], &'a [T], usize, usize);
