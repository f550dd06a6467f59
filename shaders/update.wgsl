// Parameter update of one layer by the optimizer p.optimizer, for every weight W[k] and
// (when has_bias) every bias b[i], with g the batch-mean gradient from gradient.wgsl:
//
//   weights: g ← g + λ W        coupled L2 decay: ∂(E + ½ λ ‖W‖²)/∂W = ∂E/∂W + λ W
//   then p ← step_rule(optimizer, p, g)   (the optimizer's rule: optim.wgsl, appended by
//                                          src/gpu/shaders.rs)
//
// η, c₁ = 1 − β₁ᵗ, c₂ = 1 − β₂ᵗ are this step's values from `hyper` (computed on the host),
// read at hyper[state.step]; λ is scal.l2.
//
// `opt0` and `opt1` hold the layer's optimizer state, one slot each: slot s is [s_s of W
// (n_w), s_s of b (fan_out)], n_w = fan_out · fan_in, so weight k's state is at k and bias
// i's at n_w + i in both.
//
// Each invocation updates UPDATE_RUN consecutive weights of one row (the constant is
// prepended by src/gpu/shaders.rs). On lavapipe every storage read is a loop over the
// subgroup's lanes, so the parameters and the optimizer's constants are read once per
// invocation, not once per weight, and the optimizer is chosen once, outside the loop.
// The arithmetic of each weight is unchanged.
//
// Dispatch: (ceil(ceil(fan_in / UPDATE_RUN) / WG), fan_out, 1).

@group(0) @binding(0) var<storage, read> p: LayerParams;
@group(0) @binding(1) var<storage, read> scal: Scalars;
@group(0) @binding(2) var<storage, read> hyper: array<StepValues>;
@group(0) @binding(3) var<storage, read> state: SubmissionState;
@group(0) @binding(4) var<storage, read> gw: array<real>;
@group(0) @binding(5) var<storage, read> gb: array<real>;
@group(0) @binding(6) var<storage, read_write> w: array<real>;
@group(0) @binding(7) var<storage, read_write> b: array<real>;
@group(0) @binding(8) var<storage, read_write> opt0: array<real>;
@group(0) @binding(9) var<storage, read_write> opt1: array<real>;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let fan_in = p.fan_in;
    let fan_out = p.fan_out;
    let j0 = gid.x * UPDATE_RUN;
    let i = gid.y;
    if (j0 >= fan_in || i >= fan_out) {
        return;
    }
    let kind = p.optimizer;
    let c = opt_consts(state.step);
    let l2 = scal.l2;
    let n_w = fan_out * fan_in;
    // This invocation's weights: k in [k0, k1) of row i.
    let k0 = i * fan_in + j0;
    let k1 = i * fan_in + min(j0 + UPDATE_RUN, fan_in);
    switch kind {
        case OPT_SGD: {
            for (var k = k0; k < k1; k++) {
                let wk = w[k];
                w[k] = rule_sgd(c, wk, gw[k] + l2 * wk);
            }
        }
        case OPT_MOMENTUM: {
            for (var k = k0; k < k1; k++) {
                let wk = w[k];
                w[k] = rule_momentum(c, wk, gw[k] + l2 * wk, k);
            }
        }
        case OPT_NESTEROV: {
            for (var k = k0; k < k1; k++) {
                let wk = w[k];
                w[k] = rule_nesterov(c, wk, gw[k] + l2 * wk, k);
            }
        }
        case OPT_ADAM: {
            for (var k = k0; k < k1; k++) {
                let wk = w[k];
                w[k] = rule_adam(c, wk, gw[k] + l2 * wk, k, true);
            }
        }
        case OPT_IRPROP_MINUS: {
            for (var k = k0; k < k1; k++) {
                let wk = w[k];
                w[k] = rule_irprop_minus(c, wk, gw[k] + l2 * wk, k);
            }
        }
        default: {
            for (var k = k0; k < k1; k++) {
                w[k] = unreachable_code(kind);
            }
        }
    }
    if (j0 == 0u && p.has_bias == 1u) {
        b[i] = step_rule(kind, c, b[i], gb[i], n_w + i, false);
    }
}
