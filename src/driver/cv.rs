//! k-fold cross-validation: the data split into K folds, each held out once while a
//! network is trained on the other K − 1 exactly as `bprop train` would train on those
//! rows alone, then scored on the held-out fold with the metrics `bprop eval` prints.
//!
//! - **Folds** ([`fold_rows`]): the rows are shuffled by a ChaCha8 generator seeded with the
//!   run's seed; for classification they are grouped by class (in class order, each class
//!   in shuffled order) and dealt to the folds in turn, so every class is spread over the
//!   folds as evenly as its count allows (scikit-learn's `StratifiedKFold(shuffle=True)`
//!   keeps the same proportions); for regression the shuffled rows are dealt the same way
//!   (`KFold(shuffle=True)`). Fold sizes differ by at most one row.
//! - **Each fold** resolves the [`TrainPlan`] on a table of its training rows, in the
//!   file's order: the validation split, the input scaling and the target standardization
//!   are fitted there, never on the held-out fold, and the network starts from the run's
//!   seed. Training the same rows with `bprop train` and the same options gives the same
//!   network, and `bprop eval` of it on the held-out rows the same metrics.
//! - **Metrics** ([`FoldMetrics`]): accuracy, macro F1, balanced accuracy and ROC-AUC
//!   (binary, or one-vs-rest macro) for classification; MSE, MAE and R² (averaged over the
//!   targets, scikit-learn's `r2_score` default) for regression, in the targets' own units.
//!   The summary gives each metric's mean and sample standard deviation (ddof = 1, as
//!   `numpy.std(scores, ddof=1)` over `cross_validate`'s scores) over the folds.

use crate::data::{Format, Table, Task};
use crate::driver::{auto_choice, infer, AutoChoice, BackendChoice, EpochRecord, TrainPlan, Trainer};
use crate::error::{BpropError, Result};
use crate::gpu::AdapterRequest;
use crate::metrics::{classify, output_activation, regress, target_classes};
use crate::model::{Precision, Real};
use ndarray::Axis;

/// The held-out rows of each of `folds` folds of `n` rows (each fold's rows ascending;
/// together a partition of `0..n`), dealt as the module doc says: stratified by `classes`
/// (one class code per row) when given, else plain.
///
/// # Errors
/// [`BpropError::InvalidArgument`] naming `folds` when `folds` is below 2 or above `n`, or,
/// with classes, above the smallest class's count (every fold needs a row of every class);
/// [`BpropError::Shape`] when `classes` does not have one code per row.
pub fn fold_rows(n: usize, folds: usize, seed: u64, classes: Option<&[usize]>) -> Result<Vec<Vec<usize>>> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let bad = |why: String| BpropError::InvalidArgument {
        name: "folds",
        value: folds.to_string(),
        why,
    };
    if folds < 2 {
        return Err(bad(
            "cross-validation needs at least 2 folds (each is held out once while the others train)".into(),
        ));
    }
    if folds > n {
        return Err(bad(format!(
            "is more than the {n} samples: every fold needs at least one"
        )));
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    if let Some(classes) = classes {
        if classes.len() != n {
            return Err(BpropError::shape("class codes (one per sample)", n, classes.len()));
        }
        let k = classes.iter().max().map_or(0, |&c| c + 1);
        let mut groups: Vec<Vec<usize>> = vec![Vec::new(); k];
        for &i in &order {
            groups[classes[i]].push(i);
        }
        // Classes absent from the data (a one-hot column never set) do not count.
        if let Some((c, g)) = groups
            .iter()
            .enumerate()
            .filter(|(_, g)| !g.is_empty())
            .min_by_key(|(_, g)| g.len())
        {
            if g.len() < folds {
                return Err(bad(format!(
                    "is more than the {} samples of the smallest class (class {c}): stratified folds need \
                     every class in every fold; use --folds {} or fewer",
                    g.len(),
                    g.len()
                )));
            }
        }
        order = groups.concat();
    }
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); folds];
    for (j, &i) in order.iter().enumerate() {
        out[j % folds].push(i);
    }
    for f in &mut out {
        f.sort_unstable();
    }
    Ok(out)
}

/// One fold's scores on its held-out rows.
#[derive(Clone, Debug, PartialEq)]
pub enum FoldMetrics {
    /// Classification.
    Classification {
        /// Fraction of held-out rows classified right.
        accuracy: f64,
        /// Unweighted mean of the per-class F1 scores.
        macro_f1: f64,
        /// Mean recall over the classes.
        balanced_accuracy: f64,
        /// ROC-AUC: binary, or one-vs-rest macro average (`None` when undefined).
        roc_auc: Option<f64>,
    },
    /// Regression, in the targets' own units.
    Regression {
        /// Mean squared error over all targets and rows.
        mse: f64,
        /// Mean absolute error over all targets and rows.
        mae: f64,
        /// R² averaged over the targets (`None` when a target is constant in the fold).
        r2: Option<f64>,
    },
}

