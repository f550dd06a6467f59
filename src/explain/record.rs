//! The records an explanation is made of: the network and its formulas, what is shown,
//! and every step's numbers, layer by layer and parameter by parameter. Every renderer
//! reads these; the JSON format serialises them as they are.

use serde::Serialize;

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
    /// Output layer, bce with a sigmoid: δ_L = a_L − y. (Named `fused_bce` in JSON, its
    /// name before "fused" was kept for the GPU's whole-step kernel alone.)
    #[serde(rename = "fused_bce")]
    PairedBce,
    /// Output layer, cross-entropy with softmax: δ_L = a_L·Σ_k y_k − y (`fused_softmax`
    /// in JSON).
    #[serde(rename = "fused_softmax")]
    PairedSoftmax,
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
    /// (rule `hidden`); `None` for the paired rules.
    pub upstream: Option<Vec<Vec<f64>>>,
    /// The terms of (W_{l+1}ᵀ δ_{l+1}) when layer l+1 is narrow (at most 4 neurons).
    pub upstream_terms: Option<UpstreamTerms>,
    /// f'(z_l) from a_l; `None` for the paired rules.
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
