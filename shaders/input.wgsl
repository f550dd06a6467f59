// The layer's input as the tiled forward and gradient passes read it (appended to them by
// src/gpu/shaders.rs; they bind p, a_in, order, state and scal):
//
//   ã_in[r, j] = m[r, j] · a_in[row(r), j]
//
// where row(r) is the dataset row order[step · B + r] for layer 0 (p.gather) and r after
// it, and m is the dropout mask under dropout — 0, or the scale 1/(1 − p): scal.drop_in_scale on the
// network's inputs, scal.drop_hidden_scale on hidden layers — recomputed from the counter-based hash
// (common.wgsl's dropout_keep), and 1 without dropout.
fn input_at(r: u32, j: u32) -> real {
    var row = r;
    if (p.gather == 1u) {
        row = order[state.step * p.batch + r];
    }
    var x = load_in(row * p.fan_in + j);
    if (p.drop_in != 0u) {
        let keep = dropout_keep(p.drop_in, state.first_step + state.step, p.layer, state.first_row + r, j, state.seed_lo, state.seed_hi);
        x = select(real(0.0), select(scal.drop_hidden_scale, scal.drop_in_scale, p.layer == 0u) * x, keep);
    }
    return x;
}
