//! Training settings as a front end gives them ([`TrainPlan`]) and their resolution against
//! the data into what the [`Trainer`](crate::driver::Trainer) runs ([`Resolved`]): the
//! network, the [`TrainConfig`] with its [`Hyper`], the validation split and the input
//! scaling.
//!
//! The rules for every default are in [`TrainPlan`]'s documentation.

use crate::data::prep::RawInputs;
use crate::data::scale::TargetScaling;
use crate::data::{Format, Preprocess, ScaleKind, Scaling, Schema, Table, Task};
use crate::driver::{EpochRecord, History, StopReason, TrainConfig, TrainReport, Trainer, Workload};
use crate::error::{BpropError, Result};
use crate::io::{ModelFile, ModelMeta, TrainingSettings};
use crate::metrics::target_classes;
use crate::model::{
    split_rows, split_rows_stratified, Activation, Dataset, Dropout, Hyper, Init, Loss, Network, NetworkSpec,
    Optimizer, Real, Schedule,
};
use std::str::FromStr;

/// Hidden layer sizes when none are given: one layer of 32.
pub const DEFAULT_HIDDEN: [usize; 1] = [32];
/// Epochs when none are given (for a new run).
pub const DEFAULT_EPOCHS: usize = 100;
/// Samples per step when none are given (at most the training set).
pub const DEFAULT_BATCH: usize = 32;
/// Learning rate when none is given (every optimizer but iRPROP−).
pub const DEFAULT_LEARNING_RATE: f64 = 0.01;
/// The validation fraction when none is given, for datasets of at least
/// [`DEFAULT_VALIDATION_MIN_SAMPLES`] samples.
pub const DEFAULT_VALIDATION: f64 = 0.1;
/// The smallest dataset that gets [`DEFAULT_VALIDATION`] by default.
pub const DEFAULT_VALIDATION_MIN_SAMPLES: usize = 100;

/// A learning-rate schedule in the units a user thinks in (epochs, per-epoch factors);
/// [`ScheduleSpec::to_schedule`] turns it into a [`Schedule`] over steps.
///
/// Parses (`FromStr`) `constant`, `cosine[:MIN_LR]`, `step:EPOCHS[:GAMMA]` (γ = 0.1) and
/// `exponential:GAMMA`.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum ScheduleSpec {
    /// η throughout.
    #[default]
    Constant,
    /// Cosine decay from η to `min_lr` over the whole run.
    Cosine {
        /// η at the end of the run, ≥ 0.
        min_lr: f64,
    },
    /// η multiplied by `gamma` every `epochs` epochs.
    Step {
        /// Epochs between decays, ≥ 1.
        epochs: usize,
        /// The factor, in (0, 1].
        gamma: f64,
    },
    /// η multiplied by `gamma` per epoch (spread evenly over the epoch's steps).
    Exponential {
        /// The factor per epoch, in (0, 1].
        gamma: f64,
    },
}

impl ScheduleSpec {
    /// The schedule over steps for a run of `epochs` epochs of `steps_per_epoch` steps.
    ///
    /// # Errors
    /// [`Schedule::validate`]'s errors.
    pub fn to_schedule(&self, epochs: usize, steps_per_epoch: usize) -> Result<Schedule> {
        let spe = steps_per_epoch.max(1);
        let steps = |e: usize, name: &'static str| {
            e.checked_mul(spe).ok_or_else(|| {
                invalid(
                    name,
                    &e.to_string(),
                    format!("{e} epochs of {spe} steps overflow the step counter"),
                )
            })
        };
        let sched = match *self {
            ScheduleSpec::Constant => Schedule::Constant,
            ScheduleSpec::Cosine { min_lr } => Schedule::Cosine {
                total: steps(epochs, "epochs")?.max(1),
                min_lr,
            },
            ScheduleSpec::Step { epochs: every, gamma } => Schedule::Step {
                every: steps(every, "schedule")?,
                gamma,
            },
            ScheduleSpec::Exponential { gamma } => Schedule::Exponential {
                gamma: gamma.powf(1.0 / spe as f64),
            },
        };
        sched.validate()?;
        Ok(sched)
    }
}

impl FromStr for ScheduleSpec {
    type Err = BpropError;

    /// Parses `constant`, `cosine[:MIN_LR]`, `step:EPOCHS[:GAMMA]` or `exponential:GAMMA`.
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        let mut parts = lower.split(':');
        let name = parts.next().unwrap_or_default();
        let args: Vec<&str> = parts.collect();
        let bad = || {
            invalid(
                "schedule",
                s,
                "expected constant, cosine[:MIN_LR], step:EPOCHS[:GAMMA] or exponential:GAMMA",
            )
        };
        let num = |i: usize, default: Option<f64>| -> Result<f64> {
            match args.get(i) {
                Some(a) => a.parse::<f64>().map_err(|_| bad()),
                None => default.ok_or_else(bad),
            }
        };
        Ok(match name {
            "constant" if args.is_empty() => ScheduleSpec::Constant,
            "cosine" if args.len() <= 1 => ScheduleSpec::Cosine {
                min_lr: num(0, Some(0.0))?,
            },
            "step" if (1..=2).contains(&args.len()) => {
                // A whole number of epochs that fits: not parsed as a float, which would
                // round 18446744073709551616 and saturate on conversion.
                let every = match args[0].parse::<usize>() {
                    Ok(e) if e >= 1 => e,
                    Ok(_) => return Err(bad()),
                    Err(e) if matches!(e.kind(), std::num::IntErrorKind::PosOverflow) => {
                        return Err(invalid(
                            "schedule",
                            s,
                            format!("step:EPOCHS must be at most {} epochs", usize::MAX),
                        ))
                    }
                    Err(_) => return Err(bad()),
                };
                ScheduleSpec::Step {
                    epochs: every,
                    gamma: num(1, Some(0.1))?,
                }
            }
            "exponential" if args.len() == 1 => ScheduleSpec::Exponential { gamma: num(0, None)? },
            _ => return Err(bad()),
        })
    }
}

/// Which input scaling to fit on the training part.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ScaleChoice {
    /// From the data's format: standardize CSV and .npy files; leave FANN and IDX files
    /// (already scaled) and data without a format as they are.
    #[default]
    Auto,
    /// The inputs as they are.
    Off,
    /// This kind, whatever the format.
    Fit(ScaleKind),
}

/// Per-class weights in the training loss (`--class-weight`).
///
/// Parses (`FromStr`) `balanced` or `CLASS=WEIGHT,...` (classes by label; unlisted ones
/// weigh 1).
#[derive(Clone, Debug, PartialEq)]
pub enum ClassWeight {
    /// n / (k · n_c) for class c of n_c among n training samples in k classes, as
    /// scikit-learn's `class_weight="balanced"`.
    Balanced,
    /// Weights by class label; classes not named weigh 1.
    Given(Vec<(String, f64)>),
}

impl FromStr for ClassWeight {
    type Err = BpropError;

