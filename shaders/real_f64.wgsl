// Precision prelude for f64 (adapters with SHADER_F64): `real` is f64.
//
// Vulkan's GLSL.std.450 Exp, Log and Tanh are defined for 16- and 32-bit floats only, so
// the f64 versions are written here with arithmetic that is exact in f64 (add, multiply,
// divide, floor), to about 1 ulp over the ranges the passes use.
alias real = f64;

// The smallest normal f64 (2⁻¹⁰²²).
const REAL_MIN_NORMAL: real = 2.2250738585072014e-308;

// e^x = 2^k · e^r with k = round(x / ln 2), r = x − k ln 2 (ln 2 split in a high part with
// trailing zero bits and a low part, so k·LN2_HI is exact), |r| ≤ ln 2 / 2; e^r by its
// Taylor series to r^13 (remainder < 2e-17 for |r| ≤ 0.35); 2^k by repeated squaring.
fn exp_r(x: real) -> real {
    if (x > 709.0) {
        return x * 1.0e308; // overflows to +inf at run time, as e^x does
    }
    if (x < -745.0) {
        return 0.0;
    }
    let LN2_HI: f64 = 0.693147180369123816490;
    let LN2_LO: f64 = 1.90821492927058770002e-10;
    let k = floor(x / 0.6931471805599453 + 0.5);
    let r = (x - k * LN2_HI) - k * LN2_LO;
    var term: f64 = 1.0;
    var sum: f64 = 1.0;
    for (var n = 1; n <= 13; n++) {
        term = term * r / f64(n);
        sum = sum + term;
    }
    return sum * pow2_r(i32(k));
}

// 2^k for integer k in [−1100, 1100], by squaring (exact: every factor is a power of two).
fn pow2_r(k: i32) -> real {
    var base: f64 = 2.0;
    if (k < 0) {
        base = 0.5;
    }
    var e = abs(k);
    var result: f64 = 1.0;
    loop {
        if (e == 0) {
            break;
        }
        if ((e & 1) == 1) {
            result = result * base;
        }
        base = base * base;
        e = e >> 1u;
    }
    return result;
}

// ln x for x > 0 (the passes take logs of values in [1, n_outputs], and in [2⁻²³, 2²⁴] for
// the tanh error, all inside f32's normal range): an f32 first
// guess y0 refined by Halley's method, y ← y + 2 (x − e^y) / (x + e^y), which triples the
// number of correct digits per step: 7 → 21 > 16 after one, a second for margin.
fn ln_r(x: real) -> real {
    var y = f64(log(f32(x)));
    for (var i = 0; i < 2; i++) {
        let e = exp_r(y);
        y = y + 2.0 * (x - e) / (x + e);
    }
    return y;
}

// tanh x = sign(x) (1 − e^{−2|x|}) / (1 + e^{−2|x|}); for |x| < 0.05 the odd Taylor series
// x − x³/3 + 2x⁵/15 − 17x⁷/315 + 62x⁹/2835 avoids the cancellation in 1 − e^{−2|x|}
// (next term < 1e-15 · |x|).
fn tanh_r(x: real) -> real {
    let ax = abs(x);
    if (ax < 0.05) {
        let x2 = x * x;
        return x * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0 + x2 * (62.0 / 2835.0)))));
    }
    let e = exp_r(-2.0 * ax);
    let t = (1.0 - e) / (1.0 + e);
    return select(t, -t, x < 0.0);
}
