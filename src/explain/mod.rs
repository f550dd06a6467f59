//! Explain: backpropagation laid out step by step with its numbers, every gradient checked
//! against a finite difference.
//!
//! [`explain`] takes one training step (or a few, on one sample or on a batch) of a small
//! network on the CPU path and records, layer by layer, what the step computes:
//!
//! ```text
//! forward    z_l = W_l a_{l−1} + b_l,  a_l = f_l(z_l)            a_0 = x
//! error      E = mean over the batch of the per-sample loss
//! output     δ_L = ∂E/∂a_L ⊙ f'(z_L)     (sse, mse, tanh_error)
//!            δ_L = a_L − y               (bce fused with a sigmoid output)
//!            δ_L = a_L·Σ_k y_k − y       (cross_entropy fused with softmax)
//! hidden     δ_l = (W_{l+1}ᵀ δ_{l+1}) ⊙ f'(z_l)
//! gradients  ∂E/∂W_l = 1/B Σ_s δ_l a_{l−1}ᵀ,   ∂E/∂b_l = 1/B Σ_s δ_l
//! update     W_l ← W_l − η ∂E/∂W_l,          b_l ← b_l − η ∂E/∂b_l
//! ```
//!
//! The numbers are the engine's own: the forward values, deltas, gradients and loss come
//! from [`CpuEngine::trace`] and the new weights from [`Engine::train_steps`], so the JSON
//! rendering holds exactly the f64 values the engine computed. Beside every gradient is a
//! central finite difference of the batch loss, (E(θ + h) − E(θ − h)) / 2h with
//! h = [`ExplainOptions::fd_step`]·max(1, |θ|), and their difference; optionally a GPU
//! engine traces the same step and its gradients are shown too ([`GpuTwin`]).
//!
//! Layers are numbered from 1 as in the formulas (layer 1 reads the inputs a_0, layer L is
//! the output layer), neurons from 0; `W_l[i,j]` is the weight from neuron j of layer l−1
//! to neuron i of layer l. The seed's `w0` is `W_1` here and its `w1` is `W_2`.
//!
//! An [`Explanation`] renders as aligned text (80 columns), Markdown, JSON or a
//! self-contained HTML page that draws the network ([`Explanation::render`]). Networks
//! with more weights than [`ExplainOptions::max_weights`] are refused unless the view is
//! restricted to one layer ([`ExplainOptions::layer`]) and/or a range of neurons
//! ([`ExplainOptions::neurons`]).
//!
//! Saved models cannot be explained yet: saving and loading models comes with a later
//! issue; until then a network is given by its weights ([`Network::new`]).

mod doc;
mod html;
mod json;
mod markdown;
mod text;

use crate::cpu::{self, CpuEngine, Workspace};
use crate::engine::{Engine, StepTrace};
use crate::error::{BpropError, Result};
use crate::gpu::{AdapterRequest, GpuEngine};
use crate::model::loss::tanh_error_width;
use crate::model::{Activation, Dataset, Loss, Network};
use crate::seed;
use ndarray::Array2;
use serde::Serialize;
use std::fmt;
use std::ops::Range;
use std::str::FromStr;

/// The most weights an explanation shows unless told otherwise.
pub const DEFAULT_MAX_WEIGHTS: usize = 64;
/// The default relative finite-difference step: h = 1e-5·max(1, |θ|).
pub const DEFAULT_FD_STEP: f64 = 1e-5;
/// A gradient agrees with its finite difference when |g − fd| ≤ FD_TOLERANCE·max(1, |g|).
pub const FD_TOLERANCE: f64 = 1e-8;
/// The most steps one explanation takes.
pub const MAX_STEPS: usize = 100;

/// What an explanation shows and how it checks.
#[derive(Clone, Debug, PartialEq)]
pub struct ExplainOptions {
    /// Show only this layer, numbered from 1 (layer 1 reads the inputs). `None`: all layers.
    pub layer: Option<usize>,
    /// Show only neurons `start..end` (numbered from 0, end excluded) of the shown layers;
    /// layers with none of them are left out. `None`: all neurons.
    pub neurons: Option<Range<usize>>,
    /// The most weights shown; a larger view is refused with
    /// [`BpropError::InvalidArgument`] naming the restrictions to use.
    pub max_weights: usize,
    /// The relative finite-difference step: h = fd_step·max(1, |θ|).
    pub fd_step: f64,
}

impl Default for ExplainOptions {
    fn default() -> Self {
        ExplainOptions {
            layer: None,
            neurons: None,
            max_weights: DEFAULT_MAX_WEIGHTS,
            fd_step: DEFAULT_FD_STEP,
        }
    }
}

/// A GPU engine that traces the same steps as the CPU path, in the precision its adapter
/// offers. Its network is replaced by the CPU path's before each step, so it computes the
/// same step from the same parameters.
pub enum GpuTwin<'a> {
    /// An f32 engine (adapters without `SHADER_F64`).
    F32(&'a mut dyn Engine<f32>),
    /// An f64 engine.
    F64(&'a mut dyn Engine<f64>),
}

impl GpuTwin<'_> {
    /// `f32` or `f64`.
    pub fn precision(&self) -> &'static str {
        match self {
            GpuTwin::F32(_) => "f32",
            GpuTwin::F64(_) => "f64",
        }
    }

    /// What the engine runs on, printed.
    pub fn describe(&self) -> String {
        match self {
            GpuTwin::F32(e) => e.info().to_string(),
            GpuTwin::F64(e) => e.info().to_string(),
        }
    }

    /// The trace of one step of `net` on `samples`, widened to f64.
    fn trace(&mut self, net: &Network<f64>, samples: &[u32]) -> Result<StepTrace<f64>> {
        match self {
            GpuTwin::F64(e) => {
                e.set_network(net)?;
                e.trace(samples)
            }
            GpuTwin::F32(e) => {
                e.set_network(&net.cast::<f32>())?;
                Ok(widen(e.trace(samples)?))
            }
        }
    }
}

