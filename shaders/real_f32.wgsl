// Precision prelude for f32: `real` is f32 and the transcendental functions are WGSL's
// built-ins. Prepended to every pass by src/gpu/shaders.rs.
alias real = f32;

// The smallest normal f32 (2⁻¹²⁶).
const REAL_MIN_NORMAL: real = 1.17549435e-38;

fn exp_r(x: real) -> real {
    return exp(x);
}

fn ln_r(x: real) -> real {
    return log(x);
}

// tanh through the built-in, with z clamped: tanh(±20) is ±1 in f32, and some drivers
// compute tanh as (e^{2z} − 1)/(e^{2z} + 1), which is inf/inf = NaN for large z.
fn tanh_r(x: real) -> real {
    return tanh(clamp(x, -20.0, 20.0));
}