    /// Parses `balanced` or `CLASS=WEIGHT,...` with finite positive weights.
    fn from_str(s: &str) -> Result<Self> {
        if s.trim().eq_ignore_ascii_case("balanced") {
            return Ok(ClassWeight::Balanced);
        }
        let bad = |why: &str| invalid("class_weight", s, why);
        let mut given = Vec::new();
        for part in s.split(',') {
            let (class, w) = part
                .rsplit_once('=')
                .ok_or_else(|| bad("expected balanced or CLASS=WEIGHT,... (e.g. yes=5,no=1)"))?;
            let w: f64 = w
                .trim()
                .parse()
                .map_err(|_| bad(&format!("`{}` is not a number", w.trim())))?;
            if !(w.is_finite() && w > 0.0) {
                return Err(bad(&format!(
                    "the weight of `{}` must be a positive number",
                    class.trim()
                )));
            }
            given.push((class.trim().to_string(), w));
        }
        Ok(ClassWeight::Given(given))
    }
}

impl std::fmt::Display for ClassWeight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClassWeight::Balanced => f.write_str("balanced"),
            ClassWeight::Given(g) => {
                let parts: Vec<String> = g.iter().map(|(c, w)| format!("{c}={w}")).collect();
                f.write_str(&parts.join(","))
            }
        }
    }
}

impl ClassWeight {
    /// The weight of each class of `schema` for the training targets `targets` (one-hot
    /// rows), scaled so that the largest is 1.
    ///
    /// # Errors
    /// [`BpropError::InvalidArgument`] naming `class_weight` for a class the data does not
    /// have.
    pub fn weights<T: Real>(&self, schema: &Schema, targets: &ndarray::Array2<T>) -> Result<Vec<f64>> {
        let k = targets.ncols();
        let mut w = match self {
            ClassWeight::Balanced => {
                let classes = target_classes(targets);
                let n = classes.len() as f64;
                (0..k)
                    .map(|c| {
                        let n_c = classes.iter().filter(|&&t| t == c).count();
                        if n_c == 0 {
                            1.0
                        } else {
                            n / (k as f64 * n_c as f64)
                        }
                    })
                    .collect::<Vec<f64>>()
            }
            ClassWeight::Given(given) => {
                let names: Vec<String> = (0..k).map(|c| schema.class_name(c)).collect();
                let mut w = vec![1.0; k];
                for (class, weight) in given {
                    let c = names.iter().position(|n| n == class).ok_or_else(|| {
                        invalid(
                            "class_weight",
                            class,
                            format!("is not a class of the data; its classes: {}", names.join(", ")),
                        )
                    })?;
                    w[c] = *weight;
                }
                w
            }
        };
        let max = w.iter().copied().fold(0.0, f64::max);
        for v in &mut w {
            *v /= max;
        }
        Ok(w)
    }
}

/// Whether regression targets are standardized for training (`--target-scale`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TargetScale {
    /// Standardize each target column on the training part (mean 0, variance 1) when the
    /// task is regression and the output is the identity; outputs are mapped back
    /// wherever they leave bprop.
    #[default]
    Standardize,
    /// Train on the targets as they are.
    Off,
}

/// The settings of a training run as a user gives them; `None` (and the defaults of
/// [`TrainPlan::default`]) leave the choice to the rules below.
///
/// Every default that depends on the data or on another setting is decided here, once, so
/// that `bprop train` and any other front end train the same network from the same
/// settings:
///
/// - **Output and loss.** As given; a loss alone picks its output (`cross_entropy` →
///   softmax, `bce` → sigmoid, others identity); an output alone picks its loss (softmax →
///   `cross_entropy`, sigmoid with targets in [0, 1] → `bce`, others `mse`); neither:
///   classification with targets in [0, 1] gets softmax and `cross_entropy` for several
///   outputs, sigmoid and `bce` for one; everything else identity and `mse`.
/// - **Learning rate** 0.01 (iRPROP−, which ignores it, 1). **Batch** 32, or the training
///   set when smaller; iRPROP− (a full-batch rule) the whole training set.
/// - **Schedules** are given in epochs ([`ScheduleSpec`]) and turned into steps with the
///   resolved batch size.
/// - **Validation**: a tenth of the data from 100 samples on, else none; split with the
///   run's seed (stratified by class for classification) before scaling, so the scaling is fitted on the training part only. With
///   a validation set the run keeps the epoch of lowest validation loss
///   ([`TrainPlan::restore_best`]).
/// - **Scaling** ([`ScaleChoice::Auto`]): standardized for CSV and .npy files, none for
///   FANN and IDX files (already scaled) and for data given without a file format.
/// - **Init**: He for relu layers, Glorot for the others ([`Init::Auto`]), from the seed.
/// - **Targets** ([`TargetScale::Standardize`]): regression targets under an identity output
///   are standardized on the training part (as scikit-learn users do with
///   `TransformedTargetRegressor`), so that targets in the hundreds train with the default
///   learning rate; the scaling is saved with the model and undone on its outputs.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainPlan {
    /// Hidden layer sizes, from the input side; empty for none [default: 32].
    pub hidden: Vec<usize>,
    /// The hidden layers' activation: one for all of them, or one per hidden layer
    /// [default: relu].
    pub activations: Vec<Activation>,
    /// The output activation [default: from the loss, task and targets].
    pub output_activation: Option<Activation>,
    /// The loss [default: from the output activation, task and targets].
    pub loss: Option<Loss>,
    /// The update rule [default: Adam].
    pub optimizer: Optimizer,
    /// The base learning rate [default: 0.01; iRPROP−: 1, which it ignores].
    pub learning_rate: Option<f64>,
    /// The learning-rate schedule, in epochs [default: constant].
    pub schedule: ScheduleSpec,
    /// L2 weight decay λ on the weights [default: 0].
    pub weight_decay: f64,
    /// Max-norm c on each neuron's incoming weights.
    pub max_norm: Option<f64>,
    /// Dropout probability on the hidden layers' outputs.
    pub dropout: Option<f64>,
    /// Dropout probability on the inputs.
    pub input_dropout: Option<f64>,
    /// Epochs to train [default: 100; when resuming, the saved run's].
    pub epochs: Option<usize>,
    /// Samples per step; more than the training set is cut to it, except under iRPROP−
    /// [default: 32; iRPROP−: the training set, which it needs].
    pub batch_size: Option<usize>,
    /// Seed of the initial weights, the shuffling, the dropout masks and the validation
    /// split [default: 0].
    pub seed: u64,
    /// How the initial weights are drawn [default: auto].
    pub init: Init,
    /// Fraction of the data held out for validation; `Some(0.0)` for none [default: 0.1
    /// from 100 samples on, else none].
    pub validation: Option<f64>,
    /// Early stopping after this many epochs without a better validation loss.
    pub patience: Option<usize>,
    /// With a validation set, keep the parameters of the epoch with the lowest validation
    /// loss rather than the last epoch's ([`TrainConfig::restore_best`]) [default: true].
    pub restore_best: bool,
    /// The input scaling [default: from the data's format].
    pub scale: ScaleChoice,
    /// The regression targets' scaling [default: standardize].
    pub target_scale: TargetScale,
    /// Per-class weights in the training loss (softmax and cross-entropy only) [default:
    /// none, every sample weighs 1].
    pub class_weight: Option<ClassWeight>,
}

