//! The step computation: which rows are shown ([`Plan`]), one step's records from the
//! engine's trace with a finite difference beside every gradient ([`explain_step`]), the
//! network's formulas ([`summary`]), and the seed's listing beside backpropagation
//! ([`seed_comparison`]).

use super::api::{ExplainOptions, FD_TOLERANCE};
use super::record::{
    DeltaRule, LayerStep, LayerSummary, NetworkSummary, OutputError, ParamGradient, SampleError, SeedComparison, Step,
    UpstreamTerms, View,
};
use crate::cpu::{self, Workspace};
use crate::engine::StepTrace;
use crate::error::{BpropError, Result};
use crate::model::{Activation, Dataset, Loss, Network};
use crate::seed;
use ndarray::Array2;
use std::ops::Range;

/// The rows of each network layer that are shown (empty: the layer is not shown).
pub(super) struct Plan {
    /// Per network layer (0-based), the rows shown.
    pub(super) rows: Vec<Range<usize>>,
    /// What is shown, as recorded in the explanation.
    pub(super) view: View,
}

pub(super) fn plan(net: &Network<f64>, opts: &ExplainOptions) -> Result<Plan> {
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
                 layers, numbered from 0), or raise --max-weights",
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

pub(super) fn summary(net: &Network<f64>) -> NetworkSummary {
    NetworkSummary {
        sizes: net.sizes(),
        loss: net.loss().to_string(),
        loss_formula: net.loss().formula().to_string(),
        layers: net
            .layers()
            .iter()
            .enumerate()
            .map(|(l, layer)| LayerSummary {
                layer: l + 1,
                fan_in: layer.fan_in(),
                fan_out: layer.fan_out(),
                activation: layer.activation.to_string(),
                function: layer.activation.formula(),
                derivative: layer.activation.derivative_formula("a"),
                bias: layer.bias.is_some(),
            })
            .collect(),
        is_seed: *net == seed::network::<f64>(),
    }
}

/// The batch's mean loss for `net`, the inputs and targets already gathered into `ws`.
pub(super) fn batch_loss(net: &Network<f64>, ws: &mut Workspace<f64>) -> f64 {
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

#[allow(clippy::too_many_arguments)] // one step's inputs; bundling them would only rename them
pub(super) fn explain_step(
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
                            .expect("a loss without a paired delta")
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
                Loss::BinaryCrossEntropy => (DeltaRule::PairedBce, None, None),
                // cross_entropy ∘ softmax: δ_k = Σ_j (−y_j/a_j) a_j (δ_jk − a_k) = a_k Σ_j y_j − y_k
                Loss::CrossEntropy => (DeltaRule::PairedSoftmax, None, None),
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
    // f'(z) in terms of a, as the engine computes it (model::Activation)
    let d = act.derivative_formula("a");
    match rule {
        DeltaRule::Chain => {
            // ∂E/∂a as the engine computes it (model::Loss)
            let de_da = loss
                .output_gradient_formula(act, n_out)
                .expect("a loss without a paired delta");
            format!("δ_{l} = ∂E/∂a_{l} ⊙ f'(z_{l}); ∂E/∂a = {de_da}, f'(z) = {d}")
        }
        // ∂E/∂a = (a − y)/(a(1 − a)), σ'(z) = a(1 − a): the product is a − y
        DeltaRule::PairedBce => {
            let s = Activation::Sigmoid.derivative_formula("a");
            format!("δ_{l} = a_{l} − y; bce with a sigmoid: (a − y)/({s}) · {s} = a − y")
        }
        // ∂E/∂z_k = Σ_j (−y_j/a_j)·a_j (δ_jk − a_k) = a_k Σ_j y_j − y_k
        DeltaRule::PairedSoftmax => format!(
            "δ_{l} = a_{l}·Σ_k y_k − y; cross_entropy with softmax: Σ_j (−y_j/a_j)·a_j (δ_jk − a_k); \
             = a − y when Σ_k y_k = 1"
        ),
        // δ_l = (W_{l+1}ᵀ δ_{l+1}) ⊙ f'(z_l)
        DeltaRule::Hidden => format!("δ_{l} = (W_{}ᵀ δ_{}) ⊙ f'(z_{l}); f'(z) = {d}", l + 1, l + 1),
    }
}

/// The seed's listing beside backpropagation, when `net`, the samples and `lr` are the seed's.
pub(super) fn seed_comparison(
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
