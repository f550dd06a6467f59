//! Argument parsing (clap) and dispatch to one module per subcommand.

mod bench;
mod common;
mod convert;
mod cv;
mod demo;
mod devices;
mod eval;
mod explain;
mod info;
pub mod out;
mod predict;
pub mod signals;
mod train;

use bprop::driver::BackendChoice;
use bprop::Result;
use clap::{Parser, Subcommand, ValueEnum};

/// bprop: fully connected neural networks trained by backpropagation on the GPU (WGSL
/// compute shaders through wgpu) with a cross-checked CPU path.
#[derive(Debug, Parser)]
#[command(
    name = "bprop",
    version,
    after_help = "Examples:\n  bprop train                     train on the bundled diabetes set, in seconds\n  bprop train data.csv --target label -o model.bprop\n  bprop cv data.csv --target label --folds 5   5-fold cross-validation\n  bprop eval model.bprop test.csv\n  bprop predict model.bprop new.csv -o predictions.csv\n  bprop info model.bprop\n  bprop demo                      the seed's 2-2-1 network, done right, on the best backend\n  bprop demo --backend cpu --precision f64\n  bprop devices                   the GPU adapters wgpu sees\n\nEnvironment: WGPU_BACKEND (e.g. vulkan) and WGPU_ADAPTER_NAME (a substring of the adapter's\nname) restrict the adapters the GPU path may use."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train the seed's 2-2-1 sigmoid network as backpropagation does it, step by step.
    #[command(after_help = demo::EXAMPLES)]
    Demo(demo::DemoArgs),
    /// List the GPU adapters wgpu finds and which one `--backend auto` would use.
    #[command(after_help = devices::EXAMPLES)]
    Devices,
    /// Show a backpropagation step layer by layer with its numbers, gradients checked by
    /// finite differences (the seed's network by default).
    #[command(after_help = explain::EXAMPLES)]
    Explain(Box<explain::ExplainArgs>),
    /// Train a network on a data file (CSV/TSV, .npy, FANN, MNIST IDX), or on the bundled
    /// diabetes set, and save it.
    #[command(after_help = train::EXAMPLES)]
    Train(Box<train::TrainArgs>),
    /// Cross-validate training options on a data file: K folds (stratified for classes),
    /// each held out once, scores per fold and their mean ± sd.
    #[command(
        after_help = cv::EXAMPLES,
        mut_arg("data", |a| a.help("The data [default: the bundled diabetes set, data/diabetes.train]")),
        mut_arg("test", |a| a.hide(true)),
        mut_arg("output", |a| a.hide(true)),
        mut_arg("resume", |a| a.hide(true)),
        mut_arg("plot", |a| a.hide(true)),
        mut_arg("cross_check", |a| a.hide(true)),
    )]
    Cv(Box<cv::CvArgs>),
    /// Evaluate a saved model on a data file: loss, accuracy, per-class precision and
    /// recall, confusion matrix; or MSE, MAE and R².
    #[command(after_help = eval::EXAMPLES)]
    Eval(eval::EvalArgs),
    /// Write a saved model's predictions for a data file as CSV: labels and class
    /// probabilities, or values.
    #[command(after_help = predict::EXAMPLES)]
    Predict(predict::PredictArgs),
    /// Show what a model file holds: architecture, parameters, training settings, scaling,
    /// classes, format version.
    #[command(after_help = info::EXAMPLES)]
    Info(info::InfoArgs),
    /// Write a model file in another format: FANN's .net or ONNX.
    #[command(after_help = convert::EXPORT_EXAMPLES)]
    Export(convert::ExportArgs),
    /// Read a FANN network file (.net) into a bprop model file.
    #[command(after_help = convert::IMPORT_EXAMPLES)]
    Import(convert::ImportArgs),
    /// Time the same work on the CPU path and the GPU path, alternating: medians and
    /// ratios from one run, with the CPU and the adapter described.
    #[command(after_help = bench::EXAMPLES)]
    Bench(bench::BenchArgs),
}

/// Which path computes (`--backend`).
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum BackendArg {
    /// A hardware GPU, else a software GPU adapter, else the CPU path; falls back to the
    /// CPU path (saying why) when the GPU path fails.
    Auto,
    /// A GPU adapter (hardware or software), or an error.
    Gpu,
    /// The CPU path.
    Cpu,
}

impl From<BackendArg> for BackendChoice {
    fn from(b: BackendArg) -> Self {
        match b {
            BackendArg::Auto => BackendChoice::Auto,
            BackendArg::Gpu => BackendChoice::Gpu,
            BackendArg::Cpu => BackendChoice::Cpu,
        }
    }
}

/// Output format of `eval` and `info` (`--format`).
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OutputFormat {
    /// Aligned text.
    Text,
    /// JSON.
    Json,
}

/// Floating-point precision (`--precision`).
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PrecisionArg {
    /// 32-bit floats (every adapter).
    F32,
    /// 64-bit floats (the CPU path; the GPU path on adapters with SHADER_F64).
    F64,
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo(args) => demo::run(&args),
        Command::Devices => devices::run(),
        Command::Explain(args) => explain::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Cv(args) => cv::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Predict(args) => predict::run(&args),
        Command::Info(args) => info::run(&args),
        Command::Export(args) => convert::export(&args),
        Command::Import(args) => convert::import(&args),
        Command::Bench(args) => bench::run(&args),
    }
}