impl Default for TrainPlan {
    fn default() -> Self {
        TrainPlan {
            hidden: DEFAULT_HIDDEN.to_vec(),
            activations: vec![Activation::Relu],
            output_activation: None,
            loss: None,
            optimizer: Optimizer::ADAM,
            learning_rate: None,
            schedule: ScheduleSpec::Constant,
            weight_decay: 0.0,
            max_norm: None,
            dropout: None,
            input_dropout: None,
            epochs: None,
            batch_size: None,
            seed: 0,
            init: Init::Auto,
            validation: None,
            patience: None,
            restore_best: true,
            scale: ScaleChoice::Auto,
            target_scale: TargetScale::Standardize,
            class_weight: None,
        }
    }
}

/// A [`TrainPlan`] resolved against the data: everything a run needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved<T: Real> {
    /// The network to train (for a new run, freshly initialised from the seed).
    pub network: Network<T>,
    /// Epochs, batch size, optimizer and its settings, shuffling seed, patience, and the
    /// epochs already done when resuming.
    pub config: TrainConfig,
    /// The training part of the data, scaled.
    pub train: Dataset<T>,
    /// The validation part, scaled, when there is one.
    pub validation: Option<Dataset<T>>,
    /// The fraction held out for validation, if any (saved with the model for resuming).
    pub validation_fraction: Option<f64>,
    /// The input scaling fitted on the training part (or the resumed model's), applied to
    /// `train` and `validation`; apply it to any other data with [`Resolved::scale`].
    pub scaling: Option<Scaling>,
    /// The regression targets' standardization fitted on the training part (or the resumed
    /// model's), applied to the targets of `train` and `validation` (and by
    /// [`Resolved::scale`]); the network's outputs are in its units.
    pub target_scaling: Option<TargetScaling>,
    /// The class weights applied to the training part's targets, largest 1, when asked for.
    pub class_weights: Option<Vec<f64>>,
    /// The run's seed.
    pub seed: u64,
    /// The data's schema, with its input-preprocessing stage (if any) fitted on the
    /// training part: the one to save with the model and to read other files with.
    pub schema: Schema,
}

impl<T: Real> Resolved<T> {
    /// `data` with the run's input scaling and target scaling applied (a test set, say).
    ///
    /// # Errors
    /// [`Scaling::apply_dataset`]'s errors.
    pub fn scale(&self, data: Dataset<T>) -> Result<Dataset<T>> {
        let data = match &self.scaling {
            Some(s) => s.apply_dataset(&data)?,
            None => data,
        };
        match &self.target_scaling {
            Some(t) => t.apply_dataset(&data),
            None => Ok(data),
        }
    }

    /// Full batches per epoch.
    pub fn steps_per_epoch(&self) -> usize {
        self.train.len() / self.config.batch_size.max(1)
    }

    /// The run's work for `--backend auto`'s choice ([`crate::driver::auto_choice`]): the
    /// network's parameters × the training rows × the epochs to run.
    pub fn workload(&self) -> Workload {
        Workload::of(&self.network, self.train.len(), self.config.epochs)
    }
}

/// What a run on a [`Resolved`] plan left behind, for [`Resolved::model_file`].
pub struct RunOutcome<'a, T: Real> {
    /// The trainer after the run: its network (the best epoch's under early stopping, the
    /// last finite one after divergence) and optimizer state are saved.
    pub trainer: &'a Trainer<T>,
    /// What training returned.
    pub result: &'a Result<TrainReport>,
    /// The records of the epochs this run completed, in order.
    pub records: &'a [EpochRecord],
    /// The data's schema (columns, task, labels).
    pub schema: &'a Schema,
    /// The training data's name, as given.
    pub data: Option<String>,
    /// The model this run resumed, if any: its history and time are carried on.
    pub resumed: Option<&'a ModelFile<T>>,
    /// Seconds this run took.
    pub seconds: f64,
}

impl<T: Real> RunOutcome<'_, T> {
    /// Every epoch's record over all runs (the resumed model's history, then this run's
    /// epochs), including any after the epoch early stopping kept.
    pub fn history(&self) -> Vec<History> {
        let mut history: Vec<History> = self.resumed.map(|m| m.meta.history.clone()).unwrap_or_default();
        history.extend(self.records.iter().map(History::from));
        history
    }
}

/// Why a run stopped, in words (saved in the model file, printed by `bprop train`).
pub fn stop_description(result: &Result<TrainReport>, patience: Option<usize>) -> String {
    let kept = |what: &str| match result {
        Ok(TrainReport {
            kept_epoch: Some(e), ..
        }) => format!("{what}; epoch {e}'s model kept (the lowest validation loss)"),
        _ => what.to_string(),
    };
    match result {
        Ok(r) => match r.stopped {
            StopReason::Epochs => kept("all epochs ran"),
            StopReason::EarlyStopping { best_epoch } => format!(
                "early stopping: no better validation loss for {} epochs; epoch {best_epoch}'s model kept",
                patience.unwrap_or(0)
            ),
            StopReason::TargetLoss => "target loss reached".to_string(),
            StopReason::Interrupted => kept("interrupted (Ctrl-C, SIGTERM or SIGHUP) after a completed epoch"),
        },
        Err(e) => format!("stopped by an error: {e}"),
    }
}

impl<T: Real> Resolved<T> {
    /// The model file a run on this plan saves, whether it finished or stopped with an
    /// error: the trainer's network and optimizer state, the scaling, the schema, the
    /// settings (with the epochs and steps done over all runs, and the time taken), and the
    /// history over all runs up to the epoch whose parameters the network holds.
    pub fn model_file(&self, run: &RunOutcome<'_, T>) -> ModelFile<T> {
        let start_epoch = self.config.start_epoch;
        let epochs_done = run.records.last().map_or(start_epoch, |r| r.epoch);
        let best_epoch = match run.result {
            Ok(TrainReport {
                kept_epoch: Some(kept), ..
            }) => *kept,
            _ => epochs_done,
        };
        let mut history = run.history();
        history.retain(|h| h.epoch <= best_epoch);
        let earlier_seconds = run
            .resumed
            .and_then(|m| m.meta.training.as_ref())
            .map_or(0.0, |s| s.seconds);
        let optimizer = run.trainer.optimizer_state().cloned();
        ModelFile {
            network: run.trainer.network().clone(),
            scaling: self.scaling.clone(),
            meta: ModelMeta {
                schema: Some(run.schema.clone()),
                training: Some(TrainingSettings {
                    hyper: self.config.hyper,
                    epochs: self.config.epochs,
                    epochs_done: best_epoch,
                    steps_done: optimizer.as_ref().map_or(0, |s| s.step),
                    batch_size: self.config.batch_size,
                    seed: self.seed,
                    validation: self.validation_fraction,
                    patience: self.config.patience,
                    backend: run.trainer.info().to_string(),
                    data: run.data.clone(),
                    samples: self.train.len(),
                    stopped: stop_description(run.result, self.config.patience),
                    seconds: earlier_seconds + run.seconds,
                }),
                history,
                written_by: format!("bprop {}", env!("CARGO_PKG_VERSION")),
                target_scaling: self.target_scaling.clone(),
            },
            optimizer,
        }
    }
}

