//! Loss functions E(a, y) for one sample, and the output-layer delta δ_L = ∂E/∂z_L.
//!
//! Definitions (n outputs, a = f(z) the network's output, y the target):
//!
//! | name            | E for one sample                                   | δ_L = ∂E/∂z                      |
//! |-----------------|----------------------------------------------------|----------------------------------|
//! | `sse`           | ½ Σ_k (y_k − a_k)²  (the seed's error)             | (a − y) ⊙ f'(z)                  |
//! | `mse`           | (1/n) Σ_k (y_k − a_k)²                             | (2/n) (a − y) ⊙ f'(z)            |
//! | `bce`           | −Σ_k [y_k ln a_k + (1 − y_k) ln(1 − a_k)]          | a − y            (sigmoid output) |
//! | `cross_entropy` | −Σ_k y_k ln a_k                                    | a Σ_j y_j − y    (softmax output) |
//! | `tanh_error`    | Σ_k φ(e_k),  e_k = (a_k − y_k) / w                 | φ'(e) / w ⊙ f'(z)                |
//!
//! **The tanh error** is FANN's default training error (`FANN_ERRORFUNC_TANH`), written
//! as a loss. FANN replaces the output error e by ln((1 + e)/(1 − e)) = 2 atanh e before
//! multiplying by f'(z), which stretches large errors; that is the gradient of
//!
//! φ(e) = (1 + e) ln(1 + e) + (1 − e) ln(1 − e) = 2 e atanh e + ln(1 − e²),
//! φ'(e) = ln(1 + e) − ln(1 − e) = ln((1 + e)/(1 − e)) = 2 atanh e,
//!
//! even, convex, φ(e) = e² + e⁴/6 + … near 0 (the squared error for small errors) and
//! φ(±1) = 2 ln 2. Errors are scaled by w = 2 for tanh outputs (targets in [−1, 1]) and
//! w = 1 otherwise, as FANN halves the error of its symmetric activations, so that
//! |e| < 1 for outputs and targets in the activation's range. Beyond |e| = c = 1 − 2⁻²³
//! φ continues linearly, φ(e) = φ(c) + φ'(c) (|e| − c), so its slope stays finite
//! (φ'(c) = ln(2²⁴ − 1) ≈ 16.6; FANN clips it to ±17 at |e| > 0.9999999): the loss is
//! defined for every output, an identity output's too.
//!
//! Over a batch, the loss is the mean of the per-sample losses and the gradients are the
//! mean of the per-sample gradients.
//!
//! **Paired output deltas.** `bce` is only accepted with a sigmoid output and
//! `cross_entropy` only with softmax (and softmax only with `cross_entropy`): for exactly
//! these pairs the chain rule ∂E/∂a · ∂a/∂z collapses to the forms in the table, which
//! never divide by a or 1 − a, so they stay finite where a saturates. For a sigmoid,
//! ∂E/∂a_k = (a_k − y_k) / (a_k (1 − a_k)) and f'(z_k) = a_k (1 − a_k), product a_k − y_k.
//! For softmax, ∂E/∂z_k = Σ_j (−y_j / a_j) a_j (δ_jk − a_k) = a_k Σ_j y_j − y_k, which is
//! a − y when the targets sum to 1 (one-hot labels or probabilities).
//!
//! **Stable values.** The losses are evaluated from z, not from a, so that no log of 0 is
//! ever taken: with softplus(z) = max(z, 0) + ln(1 + e^{−|z|}),
//! bce = Σ_k [softplus(z_k) − y_k z_k], and with lse(z) = m + ln Σ_k e^{z_k − m}, m = max z,
//! cross_entropy = Σ_k y_k (lse(z) − z_k).

use crate::error::{BpropError, Result};
use crate::model::{Activation, Real};
use std::fmt;
use std::str::FromStr;

