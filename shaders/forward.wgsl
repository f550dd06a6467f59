// Forward pass of one dense layer, for every row of the batch:
//
//   z[r, i] = Σ_j W[i, j] · a_in[r, j] + b[i]        (b only when has_bias)
//   a[r, i] = f(z[r, i])                              (softmax: a = z here, see softmax.wgsl)
//
// a_in is the previous layer's activations, or for layer 0 the dataset's input rows
// selected through `order` (gather = 1), so inputs are never copied on the host. Under
// dropout (drop_in ≠ 0) each input is multiplied by its mask m ∈ {0, 1/(1 − p)}
// (common.wgsl's dropout_keep), i.e. z = W (m ⊙ a_in) + b.
//
// Dispatch: (ceil(fan_out / WG), batch, 1); one invocation per output neuron and row.

@group(0) @binding(0) var<storage, read> p: LayerParams;
@group(0) @binding(1) var<storage, read> w: array<real>;
@group(0) @binding(2) var<storage, read> b: array<real>;
@group(0) @binding(3) var<storage, read> a_in: array<InputWord>;
@group(0) @binding(4) var<storage, read> order: array<u32>;
@group(0) @binding(5) var<storage, read> state: SubmissionState;
@group(0) @binding(6) var<storage, read> scal: Scalars;
@group(0) @binding(7) var<storage, read_write> z: array<real>;
@group(0) @binding(8) var<storage, read_write> a: array<real>;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let r = gid.y;
    if (i >= p.fan_out || r >= p.batch) {
        return;
    }
    var row = r;
    if (p.gather == 1u) {
        row = order[state.step * p.batch + r];
    }
    let in_base = row * p.fan_in;
    let w_base = i * p.fan_in;
    var acc: real = 0.0;
    if (p.drop_in == 0u) {
        for (var j = 0u; j < p.fan_in; j++) {
            acc = acc + w[w_base + j] * load_in(in_base + j);
        }
    } else {
        let scale = select(scal.drop_hidden_scale, scal.drop_in_scale, p.layer == 0u);
        let t = state.first_step + state.step;
        for (var j = 0u; j < p.fan_in; j++) {
            if (dropout_keep(p.drop_in, t, p.layer, state.first_row + r, j, state.seed_lo, state.seed_hi)) {
                acc = acc + w[w_base + j] * (scale * load_in(in_base + j));
            }
        }
    }
    if (p.has_bias == 1u) {
        acc = acc + b[i];
    }
    let o = r * p.fan_out + i;
    z[o] = acc;
    a[o] = activate(p.activation, acc, scal.slope[p.layer]);
}
