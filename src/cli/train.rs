//! `bprop train`: a network trained on a data file (or the bundled diabetes set), with a
//! progress display, a summary, and optionally a model file, a loss plot and a cross-check.

use super::common::{self, duration, num, pct, plural, ColumnArgs, InputArgs, Progress, BUNDLED_TEST, BUNDLED_TRAIN};
use super::{BackendArg, PrecisionArg};
use bprop::cpu::{self, CpuEngine};
use bprop::data::scale::TargetScaling;
use bprop::data::{load_table, ScaleKind, Table, TableOptions, Task};
use bprop::dist::{Collective, DistEngine};
use bprop::driver::{
    auto_choice, cross_check, parse_activations, parse_hidden, stop_description, BackendChoice, EpochRecord, Resolved,
    RunOutcome, ScaleChoice, TargetScale, TrainPlan, Trainer,
};
use bprop::engine::{BackendKind, Engine};
use bprop::gpu::AdapterRequest;
use bprop::io::{write_model, AnyModel, ModelFile};
use bprop::metrics::{self, classify, regress};
use bprop::model::{Dataset, Network, Optimizer, Precision, Real, Schedule};
use bprop::{plot, BpropError, Result};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

pub const EXAMPLES: &str = "\
Examples:
  bprop train                                   the bundled diabetes set (PROBEN1), in seconds
  bprop train iris.csv --target species -o iris.bprop
  bprop train data.csv --target 4 --layers 64,32 --optimizer adam --lr 0.001 --epochs 200 \\
      --validation 0.2 --patience 20 --plot loss.svg -o model.bprop
  bprop train train.tsv --test test.tsv --target price --task regression --scale minmax
  bprop train x.npy --target 0 --backend cpu --precision f64
  bprop train titanic.csv --target Survived --ignore Name,Ticket --impute median --missing-indicator
  bprop train ../shared/data/fann/thyroid.train --test ../shared/data/fann/thyroid.test
  bprop train ../shared/data/mnist/train-images-idx3-ubyte.gz --layers 128 --epochs 5 \\
      --test ../shared/data/mnist/t10k-images-idx3-ubyte.gz   (labels files found beside)
  bprop train data.csv --backend gpu --cross-check 20 -o m.bprop   GPU vs CPU, 20 steps first
  bprop train data.csv --resume m.bprop --epochs 50        50 more epochs, same settings

Ctrl-C, SIGTERM and SIGHUP stop after the epoch in progress (or the chunk of epochs between
checkpoints when there is no validation set), then save the model (-o) and print the
summary; the exit status is then 130, 143 or 129 (128 + the signal). A second signal quits
at once. -o and --plot are checked before training starts; a symbolic link is followed, a
device or FIFO written into, a regular file replaced atomically.

Data: CSV/TSV (header detected, targets by name or 0-based index, text or integer class
labels one-hot encoded), NumPy .npy (f32, f64, u8, i64), FANN .train/.test/.data, MNIST
IDX images (with the labels file beside them). Text input columns are one-hot encoded
(categories from the training part; an unseen one is all zeros at eval/predict time, with
a warning); a first column without a header name (a pandas index) is left out; missing
values (empty, NA, NaN, ?) are an error counted per column unless --impute fills them.
The model keeps its input columns, categories and fills for eval, predict and ONNX.

Defaults from the data: classification targets get a softmax output and cross_entropy
(one 0/1 column: sigmoid and bce); regression an identity output and mse. Inputs are
standardized (mean 0, variance 1, fitted on the training part) for CSV and .npy files,
left as they are for FANN and IDX files (already scaled); the scaling is saved with the
model so that eval and predict apply it. Regression targets under an identity output are
standardized the same way, and the model maps its outputs back (--target-scale none keeps
them as they are). A validation set is stratified by class, and the epoch with the lowest
validation loss is kept (--keep-last keeps the last). --backend auto says which path it
chose and why. With --resume every training setting comes from the model file, and
--epochs counts further epochs.";

/// `--scale`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ScaleArg {
    /// (x − mean) / standard deviation.
    Standardize,
    /// (x − min) / (max − min).
    Minmax,
    /// The inputs as they are.
    None,
}

