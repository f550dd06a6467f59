// Parameter update of one layer by the optimizer p.optimizer, for every weight W[k] and
// (when has_bias) every bias b[i], with g the batch-mean gradient from gradient.wgsl:
//
//   weights: g ← g + λ W        coupled L2 decay: ∂(E + ½ λ ‖W‖²)/∂W = ∂E/∂W + λ W
//   then p ← step_param(optimizer, p, g)   (the optimizer's rule: optim.wgsl, appended by
//                                            src/gpu/shaders.rs)
//
// η, c₁ = 1 − β₁ᵗ, c₂ = 1 − β₂ᵗ are this step's values from `hyper` (computed on the host),
// read at hyper[state.step]; λ is scal.l2.
//
// `opt` holds the layer's optimizer state: [s₀ of W (n_w), s₁ of W (n_w), s₀ of b (fan_out),
// s₁ of b (fan_out)], n_w = fan_out · fan_in.
//
// Dispatch: (ceil(fan_in / WG), fan_out, 1), the gradient pass's grid.

@group(0) @binding(0) var<storage, read> p: LayerParams;
@group(0) @binding(1) var<storage, read> scal: Scalars;
@group(0) @binding(2) var<storage, read> hyper: array<StepValues>;
@group(0) @binding(3) var<storage, read> state: SubmissionState;
@group(0) @binding(4) var<storage, read> gw: array<real>;
@group(0) @binding(5) var<storage, read> gb: array<real>;
@group(0) @binding(6) var<storage, read_write> w: array<real>;
@group(0) @binding(7) var<storage, read_write> b: array<real>;
@group(0) @binding(8) var<storage, read_write> opt: array<real>;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    // Each storage value read once (on lavapipe every storage read is a loop over the
    // subgroup's lanes); the arithmetic is unchanged.
    let fan_in = p.fan_in;
    let fan_out = p.fan_out;
    let j = gid.x;
    let i = gid.y;
    if (j >= fan_in || i >= fan_out) {
        return;
    }
    let kind = p.optimizer;
    let step = state.step;
    let n_w = fan_out * fan_in;
    let k = i * fan_in + j;
    let wk = w[k];
    w[k] = step_param(kind, step, wk, gw[k] + scal.l2 * wk, k, n_w + k, true);
    if (j == 0u && p.has_bias == 1u) {
        b[i] = step_param(kind, step, b[i], gb[i], 2u * n_w + i, 2u * n_w + fan_out + i, false);
    }
}
