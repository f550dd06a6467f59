// Elements i..i+3 of the layer's input (i % 4 = 0) for the vec4 product kernels, when
// `a_in` holds `real` values: InputWord = vec4<real> (src/gpu/shaders.rs), one load.
fn load_in4(i: u32) -> vec4<real> {
    return a_in[i >> 2u];
}
