//! Optimizers, learning-rate schedules and regularisation: the update rules both paths
//! apply to each parameter p with gradient g = ∂E/∂p (the batch mean).
//!
//! | optimizer | state (s₀, s₁) | update |
//! |---|---|---|
//! | `sgd` | — | p ← p − η g |
//! | `momentum` μ | velocity v | v ← μ v + g;  p ← p − η v |
//! | `nesterov` μ | velocity v | v ← μ v + g;  p ← p − η (g + μ v) |
//! | `adam` β₁ β₂ ε | m, v | m ← β₁ m + (1 − β₁) g;  v ← β₂ v + (1 − β₂) g²;  p ← p − η (m / c₁) / (√(v / c₂) + ε) |
//! | `adamw` | m, v | p ← p − η λ_w p, then as `adam` |
//! | `irprop-` | previous g, step Δ | if g·g₋ > 0: Δ ← min(η⁺Δ, Δ_max); if g·g₋ < 0: Δ ← max(η⁻Δ, Δ_min), g ← 0;  p ← p − sign(g) Δ;  g₋ ← g |
//!
//! with c₁ = 1 − β₁ᵗ, c₂ = 1 − β₂ᵗ at step t = 1, 2, ... (Adam's bias corrections). The
//! momentum forms are PyTorch's (the learning rate multiplies the velocity, not the
//! gradient inside it). iRPROP− is Igel & Hüsken (2000), FANN's default: it ignores η and
//! is meant for full-batch training; Δ starts at Δ₀.
//!
//! **Subnormal state is flushed to zero.** A new velocity, m or v smaller in magnitude than
//! the smallest normal number of its precision (1.2e-38 in f32, 2.2e-308 in f64) is stored
//! as 0. Where a gradient is exactly 0 for good (an input that is 0 in every sample, like
//! MNIST's border pixels, or a dead relu), v ← μ v decays into the subnormal range and,
//! rounding to nearest, stays at the smallest subnormal for ever; on x86 every operation on
//! a subnormal takes a microcode assist, and an MNIST epoch ran 10% slower from the third
//! epoch on. Such a value moves no weight (η v rounds away against any normal weight), so
//! flushing it changes no weight that matters; both paths flush (GPUs often do anyway).
//!
//! **L2 weight decay** λ (coupled, as in the classic formulation and in PyTorch's
//! `weight_decay` for SGD and Adam) adds λ W to the weights' gradient, i.e. ½ λ ‖W‖² to
//! the loss; biases are not decayed. **AdamW** decouples it instead (λ_w above, also
//! weights only). **Max-norm** c rescales each neuron's incoming weight row after the
//! update so that ‖W[i, :]‖₂ ≤ c (Srivastava et al. 2014).
//!
//! **Schedules** give η at step t (0-based): constant η; `step` η γ^⌊t/s⌋; `exponential`
//! η γ^t; `cosine` η_min + ½ (η − η_min)(1 + cos(π t / T)) for t < T, η_min after. The host
//! computes η and the bias corrections per step in f64 and both paths read them, so the
//! paths apply the same numbers.

use crate::error::{BpropError, Result};
use crate::model::{Dropout, Network, Real};
use ndarray::{Array1, Array2};
use std::fmt;
use std::str::FromStr;

/// An update rule; see the module documentation for the formulas.
///
/// Serialised (model files) with every constant: `{"rule": "adam", "beta1": 0.9, ...}`;
/// check a deserialised value with [`Optimizer::validate`].
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Optimizer {
    /// Plain gradient descent (the seed's rule).
    Sgd,
    /// Heavy-ball momentum μ ∈ [0, 1).
    Momentum {
        /// μ.
        momentum: f64,
    },
    /// Nesterov momentum μ ∈ [0, 1).
    Nesterov {
        /// μ.
        momentum: f64,
    },
    /// Adam (Kingma & Ba 2015); with `decoupled_decay` > 0 it is AdamW (Loshchilov & Hutter 2019).
    Adam {
        /// β₁ ∈ [0, 1).
        beta1: f64,
        /// β₂ ∈ [0, 1).
        beta2: f64,
        /// ε > 0.
        eps: f64,
        /// λ_w ≥ 0, AdamW's decoupled weight decay (0 for Adam).
        decoupled_decay: f64,
    },
    /// iRPROP− (Igel & Hüsken 2000), for full-batch training.
    #[serde(rename = "irprop-")]
    IRpropMinus {
        /// η⁺ > 1, growth of a step whose gradient kept its sign.
        eta_plus: f64,
        /// η⁻ ∈ (0, 1), shrink of a step whose gradient changed sign.
        eta_minus: f64,
        /// Δ₀ > 0, the initial step.
        delta0: f64,
        /// Δ_min ≥ 0.
        delta_min: f64,
        /// Δ_max > Δ_min.
        delta_max: f64,
    },
}