/// `--target-scale`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum TargetScaleArg {
    /// (y − mean) / standard deviation per target, undone on the outputs.
    Standardize,
    /// The targets as they are.
    None,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Training data [default: the bundled diabetes set, data/diabetes.train, with
    /// data/diabetes.test as the test set].
    #[arg(value_name = "DATA")]
    data: Option<PathBuf>,
    /// Test data, read with the training data's columns and labels; evaluated at the end.
    #[arg(long, value_name = "DATA")]
    test: Option<PathBuf>,
    #[command(flatten)]
    columns: ColumnArgs,
    #[command(flatten)]
    inputs: InputArgs,
    /// Hidden layer sizes, e.g. 64,32; `none` for no hidden layer [default: 32].
    #[arg(long, value_name = "SIZES")]
    layers: Option<String>,
    /// Hidden layers' activation, or one per hidden layer separated by commas: identity,
    /// sigmoid, tanh, relu, leaky_relu[:SLOPE] [default: relu].
    #[arg(long, value_name = "F")]
    activation: Option<String>,
    /// Output activation [default: from the task and loss].
    #[arg(long, value_name = "F")]
    output_activation: Option<String>,
    /// Loss: sse, mse, bce (sigmoid output), cross_entropy (softmax output), tanh_error (FANN's
    /// default training error) [default: from the task].
    #[arg(long)]
    loss: Option<String>,
    /// sgd, momentum[:MU], nesterov[:MU], adam, adamw[:DECAY], irprop- (full batch) [default: adam].
    #[arg(long)]
    optimizer: Option<String>,
    /// Learning rate [default: 0.01; irprop- ignores it].
    #[arg(long, value_name = "η", allow_negative_numbers = true)]
    lr: Option<f64>,
    /// constant, cosine[:MIN_LR] (over the run), step:EPOCHS[:GAMMA] (γ = 0.1),
    /// exponential:GAMMA (per epoch) [default: constant].
    #[arg(long)]
    schedule: Option<String>,
    /// L2 weight decay λ on the weights (½ λ ‖W‖² added to the loss) [default: 0].
    #[arg(long, value_name = "λ")]
    weight_decay: Option<f64>,
    /// Max-norm c on each neuron's incoming weights.
    #[arg(long, value_name = "C")]
    max_norm: Option<f64>,
    /// Dropout probability on the hidden layers' outputs.
    #[arg(long, value_name = "P")]
    dropout: Option<f64>,
    /// Dropout probability on the inputs.
    #[arg(long, value_name = "P")]
    input_dropout: Option<f64>,
    /// Epochs to train (with --resume: further epochs) [default: 100; with --resume, the
    /// saved run's].
    #[arg(long)]
    epochs: Option<usize>,
    /// Samples per step [default: 32, or the training set's size when smaller; irprop-: all].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Seed of the initial weights, the shuffling, the dropout masks and the validation split [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Initial weights: auto (He for relu layers, Glorot for the others; biases 0), glorot,
    /// he, or uniform:R (weights and biases in U(−R, R): FANN's start, with R = 0.1)
    /// [default: auto].
    #[arg(long, value_name = "INIT")]
    init: Option<String>,
    /// Fraction of the training data held out for validation (0 for none) [default: 0.1 from
    /// 100 samples on, else 0].
    #[arg(long, value_name = "FRACTION")]
    validation: Option<f64>,
    /// Stop after N epochs without a better validation loss, keeping the best epoch's model.
    #[arg(long, value_name = "N")]
    patience: Option<usize>,
    /// Per-class weights in the training loss: `balanced` (n / (k · n_c), as scikit-learn)
    /// or CLASS=WEIGHT,... (unnamed classes weigh 1); scaled so the largest is 1. Needs a
    /// softmax output with cross_entropy (the default for class labels).
    #[arg(long, value_name = "WEIGHTS")]
    class_weight: Option<String>,
    /// Keep the last epoch's model; by default a run with a validation set keeps the epoch
    /// with the lowest validation loss.
    #[arg(long)]
    keep_last: bool,
    /// Input scaling fitted on the training part [default: standardize for CSV and .npy,
    /// none for FANN and IDX].
    #[arg(long, value_enum)]
    scale: Option<ScaleArg>,
    /// Regression targets (identity output) fitted as (y − mean) / sd on the training part;
    /// the model maps its outputs back, in eval, predict and ONNX exports [default:
    /// standardize].
    #[arg(long, value_enum)]
    target_scale: Option<TargetScaleArg>,
    /// Where to compute.
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendArg,
    /// Threads for the CPU path's large matrix products, 1 to 64 [default: BPROP_THREADS,
    /// else the number of physical cores]; the weights are the same whatever the count.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=64))]
    threads: Option<u32>,
    /// Floating-point precision [default: f32; with --resume, the model's].
    #[arg(long, value_enum)]
    precision: Option<PrecisionArg>,
    /// Before training, run STEPS steps (default: one epoch) on the GPU path and the CPU path
    /// from the same state, compare every loss and parameter after each step, print the
    /// report, and stop if they differ beyond the tolerance.
    #[arg(long, value_name = "STEPS", num_args = 0..=1, default_missing_value = "0")]
    cross_check: Option<usize>,
    /// Write the trained model to FILE (atomically; checked before training) [with
    /// --resume: the resumed file].
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Also write the model (-o, atomically) every N epochs during training, so that a run
    /// that dies (a killed process, a lost node) resumes from there with --resume.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    checkpoint_every: Option<u64>,
    /// Continue training a saved model (its optimizer state, settings, scaling and labels).
    #[arg(long, value_name = "MODEL")]
    resume: Option<PathBuf>,
    /// Write the training and validation loss curves to FILE as SVG (`-`: standard output,
    /// the summary then goes to standard error).
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
    /// No progress display.
    #[arg(short, long)]
    quiet: bool,
}

