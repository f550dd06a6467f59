//! `bprop explain`: one step (or a few) of backpropagation laid out layer by layer with its
//! numbers, every gradient beside its finite-difference estimate; the seed's network by
//! default, any small network given by its sizes and weights otherwise.

use super::BackendArg;
use bprop::explain::{self, ExplainGpu, ExplainOptions, Format};
use bprop::gpu::AdapterRequest;
use bprop::model::{Activation, Dataset, Init, Layer, Loss, Network, NetworkSpec};
use bprop::{seed, BpropError, Result};
use clap::{Args, ValueEnum};
use ndarray::{Array1, Array2};
use std::path::PathBuf;

/// `bprop explain --help`'s epilogue: the network syntax and examples.
pub const EXAMPLES: &str = "\
Network syntax:
  --layers 2,2,1                      sizes, inputs first
  --weights \"0.1,0.8;0.4,0.6|0.3,0.9\" layers split by |, neurons (rows of W_l) by ;,
                                      a neuron's incoming weights by ,
  --biases \"0.1,-0.2|0.05\"            layers split by |, values by ,; - for a layer
                                      without biases; zero for zero biases everywhere
  --input \"0.35,0.9;0.1,0.2\"          samples split by ; (or repeat --input)
  --target \"0.5;1\"                    one target row per input sample
  Without --layers and --weights the network is the seed's (weights w0, w1); without
  --input, the sample is the seed's (x = (0.35, 0.9), y = 0.5). --layers without
  --weights draws random weights (--seed). Layers are numbered from 1 (layer 1 reads
  the inputs), neurons from 0. --model FILE explains a saved model (bprop train -o FILE)
  on the --input/--target samples given in the data's own units: the model's input
  scaling is applied to them first.

Examples:
  bprop explain                       the seed's first iteration, and its faulty w0 line
  bprop explain --steps 3 --format markdown
  bprop explain --format html -o seed.html    a page drawing the network (offline)
  bprop explain --format json         every number in full, as the engine computed it
  bprop explain --backend gpu         the GPU path's gradients beside the CPU path's
  bprop explain --input \"0.35,0.9;0.1,0.2;0.9,0.4\" --target \"0.5;0.1;0.9\"
                                      a batch of 3: gradients are means over it
  bprop explain --layers 2,2,1 --weights \"0.1,0.8;0.4,0.6|0.3,0.9\" --biases \"0.1,-0.2|0.05\" \\
      --activation tanh --loss bce --input \"0.35,0.9\" --target 1
  bprop explain --model m.bprop --input \"0.1,0.2\" --target \"1,0,0\" \\
      --layer 2 --max-weights 200     a saved model's step, its output layer shown
  bprop explain --layers 4,16,3 --loss cross_entropy --input \"1,0,0.5,0.2\" \\
      --target \"0,1,0\" --layer 2 --neurons 0..2    too big to show whole: restrict it";

/// Output format (`--format`).
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FormatArg {
    /// Aligned plain text (80 columns).
    Text,
    /// GitHub-flavoured Markdown.
    #[value(alias = "md")]
    Markdown,
    /// JSON, every number the f64 the engine computed.
    Json,
    /// A self-contained HTML page with an SVG drawing of the network.
    Html,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Text => Format::Text,
            FormatArg::Markdown => Format::Markdown,
            FormatArg::Json => Format::Json,
            FormatArg::Html => Format::Html,
        }
    }
}

/// The options of `bprop explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Explain a saved model (architecture, weights, scaling) instead of a network given
    /// by --layers/--weights (its activations and loss are the model's); needs --input and
    /// --target.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["layers", "weights", "biases", "output_activation"])]
    model: Option<PathBuf>,
    /// Layer sizes, inputs first, e.g. 2,2,1 (default: the sizes --weights implies, or the seed's).
    #[arg(long, value_name = "SIZES")]
    layers: Option<String>,
    /// Weights: layers split by |, neurons by ;, a neuron's incoming weights by , (see below).
    #[arg(long, value_name = "W")]
    weights: Option<String>,
    /// Biases: layers split by |, values by ,; - for none; zero for zeros (default: no biases).
    #[arg(long, value_name = "B")]
    biases: Option<String>,
    /// Hidden layers' activation, or a comma list with one per hidden layer: identity,
    /// sigmoid, tanh, relu, leaky_relu[:SLOPE].
    #[arg(long, default_value = "sigmoid", value_name = "F")]
    activation: String,
    /// Output layer's activation [default: sigmoid; softmax with --loss cross_entropy].
    #[arg(long, value_name = "F")]
    output_activation: Option<String>,
    /// Loss: sse (½ Σ (y − a)², the seed's), mse, bce (sigmoid output), cross_entropy (softmax output),
    /// tanh_error (FANN's default training error).
    #[arg(long, default_value = "sse")]
    loss: String,
    /// Seed of the random weights drawn when --layers is given without --weights.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Input sample(s): values split by ,, samples by ; (repeatable); all of them form one batch.
    #[arg(long = "input", value_name = "X")]
    inputs: Vec<String>,
    /// Target(s), one row per input sample, written as --input.
    #[arg(long = "target", value_name = "Y")]
    targets: Vec<String>,
    /// Number of steps to take on the batch.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=explain::MAX_STEPS as i64))]
    steps: u32,
    /// Learning rate η.
    #[arg(long, default_value_t = seed::LEARNING_RATE)]
    lr: f64,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: FormatArg,
    /// Write the output to FILE (atomically: a temporary file in the same directory, renamed).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Show only layer L (1 = the layer that reads the inputs).
    #[arg(long, value_name = "L")]
    layer: Option<usize>,
    /// Show only neurons a..b of the shown layers (from 0, b excluded; a..=b and a also work).
    #[arg(long, value_name = "a..b")]
    neurons: Option<String>,
    /// The most weights shown; larger networks need --layer and/or --neurons.
    #[arg(long, default_value_t = explain::DEFAULT_MAX_WEIGHTS, value_name = "N")]
    max_weights: usize,
    /// Relative finite-difference step: h = STEP·max(1, |θ|).
    #[arg(long, default_value_t = explain::DEFAULT_FD_STEP, value_name = "STEP")]
    fd_step: f64,
    /// cpu: the CPU path alone; gpu: also trace each step on a GPU adapter (f64 where it has
    /// SHADER_F64, else f32) and show its gradients, or fail; auto: a GPU column when an
    /// adapter is found.
    #[arg(long, value_enum, default_value = "cpu")]
    backend: BackendArg,
}

