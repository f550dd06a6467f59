// gradient_tiled.wgsl's four-wide loads for product_vec4_mn.wgsl (`Product::Vec4`; delta
// and a real-valued a_in bound as arrays of vec4<real>, fan_out % 4 = fan_in % 4 = 0):
// A = Δᵀ runs along m = i and B = Ã_in along n = j in memory.
//
//   tile_a_m4(i, r) = δ[r, i..i+3],   tile_b_n4(h, r, j) = ã_in[r, j..j+3]
//
// and the epilogue of four outputs at once, ∂E/∂W[i, j..j+3] = acc / B (tile_store's, one
// vec4 store).

fn tile_a_m4(i: u32, r: u32) -> vec4<real> {
    return delta[(r * lp.fan_out + i) >> 2u];
}

fn tile_b_n4(row: u32, r: u32, j: u32) -> vec4<real> {
    return input_at4(row, r, j);
}

fn tile_store4(i: u32, j: u32, acc: vec4<real>) {
    gw[(i * lp.fan_in + j) >> 2u] = acc * (1.0 / real(lp.batch));
}
