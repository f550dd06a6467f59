// Hidden delta of layer l for a batch, tiled (hidden_delta.wgsl's twin for batches):
//
//   δ_l[r, j] = (Σ_i δ_{l+1}[r, i] · W_{l+1}[i, j]) · m[r, j] · f'(z_l[r, j])
//
// i.e. Δ_l = (Δ_{l+1} W_{l+1}) ⊙ M ⊙ f'(Z_l), a matrix product with M = batch,
// N = n = fan_out of l, K = m = fan_out of l + 1 (tile.wgsl): tile_a(·, r, i) = δ_{l+1}[r, i],
// tile_b(·, i, j) = W_{l+1}[i, j]. The dropout mask m of layer l + 1's input (1 without
// dropout) and f' from a_l (common.wgsl) are applied in the epilogue.
//
// Dispatch: (ceil(N / BN), ceil(M / BM), 1) for the product variant's BM × BN output block
// (src/gpu/shaders.rs `Product`); the variant's file holds `main`.

@group(0) @binding(0) var<storage, read> p: LayerParams;
@group(0) @binding(1) var<storage, read> w_next: array<real>;
@group(0) @binding(2) var<storage, read> delta_next: array<real>;
@group(0) @binding(3) var<storage, read> a: array<real>;
@group(0) @binding(4) var<storage, read> scal: Scalars;
@group(0) @binding(5) var<storage, read_write> delta: array<real>;
@group(0) @binding(6) var<storage, read> state: SubmissionState;

// Neither operand's rows need a lookup: the row handles are the rows' offsets.
fn tile_a_row(r: u32) -> u32 {
    return r * lp.next_fan_out;
}

fn tile_a(row: u32, r: u32, i: u32) -> real {
    return delta_next[row + i];
}

fn tile_b_row(i: u32) -> u32 {
    return i * lp.fan_out;
}

fn tile_b_col(j: u32) -> u32 {
    return 0u;
}

fn tile_b(row: u32, col: u32, i: u32, j: u32) -> real {
    return w_next[row + j];
}

// The layer's parameters and the submission's state, read once per invocation
// (tile_setup, called first by every product variant's main): compilers do not always
// hoist storage reads out of the product's loops, and on lavapipe each one is a loop over
// the subgroup's lanes.
var<private> lp: LayerParams;
var<private> ls: SubmissionState;

fn tile_setup() {
    lp = p;
    ls = state;
}

// The product's shape (M, N, K).
fn tile_shape() -> vec3<u32> {
    return vec3<u32>(lp.batch, lp.fan_out, lp.next_fan_out);
}

// Epilogue of output (r, j), in range: the dropout mask and f'.
fn tile_store(r: u32, j: u32, acc: real) {
    var s = acc;
    if (lp.drop_next != 0u) {
        let keep = dropout_keep(lp.drop_next, ls.first_step + ls.step, lp.layer + 1u, ls.first_row + r, j, ls.seed_lo, ls.seed_hi);
        s = select(real(0.0), scal.drop_hidden_scale * s, keep);
    }
    let o = r * lp.fan_out + j;
    delta[o] = s * activate_deriv(lp.activation, a[o], scal.slope[lp.layer]);
}

// Nothing per row.
fn tile_row_done(r: u32) {}
