//! The passes of a step over [`Buffers`]: [`forward`], [`loss`], [`backward`] (the
//! deltas, then the gradients and the bias gradients), each written once, generic in the
//! products' rounding ([`MulAdd`]) and chosen at run time by [`has_fma`].

use super::arith::{has_fma, Fma, MulAdd, Separate};
use super::buffers::{Buffers, DropoutBuffers, Flat};
use super::kernels::{self, row, row_mut};
use super::pool;
use crate::model::{Activation, Layer, Network, Real};

/// Forward pass: fills `ws.z` and `ws.a` from `ws.input` (and, under dropout, the
/// dropped inputs ã_{l−1} = m_l ⊙ a_{l−1} each layer reads instead of a_{l−1}).
pub fn forward<T: Real, M: Flat<Elem = T>, V: Flat<Elem = T>>(net: &Network<T>, ws: &mut Buffers<M, V>) {
    #[cfg(target_arch = "x86_64")]
    if has_fma() {
        // SAFETY: `has_fma` found FMA and AVX2 on this CPU.
        return unsafe { avx2_fma::forward(net, ws) };
    }
    if has_fma() {
        forward_with::<Fma, T, M, V>(net, ws);
    } else {
        forward_with::<Separate, T, M, V>(net, ws);
    }
}

/// [`forward`] with the products' rounding `R`.
#[inline(always)]
pub(super) fn forward_with<R: MulAdd, T: Real, M: Flat<Elem = T>, V: Flat<Elem = T>>(
    net: &Network<T>,
    ws: &mut Buffers<M, V>,
) {
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

/// Each row's loss (the terms whose mean [`loss`] returns), from `ws.z`, `ws.a` and
/// `ws.target` after [`forward`], into `out` (one per row of the batch).
pub fn sample_losses<T: Real, M: Flat<Elem = T>, V: Flat<Elem = T>>(
    net: &Network<T>,
    ws: &Buffers<M, V>,
    out: &mut [T],
) {
    let last = net.layers().len() - 1;
    let n = net.outputs();
    let (z, a, y) = (ws.z[last].flat(), ws.a[last].flat(), ws.target.flat());
    let out_act = net.layers()[last].activation;
    for (r, e) in out.iter_mut().enumerate().take(ws.batch) {
        *e = net.loss().value(out_act, row(z, r, n), row(a, r, n), row(y, r, n));
    }
}

/// Backward pass after [`forward`]: fills `ws.delta`, `ws.grad_w` and `ws.grad_b` (the
/// latter for layers with a bias).
pub fn backward<T: Real, M: Flat<Elem = T>, V: Flat<Elem = T>>(net: &Network<T>, ws: &mut Buffers<M, V>) {
    #[cfg(target_arch = "x86_64")]
    if has_fma() {
        // SAFETY: `has_fma` found FMA and AVX2 on this CPU.
        return unsafe { avx2_fma::backward(net, ws) };
    }
    if has_fma() {
        backward_with::<Fma, T, M, V>(net, ws);
    } else {
        backward_with::<Separate, T, M, V>(net, ws);
    }
}

/// [`backward`] with the products' rounding `R`.
#[inline(always)]
pub(super) fn backward_with<R: MulAdd, T: Real, M: Flat<Elem = T>, V: Flat<Elem = T>>(
    net: &Network<T>,
    ws: &mut Buffers<M, V>,
) {
    // 1/B: exactly 1 for batch 1, where the gradient loops then skip the product
    let inv_b = T::one() / T::of(ws.batch as f64);
    backward_scaled_with::<R, T, M, V>(net, ws, inv_b);
}

/// [`backward`] with the gradients' factor `inv_b` given instead of 1 / (the buffers'
/// batch): ∂E/∂W_l = inv_b · Δ_lᵀ A_{l−1}, ∂E/∂b_l = inv_b · 1ᵀ Δ_l. A shard of R rows of a
/// global batch of B passes 1/B, so that the shards' gradients sum to the batch's mean.
pub fn backward_scaled<T: Real, M: Flat<Elem = T>, V: Flat<Elem = T>>(
    net: &Network<T>,
    ws: &mut Buffers<M, V>,
    inv_b: T,
) {
    #[cfg(target_arch = "x86_64")]
    if has_fma() {
        // SAFETY: `has_fma` found FMA and AVX2 on this CPU.
        return unsafe { avx2_fma::backward_scaled(net, ws, inv_b) };
    }
    if has_fma() {
        backward_scaled_with::<Fma, T, M, V>(net, ws, inv_b);
    } else {
        backward_scaled_with::<Separate, T, M, V>(net, ws, inv_b);
    }
}

/// [`backward_scaled`] with the products' rounding `R`.
#[inline(always)]
fn backward_scaled_with<R: MulAdd, T: Real, M: Flat<Elem = T>, V: Flat<Elem = T>>(
    net: &Network<T>,
    ws: &mut Buffers<M, V>,
    inv_b: T,
) {
    deltas_with::<R, T, M, V>(net, ws);
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
pub(super) fn layer_input<'a, M>(input: &'a M, a: &'a [M], dropout: &'a Option<DropoutBuffers<M>>, l: usize) -> &'a M {
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
pub(super) fn bias_gradient<T: Real>(inv_b: T, delta: &[T], gb: &mut [T], rows: usize) {
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
pub(super) fn deltas_with<R: MulAdd, T: Real, M: Flat<Elem = T>, V: Flat<Elem = T>>(
    net: &Network<T>,
    ws: &mut Buffers<M, V>,
) {
    let layers = net.layers();
    let last = layers.len() - 1;
    let rows = ws.batch;
    let n = layers[last].fan_out();
    // Δ_L = ∂E/∂Z_L, row by row (model::Loss::output_delta has the paired forms of bce and cross-entropy)
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

/// The passes compiled with AVX2 and FMA, for x86-64 CPUs that have both: the products'
/// multiply-adds rounded once ([`Fma`]) become single instructions (the plain x86-64 build
/// would call the C library's `fma` for each), and the element-wise loops use 256-bit
/// vectors. The arithmetic is the same as elsewhere; only the instructions differ. Call
/// only after [`has_fma`] returned true. (The training loop has its own, in `engine.rs`.)
#[cfg(target_arch = "x86_64")]
mod avx2_fma {
    use super::*;

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn forward<T: Real, M: Flat<Elem = T>, V: Flat<Elem = T>>(net: &Network<T>, ws: &mut Buffers<M, V>) {
        forward_with::<Fma, T, M, V>(net, ws);
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn backward_scaled<T: Real, M: Flat<Elem = T>, V: Flat<Elem = T>>(
        net: &Network<T>,
        ws: &mut Buffers<M, V>,
        inv_b: T,
    ) {
        backward_scaled_with::<Fma, T, M, V>(net, ws, inv_b);
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn backward<T: Real, M: Flat<Elem = T>, V: Flat<Elem = T>>(net: &Network<T>, ws: &mut Buffers<M, V>) {
        backward_with::<Fma, T, M, V>(net, ws);
    }
}
