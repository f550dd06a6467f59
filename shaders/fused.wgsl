// The whole training step of a small network, for many steps, in one dispatch of one
// workgroup (the idea of tiny-cuda-nn's fully fused MLPs): the weights and biases, the
// batch's inputs, every layer's activations and deltas live in workgroup memory; global
// memory is read for the batch's dataset rows, the per-step values and the optimizer
// state, and written for the per-sample losses and, at the end, the parameters. Between
// phases a workgroupBarrier() orders the invocations, so no other dispatch is needed.
//
// Each step s of `steps` (batch B, rows order[s B + r]), with L layers:
//
//   forward   z_l[r, i] = Σ_j W_l[i, j] a_{l−1}[r, j] + b_l[i],  a_l = f_l(z_l)    (a_{−1} = x)
//             softmax output: a_L[r, k] = e^{z_k − m} / Σ_j e^{z_j − m},  m = max_j z_j
//   output    δ_L and the per-sample loss E, as output_delta.wgsl:
//               sse  E = ½ Σ_k (y_k − a_k)²          δ_k = (a_k − y_k) f'(z_k)
//               mse  E = (1/n) Σ_k (y_k − a_k)²      δ_k = (2/n)(a_k − y_k) f'(z_k)
//               bce  E = Σ_k softplus(z_k) − y_k z_k δ_k = a_k − y_k          (sigmoid)
//               ce   E = Σ_k y_k (lse(z) − z_k)      δ_k = a_k Σ_j y_j − y_k   (softmax)
//               tanh_error  E = Σ_k φ(e_k), e_k = (a_k − y_k)/w   δ_k = φ'(e_k)/w f'(z_k)
//   hidden    δ_l[r, j] = (Σ_i W_{l+1}[i, j] δ_{l+1}[r, i]) f_l'(a_l[r, j])   (chain rule through z_{l+1})
//   gradient  ∂E/∂W_l[i, j] = (1/B) Σ_r δ_l[r, i] a_{l−1}[r, j] + λ W_l[i, j]
//             ∂E/∂b_l[i]    = (1/B) Σ_r δ_l[r, i]
//   update    p ← step_rule(optimizer, p, g) (optim.wgsl, appended by src/gpu/shaders.rs)
//
// in the same order of operations per value as the separate passes, so both routes agree
// within rounding. No dropout and no max-norm here: the engine uses the separate passes
// for those (src/gpu/engine/fused.rs, `fused_plan`).
//
// `spec` is a `FusedSpec` (src/gpu/contract.rs, FusedHead and FusedLayer): the layer
// count L, batch B, this dispatch's steps, the loss and optimizer codes, the parameter
// count P, inputs, outputs, the submission's step this dispatch starts at, then per layer
// its fan-in, fan-out, activation code, bias flag, offsets of W_l and b_l in `params`, of
// its optimizer state in `opt0` and `opt1`, and of a_l in the workgroup array `act`
// (a_{−1} = x at 0).
// A submission's steps may be split over several dispatches (each loading the
// parameters, running its steps, storing them): `spec` is bound with a dynamic offset, one
// copy per dispatch. Mesa's lavapipe stops an invocation's loops after 65 535 iterations
// in all, silently, so the engine keeps each dispatch's steps well below that
// (FUSED_LOOP_BUDGET in src/gpu/engine/fused.rs).
//
// `params` holds every layer's W_l (row-major) and b_l; `opt0` and `opt1` every layer's
// optimizer state, one slot each, as update.wgsl lays it out ([s_s W, s_s b] per layer, at
// the layer's opt_offset in both). The engine copies them from and back to its per-layer
// buffers around a submission's dispatches.
//
// Dispatch: (1, 1, 1), per share of the submission's steps.

@group(0) @binding(0) var<storage, read> spec: FusedSpec;
@group(0) @binding(1) var<storage, read> scal: Scalars;
@group(0) @binding(2) var<storage, read> hyper: array<StepValues>;
@group(0) @binding(3) var<storage, read> x_data: array<real>;
@group(0) @binding(4) var<storage, read> y_data: array<real>;
@group(0) @binding(5) var<storage, read> order: array<u32>;
@group(0) @binding(6) var<storage, read_write> params: array<real>;
@group(0) @binding(7) var<storage, read_write> opt0: array<real>;
@group(0) @binding(8) var<storage, read_write> opt1: array<real>;
@group(0) @binding(9) var<storage, read_write> loss_out: array<real>;