/// A per-sample loss; see the module documentation for the formulas.
/// Serialised (model files) by its name: `"sse"`, `"mse"`, `"bce"`, `"cross_entropy"`,
/// `"tanh_error"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Loss {
    /// E = ½ Σ (y − a)², the seed's error.
    #[serde(rename = "sse")]
    HalfSse,
    /// E = (1/n) Σ (y − a)².
    #[serde(rename = "mse")]
    Mse,
    /// E = −Σ [y ln a + (1 − y) ln(1 − a)], sigmoid outputs only.
    #[serde(rename = "bce")]
    BinaryCrossEntropy,
    /// E = −Σ y ln a, softmax outputs only.
    #[serde(rename = "cross_entropy")]
    CrossEntropy,
    /// E = Σ φ((a − y)/w), φ(e) = 2 e atanh e + ln(1 − e²): FANN's tanh error function
    /// (w = 2 for tanh outputs, else 1).
    #[serde(rename = "tanh_error")]
    TanhError,
}

pub(crate) const LOSS_NAMES: &str = "sse, mse, bce, cross_entropy, tanh_error";

/// Where the tanh error's φ turns linear: c = 1 − 2⁻²³, exact in f32 and f64.
const TANH_ERROR_CLIP: f64 = 1.0 - 1.0 / 8_388_608.0;

/// The tanh error's scale w: 2 for tanh outputs (range [−1, 1]), 1 otherwise.
pub(crate) fn tanh_error_width<T: Real>(output: Activation) -> T {
    T::of(if output == Activation::Tanh { 2.0 } else { 1.0 })
}

/// φ(e) = (1 + e) ln(1 + e) + (1 − e) ln(1 − e) for |e| ≤ c, linear beyond (module doc).
///
/// Computed as u t + ln(1 − u²) with u = min(|e|, c) and t = φ'(u) = ln(1 + 2u/(1 − u)),
/// both through ln_1p: the two terms are ≈ 2u² and ≈ −u² near 0, so their sum keeps its
/// relative precision where the (1 ± e) ln(1 ± e) form would cancel to nothing. From
/// u = ½ on, ln(1 − u²) = ln(1 − u) + ln(1 + u): 1 − u is exact there, where 1 − u² after
/// rounding u² loses the digits of a u near 1 (the shaders compute the same).
fn tanh_error_phi<T: Real>(e: T) -> T {
    let c = T::of(TANH_ERROR_CLIP);
    let u = e.abs().min(c);
    let t = tanh_error_slope(u);
    let l = if u < T::of(0.5) {
        (-u * u).ln_1p()
    } else {
        (-u).ln_1p() + u.ln_1p()
    };
    u * t + l + t * (e.abs() - u)
}

/// φ'(e) = ln((1 + e)/(1 − e)) = 2 atanh e = ln(1 + 2e/(1 − e)) for |e| ≤ c, and
/// sign(e) φ'(c) beyond (the slope of φ's linear continuation).
fn tanh_error_slope<T: Real>(e: T) -> T {
    let c = T::of(TANH_ERROR_CLIP);
    let u = e.abs().min(c);
    let t = (T::of(2.0) * u / (T::one() - u)).ln_1p();
    if e < T::zero() {
        -t
    } else {
        t
    }
}

/// δ = ∂E/∂a ⊙ f'(z) for a loss with [`Loss::output_gradient`], row by row.
#[inline(always)]
fn chain_delta<T: Real>(loss: Loss, act: Activation, a: &[T], y: &[T], delta: &mut [T]) {
    let n = a.len();
    for ((d, &ak), &yk) in delta.iter_mut().zip(a).zip(y) {
        let de_da = loss
            .output_gradient(act, ak, yk, n)
            .expect("a loss without a paired delta");
        *d = de_da * act.derivative_from_output(ak);
    }
}

/// softplus(z) = ln(1 + e^z) = max(z, 0) + ln(1 + e^{−|z|}), never overflowing.
fn softplus<T: Real>(z: T) -> T {
    z.max(T::zero()) + (-z.abs()).exp().ln_1p()
}

