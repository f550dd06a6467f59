// Matrix product with four-wide loads along k, sharing A through subgroup broadcasts, for
// the product passes whose operands both run along k in memory (forward_tiled.wgsl:
// A = W, B = Ãᵀ, rows 16-byte aligned: K = fan_in a multiple of 4). The
// `Product::Vec4` variant (src/gpu/shaders.rs), only on adapters with SUBGROUP whose
// subgroups have exactly 8 invocations; tile.wgsl states the pass interface, and the
// pass's *_vec4.wgsl adds the four-wide loads:
//
//   C[m, n] = Σ_k A[m, k] · B[k, n]
//   tile_a_k4(h, m, k) = (A[m, k], A[m, k+1], A[m, k+2], A[m, k+3]),   k % 4 = 0
//   tile_b_k4(h, n, k) = (B[k, n], B[k+1, n], B[k+2, n], B[k+3, n])
//
// As product_subgroup.wgsl, a workgroup is one subgroup of 8 lanes computing an (8·RA) × 32
// block of C (lane ℓ: columns n0 + ℓ + 8j, j < 4), but k advances four at a time: lane ℓ
// loads RA four-wide runs of A (rows m0 + 8q + ℓ) and four of B (its columns), 3 loads per
// k at RA = 8 instead of 12 (on lavapipe each load is a loop over the 8 lanes, whatever its
// width; on GPUs a 16-byte load per lane). Each lane's A run is broadcast to the subgroup,
// and every accumulator then takes its four terms k, k+1, k+2, k+3 in that order, so each
// output is the same sum in the same order as in every other variant (same bits).
//
// The block's edges and epilogue (sg_row, sg_col, sg_store_block, sg_rows_done) are
// product_subgroup.wgsl's, in product_lanes8.wgsl, appended.
//
// Dispatch: (ceil(N / 32), ceil(M / (8·RA)), 1), workgroups of 8; K % 4 = 0 (the host
// runs the subgroup kernel instead otherwise).

// The four B rows k..k+3 of this lane's four columns, as one vec4 per k (set per k step).
var<private> kb0: vec4<real>;
var<private> kb1: vec4<real>;
var<private> kb2: vec4<real>;
var<private> kb3: vec4<real>;

// Accumulator c of one output row and the lane's four columns, after the terms k..k+3 of
// the row's A run t: ((c + t₀ b_k) + t₁ b_{k+1}) + … in order.
fn kv_terms(c: vec4<real>, t: vec4<real>) -> vec4<real> {
    return (((c + t.x * kb0) + t.y * kb1) + t.z * kb2) + t.w * kb3;
}

fn kv_a(h: u32, m: u32, k: u32, rows: u32) -> vec4<real> {
    if (m < rows) {
        return tile_a_k4(h, m, k);
    }
    return vec4<real>(0.0);
}

