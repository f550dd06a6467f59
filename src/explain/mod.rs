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
//!            δ_L = a_L − y               (bce paired with a sigmoid output)
//!            δ_L = a_L·Σ_k y_k − y       (cross_entropy paired with softmax)
//! hidden     δ_l = (W_{l+1}ᵀ δ_{l+1}) ⊙ f'(z_l)
//! gradients  ∂E/∂W_l = 1/B Σ_s δ_l a_{l−1}ᵀ,   ∂E/∂b_l = 1/B Σ_s δ_l
//! update     W_l ← W_l − η ∂E/∂W_l,          b_l ← b_l − η ∂E/∂b_l
//! ```
//!
//! The numbers are the engine's own: the forward values, deltas, gradients and loss come
//! from [`CpuEngine::trace`](crate::engine::Engine::trace) and the new weights from
//! [`Engine::train_steps`](crate::engine::Engine::train_steps), so the JSON
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
//! A network is given by its weights ([`Network::new`](crate::model::Network::new)) or read
//! from a saved model: `bprop explain --model FILE` reads it with
//! [`read_model`](crate::io::read_model), takes its network in f64, applies the model's
//! input scaling to the `--input` samples and explains the step like any other.

mod api;
mod doc;
mod gpu;
mod html;
mod json;
mod markdown;
mod record;
mod step;
mod text;

pub use api::{
    explain, explain_seed, ExplainOptions, Format, DEFAULT_FD_STEP, DEFAULT_MAX_WEIGHTS, FD_TOLERANCE, MAX_STEPS,
};
pub use gpu::{ExplainGpu, GpuTwin};
pub use record::{
    DeltaRule, Explanation, FdMethod, GpuSummary, LayerStep, LayerSummary, NetworkSummary, OutputError, ParamGradient,
    SampleError, SeedComparison, Step, UpstreamTerms, View,
};