/// A GPU engine opened for an explanation: f64 where the adapter has `SHADER_F64`, else f32.
pub enum ExplainGpu {
    /// An f32 engine.
    F32(GpuEngine<f32>),
    /// An f64 engine.
    F64(GpuEngine<f64>),
}

impl ExplainGpu {
    /// Opens the adapter `req` selects for `net` and `data`, in f64 when it has
    /// `SHADER_F64`, else in f32.
    ///
    /// # Errors
    /// [`BpropError::NoAdapter`] or [`BpropError::Gpu`].
    pub fn open(req: &AdapterRequest, net: &Network<f64>, data: &Dataset<f64>) -> Result<Self> {
        let (_, summary) = crate::gpu::context::pick(req, false)?;
        if summary.f64 {
            Ok(ExplainGpu::F64(crate::driver::open_gpu(req, net, data)?))
        } else {
            let data32 = Dataset::new(data.inputs().mapv(|v| v as f32), data.targets().mapv(|v| v as f32))?;
            Ok(ExplainGpu::F32(crate::driver::open_gpu(
                req,
                &net.cast::<f32>(),
                &data32,
            )?))
        }
    }

    /// The engine as a [`GpuTwin`] for [`explain`].
    pub fn twin(&mut self) -> GpuTwin<'_> {
        match self {
            ExplainGpu::F32(e) => GpuTwin::F32(e),
            ExplainGpu::F64(e) => GpuTwin::F64(e),
        }
    }
}

fn widen(t: StepTrace<f32>) -> StepTrace<f64> {
    let w = |m: &Array2<f32>| m.mapv(f64::from);
    StepTrace {
        inputs: w(&t.inputs),
        targets: w(&t.targets),
        layers: t
            .layers
            .iter()
            .map(|l| crate::engine::LayerTrace {
                z: w(&l.z),
                a: w(&l.a),
                delta: w(&l.delta),
                grad_w: w(&l.grad_w),
                grad_b: l.grad_b.as_ref().map(|b| b.mapv(f64::from)),
            })
            .collect(),
        loss: f64::from(t.loss),
    }
}

/// An explanation's output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Aligned plain text, at most 80 columns wide where the numbers allow.
    Text,
    /// GitHub-flavoured Markdown.
    Markdown,
    /// The [`Explanation`] as JSON, every number the f64 the engine computed.
    Json,
    /// A self-contained HTML page (inline CSS and SVG) that draws the network.
    Html,
}

impl FromStr for Format {
    type Err = BpropError;
    /// Parses `text`, `markdown` (or `md`), `json` or `html`, case-insensitive.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" | "txt" => Ok(Format::Text),
            "markdown" | "md" => Ok(Format::Markdown),
            "json" => Ok(Format::Json),
            "html" => Ok(Format::Html),
            _ => Err(BpropError::UnknownName {
                kind: "format",
                name: s.to_string(),
                expected: "text, markdown, json, html",
            }),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Text => "text",
            Format::Markdown => "markdown",
            Format::Json => "json",
            Format::Html => "html",
        })
    }
}

/// One explained run: the network, what is shown, and every step's numbers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Explanation {
    /// A one-line title.
    pub title: String,
    /// The network's architecture and formulas.
    pub network: NetworkSummary,
    /// The learning rate η.
    pub learning_rate: f64,
    /// The batch: indices into the dataset, one step uses all of them.
    pub samples: Vec<u32>,
    /// What is shown.
    pub view: View,
    /// How the gradients are checked.
    pub finite_difference: FdMethod,
    /// The GPU engine beside the CPU path, if one was given.
    pub gpu: Option<GpuSummary>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The seed's faulty listing beside backpropagation, when the network and data are the
    /// seed's and η = 1.
    pub seed: Option<SeedComparison>,
}

/// The architecture and its formulas.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NetworkSummary {
    /// Layer sizes, inputs first, e.g. `[2, 2, 1]`.
    pub sizes: Vec<usize>,
    /// The loss's name.
    pub loss: String,
    /// The per-sample loss, e.g. `E = ½ Σ_k (y_k − a_k)²`.
    pub loss_formula: String,
    /// The layers, input side first.
    pub layers: Vec<LayerSummary>,
    /// Whether this is the seed's network.
    pub is_seed: bool,
}

/// One layer's shape and functions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerSummary {
    /// The layer's number, from 1.
    pub layer: usize,
    /// Number of inputs.
    pub fan_in: usize,
    /// Number of neurons.
    pub fan_out: usize,
    /// The activation's name.
    pub activation: String,
    /// f(z), e.g. `1 / (1 + e^−z)`.
    pub function: String,
    /// f'(z) from a = f(z), e.g. `a (1 − a)`.
    pub derivative: String,
    /// Whether the layer has biases.
    pub bias: bool,
}

/// What an explanation shows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct View {
    /// The layers shown (numbered from 1).
    pub layers: Vec<usize>,
    /// The neuron range asked for, `[start, end)`, if any.
    pub neurons: Option<[usize; 2]>,
    /// Weights shown.
    pub weights_shown: usize,
    /// Weights in the network.
    pub weights_total: usize,
    /// The limit on weights shown.
    pub max_weights: usize,
}

