// Matrix product sharing operands through subgroup broadcasts, for the product passes
// (`Product::Subgroup` in src/gpu/shaders.rs, only on adapters with SUBGROUP whose
// subgroups have exactly 8 invocations — lavapipe, Intel's SIMD8; tile.wgsl states the
// pass interface):
//
//   C[m, n] = Σ_k A[m, k] · B[k, n]
//
// A workgroup is one subgroup of 8 invocations and computes an (8·RA) × 32 block of C, RA =
// 2, 4 or 8 (a constant of the variant). For each k, lane ℓ loads RA elements of A (rows
// m0 + 8q + ℓ, q < RA) and four of B (columns n0 + ℓ + 8j, j < 4: consecutive lanes,
// consecutive addresses); the subgroup then hands every lane all 8·RA rows' A elements by
// broadcast, and each lane does 8·RA × 4 multiply-adds on its four columns: 6 loads per 64
// multiply-adds with RA = 2 (register-4x4: 8 per 16), 8 per 128 with RA = 4, 12 per 256
// with RA = 8, and no workgroup memory and no barrier. On lavapipe, where each storage
// load is a loop over the subgroup's lanes with a bounds check per lane, a broadcast is
// one extract. The accumulators are 8·RA·4 values per lane (128 at RA = 8): registers
// spill to the stack there, which is still cheaper than a load.
//
// Written out for 8 lanes, with vector accumulators and no private arrays: WGSL's
// broadcast takes a constant lane, and an array indexed in a loop the compiler does not
// unroll (a loop around the inlined element loads is too large for some) lives in scratch
// memory, each access again a loop over the lanes.
//
// The block's edges and epilogue (sg_row, sg_col, sg_store_block, sg_rows_done) are
// product_lanes8.wgsl's, appended.
//
// Dispatch: (ceil(N / 32), ceil(M / (8·RA)), 1), workgroups of 8.

fn sg_a(h: u32, m: u32, k: u32, rows: u32) -> real {
    if (m < rows) {
        return tile_a(h, m, k);
    }
    return 0.0;
}

