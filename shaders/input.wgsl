// The layer's input as the tiled forward and gradient passes read it (appended to them by
// src/gpu/shaders.rs; they bind p, a_in, order, state and scal):
//
//   ã_in[r, j] = m[r, j] · a_in[row(r), j]
//
// where row(r) is the dataset row order[step · B + r] for layer 0 (p.gather) and r after
// it, and m is the dropout mask under dropout — 0, or the scale 1/(1 − p): scal[6] on the
// network's inputs, scal[7] on hidden layers — recomputed from the counter-based hash
// (common.wgsl's dropout_keep), and 1 without dropout.
fn input_at(r: u32, j: u32) -> real {
    var row = r;
    if (p.gather == 1u) {
        row = order[state[0] * p.batch + r];
    }
    var x = load_in(row * p.fan_in + j);
    if (p.drop_in != 0u) {
        let keep = dropout_keep(p.drop_in, state[1] + state[0], p.layer, r, j, state[2], state[3]);
        x = select(real(0.0), select(scal[7], scal[6], p.layer == 0u) * x, keep);
    }
    return x;
}
