//! The public entry points: what an explanation shows and how it checks
//! ([`ExplainOptions`]), its output formats ([`Format`], [`Explanation::render`]), and
//! [`explain`] and [`explain_seed`], which run the steps and collect their records.

use super::gpu::GpuTwin;
use super::record::{Explanation, FdMethod, GpuSummary};
use super::step::{batch_loss, explain_step, plan, seed_comparison, summary};
use super::{doc, html, json, markdown, text};
use crate::cpu::{CpuEngine, Workspace};
use crate::engine::Engine;
use crate::error::{BpropError, Result};
use crate::model::{Dataset, Network};
use crate::seed;
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
/// restrict it, in the terms of `bprop explain`'s `--layer`, `--neurons` and
/// `--max-weights`); the errors of [`Dataset::check_fits`]; GPU errors from `gpu`.
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