fn sg_b(hk: u32, hn: u32, k: u32, n: u32, cols: u32) -> real {
    if (n < cols) {
        return tile_b(hk, hn, k, n);
    }
    return 0.0;
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    tile_setup();
    let shape = tile_shape();
    let m0 = wg.y * 8u * RA;
    let n = wg.x * 32u + lane;
    var c0 = vec4<real>(0.0);
    var c1 = vec4<real>(0.0);
    var c2 = vec4<real>(0.0);
    var c3 = vec4<real>(0.0);
    var c4 = vec4<real>(0.0);
    var c5 = vec4<real>(0.0);
    var c6 = vec4<real>(0.0);
    var c7 = vec4<real>(0.0);
    var c8 = vec4<real>(0.0);
    var c9 = vec4<real>(0.0);
    var c10 = vec4<real>(0.0);
    var c11 = vec4<real>(0.0);
    var c12 = vec4<real>(0.0);
    var c13 = vec4<real>(0.0);
    var c14 = vec4<real>(0.0);
    var c15 = vec4<real>(0.0);
    var c16 = vec4<real>(0.0);
    var c17 = vec4<real>(0.0);
    var c18 = vec4<real>(0.0);
    var c19 = vec4<real>(0.0);
    var c20 = vec4<real>(0.0);
    var c21 = vec4<real>(0.0);
    var c22 = vec4<real>(0.0);
    var c23 = vec4<real>(0.0);
    var c24 = vec4<real>(0.0);
    var c25 = vec4<real>(0.0);
    var c26 = vec4<real>(0.0);
    var c27 = vec4<real>(0.0);
    var c28 = vec4<real>(0.0);
    var c29 = vec4<real>(0.0);
    var c30 = vec4<real>(0.0);
    var c31 = vec4<real>(0.0);
    var c32 = vec4<real>(0.0);
    var c33 = vec4<real>(0.0);
    var c34 = vec4<real>(0.0);
    var c35 = vec4<real>(0.0);
    var c36 = vec4<real>(0.0);
    var c37 = vec4<real>(0.0);
    var c38 = vec4<real>(0.0);
    var c39 = vec4<real>(0.0);
    var c40 = vec4<real>(0.0);
    var c41 = vec4<real>(0.0);
    var c42 = vec4<real>(0.0);
    var c43 = vec4<real>(0.0);
    var c44 = vec4<real>(0.0);
    var c45 = vec4<real>(0.0);
    var c46 = vec4<real>(0.0);
    var c47 = vec4<real>(0.0);
    var c48 = vec4<real>(0.0);
    var c49 = vec4<real>(0.0);
    var c50 = vec4<real>(0.0);
    var c51 = vec4<real>(0.0);
    var c52 = vec4<real>(0.0);
    var c53 = vec4<real>(0.0);
    var c54 = vec4<real>(0.0);
    var c55 = vec4<real>(0.0);
    var c56 = vec4<real>(0.0);
    var c57 = vec4<real>(0.0);
    var c58 = vec4<real>(0.0);
    var c59 = vec4<real>(0.0);
    var c60 = vec4<real>(0.0);
    var c61 = vec4<real>(0.0);
    var c62 = vec4<real>(0.0);
    var c63 = vec4<real>(0.0);
    // Row groups g ≥ 2 exist only for RA > g (the constant conditions fold).
    let g0 = sg_col(n, shape.y);
    let g1 = sg_col(n + 8u, shape.y);
    let g2 = sg_col(n + 16u, shape.y);
    let g3 = sg_col(n + 24u, shape.y);
    let h0 = sg_row(m0 + lane, shape.x);
    let h1 = sg_row(m0 + 8u + lane, shape.x);
    var h2 = 0u;
    var h3 = 0u;
    var h4 = 0u;
    var h5 = 0u;
    var h6 = 0u;
    var h7 = 0u;
    if (RA > 2u) {
        h2 = sg_row(m0 + 16u + lane, shape.x);
    }
    if (RA > 3u) {
        h3 = sg_row(m0 + 24u + lane, shape.x);
    }
    if (RA > 4u) {
        h4 = sg_row(m0 + 32u + lane, shape.x);
    }
    if (RA > 5u) {
        h5 = sg_row(m0 + 40u + lane, shape.x);
    }
    if (RA > 6u) {
        h6 = sg_row(m0 + 48u + lane, shape.x);
    }
    if (RA > 7u) {
        h7 = sg_row(m0 + 56u + lane, shape.x);
    }
    for (var k = 0u; k < shape.z; k++) {
        let hb = tile_b_row(k);
        let b = vec4<real>(
            sg_b(hb, g0, k, n, shape.y),
            sg_b(hb, g1, k, n + 8u, shape.y),
            sg_b(hb, g2, k, n + 16u, shape.y),
            sg_b(hb, g3, k, n + 24u, shape.y)
        );
        let a0 = sg_a(h0, m0 + 0u + lane, k, shape.x);
        c0 = c0 + subgroupBroadcast(a0, 0u) * b;
        c1 = c1 + subgroupBroadcast(a0, 1u) * b;
        c2 = c2 + subgroupBroadcast(a0, 2u) * b;
        c3 = c3 + subgroupBroadcast(a0, 3u) * b;
        c4 = c4 + subgroupBroadcast(a0, 4u) * b;
        c5 = c5 + subgroupBroadcast(a0, 5u) * b;
        c6 = c6 + subgroupBroadcast(a0, 6u) * b;
        c7 = c7 + subgroupBroadcast(a0, 7u) * b;
        let a1 = sg_a(h1, m0 + 8u + lane, k, shape.x);
        c8 = c8 + subgroupBroadcast(a1, 0u) * b;
        c9 = c9 + subgroupBroadcast(a1, 1u) * b;
        c10 = c10 + subgroupBroadcast(a1, 2u) * b;
        c11 = c11 + subgroupBroadcast(a1, 3u) * b;
        c12 = c12 + subgroupBroadcast(a1, 4u) * b;
        c13 = c13 + subgroupBroadcast(a1, 5u) * b;
        c14 = c14 + subgroupBroadcast(a1, 6u) * b;
        c15 = c15 + subgroupBroadcast(a1, 7u) * b;
        if (RA > 2u) {
            let a2 = sg_a(h2, m0 + 16u + lane, k, shape.x);
            c16 = c16 + subgroupBroadcast(a2, 0u) * b;
            c17 = c17 + subgroupBroadcast(a2, 1u) * b;
            c18 = c18 + subgroupBroadcast(a2, 2u) * b;
            c19 = c19 + subgroupBroadcast(a2, 3u) * b;
            c20 = c20 + subgroupBroadcast(a2, 4u) * b;
            c21 = c21 + subgroupBroadcast(a2, 5u) * b;
            c22 = c22 + subgroupBroadcast(a2, 6u) * b;
            c23 = c23 + subgroupBroadcast(a2, 7u) * b;
        }
        if (RA > 3u) {
            let a3 = sg_a(h3, m0 + 24u + lane, k, shape.x);
            c24 = c24 + subgroupBroadcast(a3, 0u) * b;
            c25 = c25 + subgroupBroadcast(a3, 1u) * b;
            c26 = c26 + subgroupBroadcast(a3, 2u) * b;
            c27 = c27 + subgroupBroadcast(a3, 3u) * b;
            c28 = c28 + subgroupBroadcast(a3, 4u) * b;
            c29 = c29 + subgroupBroadcast(a3, 5u) * b;
            c30 = c30 + subgroupBroadcast(a3, 6u) * b;
            c31 = c31 + subgroupBroadcast(a3, 7u) * b;
        }
        if (RA > 4u) {
            let a4 = sg_a(h4, m0 + 32u + lane, k, shape.x);
            c32 = c32 + subgroupBroadcast(a4, 0u) * b;
            c33 = c33 + subgroupBroadcast(a4, 1u) * b;
            c34 = c34 + subgroupBroadcast(a4, 2u) * b;
            c35 = c35 + subgroupBroadcast(a4, 3u) * b;
            c36 = c36 + subgroupBroadcast(a4, 4u) * b;
            c37 = c37 + subgroupBroadcast(a4, 5u) * b;
            c38 = c38 + subgroupBroadcast(a4, 6u) * b;
            c39 = c39 + subgroupBroadcast(a4, 7u) * b;
        }
        if (RA > 5u) {
            let a5 = sg_a(h5, m0 + 40u + lane, k, shape.x);
            c40 = c40 + subgroupBroadcast(a5, 0u) * b;
            c41 = c41 + subgroupBroadcast(a5, 1u) * b;
            c42 = c42 + subgroupBroadcast(a5, 2u) * b;
            c43 = c43 + subgroupBroadcast(a5, 3u) * b;
            c44 = c44 + subgroupBroadcast(a5, 4u) * b;
            c45 = c45 + subgroupBroadcast(a5, 5u) * b;
            c46 = c46 + subgroupBroadcast(a5, 6u) * b;
            c47 = c47 + subgroupBroadcast(a5, 7u) * b;
        }
        if (RA > 6u) {
            let a6 = sg_a(h6, m0 + 48u + lane, k, shape.x);
            c48 = c48 + subgroupBroadcast(a6, 0u) * b;
            c49 = c49 + subgroupBroadcast(a6, 1u) * b;
            c50 = c50 + subgroupBroadcast(a6, 2u) * b;
            c51 = c51 + subgroupBroadcast(a6, 3u) * b;
            c52 = c52 + subgroupBroadcast(a6, 4u) * b;
            c53 = c53 + subgroupBroadcast(a6, 5u) * b;
            c54 = c54 + subgroupBroadcast(a6, 6u) * b;
            c55 = c55 + subgroupBroadcast(a6, 7u) * b;
        }
        if (RA > 7u) {
            let a7 = sg_a(h7, m0 + 56u + lane, k, shape.x);
            c56 = c56 + subgroupBroadcast(a7, 0u) * b;
            c57 = c57 + subgroupBroadcast(a7, 1u) * b;
            c58 = c58 + subgroupBroadcast(a7, 2u) * b;
            c59 = c59 + subgroupBroadcast(a7, 3u) * b;
            c60 = c60 + subgroupBroadcast(a7, 4u) * b;
            c61 = c61 + subgroupBroadcast(a7, 5u) * b;
            c62 = c62 + subgroupBroadcast(a7, 6u) * b;
            c63 = c63 + subgroupBroadcast(a7, 7u) * b;
        }
    }
    sg_store_block(m0, n, shape,
        c0, c1, c2, c3, c4, c5, c6, c7,
        c8, c9, c10, c11, c12, c13, c14, c15,
        c16, c17, c18, c19, c20, c21, c22, c23,
        c24, c25, c26, c27, c28, c29, c30, c31,
        c32, c33, c34, c35, c36, c37, c38, c39,
        c40, c41, c42, c43, c44, c45, c46, c47,
        c48, c49, c50, c51, c52, c53, c54, c55,
        c56, c57, c58, c59, c60, c61, c62, c63);
    sg_rows_done(wg.x, m0, lane, shape);
}
