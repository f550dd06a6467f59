// Matrix product sharing operands through subgroup broadcasts, for the product passes
// (`Product::Subgroup` in src/gpu/shaders.rs, only on adapters with SUBGROUP whose
// subgroups have exactly 8 invocations — lavapipe, Intel's SIMD8; tile.wgsl states the
// pass interface):
//
//   C[m, n] = Σ_k A[m, k] · B[k, n]
//
// A workgroup is one subgroup of 8 invocations and computes a 16 × 32 block of C. For each
// k, lane ℓ loads two elements of A (rows m0 + ℓ and m0 + 8 + ℓ) and four of B (columns
// n0 + ℓ + 8j, j < 4: consecutive lanes, consecutive addresses); the subgroup then hands
// every lane all 16 rows' A elements by broadcast, and each lane does 16 × 4 multiply-adds
// on its four columns. That is 6 loads per 64 multiply-adds (register-4: 8 per 16), with no
// workgroup memory and no barrier; on lavapipe, where each storage load is a loop over the
// subgroup's lanes with a bounds check per lane, a broadcast is one extract.
//
// Written out for 8 lanes, with vector accumulators and no private arrays: WGSL's
// broadcast takes a constant lane, and an array indexed in a loop the compiler does not
// unroll (a loop around the inlined element loads is too large for some) lives in scratch
// memory, each access again a loop over the lanes.
//
// Dispatch: (ceil(N / 32), ceil(M / 16), 1), workgroups of 8.

fn sg_row(m: u32, rows: u32) -> u32 {
    if (m < rows) {
        return tile_a_row(m);
    }
    return 0u;
}

fn sg_a(h: u32, m: u32, k: u32, rows: u32) -> real {
    if (m < rows) {
        return tile_a(h, m, k);
    }
    return 0.0;
}

fn sg_b(h: u32, k: u32, n: u32, cols: u32) -> real {
    if (n < cols) {
        return tile_b(h, k, n);
    }
    return 0.0;
}

// Columns n, n + 8, n + 16, n + 24 of row m, those in range.
fn sg_store(m: u32, n: u32, shape: vec3<u32>, v: vec4<real>) {
    if (m < shape.x) {
        for (var j = 0u; j < 4u; j++) {
            if (n + 8u * j < shape.y) {
                tile_store(m, n + 8u * j, v[j]);
            }
        }
    }
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    tile_setup();
    let shape = tile_shape();
    let m0 = wg.y * 16u;
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
    let h0 = sg_row(m0 + lane, shape.x);
    let h1 = sg_row(m0 + 8u + lane, shape.x);
    for (var k = 0u; k < shape.z; k++) {
        let a0 = sg_a(h0, m0 + lane, k, shape.x);
        let a1 = sg_a(h1, m0 + 8u + lane, k, shape.x);
        let hb = tile_b_row(k);
        let b = vec4<real>(
            sg_b(hb, k, n, shape.y),
            sg_b(hb, k, n + 8u, shape.y),
            sg_b(hb, k, n + 16u, shape.y),
            sg_b(hb, k, n + 24u, shape.y)
        );
        c0 = c0 + subgroupBroadcast(a0, 0u) * b;
        c1 = c1 + subgroupBroadcast(a0, 1u) * b;
        c2 = c2 + subgroupBroadcast(a0, 2u) * b;
        c3 = c3 + subgroupBroadcast(a0, 3u) * b;
        c4 = c4 + subgroupBroadcast(a0, 4u) * b;
        c5 = c5 + subgroupBroadcast(a0, 5u) * b;
        c6 = c6 + subgroupBroadcast(a0, 6u) * b;
        c7 = c7 + subgroupBroadcast(a0, 7u) * b;
        c8 = c8 + subgroupBroadcast(a1, 0u) * b;
        c9 = c9 + subgroupBroadcast(a1, 1u) * b;
        c10 = c10 + subgroupBroadcast(a1, 2u) * b;
        c11 = c11 + subgroupBroadcast(a1, 3u) * b;
        c12 = c12 + subgroupBroadcast(a1, 4u) * b;
        c13 = c13 + subgroupBroadcast(a1, 5u) * b;
        c14 = c14 + subgroupBroadcast(a1, 6u) * b;
        c15 = c15 + subgroupBroadcast(a1, 7u) * b;
    }
    sg_store(m0 + 0u, n, shape, c0);
    sg_store(m0 + 1u, n, shape, c1);
    sg_store(m0 + 2u, n, shape, c2);
    sg_store(m0 + 3u, n, shape, c3);
    sg_store(m0 + 4u, n, shape, c4);
    sg_store(m0 + 5u, n, shape, c5);
    sg_store(m0 + 6u, n, shape, c6);
    sg_store(m0 + 7u, n, shape, c7);
    sg_store(m0 + 8u, n, shape, c8);
    sg_store(m0 + 9u, n, shape, c9);
    sg_store(m0 + 10u, n, shape, c10);
    sg_store(m0 + 11u, n, shape, c11);
    sg_store(m0 + 12u, n, shape, c12);
    sg_store(m0 + 13u, n, shape, c13);
    sg_store(m0 + 14u, n, shape, c14);
    sg_store(m0 + 15u, n, shape, c15);
    if (wg.x == 0u) {
        for (var q = 0u; q < 2u; q++) {
            let m = m0 + 8u * q + lane;
            if (m < shape.x) {
                tile_row_done(m);
            }
        }
    }
}