/// The ranks of a data-parallel run, when `mpirun` started this process.
type Comm = Option<std::rc::Rc<dyn Collective>>;

pub fn run(args: &TrainArgs) -> Result<()> {
    #[cfg(feature = "mpi")]
    if bprop::dist::Mpi::launched() {
        let mpi = std::rc::Rc::new(bprop::dist::Mpi::init()?);
        let (rank, size) = (mpi.rank(), mpi.size());
        // Only rank 0 prints and writes files; the others train in silence.
        super::out::set_silent(rank != 0);
        let result = run_ranked(args, Some(mpi.clone()));
        if let Err(e) = &result {
            if size > 1 {
                // The other ranks would wait for this one in their next all-reduce: end
                // them all, saying which rank failed and why.
                super::out::set_silent(false);
                eprintln!("bprop: error on rank {rank} of {size}: {e}; ending all ranks");
                mpi.abort(1);
            }
        }
        return result;
    }
    #[cfg(not(feature = "mpi"))]
    if let Some(n) = bprop::dist::launcher_size().filter(|&n| n > 1) {
        // N copies would each train alone and race to write the same files.
        return Err(BpropError::InvalidArgument {
            name: "mpirun",
            value: format!("{n} processes"),
            why: "this bprop was built without MPI; build it with `cargo build --release --features mpi` \
                  to train one model on several processes"
                .into(),
        });
    }
    run_ranked(args, None)
}

fn run_ranked(args: &TrainArgs, comm: Comm) -> Result<()> {
    let rank0 = comm.as_ref().is_none_or(|c| c.rank() == 0);
    // The model is saved whoever reads the summary: a closed stdout drops the rest of it.
    super::out::keep_going_on_closed_stdout();
    // Every output location is checked before anything is trained, so that a typo in a
    // path cannot lose a finished run.
    if let Some(out) = args.output.as_ref().or(args.resume.as_ref()).filter(|_| rank0) {
        common::check_output(out, "output", false)?;
    }
    if let Some(p) = args.plot.as_ref().filter(|_| rank0) {
        common::check_output(p, "plot", true)?;
        if common::is_stdout(p) {
            super::out::stdout_is_data();
        }
    }
    if args.checkpoint_every.is_some() && args.output.is_none() && args.resume.is_none() {
        return Err(BpropError::InvalidArgument {
            name: "checkpoint-every",
            value: args.checkpoint_every.unwrap_or_default().to_string(),
            why: "writes the model file given with -o (or the --resume file): give one".into(),
        });
    }
    if let Some(n) = args.threads {
        cpu::threads::set_threads(n as usize)?;
    }
    let resumed = match &args.resume {
        Some(p) => Some(common::load_model(p)?),
        None => None,
    };
    if let Some(m) = &resumed {
        let fixed: Vec<&str> = [
            (args.layers.is_some(), "--layers"),
            (args.activation.is_some(), "--activation"),
            (args.output_activation.is_some(), "--output-activation"),
            (args.loss.is_some(), "--loss"),
            (args.optimizer.is_some(), "--optimizer"),
            (args.lr.is_some(), "--lr"),
            (args.schedule.is_some(), "--schedule"),
            (args.weight_decay.is_some(), "--weight-decay"),
            (args.max_norm.is_some(), "--max-norm"),
            (args.dropout.is_some(), "--dropout"),
            (args.input_dropout.is_some(), "--input-dropout"),
            (args.batch_size.is_some(), "--batch-size"),
            (args.seed.is_some(), "--seed"),
            (args.init.is_some(), "--init"),
            (args.validation.is_some(), "--validation"),
            (args.scale.is_some(), "--scale"),
            (args.target_scale.is_some(), "--target-scale"),
            (args.class_weight.is_some(), "--class-weight"),
            (!args.columns.targets.is_empty(), "--target"),
            (!args.inputs.ignore.is_empty(), "--ignore"),
            (args.inputs.features.is_some(), "--features"),
            (args.inputs.impute.is_some(), "--impute"),
            (args.inputs.missing_indicator, "--missing-indicator"),
        ]
        .into_iter()
        .filter_map(|(given, name)| given.then_some(name))
        .collect();
        if !fixed.is_empty() {
            return Err(BpropError::InvalidArgument {
                name: "resume",
                value: fixed.join(" "),
                why: "--resume continues the saved run with the settings saved in the model file; \
                      these options would change them (start a new run instead)"
                    .into(),
            });
        }
        let want = args.precision.map(|p| match p {
            PrecisionArg::F32 => "f32",
            PrecisionArg::F64 => "f64",
        });
        if want.is_some_and(|w| w != m.precision()) {
            return Err(BpropError::InvalidArgument {
                name: "precision",
                value: want.unwrap_or_default().into(),
                why: format!(
                    "the model was trained in {}; resume it in that precision",
                    m.precision()
                ),
            });
        }
    }
    let f64_run = match (&resumed, args.precision) {
        (Some(m), _) => m.precision() == "f64",
        (None, Some(PrecisionArg::F64)) => true,
        (None, _) => false,
    };
    if f64_run {
        run_typed::<f64>(args, resumed.as_ref(), comm)
    } else {
        run_typed::<f32>(args, resumed.as_ref(), comm)
    }
}