pub(crate) const OPTIMIZER_NAMES: &str = "sgd, momentum[:MU], nesterov[:MU], adam, adamw[:DECAY], irprop-";

impl Optimizer {
    /// Adam with the usual β₁ = 0.9, β₂ = 0.999, ε = 1e-8.
    pub const ADAM: Optimizer = Optimizer::Adam {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        decoupled_decay: 0.0,
    };
    /// iRPROP− with FANN's defaults: η⁺ 1.2, η⁻ 0.5, Δ₀ 0.1, Δ_min 0, Δ_max 50.
    pub const IRPROP: Optimizer = Optimizer::IRpropMinus {
        eta_plus: 1.2,
        eta_minus: 0.5,
        delta0: 0.1,
        delta_min: 0.0,
        delta_max: 50.0,
    };

    /// Whether the rule keeps per-parameter state (all but plain SGD).
    pub fn has_state(&self) -> bool {
        !matches!(self, Optimizer::Sgd)
    }

    /// The initial value of the state slots (s₀, s₁): zeros, except iRPROP−'s Δ₀.
    pub fn initial_state(&self) -> (f64, f64) {
        match *self {
            Optimizer::IRpropMinus { delta0, .. } => (0.0, delta0),
            _ => (0.0, 0.0),
        }
    }

    /// Checks the constants' ranges.
    ///
    /// # Errors
    /// [`BpropError::InvalidArgument`] naming the constant.
    pub fn validate(&self) -> Result<()> {
        let bad = |name, v: f64, why: &str| {
            Err(BpropError::InvalidArgument {
                name,
                value: v.to_string(),
                why: why.into(),
            })
        };
        let unit = |v: f64| v.is_finite() && (0.0..1.0).contains(&v);
        match *self {
            Optimizer::Sgd => {}
            Optimizer::Momentum { momentum } | Optimizer::Nesterov { momentum } => {
                if !unit(momentum) {
                    return bad("momentum", momentum, "must be in [0, 1)");
                }
            }
            Optimizer::Adam {
                beta1,
                beta2,
                eps,
                decoupled_decay,
            } => {
                if !unit(beta1) {
                    return bad("beta1", beta1, "must be in [0, 1)");
                }
                if !unit(beta2) {
                    return bad("beta2", beta2, "must be in [0, 1)");
                }
                if !(eps.is_finite() && eps > 0.0) {
                    return bad("eps", eps, "must be positive");
                }
                if !(decoupled_decay.is_finite() && decoupled_decay >= 0.0) {
                    return bad("weight_decay", decoupled_decay, "must be ≥ 0");
                }
            }
            Optimizer::IRpropMinus {
                eta_plus,
                eta_minus,
                delta0,
                delta_min,
                delta_max,
            } => {
                if !(eta_plus.is_finite() && eta_plus > 1.0) {
                    return bad("eta_plus", eta_plus, "must be > 1");
                }
                if !(eta_minus > 0.0 && eta_minus < 1.0) {
                    return bad("eta_minus", eta_minus, "must be in (0, 1)");
                }
                if !(delta_min >= 0.0 && delta_max > delta_min && delta_max.is_finite()) {
                    return bad("delta_max", delta_max, "must be finite and > delta_min ≥ 0");
                }
                if !(delta0 > 0.0 && delta0.is_finite()) {
                    return bad("delta0", delta0, "must be positive");
                }
            }
        }
        Ok(())
    }

