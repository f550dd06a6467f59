// Output delta δ_L = ∂E/∂z_L and the per-sample loss E, one subgroup per batch row:
// output_delta.wgsl's twin for adapters with SUBGROUP (`Reduce::Subgroup` in
// src/gpu/shaders.rs), with the same formulas and the same bits (y is the dataset's target
// row order[step * batch + r]; n = fan_out):
//
//   sse            E = ½ Σ_k (y_k − a_k)²                  δ_k = (a_k − y_k) f'(z_k)
//   mse            E = (1/n) Σ_k (y_k − a_k)²              δ_k = (2/n)(a_k − y_k) f'(z_k)
//   bce (sigmoid)  E = Σ_k softplus(z_k) − y_k z_k         δ_k = a_k − y_k
//   ce (softmax)   E = Σ_k y_k (lse(z) − z_k)              δ_k = a_k Σ_j y_j − y_k
//   tanh_error     E = Σ_k φ(e_k), e_k = (a_k − y_k)/w      δ_k = φ'(e_k)/w · f'(z_k)
//
// with softplus(z) = max(z, 0) + ln(1 + e^{−|z|}), lse(z) = m + ln Σ_k e^{z_k − m},
// m = max z, φ and w as in output_delta.wgsl and common.wgsl.
//
// Lane ℓ of a subgroup of S lanes takes the row's elements k ≡ ℓ (mod S): their loads,
// their δ_k (written by the lane) and the expensive part of their loss terms (exp, ln,
// φ) run side by side. The sums over k — E, and for ce Σ e^{z_k − m} and Σ y_k — are
// accumulated by every lane in output_delta.wgsl's order, k = 0, 1, …, n − 1 from 0:
// for each chunk of S elements the lane adds the chunk's values lane by lane, fetched
// with `subgroupShuffle`. What is shuffled are the *operands* of the fallback's last
// operation, and the accumulation is written with the fallback's expression:
//
//   sse/mse  e = e + d · d                         (d = a_k − y_k shuffled)
//   bce      e = e + max(z_k, 0) + ln(1 + e^{−|z_k|}) − y_k · z_k
//                                                  (the max, the ln term, y_k and z_k
//                                                   shuffled)
//   ce       s = s + e^{z_k − m},  ysum = ysum + y_k,  e = e + y_k · (lse − z_k)
//   tanh     e = e + φ(e_k)
//
// so that the same operations meet the same values in the same order, and a compiler
// that contracts a multiply and an add into one fused operation (SPIR-V allows it) sees
// the same expression in both files. The ce's m is `subgroupMax` of the lanes' maxima:
// exact, and equal to the fallback's up to a zero's sign and NaNs, neither of which can
// reach δ or E (softmax_subgroup.wgsl says why). Lane 0 writes E.
//
// Layout, uniformity and overrides as in softmax_subgroup.wgsl: the workgroup takes rows
// [wg · PER_WG, wg · PER_WG + PER_WG), its subgroups one row at a time.
//
// Dispatch: (ceil(batch / PER_WG), 1, 1).

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
override PER_WG: u32 = 1u;

fn delta_row(r: u32, lane: u32, size: u32) {
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
            for (var k0 = 0u; k0 < n; k0 += size) {
                let k = k0 + lane;
                var d: real = 0.0;
                if (k < n) {
                    d = a[base + k] - y_data[y_base + k];
                    delta[base + k] = c * d * activate_deriv(p.activation, a[base + k], slope);
                }
                let count = min(size, n - k0);
                for (var l = 0u; l < count; l++) {
                    let dl = subgroupShuffle(d, l);
                    e = e + dl * dl;
                }
            }
            e = h * e;
        }
        case LOSS_BCE: {
            for (var k0 = 0u; k0 < n; k0 += size) {
                let k = k0 + lane;
                var zk: real = 0.0;
                var yk: real = 0.0;
                var pos: real = 0.0;
                var soft: real = 0.0;
                if (k < n) {
                    zk = z[base + k];
                    yk = y_data[y_base + k];
                    pos = max(zk, 0.0);
                    soft = ln_r(1.0 + exp_r(-abs(zk)));
                    delta[base + k] = a[base + k] - yk;
                }
                let count = min(size, n - k0);
                for (var l = 0u; l < count; l++) {
                    e = e + subgroupShuffle(pos, l) + subgroupShuffle(soft, l) - subgroupShuffle(yk, l) * subgroupShuffle(zk, l);
                }
            }
        }
        case LOSS_TANH_ERROR: {
            // E = Σ_k φ(e_k), e_k = (a_k − y_k)/w: ∂E/∂a_k = φ'(e_k)/w; δ_k = ∂E/∂a_k · f'(z_k)
            let w = tanh_error_width(p.activation);
            for (var k0 = 0u; k0 < n; k0 += size) {
                let k = k0 + lane;
                var phi: real = 0.0;
                if (k < n) {
                    let ek = (a[base + k] - y_data[y_base + k]) / w;
                    phi = tanh_error_phi(ek);
                    delta[base + k] = tanh_error_slope(ek) / w * activate_deriv(p.activation, a[base + k], slope);
                }
                let count = min(size, n - k0);
                for (var l = 0u; l < count; l++) {
                    e = e + subgroupShuffle(phi, l);
                }
            }
        }
        case LOSS_CROSS_ENTROPY: {
            var m = z[base];
            for (var k = lane; k < n; k += size) {
                m = max(m, z[base + k]);
            }
            m = subgroupMax(m);
            var s: real = 0.0;
            var ysum: real = 0.0;
            for (var k0 = 0u; k0 < n; k0 += size) {
                let k = k0 + lane;
                var ex: real = 0.0;
                var yk: real = 0.0;
                if (k < n) {
                    ex = exp_r(z[base + k] - m);
                    yk = y_data[y_base + k];
                }
                let count = min(size, n - k0);
                for (var l = 0u; l < count; l++) {
                    s = s + subgroupShuffle(ex, l);
                    ysum = ysum + subgroupShuffle(yk, l);
                }
            }
            let lse = m + ln_r(s);
            for (var k0 = 0u; k0 < n; k0 += size) {
                let k = k0 + lane;
                var zk: real = 0.0;
                var yk: real = 0.0;
                if (k < n) {
                    zk = z[base + k];
                    yk = y_data[y_base + k];
                    delta[base + k] = a[base + k] * ysum - yk;
                }
                let count = min(size, n - k0);
                for (var l = 0u; l < count; l++) {
                    e = e + subgroupShuffle(yk, l) * (lse - subgroupShuffle(zk, l));
                }
            }
        }
        default: {
            e = unreachable_code(p.loss);
            for (var k = lane; k < n; k += size) {
                delta[base + k] = e;
            }
        }
    }
    if (lane == 0u) {
        loss_out[slot] = e;
    }
}

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(subgroup_id) sg: u32,
    @builtin(num_subgroups) nsg: u32,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_size) size: u32,
) {
    let first = wg.x * PER_WG;
    let end = min(first + PER_WG, p.batch);
    for (var r = first + sg; r < end; r += nsg) {
        delta_row(r, lane, size);
    }
}
