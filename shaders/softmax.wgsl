// Softmax over each row of the output layer, after forward.wgsl wrote a = z:
//
//   a[r, k] = e^{z[r, k] − m} / Σ_j e^{z[r, j] − m},   m = max_j z[r, j]
//
// Subtracting m keeps every exponent ≤ 0, so nothing overflows. Its derivative
// ∂a_i/∂z_j = a_i (δ_ij − a_j) is only used fused with cross-entropy (output_delta.wgsl).
//
// Dispatch: (ceil(batch / WG), 1, 1); one invocation per row (output layers are narrow).

@group(0) @binding(0) var<storage, read> p: LayerParams;
@group(0) @binding(1) var<storage, read> z: array<real>;
@group(0) @binding(2) var<storage, read_write> a: array<real>;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    if (r >= p.batch) {
        return;
    }
    let base = r * p.fan_out;
    var m = z[base];
    for (var k = 1u; k < p.fan_out; k++) {
        m = max(m, z[base + k]);
    }
    var sum: real = 0.0;
    for (var k = 0u; k < p.fan_out; k++) {
        let e = exp_r(z[base + k] - m);
        a[base + k] = e;
        sum = sum + e;
    }
    for (var k = 0u; k < p.fan_out; k++) {
        a[base + k] = a[base + k] / sum;
    }
}