impl Loss {
    /// Checks that this loss may be used with `output` as the last layer's activation.
    ///
    /// # Errors
    /// [`BpropError::LossActivation`] for `bce` without sigmoid, `cross_entropy` without
    /// softmax, or softmax with any loss but `cross_entropy`.
    pub fn check_output(self, output: Activation) -> Result<()> {
        let why = match (self, output) {
            (Loss::CrossEntropy, Activation::Softmax) => return Ok(()),
            (Loss::CrossEntropy, _) => "cross_entropy needs a softmax output layer",
            (_, Activation::Softmax) => "a softmax output layer needs the cross_entropy loss",
            (Loss::BinaryCrossEntropy, Activation::Sigmoid) => return Ok(()),
            (Loss::BinaryCrossEntropy, _) => "bce needs a sigmoid output layer",
            (Loss::HalfSse | Loss::Mse | Loss::TanhError, _) => return Ok(()),
        };
        Err(BpropError::LossActivation {
            loss: self.to_string(),
            activation: output.to_string(),
            why,
        })
    }

    /// Whether targets must lie in [0, 1] (the cross-entropies).
    pub fn needs_unit_targets(self) -> bool {
        matches!(self, Loss::BinaryCrossEntropy | Loss::CrossEntropy)
    }

    /// E for one sample from its pre-activations `z`, outputs `a` and targets `y`, the
    /// output layer's activation being `act`.
    #[inline]
    pub fn value<T: Real>(self, act: Activation, z: &[T], a: &[T], y: &[T]) -> T {
        match self {
            Loss::HalfSse => T::of(0.5) * a.iter().zip(y).map(|(&ak, &yk)| (yk - ak) * (yk - ak)).sum::<T>(),
            Loss::Mse => {
                let n = T::of(a.len() as f64);
                a.iter().zip(y).map(|(&ak, &yk)| (yk - ak) * (yk - ak)).sum::<T>() / n
            }
            Loss::BinaryCrossEntropy => z.iter().zip(y).map(|(&zk, &yk)| softplus(zk) - yk * zk).sum(),
            Loss::CrossEntropy => {
                let m = z.iter().copied().fold(T::neg_infinity(), T::max);
                let lse = m + z.iter().map(|&zk| (zk - m).exp()).sum::<T>().ln();
                z.iter().zip(y).map(|(&zk, &yk)| yk * (lse - zk)).sum()
            }
            Loss::TanhError => {
                let w = tanh_error_width::<T>(act);
                a.iter().zip(y).map(|(&ak, &yk)| tanh_error_phi((ak - yk) / w)).sum()
            }
        }
    }

    /// δ_L = ∂E/∂z_L for one sample, written into `delta` (formulas in the module doc).
    #[inline]
    pub fn output_delta<T: Real>(self, act: Activation, a: &[T], y: &[T], delta: &mut [T]) {
        match self {
            // δ = ∂E/∂a ⊙ f'(z), one loop per loss, so that each inlines its own ∂E/∂a
            Loss::HalfSse => chain_delta(Loss::HalfSse, act, a, y, delta),
            Loss::Mse => chain_delta(Loss::Mse, act, a, y, delta),
            Loss::TanhError => chain_delta(Loss::TanhError, act, a, y, delta),
            Loss::BinaryCrossEntropy => {
                // paired with sigmoid: δ = a − y
                for ((d, &ak), &yk) in delta.iter_mut().zip(a).zip(y) {
                    *d = ak - yk;
                }
            }
            Loss::CrossEntropy => {
                // paired with softmax: δ_k = a_k Σ_j y_j − y_k
                let ysum: T = y.iter().copied().sum();
                for ((d, &ak), &yk) in delta.iter_mut().zip(a).zip(y) {
                    *d = ak * ysum - yk;
                }
            }
        }
    }

