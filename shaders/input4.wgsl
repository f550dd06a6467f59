// Four consecutive elements of the layer's input as the vec4 product kernels read them
// (appended after input.wgsl for `Product::Vec4`; rows are 16-byte aligned, fan_in % 4 = 0):
//
//   ã_in[r, j..j+3] = (m[r, j] · a_in[row(r), j], …, m[r, j+3] · a_in[row(r), j+3]),   j % 4 = 0
//
// with the same dropout mask m as input_at, element by element (same bits).
fn input_at4(row: u32, r: u32, j: u32) -> vec4<real> {
    var x = load_in4(row * lp.fan_in + j);
    if (lp.drop_in != 0u) {
        let scale = select(scal.drop_hidden_scale, scal.drop_in_scale, lp.layer == 0u);
        for (var c = 0u; c < 4u; c++) {
            let keep = dropout_keep(lp.drop_in, ls.first_step + ls.step, lp.layer, ls.first_row + r, j + c, ls.seed_lo, ls.seed_hi);
            x[c] = select(real(0.0), scale * x[c], keep);
        }
    }
    return x;
}
