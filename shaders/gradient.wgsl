// Weight and bias gradients of one layer, averaged over the batch of B rows:
//
//   ∂E/∂W[i, j] = (1/B) Σ_r δ[r, i] · a_in[r, j]        (∂z_i/∂W[i, j] = a_in[j])
//   ∂E/∂b[i]    = (1/B) Σ_r δ[r, i]                     (∂z_i/∂b[i] = 1)
//
// a_in is the previous layer's activations or, for layer 0, the dataset rows through
// `order`; under dropout it is the dropped input m ⊙ a_in the forward pass used
// (∂z_i/∂W[i, j] = m_j a_in[j]). The invocations with j = 0 also write the bias gradient.
//
// Dispatch: (ceil(fan_in / WG), fan_out, 1); one invocation per weight.

@group(0) @binding(0) var<storage, read> p: LayerParams;
@group(0) @binding(1) var<storage, read> delta: array<real>;
@group(0) @binding(2) var<storage, read> a_in: array<InputWord>;
@group(0) @binding(3) var<storage, read> order: array<u32>;
@group(0) @binding(4) var<storage, read> state: SubmissionState;
@group(0) @binding(5) var<storage, read_write> gw: array<real>;
@group(0) @binding(6) var<storage, read_write> gb: array<real>;
@group(0) @binding(7) var<storage, read> scal: Scalars;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    let i = gid.y;
    if (j >= p.fan_in || i >= p.fan_out) {
        return;
    }
    var sw: real = 0.0;
    var sb: real = 0.0;
    for (var r = 0u; r < p.batch; r++) {
        var row = r;
        if (p.gather == 1u) {
            row = order[state.step * p.batch + r];
        }
        let d = delta[r * p.fan_out + i];
        var x = load_in(row * p.fan_in + j);
        if (p.drop_in != 0u) {
            let keep = dropout_keep(p.drop_in, state.first_step + state.step, p.layer, state.first_row + r, j, state.seed_lo, state.seed_hi);
            let scale = select(scal.drop_hidden_scale, scal.drop_in_scale, p.layer == 0u);
            x = select(real(0.0), scale * x, keep);
        }
        sw = sw + d * x;
        sb = sb + d;
    }
    let inv_b = 1.0 / real(p.batch);
    gw[i * p.fan_in + j] = sw * inv_b;
    if (j == 0u && p.has_bias == 1u) {
        gb[i] = sb * inv_b;
    }
}