/// The finite-difference check.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FdMethod {
    /// The estimate's formula.
    pub formula: String,
    /// h = relative_step·max(1, |θ|).
    pub relative_step: f64,
    /// Agreement: |g − fd| ≤ tolerance·max(1, |g|).
    pub tolerance: f64,
}

/// The GPU engine traced beside the CPU path.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GpuSummary {
    /// The engine, printed (adapter, API, device type, precision).
    pub engine: String,
    /// `f32` or `f64`.
    pub precision: String,
}

/// One training step's numbers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Step {
    /// The step's number, from 1.
    pub step: usize,
    /// The batch's inputs x = a_0, one row per sample.
    pub inputs: Vec<Vec<f64>>,
    /// The batch's targets y, one row per sample.
    pub targets: Vec<Vec<f64>>,
    /// The shown layers, input side first.
    pub layers: Vec<LayerStep>,
    /// The error at the output, per sample.
    pub output: OutputError,
    /// The batch's mean loss before the update (the engine's).
    pub loss: f64,
    /// The batch's mean loss after the update.
    pub loss_after: f64,
    /// The GPU engine's loss, if one was given.
    pub gpu_loss: Option<f64>,
    /// The largest |∂E/∂θ − finite difference| over the shown parameters.
    pub max_fd_difference: f64,
    /// Whether every shown gradient agrees with its finite difference.
    pub fd_agrees: bool,
    /// The largest |GPU − CPU| over the shown gradients, if a GPU engine was given.
    pub max_gpu_difference: Option<f64>,
}

/// The error at the output.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutputError {
    /// The output neurons listed (the output layer's shown neurons, or all of a narrow one).
    pub neurons: Vec<usize>,
    /// Per sample.
    pub samples: Vec<SampleError>,
}

/// One sample's error at the output.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SampleError {
    /// The sample's index in the dataset.
    pub sample: u32,
    /// a_L at the listed neurons.
    pub output: Vec<f64>,
    /// y at the listed neurons.
    pub target: Vec<f64>,
    /// a_L − y at the listed neurons.
    pub error: Vec<f64>,
    /// The sample's loss E_s.
    pub loss: f64,
}

/// How a layer's delta is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeltaRule {
    /// Output layer, δ_L = ∂E/∂a_L ⊙ f'(z_L).
    Chain,
    /// Output layer, bce with a sigmoid: δ_L = a_L − y.
    FusedBce,
    /// Output layer, cross-entropy with softmax: δ_L = a_L·Σ_k y_k − y.
    FusedSoftmax,
    /// Hidden layer, δ_l = (W_{l+1}ᵀ δ_{l+1}) ⊙ f'(z_l).
    Hidden,
}

/// One shown layer in one step. Per-sample arrays have one row per sample of the batch
/// and one column per shown neuron.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerStep {
    /// The layer's number, from 1.
    pub layer: usize,
    /// The activation's name.
    pub activation: String,
    /// The shown neurons.
    pub neurons: Vec<usize>,
    /// a_{l−1}, the layer's inputs (all of them), per sample.
    pub inputs: Vec<Vec<f64>>,
    /// The shown rows of W_l before the step.
    pub weights: Vec<Vec<f64>>,
    /// The shown entries of b_l before the step, if the layer has biases.
    pub bias: Option<Vec<f64>>,
    /// z_l.
    pub z: Vec<Vec<f64>>,
    /// a_l = f(z_l).
    pub a: Vec<Vec<f64>>,
    /// How δ_l is computed.
    pub delta_rule: DeltaRule,
    /// δ_l's formula for this layer, then what its factors are, parts split by `; `.
    pub delta_formula: String,
    /// What δ_l multiplies f'(z_l) with: ∂E/∂a_L (rule `chain`) or (W_{l+1}ᵀ δ_{l+1})
    /// (rule `hidden`); `None` for the fused rules.
    pub upstream: Option<Vec<Vec<f64>>>,
    /// The terms of (W_{l+1}ᵀ δ_{l+1}) when layer l+1 is narrow (at most 4 neurons).
    pub upstream_terms: Option<UpstreamTerms>,
    /// f'(z_l) from a_l; `None` for the fused rules.
    pub derivative: Option<Vec<Vec<f64>>>,
    /// δ_l = ∂E/∂z_l (the engine's).
    pub delta: Vec<Vec<f64>>,
    /// ∂E/∂W_l for the shown rows, row-major.
    pub weight_gradients: Vec<ParamGradient>,
    /// ∂E/∂b_l for the shown neurons (empty without biases).
    pub bias_gradients: Vec<ParamGradient>,
    /// The shown rows of W_l after the update (the engine's).
    pub new_weights: Vec<Vec<f64>>,
    /// The shown entries of b_l after the update.
    pub new_bias: Option<Vec<f64>>,
}

/// The numbers in `(W_{l+1}ᵀ δ_{l+1})_i = Σ_k W_{l+1}[k,i] δ_{l+1}[k]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UpstreamTerms {
    /// For each shown neuron i, the column W_{l+1}[:, i].
    pub weights: Vec<Vec<f64>>,
    /// δ_{l+1} per sample, all of its neurons.
    pub deltas: Vec<Vec<f64>>,
}

