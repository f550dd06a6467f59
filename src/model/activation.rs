//! Activation functions a = f(z) and their derivatives.
//!
//! As in scikit-learn, every derivative is written in terms of the activation's *output*
//! a = f(z), so the backward pass needs only the stored activations:
//!
//! | name         | f(z)                          | f'(z) from a = f(z)                 |
//! |--------------|-------------------------------|-------------------------------------|
//! | `identity`   | z                             | 1                                   |
//! | `sigmoid`    | 1 / (1 + e^{-z})              | a (1 − a)                           |
//! | `tanh`       | tanh z                        | 1 − a²                              |
//! | `relu`       | max(0, z)                     | 1 if a > 0 else 0                   |
//! | `leaky_relu` | z if z > 0 else s z (0≤s<1)   | 1 if a > 0 else s                   |
//! | `softmax`    | e^{z_i} / Σ_k e^{z_k}         | ∂a_i/∂z_j = a_i (δ_ij − a_j) (only paired with cross-entropy) |
//!
//! For `relu` and `leaky_relu` the sign of a equals the sign of z because s ≥ 0, so the
//! output decides the branch exactly as z would (the kink at z = 0 takes the 0/s branch).

use crate::error::{BpropError, Result};
use crate::model::Real;
use std::fmt;
use std::str::FromStr;

/// An element-wise (or, for softmax, row-wise) activation function.
///
/// Serialised (model files) as `{"name": "relu"}`, `{"name": "leaky_relu", "slope": 0.01}`;
/// a deserialised value must still be checked with [`Activation::validate`].
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Activation {
    /// f(z) = z.
    Identity,
    /// f(z) = 1 / (1 + e^{−z}).
    Sigmoid,
    /// f(z) = tanh z.
    Tanh,
    /// f(z) = max(0, z).
    Relu,
    /// f(z) = z for z > 0, `slope` · z otherwise; 0 ≤ slope < 1.
    LeakyRelu {
        /// The slope for negative inputs.
        slope: f64,
    },
    /// f(z)_i = e^{z_i} / Σ_k e^{z_k}, computed with the maximum subtracted first. Output
    /// layer only, and only with the cross-entropy loss (see [`crate::model::Loss`]).
    Softmax,
}

/// The accepted spellings, for error messages and `--help`.
pub(crate) const ACTIVATION_NAMES: &str = "identity, sigmoid, tanh, relu, leaky_relu[:SLOPE], softmax";

impl Activation {
    /// The slope used by `leaky_relu` when none is given (as in PyTorch and Keras).
    pub const DEFAULT_LEAKY_SLOPE: f64 = 0.01;

    /// f(z) for the element-wise activations. Softmax is row-wise: use [`Self::apply_row`].
    #[inline]
    pub fn apply<T: Real>(self, z: T) -> T {
        match self {
            Activation::Identity | Activation::Softmax => z,
            Activation::Sigmoid => T::one() / (T::one() + (-z).exp()),
            Activation::Tanh => z.tanh(),
            Activation::Relu => {
                if z > T::zero() {
                    z
                } else {
                    T::zero()
                }
            }
            Activation::LeakyRelu { slope } => {
                if z > T::zero() {
                    z
                } else {
                    T::of(slope) * z
                }
            }
        }
    }

    /// a = f(z) for one sample's pre-activations `z`, written into `a` (same length); for
    /// the element-wise functions any number of samples at once. Softmax subtracts max z
    /// first, so e^{z_i − max} never overflows.
    ///
    /// Each function gets a loop of its own (with [`Self::apply`]'s formula), rather than
    /// one loop choosing the function for every element: the choice inside the loop kept
    /// the compiler from vectorising, and made relu's branch one that the CPU mispredicts
    /// for about half of the elements.
    #[inline(always)]
    pub fn apply_row<T: Real>(self, z: &[T], a: &mut [T]) {
        debug_assert_eq!(z.len(), a.len());
        #[inline(always)]
        fn each<T: Copy>(z: &[T], a: &mut [T], f: impl Fn(T) -> T) {
            for (ai, &zi) in a.iter_mut().zip(z) {
                *ai = f(zi);
            }
        }
        match self {
            Activation::Softmax => {
                let max = z.iter().copied().fold(T::neg_infinity(), T::max);
                let mut sum = T::zero();
                for (ai, &zi) in a.iter_mut().zip(z) {
                    *ai = (zi - max).exp();
                    sum += *ai;
                }
                for ai in a.iter_mut() {
                    *ai = *ai / sum;
                }
            }
            Activation::Identity => each(z, a, |z| Activation::Identity.apply(z)),
            Activation::Sigmoid => each(z, a, |z| Activation::Sigmoid.apply(z)),
            Activation::Tanh => each(z, a, |z| Activation::Tanh.apply(z)),
            Activation::Relu => each(z, a, |z| Activation::Relu.apply(z)),
            Activation::LeakyRelu { slope } => each(z, a, |z| Activation::LeakyRelu { slope }.apply(z)),
        }
    }

