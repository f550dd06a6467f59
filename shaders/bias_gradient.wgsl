// The bias gradient of one layer for a batch of B rows, one subgroup per neuron, for the
// tiled route on adapters with SUBGROUP (`Reduce::Subgroup` in src/gpu/shaders.rs):
//
//   ∂E/∂b[i] = (1/B) Σ_r δ[r, i]                       (∂z_i/∂b[i] = 1)
//
// In the fallback this sum is the epilogue `tile_row_done(i)` of gradient_tiled.wgsl: one
// invocation per row of the weight gradient, looping over the batch while the rest of its
// subgroup waits. Here lane ℓ of a subgroup of S lanes loads δ[r, i] for r ≡ ℓ (mod S), and
// every lane adds the loaded values in tile_row_done's order, r = 0, 1, …, B − 1 from 0,
// chunk by chunk, fetching each lane's value with `subgroupShuffle` (the same additions in
// the same order, not a tree; then the same · (1/B)), so the bits are the fallback's.
// Lane 0 writes ∂E/∂b[i]. The tiled gradient's variant for this route
// (BIAS_IN_PRODUCT = false) then leaves the bias alone.
//
// Why a pass of its own rather than a hook inside the product kernels: the sum needs the
// whole subgroup in uniform control flow, and the product kernels reach their epilogue in
// per-lane branches (tile.wgsl and product_register.wgsl call tile_row_done from the
// invocations with lid.x = 0, product_subgroup.wgsl from the lanes whose row is in range,
// all only in column-block-0 workgroups); a hook would have to be placed in every
// product kernel, present and future, with its own uniformity argument. A separate pass
// costs one small dispatch per layer with a bias and works beside any product kernel.
// The plain gradient.wgsl keeps its sum: there the invocation of column j = 0 adds δ[r, i]
// into the bias beside δ[r, i] · a[r, 0] into its weight, from the same load, at no cost.
//
// Layout, uniformity and overrides as in softmax_subgroup.wgsl, with neurons for rows:
// the workgroup takes neurons [wg · PER_WG, wg · PER_WG + PER_WG), its subgroups one at a
// time.
//
// Dispatch: (ceil(fan_out / PER_WG), 1, 1), only for a layer with a bias.

@group(0) @binding(0) var<storage, read> p: LayerParams;
@group(0) @binding(1) var<storage, read> delta: array<real>;
@group(0) @binding(2) var<storage, read_write> gb: array<real>;

override WG: u32 = 64u;
override PER_WG: u32 = 1u;

fn bias_sum(i: u32, n: u32, batch: u32, lane: u32, size: u32) {
    var sum: real = 0.0;
    for (var r0 = 0u; r0 < batch; r0 += size) {
        let r = r0 + lane;
        var d: real = 0.0;
        if (r < batch) {
            d = delta[r * n + i];
        }
        let count = min(size, batch - r0);
        for (var l = 0u; l < count; l++) {
            sum = sum + subgroupShuffle(d, l);
        }
    }
    if (lane == 0u) {
        gb[i] = sum * (1.0 / real(batch));
    }
}

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(subgroup_id) sg: u32,
    @builtin(num_subgroups) nsg: u32,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_size) size: u32,
) {
    if (p.has_bias != 1u) {
        return;
    }
    let n = p.fan_out;
    let batch = p.batch;
    let first = wg.x * PER_WG;
    let end = min(first + PER_WG, n);
    for (var i = first + sg; i < end; i += nsg) {
        bias_sum(i, n, batch, lane, size);
    }
}
