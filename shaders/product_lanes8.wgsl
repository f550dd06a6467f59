// The edges of the 8-lane subgroup kernels' (8·RA) × 32 output blocks, shared by
// product_subgroup.wgsl and product_vec4_k.wgsl (src/gpu/shaders.rs appends this file to
// both): a row's or column's handle (tile.wgsl's tile_a_row, tile_b_col) where it is in
// range, 0 past the edge (its loads are then skipped, so it is never used), and the
// epilogue of lane ℓ's four columns n, n + 8, n + 16, n + 24 of one row, those in range,
// of the whole block, and the rows' tile_row_done.

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

// The epilogue of the block of rows m0 .. m0 + 8·RA − 1 (accumulator cq: row m0 + q, the
// lane's four columns n + 8j), the rows below RA · 8 only (the constant conditions fold),
// through sg_store; the kernels' accumulators are written-out locals, not an array (see
// product_subgroup.wgsl), so they come as 64 values: compilers inline the call (Mesa's
// NIR inlines every function), so they stay where they are.
fn sg_store_block(
    m0: u32,
    n: u32,
    shape: vec3<u32>,
    c0: vec4<real>, c1: vec4<real>, c2: vec4<real>, c3: vec4<real>,
    c4: vec4<real>, c5: vec4<real>, c6: vec4<real>, c7: vec4<real>,
    c8: vec4<real>, c9: vec4<real>, c10: vec4<real>, c11: vec4<real>,
    c12: vec4<real>, c13: vec4<real>, c14: vec4<real>, c15: vec4<real>,
    c16: vec4<real>, c17: vec4<real>, c18: vec4<real>, c19: vec4<real>,
    c20: vec4<real>, c21: vec4<real>, c22: vec4<real>, c23: vec4<real>,
    c24: vec4<real>, c25: vec4<real>, c26: vec4<real>, c27: vec4<real>,
    c28: vec4<real>, c29: vec4<real>, c30: vec4<real>, c31: vec4<real>,
    c32: vec4<real>, c33: vec4<real>, c34: vec4<real>, c35: vec4<real>,
    c36: vec4<real>, c37: vec4<real>, c38: vec4<real>, c39: vec4<real>,
    c40: vec4<real>, c41: vec4<real>, c42: vec4<real>, c43: vec4<real>,
    c44: vec4<real>, c45: vec4<real>, c46: vec4<real>, c47: vec4<real>,
    c48: vec4<real>, c49: vec4<real>, c50: vec4<real>, c51: vec4<real>,
    c52: vec4<real>, c53: vec4<real>, c54: vec4<real>, c55: vec4<real>,
    c56: vec4<real>, c57: vec4<real>, c58: vec4<real>, c59: vec4<real>,
    c60: vec4<real>, c61: vec4<real>, c62: vec4<real>, c63: vec4<real>) {
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
    if (RA > 2u) {
        sg_store(m0 + 16u, n, shape, c16);
        sg_store(m0 + 17u, n, shape, c17);
        sg_store(m0 + 18u, n, shape, c18);
        sg_store(m0 + 19u, n, shape, c19);
        sg_store(m0 + 20u, n, shape, c20);
        sg_store(m0 + 21u, n, shape, c21);
        sg_store(m0 + 22u, n, shape, c22);
        sg_store(m0 + 23u, n, shape, c23);
    }
    if (RA > 3u) {
        sg_store(m0 + 24u, n, shape, c24);
        sg_store(m0 + 25u, n, shape, c25);
        sg_store(m0 + 26u, n, shape, c26);
        sg_store(m0 + 27u, n, shape, c27);
        sg_store(m0 + 28u, n, shape, c28);
        sg_store(m0 + 29u, n, shape, c29);
        sg_store(m0 + 30u, n, shape, c30);
        sg_store(m0 + 31u, n, shape, c31);
    }
    if (RA > 4u) {
        sg_store(m0 + 32u, n, shape, c32);
        sg_store(m0 + 33u, n, shape, c33);
        sg_store(m0 + 34u, n, shape, c34);
        sg_store(m0 + 35u, n, shape, c35);
        sg_store(m0 + 36u, n, shape, c36);
        sg_store(m0 + 37u, n, shape, c37);
        sg_store(m0 + 38u, n, shape, c38);
        sg_store(m0 + 39u, n, shape, c39);
    }
    if (RA > 5u) {
        sg_store(m0 + 40u, n, shape, c40);
        sg_store(m0 + 41u, n, shape, c41);
        sg_store(m0 + 42u, n, shape, c42);
        sg_store(m0 + 43u, n, shape, c43);
        sg_store(m0 + 44u, n, shape, c44);
        sg_store(m0 + 45u, n, shape, c45);
        sg_store(m0 + 46u, n, shape, c46);
        sg_store(m0 + 47u, n, shape, c47);
    }
    if (RA > 6u) {
        sg_store(m0 + 48u, n, shape, c48);
        sg_store(m0 + 49u, n, shape, c49);
        sg_store(m0 + 50u, n, shape, c50);
        sg_store(m0 + 51u, n, shape, c51);
        sg_store(m0 + 52u, n, shape, c52);
        sg_store(m0 + 53u, n, shape, c53);
        sg_store(m0 + 54u, n, shape, c54);
        sg_store(m0 + 55u, n, shape, c55);
    }
    if (RA > 7u) {
        sg_store(m0 + 56u, n, shape, c56);
        sg_store(m0 + 57u, n, shape, c57);
        sg_store(m0 + 58u, n, shape, c58);
        sg_store(m0 + 59u, n, shape, c59);
        sg_store(m0 + 60u, n, shape, c60);
        sg_store(m0 + 61u, n, shape, c61);
        sg_store(m0 + 62u, n, shape, c62);
        sg_store(m0 + 63u, n, shape, c63);
    }
}

// tile_row_done for this lane's rows m0 + 8q + ℓ, q < RA, in range, by the column block 0.
fn sg_rows_done(wg_x: u32, m0: u32, lane: u32, shape: vec3<u32>) {
    if (wg_x == 0u) {
        for (var q = 0u; q < RA; q++) {
            let m = m0 + 8u * q + lane;
            if (m < shape.x) {
                tile_row_done(m);
            }
        }
    }
}
