// Register-tiled matrix product for the *_tiled passes (prepended to them after
// common.wgsl by src/gpu/shaders.rs):
//
//   C[m, n] = Σ_k A[m, k] · B[k, n],   0 ≤ m < M, 0 ≤ n < N, 0 ≤ k < K
//
// Each workgroup of 16 × 16 invocations computes one TILE × TILE block of C; each
// invocation an RT × RT register block, rows m0 + RT ly + i, columns n0 + RT lx + j, with
// TILE = 16 RT. K is walked in steps of TK = 16: the workgroup stages a TILE × 16 slice of
// A and a 16 × TILE slice of B in workgroup memory (every element loaded once from global
// memory per workgroup instead of once per output), then each invocation multiplies its
// RT rows of A by its RT columns of B from there — RT² multiply-adds per 2 RT loads from
// shared memory. Elements outside the matrices load as 0, so any M, N, K works.
//
// RT is chosen when the pass is built (src/gpu/shaders.rs `Tile`, which prepends RT, TILE,
// TK, TILE_TK = TILE · TK and RT_RT = RT²): 2 (32 × 32 blocks: more workgroups for small
// matrices), 4 (64 × 64, the default) or 8 (128 × 128: fewer shared-memory loads per
// multiply-add, for large matrices). Each invocation stages RT elements of each slice.
//
// This is the `Product::Workgroup` variant of the product passes (src/gpu/shaders.rs); the
// others are product_register.wgsl, product_subgroup.wgsl, and the four-wide
// product_vec4_k.wgsl (forward) and product_vec4_mn.wgsl (gradient), which also call the
// pass's four-wide loads (forward_tiled_vec4.wgsl, gradient_tiled_vec4.wgsl). Each pass defines
//   fn tile_setup()                                   (called first: reads parameters once)
//   fn tile_shape() -> vec3<u32>                      (M, N, K)
//   fn tile_a_row(m: u32) -> u32, fn tile_b_row(k: u32) -> u32, fn tile_b_col(n: u32) -> u32
//                                                     (handles: an offset, a dataset row)
//   fn tile_a(h: u32, m: u32, k: u32) -> real, fn tile_b(hk: u32, hn: u32, k: u32, n: u32) -> real
//                                                     (element loads given the handles,
//                                                      in-range indices only)
//   fn tile_store(m: u32, n: u32, acc: real)          (the epilogue of one output, in range)
//   fn tile_row_done(m: u32)                          (once per row m < M, column block 0)
// (and the four-wide loads, and for product_vec4_mn.wgsl tile_store4, in the pass's
// *_vec4.wgsl)
// so transposes, gathers through `order` and dropout masks happen while loading; variants
// that reuse a row across loads ask for its handle once. Every
// variant sums k in order 0, 1, …, K − 1 from 0 into one accumulator per output.
//
// Dispatch: (ceil(N / TILE), ceil(M / TILE), 1), workgroups of 16 × 16.

var<workgroup> sa: array<real, TILE_TK>; // A slice, [m * TK + k], m < TILE, k < TK
var<workgroup> sb: array<real, TILE_TK>; // B slice, [k * TILE + n]

// The slices are staged by `tile_stage(m0, n0, k0, tid, shape)`, which fills sa and sb
// for k0 ≤ k < k0 + TK (zeros outside the matrices): tile_stage.wgsl's element by element
// (`Product::Workgroup`), or four-wide runs stored transposed where the layout asks
// (tile_stage_k4.wgsl, tile_stage_mn4.wgsl: `Product::WorkgroupVec4`).

// The RT × RT accumulators of invocation `lid` in the block at (m0, n0), row-major.
fn gemm_block(m0: u32, n0: u32, lid: vec3<u32>, M: u32, N: u32, K: u32) -> array<real, RT_RT> {
    var acc: array<real, RT_RT>;
    for (var q = 0u; q < RT_RT; q++) {
        acc[q] = 0.0;
    }
    let tid = lid.y * 16u + lid.x;
    for (var k0 = 0u; k0 < K; k0 += TK) {
        tile_stage(m0, n0, k0, tid, vec3<u32>(M, N, K));
        workgroupBarrier();
        for (var k = 0u; k < TK; k++) {
            var ra: array<real, RT>;
            var rb: array<real, RT>;
            for (var i = 0u; i < RT; i++) {
                ra[i] = sa[(lid.y * RT + i) * TK + k];
                rb[i] = sb[k * TILE + lid.x * RT + i];
            }
            for (var i = 0u; i < RT; i++) {
                for (var j = 0u; j < RT; j++) {
                    acc[i * RT + j] = acc[i * RT + j] + ra[i] * rb[j];
                }
            }
        }
        workgroupBarrier();
    }
    return acc;
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    tile_setup();
    let shape = tile_shape();
    let m0 = wg.y * TILE;
    let n0 = wg.x * TILE;
    let acc = gemm_block(m0, n0, lid, shape.x, shape.y, shape.z);
    for (var ii = 0u; ii < RT; ii++) {
        let m = m0 + lid.y * RT + ii;
        for (var jj = 0u; jj < RT; jj++) {
            let n = n0 + lid.x * RT + jj;
            if (m < shape.x && n < shape.y) {
                tile_store(m, n, acc[ii * RT + jj]);
            }
        }
        if (wg.x == 0u && lid.x == 0u && m < shape.x) {
            tile_row_done(m);
        }
    }
}
