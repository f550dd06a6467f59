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

/// Per-class results of a classifier: the confusion matrix and what follows from it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ClassReport {
    /// Number of classes.
    pub classes: usize,
    /// `confusion[t][p]`: samples of true class t predicted as p.
    pub confusion: Vec<Vec<usize>>,
    /// Fraction of samples on the diagonal.
    pub accuracy: f64,
    /// Per class: correct / predicted as the class (`None` when never predicted).
    pub precision: Vec<Option<f64>>,
    /// Per class: correct / truly of the class (`None` when absent from the data).
    pub recall: Vec<Option<f64>>,
    /// Per class: samples truly of the class.
    pub support: Vec<usize>,
}

/// The class of one row: the argmax for several columns, else the side of `threshold`.
fn class_of<T: Real>(row: ArrayView1<'_, T>, threshold: f64) -> usize {
    if row.len() > 1 {
        argmax(row)
    } else {
        usize::from(row[0].f64() > threshold)
    }
}

/// Confusion matrix, accuracy, precision and recall of `outputs` against `targets`
/// (both (n, k)): classes are argmaxes for k ≥ 2; for k = 1 there are two classes, split
/// at 0.5 (or at 0 when some target is negative, as for ±1 targets).
///
/// # Panics
/// When the shapes differ (an internal invariant of the callers).
pub fn classify<T: Real>(outputs: &ndarray::Array2<T>, targets: &ndarray::Array2<T>) -> ClassReport {
    assert_eq!(outputs.dim(), targets.dim(), "outputs and targets of one shape");
    let k = if targets.ncols() > 1 { targets.ncols() } else { 2 };
    let threshold = if targets.iter().any(|&v| v < T::zero()) {
        0.0
    } else {
        0.5
    };
    let mut confusion = vec![vec![0usize; k]; k];
    for (o, y) in outputs.rows().into_iter().zip(targets.rows()) {
        confusion[class_of(y, threshold)][class_of(o, threshold)] += 1;
    }
    let n: usize = confusion.iter().flatten().sum();
    let correct: usize = (0..k).map(|c| confusion[c][c]).sum();
    let support: Vec<usize> = confusion.iter().map(|r| r.iter().sum()).collect();
    let predicted: Vec<usize> = (0..k).map(|p| confusion.iter().map(|r| r[p]).sum()).collect();
    let ratio = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
    ClassReport {
        classes: k,
        accuracy: correct as f64 / n.max(1) as f64,
        precision: (0..k).map(|c| ratio(confusion[c][c], predicted[c])).collect(),
        recall: (0..k).map(|c| ratio(confusion[c][c], support[c])).collect(),
        support,
        confusion,
    }
}

/// Errors of a regressor.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RegressionReport {
    /// Mean squared error over all outputs and samples.
    pub mse: f64,
    /// Mean absolute error over all outputs and samples.
    pub mae: f64,
    /// Per output: R² = 1 − SS_res / SS_tot (`None` for a constant target).
    pub r2: Vec<Option<f64>>,
}

/// MSE, MAE and per-output R² of `outputs` against `targets` (both (n, k)).
///
/// # Panics
/// When the shapes differ (an internal invariant of the callers).
pub fn regress<T: Real>(outputs: &ndarray::Array2<T>, targets: &ndarray::Array2<T>) -> RegressionReport {
    assert_eq!(outputs.dim(), targets.dim(), "outputs and targets of one shape");
    let count = outputs.len().max(1) as f64;
    let (mut se, mut ae) = (0.0, 0.0);
    for (&o, &y) in outputs.iter().zip(targets.iter()) {
        let d = o.f64() - y.f64();
        se += d * d;
        ae += d.abs();
    }
    let r2 = outputs
        .columns()
        .into_iter()
        .zip(targets.columns())
        .map(|(o, y)| {
            let mean = y.iter().map(|v| v.f64()).sum::<f64>() / y.len().max(1) as f64;
            let tot: f64 = y.iter().map(|v| (v.f64() - mean).powi(2)).sum();
            let res: f64 = o.iter().zip(y.iter()).map(|(a, b)| (a.f64() - b.f64()).powi(2)).sum();
            (tot > 0.0).then(|| 1.0 - res / tot)
        })
        .collect();
    RegressionReport {
        mse: se / count,
        mae: ae / count,
        r2,
    }
}
