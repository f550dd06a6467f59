// Forward pass of one dense layer for a batch, tiled (forward.wgsl's twin for batches):
//
//   z[r, i] = Σ_j a_in[r, j] · W[i, j] + b[i],   a[r, i] = f(z[r, i])
//
// i.e. Z = A_in Wᵀ + b, a matrix product with M = batch, N = fan_out, K = fan_in
// (tile.wgsl): tile_a(r, j) = ã_in[r, j] (input.wgsl's input_at: for layer 0 the dataset
// row order[step·B + r], under dropout times its mask m ∈ {0, 1/(1 − p)}) and
// tile_b(j, i) = W[i, j] (Wᵀ read in place). Softmax layers get a = z here; softmax.wgsl normalises the rows afterwards.
//
// Dispatch: (ceil(fan_out / TILE), ceil(batch / TILE), 1), workgroups of 16 × 16.

@group(0) @binding(0) var<storage, read> p: LayerParams;
@group(0) @binding(1) var<storage, read> w: array<real>;
@group(0) @binding(2) var<storage, read> b: array<real>;
@group(0) @binding(3) var<storage, read> a_in: array<InputWord>;
@group(0) @binding(4) var<storage, read> order: array<u32>;
@group(0) @binding(5) var<storage, read> state: SubmissionState;
@group(0) @binding(6) var<storage, read> scal: Scalars;
@group(0) @binding(7) var<storage, read_write> z: array<real>;
@group(0) @binding(8) var<storage, read_write> a: array<real>;

fn tile_a(r: u32, j: u32) -> real {
    return input_at(r, j);
}

fn tile_b(j: u32, i: u32) -> real {
    return w[i * p.fan_in + j];
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let m0 = wg.y * TILE;
    let n0 = wg.x * TILE;
    let acc = gemm_block(m0, n0, lid, p.batch, p.fan_out, p.fan_in);
    let slope = scal.slope[p.layer];
    for (var ii = 0u; ii < RT; ii++) {
        let r = m0 + lid.y * RT + ii;
        for (var jj = 0u; jj < RT; jj++) {
            let i = n0 + lid.x * RT + jj;
            if (r < p.batch && i < p.fan_out) {
                var v = acc[ii * RT + jj];
                if (p.has_bias == 1u) {
                    v = v + b[i];
                }
                let o = r * p.fan_out + i;
                z[o] = v;
                a[o] = activate(p.activation, v, slope);
            }
        }
    }
}