impl FoldMetrics {
    /// The metrics as (name, value) pairs, in the order reports print them. Names are
    /// those of `bprop eval --format json`.
    pub fn named(&self) -> Vec<(&'static str, Option<f64>)> {
        match *self {
            FoldMetrics::Classification {
                accuracy,
                macro_f1,
                balanced_accuracy,
                roc_auc,
            } => vec![
                ("accuracy", Some(accuracy)),
                ("macro_f1", Some(macro_f1)),
                ("balanced_accuracy", Some(balanced_accuracy)),
                ("roc_auc", roc_auc),
            ],
            FoldMetrics::Regression { mse, mae, r2 } => vec![("mse", Some(mse)), ("mae", Some(mae)), ("r2", r2)],
        }
    }
}

/// What one fold's run gave.
#[derive(Clone, Debug, PartialEq)]
pub struct FoldReport {
    /// The fold's number, from 0.
    pub fold: usize,
    /// The held-out rows (0-based rows of the table, ascending).
    pub held_out: Vec<usize>,
    /// Rows trained on (the fold's training part less its validation split).
    pub train_samples: usize,
    /// Rows of the validation split taken from the training part.
    pub validation_samples: usize,
    /// Epochs run.
    pub epochs: usize,
    /// The epoch whose weights were kept, when a validation set chose it.
    pub kept_epoch: Option<usize>,
    /// The path that trained.
    pub backend: String,
    /// What the trainer noted (a GPU path that fell back to the CPU path, and why).
    pub notes: Vec<String>,
    /// Scores on the held-out rows.
    pub metrics: FoldMetrics,
}

/// Mean and sample standard deviation of one metric over the folds.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricSummary {
    /// The metric's name ([`FoldMetrics::named`]).
    pub name: &'static str,
    /// Its value in each fold where it is defined.
    pub values: Vec<f64>,
    /// Their mean (`None` when no fold defines it).
    pub mean: Option<f64>,
    /// Their sample standard deviation, √(Σ (v − mean)² / (m − 1)) (`None` under 2 values).
    pub sd: Option<f64>,
}

impl MetricSummary {
    /// The summary of `values`.
    pub fn of(name: &'static str, values: Vec<f64>) -> Self {
        let m = values.len() as f64;
        let mean = (!values.is_empty()).then(|| values.iter().sum::<f64>() / m);
        let sd = mean
            .filter(|_| values.len() >= 2)
            .map(|mu| (values.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / (m - 1.0)).sqrt());
        MetricSummary { name, values, mean, sd }
    }
}

/// A cross-validation's results.
#[derive(Clone, Debug, PartialEq)]
pub struct CvReport {
    /// Classification (stratified folds) or regression (plain folds).
    pub task: Task,
    /// The seed of the folds and of every fold's run.
    pub seed: u64,
    /// Each fold's run, in order.
    pub folds: Vec<FoldReport>,
    /// Each metric over the folds, in [`FoldMetrics::named`]'s order.
    pub summary: Vec<MetricSummary>,
    /// `--backend auto`'s choice for the folds (made once, from the first fold's work).
    pub auto: Option<AutoChoice>,
}

