//! The layout every human-readable format shares: an [`Explanation`] turned into a list of
//! [`Block`]s (headings, prose, formula lines, tables) that the text, Markdown and HTML
//! renderers each print in their own way. Numbers are rounded here (7 significant digits,
//! [`num`]); the JSON format bypasses this and gives them in full.

use super::{DeltaRule, Explanation, LayerStep, SeedComparison, Step};
use crate::model::Activation;

/// One piece of an explanation's layout.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Block {
    /// The document's title.
    Title(String),
    /// A section heading (a step, the seed's comparison).
    Heading(String),
    /// A part of a section (forward pass, backward pass, ...); its content follows directly.
    Subheading(String),
    /// Prose, wrapped by the renderer. Text in backticks is code.
    Para(String),
    /// Formula lines with their numbers, one per line, printed as they are (leading spaces
    /// mark nesting).
    Math(Vec<String>),
    /// A table: columns of numbers right-aligned, the others left-aligned.
    Table(Table),
    /// The drawing of the network at the start of step `.0` (an index into
    /// `Explanation::steps`); only the HTML renderer draws it.
    Network(usize),
}

/// A table's header and rows (every row as long as the header).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Table {
    /// Column titles.
    pub header: Vec<String>,
    /// Cells.
    pub rows: Vec<Vec<String>>,
}

/// `s` with its spaces made non-breaking (U+00A0), so that a formula in prose is not
/// wrapped in the middle; the text and Markdown renderers print them as plain spaces.
pub(crate) fn nb(s: &str) -> String {
    s.replace(' ', "\u{a0}")
}

/// The widest formula line, its indentation included (the text renderer adds 2 columns).
const MATH_WIDTH: usize = 76;

fn width(s: &str) -> usize {
    s.chars().count()
}

/// A chain of equalities `lhs = p0 = p1 = ...` on one line when it fits in
/// [`MATH_WIDTH`], else continued on lines that start with `=` under the first `=`.
fn eq(ind: &str, lhs: &str, parts: &[String]) -> Vec<String> {
    let one = format!("{ind}{lhs} = {}", parts.join(" = "));
    if width(&one) <= MATH_WIDTH {
        return vec![one];
    }
    let pad = " ".repeat(width(lhs));
    let mut lines = Vec::new();
    let mut cur = format!("{ind}{lhs} = {}", parts[0]);
    for p in &parts[1..] {
        let next = format!("{cur} = {p}");
        if width(&next) <= MATH_WIDTH {
            cur = next;
        } else {
            lines.push(cur);
            cur = format!("{ind}{pad} = {p}");
        }
    }
    lines.push(cur);
    lines
}

/// A vector as `(0.35, 0.9)`.
pub(crate) fn vector(v: &[f64]) -> String {
    format!("({})", v.iter().map(|&x| num(x)).collect::<Vec<_>>().join(", "))
}

/// A matrix as `[[0.1, 0.8], [0.4, 0.6]]`.
pub(crate) fn matrix(rows: &[Vec<f64>]) -> String {
    let rows: Vec<String> = rows
        .iter()
        .map(|r| format!("[{}]", r.iter().map(|&x| num(x)).collect::<Vec<_>>().join(", ")))
        .collect();
    format!("[{}]", rows.join(", "))
}

/// A number as a factor in a product: negative numbers in parentheses.
fn factor(x: f64) -> String {
    let s = num(x);
    if s.starts_with('-') {
        format!("({s})")
    } else {
        s
    }
}

/// `a - b` with the numbers, as a term: `0.69 - 0.5`, `0.69 - (-0.5)`.
fn minus(a: f64, b: f64) -> String {
    format!("{} - {}", num(a), factor(b))
}