fn invalid(name: &'static str, value: &str, why: impl Into<String>) -> BpropError {
    BpropError::InvalidArgument {
        name,
        value: format!("\"{value}\""),
        why: why.into(),
    }
}

/// What `bprop cv` reads of the training options; the rest are `bprop train`'s own.
pub(super) struct CvView<'a> {
    pub data: Option<&'a std::path::Path>,
    pub columns: &'a ColumnArgs,
    /// Input-column selection and missing values (`--ignore`, `--impute`, ...).
    pub inputs: &'a InputArgs,
    pub backend: BackendArg,
    pub threads: Option<u32>,
    pub f64: bool,
    pub quiet: bool,
    /// The options given that only a single training run has (`--test`, `-o`, ...).
    pub train_only: Vec<&'static str>,
}

impl TrainArgs {
    /// The options `bprop cv` shares with `bprop train`.
    pub(super) fn cv_view(&self) -> CvView<'_> {
        CvView {
            data: self.data.as_deref(),
            columns: &self.columns,
            inputs: &self.inputs,
            backend: self.backend,
            threads: self.threads,
            f64: matches!(self.precision, Some(PrecisionArg::F64)),
            quiet: self.quiet,
            train_only: [
                (self.test.is_some(), "--test"),
                (self.output.is_some(), "--output"),
                (self.resume.is_some(), "--resume"),
                (self.plot.is_some(), "--plot"),
                (self.cross_check.is_some(), "--cross-check"),
            ]
            .into_iter()
            .filter_map(|(given, name)| given.then_some(name))
            .collect(),
        }
    }
}

/// The settings the arguments give, for a new run (defaults left to the library).
pub(super) fn plan(args: &TrainArgs) -> Result<TrainPlan> {
    let d = TrainPlan::default();
    Ok(TrainPlan {
        hidden: match &args.layers {
            Some(l) => parse_hidden(l)?,
            None => d.hidden,
        },
        activations: match &args.activation {
            Some(a) => parse_activations(a)?,
            None => d.activations,
        },
        output_activation: args.output_activation.as_deref().map(str::parse).transpose()?,
        loss: args.loss.as_deref().map(str::parse).transpose()?,
        optimizer: match &args.optimizer {
            Some(o) => o.parse()?,
            None => d.optimizer,
        },
        learning_rate: args.lr,
        schedule: match &args.schedule {
            Some(s) => s.parse()?,
            None => d.schedule,
        },
        weight_decay: args.weight_decay.unwrap_or(d.weight_decay),
        max_norm: args.max_norm,
        dropout: args.dropout,
        input_dropout: args.input_dropout,
        epochs: args.epochs,
        batch_size: args.batch_size,
        seed: args.seed.unwrap_or(d.seed),
        init: match &args.init {
            Some(v) => v.parse().map_err(|e: BpropError| invalid("init", v, e.to_string()))?,
            None => d.init,
        },
        validation: args.validation,
        patience: args.patience,
        restore_best: !args.keep_last,
        class_weight: args.class_weight.as_deref().map(str::parse).transpose()?,
        scale: match args.scale {
            Some(ScaleArg::Standardize) => ScaleChoice::Fit(ScaleKind::Standardize),
            Some(ScaleArg::Minmax) => ScaleChoice::Fit(ScaleKind::MinMax),
            Some(ScaleArg::None) => ScaleChoice::Off,
            None => d.scale,
        },
        target_scale: match args.target_scale {
            Some(TargetScaleArg::Standardize) => TargetScale::Standardize,
            Some(TargetScaleArg::None) => TargetScale::Off,
            None => d.target_scale,
        },
    })
}

