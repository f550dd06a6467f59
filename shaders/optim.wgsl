// One optimizer step for one parameter value, shared by update.wgsl and fused.wgsl
// (src/gpu/shaders.rs appends it to those two passes). The rules, with g the batch-mean
// gradient (L2 already added to weights' g by the caller):
//
//   sgd        p ← p − η g
//   momentum   v ← μ v + g;  p ← p − η v
//   nesterov   v ← μ v + g;  p ← p − η (g + μ v)
//   adam(w)    [weights, AdamW: p ← p − η λ_w p]  m ← β₁ m + (1 − β₁) g;  v ← β₂ v + (1 − β₂) g²;
//              p ← p − η (m / c₁) / (√(v / c₂) + ε)
//   irprop-    if g g₋ > 0: Δ ← min(η⁺ Δ, Δmax);  if g g₋ < 0: Δ ← max(η⁻ Δ, Δmin), g ← 0;
//              p ← p − sign(g) Δ;  g₋ ← g
//
// A new v, m or s below the smallest normal number (REAL_MIN_NORMAL, from the precision
// prelude) is stored as 0, as on the CPU path (src/model/optim.rs says why).
//
// It reads the module's `scal` (the constants μ | β₁ | η⁺, β₂ | η⁻, ε | Δmax, λ_w | Δmin in
// scal.k0..k3) and `hyper[step]` (that step's η, c₁ = 1 − β₁ᵗ, c₂ = 1 − β₂ᵗ), and reads and
// writes the parameter's state at opt[i0], opt[i1]. `kind` is the optimizer's OPT_* code;
// `is_weight` enables AdamW's
// decoupled decay. Returns the new value. The same rules, in the same order of
// operations, are src/model/optim.rs's.
fn step_param(kind: u32, step: u32, v: real, g_in: real, i0: u32, i1: u32, is_weight: bool) -> real {
    let lr = hyper[step].lr;
    var x = v;
    var g = g_in;
    switch kind {
        case OPT_MOMENTUM: {
            let m = flush_subnormal(scal.k0 * opt[i0] + g);
            opt[i0] = m;
            x = x - lr * m;
        }
        case OPT_NESTEROV: {
            let m = flush_subnormal(scal.k0 * opt[i0] + g);
            opt[i0] = m;
            x = x - lr * (g + scal.k0 * m);
        }
        case OPT_ADAM: {
            if (is_weight && scal.k3 > 0.0) {
                x = x - lr * scal.k3 * x;
            }
            let m = flush_subnormal(scal.k0 * opt[i0] + (1.0 - scal.k0) * g);
            let s = flush_subnormal(scal.k1 * opt[i1] + (1.0 - scal.k1) * g * g);
            opt[i0] = m;
            opt[i1] = s;
            x = x - lr * (m / hyper[step].c1) / (sqrt(s / hyper[step].c2) + scal.k2);
        }
        case OPT_IRPROP_MINUS: {
            let change = g * opt[i0];
            var delta = opt[i1];
            if (change > 0.0) {
                delta = min(delta * scal.k0, scal.k2);
            } else if (change < 0.0) {
                delta = max(delta * scal.k1, scal.k3);
                g = 0.0;
            }
            opt[i1] = delta;
            if (g > 0.0) {
                x = x - delta;
            } else if (g < 0.0) {
                x = x + delta;
            }
            opt[i0] = g;
        }
        case OPT_SGD: {
            x = x - lr * g;
        }
        default: {
            x = unreachable_code(kind);
        }
    }
    return x;
}

// x, or 0 when |x| is below the smallest normal number of `real`.
fn flush_subnormal(x: real) -> real {
    return select(x, real(0.0), abs(x) < REAL_MIN_NORMAL);
}
