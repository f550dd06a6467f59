//! `bprop export` and `bprop import`: model files to and from FANN's `.net` format.

use super::common;
use bprop::io::{read_fann_net, to_fann_net, write_atomic, write_model, AnyModel};
use bprop::Result;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

pub const EXPORT_EXAMPLES: &str = "\
Examples:
  bprop export model.bprop --format fann -o model.net     for fann_create_from_file()

FANN mapping (FANN computes f(s · Σ w x) with a steepness s per neuron):
  identity -> FANN_LINEAR (s 1)            sigmoid -> FANN_SIGMOID (s 0.5: 1/(1+e^(-2sz)))
  tanh -> FANN_SIGMOID_SYMMETRIC (s 1)     relu -> FANN_LINEAR_PIECE_RECT (s 1)
  leaky_relu:0.01 -> FANN_LINEAR_PIECE_RECT_LEAKY (s 1)
  softmax and other leaky slopes have no FANN equivalent and are refused. Biases become
  the weights from FANN's bias neurons. Input scaling is written as FANN's scaling
  parameters; FANN applies them only when the program calls fann_scale_input(). FANN
  clamps s · Σ w x to ±150/s, so linear outputs saturate at ±150 there.
ONNX export is not implemented.";

pub const IMPORT_EXAMPLES: &str = "\
Examples:
  bprop import xor_float.net -o xor.bprop
  bprop info xor.bprop

Reads fully connected layered FANN_FLO_2.0/2.1 networks whose layers use FANN_LINEAR,
FANN_SIGMOID(_STEPWISE), FANN_SIGMOID_SYMMETRIC(_STEPWISE), FANN_LINEAR_PIECE_RECT or
FANN_LINEAR_PIECE_RECT_LEAKY; each neuron's steepness is folded into its weights. The
model gets the mse loss (FANN files store none) and no training settings, so it can be
evaluated, used for predictions and explained, not resumed.";

/// `--format` of `bprop export`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ExportFormat {
    /// FANN's text network file (FANN_FLO_2.1).
    Fann,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The model file.
    model: PathBuf,
    /// The format to write.
    #[arg(long, value_enum, default_value = "fann")]
    format: ExportFormat,
    /// Where to write (atomically).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: PathBuf,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A FANN network file (.net).
    file: PathBuf,
    /// The bprop model file to write (atomically).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: PathBuf,
}

pub fn export(args: &ExportArgs) -> Result<()> {
    let text = match (common::load_model(&args.model)?, args.format) {
        (AnyModel::F32(m), ExportFormat::Fann) => to_fann_net(&m)?,
        (AnyModel::F64(m), ExportFormat::Fann) => to_fann_net(&m)?,
    };
    write_atomic(&args.output, text.as_bytes())?;
    println!("wrote {} (FANN network file)", args.output.display());
    Ok(())
}

pub fn import(args: &ImportArgs) -> Result<()> {
    let model = read_fann_net(&args.file)?;
    write_model(&args.output, &model)?;
    println!(
        "wrote {}: {} from {} (f64, loss mse{})",
        args.output.display(),
        super::train::describe(&model.network),
        args.file.display(),
        if model.scaling.is_some() {
            ", with FANN's input scaling"
        } else {
            ""
        }
    );
    Ok(())
}