/// `8-32-2 (relu, softmax; cross_entropy)`.
pub fn describe<T: Real>(net: &Network<T>) -> String {
    let sizes: Vec<String> = net.sizes().iter().map(usize::to_string).collect();
    let acts: Vec<String> = net.layers().iter().map(|l| l.activation.to_string()).collect();
    format!("{} ({}; {})", sizes.join("-"), acts.join(", "), net.loss())
}

/// Loss and accuracy (or regression errors) of `net` on `data`, one line; with a target
/// scaling, `data`'s targets are scaled (as the loss is), and the errors are in the
/// targets' own units.
fn metrics_line<T: Real>(
    net: &Network<T>,
    data: &Dataset<T>,
    task: Task,
    target_scaling: Option<&TargetScaling>,
) -> Result<String> {
    let m = metrics::evaluate(net, data)?;
    let mut s = format!("loss {}", num(m.loss));
    match task {
        Task::Classification => {
            let out = cpu::predict(net, data.inputs().view(), 256)?;
            let r = classify(&out, data.targets(), metrics::output_activation(net));
            s += &format!(", accuracy {}", pct(r.accuracy));
        }
        Task::Regression => {
            let mut out = cpu::predict(net, data.inputs().view(), 256)?;
            let mut y = data.targets().clone();
            if let Some(t) = target_scaling {
                t.undo(&mut out)?;
                t.undo(&mut y)?;
            }
            let r = regress(&out, &y);
            s += &format!(", MSE {}, MAE {}", num(r.mse), num(r.mae));
            let r2: Vec<String> = r.r2.iter().map(|v| v.map_or("-".into(), num)).collect();
            s += &format!(", R² {}", r2.join(" "));
        }
    }
    Ok(format!("{s} ({} samples)", data.len()))
}

