//! Dropout (Srivastava et al. 2014), inverted: during training each input of layer l is
//! kept with probability 1 − p_l and scaled by 1 / (1 − p_l), so that inference needs no
//! rescaling. p_0 is the input dropout, every later layer's input (a hidden layer's output)
//! uses the hidden dropout.
//!
//! The keep decisions come from a **counter-based generator**: a hash of (seed, step,
//! layer, batch row, unit), not a stream, so any pass on either path can recompute any
//! mask bit without storing it, and the CPU and GPU paths drop exactly the same units.
//! The hash is Chris Wellons' `lowbias32` integer finaliser chained over the key; a unit
//! is kept when hash ≥ ⌊p · 2³²⌋, an integer comparison both paths make identically.
//!
//! With a mask m ∈ {0, 1/(1 − p)} on the input ã = m ⊙ a of layer l + 1, the chain rule adds
//! the same factor to the backward pass: ∂E/∂W_{l+1} = δ_{l+1} ãᵀ and
//! δ_l = (W_{l+1}ᵀ δ_{l+1}) ⊙ m ⊙ f'(z_l)  (∂ã/∂a = m).

use crate::error::{BpropError, Result};

/// Dropout probabilities and the seed of their masks.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Dropout {
    /// p for the network's inputs, in [0, 1).
    pub input: f64,
    /// p for every hidden layer's outputs, in [0, 1).
    pub hidden: f64,
    /// Seed of the masks.
    pub seed: u64,
}

/// Chris Wellons' lowbias32: a 32-bit integer hash with low bias (also in
/// `shaders/common.wgsl`, bit for bit).
#[inline]
pub fn lowbias32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

impl Dropout {
    /// Checks that both probabilities are in [0, 1).
    ///
    /// # Errors
    /// [`BpropError::InvalidArgument`] naming `dropout`.
    pub fn validate(&self) -> Result<()> {
        for p in [self.input, self.hidden] {
            if !(p.is_finite() && (0.0..1.0).contains(&p)) {
                return Err(BpropError::InvalidArgument {
                    name: "dropout",
                    value: p.to_string(),
                    why: "must be in [0, 1)".into(),
                });
            }
        }
        Ok(())
    }

    /// p for the input of layer `l`.
    pub fn p(&self, layer: usize) -> f64 {
        if layer == 0 {
            self.input
        } else {
            self.hidden
        }
    }

    /// The keep threshold for probability p: a unit is kept when its hash is ≥ this.
    pub fn threshold(p: f64) -> u32 {
        (p * 4_294_967_296.0).floor().min(u32::MAX as f64) as u32
    }

    /// The hash of (seed, step, layer, row, unit), as `shaders/common.wgsl` computes it.
    #[inline]
    pub fn hash(&self, step: u32, layer: u32, row: u32, unit: u32) -> u32 {
        let mut h = lowbias32(unit);
        h = lowbias32(h ^ row);
        h = lowbias32(h ^ layer);
        h = lowbias32(h ^ step);
        h = lowbias32(h ^ self.seed as u32);
        lowbias32(h ^ (self.seed >> 32) as u32)
    }

    /// Whether unit `unit` of row `row` of layer `layer`'s input is kept at `step`.
    #[inline]
    pub fn keep(&self, step: u32, layer: u32, row: u32, unit: u32) -> bool {
        self.hash(step, layer, row, unit) >= Self::threshold(self.p(layer as usize))
    }
}
