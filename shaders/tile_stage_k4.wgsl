// tile.wgsl's staging in four-wide runs for the forward product (`Product::WorkgroupVec4`;
// A = W and B = Ãᵀ both run along k in memory, K % 4 = 0: forward_tiled_vec4.wgsl's
// tile_a_k4, tile_b_k4). Each slice is TILE · TK / 4 runs of four k: invocation t takes
// run t (and t + 256, … while there are runs): row (or column) t / 4, k-run t % 4, so four
// consecutive invocations read one row's 64 contiguous bytes. A's runs are stored as they
// lie, B's transposed on store (k is the slice's row):
//
//   sa[m · TK + k + c] = A[m0 + m, k0 + k + c],   sb[(k + c) · TILE + n] = B[k0 + k + c, n0 + n]
fn tile_stage(m0: u32, n0: u32, k0: u32, tid: u32, shape: vec3<u32>) {
    for (var t = tid; t < TILE * (TK / 4u); t += 256u) {
        let e = t / (TK / 4u);
        let k = (t % (TK / 4u)) * 4u;
        let ak = k0 + k;
        let am = m0 + e;
        var va = vec4<real>(0.0);
        if (am < shape.x && ak < shape.z) {
            va = tile_a_k4(tile_a_row(am), am, ak);
        }
        let sa0 = e * TK + k;
        sa[sa0] = va.x;
        sa[sa0 + 1u] = va.y;
        sa[sa0 + 2u] = va.z;
        sa[sa0 + 3u] = va.w;
        let bn = n0 + e;
        var vb = vec4<real>(0.0);
        if (bn < shape.y && ak < shape.z) {
            vb = tile_b_k4(tile_b_col(bn), bn, ak);
        }
        sb[k * TILE + e] = vb.x;
        sb[(k + 1u) * TILE + e] = vb.y;
        sb[(k + 2u) * TILE + e] = vb.z;
        sb[(k + 3u) * TILE + e] = vb.w;
    }
}
