//! Evaluation: a network's mean loss on a dataset and, for classification, its accuracy.
//!
//! **One class-decision rule** ([`class_of_row`]) labels a network's output row wherever a
//! class is needed (accuracy, the confusion matrix, `bprop predict`), decided by the output
//! layer: with several outputs, the argmax; with one, class 1 when the output is above the
//! middle of the output activation's range — 0 for tanh (−1, 1), 0.5 for sigmoid (0, 1)
//! and for unbounded outputs (bprop codes two classes in one column as 0 and 1).
//!
//! A dataset is treated as classification when its targets are class codes: one-hot rows
//! (several outputs; the true class is the argmax), or one column all in {0, 1} (split at
//! 0.5) or all in {−1, 1} (split at 0).

use crate::cpu::{self, Workspace};
use crate::error::Result;
use crate::model::{Activation, Dataset, Network, Real};
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

/// The activation of `net`'s output layer, which decides how its outputs become classes.
pub fn output_activation<T: Real>(net: &Network<T>) -> Activation {
    net.layers().last().expect("a network has layers").activation
}

/// The threshold a single output is compared with: the middle of the output activation's
/// range (0 for tanh; 0.5 for sigmoid and for unbounded outputs, whose two classes bprop
/// codes as 0 and 1).
pub fn output_threshold(output: Activation) -> f64 {
    match output {
        Activation::Tanh => 0.0,
        _ => 0.5,
    }
}

/// The class of one output row of a network whose output layer has activation `output`:
/// the argmax for several outputs; for one, 1 when it is above [`output_threshold`], else
/// 0. Every class bprop reports (accuracy, confusion matrix, `bprop predict`) is this.
pub fn class_of_row<T: Real>(row: ArrayView1<'_, T>, output: Activation) -> usize {
    if row.len() > 1 {
        argmax(row)
    } else {
        usize::from(row[0].f64() > output_threshold(output))
    }
}

/// Per-class scores of one output row, for display: the outputs themselves for several
/// outputs; for one output y, [1 − q, q] with q = y mapped from the activation's range onto
/// [0, 1] ((1 + y) / 2 for tanh, y otherwise). The largest score is the class
/// [`class_of_row`] gives (ties to the lower class).
pub fn class_scores<T: Real>(row: ArrayView1<'_, T>, output: Activation) -> Vec<f64> {
    if row.len() > 1 {
        return row.iter().map(|v| v.f64()).collect();
    }
    let y = row[0].f64();
    let q = match output {
        Activation::Tanh => 0.5 * (1.0 + y),
        _ => y,
    };
    vec![1.0 - q, q]
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
/// CPU path in batches of 256 samples; outputs are labelled by [`class_of_row`].
///
/// # Errors
/// The errors of [`Dataset::check_fits`].
pub fn evaluate<T: Real>(net: &Network<T>, data: &Dataset<T>) -> Result<Metrics> {
    data.check_fits(net)?;
    let coding = coding(data);
    let output = output_activation(net);
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
                Some(Coding::Argmax) => class_of_row(o, output) == argmax(y),
                Some(Coding::Threshold(t)) => class_of_row(o, output) == usize::from(y[0].f64() > t),
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

/// The class a target row codes: the argmax for several columns, else the side of
/// `threshold`.
fn target_class<T: Real>(row: ArrayView1<'_, T>, threshold: f64) -> usize {
    if row.len() > 1 {
        argmax(row)
    } else {
        usize::from(row[0].f64() > threshold)
    }
}

/// The true class of each target row, by [`classify`]'s rule: the argmax of a row for
/// several columns; for one column its side of 0.5, or of 0 when some target is negative.
pub fn target_classes<T: Real>(targets: &ndarray::Array2<T>) -> Vec<usize> {
    let threshold = if targets.iter().any(|&v| v < T::zero()) {
        0.0
    } else {
        0.5
    };
    targets.rows().into_iter().map(|y| target_class(y, threshold)).collect()
}

/// Confusion matrix, accuracy, precision and recall of `outputs` of a network whose output
/// activation is `output` against `targets` (both (n, k)): predicted classes by
/// [`class_of_row`]; true classes the argmax of a target row for k ≥ 2, and for k = 1 (two
/// classes) the target's side of 0.5, or of 0 when some target is negative (±1 targets).
///
/// # Panics
/// When the shapes differ (an internal invariant of the callers).
pub fn classify<T: Real>(
    outputs: &ndarray::Array2<T>,
    targets: &ndarray::Array2<T>,
    output: Activation,
) -> ClassReport {
    assert_eq!(outputs.dim(), targets.dim(), "outputs and targets of one shape");
    let k = if targets.ncols() > 1 { targets.ncols() } else { 2 };
    let threshold = if targets.iter().any(|&v| v < T::zero()) {
        0.0
    } else {
        0.5
    };
    let mut confusion = vec![vec![0usize; k]; k];
    for (o, y) in outputs.rows().into_iter().zip(targets.rows()) {
        confusion[target_class(y, threshold)][class_of_row(o, output)] += 1;
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

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, Array1};

    #[test]
    fn one_output_is_split_at_the_middle_of_its_range() {
        let class = |y: f64, a: Activation| class_of_row(arr1(&[y]).view(), a);
        assert_eq!((class(0.3, Activation::Tanh), class(-0.1, Activation::Tanh)), (1, 0));
        assert_eq!(
            (class(0.3, Activation::Sigmoid), class(0.6, Activation::Sigmoid)),
            (0, 1)
        );
        assert_eq!((class(0.5, Activation::Sigmoid), class(0.0, Activation::Tanh)), (0, 0));
        assert_eq!(class(0.7, Activation::Identity), 1);
        assert_eq!(class_of_row(arr1(&[0.1, 0.7, 0.2]).view(), Activation::Softmax), 1);
    }

    #[test]
    fn the_largest_score_is_the_class() {
        for a in [Activation::Tanh, Activation::Sigmoid, Activation::Identity] {
            for i in -20..=20 {
                let row: Array1<f32> = arr1(&[i as f32 * 0.05]);
                let s = class_scores(row.view(), a);
                let best = usize::from(s[1] > s[0]);
                assert_eq!(best, class_of_row(row.view(), a), "{a} {}", row[0]);
            }
        }
    }

    #[test]
    fn classify_labels_outputs_by_the_rule() {
        // ±1 targets, tanh outputs between 0 and 0.5: class 1 by the rule.
        let outputs = ndarray::arr2(&[[0.3f64], [-0.2], [0.4]]);
        let targets = ndarray::arr2(&[[1.0f64], [-1.0], [-1.0]]);
        let r = classify(&outputs, &targets, Activation::Tanh);
        assert_eq!(r.confusion, vec![vec![1, 1], vec![0, 1]]);
    }
}
