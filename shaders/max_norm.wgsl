// Max-norm constraint on one layer, after its update: each neuron's incoming weights are
// rescaled so that their Euclidean norm is at most c = scal.max_norm:
//
//   n_i = √(Σ_j W[i, j]²);   if n_i > c:  W[i, j] ← W[i, j] · c / n_i
//
// Dispatched only when a max-norm is set. Dispatch: (ceil(fan_out / WG), 1, 1); one
// invocation per neuron row.

@group(0) @binding(0) var<storage, read> p: LayerParams;
@group(0) @binding(1) var<storage, read> scal: Scalars;
@group(0) @binding(2) var<storage, read_write> w: array<real>;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= p.fan_out) {
        return;
    }
    let base = i * p.fan_in;
    var sq: real = 0.0;
    for (var j = 0u; j < p.fan_in; j++) {
        sq = sq + w[base + j] * w[base + j];
    }
    let norm = sqrt(sq);
    let c = scal.max_norm;
    if (norm > c) {
        let scale = c / norm;
        for (var j = 0u; j < p.fan_in; j++) {
            w[base + j] = w[base + j] * scale;
        }
    }
}
