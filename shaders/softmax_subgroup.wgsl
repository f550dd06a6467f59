// Softmax over each row of the output layer, one subgroup per row: softmax.wgsl's twin
// for adapters with SUBGROUP (`Reduce::Subgroup` in src/gpu/shaders.rs), with the same
// formulas and the same bits:
//
//   a[r, k] = e^{z[r, k] − m} / s,   m = max_j z[r, j],   s = Σ_j e^{z[r, j] − m}
//
// Lane ℓ of a subgroup of S lanes (`subgroup_size`: 8 on lavapipe, 32 on NVIDIA, 32 or 64
// on AMD) takes the row's elements k ≡ ℓ (mod S): it loads them, computes their
// exponentials and writes them, so the loads and the e^{z−m} of S elements run side by
// side instead of one after another.
//
// Same bits as softmax.wgsl, which sums s = ((0 + e_0) + e_1) + … serially:
//   m   each lane's max over its elements (started from z[r, 0], which any lane may take:
//       max is idempotent), then `subgroupMax` of the lanes' maxima. Max is exact, so any
//       grouping gives the fallback's value, up to two cases that cannot reach a result:
//       the sign of a zero m (z − m and m + ln s are the same numbers for m = +0 and
//       m = −0, and e^{+0} = e^{−0} = 1), and a NaN in the row (then s and every a[r, k]
//       are NaN whichever m was picked; only a NaN's payload could differ).
//   s   accumulated in the fallback's order, k = 0, 1, …, n − 1, from 0: for each chunk of
//       S elements, every lane adds the chunk's values lane by lane, fetched with
//       `subgroupShuffle` — the same additions of the same values in the same order,
//       not a tree. (Every lane holds the whole sum; S adds per chunk.)
//   a   each lane divides its own elements by s, as the fallback does.
//
// Layout: the workgroup (WG invocations, a multiple of every subgroup size the adapter
// has) takes rows [wg · PER_WG, wg · PER_WG + PER_WG); PER_WG = WG / the adapter's largest
// subgroup size, so there are at least PER_WG subgroups and each takes rows sg, sg + nsg, …
// of those (all overrides set by the engine, src/gpu/engine/kernels.rs). Subgroup
// operations are reached in control flow uniform within the subgroup: the row loop and
// the chunk loops depend only on the row and the subgroup's size; only loads and stores
// are guarded per lane.
//
// Dispatch: (ceil(batch / PER_WG), 1, 1).

@group(0) @binding(0) var<storage, read> p: LayerParams;
@group(0) @binding(1) var<storage, read> z: array<real>;
@group(0) @binding(2) var<storage, read_write> a: array<real>;

override WG: u32 = 64u;
override PER_WG: u32 = 1u;

fn softmax_row(r: u32, n: u32, lane: u32, size: u32) {
    let base = r * n;
    var m = z[base];
    for (var k = lane; k < n; k += size) {
        m = max(m, z[base + k]);
    }
    m = subgroupMax(m);
    var sum: real = 0.0;
    for (var k0 = 0u; k0 < n; k0 += size) {
        let k = k0 + lane;
        var e: real = 0.0;
        if (k < n) {
            e = exp_r(z[base + k] - m);
            a[base + k] = e;
        }
        let count = min(size, n - k0);
        for (var l = 0u; l < count; l++) {
            sum = sum + subgroupShuffle(e, l);
        }
    }
    for (var k = lane; k < n; k += size) {
        a[base + k] = a[base + k] / sum;
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
    let batch = p.batch;
    let n = p.fan_out;
    let first = wg.x * PER_WG;
    let end = min(first + PER_WG, batch);
    for (var r = first + sg; r < end; r += nsg) {
        softmax_row(r, n, lane, size);
    }
}