/// What [`cross_validate`] reports while it runs.
pub enum CvEvent<'a> {
    /// A fold's training starts: its number, the epochs to run, and full batches per epoch.
    Start {
        /// The fold, from 0.
        fold: usize,
        /// The epochs the run will do at most.
        epochs: usize,
        /// Samples per epoch (full batches).
        samples_per_epoch: usize,
        /// `--backend auto`'s choice, with the first fold (where it is made).
        auto: Option<&'a AutoChoice>,
    },
    /// An epoch of the current fold ended.
    Epoch(&'a EpochRecord),
    /// A fold is done and scored.
    Done(&'a FoldReport),
}

/// Cross-validates `plan` on `table` with `folds` folds (module doc): each fold's training
/// rows are resolved with [`TrainPlan::resolve`] (as read from a file in `format`),
/// trained on the path `choice` gives (`Auto` decides once, from the first fold's work,
/// by [`auto_choice`]), and scored on the held-out rows, computed on the CPU path as
/// `bprop eval` does by default. `observe` sees each fold start, each epoch, and each
/// fold's result.
///
/// # Errors
/// [`fold_rows`]'s errors; the table's when it has no targets; each fold's resolution and
/// training errors (a diverged fold stops the run).
pub fn cross_validate<T: Real>(
    plan: &TrainPlan,
    table: &Table<T>,
    format: Option<Format>,
    folds: usize,
    choice: BackendChoice,
    req: &AdapterRequest,
    observe: &mut dyn FnMut(CvEvent<'_>),
) -> Result<CvReport> {
    let full = table.dataset()?;
    let task = table.schema.task;
    let classes = (task == Task::Classification).then(|| target_classes(full.targets()));
    if let (Some(codes), true) = (&classes, (2..=full.len()).contains(&folds)) {
        // fold_rows refuses this too, by class code; here the class has its label.
        let count = |c: usize| codes.iter().filter(|&&k| k == c).count();
        let smallest = (0..table.schema.classes())
            .filter(|&c| count(c) > 0)
            .min_by_key(|&c| count(c));
        if let Some(c) = smallest.filter(|&c| count(c) < folds) {
            return Err(BpropError::InvalidArgument {
                name: "folds",
                value: folds.to_string(),
                why: format!(
                    "is more than the {} samples of the smallest class, `{}`: stratified folds need every class \
                     in every fold; use --folds {} or fewer",
                    count(c),
                    table.schema.class_name(c),
                    count(c)
                ),
            });
        }
    }
    let held = fold_rows(full.len(), folds, plan.seed, classes.as_deref())?;
    let mut choice = choice;
    let mut auto = None;
    let mut reports = Vec::with_capacity(folds);
    for (fold, rows) in held.iter().enumerate() {
        let mut out = vec![false; full.len()];
        for &r in rows {
            out[r] = true;
        }
        let train_rows: Vec<usize> = (0..full.len()).filter(|&r| !out[r]).collect();
        // The raw input columns (text, missing values) are cut with the rows, so that the
        // preprocessing stage is fitted on this fold's training part alone.
        let mut part = table.select_rows(&train_rows)?;
        part.source = format!("{} (fold {} of {folds}, training part)", table.source, fold + 1);
        part.notes.clear();
        part.warnings.clear();
        let run = plan.resolve(&part, format)?;
        if choice == BackendChoice::Auto {
            let a = auto_choice(req, T::PRECISION == Precision::F64, Some(run.workload()));
            choice = if a.gpu { BackendChoice::Auto } else { BackendChoice::Cpu };
            auto = Some(a);
        }
        observe(CvEvent::Start {
            fold,
            epochs: run.config.epochs,
            samples_per_epoch: run.steps_per_epoch() * run.config.batch_size,
            auto: auto.as_ref().filter(|_| fold == 0),
        });
        let mut trainer = Trainer::new(choice, req, run.network.clone(), run.train.clone())?;
        let mut epochs = 0;
        let report = trainer.train_observed(&run.config, run.validation.as_ref(), &mut |rec| {
            epochs = rec.epoch;
            observe(CvEvent::Epoch(rec));
        })?;
        // The held-out rows as eval reads them: the fold's scaling, the CPU path's outputs,
        // mapped back to the targets' units.
        let mut x = match (&table.raw, &run.schema.preprocess) {
            (Some(raw), Some(stage)) => stage.transform::<T>(&raw.select_rows(rows))?.inputs,
            _ => table.inputs.select(Axis(0), rows),
        };
        if let Some(s) = &run.scaling {
            s.apply(&mut x)?;
        }
        let net = trainer.network();
        let mut inf = infer(BackendChoice::Cpu, req, net, &x, None)?;
        if let Some(t) = &run.target_scaling {
            t.undo(&mut inf.outputs)?;
        }
        let y = full.targets().select(Axis(0), rows);
        let metrics = match task {
            Task::Classification => {
                let r = classify(&inf.outputs, &y, output_activation(net));
                FoldMetrics::Classification {
                    accuracy: r.accuracy,
                    macro_f1: r.macro_f1,
                    balanced_accuracy: r.balanced_accuracy,
                    roc_auc: r.roc_auc,
                }
            }
            Task::Regression => {
                let r = regress(&inf.outputs, &y);
                let r2: Option<Vec<f64>> = r.r2.iter().copied().collect();
                FoldMetrics::Regression {
                    mse: r.mse,
                    mae: r.mae,
                    r2: r2.map(|v| v.iter().sum::<f64>() / v.len().max(1) as f64),
                }
            }
        };
        let fr = FoldReport {
            fold,
            held_out: rows.clone(),
            train_samples: run.train.len(),
            validation_samples: run.validation.as_ref().map_or(0, |v| v.len()),
            epochs,
            kept_epoch: report.kept_epoch,
            backend: report.backend.to_string(),
            notes: trainer.notes().to_vec(),
            metrics,
        };
        observe(CvEvent::Done(&fr));
        reports.push(fr);
    }
    let names = reports.first().map(|r| r.metrics.named()).unwrap_or_default();
    let summary = names
        .iter()
        .enumerate()
        .map(|(i, (name, _))| MetricSummary::of(name, reports.iter().filter_map(|r| r.metrics.named()[i].1).collect()))
        .collect();
    Ok(CvReport {
        task,
        seed: plan.seed,
        folds: reports,
        summary,
        auto,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arg_name(e: &BpropError) -> &'static str {
        match e {
            BpropError::InvalidArgument { name, .. } => name,
            other => panic!("expected an invalid argument, got {other}"),
        }
    }

    proptest! {
        #[test]
        fn folds_partition_the_rows(n in 2usize..200, k in 2usize..12, seed in 0u64..1000, classes in 1usize..5) {
            prop_assume!(k <= n);
            let plain = fold_rows(n, k, seed, None).unwrap();
            let mut all: Vec<usize> = plain.iter().flatten().copied().collect();
            all.sort_unstable();
            prop_assert_eq!(all, (0..n).collect::<Vec<_>>());
            let sizes: Vec<usize> = plain.iter().map(Vec::len).collect();
            prop_assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
            // Stratified: each class's count per fold differs by at most one.
            let codes: Vec<usize> = (0..n).map(|i| (i * 7 + i / 3) % classes).collect();
            let smallest = (0..classes).map(|c| codes.iter().filter(|&&x| x == c).count()).filter(|&m| m > 0).min().unwrap();
            match fold_rows(n, k, seed, Some(&codes)) {
                Ok(f) => {
                    prop_assert!(k <= smallest);
                    let mut all: Vec<usize> = f.iter().flatten().copied().collect();
                    all.sort_unstable();
                    prop_assert_eq!(all, (0..n).collect::<Vec<_>>());
                    for c in 0..classes {
                        let per: Vec<usize> = f.iter().map(|rows| rows.iter().filter(|&&r| codes[r] == c).count()).collect();
                        prop_assert!(per.iter().max().unwrap() - per.iter().min().unwrap() <= 1, "class {} {:?}", c, per);
                    }
                    let sizes: Vec<usize> = f.iter().map(Vec::len).collect();
                    prop_assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
                }
                Err(e) => {
                    prop_assert!(k > smallest);
                    prop_assert_eq!(arg_name(&e), "folds");
                }
            }
        }
    }

    #[test]
    fn stratification_keeps_class_proportions() {
        // 90 of class 0 and 10 of class 1 in 5 folds: 18 and 2 in every fold, whatever
        // the seed (plain folds give the rare class 0 to 5 in some fold).
        let codes: Vec<usize> = (0..100).map(|i| usize::from(i % 10 == 3)).collect();
        for seed in 0..20 {
            for f in fold_rows(100, 5, seed, Some(&codes)).unwrap() {
                let rare = f.iter().filter(|&&r| codes[r] == 1).count();
                assert_eq!((f.len(), rare), (20, 2), "seed {seed}");
            }
        }
        // Seeded: the same seed, the same folds; another seed, others.
        assert_eq!(
            fold_rows(100, 5, 3, Some(&codes)).unwrap(),
            fold_rows(100, 5, 3, Some(&codes)).unwrap()
        );
        assert_ne!(
            fold_rows(100, 5, 3, Some(&codes)).unwrap(),
            fold_rows(100, 5, 4, Some(&codes)).unwrap()
        );
    }

    #[test]
    fn bad_fold_counts_are_refused() {
        let codes: Vec<usize> = (0..10).map(|i| usize::from(i < 3)).collect();
        for (k, classes) in [
            (0, None),
            (1, None),
            (11, None),
            (4, Some(&codes[..])),
            (0, Some(&codes[..])),
        ] {
            let e = fold_rows(10, k, 0, classes).unwrap_err();
            assert_eq!(arg_name(&e), "folds", "{k}: {e}");
        }
        let e = fold_rows(10, 4, 0, Some(&codes)).unwrap_err().to_string();
        assert!(e.contains("smallest class") && e.contains("--folds 3"), "{e}");
        assert!(fold_rows(10, 3, 0, Some(&codes)).is_ok());
        assert!(fold_rows(10, 10, 0, None).is_ok());
    }

    #[test]
    fn the_summary_uses_the_sample_standard_deviation() {
        // 0.9, 0.8, 1.0: mean 0.9, squared deviations 0.01 + 0.01 + 0 over 3 − 1.
        let s = MetricSummary::of("accuracy", vec![0.9, 0.8, 1.0]);
        assert!((s.mean.unwrap() - 0.9).abs() < 1e-15);
        assert!((s.sd.unwrap() - 0.1).abs() < 1e-15, "{:?}", s.sd);
        let one = MetricSummary::of("r2", vec![0.5]);
        assert_eq!((one.mean, one.sd), (Some(0.5), None));
        assert_eq!(MetricSummary::of("r2", vec![]).mean, None);
    }
}