/// One parameter's gradient, checked.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ParamGradient {
    /// `W_l[i,j]` or `b_l[i]`.
    pub name: String,
    /// The neuron i.
    pub row: usize,
    /// The input j (weights only).
    pub col: Option<usize>,
    /// Per sample, `δ_l[i]·a_{l−1}[j]` (weights) or `δ_l[i]` (biases); the gradient is their mean.
    pub per_sample: Vec<f64>,
    /// ∂E/∂θ as the engine computed it.
    pub gradient: f64,
    /// The central finite difference of the batch loss.
    pub finite_difference: f64,
    /// The step h used.
    pub h: f64,
    /// gradient − finite_difference.
    pub difference: f64,
    /// The GPU engine's gradient, if one was given.
    pub gpu: Option<f64>,
    /// θ before the update.
    pub before: f64,
    /// θ after the update θ − η ∂E/∂θ (the engine's).
    pub after: f64,
}

/// The seed's listing (with its broadcasting flaw in the w0 update) beside backpropagation,
/// after the same number of iterations.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeedComparison {
    /// Iterations run (the explanation's steps).
    pub iterations: usize,
    /// The row the listing adds to both rows of w0 in its first iteration.
    pub faulty_row: [f64; 2],
    /// Backpropagation's first update of W_1, −η ∂E/∂W_1 (an outer product δ_1 xᵀ).
    pub correct_update: [[f64; 2]; 2],
    /// The listing's w0 after the iterations.
    pub faulty_w0: [[f64; 2]; 2],
    /// The listing's w1 after the iterations.
    pub faulty_w1: [[f64; 2]; 1],
    /// Backpropagation's W_1 after the steps.
    pub correct_w0: [[f64; 2]; 2],
    /// Backpropagation's W_2 after the steps.
    pub correct_w1: [[f64; 2]; 1],
    /// The error the listing prints in its last iteration (before that update).
    pub faulty_error: f64,
    /// Backpropagation's loss in its last step (before that update).
    pub correct_error: f64,
}

impl Explanation {
    /// The explanation in `format`.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Text => text::render(&doc::build(self)),
            Format::Markdown => markdown::render(&doc::build(self)),
            Format::Html => html::render(self, &doc::build(self)),
            Format::Json => json::render(self),
        }
    }
}

/// The rows of each network layer that are shown (empty: the layer is not shown).
struct Plan {
    rows: Vec<Range<usize>>,
    view: View,
}

fn plan(net: &Network<f64>, opts: &ExplainOptions) -> Result<Plan> {
    let layers = net.layers();
    let n = layers.len();
    if let Some(l) = opts.layer {
        if l == 0 || l > n {
            return Err(BpropError::InvalidArgument {
                name: "layer",
                value: l.to_string(),
                why: format!("layers are numbered 1..={n} (layer 1 reads the inputs, layer {n} is the output layer)"),
            });
        }
    }
    if let Some(r) = &opts.neurons {
        if r.start >= r.end {
            return Err(BpropError::InvalidArgument {
                name: "neurons",
                value: format!("{}..{}", r.start, r.end),
                why: "the range a..b (b excluded) must hold at least one neuron".into(),
            });
        }
    }
    let mut rows = Vec::with_capacity(n);
    for (l, layer) in layers.iter().enumerate() {
        let shown = opts.layer.is_none_or(|s| s == l + 1);
        let r = match (&opts.neurons, shown) {
            (_, false) => 0..0,
            (None, true) => 0..layer.fan_out(),
            (Some(r), true) => r.start.min(layer.fan_out())..r.end.min(layer.fan_out()),
        };
        rows.push(r);
    }
    if rows.iter().all(|r| r.is_empty()) {
        let r = opts.neurons.clone().unwrap_or(0..0);
        return Err(BpropError::InvalidArgument {
            name: "neurons",
            value: format!("{}..{}", r.start, r.end),
            why: format!(
                "no shown layer has these neurons (layer sizes {:?}; neurons are numbered from 0)",
                &net.sizes()[1..]
            ),
        });
    }
    let weights_shown: usize = rows.iter().zip(layers).map(|(r, l)| r.len() * l.fan_in()).sum();
    let weights_total: usize = layers.iter().map(|l| l.weights.len()).sum();
    if weights_shown > opts.max_weights {
        return Err(BpropError::InvalidArgument {
            name: "network",
            value: format!("{weights_shown} weights to show"),
            why: format!(
                "an explanation shows at most {} weights (this network has {weights_total}); restrict what is \
                 shown with --layer L (one layer, 1..={n}) and/or --neurons a..b (neurons a to b−1 of the shown \
                 layers, numbered from 0), or raise --max-weights (ExplainOptions::layer, neurons, max_weights)",
                opts.max_weights
            ),
        });
    }
    let view = View {
        layers: (0..n).filter(|&l| !rows[l].is_empty()).map(|l| l + 1).collect(),
        neurons: opts.neurons.as_ref().map(|r| [r.start, r.end]),
        weights_shown,
        weights_total,
        max_weights: opts.max_weights,
    };
    Ok(Plan { rows, view })
}

/// f(z) as a formula.
pub(crate) fn function_formula(act: Activation) -> String {
    match act {
        Activation::Identity => "z".into(),
        Activation::Sigmoid => "1 / (1 + e^−z)".into(),
        Activation::Tanh => "tanh z".into(),
        Activation::Relu => "max(0, z)".into(),
        Activation::LeakyRelu { slope } => format!("z if z > 0, else {slope}·z"),
        Activation::Softmax => "e^z_i / Σ_k e^z_k".into(),
    }
}