fn invalid(name: &'static str, value: &str, why: impl Into<String>) -> BpropError {
    BpropError::InvalidArgument {
        name,
        value: format!("\"{value}\""),
        why: why.into(),
    }
}

/// Hidden layer sizes from text: `64,32` → [64, 32]; `none` (or nothing) → [].
///
/// # Errors
/// [`BpropError::InvalidArgument`] naming `layers`.
pub fn parse_hidden(s: &str) -> Result<Vec<usize>> {
    let t = s.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    t.split(',')
        .map(|v| v.trim().parse::<usize>().ok().filter(|&n| n > 0))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            invalid(
                "layers",
                s,
                "expected hidden layer sizes separated by commas, e.g. 64,32, or none",
            )
        })
}

/// Activations from text, separated by commas: `relu` or `tanh,relu`.
///
/// # Errors
/// [`Activation`]'s parse errors.
pub fn parse_activations(s: &str) -> Result<Vec<Activation>> {
    s.split(',').map(str::parse).collect()
}

impl TrainPlan {
    /// Output activation and loss: as given, else from the task and targets ([`TrainPlan`]).
    pub fn output_and_loss<T: Real>(&self, table: &Table<T>) -> (Activation, Loss) {
        let outputs = table.targets.as_ref().map_or(0, |y| y.ncols());
        let unit = table
            .targets
            .as_ref()
            .is_some_and(|y| y.iter().all(|&v| v >= T::zero() && v <= T::one()));
        let classification = table.schema.task == Task::Classification;
        match (self.output_activation, self.loss) {
            (Some(a), Some(l)) => (a, l),
            (None, Some(l)) => (
                match l {
                    Loss::CrossEntropy => Activation::Softmax,
                    Loss::BinaryCrossEntropy => Activation::Sigmoid,
                    _ => Activation::Identity,
                },
                l,
            ),
            (Some(a), None) => (
                a,
                match a {
                    Activation::Softmax => Loss::CrossEntropy,
                    Activation::Sigmoid if unit => Loss::BinaryCrossEntropy,
                    _ => Loss::Mse,
                },
            ),
            (None, None) if classification && outputs >= 2 && unit => (Activation::Softmax, Loss::CrossEntropy),
            (None, None) if classification && outputs == 1 && unit => (Activation::Sigmoid, Loss::BinaryCrossEntropy),
            (None, None) => (Activation::Identity, Loss::Mse),
        }
    }

    /// The architecture for `table`: its inputs, the hidden layers, its outputs.
    ///
    /// # Errors
    /// [`BpropError::InvalidArgument`] naming `activation` when the activations are
    /// neither one nor one per hidden layer.
    pub fn spec<T: Real>(&self, table: &Table<T>) -> Result<NetworkSpec> {
        let inputs = table.inputs.ncols();
        let outputs = table.targets.as_ref().map_or(0, |y| y.ncols());
        let acts = match self.activations.len() {
            1 => vec![self.activations[0]; self.hidden.len()],
            k if k == self.hidden.len() => self.activations.clone(),
            k => {
                let given: Vec<String> = self.activations.iter().map(ToString::to_string).collect();
                return Err(invalid(
                    "activation",
                    &given.join(","),
                    format!(
                        "give one activation, or one per hidden layer ({}), not {k}",
                        self.hidden.len()
                    ),
                ));
            }
        };
        let (out_act, loss) = self.output_and_loss(table);
        let mut spec = NetworkSpec::new(inputs, loss);
        for (&units, &act) in self.hidden.iter().zip(&acts) {
            spec = spec.layer(units, act);
        }
        Ok(spec.layer(outputs, out_act))
    }

    /// The validation fraction for a dataset of `n` samples.
    pub fn validation_fraction(&self, n: usize) -> Option<f64> {
        match self.validation {
            Some(0.0) => None,
            Some(v) => Some(v),
            None if n >= DEFAULT_VALIDATION_MIN_SAMPLES => Some(DEFAULT_VALIDATION),
            None => None,
        }
    }

    /// The scaling kind to fit, for data in `format` (`None`: no file format).
    pub fn scale_kind(&self, format: Option<Format>) -> Option<ScaleKind> {
        match self.scale {
            ScaleChoice::Fit(k) => Some(k),
            ScaleChoice::Off => None,
            ScaleChoice::Auto => match format {
                Some(Format::Csv | Format::Npy) => Some(ScaleKind::Standardize),
                _ => None,
            },
        }
    }

    /// The batch size for `n` training samples.
    pub fn batch_size(&self, n: usize) -> usize {
        match self.optimizer {
            // iRPROP− is a full-batch rule: its default batch is the whole training set.
            Optimizer::IRpropMinus { .. } => self.batch_size.unwrap_or(n),
            _ => self.batch_size.unwrap_or(DEFAULT_BATCH).min(n),
        }
    }

    /// The learning rate.
    pub fn learning_rate(&self) -> f64 {
        self.learning_rate.unwrap_or(match self.optimizer {
            Optimizer::IRpropMinus { .. } => 1.0,
            _ => DEFAULT_LEARNING_RATE,
        })
    }