    /// Updates one parameter `p` with gradient `g` (coupled weight decay already added)
    /// and state `s0`, `s1`, with the step's values `k` (module doc). `decay_p` says whether
    /// AdamW's decoupled decay applies to this parameter (weights, not biases).
    #[inline(always)]
    pub fn apply<T: Real>(&self, p: &mut T, g: T, s0: &mut T, s1: &mut T, k: &StepValues<T>, decay_p: bool) {
        let StepValues { lr, c1, c2 } = *k;
        match *self {
            Optimizer::Sgd => *p -= lr * g,
            Optimizer::Momentum { momentum } => {
                *s0 = flush_subnormal(T::of(momentum) * *s0 + g);
                *p -= lr * *s0;
            }
            Optimizer::Nesterov { momentum } => {
                let mu = T::of(momentum);
                *s0 = flush_subnormal(mu * *s0 + g);
                *p -= lr * (g + mu * *s0);
            }
            Optimizer::Adam {
                beta1,
                beta2,
                eps,
                decoupled_decay,
            } => {
                if decay_p && decoupled_decay > 0.0 {
                    *p -= lr * T::of(decoupled_decay) * *p;
                }
                let (b1, b2) = (T::of(beta1), T::of(beta2));
                *s0 = flush_subnormal(b1 * *s0 + (T::one() - b1) * g);
                *s1 = flush_subnormal(b2 * *s1 + (T::one() - b2) * g * g);
                *p -= lr * (*s0 / c1) / ((*s1 / c2).sqrt() + T::of(eps));
            }
            Optimizer::IRpropMinus {
                eta_plus,
                eta_minus,
                delta_min,
                delta_max,
                ..
            } => {
                let mut g = g;
                let sign_change = g * *s0;
                if sign_change > T::zero() {
                    *s1 = (*s1 * T::of(eta_plus)).min(T::of(delta_max));
                } else if sign_change < T::zero() {
                    *s1 = (*s1 * T::of(eta_minus)).max(T::of(delta_min));
                    g = T::zero();
                }
                if g > T::zero() {
                    *p -= *s1;
                } else if g < T::zero() {
                    *p += *s1;
                }
                *s0 = g;
            }
        }
    }
}

/// `x`, or 0 when |x| is below the smallest normal number of `T` (module doc).
#[inline(always)]
pub(crate) fn flush_subnormal<T: Real>(x: T) -> T {
    if x.abs() < T::min_positive_value() {
        T::zero()
    } else {
        x
    }
}

impl fmt::Display for Optimizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Optimizer::Sgd => f.write_str("sgd"),
            Optimizer::Momentum { momentum } => write!(f, "momentum:{momentum}"),
            Optimizer::Nesterov { momentum } => write!(f, "nesterov:{momentum}"),
            Optimizer::Adam { decoupled_decay, .. } if decoupled_decay > 0.0 => write!(f, "adamw:{decoupled_decay}"),
            Optimizer::Adam { .. } => f.write_str("adam"),
            Optimizer::IRpropMinus { .. } => f.write_str("irprop-"),
        }
    }
}

impl FromStr for Optimizer {
    type Err = BpropError;

    /// Parses `sgd`, `momentum[:MU]` (0.9), `nesterov[:MU]` (0.9), `adam`, `adamw[:DECAY]`
    /// (0.01) or `irprop-` (also `rprop`).
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        let (name, arg) = match lower.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (lower.as_str(), None),
        };
        let unknown = || BpropError::UnknownName {
            kind: "optimizer",
            name: s.into(),
            expected: OPTIMIZER_NAMES,
        };
        let num = |default: f64| -> Result<f64> { arg.map_or(Ok(default), |a| a.parse().map_err(|_| unknown())) };
        let opt = match name {
            "sgd" if arg.is_none() => Optimizer::Sgd,
            "momentum" => Optimizer::Momentum { momentum: num(0.9)? },
            "nesterov" => Optimizer::Nesterov { momentum: num(0.9)? },
            "adam" if arg.is_none() => Optimizer::ADAM,
            "adamw" => Optimizer::Adam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                decoupled_decay: num(0.01)?,
            },
            "irprop-" | "irprop" | "rprop" if arg.is_none() => Optimizer::IRPROP,
            _ => return Err(unknown()),
        };
        opt.validate()?;
        Ok(opt)
    }
}

