// Hidden delta of layer l for a batch, tiled (hidden_delta.wgsl's twin for batches):
//
//   δ_l[r, j] = (Σ_i δ_{l+1}[r, i] · W_{l+1}[i, j]) · m[r, j] · f'(z_l[r, j])
//
// i.e. Δ_l = (Δ_{l+1} W_{l+1}) ⊙ M ⊙ f'(Z_l), a matrix product with M = batch,
// N = n = fan_out of l, K = m = fan_out of l + 1 (tile.wgsl): tile_a(r, i) = δ_{l+1}[r, i],
// tile_b(i, j) = W_{l+1}[i, j]. The dropout mask m of layer l + 1's input (1 without
// dropout) and f' from a_l (common.wgsl) are applied in the epilogue.
//
// Dispatch: (ceil(n / TILE), ceil(batch / TILE), 1), workgroups of 16 × 16.

@group(0) @binding(0) var<storage, read> p: LayerParams;
@group(0) @binding(1) var<storage, read> w_next: array<real>;
@group(0) @binding(2) var<storage, read> delta_next: array<real>;
@group(0) @binding(3) var<storage, read> a: array<real>;
@group(0) @binding(4) var<storage, read> scal: Scalars;
@group(0) @binding(5) var<storage, read_write> delta: array<real>;
@group(0) @binding(6) var<storage, read> state: SubmissionState;

fn tile_a(r: u32, i: u32) -> real {
    return delta_next[r * p.next_fan_out + i];
}

fn tile_b(i: u32, j: u32) -> real {
    return w_next[i * p.fan_out + j];
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let m0 = wg.y * TILE;
    let n0 = wg.x * TILE;
    let acc = gemm_block(m0, n0, lid, p.batch, p.fan_out, p.next_fan_out);
    let slope = scal.slope[p.layer];
    for (var ii = 0u; ii < RT; ii++) {
        let r = m0 + lid.y * RT + ii;
        for (var jj = 0u; jj < RT; jj++) {
            let j = n0 + lid.x * RT + jj;
            if (r < p.batch && j < p.fan_out) {
                var s = acc[ii * RT + jj];
                if (p.drop_next != 0u) {
                    let keep = dropout_keep(p.drop_next, state.first_step + state.step, p.layer + 1u, state.first_row + r, j, state.seed_lo, state.seed_hi);
                    s = select(real(0.0), scal.drop_hidden_scale * s, keep);
                }
                let o = r * p.fan_out + j;
                delta[o] = s * activate_deriv(p.activation, a[o], slope);
            }
        }
    }
}
