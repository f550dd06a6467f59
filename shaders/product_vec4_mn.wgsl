// Matrix product with four-wide loads along m and n, sharing A through subgroup
// broadcasts, for the product passes whose A runs along m and B along n in memory
// (gradient_tiled.wgsl: A = Δᵀ read in place, B = Ã_in, M = fan_out and N = fan_in
// multiples of 4). The `Product::Vec4` variant (src/gpu/shaders.rs), only on adapters
// with SUBGROUP whose subgroups have exactly 8 invocations; tile.wgsl states the pass
// interface, and the pass's *_vec4.wgsl adds the four-wide loads:
//
//   C[m, n] = Σ_k A[m, k] · B[k, n]
//   tile_a_m4(m, k) = (A[m, k], A[m+1, k], A[m+2, k], A[m+3, k]),      m % 4 = 0
//   tile_b_n4(h, k, n) = (B[k, n], B[k, n+1], B[k, n+2], B[k, n+3]),   n % 4 = 0
//
// A workgroup is one subgroup of 8 lanes computing an (8·RA) × 32 block of C, RA = 4 or 8:
// lane ℓ owns the four consecutive columns n0 + 4ℓ .. n0 + 4ℓ + 3. For each k it loads
// them as one run of B and the rows m0 + 4ℓ .. + 3 of A (and m0 + 32 + 4ℓ .. + 3 at RA = 8)
// as runs of A: 2 or 3 loads per k instead of 8 or 12 in product_subgroup.wgsl (on lavapipe
// each load is a loop over the 8 lanes, whatever its width; on GPUs a 16-byte load per
// lane, consecutive lanes on consecutive addresses). Each lane's A run is broadcast to the
// subgroup, and every output takes its terms in the order k = 0, 1, …, K − 1, the same sum
// as in every other variant (same bits).
//
// k advances four at a time where it can (each accumulator then takes four terms, in
// order, while it is in a register: lavapipe keeps the 64 accumulators on the stack),
// then one at a time for the last K % 4.
//
// Dispatch: (ceil(N / 32), ceil(M / (8·RA)), 1), workgroups of 8; M % 4 = N % 4 = 0 (the
// host runs the subgroup kernel instead otherwise).

// B's runs at k, k+1, k+2, k+3 for this lane's four columns (set per four k).
var<private> mb0: vec4<real>;
var<private> mb1: vec4<real>;
var<private> mb2: vec4<real>;
var<private> mb3: vec4<real>;

// Accumulator c of one output row and the lane's four columns after the terms k..k+3,
// t = the row's A at k..k+3: ((c + t₀ b_k) + t₁ b_{k+1}) + … in order.
fn mv_terms(c: vec4<real>, t: vec4<real>) -> vec4<real> {
    return (((c + t.x * mb0) + t.y * mb1) + t.z * mb2) + t.w * mb3;
}

fn mv_a(m: u32, k: u32, rows: u32) -> vec4<real> {
    if (m < rows) {
        return tile_a_m4(m, k);
    }
    return vec4<real>(0.0);
}

fn mv_b(h: u32, k: u32, n: u32, cols: u32) -> vec4<real> {
    if (n < cols) {
        return tile_b_n4(h, k, n);
    }
    return vec4<real>(0.0);
}

