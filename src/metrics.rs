//! Evaluation: a network's mean loss on a dataset and, for classification, its accuracy.
//!
//! A dataset is treated as classification when its targets are class codes: with several
//! outputs, the predicted class is the argmax of the outputs and the true class the argmax
//! of the target row (one-hot labels, as MNIST's and PROBEN1's); with one output, targets
//! all in {0, 1} are thresholded at 0.5 and targets all in {−1, 1} at 0.

use crate::cpu::{self, Workspace};
use crate::error::Result;
use crate::model::{Dataset, Network, Real};
use ndarray::ArrayView1;

/// Loss and accuracy of a network on a dataset.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Metrics {
    /// Mean per-sample loss.
    pub loss: f64,
    /// Fraction of samples classified correctly, when the targets are class codes.
    pub accuracy: Option<f64>,
    /// Number of samples.
    pub n: usize,
}

impl Metrics {
    /// 1 − accuracy, when there is an accuracy.
    pub fn error_rate(&self) -> Option<f64> {
        self.accuracy.map(|a| 1.0 - a)
    }
}

fn argmax<T: Real>(v: ArrayView1<'_, T>) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// How the targets code classes, if they do.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Coding {
    Argmax,
    Threshold(f64),
}

fn coding<T: Real>(data: &Dataset<T>) -> Option<Coding> {
    let y = data.targets();
    if y.ncols() > 1 {
        return Some(Coding::Argmax);
    }
    if y.iter().all(|&v| v == T::zero() || v == T::one()) {
        Some(Coding::Threshold(0.5))
    } else if y.iter().all(|&v| v == T::one() || v == -T::one()) {
        Some(Coding::Threshold(0.0))
    } else {
        None
    }
}

/// Mean loss and (for class-coded targets) accuracy of `net` on `data`, computed on the
/// CPU path in batches of 256 samples.
///
/// # Errors
/// The errors of [`Dataset::check_fits`].
pub fn evaluate<T: Real>(net: &Network<T>, data: &Dataset<T>) -> Result<Metrics> {
    data.check_fits(net)?;
    let coding = coding(data);
    let batch = 256.min(data.len());
    let mut ws = Workspace::new(net, batch);
    let (mut loss, mut correct) = (0.0, 0usize);
    let idx: Vec<u32> = (0..data.len() as u32).collect();
    for rows in idx.chunks(batch) {
        if ws.batch() != rows.len() {
            ws = Workspace::new(net, rows.len());
        }
        ws.gather(data, rows);
        cpu::forward(net, &mut ws);
        loss += cpu::loss(net, &ws).f64() * rows.len() as f64;
        let out = &ws.a[ws.a.len() - 1];
        for (o, y) in out.rows().into_iter().zip(ws.target.rows()) {
            let hit = match coding {
                Some(Coding::Argmax) => argmax(o) == argmax(y),
                Some(Coding::Threshold(t)) => (o[0].f64() > t) == (y[0].f64() > t),
                None => false,
            };
            correct += usize::from(hit);
        }
    }
    let n = data.len();
    Ok(Metrics {
        loss: loss / n as f64,
        accuracy: coding.map(|_| correct as f64 / n as f64),
        n,
    })
}
