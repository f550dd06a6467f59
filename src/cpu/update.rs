//! The parameter updates: [`sgd_update`] and [`optimizer_update`] from the gradients in
//! [`Buffers`], the training loop's backward pass with the update applied to each block
//! of a gradient as it leaves the packed product (`backward_update_with`), the update
//! loops (on the pool's threads for large arrays) and max-norm.

use super::arith::{self, MulAdd};
use super::buffers::{Buffers, Flat, VecBuffers};
use super::kernels::{self, row_mut};
use super::passes::{bias_gradient, deltas_with, layer_input};
use super::{pool, threads};
use crate::model::{Hyper, Network, OptimState, Optimizer, Real, StepValues};

/// [`backward_with`](super::passes::backward_with) and [`optimizer_update`] in one pass,
/// with the same bits: a layer's weights are updated as the blocks of their gradient come out of the packed product
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
pub(super) fn backward_update_with<R: MulAdd, T: Real>(
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
pub(super) struct Rule<'a, T> {
    pub(super) opt: Optimizer,
    pub(super) lambda: Option<T>,
    pub(super) k: &'a StepValues<T>,
    pub(super) decay_p: bool,
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
pub(super) fn update_with_state<T: Real>(rule: Rule<'_, T>, p: &mut [T], g: &[T], s0: &mut [T], s1: &mut [T]) {
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

/// Max-norm: scales row i of W (rows × cols) so that ‖W[i, :]‖₂ ≤ c.
#[inline(always)]
pub(super) fn max_norm<T: Real>(w: &mut [T], rows: usize, cols: usize, c: T) {
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
