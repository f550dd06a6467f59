// forward_tiled.wgsl's four-wide loads for product_vec4_k.wgsl (`Product::Vec4`; w and a
// real-valued a_in bound as arrays of vec4<real>, fan_in % 4 = 0): A = W and B = Ã_inᵀ both
// run along k = j in memory.
//
//   tile_a_k4(h, i, j) = W[i, j..j+3],   tile_b_k4(h, r, j) = ã_in[r, j..j+3]

fn tile_a_k4(row: u32, i: u32, j: u32) -> vec4<real> {
    return w[(row + j) >> 2u];
}

fn tile_b_k4(row: u32, r: u32, j: u32) -> vec4<real> {
    return input_at4(row, r, j);
}