/// f'(z) written in terms of a = f(z), as `Activation::derivative_from_output` computes it.
pub(crate) fn derivative_formula(act: Activation) -> String {
    match act {
        // d/dz z = 1
        Activation::Identity => "1".into(),
        // σ'(z) = σ(z)(1 − σ(z)) = a (1 − a)
        Activation::Sigmoid => "a (1 − a)".into(),
        // tanh'(z) = 1 − tanh² z = 1 − a²
        Activation::Tanh => "1 − a²".into(),
        // relu'(z) = [z > 0] = [a > 0]
        Activation::Relu => "1 if a > 0, else 0".into(),
        // leaky'(z) = 1 if z > 0 else s, and z > 0 ⇔ a > 0 (s ≥ 0)
        Activation::LeakyRelu { slope } => format!("1 if a > 0, else {slope}"),
        // ∂a_i/∂z_j = a_i (δ_ij − a_j): a Jacobian, used only fused with cross-entropy
        Activation::Softmax => "a_i (δ_ij − a_j) (fused with cross_entropy)".into(),
    }
}

/// The per-sample loss as a formula.
pub(crate) fn loss_formula(loss: Loss) -> String {
    match loss {
        Loss::HalfSse => "E = ½ Σ_k (y_k − a_k)²".into(),
        Loss::Mse => "E = (1/n) Σ_k (y_k − a_k)²".into(),
        Loss::BinaryCrossEntropy => "E = −Σ_k [y_k ln a_k + (1 − y_k) ln(1 − a_k)]".into(),
        Loss::CrossEntropy => "E = −Σ_k y_k ln a_k".into(),
        Loss::TanhError => {
            "E = Σ_k φ(e_k), φ(e) = 2e·atanh e + ln(1 − e²), e = (a − y)/w (w = 2 for a tanh output, else 1; \
             φ linear beyond |e| = 1 − 2⁻²³)"
                .into()
        }
    }
}

fn summary(net: &Network<f64>) -> NetworkSummary {
    NetworkSummary {
        sizes: net.sizes(),
        loss: net.loss().to_string(),
        loss_formula: loss_formula(net.loss()),
        layers: net
            .layers()
            .iter()
            .enumerate()
            .map(|(l, layer)| LayerSummary {
                layer: l + 1,
                fan_in: layer.fan_in(),
                fan_out: layer.fan_out(),
                activation: layer.activation.to_string(),
                function: function_formula(layer.activation),
                derivative: derivative_formula(layer.activation),
                bias: layer.bias.is_some(),
            })
            .collect(),
        is_seed: *net == seed::network::<f64>(),
    }
}

/// The batch's mean loss for `net`, the inputs and targets already gathered into `ws`.
fn batch_loss(net: &Network<f64>, ws: &mut Workspace<f64>) -> f64 {
    cpu::forward(net, ws);
    cpu::loss(net, ws)
}

/// Which parameter of a network: layer (0-based), row, and column (`None`: the bias).
type ParamId = (usize, usize, Option<usize>);

fn param_mut(net: &mut Network<f64>, (l, i, j): ParamId) -> &mut f64 {
    let layer = &mut net.layers_mut()[l];
    match j {
        Some(j) => &mut layer.weights[[i, j]],
        None => &mut layer
            .bias
            .as_mut()
            .expect("only layers with biases have bias parameters")[i],
    }
}

/// The central finite difference of the batch loss in one parameter, and the h used:
/// ∂E/∂θ ≈ (E(θ + h) − E(θ − h)) / ((θ + h) − (θ − h)), h = step·max(1, |θ|). The
/// denominator is the distance between the two points as represented, not 2h.
fn finite_difference(probe: &mut Network<f64>, ws: &mut Workspace<f64>, id: ParamId, step: f64) -> (f64, f64) {
    let theta = *param_mut(probe, id);
    let h = step * theta.abs().max(1.0);
    let (up, down) = (theta + h, theta - h);
    *param_mut(probe, id) = up;
    let e_up = batch_loss(probe, ws);
    *param_mut(probe, id) = down;
    let e_down = batch_loss(probe, ws);
    *param_mut(probe, id) = theta;
    ((e_up - e_down) / (up - down), h)
}

fn rows_of(m: &Array2<f64>, rows: Range<usize>) -> Vec<Vec<f64>> {
    rows.map(|r| m.row(r).to_vec()).collect()
}

fn per_sample(m: &Array2<f64>, cols: &Range<usize>) -> Vec<Vec<f64>> {
    m.rows()
        .into_iter()
        .map(|r| cols.clone().map(|c| r[c]).collect())
        .collect()
}

