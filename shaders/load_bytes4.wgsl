// Elements i..i+3 of the layer's input (i % 4 = 0) for the vec4 product kernels, when
// `a_in` holds bytes (load_bytes.wgsl): the four bytes of one word, little end first,
//
//   x_c = byte (i + c) / d,   d = scal.byte_divisor
fn load_in4(i: u32) -> vec4<real> {
    let w = a_in[i >> 2u];
    let bytes = vec4<real>(real(w & 0xffu), real((w >> 8u) & 0xffu), real((w >> 16u) & 0xffu), real(w >> 24u));
    return bytes / scal.byte_divisor;
}