// Row m, columns n .. n + 3, those in range (N % 4 = 0: all four or none), as one
// four-wide store (the pass's tile_store4: tile_store's epilogue for four outputs).
fn mv_store(m: u32, n: u32, shape: vec3<u32>, v: vec4<real>) {
    if (m < shape.x && n < shape.y) {
        tile_store4(m, n, v);
    }
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    tile_setup();
    let shape = tile_shape();
    let m0 = wg.y * 8u * RA;
    let n = wg.x * 32u + 4u * lane;
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
    // k four at a time: each accumulator takes its four terms in order at once.
    let k4 = shape.z & ~3u;
    for (var k = 0u; k < k4; k += 4u) {
        mb0 = mv_b(tile_b_row(k), k, n, shape.y);
        mb1 = mv_b(tile_b_row(k + 1u), k + 1u, n, shape.y);
        mb2 = mv_b(tile_b_row(k + 2u), k + 2u, n, shape.y);
        mb3 = mv_b(tile_b_row(k + 3u), k + 3u, n, shape.y);
        let lo0 = mv_a(m0 + 0u + 4u * lane, k, shape.x);
        let lo1 = mv_a(m0 + 0u + 4u * lane, k + 1u, shape.x);
        let lo2 = mv_a(m0 + 0u + 4u * lane, k + 2u, shape.x);
        let lo3 = mv_a(m0 + 0u + 4u * lane, k + 3u, shape.x);
        let lo0_0 = subgroupBroadcast(lo0, 0u);
        let lo0_1 = subgroupBroadcast(lo1, 0u);
        let lo0_2 = subgroupBroadcast(lo2, 0u);
        let lo0_3 = subgroupBroadcast(lo3, 0u);
        c0 = mv_terms(c0, vec4<real>(lo0_0.x, lo0_1.x, lo0_2.x, lo0_3.x));
        c1 = mv_terms(c1, vec4<real>(lo0_0.y, lo0_1.y, lo0_2.y, lo0_3.y));
        c2 = mv_terms(c2, vec4<real>(lo0_0.z, lo0_1.z, lo0_2.z, lo0_3.z));
        c3 = mv_terms(c3, vec4<real>(lo0_0.w, lo0_1.w, lo0_2.w, lo0_3.w));
        let lo1_0 = subgroupBroadcast(lo0, 1u);
        let lo1_1 = subgroupBroadcast(lo1, 1u);
        let lo1_2 = subgroupBroadcast(lo2, 1u);
        let lo1_3 = subgroupBroadcast(lo3, 1u);
        c4 = mv_terms(c4, vec4<real>(lo1_0.x, lo1_1.x, lo1_2.x, lo1_3.x));
        c5 = mv_terms(c5, vec4<real>(lo1_0.y, lo1_1.y, lo1_2.y, lo1_3.y));
        c6 = mv_terms(c6, vec4<real>(lo1_0.z, lo1_1.z, lo1_2.z, lo1_3.z));
        c7 = mv_terms(c7, vec4<real>(lo1_0.w, lo1_1.w, lo1_2.w, lo1_3.w));
        let lo2_0 = subgroupBroadcast(lo0, 2u);
        let lo2_1 = subgroupBroadcast(lo1, 2u);
        let lo2_2 = subgroupBroadcast(lo2, 2u);
        let lo2_3 = subgroupBroadcast(lo3, 2u);
        c8 = mv_terms(c8, vec4<real>(lo2_0.x, lo2_1.x, lo2_2.x, lo2_3.x));
        c9 = mv_terms(c9, vec4<real>(lo2_0.y, lo2_1.y, lo2_2.y, lo2_3.y));
        c10 = mv_terms(c10, vec4<real>(lo2_0.z, lo2_1.z, lo2_2.z, lo2_3.z));
        c11 = mv_terms(c11, vec4<real>(lo2_0.w, lo2_1.w, lo2_2.w, lo2_3.w));
        let lo3_0 = subgroupBroadcast(lo0, 3u);
        let lo3_1 = subgroupBroadcast(lo1, 3u);
        let lo3_2 = subgroupBroadcast(lo2, 3u);
        let lo3_3 = subgroupBroadcast(lo3, 3u);
        c12 = mv_terms(c12, vec4<real>(lo3_0.x, lo3_1.x, lo3_2.x, lo3_3.x));
        c13 = mv_terms(c13, vec4<real>(lo3_0.y, lo3_1.y, lo3_2.y, lo3_3.y));
        c14 = mv_terms(c14, vec4<real>(lo3_0.z, lo3_1.z, lo3_2.z, lo3_3.z));
        c15 = mv_terms(c15, vec4<real>(lo3_0.w, lo3_1.w, lo3_2.w, lo3_3.w));
        let lo4_0 = subgroupBroadcast(lo0, 4u);
        let lo4_1 = subgroupBroadcast(lo1, 4u);
        let lo4_2 = subgroupBroadcast(lo2, 4u);
        let lo4_3 = subgroupBroadcast(lo3, 4u);
        c16 = mv_terms(c16, vec4<real>(lo4_0.x, lo4_1.x, lo4_2.x, lo4_3.x));
        c17 = mv_terms(c17, vec4<real>(lo4_0.y, lo4_1.y, lo4_2.y, lo4_3.y));
        c18 = mv_terms(c18, vec4<real>(lo4_0.z, lo4_1.z, lo4_2.z, lo4_3.z));
        c19 = mv_terms(c19, vec4<real>(lo4_0.w, lo4_1.w, lo4_2.w, lo4_3.w));
        let lo5_0 = subgroupBroadcast(lo0, 5u);
        let lo5_1 = subgroupBroadcast(lo1, 5u);
        let lo5_2 = subgroupBroadcast(lo2, 5u);
        let lo5_3 = subgroupBroadcast(lo3, 5u);
        c20 = mv_terms(c20, vec4<real>(lo5_0.x, lo5_1.x, lo5_2.x, lo5_3.x));
        c21 = mv_terms(c21, vec4<real>(lo5_0.y, lo5_1.y, lo5_2.y, lo5_3.y));
        c22 = mv_terms(c22, vec4<real>(lo5_0.z, lo5_1.z, lo5_2.z, lo5_3.z));
        c23 = mv_terms(c23, vec4<real>(lo5_0.w, lo5_1.w, lo5_2.w, lo5_3.w));
        let lo6_0 = subgroupBroadcast(lo0, 6u);
        let lo6_1 = subgroupBroadcast(lo1, 6u);
        let lo6_2 = subgroupBroadcast(lo2, 6u);
        let lo6_3 = subgroupBroadcast(lo3, 6u);
        c24 = mv_terms(c24, vec4<real>(lo6_0.x, lo6_1.x, lo6_2.x, lo6_3.x));
        c25 = mv_terms(c25, vec4<real>(lo6_0.y, lo6_1.y, lo6_2.y, lo6_3.y));
        c26 = mv_terms(c26, vec4<real>(lo6_0.z, lo6_1.z, lo6_2.z, lo6_3.z));
        c27 = mv_terms(c27, vec4<real>(lo6_0.w, lo6_1.w, lo6_2.w, lo6_3.w));
        let lo7_0 = subgroupBroadcast(lo0, 7u);
        let lo7_1 = subgroupBroadcast(lo1, 7u);
        let lo7_2 = subgroupBroadcast(lo2, 7u);
        let lo7_3 = subgroupBroadcast(lo3, 7u);
        c28 = mv_terms(c28, vec4<real>(lo7_0.x, lo7_1.x, lo7_2.x, lo7_3.x));
        c29 = mv_terms(c29, vec4<real>(lo7_0.y, lo7_1.y, lo7_2.y, lo7_3.y));
        c30 = mv_terms(c30, vec4<real>(lo7_0.z, lo7_1.z, lo7_2.z, lo7_3.z));
        c31 = mv_terms(c31, vec4<real>(lo7_0.w, lo7_1.w, lo7_2.w, lo7_3.w));
        if (RA > 4u) {
            let hi0 = mv_a(m0 + 32u + 4u * lane, k, shape.x);
            let hi1 = mv_a(m0 + 32u + 4u * lane, k + 1u, shape.x);
            let hi2 = mv_a(m0 + 32u + 4u * lane, k + 2u, shape.x);
            let hi3 = mv_a(m0 + 32u + 4u * lane, k + 3u, shape.x);
            let hi0_0 = subgroupBroadcast(hi0, 0u);
            let hi0_1 = subgroupBroadcast(hi1, 0u);
            let hi0_2 = subgroupBroadcast(hi2, 0u);
            let hi0_3 = subgroupBroadcast(hi3, 0u);
            c32 = mv_terms(c32, vec4<real>(hi0_0.x, hi0_1.x, hi0_2.x, hi0_3.x));
            c33 = mv_terms(c33, vec4<real>(hi0_0.y, hi0_1.y, hi0_2.y, hi0_3.y));
            c34 = mv_terms(c34, vec4<real>(hi0_0.z, hi0_1.z, hi0_2.z, hi0_3.z));
            c35 = mv_terms(c35, vec4<real>(hi0_0.w, hi0_1.w, hi0_2.w, hi0_3.w));
            let hi1_0 = subgroupBroadcast(hi0, 1u);
            let hi1_1 = subgroupBroadcast(hi1, 1u);
            let hi1_2 = subgroupBroadcast(hi2, 1u);
            let hi1_3 = subgroupBroadcast(hi3, 1u);
            c36 = mv_terms(c36, vec4<real>(hi1_0.x, hi1_1.x, hi1_2.x, hi1_3.x));
            c37 = mv_terms(c37, vec4<real>(hi1_0.y, hi1_1.y, hi1_2.y, hi1_3.y));
            c38 = mv_terms(c38, vec4<real>(hi1_0.z, hi1_1.z, hi1_2.z, hi1_3.z));
            c39 = mv_terms(c39, vec4<real>(hi1_0.w, hi1_1.w, hi1_2.w, hi1_3.w));
            let hi2_0 = subgroupBroadcast(hi0, 2u);
            let hi2_1 = subgroupBroadcast(hi1, 2u);
            let hi2_2 = subgroupBroadcast(hi2, 2u);
            let hi2_3 = subgroupBroadcast(hi3, 2u);
            c40 = mv_terms(c40, vec4<real>(hi2_0.x, hi2_1.x, hi2_2.x, hi2_3.x));
            c41 = mv_terms(c41, vec4<real>(hi2_0.y, hi2_1.y, hi2_2.y, hi2_3.y));
            c42 = mv_terms(c42, vec4<real>(hi2_0.z, hi2_1.z, hi2_2.z, hi2_3.z));
            c43 = mv_terms(c43, vec4<real>(hi2_0.w, hi2_1.w, hi2_2.w, hi2_3.w));
            let hi3_0 = subgroupBroadcast(hi0, 3u);
            let hi3_1 = subgroupBroadcast(hi1, 3u);
            let hi3_2 = subgroupBroadcast(hi2, 3u);
            let hi3_3 = subgroupBroadcast(hi3, 3u);
            c44 = mv_terms(c44, vec4<real>(hi3_0.x, hi3_1.x, hi3_2.x, hi3_3.x));
            c45 = mv_terms(c45, vec4<real>(hi3_0.y, hi3_1.y, hi3_2.y, hi3_3.y));
            c46 = mv_terms(c46, vec4<real>(hi3_0.z, hi3_1.z, hi3_2.z, hi3_3.z));
            c47 = mv_terms(c47, vec4<real>(hi3_0.w, hi3_1.w, hi3_2.w, hi3_3.w));
            let hi4_0 = subgroupBroadcast(hi0, 4u);
            let hi4_1 = subgroupBroadcast(hi1, 4u);
            let hi4_2 = subgroupBroadcast(hi2, 4u);
            let hi4_3 = subgroupBroadcast(hi3, 4u);
            c48 = mv_terms(c48, vec4<real>(hi4_0.x, hi4_1.x, hi4_2.x, hi4_3.x));
            c49 = mv_terms(c49, vec4<real>(hi4_0.y, hi4_1.y, hi4_2.y, hi4_3.y));
            c50 = mv_terms(c50, vec4<real>(hi4_0.z, hi4_1.z, hi4_2.z, hi4_3.z));
            c51 = mv_terms(c51, vec4<real>(hi4_0.w, hi4_1.w, hi4_2.w, hi4_3.w));
            let hi5_0 = subgroupBroadcast(hi0, 5u);
            let hi5_1 = subgroupBroadcast(hi1, 5u);
            let hi5_2 = subgroupBroadcast(hi2, 5u);
            let hi5_3 = subgroupBroadcast(hi3, 5u);
            c52 = mv_terms(c52, vec4<real>(hi5_0.x, hi5_1.x, hi5_2.x, hi5_3.x));
            c53 = mv_terms(c53, vec4<real>(hi5_0.y, hi5_1.y, hi5_2.y, hi5_3.y));
            c54 = mv_terms(c54, vec4<real>(hi5_0.z, hi5_1.z, hi5_2.z, hi5_3.z));
            c55 = mv_terms(c55, vec4<real>(hi5_0.w, hi5_1.w, hi5_2.w, hi5_3.w));
            let hi6_0 = subgroupBroadcast(hi0, 6u);
            let hi6_1 = subgroupBroadcast(hi1, 6u);
            let hi6_2 = subgroupBroadcast(hi2, 6u);
            let hi6_3 = subgroupBroadcast(hi3, 6u);
            c56 = mv_terms(c56, vec4<real>(hi6_0.x, hi6_1.x, hi6_2.x, hi6_3.x));
            c57 = mv_terms(c57, vec4<real>(hi6_0.y, hi6_1.y, hi6_2.y, hi6_3.y));
            c58 = mv_terms(c58, vec4<real>(hi6_0.z, hi6_1.z, hi6_2.z, hi6_3.z));
            c59 = mv_terms(c59, vec4<real>(hi6_0.w, hi6_1.w, hi6_2.w, hi6_3.w));
            let hi7_0 = subgroupBroadcast(hi0, 7u);
            let hi7_1 = subgroupBroadcast(hi1, 7u);
            let hi7_2 = subgroupBroadcast(hi2, 7u);
            let hi7_3 = subgroupBroadcast(hi3, 7u);
            c60 = mv_terms(c60, vec4<real>(hi7_0.x, hi7_1.x, hi7_2.x, hi7_3.x));
            c61 = mv_terms(c61, vec4<real>(hi7_0.y, hi7_1.y, hi7_2.y, hi7_3.y));
            c62 = mv_terms(c62, vec4<real>(hi7_0.z, hi7_1.z, hi7_2.z, hi7_3.z));
            c63 = mv_terms(c63, vec4<real>(hi7_0.w, hi7_1.w, hi7_2.w, hi7_3.w));
        }
    }
    // The last K % 4 values of k, one at a time.
    for (var k = k4; k < shape.z; k++) {
        let b = mv_b(tile_b_row(k), k, n, shape.y);
        let lo = mv_a(m0 + 0u + 4u * lane, k, shape.x);
        let tlo0 = subgroupBroadcast(lo, 0u);
        c0 = c0 + tlo0.x * b;
        c1 = c1 + tlo0.y * b;
        c2 = c2 + tlo0.z * b;
        c3 = c3 + tlo0.w * b;
        let tlo1 = subgroupBroadcast(lo, 1u);
        c4 = c4 + tlo1.x * b;
        c5 = c5 + tlo1.y * b;
        c6 = c6 + tlo1.z * b;
        c7 = c7 + tlo1.w * b;
        let tlo2 = subgroupBroadcast(lo, 2u);
        c8 = c8 + tlo2.x * b;
        c9 = c9 + tlo2.y * b;
        c10 = c10 + tlo2.z * b;
        c11 = c11 + tlo2.w * b;
        let tlo3 = subgroupBroadcast(lo, 3u);
        c12 = c12 + tlo3.x * b;
        c13 = c13 + tlo3.y * b;
        c14 = c14 + tlo3.z * b;
        c15 = c15 + tlo3.w * b;
        let tlo4 = subgroupBroadcast(lo, 4u);
        c16 = c16 + tlo4.x * b;
        c17 = c17 + tlo4.y * b;
        c18 = c18 + tlo4.z * b;
        c19 = c19 + tlo4.w * b;
        let tlo5 = subgroupBroadcast(lo, 5u);
        c20 = c20 + tlo5.x * b;
        c21 = c21 + tlo5.y * b;
        c22 = c22 + tlo5.z * b;
        c23 = c23 + tlo5.w * b;
        let tlo6 = subgroupBroadcast(lo, 6u);
        c24 = c24 + tlo6.x * b;
        c25 = c25 + tlo6.y * b;
        c26 = c26 + tlo6.z * b;
        c27 = c27 + tlo6.w * b;
        let tlo7 = subgroupBroadcast(lo, 7u);
        c28 = c28 + tlo7.x * b;
        c29 = c29 + tlo7.y * b;
        c30 = c30 + tlo7.z * b;
        c31 = c31 + tlo7.w * b;
        if (RA > 4u) {
            let hi = mv_a(m0 + 32u + 4u * lane, k, shape.x);
            let thi0 = subgroupBroadcast(hi, 0u);
            c32 = c32 + thi0.x * b;
            c33 = c33 + thi0.y * b;
            c34 = c34 + thi0.z * b;
            c35 = c35 + thi0.w * b;
            let thi1 = subgroupBroadcast(hi, 1u);
            c36 = c36 + thi1.x * b;
            c37 = c37 + thi1.y * b;
            c38 = c38 + thi1.z * b;
            c39 = c39 + thi1.w * b;
            let thi2 = subgroupBroadcast(hi, 2u);
            c40 = c40 + thi2.x * b;
            c41 = c41 + thi2.y * b;
            c42 = c42 + thi2.z * b;
            c43 = c43 + thi2.w * b;
            let thi3 = subgroupBroadcast(hi, 3u);
            c44 = c44 + thi3.x * b;
            c45 = c45 + thi3.y * b;
            c46 = c46 + thi3.z * b;
            c47 = c47 + thi3.w * b;
            let thi4 = subgroupBroadcast(hi, 4u);
            c48 = c48 + thi4.x * b;
            c49 = c49 + thi4.y * b;
            c50 = c50 + thi4.z * b;
            c51 = c51 + thi4.w * b;
            let thi5 = subgroupBroadcast(hi, 5u);
            c52 = c52 + thi5.x * b;
            c53 = c53 + thi5.y * b;
            c54 = c54 + thi5.z * b;
            c55 = c55 + thi5.w * b;
            let thi6 = subgroupBroadcast(hi, 6u);
            c56 = c56 + thi6.x * b;
            c57 = c57 + thi6.y * b;
            c58 = c58 + thi6.z * b;
            c59 = c59 + thi6.w * b;
            let thi7 = subgroupBroadcast(hi, 7u);
            c60 = c60 + thi7.x * b;
            c61 = c61 + thi7.y * b;
            c62 = c62 + thi7.z * b;
            c63 = c63 + thi7.w * b;
        }
    }
    mv_store(m0 + 0u, n, shape, c0);
    mv_store(m0 + 1u, n, shape, c1);
    mv_store(m0 + 2u, n, shape, c2);
    mv_store(m0 + 3u, n, shape, c3);
    mv_store(m0 + 4u, n, shape, c4);
    mv_store(m0 + 5u, n, shape, c5);
    mv_store(m0 + 6u, n, shape, c6);
    mv_store(m0 + 7u, n, shape, c7);
    mv_store(m0 + 8u, n, shape, c8);
    mv_store(m0 + 9u, n, shape, c9);
    mv_store(m0 + 10u, n, shape, c10);
    mv_store(m0 + 11u, n, shape, c11);
    mv_store(m0 + 12u, n, shape, c12);
    mv_store(m0 + 13u, n, shape, c13);
    mv_store(m0 + 14u, n, shape, c14);
    mv_store(m0 + 15u, n, shape, c15);
    mv_store(m0 + 16u, n, shape, c16);
    mv_store(m0 + 17u, n, shape, c17);
    mv_store(m0 + 18u, n, shape, c18);
    mv_store(m0 + 19u, n, shape, c19);
    mv_store(m0 + 20u, n, shape, c20);
    mv_store(m0 + 21u, n, shape, c21);
    mv_store(m0 + 22u, n, shape, c22);
    mv_store(m0 + 23u, n, shape, c23);
    mv_store(m0 + 24u, n, shape, c24);
    mv_store(m0 + 25u, n, shape, c25);
    mv_store(m0 + 26u, n, shape, c26);
    mv_store(m0 + 27u, n, shape, c27);
    mv_store(m0 + 28u, n, shape, c28);
    mv_store(m0 + 29u, n, shape, c29);
    mv_store(m0 + 30u, n, shape, c30);
    mv_store(m0 + 31u, n, shape, c31);
    if (RA > 4u) {
        mv_store(m0 + 32u, n, shape, c32);
        mv_store(m0 + 33u, n, shape, c33);
        mv_store(m0 + 34u, n, shape, c34);
        mv_store(m0 + 35u, n, shape, c35);
        mv_store(m0 + 36u, n, shape, c36);
        mv_store(m0 + 37u, n, shape, c37);
        mv_store(m0 + 38u, n, shape, c38);
        mv_store(m0 + 39u, n, shape, c39);
        mv_store(m0 + 40u, n, shape, c40);
        mv_store(m0 + 41u, n, shape, c41);
        mv_store(m0 + 42u, n, shape, c42);
        mv_store(m0 + 43u, n, shape, c43);
        mv_store(m0 + 44u, n, shape, c44);
        mv_store(m0 + 45u, n, shape, c45);
        mv_store(m0 + 46u, n, shape, c46);
        mv_store(m0 + 47u, n, shape, c47);
        mv_store(m0 + 48u, n, shape, c48);
        mv_store(m0 + 49u, n, shape, c49);
        mv_store(m0 + 50u, n, shape, c50);
        mv_store(m0 + 51u, n, shape, c51);
        mv_store(m0 + 52u, n, shape, c52);
        mv_store(m0 + 53u, n, shape, c53);
        mv_store(m0 + 54u, n, shape, c54);
        mv_store(m0 + 55u, n, shape, c55);
        mv_store(m0 + 56u, n, shape, c56);
        mv_store(m0 + 57u, n, shape, c57);
        mv_store(m0 + 58u, n, shape, c58);
        mv_store(m0 + 59u, n, shape, c59);
        mv_store(m0 + 60u, n, shape, c60);
        mv_store(m0 + 61u, n, shape, c61);
        mv_store(m0 + 62u, n, shape, c62);
        mv_store(m0 + 63u, n, shape, c63);
    }
    if (wg.x == 0u) {
        for (var r = 0u; r < 8u * RA; r += 32u) {
            for (var c = 0u; c < 4u; c++) {
                let m = m0 + r + 4u * lane + c;
                if (m < shape.x) {
                    tile_row_done(m);
                }
            }
        }
    }
}