/// Explains `steps` steps of plain gradient descent with learning rate `lr` on the batch
/// `samples` of `data` (every step uses the whole batch; gradients are batch means), from
/// the parameters of `net`, on the CPU path in f64. With `gpu`, the same steps are traced
/// on that engine too and its gradients are shown beside the CPU path's.
///
/// When `net` and the samples are the seed's and `lr` is 1, the result also sets the seed's
/// faulty listing beside backpropagation ([`Explanation::seed`]).
///
/// # Errors
/// [`BpropError::InvalidArgument`] for no samples, `steps` outside 1..=[`MAX_STEPS`], a
/// learning rate that is not finite and positive, an invalid `fd_step`, a sample index out
/// of range, or a view with more than `opts.max_weights` weights (the message says how to
/// restrict it); the errors of [`Dataset::check_fits`]; GPU errors from `gpu`.
pub fn explain(
    net: &Network<f64>,
    data: &Dataset<f64>,
    samples: &[u32],
    steps: usize,
    lr: f64,
    opts: &ExplainOptions,
    mut gpu: Option<GpuTwin<'_>>,
) -> Result<Explanation> {
    if samples.is_empty() {
        return Err(BpropError::InvalidArgument {
            name: "samples",
            value: "none".into(),
            why: "an explanation needs at least one sample".into(),
        });
    }
    if !(1..=MAX_STEPS).contains(&steps) {
        return Err(BpropError::InvalidArgument {
            name: "steps",
            value: steps.to_string(),
            why: format!("must be in 1..={MAX_STEPS}"),
        });
    }
    if !(lr.is_finite() && lr > 0.0) {
        return Err(BpropError::InvalidArgument {
            name: "learning_rate",
            value: lr.to_string(),
            why: "must be finite and positive".into(),
        });
    }
    if !(opts.fd_step.is_finite() && opts.fd_step > 0.0 && opts.fd_step < 1.0) {
        return Err(BpropError::InvalidArgument {
            name: "fd_step",
            value: opts.fd_step.to_string(),
            why: "the relative finite-difference step must be in (0, 1); 1e-5 suits f64".into(),
        });
    }
    let plan = plan(net, opts)?;
    let mut cpu = CpuEngine::new(net.clone(), data.clone())?;
    let batch = samples.len();
    let mut ws = Workspace::new(net, batch);
    cpu.trace(samples)?; // checks the indices before any other work
    ws.gather(data, samples);
    let gpu_summary = gpu.as_ref().map(|g| GpuSummary {
        engine: g.describe(),
        precision: g.precision().to_string(),
    });

    let mut out_steps = Vec::with_capacity(steps);
    for step in 1..=steps {
        let before = cpu.network()?;
        let trace = cpu.trace(samples)?;
        let gpu_trace = match gpu.as_mut() {
            Some(g) => Some(g.trace(&before, samples)?),
            None => None,
        };
        cpu.train_steps(samples, batch, lr)?;
        let after = cpu.network()?;
        let loss_after = batch_loss(&after, &mut ws);
        out_steps.push(explain_step(
            step,
            &before,
            &after,
            &trace,
            gpu_trace.as_ref(),
            &plan,
            samples,
            &mut ws,
            opts.fd_step,
            loss_after,
        ));
    }
    let seed = seed_comparison(net, data, samples, lr, &out_steps, &cpu.network()?);
    let sizes = net.sizes().iter().map(|s| s.to_string()).collect::<Vec<_>>().join("-");
    let summary = summary(net);
    let title = if summary.is_seed {
        format!("Backpropagation step by step: the seed's {sizes} network")
    } else {
        format!("Backpropagation step by step: a {sizes} network")
    };
    Ok(Explanation {
        title,
        network: summary,
        learning_rate: lr,
        samples: samples.to_vec(),
        view: plan.view,
        finite_difference: FdMethod {
            formula: "(E(θ + h) − E(θ − h)) / 2h".into(),
            relative_step: opts.fd_step,
            tolerance: FD_TOLERANCE,
        },
        gpu: gpu_summary,
        steps: out_steps,
        seed,
    })
}

/// [`explain`] for the seed: its network and sample, `steps` steps at the seed's learning
/// rate 1, with the seed's faulty listing beside.
///
/// # Errors
/// As [`explain`].
pub fn explain_seed(steps: usize, opts: &ExplainOptions, gpu: Option<GpuTwin<'_>>) -> Result<Explanation> {
    explain(
        &seed::network(),
        &seed::dataset(),
        &[0],
        steps,
        seed::LEARNING_RATE,
        opts,
        gpu,
    )
}