fn invalid(name: &'static str, value: &str, why: impl Into<String>) -> BpropError {
    BpropError::InvalidArgument {
        name,
        value: format!("\"{value}\""),
        why: why.into(),
    }
}

/// `0.1, 0.8` → [0.1, 0.8].
fn numbers(name: &'static str, s: &str) -> Result<Vec<f64>> {
    s.split(',')
        .map(|v| {
            let v = v.trim();
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| invalid(name, v, "expected finite numbers separated by ,"))
        })
        .collect()
}

/// Rows split by `;`, values by `,`, all rows equally long.
fn matrix(name: &'static str, s: &str) -> Result<Array2<f64>> {
    let rows: Vec<Vec<f64>> = s.split(';').map(|r| numbers(name, r)).collect::<Result<_>>()?;
    let cols = rows[0].len();
    if let Some((r, row)) = rows.iter().enumerate().find(|(_, r)| r.len() != cols) {
        return Err(invalid(
            name,
            s,
            format!(
                "row {r} has {} values but row 0 has {cols}; every row needs as many",
                row.len()
            ),
        ));
    }
    Ok(Array2::from_shape_vec((rows.len(), cols), rows.concat()).expect("rows of equal length"))
}

/// `a..b`, `a..=b` or `a` → a..b (b excluded).
fn neuron_range(s: &str) -> Result<std::ops::Range<usize>> {
    let bad = || {
        invalid(
            "neurons",
            s,
            "expected a..b (b excluded), a..=b or a single neuron a, numbered from 0",
        )
    };
    let num = |t: &str| t.trim().parse::<usize>().map_err(|_| bad());
    if let Some((a, b)) = s.split_once("..=") {
        Ok(num(a)?..num(b)? + 1)
    } else if let Some((a, b)) = s.split_once("..") {
        Ok(num(a)?..num(b)?)
    } else {
        let a = num(s)?;
        Ok(a..a + 1)
    }
}

fn sizes(s: &str) -> Result<Vec<usize>> {
    let sizes: Vec<usize> = s
        .split(',')
        .map(|v| v.trim().parse::<usize>().ok().filter(|&n| n > 0))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            invalid(
                "layers",
                s,
                "expected positive layer sizes separated by ,, inputs first",
            )
        })?;
    if sizes.len() < 2 {
        return Err(invalid(
            "layers",
            s,
            "needs the input size and at least one layer, e.g. 2,2,1",
        ));
    }
    Ok(sizes)
}

