// The edges of the 8-lane subgroup kernels' (8·RA) × 32 output blocks, shared by
// product_subgroup.wgsl and product_vec4_k.wgsl (src/gpu/shaders.rs appends this file to
// both): a row's or column's handle (tile.wgsl's tile_a_row, tile_b_col) where it is in
// range, 0 past the edge (its loads are then skipped, so it is never used), and the
// epilogue of lane ℓ's four columns n, n + 8, n + 16, n + 24 of one row, those in range.

fn sg_row(m: u32, rows: u32) -> u32 {
    if (m < rows) {
        return tile_a_row(m);
    }
    return 0u;
}

fn sg_col(n: u32, cols: u32) -> u32 {
    if (n < cols) {
        return tile_b_col(n);
    }
    return 0u;
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
