//! `bprop eval`: a saved model on a data file: loss, and accuracy, balanced accuracy,
//! macro and weighted F1, ROC-AUC and PR-AUC, per-class precision, recall and F1 and the
//! confusion matrix for classification, or MSE, MAE and R² (per target, by name) for
//! regression.

use super::common::{self, num, pct, ColumnArgs};
use super::train::describe;
use super::{BackendArg, OutputFormat};
use bprop::data::Task;
use bprop::driver::infer;
use bprop::gpu::AdapterRequest;
use bprop::io::{AnyModel, ModelFile};
use bprop::metrics::{classify, output_activation, regress};
use bprop::model::Real;
use bprop::{BpropError, Result};
use clap::Args;
use std::path::PathBuf;

pub const EXAMPLES: &str = "\
Examples:
  bprop eval model.bprop test.csv
  bprop eval model.bprop test.csv --format json
  bprop eval model.bprop ../shared/data/fann/thyroid.test --backend gpu

The file is read with the columns, class labels and input scaling the model was trained
with (a CSV file by column names when it has a header, else by position).";

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The model file.
    model: PathBuf,
    /// The data, with targets.
    data: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: OutputFormat,
    /// Where to compute the outputs.
    #[arg(long, value_enum, default_value = "cpu")]
    backend: BackendArg,
    #[command(flatten)]
    columns: ColumnArgs,
}

pub fn run(args: &EvalArgs) -> Result<()> {
    let model = common::load_model(&args.model)?;
    match &model {
        AnyModel::F32(m) => run_typed(args, m),
        AnyModel::F64(m) => run_typed(args, m),
    }
}