    /// δ ← δ ⊙ f'(z), f' from a = f(z), element by element (a loop per function, as in
    /// [`Self::apply_row`]); with a dropout mask m, δ ← δ ⊙ m ⊙ f'(z), in that order.
    #[inline(always)]
    pub fn scale_by_derivative<T: Real>(self, delta: &mut [T], mask: Option<&[T]>, a: &[T]) {
        #[inline(always)]
        fn each<T: Real>(delta: &mut [T], mask: Option<&[T]>, a: &[T], f: impl Fn(T) -> T) {
            match mask {
                Some(m) => {
                    for ((d, &m), &a) in delta.iter_mut().zip(m).zip(a) {
                        *d = *d * m * f(a);
                    }
                }
                None => {
                    for (d, &a) in delta.iter_mut().zip(a) {
                        *d = *d * f(a);
                    }
                }
            }
        }
        match self {
            Activation::Identity => each(delta, mask, a, |a| Activation::Identity.derivative_from_output(a)),
            Activation::Softmax => each(delta, mask, a, |a| Activation::Softmax.derivative_from_output(a)),
            Activation::Sigmoid => each(delta, mask, a, |a| Activation::Sigmoid.derivative_from_output(a)),
            Activation::Tanh => each(delta, mask, a, |a| Activation::Tanh.derivative_from_output(a)),
            Activation::Relu => each(delta, mask, a, |a| Activation::Relu.derivative_from_output(a)),
            Activation::LeakyRelu { slope } => each(delta, mask, a, |a| {
                Activation::LeakyRelu { slope }.derivative_from_output(a)
            }),
        }
    }

    /// f'(z) computed from the output a = f(z) (table in the module doc).
    ///
    /// Softmax has no element-wise derivative (its Jacobian is a_i (δ_ij − a_j)); bprop
    /// only uses it paired with cross-entropy, where δ = a − y, so this returns 1 for it and
    /// the loss module never calls it for softmax.
    #[inline]
    pub fn derivative_from_output<T: Real>(self, a: T) -> T {
        match self {
            // d/dz z = 1
            Activation::Identity | Activation::Softmax => T::one(),
            // d/dz σ(z) = σ(z) (1 − σ(z)) = a (1 − a)
            Activation::Sigmoid => a * (T::one() - a),
            // d/dz tanh z = 1 − tanh² z = 1 − a²
            Activation::Tanh => T::one() - a * a,
            // d/dz max(0, z) = 1 if z > 0 else 0, and z > 0 ⇔ a > 0
            Activation::Relu => {
                if a > T::zero() {
                    T::one()
                } else {
                    T::zero()
                }
            }
            // d/dz leaky(z) = 1 if z > 0 else s, and z > 0 ⇔ a > 0 since s ≥ 0
            Activation::LeakyRelu { slope } => {
                if a > T::zero() {
                    T::one()
                } else {
                    T::of(slope)
                }
            }
        }
    }

    /// The activation's canonical name (`leaky_relu:0.01` carries its slope).
    pub fn name(self) -> String {
        self.to_string()
    }

    /// The slope for `leaky_relu`, 0 for the others.
    pub fn slope(self) -> f64 {
        match self {
            Activation::LeakyRelu { slope } => slope,
            _ => 0.0,
        }
    }