fn kv_b(h: u32, n: u32, k: u32, cols: u32) -> vec4<real> {
    if (n < cols) {
        return tile_b_k4(h, n, k);
    }
    return vec4<real>(0.0);
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
    // Row groups q ≥ 2 exist only for RA > q (the constant conditions fold).
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
    for (var k = 0u; k < shape.z; k += 4u) {
        let b0 = kv_b(g0, n, k, shape.y);
        let b1 = kv_b(g1, n + 8u, k, shape.y);
        let b2 = kv_b(g2, n + 16u, k, shape.y);
        let b3 = kv_b(g3, n + 24u, k, shape.y);
        kb0 = vec4<real>(b0.x, b1.x, b2.x, b3.x);
        kb1 = vec4<real>(b0.y, b1.y, b2.y, b3.y);
        kb2 = vec4<real>(b0.z, b1.z, b2.z, b3.z);
        kb3 = vec4<real>(b0.w, b1.w, b2.w, b3.w);
        let a0 = kv_a(h0, m0 + 0u + lane, k, shape.x);
        c0 = kv_terms(c0, subgroupBroadcast(a0, 0u));
        c1 = kv_terms(c1, subgroupBroadcast(a0, 1u));
        c2 = kv_terms(c2, subgroupBroadcast(a0, 2u));
        c3 = kv_terms(c3, subgroupBroadcast(a0, 3u));
        c4 = kv_terms(c4, subgroupBroadcast(a0, 4u));
        c5 = kv_terms(c5, subgroupBroadcast(a0, 5u));
        c6 = kv_terms(c6, subgroupBroadcast(a0, 6u));
        c7 = kv_terms(c7, subgroupBroadcast(a0, 7u));
        let a1 = kv_a(h1, m0 + 8u + lane, k, shape.x);
        c8 = kv_terms(c8, subgroupBroadcast(a1, 0u));
        c9 = kv_terms(c9, subgroupBroadcast(a1, 1u));
        c10 = kv_terms(c10, subgroupBroadcast(a1, 2u));
        c11 = kv_terms(c11, subgroupBroadcast(a1, 3u));
        c12 = kv_terms(c12, subgroupBroadcast(a1, 4u));
        c13 = kv_terms(c13, subgroupBroadcast(a1, 5u));
        c14 = kv_terms(c14, subgroupBroadcast(a1, 6u));
        c15 = kv_terms(c15, subgroupBroadcast(a1, 7u));
        if (RA > 2u) {
            let a2 = kv_a(h2, m0 + 16u + lane, k, shape.x);
            c16 = kv_terms(c16, subgroupBroadcast(a2, 0u));
            c17 = kv_terms(c17, subgroupBroadcast(a2, 1u));
            c18 = kv_terms(c18, subgroupBroadcast(a2, 2u));
            c19 = kv_terms(c19, subgroupBroadcast(a2, 3u));
            c20 = kv_terms(c20, subgroupBroadcast(a2, 4u));
            c21 = kv_terms(c21, subgroupBroadcast(a2, 5u));
            c22 = kv_terms(c22, subgroupBroadcast(a2, 6u));
            c23 = kv_terms(c23, subgroupBroadcast(a2, 7u));
        }
        if (RA > 3u) {
            let a3 = kv_a(h3, m0 + 24u + lane, k, shape.x);
            c24 = kv_terms(c24, subgroupBroadcast(a3, 0u));
            c25 = kv_terms(c25, subgroupBroadcast(a3, 1u));
            c26 = kv_terms(c26, subgroupBroadcast(a3, 2u));
            c27 = kv_terms(c27, subgroupBroadcast(a3, 3u));
            c28 = kv_terms(c28, subgroupBroadcast(a3, 4u));
            c29 = kv_terms(c29, subgroupBroadcast(a3, 5u));
            c30 = kv_terms(c30, subgroupBroadcast(a3, 6u));
            c31 = kv_terms(c31, subgroupBroadcast(a3, 7u));
        }
        if (RA > 4u) {
            let a4 = kv_a(h4, m0 + 32u + lane, k, shape.x);
            c32 = kv_terms(c32, subgroupBroadcast(a4, 0u));
            c33 = kv_terms(c33, subgroupBroadcast(a4, 1u));
            c34 = kv_terms(c34, subgroupBroadcast(a4, 2u));
            c35 = kv_terms(c35, subgroupBroadcast(a4, 3u));
            c36 = kv_terms(c36, subgroupBroadcast(a4, 4u));
            c37 = kv_terms(c37, subgroupBroadcast(a4, 5u));
            c38 = kv_terms(c38, subgroupBroadcast(a4, 6u));
            c39 = kv_terms(c39, subgroupBroadcast(a4, 7u));
        }
        if (RA > 5u) {
            let a5 = kv_a(h5, m0 + 40u + lane, k, shape.x);
            c40 = kv_terms(c40, subgroupBroadcast(a5, 0u));
            c41 = kv_terms(c41, subgroupBroadcast(a5, 1u));
            c42 = kv_terms(c42, subgroupBroadcast(a5, 2u));
            c43 = kv_terms(c43, subgroupBroadcast(a5, 3u));
            c44 = kv_terms(c44, subgroupBroadcast(a5, 4u));
            c45 = kv_terms(c45, subgroupBroadcast(a5, 5u));
            c46 = kv_terms(c46, subgroupBroadcast(a5, 6u));
            c47 = kv_terms(c47, subgroupBroadcast(a5, 7u));
        }
        if (RA > 6u) {
            let a6 = kv_a(h6, m0 + 48u + lane, k, shape.x);
            c48 = kv_terms(c48, subgroupBroadcast(a6, 0u));
            c49 = kv_terms(c49, subgroupBroadcast(a6, 1u));
            c50 = kv_terms(c50, subgroupBroadcast(a6, 2u));
            c51 = kv_terms(c51, subgroupBroadcast(a6, 3u));
            c52 = kv_terms(c52, subgroupBroadcast(a6, 4u));
            c53 = kv_terms(c53, subgroupBroadcast(a6, 5u));
            c54 = kv_terms(c54, subgroupBroadcast(a6, 6u));
            c55 = kv_terms(c55, subgroupBroadcast(a6, 7u));
        }
        if (RA > 7u) {
            let a7 = kv_a(h7, m0 + 56u + lane, k, shape.x);
            c56 = kv_terms(c56, subgroupBroadcast(a7, 0u));
            c57 = kv_terms(c57, subgroupBroadcast(a7, 1u));
            c58 = kv_terms(c58, subgroupBroadcast(a7, 2u));
            c59 = kv_terms(c59, subgroupBroadcast(a7, 3u));
            c60 = kv_terms(c60, subgroupBroadcast(a7, 4u));
            c61 = kv_terms(c61, subgroupBroadcast(a7, 5u));
            c62 = kv_terms(c62, subgroupBroadcast(a7, 6u));
            c63 = kv_terms(c63, subgroupBroadcast(a7, 7u));
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
