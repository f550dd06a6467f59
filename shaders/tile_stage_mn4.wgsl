// tile.wgsl's staging in four-wide runs for the gradient product (`Product::WorkgroupVec4`;
// A = Δᵀ runs along m and B = Ã_in along n in memory, M % 4 = N % 4 = 0:
// gradient_tiled_vec4.wgsl's tile_a_m4, tile_b_n4). Each slice is TK · TILE / 4 runs of
// four: invocation t takes run t (and t + 256, … while there are runs): k = t / (TILE / 4),
// run t % (TILE / 4), so consecutive invocations read consecutive 16 bytes of one row of δ
// or of the input. B's runs are stored as they lie, A's transposed on store (k is the
// slice's column):
//
//   sa[(m + c) · TK + k] = A[m0 + m + c, k0 + k],   sb[k · TILE + n + c] = B[k0 + k, n0 + n + c]
fn tile_stage(m0: u32, n0: u32, k0: u32, tid: u32, shape: vec3<u32>) {
    for (var t = tid; t < TK * (TILE / 4u); t += 256u) {
        let k = t / (TILE / 4u);
        let e = (t % (TILE / 4u)) * 4u;
        let ak = k0 + k;
        var va = vec4<real>(0.0);
        if (ak < shape.z && m0 + e < shape.x) {
            va = tile_a_m4(m0 + e, ak);
        }
        sa[e * TK + k] = va.x;
        sa[(e + 1u) * TK + k] = va.y;
        sa[(e + 2u) * TK + k] = va.z;
        sa[(e + 3u) * TK + k] = va.w;
        var vb = vec4<real>(0.0);
        if (ak < shape.z && n0 + e < shape.y) {
            vb = tile_b_n4(tile_b_row(ak), ak, n0 + e);
        }
        let sb0 = k * TILE + e;
        sb[sb0] = vb.x;
        sb[sb0 + 1u] = vb.y;
        sb[sb0 + 2u] = vb.z;
        sb[sb0 + 3u] = vb.w;
    }
}
