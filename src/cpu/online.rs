//! The online step: one training step on a single sample without dropout, the passes and
//! the update merged layer by layer, with the general passes' bits.

use super::arith::MulAdd;
use super::buffers::{Flat, VecBuffers};
use super::kernels;
use super::update::{max_norm, update_with_state, Rule};
use crate::model::{Hyper, Network, OptimState, Optimizer, Real, StepValues};
use ndarray::Array1;

/// One training step on the single sample in `buf` without dropout (online learning, the
/// seed's rule): [`forward`](super::forward), [`loss`](super::loss),
/// [`backward`](super::backward) and [`optimizer_update`](super::optimizer_update) merged
/// layer by layer. Every value is computed by the same operations in the same order as there,
/// so the results are bit for bit the same (tests/alloc.rs and the engine tests compare);
/// the step makes fewer passes: each layer's activation is applied as its outputs are
/// computed, a hidden delta takes f' as it is summed, and with plain SGD each weight's
/// gradient δ_l[i] a_{l−1}[j] is applied as it is computed instead of going through
/// `grad_w`. Updating the output layer first is safe: Δ_{l−1} reads W_l before its update.
/// Returns the step's loss.
#[inline(always)]
pub(super) fn online_step<R: MulAdd, T: Real>(
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