    /// Resolves a new run on `table` (read from a file in `format`, or `None` for data
    /// without one): splits off the validation set, fits the scaling on the training part,
    /// builds and initialises the network, and fills in the training configuration.
    ///
    /// # Errors
    /// [`BpropError::InvalidArgument`] naming the setting at fault (`validation`,
    /// `activation`, `schedule`, `batch_size`, `epochs`, `patience`, ...);
    /// [`BpropError::LossActivation`] for a loss and output that do not pair; the table's
    /// errors when it has no targets.
    pub fn resolve<T: Real>(&self, table: &Table<T>, format: Option<Format>) -> Result<Resolved<T>> {
        let seed = self.seed;
        let validation_fraction = self.validation_fraction(table.len());
        let refitted;
        let table = match &table.raw {
            Some(raw) => {
                refitted = refit(table, raw, validation_fraction, seed)?;
                &refitted
            }
            None => table,
        };
        let full = table.dataset()?;
        let (train, val) = split(full, validation_fraction, seed, table.schema.task)?;
        let scaling = self
            .scale_kind(format)
            .map(|k| Scaling::fit(k, train.inputs()))
            .transpose()?
            .map(|mut s| {
                // One-hot categories and missing indicators stay 0/1.
                for j in table.schema.preprocess.iter().flat_map(Preprocess::code_inputs) {
                    s.offset[j] = 0.0;
                    s.scale[j] = 1.0;
                }
                s
            });
        let batch_size = self.batch_size(train.len());
        let spec = self.spec(table)?;
        check_memory::<T>(&spec, batch_size, "layers")?;
        let network = Network::random(&spec, self.init, seed)?;
        let identity_output = network.layers().last().map(|l| l.activation) == Some(Activation::Identity);
        let target_scaling =
            (self.target_scale == TargetScale::Standardize && table.schema.task == Task::Regression && identity_output)
                .then(|| TargetScaling::fit(train.targets()))
                .transpose()?;
        let class_weights = match &self.class_weight {
            None => None,
            Some(cw) => {
                let pairs_with_ce = network.loss() == Loss::CrossEntropy
                    && network.layers().last().map(|l| l.activation) == Some(Activation::Softmax);
                if table.schema.task != Task::Classification || !pairs_with_ce {
                    return Err(BpropError::InvalidArgument {
                        name: "class_weight",
                        value: cw.to_string(),
                        why: format!(
                            "needs classes with a softmax output and cross_entropy; this run has {} with {} and {}",
                            table.schema.task,
                            network.layers().last().map_or(Activation::Identity, |l| l.activation),
                            network.loss()
                        ),
                    });
                }
                Some(cw.weights(&table.schema, train.targets())?)
            }
        };
        // A weighted sample's loss is w·CE and its output delta w·(a − y): exactly the
        // softmax–cross-entropy pair's on the target row w·y (δ = a·Σy − y), so the weights
        // ride in the training targets and both paths train them unchanged.
        let train = match &class_weights {
            Some(w) => {
                let mut y = train.targets().clone();
                for (mut row, c) in y.rows_mut().into_iter().zip(target_classes(train.targets())) {
                    row.mapv_inplace(|v| T::of(v.f64() * w[c]));
                }
                train.with_targets(y)?
            }
            None => train,
        };
        let n = train.len();
        let epochs = self.epochs.unwrap_or(DEFAULT_EPOCHS);
        let spe = (n / batch_size.max(1)).max(1);
        let dropout = (self.dropout.is_some() || self.input_dropout.is_some()).then(|| Dropout {
            input: self.input_dropout.unwrap_or(0.0),
            hidden: self.dropout.unwrap_or(0.0),
            seed,
        });
        let hyper = Hyper {
            optimizer: self.optimizer,
            learning_rate: self.learning_rate(),
            schedule: self.schedule.to_schedule(epochs, spe)?,
            weight_decay: self.weight_decay,
            max_norm: self.max_norm,
            dropout,
        };
        let config = TrainConfig {
            hyper,
            epochs,
            batch_size,
            shuffle: Some(seed),
            patience: self.patience,
            start_epoch: 0,
            restore_best: self.restore_best,
            ..TrainConfig::default()
        };
        let mut r = finish(
            network,
            config,
            train,
            (val, validation_fraction),
            (scaling, target_scaling),
            seed,
            table.schema.clone(),
        )?;
        r.class_weights = class_weights;
        Ok(r)
    }

    /// Resolves a run continuing `model` on `table`: the network, scaling, optimizer
    /// settings, batch size, seed and validation split are the saved run's; only
    /// [`epochs`](TrainPlan::epochs) (further epochs, default the saved run's) and
    /// [`patience`](TrainPlan::patience) come from this plan. The caller restores the
    /// model's optimizer state on the trainer.
    ///
    /// # Errors
    /// [`BpropError::ModelFile`] naming `name` when the model holds no training settings;
    /// the errors of [`TrainPlan::resolve`].
    pub fn resume<T: Real>(&self, table: &Table<T>, model: &ModelFile<T>, name: &str) -> Result<Resolved<T>> {
        let saved = model.meta.training.as_ref().ok_or_else(|| BpropError::ModelFile {
            path: name.to_string(),
            why: "holds no training settings, so it cannot be resumed".into(),
        })?;
        let full = table.dataset()?;
        check_memory::<T>(&model.network.spec(), saved.batch_size, "resume")?;
        let (train, val) = split(full, saved.validation, saved.seed, table.schema.task)?;
        let config = TrainConfig {
            hyper: saved.hyper,
            epochs: self.epochs.unwrap_or(saved.epochs),
            batch_size: saved.batch_size,
            shuffle: Some(saved.seed),
            patience: self.patience,
            start_epoch: saved.epochs_done,
            restore_best: self.restore_best,
            ..TrainConfig::default()
        };
        finish(
            model.network.clone(),
            config,
            train,
            (val, saved.validation),
            (model.scaling.clone(), model.meta.target_scaling.clone()),
            saved.seed,
            table.schema.clone(),
        )
    }
}

/// The memory the machine has for a new allocation, and where the figure comes from:
/// `MemAvailable` from `/proc/meminfo` (Linux), else `MemTotal`; `None` elsewhere.
pub fn available_memory() -> Option<(u64, &'static str)> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib.saturating_mul(1024))
    };
    field("MemAvailable:")
        .map(|b| (b, "available (MemAvailable, /proc/meminfo)"))
        .or_else(|| field("MemTotal:").map(|b| (b, "in all (MemTotal, /proc/meminfo)")))
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// Refuses, before anything is allocated, a network whose training needs more memory than
/// the machine has ([`NetworkSpec::training_bytes`] against [`available_memory`]), naming
/// `option`, the sizes, the estimate and the machine's figure. (On the GPU path the
/// adapter's buffer limits apply as well.)
///
/// # Errors
/// [`BpropError::InvalidArgument`] naming `option`.
pub fn check_memory<T: Real>(spec: &NetworkSpec, batch: usize, option: &'static str) -> Result<()> {
    let sizes: Vec<String> = spec.sizes().iter().map(usize::to_string).collect();
    let sizes = sizes.join("-");
    let what = format!("a {sizes} network in {} at batch {batch}", T::NAME);
    let Some(need) = spec.training_bytes(std::mem::size_of::<T>(), batch) else {
        return Err(invalid(
            option,
            &sizes,
            format!("{what} needs more than 2^64 bytes to train"),
        ));
    };
    match available_memory() {
        Some((have, source)) if need > have => Err(invalid(
            option,
            &sizes,
            format!(
                "{what} needs at least {} to train (parameters, gradients, optimizer state, \
                 activations), more than the {} this machine has {source}",
                gib(need),
                gib(have)
            ),
        )),
        _ => Ok(()),
    }
}

/// The training and validation parts: stratified by class for classification.
fn split<T: Real>(
    full: Dataset<T>,
    fraction: Option<f64>,
    seed: u64,
    task: Task,
) -> Result<(Dataset<T>, Option<Dataset<T>>)> {
    Ok(match fraction {
        Some(f) => {
            let (t, v) = match task {
                Task::Classification => full.split_stratified(f, seed, &target_classes(full.targets()))?,
                Task::Regression => full.split(f, seed)?,
            };
            (t, Some(v))
        }
        None => (full, None),
    })
}

