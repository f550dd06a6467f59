//! `bprop export` and `bprop import`: model files to FANN's `.net` format and ONNX, and
//! from FANN's `.net` format.

use super::common;
use bprop::io::onnx::{CATEGORIES_NAME, INPUT_NAME, IR_VERSION, OPSET_VERSION, OUTPUT_NAME};
use bprop::io::{read_fann_net, to_fann_net, to_onnx, write_atomic, write_model, AnyModel, ModelFile};
use bprop::model::{Precision, Real};
use bprop::{BpropError, Result};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

pub const EXPORT_EXAMPLES: &str = "\
Examples:
  bprop export model.bprop --format fann -o model.net     for fann_create_from_file()
  bprop export model.bprop --format onnx -o model.onnx    for onnxruntime and other ONNX runtimes
  bprop export model.bprop --format onnx --precision f32 -o model.onnx   an f64 model as float

FANN mapping (FANN computes f(s · Σ w x) with a steepness s per neuron):
  identity -> FANN_LINEAR (s 1)            sigmoid -> FANN_SIGMOID (s 0.5: 1/(1+e^(-2sz)))
  tanh -> FANN_SIGMOID_SYMMETRIC (s 1)     relu -> FANN_LINEAR_PIECE_RECT (s 1)
  leaky_relu:0.01 -> FANN_LINEAR_PIECE_RECT_LEAKY (s 1)
  softmax and other leaky slopes have no FANN equivalent and are refused. Biases become
  the weights from FANN's bias neurons. Input scaling is written as FANN's scaling
  parameters; FANN applies them only when the program calls fann_scale_input(). FANN
  clamps s · Σ w x to ±150/s, so linear outputs saturate at ±150 there.

ONNX (IR 8, opset 17; src/io/onnx.rs): input `input` (N, inputs), output `output`
(N, outputs; probabilities for softmax models), N the batch size. The input scaling
becomes Sub and Div nodes, each layer a Gemm (transB=1) and its activation (Sigmoid,
Tanh, Relu, LeakyRelu with alpha = slope, Softmax on the last axis; none for identity).
Tensors are float for f32 models and double for f64 ones (feed float64 inputs) unless
--precision says otherwise.";

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
    /// An ONNX model (IR 8, opset 17).
    Onnx,
}

/// `--precision` of `bprop export --format onnx`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OnnxPrecision {
    /// FLOAT tensors, float32 inputs (an f64 model's parameters are rounded).
    F32,
    /// DOUBLE tensors, float64 inputs.
    F64,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The model file.
    model: PathBuf,
    /// The format to write [default: onnx for an output ending in .onnx, else fann].
    #[arg(long, value_enum)]
    format: Option<ExportFormat>,
    /// ONNX only: the tensors' precision [default: the model's]. f32 rounds an f64 model
    /// for runtimes without double kernels.
    #[arg(long, value_enum)]
    precision: Option<OnnxPrecision>,
    /// Where to write (atomically); `-` writes a FANN file to standard output.
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
    let onnx_name = args.output.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx"));
    let format = match args.format {
        Some(f) => f,
        None if onnx_name => ExportFormat::Onnx,
        None => ExportFormat::Fann,
    };
    if let (ExportFormat::Fann, Some(p)) = (format, args.precision) {
        return Err(BpropError::InvalidArgument {
            name: "precision",
            value: format!("{p:?}").to_lowercase(),
            why: "applies to --format onnx only (FANN's .net files are text)".into(),
        });
    }
    common::check_output(&args.output, "output", matches!(format, ExportFormat::Fann))?;
    let model = common::load_model(&args.model)?;
    match format {
        ExportFormat::Fann => {
            let text = match &model {
                AnyModel::F32(m) => to_fann_net(m)?,
                AnyModel::F64(m) => to_fann_net(m)?,
            };
            common::write_text(&args.output, |w| w.write_all(text.as_bytes()))?;
            if !common::is_stdout(&args.output) {
                println!("wrote {} (FANN network file)", args.output.display());
            }
        }
        ExportFormat::Onnx => match (args.precision, &model) {
            (None, AnyModel::F32(m)) => export_onnx(args, m)?,
            (None, AnyModel::F64(m)) => export_onnx(args, m)?,
            (Some(OnnxPrecision::F32), _) => export_onnx(args, &model.cast::<f32>())?,
            (Some(OnnxPrecision::F64), _) => export_onnx(args, &model.cast::<f64>())?,
        },
    }
    Ok(())
}

fn export_onnx<T: Real>(args: &ExportArgs, model: &ModelFile<T>) -> Result<()> {
    write_atomic(&args.output, &to_onnx(model)?)?;
    let (elem, feed) = match T::PRECISION {
        Precision::F64 => ("double", "float64"),
        Precision::F32 => ("float", "float32"),
    };
    if let Some(p) = model.meta.schema.as_ref().and_then(|s| s.preprocess.as_ref()) {
        let text = p.columns.iter().filter(|c| c.is_categorical()).count();
        let numeric = p.columns.len() - text;
        let mut inputs = Vec::new();
        if numeric > 0 {
            inputs.push(format!("`{INPUT_NAME}` (N, {numeric}) {feed}, NaN where missing"));
        }
        if text > 0 {
            inputs.push(format!("`{CATEGORIES_NAME}` (N, {text}) strings"));
        }
        println!(
            "wrote {} (ONNX, IR {IR_VERSION}, opset {OPSET_VERSION}, {elem} tensors): inputs {}: the table's \
             columns as they are (metadata bprop.numeric_inputs, bprop.text_inputs), output `{OUTPUT_NAME}` (N, {})",
            args.output.display(),
            inputs.join(" and "),
            model.network.outputs(),
        );
        return Ok(());
    }
    println!(
        "wrote {} (ONNX, IR {IR_VERSION}, opset {OPSET_VERSION}, {elem} tensors): \
         input `{INPUT_NAME}` (N, {}) {feed}{}, output `{OUTPUT_NAME}` (N, {})",
        args.output.display(),
        model.network.inputs(),
        if model.scaling.is_some() {
            ", unscaled (the graph scales it)"
        } else {
            ""
        },
        model.network.outputs(),
    );
    Ok(())
}

pub fn import(args: &ImportArgs) -> Result<()> {
    common::check_output(&args.output, "output", false)?;
    let model = read_fann_net(&args.file)?;
    write_model(&args.output, &model)?;
    println!(
        "wrote {}: {} from {} (f64{})",
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
