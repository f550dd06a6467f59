// Plain gradient descent on one layer, η = scal[0]:
//
//   W[k] ← W[k] − η · ∂E/∂W[k]      for every weight k
//   b[i] ← b[i] − η · ∂E/∂b[i]      for every neuron i (when has_bias)
//
// Dispatch: (ceil(fan_in / WG), fan_out, 1), the gradient pass's grid.

@group(0) @binding(0) var<uniform> p: LayerParams;
@group(0) @binding(1) var<storage, read> scal: array<real>;
@group(0) @binding(2) var<storage, read> gw: array<real>;
@group(0) @binding(3) var<storage, read> gb: array<real>;
@group(0) @binding(4) var<storage, read_write> w: array<real>;
@group(0) @binding(5) var<storage, read_write> b: array<real>;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    let i = gid.y;
    if (j >= p.fan_in || i >= p.fan_out) {
        return;
    }
    let lr = scal[0];
    let k = i * p.fan_in + j;
    w[k] = w[k] - lr * gw[k];
    if (j == 0u && p.has_bias == 1u) {
        b[i] = b[i] - lr * gb[i];
    }
}
