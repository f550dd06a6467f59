// The layer's input as the tiled forward and gradient passes read it (appended to them by
// src/gpu/shaders.rs; they bind a_in, order and scal, and hold p and state in lp and ls):
//
//   ã_in[r, j] = m[r, j] · a_in[row(r), j]
//
// where row(r) is the dataset row order[step · B + r] for layer 0 (p.gather) and r after
// it, and m is the dropout mask under dropout — 0, or the scale 1/(1 − p): scal.drop_in_scale on the
// network's inputs, scal.drop_hidden_scale on hidden layers — recomputed from the counter-based hash
// (common.wgsl's dropout_keep), and 1 without dropout.
// The row of a_in that batch row r reads: the dataset row order[step · B + r] for layer
// 0 (lp.gather), r after it. Products call it once per row, not per element.
fn input_row(r: u32) -> u32 {
    if (lp.gather == 1u) {
        return order[ls.step * lp.batch + r];
    }
    return r;
}

// ã_in[r, j], reading a_in's row `row` = input_row(r).
fn input_at(row: u32, r: u32, j: u32) -> real {
    var x = load_in(row * lp.fan_in + j);
    if (lp.drop_in != 0u) {
        let keep = dropout_keep(lp.drop_in, ls.first_step + ls.step, lp.layer, ls.first_row + r, j, ls.seed_lo, ls.seed_hi);
        x = select(real(0.0), select(scal.drop_hidden_scale, scal.drop_in_scale, lp.layer == 0u) * x, keep);
    }
    return x;
}