/// `table` with its input-preprocessing stage fitted again on the training part (the rows
/// the validation split with `fraction` and `seed` leaves for training), and its inputs
/// encoded by it.
fn refit<T: Real>(table: &Table<T>, raw: &RawInputs, fraction: Option<f64>, seed: u64) -> Result<Table<T>> {
    let stage = table
        .schema
        .preprocess
        .as_ref()
        .ok_or_else(|| BpropError::InvalidArgument {
            name: "data",
            value: table.source.clone(),
            why: "has raw input columns but no preprocessing stage to fit on them".into(),
        })?;
    if raw.rows != table.len() {
        return Err(BpropError::shape(
            format!("{} raw input rows (one per sample)", table.source),
            table.len(),
            raw.rows,
        ));
    }
    let rows: Vec<usize> = match (fraction, &table.targets) {
        (Some(f), Some(y)) => match table.schema.task {
            Task::Classification => split_rows_stratified(f, seed, &target_classes(y))?.0,
            Task::Regression => split_rows(table.len(), f, seed)?.0,
        },
        _ => (0..table.len()).collect(),
    };
    let stage = stage.refit(raw, &rows)?;
    let encoded = stage.transform::<T>(raw)?;
    Ok(Table {
        source: table.source.clone(),
        inputs: encoded.inputs,
        targets: table.targets.clone(),
        schema: Schema {
            inputs: stage.width(),
            preprocess: Some(stage),
            ..table.schema.clone()
        },
        notes: Vec::new(),
        warnings: Vec::new(),
        raw: None,
    })
}

