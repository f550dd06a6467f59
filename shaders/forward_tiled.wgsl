// Forward pass of one dense layer for a batch, tiled (forward.wgsl's twin for batches):
//
//   z[r, i] = Σ_j a_in[r, j] · W[i, j] + b[i],   a[r, i] = f(z[r, i])
//
// i.e. Z = A_in Wᵀ + b, computed as its transpose Zᵀ = W Ã_inᵀ: a matrix product with
// M = fan_out, N = batch, K = fan_in (tile.wgsl): tile_a(·, i, j) = W[i, j] and
// tile_b(·, ·, j, r) = ã_in[r, j] (input.wgsl's input_at: for layer 0 the dataset row
// order[step·B + r], found once per column by tile_b_col, under dropout times its mask
// m ∈ {0, 1/(1 − p)}), stored back as z[r, i]. Each output is the same sum in the same
// order either way; this way round the weights are the operand the subgroup kernel
// broadcasts (8·RA rows per k) and the input, with its gather and dropout, the one each
// lane reads four of. Softmax layers get a = z here; softmax.wgsl normalises the rows
// afterwards.
//
// Dispatch: (ceil(N / BN), ceil(M / BM), 1) for the product variant's BM × BN output block
// (src/gpu/shaders.rs `Product`); the variant's file holds `main`. `w` and a real-valued
// `a_in` are arrays of `Packed`: `real`, or vec4<real> for the four-wide kernels
// (forward_tiled_vec4.wgsl), read element by element through `unpack`.

@group(0) @binding(0) var<storage, read> p: LayerParams;
@group(0) @binding(1) var<storage, read> w: array<Packed>;
@group(0) @binding(2) var<storage, read> b: array<real>;
@group(0) @binding(3) var<storage, read> a_in: array<InputWord>;
@group(0) @binding(4) var<storage, read> order: array<u32>;
@group(0) @binding(5) var<storage, read> state: SubmissionState;
@group(0) @binding(6) var<storage, read> scal: Scalars;
@group(0) @binding(7) var<storage, read_write> z: array<real>;
@group(0) @binding(8) var<storage, read_write> a: array<real>;

// A = W: a row's handle is its offset.
fn tile_a_row(i: u32) -> u32 {
    return i * lp.fan_in;
}

fn tile_a(row: u32, i: u32, j: u32) -> real {
    let e = row + j;
    return unpack(w[e >> PACK_SHIFT], e & PACK_MASK);
}

// B = Ãᵀ: nothing per k; per column r the input's row.
fn tile_b_row(j: u32) -> u32 {
    return 0u;
}

fn tile_b_col(r: u32) -> u32 {
    return input_row(r);
}

fn tile_b(hk: u32, row: u32, j: u32, r: u32) -> real {
    return input_at(row, r, j);
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
    return vec3<u32>(lp.fan_out, lp.batch, lp.fan_in);
}

// Epilogue of output (i, r) of Zᵀ, in range: bias and activation.
fn tile_store(i: u32, r: u32, acc: real) {
    var v = acc;
    if (lp.has_bias == 1u) {
        v = v + b[i];
    }
    let o = r * lp.fan_out + i;
    z[o] = v;
    a[o] = activate(lp.activation, v, scal.slope[lp.layer]);
}

// Nothing per row.
fn tile_row_done(i: u32) {}