/// A mean over the batch written out: `1/3 (0.1 + 0.2 + 0.3)`, or the one term for B = 1.
fn mean_terms(terms: &[f64]) -> String {
    if terms.len() == 1 {
        return num(terms[0]);
    }
    let sum = terms
        .iter()
        .enumerate()
        .map(|(k, &t)| {
            if k == 0 {
                num(t)
            } else if t < 0.0 {
                format!("- {}", num(-t))
            } else {
                format!("+ {}", num(t))
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    format!("1/{} ({sum})", terms.len())
}

/// Builds the layout of `e`.
pub(crate) fn build(e: &Explanation) -> Vec<Block> {
    let mut out = vec![Block::Title(e.title.clone())];
    intro(e, &mut out);
    for (k, step) in e.steps.iter().enumerate() {
        step_blocks(e, k, step, &mut out);
    }
    if let Some(s) = &e.seed {
        seed_blocks(s, &mut out);
    }
    out
}

fn intro(e: &Explanation, out: &mut Vec<Block>) {
    let n = &e.network;
    let sizes = n.sizes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("-");
    let steps = if e.steps.len() == 1 {
        "1 step".to_string()
    } else {
        format!("{} steps", e.steps.len())
    };
    out.push(Block::Para(format!(
        "Network {sizes}, loss {}: {} per sample, averaged over the batch. Plain gradient descent with \
         learning rate {}, {steps}.",
        n.loss,
        nb(&n.loss_formula),
        nb(&format!("η = {}", num(e.learning_rate)))
    )));
    out.push(Block::Table(Table {
        header: ["layer", "inputs", "neurons", "f(z)", "f'(z), a = f(z)", "bias"]
            .map(String::from)
            .to_vec(),
        rows: n
            .layers
            .iter()
            .map(|l| {
                vec![
                    l.layer.to_string(),
                    l.fan_in.to_string(),
                    l.fan_out.to_string(),
                    format!("{}: {}", l.activation, l.function),
                    l.derivative.clone(),
                    if l.bias { "yes" } else { "no" }.to_string(),
                ]
            })
            .collect(),
    }));
    out.push(Block::Para(format!(
        "Notation: {} is the input; layer l computes {} and {}. W_l[i,j] is the weight from neuron j of layer \
         l−1 to neuron i of layer l (row i of W_l holds neuron i's weights). Layers are numbered from 1, neurons \
         from 0.",
        nb("a_0 = x"),
        nb("z_l = W_l a_{l−1} + b_l"),
        nb("a_l = f(z_l)")
    )));
    if n.is_seed {
        out.push(Block::Para(
            "The seed's w0 is W_1 here and its w1 is W_2; its network has no biases.".into(),
        ));
    }
    out.push(Block::Para(
        "Every number is computed by bprop's CPU path in f64 and printed to 7 significant digits (the JSON \
         format gives each in full)."
            .into(),
    ));
    let b = e.samples.len();
    let batch = if b == 1 {
        "The batch is 1 sample:".to_string()
    } else {
        format!(
            "The batch is {b} samples. A step's loss is the mean of the samples' losses, {}, and its gradients \
             are means too, {}:",
            nb(&format!("E = 1/{b} Σ_s E_s")),
            nb(&format!("∂E/∂W_l = 1/{b} Σ_s δ_l a_{{l−1}}ᵀ"))
        )
    };
    out.push(Block::Para(batch));
    let first = &e.steps[0];
    out.push(Block::Math(
        e.samples
            .iter()
            .enumerate()
            .map(|(s, idx)| {
                format!(
                    "sample {idx}: x = {}, y = {}",
                    vector(&first.inputs[s]),
                    vector(&first.targets[s])
                )
            })
            .collect(),
    ));
    let v = &e.view;
    if v.layers.len() < n.layers.len() || v.neurons.is_some() {
        let layers = v.layers.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(", ");
        let which = if v.layers.len() == 1 { "layer" } else { "layers" };
        let neurons = match v.neurons {
            Some([a, b]) => format!(", neurons {a}..{b} (from {a} to {})", b - 1),
            None => String::new(),
        };
        out.push(Block::Para(format!(
            "Shown: {which} {layers}{neurons}, {} of the network's {} weights. The rest of the network computes as \
             usual but is not listed.",
            v.weights_shown, v.weights_total
        )));
    }
    if let Some(g) = &e.gpu {
        out.push(Block::Para(format!(
            "GPU column: the same step traced by the {}, from the same parameters; its gradients are {}.",
            g.engine, g.precision
        )));
    }
}

fn step_blocks(e: &Explanation, k: usize, step: &Step, out: &mut Vec<Block>) {
    let n_steps = e.steps.len();
    out.push(Block::Heading(if n_steps == 1 {
        "Step 1".to_string()
    } else {
        format!("Step {} of {n_steps}", step.step)
    }));
    out.push(Block::Network(k));
    let batch = e.samples.len();
    let multi = batch > 1;
    let ind = if multi { "  " } else { "" };

    // Forward pass.
    out.push(Block::Subheading(
        "Forward pass: z_l = W_l a_{l−1} + b_l, a_l = f(z_l)".into(),
    ));
    let mut lines = Vec::new();
    for (s, idx) in e.samples.iter().enumerate() {
        if multi {
            lines.push(format!("sample {idx}:"));
        }
        lines.push(format!("{ind}a_0 = x = {}", vector(&step.inputs[s])));
        let mut prev_shown = 0;
        for layer in &step.layers {
            let l = layer.layer;
            if l > 1 && prev_shown != l - 1 {
                lines.push(format!("{ind}a_{} = {}", l - 1, vector(&layer.inputs[s])));
            }
            prev_shown = l;
            lines.push(format!("{ind}layer {l} ({}):", layer.activation));
            forward_lines(layer, s, &format!("{ind}  "), &mut lines);
        }
    }
    out.push(Block::Math(lines));

    // The error and the loss.
    let last = e.network.layers.len();
    out.push(Block::Subheading(format!(
        "Error at the output and the loss: {}",
        e.network.loss_formula
    )));
    let mut lines = Vec::new();
    for err in &step.output.samples {
        if multi {
            lines.push(format!("sample {}:", err.sample));
        }
        for (p, &kk) in step.output.neurons.iter().enumerate() {
            lines.extend(eq(
                ind,
                &format!("a_{last}[{kk}] − y[{kk}]"),
                &[minus(err.output[p], err.target[p]), num(err.error[p])],
            ));
        }
        if multi {
            lines.push(format!("{ind}E_{} = {}", err.sample, num(err.loss)));
        }
    }
    if multi {
        let losses: Vec<f64> = step.output.samples.iter().map(|s| s.loss).collect();
        lines.extend(eq("", "E", &[mean_terms(&losses), num(step.loss)]));
    } else {
        lines.push(format!("E = {}", num(step.loss)));
    }
    out.push(Block::Math(lines));

    // Backward pass.
    out.push(Block::Subheading(
        "Backward pass: δ_l = ∂E/∂z_l, from the output layer back".into(),
    ));
    let mut lines = Vec::new();
    for layer in step.layers.iter().rev() {
        let l = layer.layer;
        let which = if l == last { " (output)" } else { "" };
        lines.push(format!("layer {l}{which}:"));
        for (k, part) in layer.delta_formula.split("; ").enumerate() {
            lines.push(format!("{}{part}", if k == 0 { "  " } else { "    " }));
        }
        for (s, idx) in e.samples.iter().enumerate() {
            if multi {
                lines.push(format!("  sample {idx}:"));
            }
            backward_lines(layer, step, s, &format!("  {ind}"), &mut lines);
        }
    }
    out.push(Block::Math(lines));

    // Gradients.
    let mean = if multi {
        format!(", means over the batch: {}", nb(&format!("1/{batch} Σ_s")))
    } else {
        String::new()
    };
    out.push(Block::Subheading(format!(
        "Gradients: ∂E/∂W_l = δ_l a_{{l−1}}ᵀ, ∂E/∂b_l = δ_l{mean}"
    )));
    for layer in &step.layers {
        let l = layer.layer;
        let mut lines = Vec::new();
        if multi {
            lines.push(format!(
                "layer {l}: ∂E/∂W_{l}[i,j] = 1/{batch} Σ_s δ_{l}[s,i]·a_{}[s,j]",
                l - 1
            ));
        } else {
            lines.push(format!("layer {l}: ∂E/∂W_{l}[i,j] = δ_{l}[i]·a_{}[j]", l - 1));
        }
        for g in &layer.weight_gradients {
            let j = g.col.expect("a weight has a column");
            let how = if multi {
                mean_terms(&g.per_sample)
            } else {
                format!(
                    "{}·{}",
                    factor(layer.delta[0][pos(layer, g.row)]),
                    factor(layer.inputs[0][j])
                )
            };
            lines.extend(eq("  ", &format!("∂E/∂{}", g.name), &[how, num(g.gradient)]));
        }
        if !layer.bias_gradients.is_empty() {
            lines.push(if multi {
                format!("layer {l}: ∂E/∂b_{l}[i] = 1/{batch} Σ_s δ_{l}[s,i]")
            } else {
                format!("layer {l}: ∂E/∂b_{l}[i] = δ_{l}[i]")
            });
            for g in &layer.bias_gradients {
                lines.extend(eq(
                    "  ",
                    &format!("∂E/∂{}", g.name),
                    &[mean_terms(&g.per_sample), num(g.gradient)],
                ));
            }
        }
        out.push(Block::Math(lines));
    }
    let mut header: Vec<String> = ["parameter", "∂E/∂θ", "finite diff.", "difference"]
        .map(String::from)
        .to_vec();
    if let Some(g) = &e.gpu {
        header.push(format!("GPU ({})", g.precision));
        header.push("GPU − CPU".into());
    }
    let rows = step
        .layers
        .iter()
        .flat_map(|l| l.weight_gradients.iter().chain(&l.bias_gradients))
        .map(|g| {
            let mut row = vec![
                g.name.clone(),
                num(g.gradient),
                num(g.finite_difference),
                small(g.difference),
            ];
            if e.gpu.is_some() {
                let gpu = g.gpu.unwrap_or(f64::NAN);
                row.push(num(gpu));
                row.push(small(gpu - g.gradient));
            }
            row
        })
        .collect();
    out.push(Block::Table(Table { header, rows }));
    let fd = &e.finite_difference;
    let within = nb(&format!("{:e}·max(1, |∂E/∂θ|)", fd.tolerance));
    let verdict = if step.fd_agrees {
        format!("every gradient agrees with its estimate within {within}")
    } else {
        format!(
            "NOT every gradient agrees within {within}; at a kink (relu or leaky_relu at {}) the two sides of \
             the difference see different slopes",
            nb("z = 0")
        )
    };
    out.push(Block::Para(format!(
        "Finite differences: {} with {}, the other parameters fixed, differentiating the batch loss. Largest {}: \
         {verdict}.",
        nb(&fd.formula),
        nb(&format!("h = {:e}·max(1, |θ|)", fd.relative_step)),
        nb(&format!("|∂E/∂θ − estimate| = {}", small(step.max_fd_difference)))
    )));
    if let (Some(g), Some(d)) = (&e.gpu, step.max_gpu_difference) {
        out.push(Block::Para(format!(
            "GPU path ({}): {} (CPU {}); largest {} over these gradients.",
            g.precision,
            nb(&format!("E = {}", num(step.gpu_loss.unwrap_or(f64::NAN)))),
            num(step.loss),
            nb(&format!("|GPU − CPU| = {}", small(d)))
        )));
    }

    // Update.
    let eta = num(e.learning_rate);
    out.push(Block::Subheading(format!(
        "Update: W_l ← W_l − η ∂E/∂W_l, b_l ← b_l − η ∂E/∂b_l, η = {eta}"
    )));
    let mut lines = Vec::new();
    for layer in &step.layers {
        lines.push(format!("layer {}:", layer.layer));
        for g in layer.weight_gradients.iter().chain(&layer.bias_gradients) {
            lines.extend(eq(
                "  ",
                &g.name,
                &[
                    format!("{} - {eta}·{}", num(g.before), factor(g.gradient)),
                    num(g.after),
                ],
            ));
        }
        let new_w = format!("  new W_{} = {}", layer.layer, matrix(&layer.new_weights));
        if new_w.chars().count() <= 76 {
            lines.push(new_w);
        }
    }
    out.push(Block::Math(lines));
    out.push(Block::Para(format!(
        "E after the update: {} (before: {}).",
        num(step.loss_after),
        num(step.loss)
    )));
}

/// The position of neuron `i` among the layer's shown neurons.
fn pos(layer: &LayerStep, i: usize) -> usize {
    layer.neurons.iter().position(|&n| n == i).expect("a shown neuron")
}

/// z and a of sample `s` for each shown neuron: `z_1[0] = 0.1·0.35 + 0.8·0.9 = 0.755`,
/// then `a_1[0] = 0.6802672`, on one line when it fits.
fn forward_lines(layer: &LayerStep, s: usize, ind: &str, lines: &mut Vec<String>) {
    let l = layer.layer;
    let zs: Vec<Vec<String>> = layer
        .neurons
        .iter()
        .enumerate()
        .map(|(p, &i)| {
            let mut terms: Vec<String> = layer.weights[p]
                .iter()
                .zip(&layer.inputs[s])
                .map(|(&w, &a)| format!("{}·{}", factor(w), factor(a)))
                .collect();
            if let Some(b) = &layer.bias {
                terms.push(factor(b[p]));
            }
            let expansion = terms.join(" + ");
            let expansion = if expansion.chars().count() <= 48 {
                expansion
            } else if layer.bias.is_some() {
                format!("Σ_j W_{l}[{i},j]·a_{}[j] + b_{l}[{i}]", l - 1)
            } else {
                format!("Σ_j W_{l}[{i},j]·a_{}[j]", l - 1)
            };
            eq(ind, &format!("z_{l}[{i}]"), &[expansion, num(layer.z[s][p])])
        })
        .collect();
    let widest = zs.iter().flatten().map(|z| width(z)).max().unwrap_or(0);
    let a_width = layer
        .neurons
        .iter()
        .enumerate()
        .map(|(p, &i)| width(&format!("a_{l}[{i}] = {}", num(layer.a[s][p]))))
        .max()
        .unwrap_or(0);
    // z and a side by side when every z fits on one line and the pair fits the width.
    let side_by_side = zs.iter().all(|z| z.len() == 1) && widest + 3 + a_width <= MATH_WIDTH;
    for (p, z) in zs.into_iter().enumerate() {
        let i = layer.neurons[p];
        let a = format!("a_{l}[{i}] = {}", num(layer.a[s][p]));
        if side_by_side {
            let pad = widest - width(&z[0]);
            lines.push(format!("{}{}   {a}", z[0], " ".repeat(pad)));
        } else {
            lines.extend(z);
            lines.push(format!("{ind}{a}"));
        }
    }
}

/// δ of sample `s` for each shown neuron, with the numbers its rule multiplies.
fn backward_lines(layer: &LayerStep, step: &Step, s: usize, ind: &str, lines: &mut Vec<String>) {
    let l = layer.layer;
    for (p, &i) in layer.neurons.iter().enumerate() {
        let delta = num(layer.delta[s][p]);
        match layer.delta_rule {
            DeltaRule::Chain => {
                let up = layer.upstream.as_ref().expect("chain rule has ∂E/∂a")[s][p];
                let d = layer.derivative.as_ref().expect("chain rule has f'")[s][p];
                lines.extend(eq(
                    ind,
                    &format!("δ_{l}[{i}]"),
                    &[
                        format!("∂E/∂a_{l}[{i}] · f'(z_{l}[{i}])"),
                        format!("{} · {}", factor(up), factor(d)),
                        delta,
                    ],
                ));
            }
            DeltaRule::PairedBce => {
                let y = step.targets[s][i];
                lines.extend(eq(
                    ind,
                    &format!("δ_{l}[{i}]"),
                    &[format!("a_{l}[{i}] − y[{i}]"), minus(layer.a[s][p], y), delta],
                ));
            }
            DeltaRule::PairedSoftmax => {
                let y = step.targets[s][i];
                let ysum: f64 = step.targets[s].iter().sum();
                lines.extend(eq(
                    ind,
                    &format!("δ_{l}[{i}]"),
                    &[
                        format!("a_{l}[{i}]·Σ_k y_k − y[{i}]"),
                        format!("{}·{} - {}", factor(layer.a[s][p]), factor(ysum), factor(y)),
                        delta,
                    ],
                ));
            }
            DeltaRule::Hidden => {
                let up = layer.upstream.as_ref().expect("hidden rule has Wᵀδ")[s][p];
                let d = layer.derivative.as_ref().expect("hidden rule has f'")[s][p];
                let next = l + 1;
                if let Some(t) = &layer.upstream_terms {
                    let terms: Vec<String> = t.weights[p]
                        .iter()
                        .zip(&t.deltas[s])
                        .map(|(&w, &dd)| format!("{}·{}", factor(w), factor(dd)))
                        .collect();
                    lines.extend(eq(
                        ind,
                        &format!("(W_{next}ᵀ δ_{next})[{i}]"),
                        &[terms.join(" + "), num(up)],
                    ));
                }
                lines.extend(eq(
                    ind,
                    &format!("δ_{l}[{i}]"),
                    &[
                        format!("(W_{next}ᵀ δ_{next})[{i}] · f'(z_{l}[{i}])"),
                        format!("{} · {}", factor(up), factor(d)),
                        delta,
                    ],
                ));
            }
        }
    }
}

fn seed_blocks(s: &SeedComparison, out: &mut Vec<Block>) {
    out.push(Block::Heading("The seed's listing beside backpropagation".into()));
    out.push(Block::Para(format!(
        "The seed's listing updates w1 as backpropagation does, but not w0: {} is a 1x2 row and {} a 2x1 \
         column, so numpy broadcasts their product to a 2x2 matrix, and {} adds one and the same row to both \
         rows of w0. Backpropagation gives each hidden neuron its own delta, {}, and updates W_1 by an outer \
         product, {}.",
        nb("`l1_error = l2_delta * w1`"),
        nb("`nonlin(l1, deriv=True)`"),
        nb("`w0 += l0.T.dot(l1_delta)`"),
        nb(&format!(
            "δ_1 = (W_2ᵀ δ_2) ⊙ {}",
            Activation::Sigmoid.derivative_formula("a_1")
        )),
        nb("W_1 ← W_1 − η δ_1 xᵀ")
    )));
    let r = s.faulty_row;
    let u = s.correct_update;
    out.push(Block::Math(vec![
        "In iteration 1:".into(),
        format!("  the listing adds to both rows of w0:  ({}, {})", num(r[0]), num(r[1])),
        format!(
            "  backpropagation adds to row 0 of W_1: ({}, {})",
            num(u[0][0]),
            num(u[0][1])
        ),
        format!(
            "                      and to row 1:     ({}, {})",
            num(u[1][0]),
            num(u[1][1])
        ),
    ]));
    let it = s.iterations;
    let mut rows = Vec::new();
    for i in 0..2 {
        for j in 0..2 {
            rows.push(vec![
                format!("w0[{i},{j}] (W_1)"),
                num(s.faulty_w0[i][j]),
                num(s.correct_w0[i][j]),
            ]);
        }
    }
    for j in 0..2 {
        rows.push(vec![
            format!("w1[0,{j}] (W_2)"),
            num(s.faulty_w1[0][j]),
            num(s.correct_w1[0][j]),
        ]);
    }
    rows.push(vec![
        format!("E in iteration {it}"),
        num(s.faulty_error),
        num(s.correct_error),
    ]);
    out.push(Block::Table(Table {
        header: vec![
            format!("after iteration {it}"),
            "the seed's listing".into(),
            "backpropagation".into(),
        ],
        rows,
    }));
    out.push(Block::Para(format!(
        "The listing adds one and the same row to both rows of w0 in every iteration, so {} stays {}, the \
         difference they start with, as in the seed's printed rows {} and {}; `bprop demo` runs all 100 \
         iterations of both.",
        nb("row 1 − row 0"),
        nb("(0.3, −0.2)"),
        nb("[0.0993 0.6425]"),
        nb("[0.3993 0.4425]")
    )));
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