fn run_typed<T: Real>(args: &TrainArgs, resumed: Option<&AnyModel>, comm: Comm) -> Result<()> {
    let rank0 = comm.as_ref().is_none_or(|c| c.rank() == 0);
    let started = Instant::now();
    let resumed: Option<ModelFile<T>> = resumed.map(AnyModel::cast);
    let resume_name = args
        .resume
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let plan = plan(args)?;

    // The data.
    let mut opts: TableOptions = args.columns.options()?;
    args.inputs.apply(&mut opts)?;
    opts.schema = resumed.as_ref().and_then(|m| m.meta.schema.clone());
    let mut table: Table<T> = match &args.data {
        Some(p) => load_table(p, &opts)?,
        None => common::bundled(BUNDLED_TRAIN, &opts)?,
    };
    let inferred = resumed.is_none() && matches!(args.columns.task, common::TaskArg::Auto);
    let inputs = match &table.schema.preprocess {
        Some(p) => plural(p.columns.len(), "input column"),
        None => plural(table.schema.inputs, "input"),
    };
    println!(
        "data: {} ({}, {inputs}, {}, {}{})",
        table.source,
        plural(table.len(), "sample"),
        plural(table.schema.outputs, "output"),
        table.schema.task,
        if inferred { " inferred, --task to change" } else { "" }
    );
    for note in &table.notes {
        println!("  {note}");
    }

    // Settings: saved ones when resuming, else the arguments and the library's defaults.
    let run = match &resumed {
        Some(m) => plan.resume(&table, m, &resume_name)?,
        None => {
            let format = args.data.as_deref().map(bprop::data::format_of).transpose()?;
            plan.resolve(&table, format)?
        }
    };
    // The raw columns served the stage's fit on the training part; the run holds its data.
    table.raw = None;
    if let Some(p) = run.schema.preprocess.as_ref().filter(|_| resumed.is_none()) {
        let names: Vec<String> = match &run.schema.input_names {
            Some(n) => n.iter().map(|n| format!("`{n}`")).collect(),
            None => p.columns.iter().map(|c| format!("column {}", c.position)).collect(),
        };
        println!(
            "  inputs: {} columns -> {} network inputs (categories and fills from the training part)",
            p.columns.len(),
            p.width()
        );
        for line in p.describe(&names) {
            println!("    {line}");
        }
    }
    // The test set is read with the columns, categories and fills fitted on the training part.
    let test_opts = TableOptions {
        schema: Some(run.schema.clone()),
        ..opts.clone()
    };
    let test_table: Option<Table<T>> = match (&args.test, &args.data) {
        (Some(p), _) => Some(load_table(p, &test_opts)?),
        (None, None) => Some(common::bundled(BUNDLED_TEST, &test_opts)?),
        (None, Some(_)) => None,
    };
    for w in test_table.iter().flat_map(|t| &t.warnings) {
        eprintln!("warning: {w}");
    }
    let Resolved {
        network: net,
        config: cfg,
        train,
        validation: val,
        scaling,
        ..
    } = &run;
    let test = test_table
        .as_ref()
        .map(|t| t.dataset().and_then(|d| run.scale(d)))
        .transpose()?;
    let n = train.len();
    let (hyper, epochs, batch_size, start_epoch) = (cfg.hyper, cfg.epochs, cfg.batch_size, cfg.start_epoch);

    println!("network: {}, {} parameters, {}", describe(net), net.n_params(), T::NAME);
    let sched = match hyper.schedule {
        Schedule::Constant => String::new(),
        s => format!(" ({s})"),
    };
    println!(
        "training: {} samples{}, {} epoch(s) of {} step(s), batch {batch_size}, {} lr {}{sched}{}{}{}{}",
        n,
        val.as_ref()
            .map_or(String::new(), |v| format!(" (+{} for validation)", v.len())),
        epochs,
        n / batch_size,
        hyper.optimizer,
        hyper.learning_rate,
        if hyper.weight_decay > 0.0 {
            format!(", weight decay {}", hyper.weight_decay)
        } else {
            String::new()
        },
        hyper.max_norm.map_or(String::new(), |c| format!(", max-norm {c}")),
        hyper
            .dropout
            .map_or(String::new(), |d| format!(", dropout {}/{}", d.input, d.hidden)),
        scaling
            .as_ref()
            .map_or(String::new(), |s| format!(", inputs scaled ({})", s.kind)),
    );
    if let Some(w) = &run.class_weights {
        let each: Vec<String> = w
            .iter()
            .enumerate()
            .map(|(c, v)| format!("{} {}", table.schema.class_name(c), num(*v)))
            .collect();
        println!(
            "  class weights in the training loss: {} (the training loss is weighted; validation and test metrics are not)",
            each.join(", ")
        );
    }
    if let Some(t) = &run.target_scaling {
        let names = table.schema.target_names.clone().unwrap_or_default();
        let each: Vec<String> = (0..t.width())
            .map(|j| {
                let name = names.get(j).cloned().unwrap_or_else(|| format!("output {j}"));
                format!("{name}: mean {}, sd {}", num(t.offset[j]), num(t.scale[j]))
            })
            .collect();
        println!(
            "  targets standardized ({}): the loss is in standard deviations, the errors in the targets' units (--target-scale none: as they are)",
            each.join("; ")
        );
    }
    if let Some(p) = &args.resume {
        println!(
            "resuming {} after epoch {start_epoch} (optimizer step {})",
            p.display(),
            resumed
                .as_ref()
                .and_then(|m| m.optimizer.as_ref())
                .map_or(0, |s| s.step)
        );
    }

    let req = AdapterRequest::from_env();
    let mut choice: BackendChoice = args.backend.into();
    if choice == BackendChoice::Auto {
        let auto = auto_choice(&req, T::PRECISION == Precision::F64, Some(run.workload()));
        println!("{auto}");
        if !auto.gpu {
            choice = BackendChoice::Cpu;
        }
    }
    let mut trainer = match &comm {
        None => Trainer::new(choice, &req, net.clone(), train.clone())?,
        Some(comm) => dist_trainer(comm, choice, &req, &run, net, train)?,
    };
    if let Some(state) = resumed.as_ref().and_then(|m| m.optimizer.clone()) {
        trainer.set_optimizer_state(Some(state))?;
    }
    match &comm {
        Some(c) if c.size() > 1 => {
            println!(
                "backend: {} ranks, data-parallel over MPI (batch {batch_size} split into {} shards, gradients all-reduced):",
                c.size(),
                c.size().min(batch_size)
            );
            // One line per engine, naming its ranks; a rank's fallback note after its ':'.
            let mine = match trainer.notes().first() {
                Some(note) => format!("{} (note: {note})", trainer.info()),
                None => trainer.info().to_string(),
            };
            let all = bprop::dist::gather_text(c.as_ref(), &mine)?;
            let mut seen: Vec<(&String, Vec<usize>)> = Vec::new();
            for (rank, text) in all.iter().enumerate() {
                match seen.iter_mut().find(|(t, _)| *t == text) {
                    Some((_, ranks)) => ranks.push(rank),
                    None => seen.push((text, vec![rank])),
                }
            }
            for (text, ranks) in seen {
                let ranks: Vec<String> = ranks.iter().map(usize::to_string).collect();
                println!("  rank {}: {text}", ranks.join(", "));
            }
        }
        _ => println!("backend: {}", trainer.info()),
    }
    for note in trainer.notes() {
        println!("note: {note}");
    }
    let notes_seen = trainer.notes().len();

    if let Some(steps) = args.cross_check {
        if comm.is_some() {
            println!("cross-check: not run under mpirun (run it in one process)");
        } else if trainer.info().kind != BackendKind::Gpu {
            println!("cross-check: not run; training runs on the CPU path, and the cross-check compares the GPU path against it");
        } else {
            let spe = n / batch_size;
            let steps = if steps == 0 { spe } else { steps };
            let order: Vec<u32> = (0..steps * batch_size).map(|i| (i % n) as u32).collect();
            let mut reference = CpuEngine::new(net.clone(), train.clone())?;
            let before = trainer.optimizer_state().cloned();
            let report = cross_check(trainer.engine_mut(), &mut reference, &order, batch_size, &hyper, 1)?;
            println!("{report}");
            // The cross-check trained the engine: put it back where training starts.
            trainer.engine_mut().set_network(net)?;
            trainer.set_optimizer_state(before)?;
            report.into_result()?;
        }
    }

    // Ctrl-C, SIGTERM, SIGHUP: finish the epoch in progress, then save and summarise as
    // usual, and exit with 128 + the signal's number; a second signal quits at once.
    let stop = Arc::new(AtomicBool::new(false));
    super::signals::install(stop.clone());
    trainer.set_stop_flag(stop);

    let mut progress = Progress::new(
        start_epoch.saturating_add(epochs),
        (n / batch_size) * batch_size,
        args.quiet || !rank0,
    );
    let mut records: Vec<EpochRecord> = Vec::new();
    let output = args.output.clone().or_else(|| args.resume.clone());
    // --checkpoint-every: the model file as it would be saved if the run ended there.
    let mut save = |t: &Trainer<T>, done: &[EpochRecord]| -> Result<()> {
        let Some(out) = output.as_ref().filter(|_| rank0) else {
            return Ok(());
        };
        let report = Ok(bprop::driver::TrainReport {
            history: done.to_vec(),
            steps: done.last().map_or(0, |r| r.steps),
            backend: t.info().clone(),
            stopped: bprop::driver::StopReason::Epochs,
            kept_epoch: None,
        });
        let mut model = run.model_file(&RunOutcome {
            trainer: t,
            result: &report,
            records: done,
            schema: &table.schema,
            data: Some(table.source.clone()),
            resumed: resumed.as_ref(),
            seconds: started.elapsed().as_secs_f64(),
        });
        if let Some(s) = model.meta.training.as_mut() {
            s.stopped = format!(
                "checkpoint after epoch {} (--checkpoint-every); the run went on",
                done.last().map_or(start_epoch, |r| r.epoch)
            );
        }
        write_model(out, &model)
    };
    let every = args.checkpoint_every.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    let result = trainer.train_checkpointed(
        cfg,
        val.as_ref(),
        &mut |rec| {
            progress.epoch(rec, start_epoch + 1);
            records.push(rec.clone());
        },
        every.map(|n| (n, &mut save as &mut bprop::driver::CheckpointFn<'_, T>)),
    );
    progress.finish();
    for note in &trainer.notes()[notes_seen..] {
        println!("note: {note}");
    }
    if let (Some(c), Ok(_)) = (&comm, &result) {
        bprop::dist::check_same_parameters(c.as_ref(), trainer.network())?;
    }
    let secs = started.elapsed().as_secs_f64();

    // The model file's contents, for success and for divergence alike.
    let outcome = RunOutcome {
        trainer: &trainer,
        result: &result,
        records: &records,
        schema: &run.schema,
        data: Some(table.source.clone()),
        resumed: resumed.as_ref(),
        seconds: secs,
    };
    let model = run.model_file(&outcome);
    let history = outcome.history();
    let stopped = stop_description(&result, cfg.patience);

    let report = match result {
        Ok(r) => r,
        Err(e) => {
            if let (BpropError::Diverged { .. }, Some(out), true) = (&e, &output, rank0) {
                // A divergence in the first chunk leaves only the initial (or resumed)
                // weights: they are saved for inspection where no file is, but never
                // replace a model already at -o.
                let trained_some = !records.is_empty();
                if trained_some || std::fs::symlink_metadata(out).is_err() {
                    write_model(out, &model)?;
                    println!(
                        "diverged: wrote the last finite model (after {} epochs) to {}",
                        records.last().map_or(start_epoch, |r| r.epoch),
                        out.display()
                    );
                } else {
                    println!(
                        "diverged before the first checkpoint: nothing saved, {} left as it was",
                        out.display()
                    );
                }
            }
            if matches!(e, BpropError::Diverged { .. }) && !matches!(hyper.optimizer, Optimizer::IRpropMinus { .. }) {
                eprintln!(
                    "hint: a lower learning rate usually prevents this: try --lr {} (this run used {})",
                    common::arg_num(hyper.learning_rate / 10.0),
                    common::arg_num(hyper.learning_rate)
                );
            }
            return Err(e);
        }
    };

    // Save first, print after: a failing stdout must not lose the trained model.
    let task = table.schema.task;
    let trained = trainer.network();
    if let Some(out) = output.as_ref().filter(|_| rank0) {
        write_model(out, &model)?;
    }
    if let Some(p) = args.plot.as_ref().filter(|_| rank0) {
        let title = format!("bprop train {}: {}", table.source, describe(trained));
        let svg = plot::loss_svg(&history, &title, report.kept_epoch);
        common::write_text(p, |w| w.write_all(svg.as_bytes()))?;
    }

    let samples = report.steps * batch_size;
    println!(
        "done: {} epoch(s) ({} steps) in {}, {} samples/s on {}",
        report.history.len(),
        report.steps,
        duration(secs),
        (samples as f64 / report.history.last().map_or(secs, |r| r.elapsed).max(1e-9)).round(),
        report.backend
    );
    println!("  stopped: {stopped}");
    if let Some(last) = report.history.last() {
        println!("  last epoch's mean training loss: {}", num(last.train_loss));
    }
    let ts = run.target_scaling.as_ref();
    println!("  training set:   {}", metrics_line(trained, train, task, ts)?);
    if let Some(v) = &val {
        println!("  validation set: {}", metrics_line(trained, v, task, ts)?);
    }
    if let Some(t) = &test {
        println!(
            "  test set:       {} from {}",
            metrics_line(trained, t, task, ts)?,
            test_table.as_ref().map_or("", |t| t.source.as_str())
        );
    }
    match &output {
        Some(out) => {
            println!(
                "model: wrote {} ({} parameters, {})",
                out.display(),
                trained.n_params(),
                T::NAME
            );
        }
        None => println!("model: not saved (give -o model.bprop to keep it)"),
    }
    if let Some(p) = args.plot.as_ref().filter(|p| !common::is_stdout(p)) {
        println!("plot: wrote {}", p.display());
    }
    Ok(())
}

/// A rank's trainer in a data-parallel run: its own engine ([`bprop::dist::rank_engine`]:
/// the GPU of its node-local rank, or the CPU path) wrapped in a [`DistEngine`].
fn dist_trainer<T: Real>(
    comm: &std::rc::Rc<dyn Collective>,
    choice: BackendChoice,
    req: &AdapterRequest,
    run: &Resolved<T>,
    net: &Network<T>,
    train: &Dataset<T>,
) -> Result<Trainer<T>> {
    let (local, note) = bprop::dist::rank_engine(comm.as_ref(), choice, req, net, train, Some(run.workload()))?;
    let mut engine = DistEngine::new(local, comm.clone(), train.len())?;
    let start = engine.network()?;
    let mut trainer = Trainer::from_engine(Box::new(engine), start, train.clone());
    if let Some(note) = note {
        trainer.add_note(note);
    }
    Ok(trainer)
}
