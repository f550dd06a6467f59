// The layer's input element i, for a pass whose `a_in` holds `real` values (activations,
// or a real-valued dataset): InputWord = real (src/gpu/shaders.rs, Input::Real).
fn load_in(i: u32) -> real {
    return a_in[i];
}
