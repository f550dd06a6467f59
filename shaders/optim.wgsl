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
// opt_consts(step) reads the module's `scal` (the constants μ | β₁ | η⁺, β₂ | η⁻, ε | Δmax,
// λ_w | Δmin in scal.k0..k3) and `hyper[step]` (that step's η, c₁ = 1 − β₁ᵗ, c₂ = 1 − β₂ᵗ)
// once; step_rule (or the rule_* function of one optimizer, for a caller that switches once
// outside its loop) reads and writes the parameter's state s₀ at opt0[i] and s₁ at opt1[i]
// (one buffer per state slot, so that each binding holds one value per parameter: a
// 4096 × 4096 layer's two slots together would exceed a 128 MiB binding limit). `kind` is
// the optimizer's OPT_* code; `is_weight` enables AdamW's decoupled decay. Returns the new
// value. The same rules, in the same order of operations, are src/model/optim.rs's.

// The optimizer's constants and step `step`'s values, read once (on lavapipe every storage
// read is a loop over the subgroup's lanes, so update.wgsl reads them once per invocation,
// not once per value): lr = η, c1, c2 from hyper[step], k0..k3 from scal.
struct OptConsts {
    lr: real,
    c1: real,
    c2: real,
    k0: real,
    k1: real,
    k2: real,
    k3: real,
}

fn opt_consts(step: u32) -> OptConsts {
    let h = hyper[step];
    return OptConsts(h.lr, h.c1, h.c2, scal.k0, scal.k1, scal.k2, scal.k3);
}

// One optimizer step of one parameter value by the rule of `kind`, with constants `c`.
fn step_rule(kind: u32, c: OptConsts, v: real, g: real, i: u32, is_weight: bool) -> real {
    switch kind {
        case OPT_MOMENTUM: {
            return rule_momentum(c, v, g, i);
        }
        case OPT_NESTEROV: {
            return rule_nesterov(c, v, g, i);
        }
        case OPT_ADAM: {
            return rule_adam(c, v, g, i, is_weight);
        }
        case OPT_IRPROP_MINUS: {
            return rule_irprop_minus(c, v, g, i);
        }
        case OPT_SGD: {
            return rule_sgd(c, v, g);
        }
        default: {
            return unreachable_code(kind);
        }
    }
}

// sgd: p ← p − η g.
fn rule_sgd(c: OptConsts, x: real, g: real) -> real {
    return x - c.lr * g;
}

// momentum: v ← μ v + g;  p ← p − η v.
fn rule_momentum(c: OptConsts, x: real, g: real, i: u32) -> real {
    let m = flush_subnormal(c.k0 * opt0[i] + g);
    opt0[i] = m;
    return x - c.lr * m;
}

// nesterov: v ← μ v + g;  p ← p − η (g + μ v).
fn rule_nesterov(c: OptConsts, x: real, g: real, i: u32) -> real {
    let m = flush_subnormal(c.k0 * opt0[i] + g);
    opt0[i] = m;
    return x - c.lr * (g + c.k0 * m);
}

// adam(w): [weights, AdamW: p ← p − η λ_w p]  m ← β₁ m + (1 − β₁) g;
// v ← β₂ v + (1 − β₂) g²;  p ← p − η (m / c₁) / (√(v / c₂) + ε).
fn rule_adam(c: OptConsts, v: real, g: real, i: u32, is_weight: bool) -> real {
    var x = v;
    if (is_weight && c.k3 > 0.0) {
        x = x - c.lr * c.k3 * x;
    }
    let m = flush_subnormal(c.k0 * opt0[i] + (1.0 - c.k0) * g);
    let s = flush_subnormal(c.k1 * opt1[i] + (1.0 - c.k1) * g * g);
    opt0[i] = m;
    opt1[i] = s;
    return x - c.lr * (m / c.c1) / (sqrt(s / c.c2) + c.k2);
}

// irprop-: if g g₋ > 0: Δ ← min(η⁺ Δ, Δmax);  if g g₋ < 0: Δ ← max(η⁻ Δ, Δmin), g ← 0;
// p ← p − sign(g) Δ;  g₋ ← g.
fn rule_irprop_minus(c: OptConsts, v: real, g_in: real, i: u32) -> real {
    var x = v;
    var g = g_in;
    let change = g * opt0[i];
    var delta = opt1[i];
    if (change > 0.0) {
        delta = min(delta * c.k0, c.k2);
    } else if (change < 0.0) {
        delta = max(delta * c.k1, c.k3);
        g = 0.0;
    }
    opt1[i] = delta;
    if (g > 0.0) {
        x = x - delta;
    } else if (g < 0.0) {
        x = x + delta;
    }
    opt0[i] = g;
    return x;
}

// x, or 0 when |x| is below the smallest normal number of `real`.
fn flush_subnormal(x: real) -> real {
    return select(x, real(0.0), abs(x) < REAL_MIN_NORMAL);
}
