// Definitions shared by every pass (prepended after the precision prelude by
// src/gpu/shaders.rs): the per-layer parameter block and the activation functions.
//
// Layout conventions, for every pass:
//   W_l      row-major (fan_out, fan_in): W[i, j] at w[i * fan_in + j]
//   z, a, δ  row-major (batch, fan_out):  row r, neuron i at [r * fan_out + i]
//   dataset  row-major (n_samples, width); the batch's row r is sample order[step * batch + r]
//   scal     [learning rate, slope of layer 0, slope of layer 1, ...] in `real`
//   state    [step]: the step within the current submission, advanced by advance.wgsl

struct LayerParams {
    fan_in: u32,
    fan_out: u32,
    batch: u32,
    activation: u32,   // 0 identity, 1 sigmoid, 2 tanh, 3 relu, 4 leaky_relu, 5 softmax
    has_bias: u32,
    gather: u32,       // 1: this layer's input rows come from the dataset through `order`
    next_fan_out: u32, // fan_out of layer l + 1 (hidden delta pass), else 0
    loss: u32,         // 0 sse, 1 mse, 2 bce, 3 cross_entropy (output layer)
    layer: u32,        // this layer's index l; its slope is scal[1 + l]
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// a = f(z). Softmax (5) is the identity here; softmax.wgsl normalises the row afterwards.
fn activate(kind: u32, z: real, slope: real) -> real {
    switch kind {
        case 1u: { return 1.0 / (1.0 + exp_r(-z)); }       // σ(z)
        case 2u: { return tanh_r(z); }                     // tanh z
        case 3u: { return max(z, 0.0); }                   // max(0, z)
        case 4u: { return select(slope * z, z, z > 0.0); } // z > 0 ? z : s z
        default: { return z; }                             // identity (and softmax's z)
    }
}

// f'(z) from the output a = f(z):
//   identity: 1;  sigmoid: a (1 − a);  tanh: 1 − a²;
//   relu: 1 if a > 0 else 0;  leaky_relu: 1 if a > 0 else s  (s ≥ 0, so a > 0 ⇔ z > 0).
fn activate_deriv(kind: u32, a: real, slope: real) -> real {
    switch kind {
        case 1u: { return a * (1.0 - a); }
        case 2u: { return 1.0 - a * a; }
        case 3u: { return select(real(0.0), real(1.0), a > 0.0); }
        case 4u: { return select(slope, real(1.0), a > 0.0); }
        default: { return 1.0; }
    }
}