/// The network the arguments describe (the seed's by default).
fn network(args: &ExplainArgs) -> Result<Network<f64>> {
    if let Some(path) = &args.model {
        return Ok(bprop::io::read_model(path)?.cast::<f64>().network);
    }
    let loss: Loss = args.loss.parse()?;
    let weights: Vec<Array2<f64>> = match (&args.weights, &args.layers) {
        (Some(w), sizes_arg) => {
            let ws: Vec<Array2<f64>> = w.split('|').map(|l| matrix("weights", l)).collect::<Result<_>>()?;
            if let Some(s) = sizes_arg {
                let sizes = sizes(s)?;
                let implied: Vec<usize> = std::iter::once(ws[0].ncols())
                    .chain(ws.iter().map(|w| w.nrows()))
                    .collect();
                if sizes != implied {
                    return Err(invalid(
                        "weights",
                        w,
                        format!("these weights make a {implied:?} network, but --layers says {sizes:?}"),
                    ));
                }
            }
            ws
        }
        (None, Some(s)) => {
            let sizes = sizes(s)?;
            // Only the weights are kept; the activations and loss are set below.
            let mut spec = NetworkSpec::new(sizes[0], Loss::HalfSse);
            for &units in &sizes[1..] {
                spec = spec.layer_without_bias(units, Activation::Identity);
            }
            let random = Network::<f64>::random(&spec, Init::Glorot, args.seed)?;
            random.layers().iter().map(|l| l.weights.clone()).collect()
        }
        (None, None) => seed::network::<f64>()
            .layers()
            .iter()
            .map(|l| l.weights.clone())
            .collect(),
    };
    let n = weights.len();
    let hidden: Vec<Activation> = args.activation.split(',').map(str::parse).collect::<Result<_>>()?;
    let hidden = match hidden.len() {
        1 => vec![hidden[0]; n - 1],
        k if k == n - 1 => hidden,
        k => {
            return Err(invalid(
                "activation",
                &args.activation,
                format!(
                    "give one activation for every hidden layer or one list of {}, not {k}",
                    n - 1
                ),
            ))
        }
    };
    let output = match &args.output_activation {
        Some(a) => a.parse()?,
        None if loss == Loss::CrossEntropy => Activation::Softmax,
        None => Activation::Sigmoid,
    };
    let biases: Vec<Option<Array1<f64>>> = match args.biases.as_deref().map(str::trim) {
        None => vec![None; n],
        Some("zero") => weights.iter().map(|w| Some(Array1::zeros(w.nrows()))).collect(),
        Some(b) => {
            let parts: Vec<&str> = b.split('|').collect();
            if parts.len() != n {
                return Err(invalid(
                    "biases",
                    b,
                    format!("the network has {n} layers, so give {n} parts split by | (- for a layer without biases)"),
                ));
            }
            parts
                .iter()
                .map(|p| match p.trim() {
                    "-" | "" => Ok(None),
                    p => Ok(Some(Array1::from(numbers("biases", p)?))),
                })
                .collect::<Result<_>>()?
        }
    };
    let layers = weights
        .into_iter()
        .zip(biases)
        .enumerate()
        .map(|(l, (weights, bias))| Layer {
            weights,
            bias,
            activation: if l + 1 == n { output } else { hidden[l] },
        })
        .collect();
    Network::new(layers, loss)
}

/// The samples the arguments give (the seed's by default), as one dataset.
fn dataset(args: &ExplainArgs) -> Result<Dataset<f64>> {
    if args.inputs.is_empty() && args.targets.is_empty() {
        return Ok(seed::dataset());
    }
    let rows = |name: &'static str, list: &[String]| -> Result<Array2<f64>> {
        if list.is_empty() {
            return Err(invalid(
                name,
                "",
                "--input and --target go together, one target row per input row",
            ));
        }
        let parts: Vec<Array2<f64>> = list.iter().map(|s| matrix(name, s)).collect::<Result<_>>()?;
        let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
        ndarray::concatenate(ndarray::Axis(0), &views)
            .map_err(|_| invalid(name, &list.join(" "), "every sample needs the same number of values"))
    };
    let (x, y) = (rows("input", &args.inputs)?, rows("target", &args.targets)?);
    if x.nrows() != y.nrows() {
        return Err(BpropError::Shape {
            what: "--target (one row per --input sample)".into(),
            expected: format!("{} target rows", x.nrows()),
            got: format!("{} target rows", y.nrows()),
        });
    }
    Dataset::new(x, y)
}

/// Builds the network and samples the arguments describe, explains them, and prints or
/// writes the result.
pub fn run(args: &ExplainArgs) -> Result<()> {
    let net = network(args)?;
    let mut data = dataset(args)?;
    if let Some(path) = &args.model {
        if args.inputs.is_empty() {
            return Err(invalid(
                "model",
                &path.display().to_string(),
                "give the samples to explain it on with --input and --target",
            ));
        }
        if let Some(s) = bprop::io::read_model(path)?.cast::<f64>().scaling {
            data = s.apply_dataset(&data)?;
            eprintln!("note: inputs scaled by the model's {} scaling before the step", s.kind);
        }
    }
    let samples: Vec<u32> = (0..data.len() as u32).collect();
    let opts = ExplainOptions {
        layer: args.layer,
        neurons: args.neurons.as_deref().map(neuron_range).transpose()?,
        max_weights: args.max_weights,
        fd_step: args.fd_step,
    };
    data.check_fits(&net)?;
    let req = AdapterRequest::from_env();
    let mut gpu = match args.backend {
        BackendArg::Cpu => None,
        BackendArg::Gpu => Some(ExplainGpu::open(&req, &net, &data)?),
        BackendArg::Auto => match ExplainGpu::open(&req, &net, &data) {
            Ok(g) => Some(g),
            Err(e) => {
                eprintln!("note: no GPU column ({e})");
                None
            }
        },
    };
    let e = explain::explain(
        &net,
        &data,
        &samples,
        args.steps as usize,
        args.lr,
        &opts,
        gpu.as_mut().map(ExplainGpu::twin),
    )?;
    let out = e.render(args.format.into());
    match &args.output {
        Some(path) => {
            bprop::io::write_atomic(path, out.as_bytes())?;
            eprintln!("wrote {} ({})", path.display(), Format::from(args.format));
        }
        None => print!("{out}"),
    }
    Ok(())
}