/// A learning-rate schedule: η at step t (module doc). Serialised as
/// `{"kind": "cosine", "total": 1000, "min_lr": 0.0}`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schedule {
    /// η.
    Constant,
    /// η γ^⌊t / every⌋.
    Step {
        /// Steps between decays, ≥ 1.
        every: usize,
        /// γ ∈ (0, 1].
        gamma: f64,
    },
    /// η γ^t.
    Exponential {
        /// γ ∈ (0, 1].
        gamma: f64,
    },
    /// η_min + ½ (η − η_min)(1 + cos(π t / T)), η_min from step T on.
    Cosine {
        /// T ≥ 1.
        total: usize,
        /// η_min ≥ 0.
        min_lr: f64,
    },
}

impl Schedule {
    /// η at step `t` for base rate `lr`.
    pub fn lr_at(&self, lr: f64, t: u64) -> f64 {
        match *self {
            Schedule::Constant => lr,
            Schedule::Step { every, gamma } => lr * gamma.powi((t / every.max(1) as u64) as i32),
            Schedule::Exponential { gamma } => lr * gamma.powf(t as f64),
            Schedule::Cosine { total, min_lr } => {
                if t >= total as u64 {
                    min_lr
                } else {
                    min_lr + 0.5 * (lr - min_lr) * (1.0 + (std::f64::consts::PI * t as f64 / total as f64).cos())
                }
            }
        }
    }

    /// Checks the schedule's parameters.
    ///
    /// # Errors
    /// [`BpropError::InvalidArgument`] naming the parameter.
    pub fn validate(&self) -> Result<()> {
        let bad = |name, v: String, why: &str| {
            Err(BpropError::InvalidArgument {
                name,
                value: v,
                why: why.into(),
            })
        };
        match *self {
            Schedule::Constant => Ok(()),
            Schedule::Step { every, gamma } => {
                if every == 0 {
                    return bad("schedule step", "0".into(), "must be at least 1");
                }
                if !(gamma > 0.0 && gamma <= 1.0) {
                    return bad("schedule gamma", gamma.to_string(), "must be in (0, 1]");
                }
                Ok(())
            }
            Schedule::Exponential { gamma } => {
                if !(gamma > 0.0 && gamma <= 1.0) {
                    return bad("schedule gamma", gamma.to_string(), "must be in (0, 1]");
                }
                Ok(())
            }
            Schedule::Cosine { total, min_lr } => {
                if total == 0 {
                    return bad("schedule total steps", "0".into(), "must be at least 1");
                }
                if !(min_lr.is_finite() && min_lr >= 0.0) {
                    return bad("schedule min_lr", min_lr.to_string(), "must be ≥ 0");
                }
                Ok(())
            }
        }
    }
}

/// Everything an update needs besides the gradients: rule, rate, schedule, regularisation.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Hyper {
    /// The update rule.
    pub optimizer: Optimizer,
    /// Base learning rate η > 0 (ignored by iRPROP−).
    pub learning_rate: f64,
    /// η's schedule over steps.
    pub schedule: Schedule,
    /// Coupled L2 weight decay λ ≥ 0 on weights (not biases).
    pub weight_decay: f64,
    /// Max-norm c on each neuron's incoming weights, if any.
    pub max_norm: Option<f64>,
    /// Dropout on the inputs and hidden layers during training, if any.
    pub dropout: Option<Dropout>,
}

impl Hyper {
    /// Plain gradient descent at rate `lr`, nothing else.
    pub fn sgd(lr: f64) -> Self {
        Hyper {
            optimizer: Optimizer::Sgd,
            learning_rate: lr,
            schedule: Schedule::Constant,
            weight_decay: 0.0,
            max_norm: None,
            dropout: None,
        }
    }

    /// `self` with another optimizer.
    pub fn with_optimizer(mut self, optimizer: Optimizer) -> Self {
        self.optimizer = optimizer;
        self
    }

