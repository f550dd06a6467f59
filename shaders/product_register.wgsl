// Register-blocked matrix product without workgroup memory, for the product passes
// (`Product::Register` in src/gpu/shaders.rs; tile.wgsl states the pass interface):
//
//   C[m, n] = Σ_k A[m, k] · B[k, n]
//
// Each invocation of an 8 × 8 workgroup keeps a 4 × 4 block of C in four vector
// registers: rows m0 + ly + 8i, columns n0 + lx + 8j (i, j < 4), so consecutive invocations
// read consecutive columns of B. For each k it loads its four elements of A and four of B
// straight from global memory and does 16 multiply-adds: no workgroup memory and no
// barrier. Where barriers and workgroup memory are expensive (lavapipe runs a workgroup as
// coroutines on the CPU and switches all of them at every barrier; some mobile GPUs) this
// can beat staging; where caches are small, tile.wgsl's staging wins — the engine times both.
//
// Written out with vector accumulators and no private arrays (an array indexed in a loop
// the compiler does not unroll lives in scratch memory); the workgroup's shape is the
// pipeline override WGX × WGY (8 × 8: the block's rows and columns are spaced by it).
//
// Dispatch: (ceil(N / (4·WGX)), ceil(M / (4·WGY)), 1), workgroups of WGX × WGY.

override WGX: u32 = 8u;
override WGY: u32 = 8u;

fn rg_row(m: u32, rows: u32) -> u32 {
    if (m < rows) {
        return tile_a_row(m);
    }
    return 0u;
}

fn rg_a(h: u32, m: u32, k: u32, rows: u32) -> real {
    if (m < rows) {
        return tile_a(h, m, k);
    }
    return 0.0;
}

fn rg_col(n: u32, cols: u32) -> u32 {
    if (n < cols) {
        return tile_b_col(n);
    }
    return 0u;
}

fn rg_b(hk: u32, hn: u32, k: u32, n: u32, cols: u32) -> real {
    if (n < cols) {
        return tile_b(hk, hn, k, n);
    }
    return 0.0;
}

// Columns n + WGX·j (j < 4) of row m, those in range.
fn rg_store(m: u32, n: u32, shape: vec3<u32>, v: vec4<real>) {
    if (m < shape.x) {
        for (var j = 0u; j < 4u; j++) {
            if (n + WGX * j < shape.y) {
                tile_store(m, n + WGX * j, v[j]);
            }
        }
    }
}

@compute @workgroup_size(WGX, WGY)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    tile_setup();
    let shape = tile_shape();
    let m = wg.y * WGY * 4u + lid.y;
    let n = wg.x * WGX * 4u + lid.x;
    var c0 = vec4<real>(0.0);
    var c1 = vec4<real>(0.0);
    var c2 = vec4<real>(0.0);
    var c3 = vec4<real>(0.0);
    let h0 = rg_row(m, shape.x);
    let h1 = rg_row(m + WGY, shape.x);
    let h2 = rg_row(m + 2u * WGY, shape.x);
    let h3 = rg_row(m + 3u * WGY, shape.x);
    let g0 = rg_col(n, shape.y);
    let g1 = rg_col(n + WGX, shape.y);
    let g2 = rg_col(n + 2u * WGX, shape.y);
    let g3 = rg_col(n + 3u * WGX, shape.y);
    for (var k = 0u; k < shape.z; k++) {
        let a = vec4<real>(
            rg_a(h0, m, k, shape.x),
            rg_a(h1, m + WGY, k, shape.x),
            rg_a(h2, m + 2u * WGY, k, shape.x),
            rg_a(h3, m + 3u * WGY, k, shape.x)
        );
        let hb = tile_b_row(k);
        let b = vec4<real>(
            rg_b(hb, g0, k, n, shape.y),
            rg_b(hb, g1, k, n + WGX, shape.y),
            rg_b(hb, g2, k, n + 2u * WGX, shape.y),
            rg_b(hb, g3, k, n + 3u * WGX, shape.y)
        );
        c0 = c0 + a.x * b;
        c1 = c1 + a.y * b;
        c2 = c2 + a.z * b;
        c3 = c3 + a.w * b;
    }
    rg_store(m, n, shape, c0);
    rg_store(m + WGY, n, shape, c1);
    rg_store(m + 2u * WGY, n, shape, c2);
    rg_store(m + 3u * WGY, n, shape, c3);
    if (wg.x == 0u && lid.x == 0u) {
        for (var i = 0u; i < 4u; i++) {
            if (m + WGY * i < shape.x) {
                tile_row_done(m + WGY * i);
            }
        }
    }
}