    /// Checks parameters: a leaky slope must be finite and in [0, 1).
    pub fn validate(self) -> Result<()> {
        if let Activation::LeakyRelu { slope } = self {
            if !(slope.is_finite() && (0.0..1.0).contains(&slope)) {
                return Err(BpropError::InvalidArgument {
                    name: "leaky_relu slope",
                    value: slope.to_string(),
                    why: "must be in [0, 1) so that the sign of f(z) is the sign of z".into(),
                });
            }
        }
        Ok(())
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activation::Identity => f.write_str("identity"),
            Activation::Sigmoid => f.write_str("sigmoid"),
            Activation::Tanh => f.write_str("tanh"),
            Activation::Relu => f.write_str("relu"),
            Activation::LeakyRelu { slope } => write!(f, "leaky_relu:{slope}"),
            Activation::Softmax => f.write_str("softmax"),
        }
    }
}

impl FromStr for Activation {
    type Err = BpropError;

    /// Parses `identity`, `sigmoid`, `tanh`, `relu`, `leaky_relu`, `leaky_relu:SLOPE` or
    /// `softmax` (case-insensitive; `linear` is accepted for `identity`).
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        let unknown = || BpropError::UnknownName {
            kind: "activation",
            name: s.to_string(),
            expected: ACTIVATION_NAMES,
        };
        let act = match lower.as_str() {
            "identity" | "linear" => Activation::Identity,
            "sigmoid" | "logistic" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "relu" => Activation::Relu,
            "leaky_relu" => Activation::LeakyRelu {
                slope: Self::DEFAULT_LEAKY_SLOPE,
            },
            "softmax" => Activation::Softmax,
            other => match other.strip_prefix("leaky_relu:") {
                Some(slope) => Activation::LeakyRelu {
                    slope: slope.parse().map_err(|_| unknown())?,
                },
                None => return Err(unknown()),
            },
        };
        act.validate()?;
        Ok(act)
    }
}

/// The functions written out, as `bprop explain` prints them beside its numbers.
impl Activation {
    /// f(z) as a plain-text formula: `z`, `1 / (1 + e^−z)`, `tanh z`, `max(0, z)`,
    /// `z if z > 0, else 0.01·z` (the slope is the layer's), `e^z_i / Σ_k e^z_k`.
    pub fn formula(self) -> String {
        match self {
            Activation::Identity => "z".into(),
            Activation::Sigmoid => "1 / (1 + e^−z)".into(),
            Activation::Tanh => "tanh z".into(),
            Activation::Relu => "max(0, z)".into(),
            Activation::LeakyRelu { slope } => format!("z if z > 0, else {slope}·z"),
            Activation::Softmax => "e^z_i / Σ_k e^z_k".into(),
        }
    }

    /// f'(z) as a plain-text formula in terms of the output a = f(z), written `a` (e.g.
    /// `"a"` or `"a_1"`), as [`Self::derivative_from_output`] computes it: for sigmoid
    /// `a (1 − a)`, tanh `1 − a²`, relu `1 if a > 0, else 0`, leaky_relu
    /// `1 if a > 0, else s`, identity `1`. Softmax gives its Jacobian
    /// `a_i (δ_ij − a_j)`, which bprop uses only paired with cross-entropy.
    pub fn derivative_formula(self, a: &str) -> String {
        match self {
            // d/dz z = 1
            Activation::Identity => "1".into(),
            // σ'(z) = σ(z)(1 − σ(z)) = a (1 − a)
            Activation::Sigmoid => format!("{a} (1 − {a})"),
            // tanh'(z) = 1 − tanh² z = 1 − a²
            Activation::Tanh => format!("1 − {a}²"),
            // relu'(z) = [z > 0] = [a > 0]
            Activation::Relu => format!("1 if {a} > 0, else 0"),
            // leaky'(z) = 1 if z > 0 else s, and z > 0 ⇔ a > 0 (s ≥ 0)
            Activation::LeakyRelu { slope } => format!("1 if {a} > 0, else {slope}"),
            // ∂a_i/∂z_j = a_i (δ_ij − a_j): a Jacobian, used only paired with cross-entropy
            Activation::Softmax => format!("{a}_i (δ_ij − {a}_j) (paired with cross_entropy)"),
        }
    }
}
