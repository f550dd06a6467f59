// Parameter update of one layer by the optimizer p.optimizer, for every weight W[k] and
// (when has_bias) every bias b[i], with g the batch-mean gradient from gradient.wgsl:
//
//   weights: g ← g + λ W        coupled L2 decay: ∂(E + ½ λ ‖W‖²)/∂W = ∂E/∂W + λ W
//   sgd        p ← p − η g
//   momentum   v ← μ v + g;  p ← p − η v
//   nesterov   v ← μ v + g;  p ← p − η (g + μ v)
//   adam(w)    [weights, AdamW: p ← p − η λ_w p]  m ← β₁ m + (1 − β₁) g;  v ← β₂ v + (1 − β₂) g²;
//              p ← p − η (m / c₁) / (√(v / c₂) + ε)
//   irprop-    if g g₋ > 0: Δ ← min(η⁺ Δ, Δmax);  if g g₋ < 0: Δ ← max(η⁻ Δ, Δmin), g ← 0;
//              p ← p − sign(g) Δ;  g₋ ← g
//
// η, c₁ = 1 − β₁ᵗ, c₂ = 1 − β₂ᵗ are this step's values from `hyper` (computed on the host),
// the constants (μ | β₁ | η⁺, β₂ | η⁻, ε | Δmax, λ_w | Δmin) are scal[0..4], λ is scal[4].
// The same rules, in the same order of operations, are src/model/optim.rs's.
//
// `opt` holds the layer's optimizer state: [s₀ of W (n_w), s₁ of W (n_w), s₀ of b (fan_out),
// s₁ of b (fan_out)], n_w = fan_out · fan_in.
//
// Dispatch: (ceil(fan_in / WG), fan_out, 1), the gradient pass's grid.

@group(0) @binding(0) var<storage, read> p: LayerParams;
@group(0) @binding(1) var<storage, read> scal: array<real>;
@group(0) @binding(2) var<storage, read> hyper: array<real>;
@group(0) @binding(3) var<storage, read> state: array<u32>;
@group(0) @binding(4) var<storage, read> gw: array<real>;
@group(0) @binding(5) var<storage, read> gb: array<real>;
@group(0) @binding(6) var<storage, read_write> w: array<real>;
@group(0) @binding(7) var<storage, read_write> b: array<real>;
@group(0) @binding(8) var<storage, read_write> opt: array<real>;

override WG: u32 = 64u;

// Updates one parameter value `v` with gradient `g` and its state at opt[i0], opt[i1];
// `is_weight` enables AdamW's decoupled decay. Returns the new value.
fn step_param(v: real, g_in: real, i0: u32, i1: u32, is_weight: bool) -> real {
    let h = state[0] * 4u;
    let lr = hyper[h];
    var x = v;
    var g = g_in;
    switch p.optimizer {
        case 1u: {
            let m = scal[0] * opt[i0] + g;
            opt[i0] = m;
            x = x - lr * m;
        }
        case 2u: {
            let m = scal[0] * opt[i0] + g;
            opt[i0] = m;
            x = x - lr * (g + scal[0] * m);
        }
        case 3u: {
            if (is_weight && scal[3] > 0.0) {
                x = x - lr * scal[3] * x;
            }
            let m = scal[0] * opt[i0] + (1.0 - scal[0]) * g;
            let s = scal[1] * opt[i1] + (1.0 - scal[1]) * g * g;
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

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    let i = gid.y;
    if (j >= p.fan_in || i >= p.fan_out) {
        return;
    }
    let n_w = p.fan_out * p.fan_in;
    let k = i * p.fan_in + j;
    w[k] = step_param(w[k], gw[k] + scal[4] * w[k], k, n_w + k, true);
    if (j == 0u && p.has_bias == 1u) {
        b[i] = step_param(b[i], gb[i], 2u * n_w + i, 2u * n_w + p.fan_out + i, false);
    }
}
