// The layer's input element i, for a pass whose `a_in` holds `real` values (activations,
// or a real-valued dataset): InputWord = Packed (src/gpu/shaders.rs, Input::Real), `real`
// or, for the vec4 product kernels, vec4<real>.
fn load_in(i: u32) -> real {
    return unpack(a_in[i >> PACK_SHIFT], i & PACK_MASK);
}