fn run_typed<T: Real>(args: &EvalArgs, model: &ModelFile<T>) -> Result<()> {
    let net = &model.network;
    let table = common::model_table(model, &args.data, &args.columns, false)?;
    let targets = table.targets.as_ref().ok_or_else(|| BpropError::InvalidArgument {
        name: "data",
        value: table.source.clone(),
        why: "has no targets to evaluate against".into(),
    })?;
    // A model trained on standardized targets computes its loss against them, and its
    // outputs are mapped back to the targets' units for the errors.
    let ts = model.meta.target_scaling.as_ref();
    let scaled;
    let loss_targets = match ts {
        Some(t) => {
            let mut y = targets.clone();
            t.apply(&mut y)?;
            scaled = y;
            &scaled
        }
        None => targets,
    };
    let mut inf = infer(
        args.backend.into(),
        &AdapterRequest::from_env(),
        net,
        &table.inputs,
        Some(loss_targets),
    )
    .map_err(common::model_precision_error)?;
    if let Some(t) = ts {
        t.undo(&mut inf.outputs)?;
    }
    let loss = inf.loss.unwrap_or(f64::NAN);
    let schema = &table.schema;
    let n = table.len();
    let json = matches!(args.format, OutputFormat::Json);
    let mut doc = serde_json::json!({
        "model": args.model.display().to_string(),
        "data": table.source,
        "samples": n,
        "backend": inf.backend.to_string(),
        "task": schema.task.to_string(),
        "loss_name": net.loss().to_string(),
        "loss": loss,
        "loss_on_standardized_targets": ts.is_some(),
    });
    if !json {
        println!("model: {} ({})", args.model.display(), describe(net));
        println!("data: {} ({n} samples)", table.source);
        println!("backend: {}", inf.backend);
        if let Some(f) = &inf.fallback {
            println!("note: --backend auto runs on the CPU path: {f}");
        }
        println!(
            "loss ({}): {}{}",
            net.loss(),
            num(loss),
            if ts.is_some() {
                " (on the standardized targets it was trained on)"
            } else {
                ""
            }
        );
    }
    match schema.task {
        Task::Classification => {
            let r = classify(&inf.outputs, targets, output_activation(net));
            let names: Vec<String> = (0..r.classes).map(|k| schema.class_name(k)).collect();
            if json {
                doc["accuracy"] = r.accuracy.into();
                doc["classes"] = serde_json::to_value(&names).expect("strings");
                doc["precision"] = serde_json::to_value(&r.precision).expect("numbers");
                doc["recall"] = serde_json::to_value(&r.recall).expect("numbers");
                doc["support"] = serde_json::to_value(&r.support).expect("numbers");
                doc["confusion"] = serde_json::to_value(&r.confusion).expect("numbers");
                doc["f1"] = serde_json::to_value(&r.f1).expect("numbers");
                doc["macro_f1"] = r.macro_f1.into();
                doc["weighted_f1"] = r.weighted_f1.into();
                doc["balanced_accuracy"] = r.balanced_accuracy.into();
                doc["roc_auc"] = serde_json::to_value(r.roc_auc).expect("number");
                doc["pr_auc"] = serde_json::to_value(r.pr_auc).expect("number");
                doc["ranking_average"] = if r.classes == 2 { "binary" } else { "one-vs-rest macro" }.into();
            } else {
                let correct: usize = (0..r.classes).map(|k| r.confusion[k][k]).sum();
                println!("accuracy: {} ({correct} of {n})", pct(r.accuracy));
                println!("balanced accuracy: {}", pct(r.balanced_accuracy));
                println!("F1: macro {:.4}, weighted {:.4}", r.macro_f1, r.weighted_f1);
                let opt = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.4}"));
                println!(
                    "ROC-AUC: {}, PR-AUC (average precision): {}{}",
                    opt(r.roc_auc),
                    opt(r.pr_auc),
                    if r.classes == 2 {
                        format!(" ({} as the positive class)", names[1])
                    } else {
                        " (one-vs-rest, macro average)".to_string()
                    }
                );
                let w = names.iter().map(String::len).max().unwrap_or(5).max(5);
                println!(
                    "  {:<w$}  {:>9}  {:>9}  {:>9}  {:>7}",
                    "class", "precision", "recall", "F1", "support"
                );
                for (k, name) in names.iter().enumerate() {
                    println!(
                        "  {:<w$}  {:>9}  {:>9}  {:>9}  {:>7}",
                        name,
                        opt(r.precision[k]),
                        opt(r.recall[k]),
                        opt(r.f1[k]),
                        r.support[k]
                    );
                }
                println!("confusion matrix (rows: true class, columns: predicted class):");
                let cw = names
                    .iter()
                    .map(String::len)
                    .chain(r.confusion.iter().flatten().map(|c| c.to_string().len()))
                    .max()
                    .unwrap_or(1);
                println!(
                    "  {:<w$}  {}",
                    "",
                    names.iter().map(|s| format!("{s:>cw$}")).collect::<Vec<_>>().join(" ")
                );
                for (k, row) in r.confusion.iter().enumerate() {
                    println!(
                        "  {:<w$}  {}",
                        names[k],
                        row.iter().map(|c| format!("{c:>cw$}")).collect::<Vec<_>>().join(" ")
                    );
                }
            }
        }
        Task::Regression => {
            let r = regress(&inf.outputs, targets);
            let names = match &schema.target_names {
                Some(t) if t.len() == r.r2.len() => t.clone(),
                _ => (0..r.r2.len()).map(|k| format!("output {k}")).collect(),
            };
            if json {
                doc["mse"] = r.mse.into();
                doc["mae"] = r.mae.into();
                doc["r2"] = serde_json::to_value(&r.r2).expect("numbers");
                doc["targets"] = names
                    .iter()
                    .enumerate()
                    .map(|(j, name)| {
                        serde_json::json!({
                            "name": name,
                            "mse": r.mse_per_output[j],
                            "mae": r.mae_per_output[j],
                            "r2": r.r2[j],
                        })
                    })
                    .collect::<Vec<_>>()
                    .into();
            } else {
                println!("MSE: {}", num(r.mse));
                println!("MAE: {}", num(r.mae));
                for (j, name) in names.iter().enumerate() {
                    let r2 = r.r2[j].map_or("- (constant target)".into(), num);
                    if names.len() > 1 {
                        println!(
                            "R² ({name}): {r2}  (MSE {}, MAE {})",
                            num(r.mse_per_output[j]),
                            num(r.mae_per_output[j])
                        );
                    } else {
                        println!("R² ({name}): {r2}");
                    }
                }
            }
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&doc).expect("JSON"));
    }
    Ok(())
}
