//! The seed's network: the 2-2-1 sigmoid network of the blog post this project grew from
//! (`shared/seed/`), its data, and the figures its listing printed.
//!
//! The listing has two flaws: its network has no biases although the text speaks of
//! weights *and* biases, and its hidden-layer update is wrong. `l1_error = l2_delta * w1`
//! is a 1×2 row and `nonlin(l1, deriv=True)` a 2×1 column, so numpy broadcasting makes
//! `l1_delta` a 2×2 matrix, and `w0 += l0.T.dot(l1_delta)` adds the same row to both rows
//! of w0. Backpropagation's update is the outer product of the hidden deltas and the input,
//! w0 += (w1ᵀ δ₂ ⊙ l1 (1 − l1)) l0ᵀ. [`faulty_step`] replays the listing as written, so
//! that its printed numbers can be reproduced and set beside the correct ones.

use crate::model::{Activation, Dataset, Layer, Loss, Network, Real};
use ndarray::array;

/// The seed's input x = (0.35, 0.9).
pub const INPUT: [f64; 2] = [0.35, 0.9];
/// The seed's target y = 0.5.
pub const TARGET: f64 = 0.5;
/// The seed's initial hidden weights (hidden × input).
pub const W0: [[f64; 2]; 2] = [[0.1, 0.8], [0.4, 0.6]];
/// The seed's initial output weights (output × hidden).
pub const W1: [[f64; 2]; 1] = [[0.3, 0.9]];
/// The seed's learning rate (its updates add the raw gradient).
pub const LEARNING_RATE: f64 = 1.0;
/// The seed's number of iterations.
pub const ITERATIONS: usize = 100;

/// The figures the seed's listing printed for its last (100th) iteration: the error
/// computed before that iteration's update, and the weights after it. These are what the
/// faulty program computes, not backpropagation's values.
pub mod printed {
    /// E at iteration 100.
    pub const ERROR: f64 = 5.92944818e-07;
    /// w0 after iteration 100.
    pub const W0: [[f64; 2]; 2] = [[0.0993309, 0.6425254], [0.3993309, 0.4425254]];
    /// w1 after iteration 100.
    pub const W1: [[f64; 2]; 1] = [[-0.30032342, 0.31508797]];
}

/// The seed's network: 2-2-1, sigmoid on both layers, no biases, E = ½ (y − ŷ)².
pub fn network<T: Real>() -> Network<T> {
    let w0 = array![[W0[0][0], W0[0][1]], [W0[1][0], W0[1][1]]].mapv(T::of);
    let w1 = array![[W1[0][0], W1[0][1]]].mapv(T::of);
    Network::new(
        vec![
            Layer {
                weights: w0,
                bias: None,
                activation: Activation::Sigmoid,
            },
            Layer {
                weights: w1,
                bias: None,
                activation: Activation::Sigmoid,
            },
        ],
        Loss::HalfSse,
    )
    .expect("the seed's network is valid")
}

/// The seed's one-sample dataset.
pub fn dataset<T: Real>() -> Dataset<T> {
    Dataset::new(array![[T::of(INPUT[0]), T::of(INPUT[1])]], array![[T::of(TARGET)]]).expect("the seed's data is valid")
}

/// One iteration of the seed's listing exactly as written, flaw included. Returns the
/// error it prints (before the update) and updates `w0`, `w1` in place.
pub fn faulty_step(w0: &mut [[f64; 2]; 2], w1: &mut [[f64; 2]; 1]) -> f64 {
    let sig = |z: f64| 1.0 / (1.0 + (-z).exp());
    let l0 = INPUT;
    let l1 = [
        sig(w0[0][0] * l0[0] + w0[0][1] * l0[1]),
        sig(w0[1][0] * l0[0] + w0[1][1] * l0[1]),
    ];
    let l2 = sig(w1[0][0] * l1[0] + w1[0][1] * l1[1]);
    let error = 0.5 * (TARGET - l2) * (TARGET - l2);
    let l2_delta = (TARGET - l2) * l2 * (1.0 - l2);
    // l1_error = l2_delta * w1 is a 1x2 row; times the 2x1 column l1 (1 − l1) numpy
    // broadcasts to l1_delta[i][j] = l2_delta · w1[j] · l1[i] (1 − l1[i]).
    let l1_delta = [0, 1].map(|i| [0, 1].map(|j| l2_delta * w1[0][j] * l1[i] * (1.0 - l1[i])));
    w1[0][0] += l2_delta * l1[0];
    w1[0][1] += l2_delta * l1[1];
    // w0 += l0.T.dot(l1_delta): l0.T is 1x2, so the 1x2 row Σ_i l0[i] l1_delta[i] is
    // broadcast onto both rows of w0 — every row receives the same update.
    let row = [0, 1].map(|j| l0[0] * l1_delta[0][j] + l0[1] * l1_delta[1][j]);
    for w0_row in w0.iter_mut() {
        w0_row[0] += row[0];
        w0_row[1] += row[1];
    }
    error
}