#[allow(clippy::too_many_arguments)] // one step's inputs; bundling them would only rename them
fn explain_step(
    step: usize,
    before: &Network<f64>,
    after: &Network<f64>,
    trace: &StepTrace<f64>,
    gpu: Option<&StepTrace<f64>>,
    plan: &Plan,
    samples: &[u32],
    ws: &mut Workspace<f64>,
    fd_step: f64,
    loss_after: f64,
) -> Step {
    let layers = before.layers();
    let last = layers.len() - 1;
    let loss = before.loss();
    let mut probe = before.clone();
    let mut shown = Vec::new();
    for (l, layer) in layers.iter().enumerate() {
        let rows = plan.rows[l].clone();
        if rows.is_empty() {
            continue;
        }
        let t = &trace.layers[l];
        let a_prev = if l == 0 { &trace.inputs } else { &trace.layers[l - 1].a };
        let act = layer.activation;
        let (rule, upstream, derivative) = if l == last {
            match loss {
                Loss::HalfSse | Loss::Mse | Loss::TanhError => {
                    // ∂E/∂a as the engine computes it (model::Loss::output_gradient)
                    let n = t.a.ncols();
                    let up = Array2::from_shape_fn(t.a.dim(), |(s, k)| {
                        loss.output_gradient(act, t.a[[s, k]], trace.targets[[s, k]], n)
                            .expect("a loss without a fused delta")
                    });
                    // f'(z) from a, as the engine computes it (model::Activation)
                    let d = t.a.mapv(|a| act.derivative_from_output(a));
                    (
                        DeltaRule::Chain,
                        Some(per_sample(&up, &rows)),
                        Some(per_sample(&d, &rows)),
                    )
                }
                // bce ∘ sigmoid: δ = (a − y)/(a(1 − a)) · a(1 − a) = a − y
                Loss::BinaryCrossEntropy => (DeltaRule::FusedBce, None, None),
                // cross_entropy ∘ softmax: δ_k = Σ_j (−y_j/a_j) a_j (δ_jk − a_k) = a_k Σ_j y_j − y_k
                Loss::CrossEntropy => (DeltaRule::FusedSoftmax, None, None),
            }
        } else {
            // (W_{l+1}ᵀ δ_{l+1}) for every sample: (B, fan_out_{l+1}) · (fan_out_{l+1}, fan_out_l)
            let up = trace.layers[l + 1].delta.dot(&layers[l + 1].weights);
            // f'(z_l) from a_l
            let d = t.a.mapv(|a| act.derivative_from_output(a));
            (
                DeltaRule::Hidden,
                Some(per_sample(&up, &rows)),
                Some(per_sample(&d, &rows)),
            )
        };
        let upstream_terms = (l < last && layers[l + 1].fan_out() <= 4).then(|| UpstreamTerms {
            weights: rows.clone().map(|i| layers[l + 1].weights.column(i).to_vec()).collect(),
            deltas: rows_of(&trace.layers[l + 1].delta, 0..trace.layers[l + 1].delta.nrows()),
        });
        let mut param = |id: ParamId, per: Vec<f64>, g: f64, gpu_g: Option<f64>, before: f64, after: f64| {
            let (fd, h) = finite_difference(&mut probe, ws, id, fd_step);
            let (_, i, j) = id;
            ParamGradient {
                name: match j {
                    Some(j) => format!("W_{}[{i},{j}]", l + 1),
                    None => format!("b_{}[{i}]", l + 1),
                },
                row: i,
                col: j,
                per_sample: per,
                gradient: g,
                finite_difference: fd,
                h,
                difference: g - fd,
                gpu: gpu_g,
                before,
                after,
            }
        };
        let mut weight_gradients = Vec::new();
        for i in rows.clone() {
            for j in 0..layer.fan_in() {
                // ∂E/∂W_l[i,j] = 1/B Σ_s δ_l[s,i] a_{l−1}[s,j]; the terms, per sample
                let per = (0..samples.len()).map(|s| t.delta[[s, i]] * a_prev[[s, j]]).collect();
                let gpu_g = gpu.map(|g| g.layers[l].grad_w[[i, j]]);
                weight_gradients.push(param(
                    (l, i, Some(j)),
                    per,
                    t.grad_w[[i, j]],
                    gpu_g,
                    layer.weights[[i, j]],
                    after.layers()[l].weights[[i, j]],
                ));
            }
        }
        let mut bias_gradients = Vec::new();
        if let (Some(b), Some(gb)) = (&layer.bias, &t.grad_b) {
            let b_after = after.layers()[l].bias.as_ref().expect("same architecture");
            for i in rows.clone() {
                // ∂E/∂b_l[i] = 1/B Σ_s δ_l[s,i]
                let per = (0..samples.len()).map(|s| t.delta[[s, i]]).collect();
                let gpu_g = gpu.and_then(|g| g.layers[l].grad_b.as_ref().map(|gb| gb[i]));
                bias_gradients.push(param((l, i, None), per, gb[i], gpu_g, b[i], b_after[i]));
            }
        }
        let delta_formula = delta_formula(rule, l + 1, act, loss, layers[last].fan_out());
        shown.push(LayerStep {
            layer: l + 1,
            activation: act.to_string(),
            neurons: rows.clone().collect(),
            inputs: rows_of(a_prev, 0..a_prev.nrows()),
            weights: rows_of(&layer.weights, rows.clone()),
            bias: layer.bias.as_ref().map(|b| rows.clone().map(|i| b[i]).collect()),
            z: per_sample(&t.z, &rows),
            a: per_sample(&t.a, &rows),
            delta_rule: rule,
            delta_formula,
            upstream,
            upstream_terms,
            derivative,
            delta: per_sample(&t.delta, &rows),
            weight_gradients,
            bias_gradients,
            new_weights: rows_of(&after.layers()[l].weights, rows.clone()),
            new_bias: after.layers()[l]
                .bias
                .as_ref()
                .map(|b| rows.clone().map(|i| b[i]).collect()),
        });
    }

    let out = &trace.layers[last];
    let out_neurons: Vec<usize> = if !plan.rows[last].is_empty() {
        plan.rows[last].clone().collect()
    } else if layers[last].fan_out() <= 16 {
        (0..layers[last].fan_out()).collect()
    } else {
        Vec::new()
    };
    let sample_errors = samples
        .iter()
        .enumerate()
        .map(|(s, &idx)| {
            let pick = |m: &Array2<f64>| out_neurons.iter().map(|&k| m[[s, k]]).collect::<Vec<_>>();
            let row = |m: &Array2<f64>| m.row(s).to_vec();
            SampleError {
                sample: idx,
                output: pick(&out.a),
                target: pick(&trace.targets),
                error: out_neurons
                    .iter()
                    .map(|&k| out.a[[s, k]] - trace.targets[[s, k]])
                    .collect(),
                loss: loss.value(
                    layers[last].activation,
                    &row(&out.z),
                    &row(&out.a),
                    &row(&trace.targets),
                ),
            }
        })
        .collect();

    let all = || {
        shown
            .iter()
            .flat_map(|l| l.weight_gradients.iter().chain(&l.bias_gradients))
    };
    let max_fd_difference = all().map(|p| p.difference.abs()).fold(0.0, f64::max);
    let fd_agrees = all().all(|p| p.difference.abs() <= FD_TOLERANCE * p.gradient.abs().max(1.0));
    let max_gpu_difference = gpu.map(|_| {
        all()
            .filter_map(|p| p.gpu.map(|g| (g - p.gradient).abs()))
            .fold(0.0, f64::max)
    });
    Step {
        step,
        inputs: rows_of(&trace.inputs, 0..trace.inputs.nrows()),
        targets: rows_of(&trace.targets, 0..trace.targets.nrows()),
        layers: shown,
        output: OutputError {
            neurons: out_neurons,
            samples: sample_errors,
        },
        loss: trace.loss,
        loss_after,
        gpu_loss: gpu.map(|g| g.loss),
        max_fd_difference,
        fd_agrees,
        max_gpu_difference,
    }
}

