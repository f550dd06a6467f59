// Output delta δ_L = ∂E/∂z_L and the per-sample loss E, for each row r of the batch
// (y is the dataset's target row order[step * batch + r]; n = fan_out):
//
//   sse            E = ½ Σ_k (y_k − a_k)²                  δ_k = (a_k − y_k) f'(z_k)
//   mse            E = (1/n) Σ_k (y_k − a_k)²              δ_k = (2/n)(a_k − y_k) f'(z_k)
//   bce (sigmoid)  E = Σ_k softplus(z_k) − y_k z_k         δ_k = a_k − y_k
//   ce (softmax)   E = Σ_k y_k (lse(z) − z_k)              δ_k = a_k Σ_j y_j − y_k
//   tanh_error     E = Σ_k φ(e_k), e_k = (a_k − y_k)/w      δ_k = φ'(e_k)/w · f'(z_k)
//
// with softplus(z) = max(z, 0) + ln(1 + e^{−|z|}) and lse(z) = m + ln Σ_k e^{z_k − m},
// m = max z: the stable forms of −Σ [y ln a + (1 − y) ln(1 − a)] and −Σ y ln a. The fused
// deltas hold for exactly these activation/loss pairs (derivation in src/model/loss.rs).
// φ(e) = 2e atanh e + ln(1 − e²), φ'(e) = ln((1 + e)/(1 − e)) is FANN's tanh error, w = 2
// for a tanh output and 1 otherwise (common.wgsl).
// E goes to loss_out[step * batch + r]; the host averages over the batch.
//
// Dispatch: (ceil(batch / WG), 1, 1); one invocation per row.

@group(0) @binding(0) var<storage, read> p: LayerParams;
@group(0) @binding(1) var<storage, read> z: array<real>;
@group(0) @binding(2) var<storage, read> a: array<real>;
@group(0) @binding(3) var<storage, read> y_data: array<real>;
@group(0) @binding(4) var<storage, read> order: array<u32>;
@group(0) @binding(5) var<storage, read> state: SubmissionState;
@group(0) @binding(6) var<storage, read> scal: Scalars;
@group(0) @binding(7) var<storage, read_write> delta: array<real>;
@group(0) @binding(8) var<storage, read_write> loss_out: array<real>;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    if (r >= p.batch) {
        return;
    }
    let n = p.fan_out;
    let base = r * n;
    let slot = state.step * p.batch + r;
    let y_base = order[slot] * n;
    let slope = scal.slope[p.layer];
    var e: real = 0.0;
    switch p.loss {
        case LOSS_SSE, LOSS_MSE: {
            // ∂E/∂a_k = c (a_k − y_k) with c = 1 (sse) or 2/n (mse); δ_k = ∂E/∂a_k · f'(z_k)
            var c: real = 1.0;
            var h: real = 0.5;
            if (p.loss == LOSS_MSE) {
                c = 2.0 / real(n);
                h = 1.0 / real(n);
            }
            for (var k = 0u; k < n; k++) {
                let d = a[base + k] - y_data[y_base + k];
                e = e + d * d;
                delta[base + k] = c * d * activate_deriv(p.activation, a[base + k], slope);
            }
            e = h * e;
        }
        case LOSS_BCE: {
            for (var k = 0u; k < n; k++) {
                let zk = z[base + k];
                let yk = y_data[y_base + k];
                e = e + max(zk, 0.0) + ln_r(1.0 + exp_r(-abs(zk))) - yk * zk;
                delta[base + k] = a[base + k] - yk;
            }
        }
        case LOSS_TANH_ERROR: {
            // E = Σ_k φ(e_k), e_k = (a_k − y_k)/w: ∂E/∂a_k = φ'(e_k)/w; δ_k = ∂E/∂a_k · f'(z_k)
            let w = tanh_error_width(p.activation);
            for (var k = 0u; k < n; k++) {
                let ek = (a[base + k] - y_data[y_base + k]) / w;
                e = e + tanh_error_phi(ek);
                delta[base + k] = tanh_error_slope(ek) / w * activate_deriv(p.activation, a[base + k], slope);
            }
        }
        case LOSS_CROSS_ENTROPY: {
            var m = z[base];
            for (var k = 1u; k < n; k++) {
                m = max(m, z[base + k]);
            }
            var s: real = 0.0;
            var ysum: real = 0.0;
            for (var k = 0u; k < n; k++) {
                s = s + exp_r(z[base + k] - m);
                ysum = ysum + y_data[y_base + k];
            }
            let lse = m + ln_r(s);
            for (var k = 0u; k < n; k++) {
                let yk = y_data[y_base + k];
                e = e + yk * (lse - z[base + k]);
                delta[base + k] = a[base + k] * ysum - yk;
            }
        }
        default: {
            e = unreachable_code(p.loss);
            for (var k = 0u; k < n; k++) {
                delta[base + k] = e;
            }
        }
    }
    loss_out[slot] = e;
}