/// Scales the parts and checks the configuration against the training part.
fn finish<T: Real>(
    network: Network<T>,
    config: TrainConfig,
    train: Dataset<T>,
    (val, validation_fraction): (Option<Dataset<T>>, Option<f64>),
    (scaling, target_scaling): (Option<Scaling>, Option<TargetScaling>),
    seed: u64,
    schema: Schema,
) -> Result<Resolved<T>> {
    let mut r = Resolved {
        network,
        config,
        train: train.clone(),
        validation: None,
        validation_fraction,
        scaling,
        target_scaling,
        class_weights: None,
        seed,
        schema,
    };
    r.train = r.scale(train)?;
    r.validation = val.map(|v| r.scale(v)).transpose()?;
    r.config.validate(r.train.len())?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{table_from_dataset, TableOptions};
    use ndarray::Array2;

    /// `n` samples of 3 inputs; targets from `target(i)`, `k` columns.
    fn table(n: usize, k: usize, task: Task, target: impl Fn(usize, usize) -> f64) -> Table<f64> {
        let x = Array2::from_shape_fn((n, 3), |(i, j)| (i * 3 + j) as f64 * 0.1);
        let y = Array2::from_shape_fn((n, k), |(i, j)| target(i, j));
        let data = Dataset::new(x, y).unwrap();
        let opts = TableOptions {
            task: Some(task),
            ..TableOptions::default()
        };
        table_from_dataset("test", &data, None, &opts).unwrap()
    }

    fn one_hot(n: usize) -> Table<f64> {
        table(n, 3, Task::Classification, |i, j| f64::from(u8::from(i % 3 == j)))
    }

    fn arg_name(e: &BpropError) -> &'static str {
        match e {
            BpropError::InvalidArgument { name, .. } => name,
            other => panic!("expected an invalid argument, got {other}"),
        }
    }

    #[test]
    fn the_preprocessing_stage_is_fitted_on_the_rows_a_run_trains_on() {
        let csv = "x,kind,y\n1,a,0.5\n2,b,1.5\n3,c,0.25\n4,a,1\n";
        let grid = crate::data::parse_csv(csv.as_bytes(), "t.csv", &Default::default()).unwrap();
        let table = crate::data::table_from_grid::<f64>(&grid, &TableOptions::default()).unwrap();
        // Read on every row: three categories; the part without row 2 has two.
        assert_eq!(table.inputs.ncols(), 4);
        let part = table.select_rows(&[0, 1, 3]).unwrap();
        let r = TrainPlan::default().resolve(&part, None).unwrap();
        let p = r.schema.preprocess.as_ref().unwrap();
        assert_eq!(p.columns[1].categories.as_deref().unwrap(), ["a", "b"]);
        assert_eq!(
            (r.schema.inputs, r.network.inputs(), r.train.inputs().ncols()),
            (3, 3, 3)
        );
        assert_eq!(r.train.inputs().column(1).to_vec(), [1.0, 0.0, 1.0]);
        assert!(table.select_rows(&[4]).is_err());
    }

    #[test]
    fn defaults_for_adam() {
        let r = TrainPlan::default().resolve(&one_hot(50), None).unwrap();
        let c = &r.config;
        assert_eq!(c.hyper.optimizer, Optimizer::ADAM);
        assert_eq!(c.hyper.learning_rate, 0.01);
        assert_eq!(c.hyper.schedule, Schedule::Constant);
        assert_eq!(c.hyper.dropout, None);
        assert_eq!(
            (c.epochs, c.batch_size, c.shuffle, c.start_epoch),
            (100, 32, Some(0), 0)
        );
        assert_eq!(r.network.sizes(), vec![3, 32, 3]);
        // Under 100 samples: no validation set; no file format: no scaling.
        assert_eq!(
            (r.validation_fraction, r.validation.is_none(), r.scaling.is_none()),
            (None, true, true)
        );
        assert_eq!(r.train.len(), 50);
    }

    #[test]
    fn batch_is_at_most_the_training_set() {
        let r = TrainPlan::default().resolve(&one_hot(20), None).unwrap();
        assert_eq!(r.config.batch_size, 20);
    }

    #[test]
    fn defaults_for_irprop_and_sgd() {
        let plan = TrainPlan {
            optimizer: Optimizer::IRPROP,
            ..TrainPlan::default()
        };
        let r = plan.resolve(&one_hot(50), None).unwrap();
        assert_eq!((r.config.batch_size, r.config.hyper.learning_rate), (50, 1.0));
        let plan = TrainPlan {
            optimizer: Optimizer::Sgd,
            ..TrainPlan::default()
        };
        let r = plan.resolve(&one_hot(50), None).unwrap();
        assert_eq!((r.config.batch_size, r.config.hyper.learning_rate), (32, 0.01));
    }

    #[test]
    fn validation_and_scaling_defaults() {
        let r = TrainPlan::default().resolve(&one_hot(200), Some(Format::Csv)).unwrap();
        assert_eq!(r.validation_fraction, Some(0.1));
        assert_eq!(
            (r.train.len(), r.validation.as_ref().map(Dataset::len)),
            (180, Some(20))
        );
        assert_eq!(r.scaling.as_ref().map(|s| s.kind), Some(ScaleKind::Standardize));
        let r = TrainPlan::default().resolve(&one_hot(200), Some(Format::Fann)).unwrap();
        assert!(r.scaling.is_none());
        let plan = TrainPlan {
            validation: Some(0.0),
            scale: ScaleChoice::Fit(ScaleKind::MinMax),
            ..TrainPlan::default()
        };
        let r = plan.resolve(&one_hot(200), None).unwrap();
        assert_eq!((r.validation_fraction, r.train.len()), (None, 200));
        assert_eq!(r.scaling.as_ref().map(|s| s.kind), Some(ScaleKind::MinMax));
    }

    #[test]
    fn regression_targets_are_standardized_under_an_identity_output_only() {
        let regression = table(40, 2, Task::Regression, |i, j| 100.0 + (i * (j + 1)) as f64);
        let r = TrainPlan::default().resolve(&regression, None).unwrap();
        let t = r.target_scaling.as_ref().expect("standardized");
        assert_eq!(t.offset, vec![119.5, 139.0]);
        // The training targets are standardized: mean 0, and the saved model has the scaling.
        let mean = r.train.targets().column(0).iter().sum::<f64>() / 40.0;
        assert!(mean.abs() < 1e-12, "{mean}");
        assert_eq!(r.train.targets()[[0, 0]], -19.5 / t.scale[0]);
        let off = TrainPlan {
            target_scale: TargetScale::Off,
            ..TrainPlan::default()
        };
        let r = off.resolve(&regression, None).unwrap();
        assert_eq!((r.target_scaling, r.train.targets()[[0, 0]]), (None, 100.0));
        // Classification, and outputs with a range of their own, keep their targets.
        assert!(TrainPlan::default()
            .resolve(&one_hot(40), None)
            .unwrap()
            .target_scaling
            .is_none());
        let sigmoid = TrainPlan {
            output_activation: Some(Activation::Sigmoid),
            ..TrainPlan::default()
        };
        let unit = table(40, 1, Task::Regression, |i, _| i as f64 / 40.0);
        assert!(sigmoid.resolve(&unit, None).unwrap().target_scaling.is_none());
    }

    #[test]
    fn the_validation_split_is_stratified_for_classification() {
        // 200 samples of classes 0, 1, 2 (67, 67, 66): 20 held out as 7, 7, 6.
        let r = TrainPlan::default().resolve(&one_hot(200), None).unwrap();
        let v = r.validation.as_ref().unwrap();
        let count = |d: &Dataset<f64>, c: usize| target_classes(d.targets()).iter().filter(|&&k| k == c).count();
        assert_eq!((0..3).map(|c| count(v, c)).collect::<Vec<_>>(), vec![7, 7, 6]);
        assert_eq!((0..3).map(|c| count(&r.train, c)).collect::<Vec<_>>(), vec![60, 60, 60]);
        // 90 of one class and 10 of the other: the validation tenth holds 9 and 1 whatever
        // the seed (a plain shuffle gives the rare class 0 to 4 of the 10).
        let rare = table(100, 1, Task::Classification, |i, _| f64::from(u8::from(i % 10 == 0)));
        for seed in 0..10 {
            let plan = TrainPlan {
                seed,
                ..TrainPlan::default()
            };
            let r = plan.resolve(&rare, None).unwrap();
            let v = r.validation.as_ref().unwrap();
            assert_eq!((count(v, 0), count(v, 1)), (9, 1), "seed {seed}");
        }
    }

    #[test]
    fn class_weights_scale_the_training_targets() {
        // Classes 0, 1, 2 in 20, 10, 10 of 40 training samples (no validation under 100).
        let t = table(40, 3, Task::Classification, |i, j| {
            let c = if i < 20 {
                0
            } else if i < 30 {
                1
            } else {
                2
            };
            f64::from(u8::from(c == j))
        });
        let plan = TrainPlan {
            class_weight: Some("balanced".parse().unwrap()),
            ..TrainPlan::default()
        };
        let r = plan.resolve(&t, None).unwrap();
        // n / (k n_c) = 40/60, 40/30, 40/30, scaled to a largest of 1: 0.5, 1, 1.
        assert_eq!(r.class_weights, Some(vec![0.5, 1.0, 1.0]));
        assert_eq!(r.train.targets().row(0).to_vec(), vec![0.5, 0.0, 0.0]);
        assert_eq!(r.train.targets().row(25).to_vec(), vec![0.0, 1.0, 0.0]);
        let plan = TrainPlan {
            class_weight: Some("2=4,0=2".parse().unwrap()),
            ..TrainPlan::default()
        };
        let r = plan.resolve(&t, None).unwrap();
        assert_eq!(r.class_weights, Some(vec![0.5, 0.25, 1.0]));
        for bad in ["", "a=", "a=-1", "a=x", "a=inf"] {
            assert_eq!(
                arg_name(&bad.parse::<ClassWeight>().unwrap_err()),
                "class_weight",
                "{bad}"
            );
        }
        let plan = TrainPlan {
            class_weight: Some("7=2".parse().unwrap()),
            ..TrainPlan::default()
        };
        assert_eq!(arg_name(&plan.resolve(&t, None).unwrap_err()), "class_weight");
        // Regression has no classes to weigh.
        let plan = TrainPlan {
            class_weight: Some(ClassWeight::Balanced),
            ..TrainPlan::default()
        };
        let reg = table(40, 1, Task::Regression, |i, _| i as f64);
        assert_eq!(arg_name(&plan.resolve(&reg, None).unwrap_err()), "class_weight");
    }

    #[test]
    fn output_and_loss_pairing() {
        let plan = TrainPlan::default();
        assert_eq!(
            plan.output_and_loss(&one_hot(10)),
            (Activation::Softmax, Loss::CrossEntropy)
        );
        let binary = table(10, 1, Task::Classification, |i, _| (i % 2) as f64);
        assert_eq!(
            plan.output_and_loss(&binary),
            (Activation::Sigmoid, Loss::BinaryCrossEntropy)
        );
        let pm1 = table(10, 1, Task::Classification, |i, _| if i % 2 == 0 { -1.0 } else { 1.0 });
        assert_eq!(plan.output_and_loss(&pm1), (Activation::Identity, Loss::Mse));
        let regression = table(10, 2, Task::Regression, |i, j| (i + j) as f64 * 0.01);
        assert_eq!(plan.output_and_loss(&regression), (Activation::Identity, Loss::Mse));
        let given_loss = TrainPlan {
            loss: Some(Loss::BinaryCrossEntropy),
            ..TrainPlan::default()
        };
        assert_eq!(
            given_loss.output_and_loss(&regression),
            (Activation::Sigmoid, Loss::BinaryCrossEntropy)
        );
        let tanh = TrainPlan {
            output_activation: Some(Activation::Tanh),
            ..TrainPlan::default()
        };
        assert_eq!(tanh.output_and_loss(&pm1), (Activation::Tanh, Loss::Mse));
        let sigmoid = TrainPlan {
            output_activation: Some(Activation::Sigmoid),
            ..TrainPlan::default()
        };
        assert_eq!(
            sigmoid.output_and_loss(&binary),
            (Activation::Sigmoid, Loss::BinaryCrossEntropy)
        );
        assert_eq!(sigmoid.output_and_loss(&pm1), (Activation::Sigmoid, Loss::Mse));
        // A pairing the losses refuse is an error when the network is built.
        let bad = TrainPlan {
            output_activation: Some(Activation::Tanh),
            loss: Some(Loss::CrossEntropy),
            ..TrainPlan::default()
        };
        assert!(matches!(
            bad.resolve(&one_hot(10), None),
            Err(BpropError::LossActivation { .. })
        ));
    }

    #[test]
    fn schedules_in_epochs_become_steps() {
        // 64 samples, batch 32: 2 steps per epoch, 100 epochs.
        let sched = |s: &str| {
            let plan = TrainPlan {
                schedule: s.parse().unwrap(),
                ..TrainPlan::default()
            };
            plan.resolve(&one_hot(64), None).unwrap().config.hyper.schedule
        };
        assert_eq!(sched("constant"), Schedule::Constant);
        assert_eq!(
            sched("cosine"),
            Schedule::Cosine {
                total: 200,
                min_lr: 0.0
            }
        );
        assert_eq!(sched("step:10"), Schedule::Step { every: 20, gamma: 0.1 });
        assert_eq!(sched("step:10:0.5"), Schedule::Step { every: 20, gamma: 0.5 });
        assert_eq!(sched("exponential:0.81"), Schedule::Exponential { gamma: 0.9 });
        for bad in [
            "step",
            "step:0",
            "step:1.5",
            "step:18446744073709551616",
            "linear",
            "constant:1",
            "exponential",
        ] {
            let e = bad.parse::<ScheduleSpec>().unwrap_err();
            assert_eq!(arg_name(&e), "schedule", "{bad}");
        }
        // Epochs that fit, but not as steps: an error, not a wrapped or saturated count.
        let huge = format!("step:{}", usize::MAX);
        let plan = TrainPlan {
            schedule: huge.parse().unwrap(),
            ..TrainPlan::default()
        };
        assert_eq!(arg_name(&plan.resolve(&one_hot(64), None).unwrap_err()), "schedule");
        let plan = TrainPlan {
            schedule: "cosine".parse().unwrap(),
            epochs: Some(usize::MAX),
            ..TrainPlan::default()
        };
        assert_eq!(arg_name(&plan.resolve(&one_hot(64), None).unwrap_err()), "epochs");
    }

    #[test]
    fn a_network_too_large_for_memory_is_refused_before_allocation() {
        // Beyond 64 bits everywhere; beyond the machine's memory where /proc/meminfo tells it.
        let mut cases = vec![vec![usize::MAX / 2]];
        if cfg!(target_os = "linux") {
            assert!(available_memory().is_some());
            cases.extend([vec![1 << 40], vec![50_000, 50_000, 50_000, 50_000]]);
        }
        for hidden in cases {
            let plan = TrainPlan {
                hidden: hidden.clone(),
                ..TrainPlan::default()
            };
            let e = plan.resolve(&one_hot(64), None).unwrap_err();
            assert_eq!(arg_name(&e), "layers", "{hidden:?}: {e}");
        }
        let spec = NetworkSpec::new(3, Loss::Mse)
            .layer(4, Activation::Relu)
            .layer(2, Activation::Identity);
        // (3 + 1)·4 + (4 + 1)·2 = 26 parameters ×4, and 3·(3 + 4 + 2)·batch 10 values, of 8 bytes.
        assert_eq!(spec.training_bytes(8, 10), Some((26 * 4 + 3 * 9 * 10) * 8));
        assert_eq!(
            NetworkSpec::new(usize::MAX, Loss::Mse)
                .layer(3, Activation::Identity)
                .training_bytes(4, 1),
            None
        );
    }

    #[test]
    fn errors_name_the_setting() {
        let plan = TrainPlan {
            hidden: vec![8, 8, 8],
            activations: vec![Activation::Relu, Activation::Tanh],
            ..TrainPlan::default()
        };
        assert_eq!(arg_name(&plan.resolve(&one_hot(10), None).unwrap_err()), "activation");
        // A batch larger than the data is cut to it; iRPROP− refuses a partial one.
        let plan = TrainPlan {
            batch_size: Some(11),
            ..TrainPlan::default()
        };
        assert_eq!(plan.resolve(&one_hot(10), None).unwrap().config.batch_size, 10);
        let plan = TrainPlan {
            optimizer: Optimizer::IRPROP,
            batch_size: Some(5),
            ..TrainPlan::default()
        };
        assert_eq!(arg_name(&plan.resolve(&one_hot(10), None).unwrap_err()), "batch_size");
        let plan = TrainPlan {
            epochs: Some(0),
            ..TrainPlan::default()
        };
        assert_eq!(arg_name(&plan.resolve(&one_hot(10), None).unwrap_err()), "epochs");
        let plan = TrainPlan {
            validation: Some(1.5),
            ..TrainPlan::default()
        };
        assert_eq!(arg_name(&plan.resolve(&one_hot(10), None).unwrap_err()), "validation");
        let plan = TrainPlan {
            learning_rate: Some(-1.0),
            ..TrainPlan::default()
        };
        assert!(plan.resolve(&one_hot(10), None).is_err());
        assert_eq!(arg_name(&parse_hidden("64,x").unwrap_err()), "layers");
        assert_eq!(parse_hidden("none").unwrap(), Vec::<usize>::new());
        assert_eq!(parse_hidden(" 64, 32 ").unwrap(), vec![64, 32]);
    }

    #[test]
    fn a_finished_run_saves_its_settings_and_history() {
        use crate::driver::BackendChoice;
        use crate::gpu::AdapterRequest;
        let table = one_hot(40);
        let plan = TrainPlan {
            epochs: Some(3),
            batch_size: Some(10),
            ..TrainPlan::default()
        };
        let r = plan.resolve(&table, None).unwrap();
        let mut trainer = Trainer::new(
            BackendChoice::Cpu,
            &AdapterRequest::default(),
            r.network.clone(),
            r.train.clone(),
        )
        .unwrap();
        let mut records = Vec::new();
        let result = trainer.train_observed(&r.config, None, &mut |rec| records.push(rec.clone()));
        let outcome = RunOutcome {
            trainer: &trainer,
            result: &result,
            records: &records,
            schema: &table.schema,
            data: Some("test".into()),
            resumed: None,
            seconds: 1.5,
        };
        let m = r.model_file(&outcome);
        let s = m.meta.training.as_ref().unwrap();
        assert_eq!(
            (s.epochs, s.epochs_done, s.steps_done, s.batch_size, s.samples),
            (3, 3, 12, 10, 40)
        );
        assert_eq!((s.stopped.as_str(), s.seconds), ("all epochs ran", 1.5));
        assert_eq!(m.meta.history.len(), 3);
        assert_eq!(m.meta.history[2], History::from(&records[2]));
        assert_eq!(&m.network, trainer.network());
    }

    #[test]
    fn per_layer_activations_and_dropout() {
        let plan = TrainPlan {
            hidden: vec![4, 5],
            activations: parse_activations("tanh,sigmoid").unwrap(),
            dropout: Some(0.2),
            seed: 7,
            ..TrainPlan::default()
        };
        let r = plan.resolve(&one_hot(10), None).unwrap();
        let acts: Vec<Activation> = r.network.layers().iter().map(|l| l.activation).collect();
        assert_eq!(acts, vec![Activation::Tanh, Activation::Sigmoid, Activation::Softmax]);
        assert_eq!(
            r.config.hyper.dropout,
            Some(Dropout {
                input: 0.0,
                hidden: 0.2,
                seed: 7
            })
        );
        assert_eq!(r.config.shuffle, Some(7));
    }
}
