//! `bprop info`: what a model file holds.

use super::common::{self, duration, num, pct};
use super::train::describe;
use super::OutputFormat;
use bprop::io::{AnyModel, ModelFile};
use bprop::model::{Optimizer, Real};
use bprop::Result;
use clap::Args;
use std::path::PathBuf;

pub const EXAMPLES: &str = "\
Examples:
  bprop info model.bprop
  bprop info model.bprop --format json";

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The model file.
    model: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: OutputFormat,
}

pub fn run(args: &InfoArgs) -> Result<()> {
    let model = common::load_model(&args.model)?;
    match &model {
        AnyModel::F32(m) => show(args, m),
        AnyModel::F64(m) => show(args, m),
    }
}

fn list(v: &[String]) -> String {
    if v.len() <= 12 {
        v.join(", ")
    } else {
        format!("{}, ... ({} in all)", v[..10].join(", "), v.len())
    }
}

/// The optimizer's name with its parameters: `adam (beta1 0.9, beta2 0.999, eps 1e-8)`.
fn optimizer_text(o: &Optimizer) -> String {
    match *o {
        Optimizer::Adam { beta1, beta2, eps, .. } => format!("{o} (beta1 {beta1}, beta2 {beta2}, eps {eps:e})"),
        Optimizer::IRpropMinus {
            eta_plus,
            eta_minus,
            delta0,
            delta_min,
            delta_max,
        } => format!(
            "{o} (eta+ {eta_plus}, eta- {eta_minus}, initial step {delta0}, steps in [{delta_min}, {delta_max}])"
        ),
        _ => o.to_string(),
    }
}

fn show<T: Real>(args: &InfoArgs, m: &ModelFile<T>) -> Result<()> {
    let net = &m.network;
    if let OutputFormat::Json = args.format {
        let doc = serde_json::json!({
            "file": args.model.display().to_string(),
            "format_version": m.format_version(),
            "precision": T::NAME,
            "architecture": net.spec(),
            "sizes": net.sizes(),
            "parameters": net.n_params(),
            "scaling": m.scaling.as_ref().map(|s| serde_json::json!({"kind": s.kind, "offset": s.offset, "scale": s.scale})),
            "optimizer_state": m.optimizer.as_ref().map(|s| serde_json::json!({"optimizer": s.optimizer, "step": s.step})),
            "schema": m.meta.schema,
            "training": m.meta.training,
            "history": m.meta.history,
            "written_by": m.meta.written_by,
        });
        println!("{}", serde_json::to_string_pretty(&doc).expect("JSON"));
        return Ok(());
    }
    println!(
        "{}: bprop model, format version {}, {}",
        args.model.display(),
        m.format_version(),
        T::NAME
    );
    if !m.meta.written_by.is_empty() {
        println!("  written by {}", m.meta.written_by);
    }
    println!("architecture: {}", describe(net));
    for (l, layer) in net.layers().iter().enumerate() {
        println!(
            "  layer {}: {} -> {}, {}, {} ({} parameters)",
            l + 1,
            layer.fan_in(),
            layer.fan_out(),
            layer.activation,
            if layer.bias.is_some() { "biases" } else { "no biases" },
            layer.n_params()
        );
    }
    println!("  loss {}; {} parameters", net.loss(), net.n_params());
    if let Some(s) = &m.meta.schema {
        println!("task: {}", s.task);
        if let Some(n) = &s.input_names {
            println!("  inputs: {}", list(n));
        } else {
            println!("  inputs: {} columns", s.inputs);
        }
        if let Some(p) = &s.preprocess {
            let names: Vec<String> = match &s.input_names {
                Some(n) => n.iter().map(|n| format!("`{n}`")).collect(),
                None => p.columns.iter().map(|c| format!("column {}", c.position)).collect(),
            };
            println!(
                "  preprocessing: {} columns -> {} network inputs",
                p.columns.len(),
                s.inputs
            );
            for line in p.describe(&names) {
                println!("    {line}");
            }
        }
        if let Some(n) = &s.target_names {
            println!("  targets: {}", list(n));
        }
        if let Some(l) = &s.labels {
            println!("  classes ({}): {}", l.len(), list(l));
        }
    }
    match &m.scaling {
        Some(s) => {
            let cols: Vec<String> = (0..s.width())
                .map(|j| format!("({}, {})", num(s.offset[j]), num(s.scale[j])))
                .collect();
            println!("scaling: {} (offset, scale) per input: {}", s.kind, list(&cols));
        }
        None => println!("scaling: none"),
    }
    if let Some(t) = &m.meta.training {
        let h = &t.hyper;
        println!("training:");
        println!("  optimizer {}", optimizer_text(&h.optimizer));
        println!("  learning rate {}, schedule {}", h.learning_rate, h.schedule);
        if h.weight_decay > 0.0 || h.max_norm.is_some() || h.dropout.is_some() {
            println!(
                "  weight decay {}, max-norm {}, dropout {}",
                h.weight_decay,
                h.max_norm.map_or("none".into(), |c| c.to_string()),
                h.dropout.map_or("none".into(), |d| format!(
                    "input {}, hidden {}, seed {}",
                    d.input, d.hidden, d.seed
                ))
            );
        }
        println!(
            "  {} epochs done ({} steps), batch {}, seed {}, validation {}, patience {}",
            t.epochs_done,
            t.steps_done,
            t.batch_size,
            t.seed,
            t.validation.map_or("none".into(), |v| v.to_string()),
            t.patience.map_or("none".into(), |p| p.to_string())
        );
        println!(
            "  data {} ({} training samples); {}",
            t.data.as_deref().unwrap_or("?"),
            t.samples,
            t.backend
        );
        println!("  {}; {} in all", t.stopped, duration(t.seconds));
    }
    match &m.optimizer {
        Some(s) => println!(
            "optimizer state: saved, step {} (bprop train --resume continues it)",
            s.step
        ),
        None => println!("optimizer state: none"),
    }
    if let Some(last) = m.meta.history.last() {
        let mut s = format!("last epoch {}: training loss {}", last.epoch, num(last.train_loss));
        if let Some(v) = last.val_loss {
            s += &format!(", validation loss {}", num(v));
        }
        if let Some(a) = last.val_accuracy {
            s += &format!(", validation accuracy {}", pct(a));
        }
        println!("{s}");
    }
    Ok(())
}
