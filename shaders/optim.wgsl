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
// It reads the module's `scal` (the constants μ | β₁ | η⁺, β₂ | η⁻, ε | Δmax, λ_w | Δmin at
// scal[0..4]) and `hyper` (this step's η, c₁ = 1 − β₁ᵗ, c₂ = 1 − β₂ᵗ at hyper[h..h + 3]),
// and reads and writes the parameter's state at opt[i0], opt[i1]. `kind` is the optimizer
// code (0 sgd, 1 momentum, 2 nesterov, 3 adam(w), 4 irprop-); `is_weight` enables AdamW's
// decoupled decay. Returns the new value. The same rules, in the same order of
// operations, are src/model/optim.rs's.
fn step_param(kind: u32, h: u32, v: real, g_in: real, i0: u32, i1: u32, is_weight: bool) -> real {
    let lr = hyper[h];
    var x = v;
    var g = g_in;
    switch kind {
        case 1u: {
            let m = flush_subnormal(scal[0] * opt[i0] + g);
            opt[i0] = m;
            x = x - lr * m;
        }
        case 2u: {
            let m = flush_subnormal(scal[0] * opt[i0] + g);
            opt[i0] = m;
            x = x - lr * (g + scal[0] * m);
        }
        case 3u: {
            if (is_weight && scal[3] > 0.0) {
                x = x - lr * scal[3] * x;
            }
            let m = flush_subnormal(scal[0] * opt[i0] + (1.0 - scal[0]) * g);
            let s = flush_subnormal(scal[1] * opt[i1] + (1.0 - scal[1]) * g * g);
            opt[i0] = m;
            opt[i1] = s;
            x = x - lr * (m / hyper[h + 1u]) / (sqrt(s / hyper[h + 2u]) + scal[2]);
        }
        case 4u: {
            let change = g * opt[i0];
            var delta = opt[i1];
            if (change > 0.0) {
                delta = min(delta * scal[0], scal[2]);
            } else if (change < 0.0) {
                delta = max(delta * scal[1], scal[3]);
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
        default: {
            x = x - lr * g;
        }
    }
    return x;
}

// x, or 0 when |x| is below the smallest normal number of `real`.
fn flush_subnormal(x: real) -> real {
    return select(x, real(0.0), abs(x) < REAL_MIN_NORMAL);
}