// Capacities in elements, CAP_P, CAP_ACT, CAP_DELTA, CAP_Z, prepended by src/gpu/shaders.rs
// (ShaderKey, FusedCaps) for the network and batch size at hand: parameters; inputs and
// activations of every layer for B rows; deltas of every layer for B rows; the output
// layer's z for B rows.

var<workgroup> wp: array<real, CAP_P>;
var<workgroup> act: array<real, CAP_ACT>;
var<workgroup> dlt: array<real, CAP_DELTA>;
var<workgroup> zout: array<real, CAP_Z>;

override WG: u32 = 64u;

// Offset of layer l's deltas in `dlt`: its activations' offset less the inputs' B · n_in.
fn delta_off(l: u32) -> u32 {
    return spec.layers[l].act_offset - spec.batch * spec.n_in;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) t: u32) {
    let n_layers = spec.n_layers;
    let batch = spec.batch;
    let first = spec.first_step;
    let end = first + spec.steps;
    let n_in = spec.n_in;
    let n_out = spec.n_out;
    let last = n_layers - 1u;
    let inv_b = 1.0 / real(batch);
    for (var k = t; k < spec.n_params; k += WG) {
        wp[k] = params[k];
    }
    for (var s = first; s < end; s++) {
        // The batch's input rows, a_{−1}[r, j] = x[order[s B + r], j].
        for (var e = t; e < batch * n_in; e += WG) {
            let r = e / n_in;
            act[e] = x_data[order[s * batch + r] * n_in + e % n_in];
        }
        workgroupBarrier();
        // Forward, one invocation per (row, unit).
        for (var l = 0u; l < n_layers; l++) {
            let fan_in = spec.layers[l].fan_in;
            let fan_out = spec.layers[l].fan_out;
            let kind = spec.layers[l].activation;
            let w_off = spec.layers[l].w_offset;
            let out_off = spec.layers[l].act_offset;
            let in_off = out_off - batch * fan_in;
            let slope = scal.slope[l];
            for (var e = t; e < batch * fan_out; e += WG) {
                let r = e / fan_out;
                let i = e % fan_out;
                var acc: real = 0.0;
                for (var j = 0u; j < fan_in; j++) {
                    acc = acc + wp[w_off + i * fan_in + j] * act[in_off + r * fan_in + j];
                }
                if (spec.layers[l].has_bias == 1u) {
                    acc = acc + wp[spec.layers[l].b_offset + i];
                }
                if (l == last) {
                    zout[e] = acc;
                }
                act[out_off + e] = activate(kind, acc, slope);
            }
            workgroupBarrier();
        }
        // Softmax, output delta and loss, one invocation per row.
        let out_off = spec.layers[last].act_offset;
        let d_last = delta_off(last);
        let kind_last = spec.layers[last].activation;
        let slope_last = scal.slope[last];
        for (var r = t; r < batch; r += WG) {
            let zb = r * n_out;
            let ab = out_off + zb;
            let db = d_last + zb;
            let yb = order[s * batch + r] * n_out;
            var e: real = 0.0;
            switch spec.loss {
                case LOSS_SSE, LOSS_MSE: {
                    // ∂E/∂a_k = c (a_k − y_k), c = 1 (sse) or 2/n (mse); δ_k = ∂E/∂a_k · f'(z_k)
                    var c: real = 1.0;
                    var h: real = 0.5;
                    if (spec.loss == LOSS_MSE) {
                        c = 2.0 / real(n_out);
                        h = 1.0 / real(n_out);
                    }
                    for (var k = 0u; k < n_out; k++) {
                        let d = act[ab + k] - y_data[yb + k];
                        e = e + d * d;
                        dlt[db + k] = c * d * activate_deriv(kind_last, act[ab + k], slope_last);
                    }
                    e = h * e;
                }
                case LOSS_BCE: {
                    for (var k = 0u; k < n_out; k++) {
                        let zk = zout[zb + k];
                        let yk = y_data[yb + k];
                        e = e + max(zk, 0.0) + ln_r(1.0 + exp_r(-abs(zk))) - yk * zk;
                        dlt[db + k] = act[ab + k] - yk;
                    }
                }
                case LOSS_TANH_ERROR: {
                    // E = Σ_k φ(e_k), e_k = (a_k − y_k)/w: ∂E/∂a_k = φ'(e_k)/w; δ_k = ∂E/∂a_k · f'(z_k)
                    let w = tanh_error_width(kind_last);
                    for (var k = 0u; k < n_out; k++) {
                        let ek = (act[ab + k] - y_data[yb + k]) / w;
                        e = e + tanh_error_phi(ek);
                        dlt[db + k] = tanh_error_slope(ek) / w * activate_deriv(kind_last, act[ab + k], slope_last);
                    }
                }
                case LOSS_CROSS_ENTROPY: {
                    var m = zout[zb];
                    for (var k = 1u; k < n_out; k++) {
                        m = max(m, zout[zb + k]);
                    }
                    var sum: real = 0.0;
                    for (var k = 0u; k < n_out; k++) {
                        let ek = exp_r(zout[zb + k] - m);
                        act[ab + k] = ek;
                        sum = sum + ek;
                    }
                    var ysum: real = 0.0;
                    for (var k = 0u; k < n_out; k++) {
                        act[ab + k] = act[ab + k] / sum;
                        ysum = ysum + y_data[yb + k];
                    }
                    let lse = m + ln_r(sum);
                    for (var k = 0u; k < n_out; k++) {
                        let yk = y_data[yb + k];
                        e = e + yk * (lse - zout[zb + k]);
                        dlt[db + k] = act[ab + k] * ysum - yk;
                    }
                }
                default: {
                    e = unreachable_code(spec.loss);
                    for (var k = 0u; k < n_out; k++) {
                        dlt[db + k] = e;
                    }
                }
            }
            loss_out[s * batch + r] = e;
        }
        workgroupBarrier();
        // Hidden deltas, from the last hidden layer down, one invocation per (row, unit).
        for (var l = last; l > 0u; l--) {
            let n = spec.layers[l].fan_in;  // units of layer l − 1
            let m = spec.layers[l].fan_out; // units of layer l
            let w_off = spec.layers[l].w_offset;
            let d_next = delta_off(l);
            let a_off = spec.layers[l - 1u].act_offset;
            let d_off = delta_off(l - 1u);
            let kind = spec.layers[l - 1u].activation;
            let slope = scal.slope[l - 1u];
            for (var e = t; e < batch * n; e += WG) {
                let r = e / n;
                let j = e % n;
                var acc: real = 0.0;
                for (var i = 0u; i < m; i++) {
                    acc = acc + wp[w_off + i * n + j] * dlt[d_next + r * m + i];
                }
                dlt[d_off + e] = acc * activate_deriv(kind, act[a_off + e], slope);
            }
            workgroupBarrier();
        }
        // Gradients and updates, one invocation per parameter. Each invocation reads only
        // its own parameter, so the layers need no barrier between them.
        let kind_opt = spec.optimizer;
        let oc = opt_consts(s);
                for (var l = 0u; l < n_layers; l++) {
            let fan_in = spec.layers[l].fan_in;
            let fan_out = spec.layers[l].fan_out;
            let w_off = spec.layers[l].w_offset;
            let o_off = spec.layers[l].opt_offset;
            let in_off = spec.layers[l].act_offset - batch * fan_in;
            let d_off = delta_off(l);
            let n_w = fan_out * fan_in;
            for (var k = t; k < n_w; k += WG) {
                let i = k / fan_in;
                let j = k % fan_in;
                var sw: real = 0.0;
                for (var r = 0u; r < batch; r++) {
                    sw = sw + dlt[d_off + r * fan_out + i] * act[in_off + r * fan_in + j];
                }
                let wk = wp[w_off + k];
                wp[w_off + k] = step_rule(kind_opt, oc, wk, sw * inv_b + scal.l2 * wk, o_off + k, true);
            }
            if (spec.layers[l].has_bias == 1u) {
                let b_off = spec.layers[l].b_offset;
                for (var i = t; i < fan_out; i += WG) {
                    var sb: real = 0.0;
                    for (var r = 0u; r < batch; r++) {
                        sb = sb + dlt[d_off + r * fan_out + i];
                    }
                    wp[b_off + i] = step_rule(kind_opt, oc, wp[b_off + i], sb * inv_b, o_off + n_w + i, false);
                }
            }
        }
        workgroupBarrier();
    }
    for (var k = t; k < spec.n_params; k += WG) {
        params[k] = wp[k];
    }
}
