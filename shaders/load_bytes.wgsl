// The layer's input element i, for layer 0 of a byte-coded dataset (MNIST's pixels):
// `a_in` holds four bytes per u32 word, little end first (InputWord = u32,
// src/gpu/shaders.rs, Input::Bytes), and
//
//   x = byte i / d,   d = scal.byte_divisor (255 for pixels)
fn load_in(i: u32) -> real {
    return real((a_in[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu) / scal.byte_divisor;
}
