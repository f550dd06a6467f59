// Weight and bias gradients of one layer for a batch of B rows, tiled (gradient.wgsl's
// twin for batches):
//
//   ∂E/∂W[i, j] = (1/B) Σ_r δ[r, i] · ã_in[r, j],    ∂E/∂b[i] = (1/B) Σ_r δ[r, i]
//
// i.e. ∂E/∂W = Δᵀ Ã_in / B, a matrix product with M = fan_out, N = fan_in, K = B
// (tile.wgsl): tile_a(·, i, r) = δ[r, i] (Δᵀ read in place), tile_b(·, r, j) = ã_in[r, j],
// the input as the forward pass used it (input.wgsl: dataset rows through `order` for
// layer 0, found once per row by tile_b_row, times the dropout mask). The first column block also sums the bias gradient
// (unless bias_gradient.wgsl does: BIAS_IN_PRODUCT, below).
//
// Dispatch: (ceil(N / BN), ceil(M / BM), 1) for the product variant's BM × BN output block
// (src/gpu/shaders.rs `Product`); the variant's file holds `main`. `delta` and a
// real-valued `a_in` (and the output `gw`) are arrays of `Packed`: `real`, or vec4<real>
// for the four-wide kernels (gradient_tiled_vec4.wgsl), read element by element through
// `unpack`.

@group(0) @binding(0) var<storage, read> p: LayerParams;
@group(0) @binding(1) var<storage, read> delta: array<Packed>;
@group(0) @binding(2) var<storage, read> a_in: array<InputWord>;
@group(0) @binding(3) var<storage, read> order: array<u32>;
@group(0) @binding(4) var<storage, read> state: SubmissionState;
@group(0) @binding(5) var<storage, read_write> gw: array<Packed>;
@group(0) @binding(6) var<storage, read_write> gb: array<real>;
@group(0) @binding(7) var<storage, read> scal: Scalars;

// A's rows need no lookup.
fn tile_a_row(i: u32) -> u32 {
    return 0u;
}

fn tile_a(row: u32, i: u32, r: u32) -> real {
    return delta_at(r * lp.fan_out + i);
}

// δ as a flat array of `real` (delta is bound as `Packed`: vec4<real> for the vec4 kernels).
fn delta_at(e: u32) -> real {
    return unpack(delta[e >> PACK_SHIFT], e & PACK_MASK);
}

fn tile_b_row(r: u32) -> u32 {
    return input_row(r);
}

fn tile_b_col(j: u32) -> u32 {
    return 0u;
}

fn tile_b(row: u32, col: u32, r: u32, j: u32) -> real {
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
    return vec3<u32>(lp.fan_out, lp.fan_in, lp.batch);
}

// Epilogue of output (i, j), in range: the mean over the batch.
fn tile_store(i: u32, j: u32, acc: real) {
    let e = i * lp.fan_in + j;
    // One element of `Packed` gw: in the four-wide variants the invocation that stores
    // element e also stores the other three of its vec4 (columns come in aligned fours per
    // invocation), so this read-modify-write races with nothing.
    let q = e >> PACK_SHIFT;
    gw[q] = packed_with(gw[q], e & PACK_MASK, acc * (1.0 / real(lp.batch)));
}

// The bias gradient of row i, summed over the batch in order (called once per row, by
// one invocation of the first column block). With subgroup reductions (BIAS_IN_PRODUCT =
// false, a constant of the variant: src/gpu/shaders.rs `Reduce`) bias_gradient.wgsl
// computes the same sum in the same order, one subgroup per row, after this pass.
fn tile_row_done(i: u32) {
    if (BIAS_IN_PRODUCT && lp.has_bias == 1u) {
        var bias_sum: real = 0.0;
        for (var r = 0u; r < lp.batch; r++) {
            bias_sum = bias_sum + delta_at(r * lp.fan_out + i);
        }
        gb[i] = bias_sum * (1.0 / real(lp.batch));
    }
}
