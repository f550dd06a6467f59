// Definitions shared by every pass (after the precision prelude and the contract header,
// which src/gpu/contract.rs generates: the ACT_*, LOSS_* and OPT_* codes and the structs
// LayerParams, SubmissionState, Scalars, StepValues, FusedSpec; see src/gpu/shaders.rs for
// the order): the activation functions, dropout's hash, and the tanh error's φ.
//
// Layout conventions, for every pass:
//   W_l      row-major (fan_out, fan_in): W[i, j] at w[i * fan_in + j]
//   z, a, δ  row-major (batch, fan_out):  row r, neuron i at [r * fan_out + i]
//   dataset  row-major (n_samples, width); the batch's row r is sample order[step * batch + r]
//   a_in     the input a pass reads through load_in(i): `array<InputWord>`, InputWord being
//            `real`, or for layer 0 of a byte-coded dataset (MNIST's pixels) `u32` holding
//            four bytes per word, little end first (load_real.wgsl, load_bytes.wgsl)
//   scal     `Scalars`: the optimizer's constants k0..k3, L2's λ, the max-norm c, the
//            dropout scales, the byte divisor, then `slope[l]`, each layer's leaky slope
//   hyper    `array<StepValues>`: per step s of the submission, η_s, c₁, c₂
//   state    `SubmissionState`: the step within the submission (advanced by
//            advance.wgsl), the run's step count at its start, the dropout seed's words

// A quiet NaN, for the `default` arm of a switch over a code. The host writes only the
// codes the contract lists, and every switch has a case for each, so the arm is never
// taken; were a code ever to drift, it shows as NaN in every result rather than as a
// plausible number. (`code & 0u` keeps it a run-time value: WGSL refuses a constant NaN.)
fn unreachable_code(code: u32) -> real {
    return real(bitcast<f32>(0x7fc00000u | (code & 0u)));
}

// a = f(z). Softmax is the identity here; softmax.wgsl normalises the row afterwards.
fn activate(kind: u32, z: real, slope: real) -> real {
    switch kind {
        case ACT_IDENTITY, ACT_SOFTMAX: { return z; }                 // z (softmax: z for now)
        case ACT_SIGMOID: { return 1.0 / (1.0 + exp_r(-z)); }        // σ(z)
        case ACT_TANH: { return tanh_r(z); }                         // tanh z
        case ACT_RELU: { return max(z, 0.0); }                       // max(0, z)
        case ACT_LEAKY_RELU: { return select(slope * z, z, z > 0.0); } // z > 0 ? z : s z
        default: { return unreachable_code(kind); }
    }
}

// f'(z) from the output a = f(z):
//   identity: 1;  sigmoid: a (1 − a);  tanh: 1 − a²;
//   relu: 1 if a > 0 else 0;  leaky_relu: 1 if a > 0 else s  (s ≥ 0, so a > 0 ⇔ z > 0).
//   (softmax: 1, never used: a softmax output pairs only with cross-entropy, whose δ needs
//   no f', and a hidden layer cannot be softmax)
fn activate_deriv(kind: u32, a: real, slope: real) -> real {
    switch kind {
        case ACT_IDENTITY, ACT_SOFTMAX: { return 1.0; }
        case ACT_SIGMOID: { return a * (1.0 - a); }
        case ACT_TANH: { return 1.0 - a * a; }
        case ACT_RELU: { return select(real(0.0), real(1.0), a > 0.0); }
        case ACT_LEAKY_RELU: { return select(slope, real(1.0), a > 0.0); }
        default: { return unreachable_code(kind); }
    }
}

// Chris Wellons' lowbias32 integer hash (src/model/dropout.rs, bit for bit).
fn lowbias32(v: u32) -> u32 {
    var x = v;
    x = x ^ (x >> 16u);
    x = x * 0x7feb352du;
    x = x ^ (x >> 15u);
    x = x * 0x846ca68bu;
    x = x ^ (x >> 16u);
    return x;
}

// Dropout's counter-based mask: unit `unit` of batch row `row` of layer `layer`'s input at
// run step `step` is kept when hash(unit, row, layer, step, seed) ≥ threshold. The same
// chain as Dropout::hash in src/model/dropout.rs; `seed_lo`, `seed_hi` are the seed's words.
fn dropout_keep(threshold: u32, step: u32, layer: u32, row: u32, unit: u32, seed_lo: u32, seed_hi: u32) -> bool {
    var h = lowbias32(unit);
    h = lowbias32(h ^ row);
    h = lowbias32(h ^ layer);
    h = lowbias32(h ^ step);
    h = lowbias32(h ^ seed_lo);
    h = lowbias32(h ^ seed_hi);
    return h >= threshold;
}

// ln(1 + x) for x > −1, keeping x's digits near 0: for |x| < ½ the series
// ln(1 + x) = 2 atanh s = 2 s (1 + s²/3 + s⁴/5 + …), s = x/(2 + x), |s| ≤ ⅓, to s³⁰ (the
// next term is below 10⁻¹⁶ of the sum), accurate relative to the result; beyond, ln(1 + x)
// itself, whose result is then at least ln 1.5 in size, so that the log's absolute error
// (WGSL promises 2⁻²¹ near 1 for f32) is small beside it.
fn ln_1p_r(x: real) -> real {
    if (abs(x) >= 0.5) {
        return ln_r(1.0 + x);
    }
    let s = x / (2.0 + x);
    let s2 = s * s;
    var sum: real = 0.0;
    for (var k = 15; k >= 1; k--) {
        sum = sum * s2 + 1.0 / real(2 * k - 1);
    }
    return 2.0 * s * sum;
}

// FANN's tanh error (src/model/loss.rs), for e = (a − y)/w, with u = min(|e|, c):
//   φ'(e) = sign(e) ln(1 + 2u/(1 − u))         = ln((1 + e)/(1 − e)) = 2 atanh e  for |e| ≤ c
//   φ(e)  = u φ'(u) + ln(1 − u²) + φ'(u)(|e| − u) = 2e atanh e + ln(1 − e²)       for |e| ≤ c
// and linear beyond c = 1 − 2⁻²³ (exact in f32 and f64), so the slope stays finite;
// ln(1 − u²) as ln(1 − u) + ln(1 + u) from u = ½ on (1 − u is exact there; 1 − u² after
// rounding u² would lose the digits of a u near 1).
const TANH_ERROR_CLIP: real = 0.99999988079071044921875;

fn tanh_error_slope(e: real) -> real {
    let u = min(abs(e), TANH_ERROR_CLIP);
    let t = ln_1p_r(2.0 * u / (1.0 - u));
    return select(t, -t, e < 0.0);
}

fn tanh_error_phi(e: real) -> real {
    let u = min(abs(e), TANH_ERROR_CLIP);
    let t = tanh_error_slope(u);
    var l = ln_1p_r(-u * u);
    if (u >= 0.5) {
        l = ln_1p_r(-u) + ln_1p_r(u);
    }
    return u * t + l + t * (abs(e) - u);
}

// The tanh error's scale w: 2 for a tanh output (range [−1, 1]), else 1.
fn tanh_error_width(kind: u32) -> real {
    return select(real(1.0), real(2.0), kind == ACT_TANH);
}
