// Weight and bias gradients of one layer for a batch of B rows, tiled (gradient.wgsl's
// twin for batches):
//
//   ∂E/∂W[i, j] = (1/B) Σ_r δ[r, i] · ã_in[r, j],    ∂E/∂b[i] = (1/B) Σ_r δ[r, i]
//
// i.e. ∂E/∂W = Δᵀ Ã_in / B, a matrix product with M = fan_out, N = fan_in, K = B
// (tile.wgsl): tile_a(i, r) = δ[r, i] (Δᵀ read in place), tile_b(r, j) = ã_in[r, j], the
// input as the forward pass used it (input.wgsl: dataset rows through `order` for layer 0,
// times the dropout mask). The workgroups of the first column block also sum the bias gradient.
//
// Dispatch: (ceil(fan_in / TILE), ceil(fan_out / TILE), 1), workgroups of 16 × 16.

@group(0) @binding(0) var<storage, read> p: LayerParams;
@group(0) @binding(1) var<storage, read> delta: array<real>;
@group(0) @binding(2) var<storage, read> a_in: array<InputWord>;
@group(0) @binding(3) var<storage, read> order: array<u32>;
@group(0) @binding(4) var<storage, read> state: SubmissionState;
@group(0) @binding(5) var<storage, read_write> gw: array<real>;
@group(0) @binding(6) var<storage, read_write> gb: array<real>;
@group(0) @binding(7) var<storage, read> scal: Scalars;

fn tile_a(i: u32, r: u32) -> real {
    return delta[r * p.fan_out + i];
}

fn tile_b(r: u32, j: u32) -> real {
    return input_at(r, j);
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let m0 = wg.y * TILE;
    let n0 = wg.x * TILE;
    let acc = gemm_block(m0, n0, lid, p.fan_out, p.fan_in, p.batch);
    let inv_b = 1.0 / real(p.batch);
    for (var ii = 0u; ii < RT; ii++) {
        let i = m0 + lid.y * RT + ii;
        for (var jj = 0u; jj < RT; jj++) {
            let j = n0 + lid.x * RT + jj;
            if (i < p.fan_out && j < p.fan_in) {
                gw[i * p.fan_in + j] = acc[ii * RT + jj] * inv_b;
            }
        }
        if (wg.x == 0u && lid.x == 0u && i < p.fan_out && p.has_bias == 1u) {
            var bias_sum: real = 0.0;
            for (var r = 0u; r < p.batch; r++) {
                bias_sum = bias_sum + delta[r * p.fan_out + i];
            }
            gb[i] = bias_sum * inv_b;
        }
    }
}