/// δ_l's formula for layer `l` (from 1), then what its factors are; parts split by "; ".
fn delta_formula(rule: DeltaRule, l: usize, act: Activation, loss: Loss, n_out: usize) -> String {
    let d = derivative_formula(act);
    match rule {
        DeltaRule::Chain => {
            // sse: ∂E/∂a = a − y;  mse: ∂E/∂a = (2/n)(a − y);
            // tanh_error: ∂E/∂a = φ'(e)/w = ln((1 + e)/(1 − e))/w, e = (a − y)/w
            let de_da = match loss {
                Loss::Mse => format!("(2/{n_out})(a − y)"),
                Loss::TanhError => {
                    let w: f64 = tanh_error_width(act);
                    format!("ln((1 + e)/(1 − e))/{w}, e = (a − y)/{w}")
                }
                _ => "a − y".into(),
            };
            format!("δ_{l} = ∂E/∂a_{l} ⊙ f'(z_{l}); ∂E/∂a = {de_da}, f'(z) = {d}")
        }
        // ∂E/∂a = (a − y)/(a(1 − a)), σ'(z) = a(1 − a): the product is a − y
        DeltaRule::FusedBce => {
            format!("δ_{l} = a_{l} − y; bce with a sigmoid: (a − y)/(a (1 − a)) · a (1 − a) = a − y")
        }
        // ∂E/∂z_k = Σ_j (−y_j/a_j)·a_j (δ_jk − a_k) = a_k Σ_j y_j − y_k
        DeltaRule::FusedSoftmax => format!(
            "δ_{l} = a_{l}·Σ_k y_k − y; cross_entropy with softmax: Σ_j (−y_j/a_j)·a_j (δ_jk − a_k); \
             = a − y when Σ_k y_k = 1"
        ),
        // δ_l = (W_{l+1}ᵀ δ_{l+1}) ⊙ f'(z_l)
        DeltaRule::Hidden => format!("δ_{l} = (W_{}ᵀ δ_{}) ⊙ f'(z_{l}); f'(z) = {d}", l + 1, l + 1),
    }
}

/// The seed's listing beside backpropagation, when `net`, the samples and `lr` are the seed's.
fn seed_comparison(
    net: &Network<f64>,
    data: &Dataset<f64>,
    samples: &[u32],
    lr: f64,
    steps: &[Step],
    trained: &Network<f64>,
) -> Option<SeedComparison> {
    let is_seed_sample = |&s: &u32| {
        let (x, y) = (data.inputs().row(s as usize), data.targets().row(s as usize));
        x.as_slice() == Some(&seed::INPUT[..]) && y.as_slice() == Some(&[seed::TARGET][..])
    };
    if *net != seed::network::<f64>() || lr != seed::LEARNING_RATE || !samples.iter().all(is_seed_sample) {
        return None;
    }
    let (mut w0, mut w1) = (seed::W0, seed::W1);
    let mut faulty_error = 0.0;
    let mut faulty_row = [0.0; 2];
    for it in 0..steps.len() {
        let before = w0;
        faulty_error = seed::faulty_step(&mut w0, &mut w1);
        if it == 0 {
            faulty_row = [w0[0][0] - before[0][0], w0[0][1] - before[0][1]];
        }
    }
    let first = &steps[0].layers[0];
    let g = |i: usize, j: usize| first.weight_gradients[i * 2 + j].gradient;
    let w = |l: usize, i: usize, j: usize| trained.layers()[l].weights[[i, j]];
    Some(SeedComparison {
        iterations: steps.len(),
        faulty_row,
        correct_update: [[-lr * g(0, 0), -lr * g(0, 1)], [-lr * g(1, 0), -lr * g(1, 1)]],
        faulty_w0: w0,
        faulty_w1: w1,
        correct_w0: [[w(0, 0, 0), w(0, 0, 1)], [w(0, 1, 0), w(0, 1, 1)]],
        correct_w1: [[w(1, 0, 0), w(1, 0, 1)]],
        faulty_error,
        correct_error: steps[steps.len() - 1].loss,
    })
}

/// A number to 7 significant digits, trailing zeros dropped: `0.6802672`, `0.755`,
/// `-0.002654468`, `1.234568e-5` (scientific below 1e-4 and from 1e6).
pub(crate) fn num(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    if !x.is_finite() {
        return x.to_string();
    }
    let trim = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    let e = x.abs().log10().floor() as i32;
    if (-4..6).contains(&e) {
        let decimals = (6 - e).max(0) as usize;
        let s = trim(format!("{x:.decimals$}"));
        if s == "-0" {
            "0".into()
        } else {
            s
        }
    } else {
        let s = format!("{x:.6e}");
        let (m, exp) = s.split_once('e').expect("{:e} has an exponent");
        format!("{}e{exp}", trim(m.to_string()))
    }
}

/// A small difference: `3.1e-12`, or `0`.
pub(crate) fn small(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else {
        format!("{x:.1e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_to_seven_significant_digits() {
        assert_eq!(num(0.755), "0.755");
        assert_eq!(num(0.680267196), "0.6802672");
        assert_eq!(num(-0.0026544689), "-0.002654469");
        assert_eq!(num(1.0), "1");
        assert_eq!(num(123456.7), "123456.7");
        assert_eq!(num(1234567.8), "1.234568e6");
        assert_eq!(num(0.00001234567891), "1.234568e-5");
        assert_eq!(small(3.14e-12), "3.1e-12");
    }
}