    /// ∂E/∂a_k for one output `a` (target `y`) of `n`, for the losses whose δ is
    /// ∂E/∂a ⊙ f'(z); `None` for `bce` and `cross_entropy`, whose δ is paired with the
    /// activation. [`Loss::output_delta`] and `explain` both take it from here.
    #[inline(always)]
    pub(crate) fn output_gradient<T: Real>(self, act: Activation, a: T, y: T, n: usize) -> Option<T> {
        match self {
            // E = ½ Σ (y − a)²: ∂E/∂a_k = a_k − y_k
            Loss::HalfSse => Some(a - y),
            // E = (1/n) Σ (y − a)²: ∂E/∂a_k = (2/n)(a_k − y_k)
            Loss::Mse => Some(T::of(2.0 / n as f64) * (a - y)),
            // E = Σ φ(e_k), e_k = (a_k − y_k)/w: ∂E/∂a_k = φ'(e_k)/w
            Loss::TanhError => {
                let w = tanh_error_width::<T>(act);
                Some(tanh_error_slope((a - y) / w) / w)
            }
            Loss::BinaryCrossEntropy | Loss::CrossEntropy => None,
        }
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Loss::HalfSse => "sse",
            Loss::Mse => "mse",
            Loss::BinaryCrossEntropy => "bce",
            Loss::CrossEntropy => "cross_entropy",
            Loss::TanhError => "tanh_error",
        })
    }
}

impl FromStr for Loss {
    type Err = BpropError;

    /// Parses `sse` (also `half_sse`), `mse`, `bce` (also `binary_cross_entropy`) or
    /// `cross_entropy` (also `ce`, `softmax_cross_entropy`) or `tanh_error` (also
    /// `fann_tanh`), case-insensitive.
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "sse" | "half_sse" => Loss::HalfSse,
            "mse" => Loss::Mse,
            "bce" | "binary_cross_entropy" => Loss::BinaryCrossEntropy,
            "cross_entropy" | "ce" | "softmax_cross_entropy" => Loss::CrossEntropy,
            "tanh_error" | "fann_tanh" => Loss::TanhError,
            _ => {
                return Err(BpropError::UnknownName {
                    kind: "loss",
                    name: s.to_string(),
                    expected: LOSS_NAMES,
                })
            }
        })
    }
}

/// The losses written out, as `bprop explain` prints them beside its numbers.
impl Loss {
    /// The per-sample loss E as a plain-text formula (the module doc's table), e.g.
    /// `E = ½ Σ_k (y_k − a_k)²` for `sse`.
    pub fn formula(self) -> &'static str {
        match self {
            Loss::HalfSse => "E = ½ Σ_k (y_k − a_k)²",
            Loss::Mse => "E = (1/n) Σ_k (y_k − a_k)²",
            Loss::BinaryCrossEntropy => "E = −Σ_k [y_k ln a_k + (1 − y_k) ln(1 − a_k)]",
            Loss::CrossEntropy => "E = −Σ_k y_k ln a_k",
            Loss::TanhError => {
                "E = Σ_k φ(e_k), φ(e) = 2e·atanh e + ln(1 − e²), e = (a − y)/w (w = 2 for a tanh output, else 1; \
                 φ linear beyond |e| = 1 − 2⁻²³)"
            }
        }
    }

    /// ∂E/∂a_k as a plain-text formula, as [`Loss::output_delta`] computes it for an output
    /// layer of `n` neurons with activation `act`: `a − y` (sse), `(2/n)(a − y)`
    /// with n written out (mse), `ln((1 + e)/(1 − e))/w, e = (a − y)/w` with w written out
    /// (tanh_error). `None` for `bce` and `cross_entropy`, whose δ is paired with the
    /// activation.
    pub fn output_gradient_formula(self, act: Activation, n: usize) -> Option<String> {
        match self {
            // E = ½ Σ (y − a)²: ∂E/∂a_k = a_k − y_k
            Loss::HalfSse => Some("a − y".into()),
            // E = (1/n) Σ (y − a)²: ∂E/∂a_k = (2/n)(a_k − y_k)
            Loss::Mse => Some(format!("(2/{n})(a − y)")),
            // E = Σ φ(e_k), e_k = (a_k − y_k)/w: ∂E/∂a_k = φ'(e_k)/w = ln((1 + e)/(1 − e))/w
            Loss::TanhError => {
                let w: f64 = tanh_error_width(act);
                Some(format!("ln((1 + e)/(1 − e))/{w}, e = (a − y)/{w}"))
            }
            Loss::BinaryCrossEntropy | Loss::CrossEntropy => None,
        }
    }
}
