// update.wgsl for a layer whose rows are 16-byte aligned (fan_in % 4 = 0; the engine picks
// it per layer, src/gpu/engine/record.rs): the same rule for every weight and bias,
//
//   weights: g ← g + λ W,  then p ← step_rule(optimizer, p, g)   (update.wgsl states it)
//
// with W and its gradient bound as arrays of vec4<real> (the same buffers and bind group
// layout as update.wgsl) and read and written four at a time: an invocation's run of
// UPDATE_RUN consecutive weights of row i (32 here, src/gpu/shaders.rs UPDATE_RUN_WIDE) is
// UPDATE_RUN / 4 vec4s, a quarter of the loads and stores (on lavapipe each is a loop
// over the subgroup's lanes), and the parameters and the optimizer's constants are read
// once per 32 weights. The optimizer's state (`opt0`, `opt1`)
// stays arrays of `real`, indexed per weight k = 4q + e as in update.wgsl, and each
// weight's arithmetic is update.wgsl's (same bits).
//
// Dispatch: (ceil(ceil(fan_in / UPDATE_RUN) / WG), fan_out, 1).

@group(0) @binding(0) var<storage, read> p: LayerParams;
@group(0) @binding(1) var<storage, read> scal: Scalars;
@group(0) @binding(2) var<storage, read> hyper: array<StepValues>;
@group(0) @binding(3) var<storage, read> state: SubmissionState;
@group(0) @binding(4) var<storage, read> gw: array<vec4<real>>;
@group(0) @binding(5) var<storage, read> gb: array<real>;
@group(0) @binding(6) var<storage, read_write> w: array<vec4<real>>;
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
    // This invocation's weights: vec4s q in [q0, q1) of row i (fan_in % 4 = 0, so a run
    // ends on a multiple of 4).
    let q0 = (i * fan_in + j0) / 4u;
    let q1 = (i * fan_in + min(j0 + UPDATE_RUN, fan_in)) / 4u;
    switch kind {
        case OPT_SGD: {
            for (var q = q0; q < q1; q++) {
                let x4 = w[q];
                let g4 = gw[q];
                var out = x4;
                for (var e = 0u; e < 4u; e++) {
                    let k = 4u * q + e;
                    let x = x4[e];
                    let g = g4[e] + l2 * x;
                    out[e] = rule_sgd(c, x, g);
                }
                w[q] = out;
            }
        }
        case OPT_MOMENTUM: {
            for (var q = q0; q < q1; q++) {
                let x4 = w[q];
                let g4 = gw[q];
                var out = x4;
                for (var e = 0u; e < 4u; e++) {
                    let k = 4u * q + e;
                    let x = x4[e];
                    let g = g4[e] + l2 * x;
                    out[e] = rule_momentum(c, x, g, k);
                }
                w[q] = out;
            }
        }
        case OPT_NESTEROV: {
            for (var q = q0; q < q1; q++) {
                let x4 = w[q];
                let g4 = gw[q];
                var out = x4;
                for (var e = 0u; e < 4u; e++) {
                    let k = 4u * q + e;
                    let x = x4[e];
                    let g = g4[e] + l2 * x;
                    out[e] = rule_nesterov(c, x, g, k);
                }
                w[q] = out;
            }
        }
        case OPT_ADAM: {
            for (var q = q0; q < q1; q++) {
                let x4 = w[q];
                let g4 = gw[q];
                var out = x4;
                for (var e = 0u; e < 4u; e++) {
                    let k = 4u * q + e;
                    let x = x4[e];
                    let g = g4[e] + l2 * x;
                    out[e] = rule_adam(c, x, g, k, true);
                }
                w[q] = out;
            }
        }
        case OPT_IRPROP_MINUS: {
            for (var q = q0; q < q1; q++) {
                let x4 = w[q];
                let g4 = gw[q];
                var out = x4;
                for (var e = 0u; e < 4u; e++) {
                    let k = 4u * q + e;
                    let x = x4[e];
                    let g = g4[e] + l2 * x;
                    out[e] = rule_irprop_minus(c, x, g, k);
                }
                w[q] = out;
            }
        }
        default: {
            for (var q = q0; q < q1; q++) {
                w[q] = vec4<real>(unreachable_code(kind));
            }
        }
    }
    if (j0 == 0u && p.has_bias == 1u) {
        b[i] = step_rule(kind, c, b[i], gb[i], n_w + i, false);
    }
}
