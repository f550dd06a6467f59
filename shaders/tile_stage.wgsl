// tile.wgsl's staging, element by element (`Product::Workgroup`): TILE_TK = 256 RT
// elements of each slice, RT per invocation, consecutive invocations on consecutive k of
// A's row and consecutive n of B's row k.
//
//   sa[m · TK + k] = A[m0 + m, k0 + k],   sb[k · TILE + n] = B[k0 + k, n0 + n]   (0 outside)
fn tile_stage(m0: u32, n0: u32, k0: u32, tid: u32, shape: vec3<u32>) {
    for (var e = 0u; e < RT; e++) {
        let idx = tid + e * 256u;
        let am = m0 + idx / TK;
        let ak = k0 + idx % TK;
        var va: real = 0.0;
        if (am < shape.x && ak < shape.z) {
            va = tile_a(tile_a_row(am), am, ak);
        }
        sa[idx] = va;
        let bk = k0 + idx / TILE;
        let bn = n0 + idx % TILE;
        var vb: real = 0.0;
        if (bk < shape.z && bn < shape.y) {
            vb = tile_b(tile_b_row(bk), tile_b_col(bn), bk, bn);
        }
        sb[idx] = vb;
    }
}
