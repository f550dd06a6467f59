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
    let part = evaluate_part(net, data, 0..data.len())?;
    let n = data.len();
    Ok(Metrics {
        loss: part.loss_sum / n as f64,
        accuracy: part.correct.map(|c| c as f64 / n as f64),
        n,
    })
}

/// What [`evaluate_part`] returns: sums over some rows of a dataset, which the parts of a
/// dataset add up to the whole's (data-parallel evaluation, [`crate::dist`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PartialMetrics {
    /// The sum of the rows' losses.
    pub loss_sum: f64,
    /// How many rows were classified correctly, when the dataset's targets code classes
    /// (decided from the whole dataset, so that every part agrees).
    pub correct: Option<usize>,
}

/// [`evaluate`]'s sums over the rows `rows` of `data` (batches of 256 from `rows.start`).
///
/// # Errors
/// The errors of [`Dataset::check_fits`]; [`crate::BpropError::InvalidArgument`] when
/// `rows` is not within the dataset.
pub fn evaluate_part<T: Real>(
    net: &Network<T>,
    data: &Dataset<T>,
    rows: std::ops::Range<usize>,
) -> Result<PartialMetrics> {
    data.check_fits(net)?;
    if rows.start > rows.end || rows.end > data.len() {
        return Err(crate::BpropError::InvalidArgument {
            name: "rows",
            value: format!("{rows:?}"),
            why: format!("must lie within the dataset's {} rows", data.len()),
        });
    }
    let coding = coding(data);
    let output = output_activation(net);
    let batch = 256.min(rows.len()).max(1);
    let mut ws = Workspace::new(net, batch);
    let (mut loss, mut correct) = (0.0, 0usize);
    let idx: Vec<u32> = (rows.start as u32..rows.end as u32).collect();
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
    Ok(PartialMetrics {
        loss_sum: loss,
        correct: coding.map(|_| correct),
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
    /// Per class: F1 = 2·P·R / (P + R), 0 when the class is never predicted or never
    /// correct (scikit-learn's `zero_division=0`); `None` for a class neither present nor
    /// predicted.
    pub f1: Vec<Option<f64>>,
    /// The mean F1 over the classes present or predicted ([`macro_f1`]).
    pub macro_f1: f64,
    /// The F1s weighted by support ([`weighted_f1`]).
    pub weighted_f1: f64,
    /// The mean recall over the classes present ([`balanced_accuracy`]).
    pub balanced_accuracy: f64,
    /// Area under the ROC curve of the scores of [`class_scores`]: of class 1 for two
    /// classes, else the one-vs-rest macro average over the classes that have both
    /// positive and negative samples; `None` when no class has both.
    pub roc_auc: Option<f64>,
    /// Area under the precision–recall curve as average precision ([`average_precision`]),
    /// averaged the same way.
    pub pr_auc: Option<f64>,
}

/// Per-class F1 from a confusion matrix (`confusion[t][p]`): 2·TP / (2·TP + FP + FN) (the
/// same as 2·P·R / (P + R), and 0 where P or R is undefined or 0); `None` for a class
/// neither present nor predicted.
pub fn f1_scores(confusion: &[Vec<usize>]) -> Vec<Option<f64>> {
    let k = confusion.len();
    (0..k)
        .map(|c| {
            let tp = confusion[c][c];
            let support: usize = confusion[c].iter().sum();
            let predicted: usize = confusion.iter().map(|r| r[c]).sum();
            let denom = support + predicted;
            (denom > 0).then(|| 2.0 * tp as f64 / denom as f64)
        })
        .collect()
}

/// The macro-averaged F1: the unweighted mean of the defined per-class F1s (scikit-learn's
/// `f1_score(average="macro")` over the labels present in the truth or the predictions).
pub fn macro_f1(confusion: &[Vec<usize>]) -> f64 {
    let f: Vec<f64> = f1_scores(confusion).into_iter().flatten().collect();
    if f.is_empty() {
        0.0
    } else {
        f.iter().sum::<f64>() / f.len() as f64
    }
}

/// The support-weighted F1 (`f1_score(average="weighted")`).
pub fn weighted_f1(confusion: &[Vec<usize>]) -> f64 {
    let n: usize = confusion.iter().flatten().sum();
    if n == 0 {
        return 0.0;
    }
    f1_scores(confusion)
        .iter()
        .zip(confusion)
        .map(|(f, row)| f.unwrap_or(0.0) * row.iter().sum::<usize>() as f64)
        .sum::<f64>()
        / n as f64
}

/// The mean recall over the classes present in the truth (`balanced_accuracy_score`).
pub fn balanced_accuracy(confusion: &[Vec<usize>]) -> f64 {
    let recalls: Vec<f64> = confusion
        .iter()
        .enumerate()
        .filter_map(|(c, row)| {
            let support: usize = row.iter().sum();
            (support > 0).then(|| row[c] as f64 / support as f64)
        })
        .collect();
    if recalls.is_empty() {
        0.0
    } else {
        recalls.iter().sum::<f64>() / recalls.len() as f64
    }
}

/// Samples sorted by descending score, grouped by equal scores: (positives, negatives) per
/// group.
fn score_groups(truth: &[bool], scores: &[f64]) -> Vec<(usize, usize)> {
    let mut order: Vec<usize> = (0..truth.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut last = None;
    for i in order {
        if last != Some(scores[i].to_bits()) {
            groups.push((0, 0));
            last = Some(scores[i].to_bits());
        }
        let g = groups.last_mut().expect("pushed");
        if truth[i] {
            g.0 += 1;
        } else {
            g.1 += 1;
        }
    }
    groups
}

/// The area under the ROC curve of `scores` for the positives `truth` (the probability
/// that a positive scores above a negative, ties counting one half; scikit-learn's
/// `roc_auc_score`); `None` without both positives and negatives.
pub fn roc_auc(truth: &[bool], scores: &[f64]) -> Option<f64> {
    let pos = truth.iter().filter(|&&t| t).count();
    let neg = truth.len() - pos;
    if pos == 0 || neg == 0 || scores.len() != truth.len() {
        return None;
    }
    // Walk the thresholds from the top: each group of tied scores adds a trapezoid.
    let (mut tp, mut fp, mut area) = (0usize, 0usize, 0.0);
    for (p, n) in score_groups(truth, scores) {
        area += n as f64 * (tp as f64 + 0.5 * p as f64);
        tp += p;
        fp += n;
    }
    debug_assert_eq!((tp, fp), (pos, neg));
    Some(area / (pos as f64 * neg as f64))
}

/// Average precision of `scores` for the positives `truth`: Σ (Rₙ − Rₙ₋₁)·Pₙ over the
/// thresholds at each distinct score, from the top (scikit-learn's
/// `average_precision_score`, the step-wise area under the precision–recall curve);
/// `None` without positives.
pub fn average_precision(truth: &[bool], scores: &[f64]) -> Option<f64> {
    let pos = truth.iter().filter(|&&t| t).count();
    if pos == 0 || scores.len() != truth.len() {
        return None;
    }
    let (mut tp, mut fp, mut ap) = (0usize, 0usize, 0.0);
    for (p, n) in score_groups(truth, scores) {
        tp += p;
        fp += n;
        ap += p as f64 / pos as f64 * (tp as f64 / (tp + fp) as f64);
    }
    Some(ap)
}

/// ROC-AUC and average precision of per-class `scores` (n rows of k) against true classes:
/// for k = 2 those of class 1; for more, the one-vs-rest macro average over the classes
/// with both positive and negative samples.
pub fn ranking_metrics(classes: &[usize], scores: &[Vec<f64>], k: usize) -> (Option<f64>, Option<f64>) {
    let per_class = |c: usize| {
        let truth: Vec<bool> = classes.iter().map(|&t| t == c).collect();
        let s: Vec<f64> = scores.iter().map(|r| r.get(c).copied().unwrap_or(f64::NAN)).collect();
        (roc_auc(&truth, &s), average_precision(&truth, &s))
    };
    if k == 2 {
        return per_class(1);
    }
    let both: Vec<(f64, f64)> = (0..k)
        .filter_map(|c| match per_class(c) {
            (Some(r), Some(p)) => Some((r, p)),
            _ => None,
        })
        .collect();
    if both.is_empty() {
        return (None, None);
    }
    let m = both.len() as f64;
    (
        Some(both.iter().map(|b| b.0).sum::<f64>() / m),
        Some(both.iter().map(|b| b.1).sum::<f64>() / m),
    )
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
    let mut classes = Vec::with_capacity(outputs.nrows());
    let mut scores = Vec::with_capacity(outputs.nrows());
    for (o, y) in outputs.rows().into_iter().zip(targets.rows()) {
        let t = target_class(y, threshold);
        confusion[t][class_of_row(o, output)] += 1;
        classes.push(t);
        scores.push(class_scores(o, output));
    }
    let (roc_auc, pr_auc) = ranking_metrics(&classes, &scores, k);
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
        f1: f1_scores(&confusion),
        macro_f1: macro_f1(&confusion),
        weighted_f1: weighted_f1(&confusion),
        balanced_accuracy: balanced_accuracy(&confusion),
        roc_auc,
        pr_auc,
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
    /// Per output: mean squared error.
    pub mse_per_output: Vec<f64>,
    /// Per output: mean absolute error.
    pub mae_per_output: Vec<f64>,
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
    let rows = outputs.nrows().max(1) as f64;
    let per = |f: fn(f64) -> f64| -> Vec<f64> {
        outputs
            .columns()
            .into_iter()
            .zip(targets.columns())
            .map(|(o, y)| o.iter().zip(y.iter()).map(|(a, b)| f(a.f64() - b.f64())).sum::<f64>() / rows)
            .collect()
    };
    RegressionReport {
        mse: se / count,
        mae: ae / count,
        r2,
        mse_per_output: per(|d| d * d),
        mae_per_output: per(f64::abs),
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

    /// Confusion matrix of predicted classes against true ones.
    fn confusion(truth: &[usize], pred: &[usize], k: usize) -> Vec<Vec<usize>> {
        let mut c = vec![vec![0; k]; k];
        for (&t, &p) in truth.iter().zip(pred) {
            c[t][p] += 1;
        }
        c
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    #[test]
    fn f1_matches_scikit_learns_documented_example() {
        // sklearn.metrics.f1_score's example: y_true = [0, 1, 2, 0, 1, 2],
        // y_pred = [0, 2, 1, 0, 0, 1]: per class [0.8, 0, 0], macro 0.2666..., weighted
        // 0.2666...
        let c = confusion(&[0, 1, 2, 0, 1, 2], &[0, 2, 1, 0, 0, 1], 3);
        let f = f1_scores(&c);
        close(f[0].unwrap(), 0.8);
        assert_eq!((f[1], f[2]), (Some(0.0), Some(0.0)));
        close(macro_f1(&c), 0.8 / 3.0);
        close(weighted_f1(&c), 0.8 / 3.0);
        // A class neither present nor predicted does not count in the mean.
        let c4 = confusion(&[0, 1, 2, 0, 1, 2], &[0, 2, 1, 0, 0, 1], 4);
        assert_eq!(f1_scores(&c4)[3], None);
        close(macro_f1(&c4), 0.8 / 3.0);
        // Weighted differs from macro when supports differ: truth [0, 0, 0, 1],
        // prediction [0, 0, 1, 1]: F1 0.8 (support 3) and 2/3 (support 1).
        let c = confusion(&[0, 0, 0, 1], &[0, 0, 1, 1], 2);
        close(macro_f1(&c), (0.8 + 2.0 / 3.0) / 2.0);
        close(weighted_f1(&c), (3.0 * 0.8 + 2.0 / 3.0) / 4.0);
    }

    #[test]
    fn balanced_accuracy_matches_scikit_learns_documented_example() {
        // balanced_accuracy_score([0, 1, 0, 0, 1, 0], [0, 1, 0, 0, 0, 1]) = 0.625.
        let c = confusion(&[0, 1, 0, 0, 1, 0], &[0, 1, 0, 0, 0, 1], 2);
        close(balanced_accuracy(&c), 0.625);
    }

    #[test]
    fn roc_auc_and_average_precision_match_scikit_learns_documented_examples() {
        // roc_auc_score and average_precision_score's example: y_true = [0, 0, 1, 1],
        // scores [0.1, 0.4, 0.35, 0.8]: 0.75 and 0.8333...
        let truth = [false, false, true, true];
        let scores = [0.1, 0.4, 0.35, 0.8];
        close(roc_auc(&truth, &scores).unwrap(), 0.75);
        close(average_precision(&truth, &scores).unwrap(), 5.0 / 6.0);
        // Ties count one half: every score equal gives 0.5, and AP the positive rate.
        close(roc_auc(&truth, &[0.5; 4]).unwrap(), 0.5);
        close(average_precision(&truth, &[0.5; 4]).unwrap(), 0.5);
        // Perfect and reversed rankings.
        close(roc_auc(&truth, &[0.0, 0.1, 0.8, 0.9]).unwrap(), 1.0);
        close(roc_auc(&truth, &[0.9, 0.8, 0.1, 0.0]).unwrap(), 0.0);
        // Undefined without both kinds of sample.
        assert_eq!(roc_auc(&[true, true], &[0.1, 0.2]), None);
        assert_eq!(average_precision(&[false, false], &[0.1, 0.2]), None);
    }

    #[test]
    fn multiclass_ranking_is_the_one_vs_rest_macro_average() {
        // Classes [0, 1, 2, 2] with per-class scores worked by hand:
        //   class 0: positives {0.7}, negatives {0.3, 0.1, 0.3}: AUC 1, AP 1;
        //   class 1: positives {0.5}, negatives {0.2, 0.6, 0.3}: AUC 2/3, AP 1/2;
        //   class 2: positives {0.3, 0.4}, negatives {0.1, 0.2}: AUC 1, AP 1.
        let classes = [0, 1, 2, 2];
        let scores = vec![
            vec![0.7, 0.2, 0.1],
            vec![0.3, 0.5, 0.2],
            vec![0.1, 0.6, 0.3],
            vec![0.3, 0.3, 0.4],
        ];
        let (auc, ap) = ranking_metrics(&classes, &scores, 3);
        close(auc.unwrap(), (1.0 + 2.0 / 3.0 + 1.0) / 3.0);
        close(ap.unwrap(), (1.0 + 0.5 + 1.0) / 3.0);
        // classify fills them in from a network's outputs (one sigmoid output: class 1's
        // score is the output).
        let outputs = ndarray::arr2(&[[0.1f64], [0.4], [0.35], [0.8]]);
        let targets = ndarray::arr2(&[[0.0f64], [0.0], [1.0], [1.0]]);
        let r = classify(&outputs, &targets, Activation::Sigmoid);
        close(r.roc_auc.unwrap(), 0.75);
        close(r.pr_auc.unwrap(), 5.0 / 6.0);
        // Predicted [0, 0, 0, 1]: recalls 1 and 1/2.
        close(r.balanced_accuracy, 0.75);
    }

    #[test]
    fn regression_errors_per_output() {
        let outputs = ndarray::arr2(&[[1.0f64, 10.0], [2.0, 20.0]]);
        let targets = ndarray::arr2(&[[1.5f64, 13.0], [2.0, 16.0]]);
        let r = regress(&outputs, &targets);
        assert_eq!(r.mse_per_output, vec![0.125, 12.5]);
        assert_eq!(r.mae_per_output, vec![0.25, 3.5]);
        close(r.mse, (0.25 + 9.0 + 16.0) / 4.0);
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