    /// Checks every hyperparameter.
    ///
    /// # Errors
    /// [`BpropError::InvalidArgument`] naming the argument.
    pub fn validate(&self) -> Result<()> {
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(BpropError::InvalidArgument {
                name: "learning_rate",
                value: self.learning_rate.to_string(),
                why: "must be a positive finite number".into(),
            });
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(BpropError::InvalidArgument {
                name: "weight_decay",
                value: self.weight_decay.to_string(),
                why: "must be ≥ 0".into(),
            });
        }
        if let Some(c) = self.max_norm {
            if !(c.is_finite() && c > 0.0) {
                return Err(BpropError::InvalidArgument {
                    name: "max_norm",
                    value: c.to_string(),
                    why: "must be positive".into(),
                });
            }
        }
        if let Some(d) = &self.dropout {
            d.validate()?;
        }
        self.optimizer.validate()?;
        self.schedule.validate()
    }

    /// Whether [`Hyper::step_values`] depends on the step: under a schedule other than
    /// constant, or with Adam's bias corrections. Otherwise every step's values are step 0's.
    pub fn step_values_vary(&self) -> bool {
        !matches!(self.schedule, Schedule::Constant) || matches!(self.optimizer, Optimizer::Adam { .. })
    }

    /// The per-step values for step `t` (0-based, counted over the whole run), in f64.
    pub fn step_values(&self, t: u64) -> StepValues<f64> {
        let lr = self.schedule.lr_at(self.learning_rate, t);
        match self.optimizer {
            Optimizer::Adam { beta1, beta2, .. } => {
                let n = (t + 1) as f64;
                StepValues {
                    lr,
                    c1: 1.0 - beta1.powf(n),
                    c2: 1.0 - beta2.powf(n),
                }
            }
            _ => StepValues { lr, c1: 1.0, c2: 1.0 },
        }
    }
}

/// The values an update needs that change from step to step, computed on the host in f64
/// and given to both paths: η_t and Adam's bias corrections c₁ = 1 − β₁^{t+1},
/// c₂ = 1 − β₂^{t+1} (1 for the other rules).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepValues<T> {
    /// η_t.
    pub lr: T,
    /// c₁.
    pub c1: T,
    /// c₂.
    pub c2: T,
}

impl StepValues<f64> {
    /// The same values rounded to `T`.
    pub fn cast<T: Real>(&self) -> StepValues<T> {
        StepValues {
            lr: T::of(self.lr),
            c1: T::of(self.c1),
            c2: T::of(self.c2),
        }
    }
}

/// Per-parameter optimizer state: two slots (s₀, s₁) per weight and per bias, and the
/// number of steps taken. Saved with a model to resume training exactly.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimState<T> {
    /// The optimizer this state belongs to.
    pub optimizer: Optimizer,
    /// Steps taken so far (t in the module doc).
    pub step: u64,
    /// Per layer: (s₀, s₁) for the weights, each (fan_out, fan_in).
    pub weights: Vec<[Array2<T>; 2]>,
    /// Per layer: (s₀, s₁) for the bias, each fan_out (kept for layers without bias).
    pub bias: Vec<[Array1<T>; 2]>,
}

impl<T: Real> OptimState<T> {
    /// Fresh state for `optimizer` on `net`'s shapes, at step 0.
    pub fn new(optimizer: Optimizer, net: &Network<T>) -> Self {
        let (a, b) = optimizer.initial_state();
        let (a, b) = (T::of(a), T::of(b));
        OptimState {
            optimizer,
            step: 0,
            weights: net
                .layers()
                .iter()
                .map(|l| {
                    [
                        Array2::from_elem(l.weights.dim(), a),
                        Array2::from_elem(l.weights.dim(), b),
                    ]
                })
                .collect(),
            bias: net
                .layers()
                .iter()
                .map(|l| [Array1::from_elem(l.fan_out(), a), Array1::from_elem(l.fan_out(), b)])
                .collect(),
        }
    }

    /// Whether this state fits `net`'s shapes.
    pub fn fits(&self, net: &Network<T>) -> bool {
        self.weights.len() == net.layers().len()
            && net
                .layers()
                .iter()
                .zip(&self.weights)
                .all(|(l, [s, _])| s.dim() == l.weights.dim())
    }
}

impl fmt::Display for Schedule {
    /// `constant`, `cosine over 200 steps to 0.001`, `step: ×0.1 every 20 steps`,
    /// `exponential: ×0.99 per step`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Schedule::Constant => f.write_str("constant"),
            Schedule::Step { every, gamma } => write!(f, "step: ×{gamma} every {every} steps"),
            Schedule::Exponential { gamma } => write!(f, "exponential: ×{gamma} per step"),
            Schedule::Cosine { total, min_lr } => write!(f, "cosine over {total} steps to {min_lr}"),
        }
    }
}
