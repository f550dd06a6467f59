// Hidden delta of layer l from layer l + 1 (n = fan_out of l, m = fan_out of l + 1):
//
//   δ_l[r, j] = (Σ_i W_{l+1}[i, j] · δ_{l+1}[r, i]) · f'(z_l[r, j])
//
// i.e. δ_l = (W_{l+1}ᵀ δ_{l+1}) ⊙ f'(z_l), with f' computed from a_l (common.wgsl). Under
// dropout on layer l + 1's input (drop_next ≠ 0), that input was m ⊙ a_l, so the chain rule
// adds the mask: δ_l = (W_{l+1}ᵀ δ_{l+1}) ⊙ m ⊙ f'(z_l). It reads W_{l+1} before
// update.wgsl changes it: all deltas of a step precede its updates.
//
// Dispatch: (ceil(n / WG), batch, 1); one invocation per neuron of layer l and row.

@group(0) @binding(0) var<storage, read> p: LayerParams;
@group(0) @binding(1) var<storage, read> w_next: array<real>;
@group(0) @binding(2) var<storage, read> delta_next: array<real>;
@group(0) @binding(3) var<storage, read> a: array<real>;
@group(0) @binding(4) var<storage, read> scal: Scalars;
@group(0) @binding(5) var<storage, read_write> delta: array<real>;
@group(0) @binding(6) var<storage, read> state: SubmissionState;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    let r = gid.y;
    let n = p.fan_out;
    let m = p.next_fan_out;
    if (j >= n || r >= p.batch) {
        return;
    }
    var s: real = 0.0;
    for (var i = 0u; i < m; i++) {
        s = s + w_next[i * n + j] * delta_next[r * m + i];
    }
    if (p.drop_next != 0u) {
        // m = 1/(1 − p_h) when kept, 0 when dropped (layer l + 1's input is a hidden output)
        let keep = dropout_keep(p.drop_next, state.first_step + state.step, p.layer + 1u, state.first_row + r, j, state.seed_lo, state.seed_hi);
        s = select(real(0.0), scal.drop_hidden_scale * s, keep);
    }
    let o = r * n + j;
    delta[o] = s * activate_deriv(p.activation, a[o], scal.slope[p.layer]);
}
